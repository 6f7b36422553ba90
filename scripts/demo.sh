#!/bin/sh
# demo.sh — what `make demo` runs: the one-command local network demo
# (`plow demo`, docs/agents.md). It builds nothing: `make demo` has built
# build/plow already. A node, a requester, two honest workers, a cheating
# worker and a verifier run as separate processes; the workflow trains a base
# model (replicated: the cheater is caught by the divergence dispute), a LoRA
# on The Tempest (optimistic) and generates text with a verified receipt.
#
#   scripts/demo.sh [DIR] [plow demo options...]   (default DIR: runs/demo)
#   scripts/demo.sh runs/demo --config small --steps 400    a larger run
#
# A previous demo in DIR is removed first; the new one's data stays there.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PLOW="$ROOT/build/plow"
DIR=$ROOT/runs/demo
case "${1:-}" in
-*|"") ;;
*) DIR=$1; shift ;;
esac
[ -x "$PLOW" ] || { echo "demo.sh: $PLOW is missing: run 'make' first" >&2; exit 1; }
rm -rf "$DIR"
mkdir -p "$(dirname "$DIR")"
export PLOW_ROOT="$ROOT"
exec "$PLOW" demo --dir "$DIR" --data "$ROOT/data/tinyshakespeare.txt" "$@"
