#!/usr/bin/env bash
# test_install.sh — the library as an embedder gets it: `cmake --install`
# into a temporary prefix, then examples/embed.c built with nothing but
# pkg-config (against the shared library and the static one) and run; its
# output must be exactly the expected one.  Registered with ctest by
# CMakeLists.txt for the builds without sanitizers.
# Usage: tests/test_install.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1 src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
trap 'echo "test_install: failed at line $LINENO" >&2' ERR
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
export PKG_CONFIG_PATH=$tmp/prefix/lib/pkgconfig
pkg-config --exists quire
cc -o "$tmp/embed_shared" "$src/examples/embed.c" $(pkg-config --cflags --libs quire)
# the archive, not the .so next to it, and the libraries it needs
cc -o "$tmp/embed_static" "$src/examples/embed.c" $(pkg-config --cflags quire) \
   "$(pkg-config --variable=libdir quire)/libquire.a" \
   $(pkg-config --static --libs quire | sed 's/-lquire\b//')
expected='whale: 3
  moby 0.147
  typee 0.132
  billy 0.123
ship year:<1900: 1
  typee 0.465
"white whale": 1
  moby 1.229
whale by year, newest first:
  1924 Billy Budd
  1851 Moby-Dick
  1846 Typee'
# the shared build must load the installed library, not another copy
# (ldd's output taken whole: `ldd | grep -q` fails under pipefail when
# grep exits before ldd has written everything)
libs=$(LD_LIBRARY_PATH="$tmp/prefix/lib" ldd "$tmp/embed_shared")
case $libs in
  *"$tmp/prefix/lib/libquire.so"*) ;;
  *) echo "test_install: embed_shared does not load the installed library:"; echo "$libs"; exit 1 ;;
esac
for b in embed_shared embed_static; do
  out=$(LD_LIBRARY_PATH="$tmp/prefix/lib" "$tmp/$b" "$tmp/index-$b")
  if [ "$out" != "$expected" ]; then
    echo "test_install: $b printed:"; echo "$out"; echo "expected:"; echo "$expected"
    exit 1
  fi
done
# the installed CLI reads what the program wrote
[ "$("$tmp/prefix/bin/quire" search --count "$tmp/index-embed_static" whale)" = 3 ]
echo "test_install: ok"
