#!/usr/bin/env bash
# ferry embed and knn, each against its yardstick, in one run:
#   (a) 20,000 JPEGs of 256x256 in 8 tar archives, rp embedding to D = 256:
#       `mpirun -np 2 ferry embed` against the same embedding in Python (PIL
#       and NumPy, bench/embed_baseline.py) in one process and in two;
#       images per second, and how far the embeddings agree.
#   (b) the sgemm inside embed against OpenBLAS's own, and h5store's write
#       rate against one sequential write with fdatasync (bench/embed_rates).
#   (c) `mpirun -np 2 ferry knn -k 10` on 100,000 x 256 random embeddings.
#
#   bash bench/embed.sh [WORKDIR]        (default /var/tmp/ferry-bench-embed)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-/var/tmp/ferry-bench-embed}
build=${FERRY_BUILD:-$top/build}
ferry=$build/ferry
reps=${REPS:-3}
PY=/usr/bin/python3
[ "$(id -u)" -eq 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
source "$top/bench/benchlib.sh"
mkdir -p "$work"

if [ ! -f "$work/shards/done" ]; then
  rm -rf "$work/shards"
  mkdir -p "$work/shards"
  $PY - "$work/shards" <<'PY'
import io, sys, tarfile
import numpy as np
from PIL import Image
rng = np.random.default_rng(0)
x = np.linspace(0, 1, 256)
for a in range(8):
    with tarfile.open(f"{sys.argv[1]}/shard_{a}.tar", "w") as t:
        for i in range(2500):
            c = rng.random(6)
            img = np.stack([np.outer(np.sin(6 * x * c[0] + c[1]), np.cos(5 * x * c[2])) * 0.5 + 0.5,
                            np.outer(x * c[3], x) , np.outer(np.cos(4 * x * c[4] + c[5]), x)], axis=2)
            img = np.clip(img + rng.normal(0, 0.05, img.shape), 0, 1)
            buf = io.BytesIO()
            Image.fromarray((img * 255).astype(np.uint8)).save(buf, "JPEG", quality=90)
            info = tarfile.TarInfo(f"img/{a}_{i:05d}.jpg")
            info.size = buf.tell()
            buf.seek(0)
            t.addfile(info, buf)
PY
  touch "$work/shards/done"
fi
shards=("$work"/shards/shard_*.tar)
cat "${shards[@]}" > /dev/null

seconds() {   # seconds COMMAND...: wall time of COMMAND, output discarded
  local start end
  start=$(date +%s.%N)
  "$@" > /dev/null 2>&1 || { echo "benchmark step failed: $*" >&2; return 1; }
  end=$(date +%s.%N)
  echo "$end - $start" | bc -l
}

declare -A times=()
for _ in $(seq "$reps"); do
  rm -f "$work/emb.h5"
  times[ferry]+="$(seconds mpirun -np 2 --oversubscribe "$ferry" embed -q "${shards[@]}" \
                   --out "$work/emb.h5" --embedder rp --dim 256) "
  times[py1]+="$(seconds $PY "$top/bench/embed_baseline.py" 256 0 1 "$work/py.npy" "${shards[@]}") "
  times[py2]+="$(seconds $PY "$top/bench/embed_baseline.py" 256 0 2 "$work/py.npy" "${shards[@]}") "
done
echo "| (a) 20,000 JPEGs 256x256, rp D=256 | median s ($reps runs) | best s | images/s (median) | ferry ×  |"
echo "|---|---|---|---|---|"
read -r ferry_median _ < <(median_best "${times[ferry]}")
for tool in ferry py1 py2; do
  read -r median best < <(median_best "${times[$tool]}")
  name=$tool
  [ "$tool" = ferry ] && name="mpirun -np 2 ferry embed"
  [ "$tool" = py1 ] && name="Python (PIL + NumPy), 1 process"
  [ "$tool" = py2 ] && name="Python (PIL + NumPy), 2 processes"
  printf '| %s | %.2f | %.2f | %.0f | %.2f |\n' "$name" "$median" "$best" \
    "$(echo "20000 / $median" | bc -l)" "$(echo "$median / $ferry_median" | bc -l)"
done
echo
$PY - "$work/emb.h5" "$work/py.npy" <<'PY'
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
paths = [p.decode().split("/", 1)[1] for p in f["paths"][:]]
ours = f["embeddings"][:]
theirs = np.load(sys.argv[2])   # two processes: shards 0,2,4,6 then 1,3,5,7
order = [a for a in range(8) if a % 2 == 0] + [a for a in range(8) if a % 2 == 1]
ours = np.concatenate([ours[a * 2500:(a + 1) * 2500] for a in order])
rel = np.linalg.norm(ours - theirs, axis=1) / np.linalg.norm(theirs, axis=1)
cos = (ours * theirs).sum(1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(theirs, axis=1)
print(f"agreement with the baseline (TurboJPEG's scaled fast-DCT decode vs PIL's full decode): "
      f"relative L2 difference median {np.median(rel):.3f}, 99th percentile {np.percentile(rel, 99):.3f}; "
      f"cosine similarity median {np.median(cos):.4f}")
PY
echo
mpirun -np 2 --oversubscribe "$build/bench/embed_rates" "$work" 1000000 256

# (c) knn of 100,000 x 256 random rows, in a file laid out as embed writes it.
$PY - "$work/knn.h5" <<'PY'
import sys, h5py, numpy as np
n, d = 100000, 256
rng = np.random.default_rng(1)
with h5py.File(sys.argv[1], "w") as f:
    f["paths"] = np.array([f"r{i:06d}".encode() for i in range(n)], dtype="S8")
    f["embeddings"] = rng.normal(size=(n, d)).astype(np.float32)
    f["status"] = np.ones(n, np.uint8)
    f["done"] = np.ones(n, np.uint8)
PY
knn=$(seconds mpirun -np 2 --oversubscribe "$ferry" knn -q "$work/knn.h5" -k 10)
printf '\n(c) mpirun -np 2 ferry knn -k 10, 100,000 x 256: %.1f s\n' "$knn"
$PY - "$work/knn.h5" <<'PY'
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
X = f["embeddings"][:].astype(np.float64)
I = f["knn/indices"][:]
rng = np.random.default_rng(2)
for q in rng.choice(len(X), 20, replace=False):
    d = np.sqrt(((X - X[q]) ** 2).sum(1)); d[q] = np.inf
    assert list(np.argsort(d, kind="stable")[:10]) == list(I[q]), q
print("20 random rows checked against brute force: same neighbours")
PY
rm -f "$work/knn.h5" "$work/emb.h5" "$work/py.npy"
