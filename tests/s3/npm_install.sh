#!/usr/bin/env bash
# The pinned s3rver and @aws-sdk/client-s3 (npm/package-lock.json), installed
# once for the tests that drive them.
set -euo pipefail
cd "$(dirname "$0")/npm"
[ -d node_modules/s3rver ] && [ -d node_modules/@aws-sdk/client-s3 ] ||
  npm ci --no-audit --no-fund --loglevel=error
