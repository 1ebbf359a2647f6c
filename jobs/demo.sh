#!/usr/bin/env bash
# ferry's main job on local data: install, build, generate a dataset of scenes
# (many small files, a few large ones), pull it with `mpirun -np 2 ferry get`,
# check every byte, then show that a rerun has nothing to do.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
bash "$top/tests/deps.sh"
bash "$top/tests/build.sh"

demo=${FERRY_DEMO_DIR:-$top/demo}
src=$demo/source dst=$demo/scratch
if [ ! -d "$src" ]; then
  python3 "$top/tests/gen_tree.py" "$src" --scenes 4 --small 500 --small-size 16K \
    --large 1 --large-size 150M --seed 7
fi
rm -rf "$dst"

mpirun=(mpirun -np 2 --oversubscribe)
[ "$(id -u)" -eq 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
"${mpirun[@]}" "$top/build/ferry" get --yes --chunk-size 32M "$src" "$dst"

echo "checking every byte against the source..."
( cd "$src" && find . -type f -print0 | sort -z | xargs -0 sha256sum ) > "$demo/source.sha256"
( cd "$dst" && sha256sum --quiet -c "$demo/source.sha256" )
echo "all $(wc -l < "$demo/source.sha256") files match"

echo "a second run finds nothing to do:"
"${mpirun[@]}" "$top/build/ferry" get --yes "$src" "$dst"
