#!/bin/sh
# install-deps.sh — installs the Debian packages plow needs, skipping what is
# already there. Usage: scripts/install-deps.sh [build|test|evm|all]  (default: all)
#
#   build: compilers and the libraries plow links against
#   test:  build + what the test suite uses (clang for the cross-compiler check,
#          PyTorch and NumPy for the independent reference, valgrind-free)
#   evm:   the EVM tooling: Node.js, then `npm ci` from the committed
#          package-lock.json (solc's solcjs, Foundry's anvil and cast with
#          their Linux binaries) into node_modules/ (docs/evm.md)
#   arm:   the aarch64 cross build and its emulator (`make arm`, tests/cli/arm.sh):
#          Debian's cross compiler, qemu-user, and the arm64 -dev libraries
#          through multi-arch (dpkg --add-architecture arm64; docs/platforms.md)
#   wasm:  the WebAssembly build (`make wasm`): clang's wasm32 target, lld,
#          wasi-libc and compiler-rt's wasm32 builtins; Node.js runs it
#   browser: Debian's Chromium (headless, driven by puppeteer-core from
#          package-lock.json: nothing downloads a browser) and the npm
#          packages of the explorer (uPlot) and the OpenAI client tests
#   all:   test + evm + arm + wasm + browser
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)

# npm ci when node_modules/ does not hold exactly the committed lock file's
# packages (a stamp of the lock file's hash; CI=true: no prompts, no stdin).
npm_deps() {
    stamp="$ROOT/node_modules/.plow-lock.sha256"
    want_sum=$(sha256sum "$ROOT/package-lock.json" | cut -d' ' -f1)
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want_sum" ] &&
        [ -x "$ROOT/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil" ]; then
        return 0
    fi
    echo "plow: npm ci (solc, anvil, cast, puppeteer-core, uplot, openai from package-lock.json)" >&2
    (cd "$ROOT" && CI=true npm ci --no-audit --no-fund --loglevel=error </dev/null >/dev/null)
    echo "$want_sum" >"$stamp"
}

want=${1:-all}
build_pkgs="gcc make libc6-dev libcjson-dev libssl-dev libsodium-dev libsqlite3-dev libmicrohttpd-dev libcurl4-openssl-dev libsecp256k1-dev ca-certificates"
test_pkgs="clang python3 python3-numpy python3-torch curl sqlite3 fortunes procps"
evm_pkgs="nodejs npm"
arm_pkgs="gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user libcjson-dev:arm64 libssl-dev:arm64 libsodium-dev:arm64 libsqlite3-dev:arm64 libmicrohttpd-dev:arm64 libcurl4-openssl-dev:arm64 libsecp256k1-dev:arm64"
wasm_pkgs="clang lld wasi-libc libclang-rt-14-dev-wasm32 nodejs"
browser_pkgs="chromium fonts-liberation nodejs npm"

case "$want" in
build) pkgs="$build_pkgs" ;;
test) pkgs="$build_pkgs $test_pkgs" ;;
evm) pkgs="$evm_pkgs" ;;
arm) pkgs="$arm_pkgs" ;;
wasm) pkgs="$wasm_pkgs" ;;
browser) pkgs="$browser_pkgs" ;;
all) pkgs="$build_pkgs $test_pkgs $evm_pkgs $arm_pkgs $wasm_pkgs $browser_pkgs" ;;
*) echo "usage: $0 [build|test|evm|arm|wasm|browser|all]" >&2; exit 2 ;;
esac

missing=""
for p in $pkgs; do
    case "$p" in
    # nodesource's nodejs bundles npm: a working npm command is enough
    npm) command -v npm >/dev/null 2>&1 && continue ;;
    esac
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
if [ -z "$missing" ]; then
    case "$want" in evm | browser | all) npm_deps ;; esac
    exit 0
fi

echo "plow: installing missing packages:$missing" >&2
SUDO=""
if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
        echo "plow: need root (or sudo) to install:$missing" >&2
        exit 1
    fi
fi
export DEBIAN_FRONTEND=noninteractive
# The arm64 libraries come through multi-arch: dpkg must know the architecture.
case "$missing" in
*:arm64*)
    if ! dpkg --print-foreign-architectures | grep -qx arm64; then
        $SUDO dpkg --add-architecture arm64
    fi
    ;;
esac
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
echo "plow: packages installed" >&2
case "$want" in evm | browser | all) npm_deps ;; esac
exit 0
