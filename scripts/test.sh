#!/usr/bin/env bash
# The whole test suite: a normal optimized build and an ASan+UBSan build,
# each running every cmocka test through ctest.  Both keep assertions
# (RelWithDebInfo here is -O2 -g without NDEBUG); the sanitizer build is
# optimized too, or the differential test alone takes minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
# python3 for the Python binding's test (tests/test_python.py)
QUIRE_DEPS_EXTRA="python3 ${QUIRE_DEPS_EXTRA:-}" bash scripts/deps.sh
jobs=$(nproc)
for cfg in "build-test:-DCMAKE_BUILD_TYPE=RelWithDebInfo" \
           "build-asan:-DCMAKE_BUILD_TYPE=RelWithDebInfo -DQUIRE_SANITIZE=ON"; do
  dir=${cfg%%:*}
  flags=${cfg#*:}
  echo "== $dir ($flags)"
  cmake -S . -B "$dir" $flags -DQUIRE_BENCH=OFF >/dev/null
  cmake --build "$dir" -j"$jobs" 2>&1 | grep -E "warning|error" || true
  cmake --build "$dir" -j"$jobs" >/dev/null
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir "$dir" --output-on-failure -j"$jobs"
done
