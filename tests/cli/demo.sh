# plow demo, short (tiny model, 30 steps): the whole network runs end to end
# and the outcome is asserted FROM THE LEDGER, not from the demo's prose: the
# demo's node is started again on its data directory and read through the
# API. Honest workers were paid exactly their rewards, the cheater's stake
# was slashed and the verifier got its share, fees went to the operator, the
# supply is conserved; every artifact is downloaded from the node and its
# hash checked against the commitment (plow info), the receipt re-derived by
# one prefill (plow verify-receipt). Also: the demo stops every process it
# started, at the end and on Ctrl-C.
set -e
. "$LIB"

no_leftovers() { # no process of the demo in DIR $1 (absolute: unique to this test run) may remain
    left=$(ps -eo pid,args | grep -F -e "--work $1/work/" -e "--data $1/node" | grep -v grep || true)
    [ -z "$left" ] || fail "processes left running after the demo: $left"
}

# Ctrl-C in the middle: every process it started is stopped, exit non-zero
$PLOW demo --dir "$PWD/int" --steps 30 --data "$ROOT/data/tinyshakespeare.txt" > int.txt 2>&1 &
pid=$!
wait_log int.txt "slot 0 claimed"
kill -INT $pid
set +e
wait $pid
rc=$?
set -e
[ $rc -ne 0 ] || fail "an interrupted demo exited 0"
grep -q "interrupted" int.txt || { cat int.txt; fail "no 'interrupted' message"; }
no_leftovers "$PWD/int"
echo "Ctrl-C: exit $rc, nothing left running"

# the demo proper; --dir must be new or empty
mkdir -p full && touch full/x
expect_fail 1 $PLOW demo --dir full
start=$(date +%s)
if ! $PLOW demo --dir "$PWD/d" --steps 30 --data "$ROOT/data/tinyshakespeare.txt" > demo.txt 2>&1; then
    tail -n 60 demo.txt
    for f in d/logs/*.log; do echo "== $f"; tail -n 15 "$f"; done
    fail "the demo exited non-zero"
fi
echo "demo took $(($(date +%s) - start))s"
no_leftovers "$PWD/d"
tail -n 40 demo.txt
# it ends by naming the explorer (docs/explorer.md)
grep -q "^Explorer: http://127.0.0.1:[0-9]*/ while it runs" demo.txt || fail "the demo does not print the explorer's address"

# read the ledger the demo left: its node, started again on its data
trap stop_all EXIT
start_node d/node node.log --quiet

/usr/bin/python3 - "$URL" d "$PLOW" <<'PY'
import json, os, subprocess, sys, urllib.request

url, d, plow = sys.argv[1], sys.argv[2], sys.argv[3]
def get(path):
    with urllib.request.urlopen(url + path, timeout=30) as r:
        return r.read()
def getj(path):
    return json.loads(get(path))
fails = []
def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        fails.append(what)

# who is who: the demo's key files
names = {}
for f in os.listdir(d + "/keys"):
    names[json.load(open(d + "/keys/" + f))["address"]] = f[:-4]
names[json.load(open(d + "/node/operator.key"))["address"]] = "operator"
genesis = json.load(open(d + "/genesis.json"))
g = {a["address"]: int(a["balance"]) + int(a.get("stake", "0")) for a in genesis["accounts"]}
min_fee = int(genesis["params"]["min_fee"])
pct = genesis["params"]["slash_challenger_pct"]
def pct_of(x, p): return (x // 100) * p + (x % 100) * p // 100
role = lambda a: names.get(a, "?")

tasks = getj("/v1/tasks?limit=100")["tasks"]
check(len(tasks) == 3, "three tasks on the ledger (%d)" % len(tasks))
check(all(t["status"] == "finalized" for t in tasks), "every task finalized")
kinds = sorted(t["kind"] for t in tasks)
check(kinds == ["infer", "lora", "train"], "a train, a lora and an infer task: %s" % kinds)
full = {t["id"]: getj("/v1/task/" + t["id"]) for t in tasks}
train = [t for t in full.values() if t["kind"] == "train"][0]
check(train["mode"] == "replicated" and len(train["slots"]) == 3, "the base model: replicated x3")
by_worker = {role(s["worker"]): s["status"] for s in train["slots"]}
check(by_worker.get("cheater") == "slashed", "the cheater's replica slashed: %s" % by_worker)
check(by_worker.get("honest-1") == "paid" and by_worker.get("honest-2") == "paid", "both honest replicas paid")
chs = train["challenges"]
check(len(chs) == 1 and chs[0]["status"] == "upheld" and role(chs[0]["accused"]) == "cheater"
      and role(chs[0]["challenger"]) == "verifier", "one challenge, by the verifier against the cheater, upheld")
for t in full.values():
    if t["kind"] != "train":
        check(t["mode"] == "optimistic" and t["slots"][0]["status"] == "paid"
              and role(t["slots"][0]["worker"]).startswith("honest") and not t["challenges"],
              "%s: optimistic, an honest worker paid, never challenged" % t["kind"])

# money: every account's change, exactly
rewards, slashed = {}, {}
for t in full.values():
    for s in t["slots"]:
        w = s["worker"]
        if s["status"] == "paid": rewards[w] = rewards.get(w, 0) + int(t["reward"])
        if s["status"] == "slashed": slashed[w] = slashed.get(w, 0) + int(t["worker_stake"])
share = {}
for t in full.values():
    for c in t["challenges"]:
        if c["status"] == "upheld":
            share[c["challenger"]] = share.get(c["challenger"], 0) + pct_of(int(t["worker_stake"]), pct)
paid_out = sum(rewards.values())
holdings, fees_others = 0, 0
acc = {}
for a in g:
    x = getj("/v1/account/" + a)
    acc[a] = x
    holdings += int(x["balance"]) + int(x["stake"]) + int(x["unbonding"])
    if role(a) != "operator": fees_others += int(x["nonce"]) * min_fee
for a, x in acc.items():
    delta = int(x["balance"]) + int(x["stake"]) + int(x["unbonding"]) - g[a]
    fees = int(x["nonce"]) * min_fee
    r = role(a)
    if r.startswith("honest"):
        check(rewards.get(a, 0) > 0 and delta == rewards[a] - fees,
              "%s paid exactly its rewards: %+d = %d - %d fees" % (r, delta, rewards.get(a, 0), fees))
    elif r == "cheater":
        check(slashed.get(a, 0) > 0 and a not in rewards and delta == -slashed[a] - fees,
              "cheater lost its stake: %+d = -%d - %d fees" % (delta, slashed.get(a, 0), fees))
    elif r == "verifier":
        check(share.get(a, 0) > 0 and delta == share[a] - fees,
              "verifier got its share of the slash: %+d = %d - %d fees" % (delta, share.get(a, 0), fees))
    elif r == "requester":
        check(delta == -paid_out - fees, "requester paid the rewards: %+d = -%d - %d fees" % (delta, paid_out, fees))
    elif r == "operator":
        check(delta == fees_others, "operator got the fees: %+d" % delta)
st = getj("/v1/status")
escrow = sum(int(t["escrow"]) for t in full.values())
bonds = sum(int(c["bond"]) for t in full.values() for c in t["challenges"] if c["status"] == "open")
check(holdings + escrow + bonds == int(st["supply"]) - int(st["burned"]),
      "supply conserved: %d + %d escrow == %s - %s burned" % (holdings, escrow, st["supply"], st["burned"]))
check(int(st["burned"]) == sum(slashed.values()) - sum(share.values()), "burned = the slashed stake less the share")

# every artifact, downloaded from the node and checked against its commitment
os.makedirs("check", exist_ok=True)
def blob(h, path):
    with open(path, "wb") as f:
        f.write(get("/v1/blob/" + h))
def manifest(s):
    return json.loads(get("/v1/blob/" + s["manifest"]))["files"]
def find(files, name):
    if isinstance(files, dict):
        return files.get(name)
    for e in files:
        if e.get("path", e.get("name")) == name:
            return e.get("hash", e.get("blob"))
def paid_slot(t):
    return [s for s in t["slots"] if s["status"] == "paid"][0]
tr = paid_slot(train)
lora = paid_slot([t for t in full.values() if t["kind"] == "lora"][0])
inf = paid_slot([t for t in full.values() if t["kind"] == "infer"][0])
mf = manifest(tr)
os.makedirs("check/base", exist_ok=True)
for n in ("model.safetensors", "config.json", "tokenizer.bin"):
    blob(find(mf, n), "check/base/" + n)
info = subprocess.run([plow, "info", "check/base/model.safetensors"], capture_output=True, text=True).stdout
check(("hash " + tr["artifact"]) in info, "the base model file hashes to the committed artifact")
os.makedirs("check/lora", exist_ok=True)
ml = manifest(lora)
for n in ("adapter_model.safetensors", "adapter_config.json"):
    blob(find(ml, n), "check/lora/" + n)
blob(inf["trace_root"], "check/receipt.json")
rec = json.load(open("check/receipt.json"))
check(rec["model_hash"] == tr["artifact"] and rec.get("lora_hash") == lora["artifact"],
      "the receipt names the committed model and adapter")
check(inf["artifact"] == tr["artifact"], "the infer task committed the base model as its artifact")
vr = subprocess.run([plow, "verify-receipt", "check/receipt.json", "--model", "check/base", "--lora", "check/lora"],
                    capture_output=True, text=True)
print(vr.stdout.strip(), vr.stderr.strip())
check(vr.returncode == 0 and "valid" in vr.stdout,
      "the receipt re-derived by one prefill with the downloaded model and adapter (so the adapter is the committed one)")
res = json.load(open(d + "/result.json"))
check(res["ok"] and all(s["verified"] for s in res["steps"]), "the requester verified every step")
if fails:
    sys.exit("%d checks failed" % len(fails))
PY
echo "the ledger agrees with the demo's outcome"
