# The layering of src/: a module includes only modules below it, and only
# their public headers. The table below IS the architecture (docs/design.md):
# one line per module, lowest first; modules on the same line are siblings
# and may not include each other. A new module must be added here.
#
#   base                    plow.h: the compatibility header, errors, buffers
#   merkle tensor           Merkle trees; the deterministic kernels
#   data                    tokenizer, datasets, preference pairs
#   model                   the decoder, its file formats
#   infer                   generation (sessions, sampling)
#   train                   training (full, LoRA, DPO, rounds, RL: whose steps sample)
#   label                   labeling math
#   ledger                  the state machine (its keys also sign served receipts)
#   proof                   traces, receipts, replays
#   job client evm          the work a task asks for; the API client + codec;
#                           the EVM chain (keys, transactions, JSON-RPC, contracts)
#   node agent serve        the server (store, blobs, HTTP, follower,
#                           referee); the agents (worker, verifier, requester,
#                           labeler), which reach a node through client only;
#                           plow serve (the OpenAI-compatible inference server)
#   cli                     the plow commands
#   wasm                    the WebAssembly command (plow.wasm) over cli, and
#                           the shims it builds with (reached as system headers)
#
# Fails naming each offending include (file, line, what it reaches).
set -e
. "$LIB"
SRC=${PLOW_LAYERS_SRC:-$ROOT/src}
cat >layers.txt <<'EOF'
base
merkle tensor
data
model
infer
train
label
ledger
proof
job client evm
market
node agent serve
cli
wasm
EOF
# module -> rank
awk '{ for (i = 1; i <= NF; i++) print $i, NR }' layers.txt >ranks.txt
for d in "$SRC"/*/; do
    m=$(basename "$d")
    grep -q "^$m " ranks.txt || fail "src/$m is not in the layer table of tests/cli/layers.sh"
done
# every quoted include that leaves its folder: file line from to header
for f in "$SRC"/*/*.c "$SRC"/*/*.h "$SRC"/*/*.inc; do
    [ -f "$f" ] || continue
    m=$(basename "$(dirname "$f")")
    grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"\.\./' "$f" |
        sed 's|^\([0-9]*\):.*"\.\./\([^/"]*\)/\([^"]*\)".*|\1 \2 \3|' |
        while read -r line to hdr; do echo "src/$m/$(basename "$f") $line $m $to $hdr"; done || true
done >edges.txt
awk 'NR == FNR { rank[$1] = $2; next }
     {
         f = $1; line = $2; from = $3; to = $4; hdr = $5
         if (!(to in rank)) { printf "%s:%s includes ../%s/%s: no module %s\n", f, line, to, hdr, to; bad = 1; next }
         if (rank[to] >= rank[from]) {
             printf "%s:%s includes ../%s/%s: %s is %s %s\n", f, line, to, hdr, to,
                    rank[to] == rank[from] ? "beside" : "above", from
             bad = 1
         }
         if (hdr ~ /_internal\.h$|_impl\.h$/) {
             printf "%s:%s includes ../%s/%s: a private header of %s\n", f, line, to, hdr, to
             bad = 1
         }
     }
     END { exit bad }' ranks.txt edges.txt >violations.txt || {
    cat violations.txt
    fail "$(wc -l <violations.txt) include(s) break the layering"
}
echo "layers: $(wc -l <edges.txt) cross-module includes, all downward"
