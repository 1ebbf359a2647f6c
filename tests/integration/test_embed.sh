#!/usr/bin/env bash
# ferry embed and ferry knn: files read back with h5dump and h5py; -np 1, 2
# and 4 give the same file; the embedders against NumPy references (pixels,
# rp, dhash on PNGs, where decoding is exact; a small known mlp); images
# straight from tar.gz and zip archives; undecodable images; kill -9, then
# resume with another rank count; a rerun with another embedder refused; knn
# against brute force (l2, cosine) and geo knn against the haversine by hand.
source "$(dirname "$0")/lib.sh"
# Debian's python3 has numpy, PIL and h5py (a python3 earlier on PATH may not).
PY=/usr/bin/python3

# kill_at_progress OUT PID PATTERN: once OUT shows a progress line (a commit
# happened), kill -9 the ranks whose command line matches PATTERN.
kill_at_progress() {
  for _ in $(seq 1000); do
    grep -qE '^(embed|knn): [0-9]+ of' "$1" && break
    sleep 0.005
  done
  pkill -9 -f "$3" || true
  wait "$2" 2>/dev/null || true
}

# only_the_rest OUT ROWS: the summary in OUT found some rows done before and
# computed the others.
only_the_rest() {
  $PY - "$1" "$2" <<'PY'
import json, sys
s = [json.loads(l) for l in open(sys.argv[1]) if '"summary"' in l][-1]
print(s["done_before"], s["computed"])
n = int(sys.argv[2])
sys.exit(0 if 0 < s["done_before"] < n and s["done_before"] + s["computed"] == n else 1)
PY
}

# same_datasets A B NAME...: the datasets are equal in both files.
same_datasets() {
  $PY - "$@" <<'PY'
import sys, h5py, numpy as np
a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
for k in sys.argv[3:]:
    assert np.array_equal(a[k][:], b[k][:]), k
PY
}

mkdir -p "$WORK/imgs/png" "$WORK/imgs/jpg/deep" "$WORK/big"
$PY - "$WORK" <<'PY'
import io, os, random, sys, tarfile, zipfile
import numpy as np
from PIL import Image
work = sys.argv[1]
rng = np.random.default_rng(5)
def picture(w, h):
    x = np.linspace(0, 1, w)[None, :, None]; y = np.linspace(0, 1, h)[:, None, None]
    base = np.concatenate([x * np.ones((h, 1, 1)), y * np.ones((1, w, 1)), (x + y) / 2], axis=2)
    noise = rng.random((h, w, 3)) * rng.random()
    return Image.fromarray((np.clip(base * rng.random() + noise, 0, 1) * 255).astype(np.uint8))
# PNG sides are multiples of 32, so box averages to 32, 16 and 9x8 are exact block means.
for i in range(24):
    picture(32 * (1 + i % 4), 32 * (1 + i % 3)).save(f"{work}/imgs/png/p{i:02d}.png")
for i in range(40):
    picture(70 + 7 * i, 50 + 3 * i).save(f"{work}/imgs/jpg/deep/j{i:02d}.jpg", quality=90)
open(f"{work}/imgs/jpg/broken.jpg", "wb").write(b"\xff\xd8\xff\xe0 not really a jpeg")
picture(20, 20).save(f"{work}/imgs/jpg/anim.gif")
open(f"{work}/imgs/captions.txt", "w").write("not an image\n")
# The same JPEGs in a tar.gz and a zip; 1,500 small ones for the kill test.
with tarfile.open(f"{work}/shard.tar.gz", "w:gz") as t:
    t.add(f"{work}/imgs/jpg/deep", arcname="deep")
with zipfile.ZipFile(f"{work}/shard.zip", "w") as z:
    for name in sorted(os.listdir(f"{work}/imgs/png")):
        z.write(f"{work}/imgs/png/{name}", f"png/{name}")
for i in range(1500):
    picture(48, 40).save(f"{work}/big/b{i:04d}.jpg", quality=80)
PY

# --- the file, and -np 1, 2, 4 ---------------------------------------------------
for np in 1 2 4; do
  may_fail ferry_np "$np" embed "$WORK/imgs" --out "$WORK/rp$np.h5" --embedder rp --dim 48 \
    --seed 7 > "$WORK/rp$np.out" 2>&1
  check "-np $np: exit 0 ($status)" test "$status" -eq 0
done
check "-np 1, 2 and 4 write the same file" cmp "$WORK/rp1.h5" "$WORK/rp2.h5"
check "(and 4)" cmp "$WORK/rp1.h5" "$WORK/rp4.h5"
check "the summary counts 64 ok, 2 undecodable" grep -q "computed 66 (64 ok, 2 undecodable)" "$WORK/rp2.out"
check "and names why" grep -q "undecodable: jpg/broken.jpg: " "$WORK/rp2.out"
check "h5dump reads the embeddings" bash -c "h5dump -d /embeddings -s 0,0 -c 1,4 '$WORK/rp2.h5' > /dev/null"
check "h5dump shows the attributes" bash -c \
  "h5dump -A '$WORK/rp2.h5' | grep -q 'ATTRIBUTE \"embedder\"' && h5dump -a /embedder '$WORK/rp2.h5' | grep -q '\"rp\"'"
check "h5py: layout, statuses, done mask" $PY - "$WORK/rp2.h5" <<'PY'
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
paths = [p.decode() for p in f["paths"][:]]
st, done, E = f["status"][:], f["done"][:], f["embeddings"][:]
assert paths == sorted(paths) and len(paths) == 66, paths[:3]
bad = {p for p, s in zip(paths, st) if s == 2}
assert bad == {"jpg/anim.gif", "jpg/broken.jpg"}, bad
assert (done == 1).all() and E.shape == (66, 48) and E.dtype == np.float32
assert not E[st == 2].any() and np.abs(E[st == 1]).sum(1).min() > 0
assert f.attrs["dim"] == 48 and f.attrs["seed"] == 7 and f.attrs["ferry_version"]
PY

# --- the embedders against NumPy, on the PNGs ----------------------------------------
ferry_np 2 embed "$WORK/imgs/png" --out "$WORK/px.h5" --embedder pixels -q > /dev/null 2>&1
ferry_np 2 embed "$WORK/imgs/png" --out "$WORK/dh.h5" --embedder dhash -q > /dev/null 2>&1
ferry_np 2 embed "$WORK/imgs/png" --out "$WORK/rpp.h5" --embedder rp --dim 40 --seed 3 -q > /dev/null 2>&1
$PY - "$WORK/weights.h5" <<'PY'
import sys, h5py, numpy as np
rng = np.random.default_rng(1)
with h5py.File(sys.argv[1], "w") as f:     # 768 -> 20 -> 6, as torch.nn.Linear stores them
    for i, (o, n) in enumerate([(20, 768), (6, 20)]):
        f[f"layers/{i}/weight"] = rng.normal(0, 0.1, (o, n)).astype(np.float32)
        f[f"layers/{i}/bias"] = rng.normal(0, 0.1, o).astype(np.float32)
PY
ferry_np 2 embed "$WORK/imgs/png" --out "$WORK/mlp.h5" --embedder mlp --weights "$WORK/weights.h5" \
  -q > /dev/null 2>&1
check "pixels, rp, dhash and mlp match NumPy" $PY - "$WORK" <<'PY'
import math, sys, h5py, numpy as np
from PIL import Image
work = sys.argv[1]
def area(n, m):
    """The m x n matrix that area-averages n pixels into m."""
    A = np.zeros((m, n))
    for i in range(m):
        lo, hi = i * n / m, (i + 1) * n / m
        for j in range(int(lo), min(n, int(np.ceil(hi)))):
            A[i, j] = min(hi, j + 1) - max(lo, j)
    return A / A.sum(1, keepdims=True)
def box(a, w, h):
    return np.einsum("ij,jkc,lk->ilc", area(a.shape[0], h), a, area(a.shape[1], w))
def pixels(path, side):
    a = np.asarray(Image.open(path).convert("RGB"), dtype=np.float64) / 255
    v = box(a, side, side).reshape(-1)
    sd = v.std()
    return (v - v.mean()) / sd if sd > 1e-8 else v * 0
def splitmix(seed, n):
    s, out, M = seed, [], (1 << 64) - 1
    for _ in range(n):
        s = (s + 0x9e3779b97f4a7c15) & M
        z = s
        z = ((z ^ (z >> 30)) * 0xbf58476d1ce4e5b9) & M
        z = ((z ^ (z >> 27)) * 0x94d049bb133111eb) & M
        out.append(((z ^ (z >> 31)) >> 11) + 0.5)
    return np.array(out) / 9007199254740992.0
def projection(seed, d, n):
    u = splitmix(seed, d * n + (d * n) % 2).reshape(-1, 2)
    r, t = np.sqrt(-2 * np.log(u[:, 0])), 2 * math.pi * u[:, 1]
    return (np.stack([r * np.cos(t), r * np.sin(t)], 1).reshape(-1)[: d * n] / math.sqrt(d)).reshape(d, n)
f = {k: h5py.File(f"{work}/{k}.h5", "r") for k in ["px", "dh", "rpp", "mlp"]}
paths = [p.decode() for p in f["px"]["paths"][:]]
P = projection(3, 40, 3072).astype(np.float32)
W = h5py.File(f"{work}/weights.h5", "r")
worst = {"px": 0, "rp": 0, "mlp": 0}
for i, p in enumerate(paths):
    png = f"{work}/imgs/png/{p}"
    x16, x32 = pixels(png, 16), pixels(png, 32)
    worst["px"] = max(worst["px"], np.abs(f["px"]["embeddings"][i] - x16).max())
    worst["rp"] = max(worst["rp"], np.abs(f["rpp"]["embeddings"][i] - P.astype(np.float64) @ x32).max())
    h = x16 @ W["layers/0/weight"][:].T.astype(np.float64) + W["layers/0/bias"][:]
    out = np.maximum(h, 0) @ W["layers/1/weight"][:].T.astype(np.float64) + W["layers/1/bias"][:]
    worst["mlp"] = max(worst["mlp"], np.abs(f["mlp"]["embeddings"][i] - out).max())
    g = np.asarray(Image.open(png).convert("RGB"), dtype=np.float64) / 255
    g = box((g @ [0.299, 0.587, 0.114])[..., None], 9, 8)[..., 0]
    bits = (g[:, :-1] > g[:, 1:]).reshape(-1)
    assert (f["dh"]["embeddings"][i] == bits).all(), (p, f["dh"]["embeddings"][i], bits)
print(worst)
assert worst["px"] < 1e-4 and worst["rp"] < 1e-4 and worst["mlp"] < 1e-4, worst
assert f["px"].attrs["dim"] == 768 and f["dh"].attrs["dim"] == 64 and f["mlp"].attrs["dim"] == 6
assert len(f["mlp"].attrs["weights_sha256"]) == 64
PY

# --- the GPU: the same embeddings within the documented tolerance, or a clean skip ----------
may_fail ferry_np 2 embed "$WORK/imgs/png" --out "$WORK/gpu_rp.h5" --embedder rp --dim 40 --seed 3 \
  --device gpu > "$WORK/gpu.out" 2>&1
if [ "$status" -eq 0 ]; then
  ferry_np 2 embed "$WORK/imgs/png" --out "$WORK/gpu_mlp.h5" --embedder mlp \
    --weights "$WORK/weights.h5" --device gpu -q > /dev/null 2>&1
  check "the summary says GPUs" grep -q "on GPUs" "$WORK/gpu.out"
  check "GPU and CPU agree within 1e-5 relative (rp, mlp)" $PY - "$WORK" <<'PY'
import sys, h5py, numpy as np
work = sys.argv[1]
for gpu, cpu in [("gpu_rp", "rpp"), ("gpu_mlp", "mlp")]:
    a, b = h5py.File(f"{work}/{gpu}.h5", "r")["embeddings"][:], h5py.File(f"{work}/{cpu}.h5", "r")["embeddings"][:]
    rel = np.linalg.norm(a - b, axis=1) / np.maximum(np.linalg.norm(b, axis=1), 1e-12)
    print(gpu, rel.max())
    assert rel.max() < 1e-5, (gpu, rel.max())
PY
else
  check "--device gpu without a usable GPU: exit 5 ($status)" test "$status" -eq 5
  check "saying why" grep -q "no usable GPU: " "$WORK/gpu.out"
  echo "skip: GPU and CPU embeddings not compared: $(grep -o 'no usable GPU: .*' "$WORK/gpu.out")"
  may_fail ferry_np 2 embed "$WORK/imgs/png" --out "$WORK/auto.h5" --embedder rp --dim 40 --seed 3 \
    --device auto > "$WORK/auto.out" 2>&1
  check "--device auto falls back to the CPU ($status)" grep -q "on the CPU" "$WORK/auto.out"
fi

# --- archives: the same pictures, read straight from a tar.gz and a zip ------------------
may_fail ferry_np 2 embed "$WORK/shard.tar.gz" "$WORK/shard.zip" --out "$WORK/arch.h5" \
  --embedder pixels > "$WORK/arch.out" 2>&1
check "tar.gz and zip inputs: exit 0 ($status)" test "$status" -eq 0
check "their entries embed as the files do" $PY - "$WORK" <<'PY'
import sys, h5py, numpy as np
work = sys.argv[1]
a, px = h5py.File(f"{work}/arch.h5", "r"), h5py.File(f"{work}/px.h5", "r")
paths = [p.decode() for p in a["paths"][:]]
assert paths[0].startswith("shard.tar.gz/deep/") and len(paths) == 64, paths[:2]
files = {p.decode(): i for i, p in enumerate(px["paths"][:])}
zipped = [(i, p.split("/", 2)[2]) for i, p in enumerate(paths) if p.startswith("shard.zip/")]
assert len(zipped) == 24
for i, name in zipped:
    assert (a["embeddings"][i] == px["embeddings"][files[name]]).all(), name
assert (a["status"][:] == 1).all()
PY

# A folder of archives reads them in place, as when named; --out's folder is made.
mkdir -p "$WORK/shards"
cp "$WORK/shard.tar.gz" "$WORK/shard.zip" "$WORK/shards/"
may_fail ferry_np 2 embed "$WORK/shards" --out "$WORK/made/for/it/dir.h5" --embedder pixels \
  > "$WORK/dir.out" 2>&1
check "a folder of archives, --out in a new folder: exit 0 ($status)" test "$status" -eq 0
check "the same rows as the archives named" same_datasets "$WORK/arch.h5" \
  "$WORK/made/for/it/dir.h5" paths embeddings status done

# --- kill -9 in the middle, resume with another rank count ------------------------------
ferry_np 1 embed "$WORK/big" --out "$WORK/whole.h5" --embedder rp --dim 32 -q > /dev/null 2>&1
# One image a round and a commit every 50 ms: slow enough to be caught in the middle.
ferry_np 2 embed "$WORK/big" --out "$WORK/killed.h5" --embedder rp --dim 32 --batch 1 \
  --commit-every 0.05 > "$WORK/kill.out" 2>&1 &
kill_at_progress "$WORK/kill.out" $! "embed $WORK/big --out $WORK/killed.h5"
may_fail "$FERRY_BIN" status "$WORK/killed.h5" > "$WORK/st.out" 2>&1
check "status FILE.h5 mid-run: exit 0 ($status)" test "$status" -eq 0
check "it tells rows done of 1500, the embedder and D" \
  grep -qE "killed.h5: embeddings \(rp, D = 32\): [0-9]+ of 1500 rows done; the same" "$WORK/st.out"
"$FERRY_BIN" status --json "$WORK/killed.h5" > "$WORK/st.json" 2>&1
check "status --json: rows done fewer than rows, no knn" $PY - "$WORK/st.json" <<'PY'
import json, sys
s = json.loads(open(sys.argv[1]).read())
assert s["embedder"] == "rp" and s["dim"] == 32 and s["rows"] == 1500, s
assert 0 < s["rows_done"] < 1500 and not s["embed_complete"] and s["knn"] is None, s
PY
may_fail ferry_np 4 embed "$WORK/big" --out "$WORK/killed.h5" --embedder rp --dim 32 --json \
  > "$WORK/resume.out" 2>&1
check "resume with -np 4: exit 0 ($status)" test "$status" -eq 0
check "it computed only the rest" only_the_rest "$WORK/resume.out" 1500
check "and the file equals an uninterrupted run's" same_datasets "$WORK/whole.h5" \
  "$WORK/killed.h5" paths embeddings status done

# --- another embedder refuses to mix; --overwrite starts afresh --------------------------
may_fail ferry_np 1 embed "$WORK/imgs" --out "$WORK/rp2.h5" --embedder pixels > "$WORK/mix.out" 2>&1
check "another embedder: exit 2 ($status)" test "$status" -eq 2
check "saying why" grep -q "rp2.h5 was made with another embedder; pass --overwrite" "$WORK/mix.out"
may_fail ferry_np 1 embed "$WORK/imgs" --out "$WORK/rp2.h5" --embedder rp --dim 48 --seed 8 > "$WORK/mix2.out" 2>&1
check "another seed: exit 2 too ($status)" test "$status" -eq 2
may_fail ferry_np 2 embed "$WORK/imgs" --out "$WORK/rp2.h5" --embedder pixels --overwrite -q > /dev/null 2>&1
check "--overwrite: exit 0 ($status)" test "$status" -eq 0
check "now pixels" bash -c "h5dump -a /embedder '$WORK/rp2.h5' | grep -q '\"pixels\"'"
may_fail ferry_np 1 embed "$WORK/imgs" --out "$WORK/again.h5" --embedder nonesuch > "$WORK/bad.out" 2>&1
check "an unknown embedder: exit 2 ($status)" test "$status" -eq 2

# --- knn ------------------------------------------------------------------------------
for metric in l2 cosine; do
  may_fail ferry_np 2 knn "$WORK/rp1.h5" -k 5 --metric "$metric" --overwrite > "$WORK/knn.out" 2>&1
  check "knn $metric: exit 0 ($status)" test "$status" -eq 0
  check "knn $metric equals brute force" $PY - "$WORK/rp1.h5" "$metric" <<'PY'
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
X, st = f["embeddings"][:].astype(np.float64), f["status"][:]
I, D = f["knn/indices"][:], f["knn/distances"][:]
assert f["knn"].attrs["k"] == 5 and (f["knn/done"][:] == 1).all()
ok = np.where(st == 1)[0]
if sys.argv[2] == "cosine":
    X = X / np.linalg.norm(X, axis=1, keepdims=True)
for q in range(len(X)):
    if st[q] != 1:
        assert (I[q] == -1).all() and np.isinf(D[q]).all()
        continue
    if sys.argv[2] == "l2":
        d = np.sqrt(((X[ok] - X[q]) ** 2).sum(1))
    else:
        d = 1 - X[ok] @ X[q]
    best = sorted((d[i], ok[i]) for i in range(len(ok)) if ok[i] != q)[:5]
    assert list(I[q]) == [b[1] for b in best], (q, I[q], best)
    assert np.allclose(D[q], [b[0] for b in best], rtol=1e-5, atol=1e-6)
PY
done
may_fail ferry_np 4 knn "$WORK/rp1.h5" -k 5 --metric cosine --json > "$WORK/knn2.out" 2>&1
check "a rerun computes nothing" grep -q '"done_before":66,"computed":0' "$WORK/knn2.out"
"$FERRY_BIN" status "$WORK/rp1.h5" > "$WORK/st.out" 2>&1
check "status: embeddings and knn complete" grep -qx \
  "knn (k = 5, cosine): 66 of 66 rows done, complete" "$WORK/st.out"
"$FERRY_BIN" status --json "$WORK/rp1.h5" > "$WORK/st.json" 2>&1
check "status --json: knn done" $PY - "$WORK/st.json" <<'PY'
import json, sys
s = json.loads(open(sys.argv[1]).read())
assert s["rows_done"] == 66 and s["embed_complete"], s
assert s["knn"] == {"k": 5, "metric": "cosine", "rows_done": 66, "complete": True}, s
PY
may_fail "$FERRY_BIN" status "$WORK/nonesuch.h5" > "$WORK/st.out" 2>&1
check "status of a missing FILE.h5: exit 4 ($status)" test "$status" -eq 4
may_fail ferry_np 1 knn "$WORK/rp1.h5" -k 3 > "$WORK/knn3.out" 2>&1
check "another k is refused without --overwrite ($status)" test "$status" -eq 2

# knn killed in the middle resumes with another rank count to the same tables.
$PY - "$WORK/many.h5" <<'PY'
import sys, h5py, numpy as np
n, d = 16000, 128
rng = np.random.default_rng(9)
with h5py.File(sys.argv[1], "w") as f:
    f["paths"] = np.array([f"r{i:05d}".encode() for i in range(n)], dtype="S6")
    f["embeddings"] = rng.normal(size=(n, d)).astype(np.float32)
    f["status"] = np.ones(n, np.uint8)
    f["done"] = np.ones(n, np.uint8)
PY
cp "$WORK/many.h5" "$WORK/many-killed.h5"
ferry_np 2 knn "$WORK/many.h5" -k 4 -q > /dev/null 2>&1
ferry_np 2 knn "$WORK/many-killed.h5" -k 4 --commit-every 0.01 > "$WORK/knnkill.out" 2>&1 &
kill_at_progress "$WORK/knnkill.out" $! "knn $WORK/many-killed.h5"
may_fail ferry_np 1 knn "$WORK/many-killed.h5" -k 4 --json > "$WORK/knnresume.out" 2>&1
check "knn killed, resumed with -np 1: exit 0 ($status)" test "$status" -eq 0
check "it computed only the rest" only_the_rest "$WORK/knnresume.out" 16000
check "and its tables equal an uninterrupted run's" same_datasets "$WORK/many.h5" \
  "$WORK/many-killed.h5" knn/indices knn/distances knn/done

# Geo: four cities, distances by hand with the haversine (R = 6,371,008.8 m).
cat > "$WORK/geo.jsonl" <<'EOF'
{"file_name": "png/p00.png", "latitude": 48.8566, "longitude": 2.3522}
{"file_name": "png/p01.png", "latitude": 51.5074, "longitude": -0.1278}
{"file_name": "png/p02.png", "latitude": 52.5200, "longitude": 13.4050}
{"file_name": "png/p03.png", "latitude": 40.4168, "longitude": -3.7038}
EOF
may_fail ferry_np 2 knn "$WORK/rp1.h5" -k 2 --geo "$WORK/geo.jsonl" --overwrite > "$WORK/geo.out" 2>&1
check "geo knn: exit 0 ($status)" test "$status" -eq 0
check "geo neighbours and metres match the haversine" $PY - "$WORK/rp1.h5" <<'PY'
import math, sys, h5py, numpy as np
def hav(a, b):
    (p1, l1), (p2, l2) = [(math.radians(x), math.radians(y)) for x, y in (a, b)]
    h = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin((l2 - l1) / 2) ** 2
    return 2 * 6371008.8 * math.asin(math.sqrt(h))
f = h5py.File(sys.argv[1], "r")
paths = [p.decode() for p in f["paths"][:]]
city = {"png/p00.png": (48.8566, 2.3522), "png/p01.png": (51.5074, -0.1278),
        "png/p02.png": (52.5200, 13.4050), "png/p03.png": (40.4168, -3.7038)}
rows = {paths.index(p): c for p, c in city.items()}
I, D = f["knn/indices"][:], f["knn/distances"][:]
assert f["knn"].attrs["metric"] == b"geo" or f["knn"].attrs["metric"] == "geo"
paris = paths.index("png/p00.png")
assert paths[I[paris][0]] == "png/p01.png" and abs(D[paris][0] - hav(city["png/p00.png"], city["png/p01.png"])) < 1.0
assert abs(D[paris][0] - 343.5e3) < 1e3
for r, c in rows.items():
    want = sorted((hav(c, c2), r2) for r2, c2 in rows.items() if r2 != r)[:2]
    assert list(I[r]) == [w[1] for w in want], (paths[r], I[r], want)
    assert all(abs(D[r][i] - want[i][0]) < 1.0 for i in range(2)), (D[r], want)
others = [i for i in range(len(paths)) if i not in rows]
assert (I[others] == -1).all() and np.isinf(D[others]).all()
PY

finish
