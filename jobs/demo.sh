#!/usr/bin/env bash
# ferry's main job, end to end on demo data and servers it starts itself:
# install and build, start the test hub (a local stand-in for the Hugging
# Face Hub), put a demo image dataset on it, then run the whole pipeline
# under `mpirun -np 2 ferry run`: get it from the hub, extract the shards,
# verify the dataset's structure, embed every image, find each one's
# neighbours, and put the HDF5 file back on the hub.  Ends with the status
# of every phase and a few neighbours read back with h5py.
#
#   bash jobs/demo.sh            (FERRY_DEMO_DIR: where it works, default ./demo)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
bash "$top/tests/deps.sh"
bash "$top/tests/build.sh"

demo=$(mkdir -p "${FERRY_DEMO_DIR:-$top/demo}" && cd "${FERRY_DEMO_DIR:-$top/demo}" && pwd)
ferry=$top/build/ferry
mpirun=(mpirun -np 2 --oversubscribe)
[ "$(id -u)" -eq 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
rm -rf "$demo/hub" "$demo/work"
mkdir -p "$demo/work"

# The hub, with the token its test accounts accept.
export HF_ENDPOINT HF_TOKEN=hf_test_alice
HF_ENDPOINT=$(bash "$top/tests/hub/hubctl.sh" start "$demo/hub")
trap 'bash "$top/tests/hub/hubctl.sh" stop "$demo/hub"' EXIT
echo "test hub at $HF_ENDPOINT"

# The dataset as its owners keep it: 4 shards of 250 JPEGs and a metadata file.
if [ ! -d "$demo/photos" ]; then
  /usr/bin/python3 "$top/tests/gen_images.py" "$demo/photos" --shards 4 --images 250 --side 128
fi
"$ferry" put --yes -q --progress never --create "$demo/photos" hf://datasets/alice/photos

cat > "$demo/work/spec.json" <<'EOF'
{"required": ["data/images/", "raw/meta/metadata.jsonl"],
 "jsonl": ["raw/meta/*.jsonl"],
 "counts": [{"records": "raw/meta/metadata.jsonl", "files": "data/images/", "pattern": "*.jpg"}]}
EOF
w=$demo/work
cat > "$w/job.json" <<EOF
{
  "name": "photos",
  "settings": ["--yes", "--progress", "never"],
  "phases": [
    {"name": "fetch",   "run": ["get", "hf://datasets/alice/photos", "$w/raw"]},
    {"name": "unpack",  "run": ["extract", "$w/raw/shards", "-C", "$w/data"]},
    {"name": "check",   "run": ["verify", "$w", "--spec", "$w/spec.json"]},
    {"name": "embed",   "run": ["embed", "$w/data", "--out", "$w/out/photos.h5", "--embedder", "rp", "--dim", "64"]},
    {"name": "knn",     "run": ["knn", "$w/out/photos.h5", "-k", "5"]},
    {"name": "publish", "run": ["put", "$w/out", "hf://datasets/alice/photos-embeddings", "--create"]}
  ]
}
EOF
mkdir -p "$w/out"
"${mpirun[@]}" "$ferry" run "$w/job.json"

echo
"$ferry" status "$w/job.json"
echo
/usr/bin/python3 - "$w/out/photos.h5" <<'PY'
import sys, h5py
f = h5py.File(sys.argv[1], "r")
paths = [p.decode() for p in f["paths"][:]]
embedder = f.attrs["embedder"]
embedder = embedder.decode() if isinstance(embedder, bytes) else embedder
print(f"{sys.argv[1]}: {len(paths)} rows, embedder {embedder}, D = {f.attrs['dim']}, "
      f"{int(f['done'][:].sum())} done, {int((f['status'][:] == 1).sum())} decoded")
for r in range(3):
    near = ", ".join(f"{paths[i]} ({d:.3f})" for i, d in zip(f["knn/indices"][r], f["knn/distances"][r]))
    print(f"  {paths[r]}: {near}")
PY
echo "the file is on the hub too: $HF_ENDPOINT/datasets/alice/photos-embeddings (photos.h5)"
