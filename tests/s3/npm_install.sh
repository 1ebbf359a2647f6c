#!/usr/bin/env bash
# The pinned s3rver and @aws-sdk/client-s3 (npm/package-lock.json), installed
# once for the tests that drive them.
set -euo pipefail
cd "$(dirname "$0")/npm"
[ -d node_modules/s3rver ] && [ -d node_modules/@aws-sdk/client-s3 ] ||
  npm ci --no-audit --no-fund --loglevel=error

# s3rver 3.7.1's delimiter listing prunes every directory below the prefix
# that holds a '/', so a folder whose objects all sit in sub-folders
# ("p/frames/00/f.bin" under prefix "p/") never shows up as a CommonPrefix;
# real S3 lists it.  Walking the whole prefix gives S3's answer (the common
# prefixes are still computed from each key).  Applied once, idempotently.
store=node_modules/s3rver/lib/stores/filesystem.js
if grep -q "avoid directories occurring beneath a common prefix" "$store"; then
  sed -i 's|// avoid directories occurring beneath a common prefix|// (ferry tests: walk on, see tests/s3/npm_install.sh)|; /(ferry tests: walk on/{n;s|return false;|return true;|}' "$store"
fi
