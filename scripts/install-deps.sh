#!/bin/sh
# install-deps.sh — installs the Debian packages plow needs, skipping what is
# already there. Usage: scripts/install-deps.sh [build|test|all]  (default: all)
#
#   build: compilers and the libraries plow links against
#   test:  build + what the test suite uses (clang for the cross-compiler check,
#          PyTorch and NumPy for the independent reference, valgrind-free)
set -eu

want=${1:-all}
build_pkgs="gcc make libc6-dev libcjson-dev libssl-dev libsodium-dev libsqlite3-dev libmicrohttpd-dev libcurl4-openssl-dev ca-certificates"
test_pkgs="clang python3 python3-numpy python3-torch curl sqlite3 fortunes procps"

case "$want" in
build) pkgs="$build_pkgs" ;;
test | all) pkgs="$build_pkgs $test_pkgs" ;;
*) echo "usage: $0 [build|test|all]" >&2; exit 2 ;;
esac

missing=""
for p in $pkgs; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0

echo "plow: installing missing packages:$missing" >&2
SUDO=""
if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
        echo "plow: need root (or sudo) to install:$missing" >&2
        exit 1
    fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
echo "plow: packages installed" >&2
