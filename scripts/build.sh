#!/usr/bin/env bash
# Configures and builds mirage (Release) into ${MIRAGE_BUILD_DIR:-build}. Extra arguments go to
# CMake's configure step, e.g. scripts/build.sh -DMIRAGE_WITH_IMAGE=OFF.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${MIRAGE_BUILD_DIR:-build}
generator=()
if command -v ninja >/dev/null 2>&1 && [ ! -f "$build/Makefile" ]; then generator=(-G Ninja); fi
cmake -S . -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
jobs=${MIRAGE_JOBS:-$(nproc)}
cmake --build "$build" -j "$jobs"
