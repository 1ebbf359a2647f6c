#!/usr/bin/env bash
# The source folders are layers, each allowed to use only its own and lower
# ones (docs/design/engine.md):
#   ground < util < net < backends < engine < archive, h5 < embed < cli
# A header belongs to the folder of its .c file.  Prints every include that
# points up and exits 1 when there is one.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
declare -A level=([ground]=0 [util]=1 [net]=2 [backends]=3 [engine]=4 [archive]=5 [h5]=5
                  [embed]=6 [cli]=7)
declare -A home
for c in "$top"/src/*/*.c; do
  dir=$(basename "$(dirname "$c")")
  name=$(basename "$c" .c)
  # cli/extract.c is the command; archive/extract.c owns extract.h.
  if [ -z "${home[$name]:-}" ] || [ "${level[$dir]}" -lt "${level[${home[$name]}]}" ]; then
    home[$name]=$dir
  fi
done
bad=0
for c in "$top"/src/*/*.c "$top"/src/*/*.h; do
  [ -e "$c" ] || continue
  dir=$(basename "$(dirname "$c")")
  [ -n "${level[$dir]:-}" ] || { echo "layers: $dir/ is in no layer (tests/layers/check.sh)"; bad=1; continue; }
  while read -r header; do
    owner=${home[$header]:-}
    [ -n "$owner" ] || continue        # a header with no .c (types only) is everybody's
    if [ "${level[$owner]}" -gt "${level[$dir]}" ]; then
      echo "layers: src/$dir/$(basename "$c") includes ferry/$header.h of $owner/, a layer above"
      bad=1
    fi
  done < <(grep -o '#include "ferry/[a-z0-9_]*\.h"' "$c" | sed 's|.*ferry/||; s|\.h"||')
done
exit $bad
