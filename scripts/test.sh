#!/usr/bin/env bash
# Every test: installs what is missing, builds everything with tests, runs ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh -DMIRAGE_BUILD_TESTS=ON
ctest --test-dir "${MIRAGE_BUILD_DIR:-build}" --output-on-failure -j "$(nproc)" "$@"
