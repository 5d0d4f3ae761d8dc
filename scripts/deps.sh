#!/usr/bin/env bash
# Installs the Debian packages Quire needs to build and test, only those
# that are missing (so a second run costs nothing).  Sourced or run by
# scripts/demo.sh and scripts/test.sh.  Needs root on Debian 12.
set -euo pipefail
pkgs=(build-essential cmake pkg-config libxxhash-dev libzstd-dev libutf8proc-dev
      libstemmer-dev libcmocka-dev)
[ "${QUIRE_DEPS_EXTRA:-}" ] && pkgs+=($QUIRE_DEPS_EXTRA)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}" >&2
  SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
