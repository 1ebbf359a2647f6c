#!/usr/bin/env bash
# The pinned @huggingface/hub (conformance/package-lock.json), installed once
# for the tests that drive it.
set -euo pipefail
cd "$(dirname "$0")/conformance"
[ -d node_modules/@huggingface/hub ] || npm ci --no-audit --no-fund --loglevel=error
