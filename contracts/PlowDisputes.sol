// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.30;

import "contracts/PlowTypes.sol";
import "contracts/PlowMerkle.sol";
import "contracts/PlowBase.sol";

/// @title PlowDisputes — the dispute rules (docs/ledger.md X, D, V rows),
/// run only through Plow's fallback (delegatecall) on Plow's storage.
contract PlowDisputes is PlowBase, IPlowSettle {
    address private immutable self;

    constructor(IERC20 token_, IJudge judge_, uint64 unbondBlocks_, uint64 verdictBlocks_, uint64 bondFloor_,
                uint32 slashChallengerPct_, uint32 bondAccusedPct_)
        PlowBase(token_, judge_, unbondBlocks_, verdictBlocks_, bondFloor_, slashChallengerPct_, bondAccusedPct_)
    {
        self = address(this);
    }

    modifier delegated() {
        require(address(this) != self, "disputes: call Plow, not this module");
        _;
    }

    // ================= disputes =================

    /// One side's evidence for step j (X6-X10): the opening of a revealed
    /// slot, and leaves j-1 and j with their Merkle paths.
    struct Side {
        address worker;
        Values v;
        bytes32 salt;
        bytes32 leaves;    // the seal's SHA-256 of the leaf blob
        bytes32 leafPrev;
        bytes32[] pathPrev;
        bytes32 leaf;
        bytes32[] path;
    }

    /// The slot's seal must be this revealed opening.
    function _opened(bytes32 id, uint8 slot, uint256 w, address worker, Values calldata v, bytes32 salt,
                     bytes32 leaves, string memory who) private view {
        if (_slot(w, slot) != S_REVEALED) revert(string.concat("challenge: the ", who, " holds no revealed slot there"));
        bytes32 c = commitmentOf(id, slot, worker, v, salt);
        if (slots[id][slot] != sealHash(Seal(worker, c, v.finalState, v.artifact, leaves)))
            revert(string.concat("challenge: the opening is not the ", who, "'s revealed slot"));
    }

    function _evidence(Params calldata p, uint64 j, Side calldata s, string memory who) private view {
        if (p.kind == KIND_INFER) {
            require(j == 1, "challenge: an inference task is disputed at step 1");
            if (s.leafPrev != s.v.traceRoot || s.leaf != s.v.finalState)
                revert(string.concat("challenge: forged proof: the ", who, "'s leaves are not its receipt and output hash"));
            return;
        }
        uint64 n = s.v.n;
        require(j >= 1 && j <= n + 1, "challenge: the step is not in 1..n+1");
        if (j == n + 1) {
            if (s.leafPrev != s.v.finalState || s.leaf != s.v.artifact)
                revert(string.concat("challenge: forged proof: the ", who, "'s leaves are not its final state and artifact"));
            return;
        }
        if (!PlowMerkle.verify(s.v.traceRoot, n + 1, j - 1, s.leafPrev, n + 1, j - 1, s.pathPrev) ||
            !PlowMerkle.verify(s.v.traceRoot, n + 1, j, s.leaf, n + 1, j, s.path))
            revert(string.concat("challenge: forged proof: a leaf is not in the ", who, "'s trace"));
    }

    function _bondAndLimit(uint64 bond, string memory what) private view {
        if (bond < bondFloor) revert(string.concat(what, ": bond is below the network's floor"));
        if (openBy[msg.sender] >= OPEN_PER_CHALLENGER)
            revert(string.concat(what, ": the challenger has too many open challenges"));
        if (accounts[msg.sender].balance < bond) revert(string.concat(what, ": balance cannot post the bond"));
    }

    function _open(Dispute memory d, bytes32 key, uint256 w) private returns (uint256 cid) {
        require(!openKey[key], "challenge: an open challenge already disputes this");
        cid = uint256(keccak256(abi.encode(d, block.number)));
        require(challenges[cid].status == 0, "challenge: exists already");
        require(_openCh(w) < 255, "challenge: too many open challenges");
        accounts[msg.sender].balance -= d.bond;
        openBy[msg.sender] += 1;
        openKey[key] = true;
        uint64 deadline = uint64(block.number) + verdictBlocks;
        uint64 voidAt = d.kind == 1 ? deadline : deadline + VOID_FACTOR * verdictBlocks;
        challenges[cid] = Challenge(keccak256(abi.encode(d)), C_OPEN, deadline, voidAt);
        w = _setOpenCh(w, _openCh(w) + 1);
        if (_status(w) == T_COMMITTED || _status(w) == T_RESOLVED) w = _setStatus(w, T_CHALLENGED);
        tasks[d.task] = w;
        emit ChallengeOpened(cid, d.task, d, deadline, voidAt);
        judge.opened(cid, d);
    }

    /// X rows: a step challenge of the accused's slot, optionally naming the
    /// other replica that disagrees (replicated tasks).
    function challenge(Params calldata p, uint8 accusedSlot, Side calldata a, bool hasOther, uint8 otherSlot,
                       Side calldata o, uint64 j, bytes32 stateBlob, uint64 bond) external delegated returns (uint256 cid) {
        (bytes32 id, uint256 w) = _task(p, "challenge");
        uint8 st = _status(w);
        require(st == T_COMMITTED || st == T_CHALLENGED || st == T_RESOLVED,
                "challenge: nothing committed to challenge");
        require(block.number <= _windowEnd(w), "challenge: challenge window closed");
        require(msg.sender != a.worker, "challenge: a worker cannot challenge itself");
        require(accusedSlot < p.replicas, "challenge: no such slot");
        _opened(id, accusedSlot, w, a.worker, a.v, a.salt, a.leaves, "accused");
        _evidence(p, j, a, "accused");
        if (p.kind == KIND_INFER) require(stateBlob == a.v.traceRoot, "challenge: the state blob of an inference dispute is the accused's receipt");
        if (hasOther) {
            require(p.mode == MODE_REPLICATED, "challenge: naming an other worker is for replicated tasks only");
            require(otherSlot < p.replicas && otherSlot != accusedSlot, "challenge: the other worker is the accused");
            _opened(id, otherSlot, w, o.worker, o.v, o.salt, o.leaves, "other worker");
            _evidence(p, j, o, "other worker");
            if (j != 1 && p.kind != KIND_INFER)
                require(o.leafPrev == a.leafPrev, "challenge: the two workers do not agree on leaf j-1");
            require(o.leaf != a.leaf, "challenge: the two workers agree on leaf j: nothing to dispute");
        } else {
            require(bond >= p.minBond, "challenge: bond is below the task's min_bond");
        }
        _bondAndLimit(bond, "challenge");
        Dispute memory d = Dispute(id, p.workerStake, 0, accusedSlot, hasOther ? otherSlot : 0, hasOther, msg.sender,
                                   a.worker, hasOther ? o.worker : address(0), j, bond, stateBlob, a.leafPrev, a.leaf,
                                   hasOther ? o.leaf : bytes32(0));
        cid = _open(d, keccak256(abi.encode(id, accusedSlot, j, uint8(0))), w);
    }

    /// D rows: demands the blob `want` of the accused's revealed slot (its
    /// manifest, artifact, a checkpoint the manifest lists). The accused
    /// answers with the bytes (daAnswer) or the judge attests availability;
    /// unanswered by the deadline, the accused is slashed (lapse).
    function daChallenge(Params calldata p, uint8 slot, address worker, Values calldata v, bytes32 salt,
                         bytes32 leaves, bytes32 want, uint64 bond) external delegated returns (uint256 cid) {
        (bytes32 id, uint256 w) = _task(p, "da_challenge");
        require(_status(w) != T_FINALIZED && _status(w) != T_EXPIRED, "da_challenge: the task is settled already");
        require(msg.sender != worker, "da_challenge: a party cannot challenge itself");
        require(slot < p.replicas, "da_challenge: no such slot");
        _opened(id, slot, w, worker, v, salt, leaves, "accused");
        require(block.number <= _windowEnd(w), "da_challenge: the challenge window is not open");
        require(want != 0, "da_challenge: name the blob demanded");
        require(bond >= p.minBond, "da_challenge: bond is below the task's min_bond");
        _bondAndLimit(bond, "da_challenge");
        Dispute memory d = Dispute(id, p.workerStake, 1, slot, 0, false, msg.sender, worker, address(0), 0, bond, want,
                                   0, 0, 0);
        cid = _open(d, keccak256(abi.encode(id, slot, want, uint8(1))), w);
    }

    /// D3: the unrunnable claim. A worker holding a slot of the task (claimed,
    /// committed or revealed: `seal` proves a slot past CLAIMED, ignored
    /// otherwise) says the requester's task cannot be run within the
    /// network's limits (its spec or an input absent or malformed, or over
    /// the limits). The judge rules: 2 (unrunnable: the bond back, the task
    /// flagged, expire voids every held slot and returns the escrow), 0 or 1
    /// (it runs: the bond's share to the requester, the rest burned); not
    /// ruled by voidAt, it lapses with the bond back and nothing voided.
    /// One open claim a task at a time; no window (a claimed slot may send it).
    function unrunnableClaim(Params calldata p, uint8 slot, Seal calldata seal, uint64 bond)
        external delegated returns (uint256 cid)
    {
        (bytes32 id, uint256 w) = _task(p, "da_challenge");
        require(_status(w) != T_FINALIZED && _status(w) != T_EXPIRED, "da_challenge: the task is settled already");
        require(w & F_UNRUNNABLE == 0, "da_challenge: the task was ruled unrunnable already");
        require(msg.sender != p.requester, "da_challenge: a party cannot challenge itself");
        require(slot < p.replicas, "da_challenge: no such slot");
        uint8 s = _slot(w, slot);
        bool holder;
        if (s == S_CLAIMED) holder = address(uint160(slots[id][slot])) == msg.sender;
        else if (s == S_COMMITTED || s == S_REVEALED)
            holder = seal.worker == msg.sender && slots[id][slot] == sealHash(seal);
        require(holder, "da_challenge: only a worker holding a slot of the task claims it unrunnable");
        require(bond >= p.minBond, "da_challenge: bond is below the task's min_bond");
        _bondAndLimit(bond, "da_challenge");
        Dispute memory d = Dispute(id, p.workerStake, 2, slot, 0, false, msg.sender, p.requester, address(0), 0, bond,
                                   0, 0, 0, 0);
        cid = _open(d, keccak256(abi.encode(id, uint8(0), bytes32(0), uint8(2))), w);
    }

    /// RV (deferred shape check): the published leaf blob, passed here, is
    /// the seal's (its SHA-256) but it is not the trace the worker committed
    /// to: not n+1 leaves, leaf n not the final state, or their Merkle root
    /// not the trace root. The contract checks it itself, in the challenge
    /// window, for anyone but the worker, with no bond: a true claim slashes
    /// the slot at once (the share to the caller), a false one reverts and
    /// costs the caller its gas only.
    function badReveal(Params calldata p, uint8 slot, address worker, Values calldata v, bytes32 salt,
                       bytes calldata blob) external delegated {
        (bytes32 id, uint256 w) = _task(p, "bad_reveal");
        require(_status(w) != T_FINALIZED && _status(w) != T_EXPIRED, "bad_reveal: the task is settled already");
        require(block.number <= _windowEnd(w), "bad_reveal: the challenge window closed");
        require(msg.sender != worker, "bad_reveal: a worker cannot challenge itself");
        require(slot < p.replicas, "bad_reveal: no such slot");
        require(p.kind != KIND_INFER, "bad_reveal: an inference reveal has no leaves");
        if (_slot(w, slot) != S_REVEALED) revert("bad_reveal: the slot is not revealed (or settled already)");
        bytes32 c = commitmentOf(id, slot, worker, v, salt);
        require(slots[id][slot] == sealHash(Seal(worker, c, v.finalState, v.artifact, sha256(blob))),
                "bad_reveal: the opening and leaf blob are not the slot's reveal");
        // (no event of its own: the SlotSettled SLASHED of a badReveal transaction says it)
        bool bad = blob.length != 32 * (uint256(v.n) + 1) || bytes32(blob[blob.length - 32:]) != v.finalState ||
                   PlowMerkle.rootOfBlob(blob) != v.traceRoot;
        require(bad, "bad_reveal: the leaves do hash to the trace root");
        _slash(id, slot, worker, p.workerStake, msg.sender);
    }

    function _closed(uint256 cid, Dispute calldata d, uint8 status, bytes32 computed) private {
        Challenge storage c = challenges[cid];
        c.status = status;
        openBy[d.challenger] -= 1;
        openKey[d.kind == 0 ? keccak256(abi.encode(d.task, d.accusedSlot, d.step, uint8(0)))
                : d.kind == 1 ? keccak256(abi.encode(d.task, d.accusedSlot, d.stateBlob, uint8(1)))
                              : keccak256(abi.encode(d.task, uint8(0), bytes32(0), uint8(2)))] = false;
        uint256 w = tasks[d.task];
        uint8 oc = _openCh(w) - 1;
        w = _setOpenCh(w, oc);
        if (oc == 0 && _status(w) == T_CHALLENGED) w = _setStatus(w, T_RESOLVED);
        tasks[d.task] = w;
        emit ChallengeClosed(cid, d.task, status, computed);
    }

    function _openChallenge(uint256 cid, Dispute calldata d) private view returns (Challenge storage c) {
        c = challenges[cid];
        require(c.status == C_OPEN, "verdict: the challenge is not open");
        require(c.dispute == keccak256(abi.encode(d)), "verdict: the dispute is not the challenge's");
    }


    /// A wrong party's slot: SLASHED, workerStake leaves its stake, pct to `to`.
    function _slash(bytes32 task, uint8 slot, address worker, uint64 ws, address to) private {
        uint256 w = tasks[task];
        if (_slot(w, slot) != S_REVEALED) return; // slashed (or voided) already: never twice
        tasks[task] = _setSlot(w, slot, S_SLASHED);
        Account storage a = accounts[worker];
        a.stake -= ws;
        a.locked -= ws;
        _split(ws, slashChallengerPct, to);
        emit SlotSettled(task, slot, worker, S_SLASHED, 0);
    }

    /// V rows: only the judge reports, while the challenge can still be ruled.
    function settle(uint256 cid, Dispute calldata d, uint8 ruling, bytes32 computed) external delegated {
        require(msg.sender == address(judge), "verdict: only the judge rules");
        Challenge storage c = _openChallenge(cid, d);
        require(block.number <= c.voidAt, "verdict: verdict deadline passed");
        require(ruling <= 2, "verdict: ruling must be 0, 1 or 2");
        if (ruling == 2) {
            // V6: the task cannot be run within the network's limits (the poster's fault): the challenge is
            // upheld with its bond back, nobody is slashed or paid, and the task is marked so that expire
            // settles it at once (every held slot VOID, the escrow back). It never lapses into a silent void.
            require(d.kind != 1, "verdict: an unrunnable ruling is for step challenges and unrunnable claims");
            accounts[d.challenger].balance += d.bond;
            _closed(cid, d, C_UPHELD, computed);
            tasks[d.task] |= F_UNRUNNABLE;
            return;
        }
        bool accusedWrong = false;
        bool otherWrong = false;
        if (d.kind == 0 && ruling == 1) {
            accusedWrong = computed != d.accusedLeaf;
            otherWrong = d.hasOther && computed != d.otherLeaf;
        }
        if (accusedWrong) _slash(d.task, d.accusedSlot, d.accused, d.workerStake, d.challenger);
        if (otherWrong) _slash(d.task, d.otherSlot, d.other, d.workerStake, d.challenger);
        if (accusedWrong || otherWrong) {
            accounts[d.challenger].balance += d.bond;
            _closed(cid, d, C_UPHELD, computed);
        } else {
            _split(d.bond, bondAccusedPct, d.accused);
            _closed(cid, d, C_REJECTED, computed);
        }
    }

    /// D: the accused answers a data challenge with the blob itself (small
    /// blobs: SHA-256 by the precompile) before the deadline.
    function daAnswer(uint256 cid, Dispute calldata d, bytes calldata blob) external delegated {
        Challenge storage c = _openChallenge(cid, d);
        require(d.kind == 1, "da_answer: not a data challenge");
        require(block.number <= c.deadline, "da_answer: the deadline passed");
        require(sha256(blob) == d.stateBlob, "da_answer: the bytes are not the blob demanded");
        _split(d.bond, bondAccusedPct, d.accused);
        _closed(cid, d, C_REJECTED, d.stateBlob);
    }

    /// Every wait ends: a challenge nobody closed in time lapses (anyone may
    /// call it). Data: the accused did not answer — slashed, the bond back.
    /// Step: the judge did not rule by voidAt — the bond back and the named
    /// slots VOID (stake unlocked, no pay): a flooded judge never pays a cheater.
    function lapse(uint256 cid, Dispute calldata d) external delegated {
        Challenge storage c = challenges[cid];
        require(c.status == C_OPEN, "lapse: the challenge is not open");
        require(c.dispute == keccak256(abi.encode(d)), "lapse: the dispute is not the challenge's");
        require(block.number > c.voidAt, "lapse: the challenge can still be decided");
        accounts[d.challenger].balance += d.bond;
        if (d.kind == 1) {
            _slash(d.task, d.accusedSlot, d.accused, d.workerStake, d.challenger);
            _closed(cid, d, C_UPHELD, 0);
        } else {
            if (d.kind == 0) { // an unruled unrunnable claim (kind 2) voids nothing
                _void(d.task, d.accusedSlot, d.accused, d.workerStake);
                if (d.hasOther) _void(d.task, d.otherSlot, d.other, d.workerStake);
            }
            _closed(cid, d, C_EXPIRED, 0);
        }
    }

    function _void(bytes32 task, uint8 slot, address worker, uint64 ws) private {
        uint256 w = tasks[task];
        if (_slot(w, slot) != S_REVEALED) return;
        tasks[task] = _setSlot(w, slot, S_VOID);
        accounts[worker].locked -= ws;
        emit SlotSettled(task, slot, worker, S_VOID, 0);
    }

}
