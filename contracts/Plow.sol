// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.30;

import "contracts/PlowTypes.sol";
import "contracts/PlowBase.sol";
import "contracts/PlowDisputes.sol";

/// @title Plow — plow's settlement rules (docs/ledger.md) as contracts: this
/// one holds the state (PlowBase) and the task lifecycle; the disputes
/// (challenge, data challenge, verdict, lapse) run as PlowDisputes' code on
/// this contract's storage (delegatecall: one address, one state; the split
/// keeps each under the 24 KB code limit). docs/evm.md maps every rule.
contract Plow is PlowBase {
    address public immutable disputes;

    constructor(IERC20 token_, IJudge judge_, uint64 unbondBlocks_, uint64 verdictBlocks_, uint64 bondFloor_,
                uint32 slashChallengerPct_, uint32 bondAccusedPct_)
        PlowBase(token_, judge_, unbondBlocks_, verdictBlocks_, bondFloor_, slashChallengerPct_, bondAccusedPct_)
    {
        disputes = address(new PlowDisputes(token_, judge_, unbondBlocks_, verdictBlocks_, bondFloor_,
                                            slashChallengerPct_, bondAccusedPct_));
        judge_.attach();
    }

    /// The dispute functions (PlowDisputes' ABI) run here, on this storage.
    fallback() external {
        address m = disputes;
        assembly {
            calldatacopy(0, 0, calldatasize())
            let ok := delegatecall(gas(), m, 0, calldatasize(), 0, 0)
            returndatacopy(0, 0, returndatasize())
            if iszero(ok) { revert(0, returndatasize()) }
            return(0, returndatasize())
        }
    }

    // ================= accounts =================

    function deposit(uint64 amount) external {
        require(amount > 0, "deposit: the amount must be positive");
        require(token.transferFrom(msg.sender, address(this), amount), "deposit: token transfer failed");
        accounts[msg.sender].balance += amount;
        emit Deposited(msg.sender, amount);
    }

    function withdraw(uint64 amount) external {
        Account storage a = accounts[msg.sender];
        require(amount > 0, "withdraw: the amount must be positive");
        require(a.balance >= amount, "withdraw: balance is less than the amount");
        a.balance -= amount;
        require(token.transfer(msg.sender, amount), "withdraw: token transfer failed");
        emit Withdrawn(msg.sender, amount);
    }

    /// T rows: an internal transfer.
    function transfer(address to, uint64 amount) external {
        require(amount > 0, "transfer: the amount must be positive");
        Account storage a = accounts[msg.sender];
        require(a.balance >= amount, "transfer: balance is less than the amount");
        a.balance -= amount;
        accounts[to].balance += amount;
    }

    /// S rows.
    function stake(uint64 amount) external {
        require(amount > 0, "stake: the amount must be positive");
        Account storage a = accounts[msg.sender];
        require(a.balance >= amount, "stake: balance is less than the amount");
        a.balance -= amount;
        a.stake += amount;
        emit Staked(msg.sender, amount);
    }

    /// U rows: free stake starts unbonding; a second unstake adds and restarts the delay.
    function unstake(uint64 amount) external {
        require(amount > 0, "unstake: the amount must be positive");
        Account storage a = accounts[msg.sender];
        require(amount <= a.stake, "unstake: the amount exceeds the stake");
        require(amount <= a.stake - a.locked, "unstake: stake is locked by open tasks");
        a.stake -= amount;
        a.unbonding += amount;
        uint64 at = uint64(block.number) + unbondBlocks;
        profiles[msg.sender].unbondAt = at;
        emit Unstaked(msg.sender, amount, at);
    }

    /// M1: unbonded funds return to the balance once the delay has passed.
    function release() external {
        Account storage a = accounts[msg.sender];
        uint64 u = a.unbonding;
        require(u > 0, "release: nothing is unbonding");
        require(block.number >= profiles[msg.sender].unbondAt, "release: still unbonding");
        a.unbonding = 0;
        a.balance += u;
        profiles[msg.sender].unbondAt = 0;
        emit Released(msg.sender, u);
    }

    /// R rows, ERC-8004-style: the first registration mints an agent id; uri
    /// names the registration file (endpoints, capabilities, the wallet).
    function register(uint8 profile, string calldata uri) external returns (uint64 id) {
        require(profile == 1 || profile == 2, "register: profile is neither person (1) nor agent (2)");
        require(bytes(uri).length >= 1 && bytes(uri).length <= 512, "register: a uri of 1..512 bytes");
        Profile storage p = profiles[msg.sender];
        id = p.agentId;
        if (id == 0) {
            id = ++agents;
            p.agentId = id;
            agentWallet[id] = msg.sender;
        }
        p.profile = profile;
        agentURI[id] = uri;
        emit Registered(id, msg.sender, profile, uri);
    }

    function tokenURI(uint256 agentId) external view returns (string memory) {
        require(agentWallet[agentId] != address(0), "register: no such agent");
        return agentURI[agentId];
    }

    // ================= post, claim, commit, reveal =================

    /// P rows.
    function postTask(Params calldata p) external returns (bytes32 id) {
        require(p.requester == msg.sender, "post_task: the requester must be the sender");
        require(p.kind >= 1 && p.kind != KIND_ROUND && p.kind != KIND_LABEL,
                "post_task: round and label tasks do not settle on the EVM yet");
        if (p.mode == MODE_REPLICATED) require(p.replicas >= 2 && p.replicas <= 8, "post_task: a replicated task needs 2..8 replicas");
        else if (p.mode == MODE_OPTIMISTIC) require(p.replicas == 1, "post_task: an optimistic task has 1 replica");
        else revert("post_task: unknown mode");
        require(p.steps >= 1 && p.steps <= MAX_STEPS, "post_task: steps must be in 1..1024");
        require(p.reward > 0, "post_task: the reward must be positive");
        require(p.claimBlocks >= 1 && p.claimBlocks <= 1000000 && p.workBlocks >= 1 && p.workBlocks <= 1000000 &&
                p.windowBlocks >= 1 && p.windowBlocks <= 1000000, "post_task: deadlines must be in 1..1000000 blocks");
        uint64 escrow = p.reward * p.replicas;
        Account storage a = accounts[msg.sender];
        require(a.balance >= escrow, "post_task: balance cannot escrow the rewards");
        id = keccak256(abi.encode(p));
        require(tasks[id] == 0, "post_task: the task exists already (change the salt)");
        a.balance -= escrow;
        tasks[id] = _word(T_OPEN, uint64(block.number), 0, 0, 0);
        emit TaskPosted(id, msg.sender, p);
    }

    /// C rows.
    function claim(Params calldata p) external returns (uint8 slot) {
        (bytes32 id, uint256 w) = _task(p, "claim");
        require(w & F_UNRUNNABLE == 0, "claim: the task was ruled unrunnable");
        require(_status(w) != T_CLAIMED, "claim: the task has no free slot");
        require(_status(w) == T_OPEN, "claim: the task is not open");
        require(block.number <= uint256(_postedAt(w)) + p.claimBlocks, "claim: claim deadline passed");
        require(msg.sender != p.requester, "claim: the requester cannot claim its own task");
        require(profiles[msg.sender].profile != 0, "claim: the worker is not registered (register first)");
        uint256 free = 8;
        for (uint256 i = 0; i < p.replicas && free == 8; i++) if (_slot(w, i) == S_EMPTY) free = i;
        if (p.replicas > 1) {
            // C7: a slot past CLAIMED holds a seal hash, not an address, so
            // replicated tasks keep who holds a slot (one holder, one slot).
            require(!holds[id][msg.sender], "claim: the worker already holds a slot of the task");
            holds[id][msg.sender] = true;
        }
        Account storage a = accounts[msg.sender];
        require(a.stake - a.locked >= p.workerStake, "claim: insufficient free stake");
        a.locked += p.workerStake;
        slot = uint8(free);
        slots[id][free] = uint256(uint160(msg.sender)) | (block.number << 160);
        w = _setSlot(w, free, S_CLAIMED);
        bool full = true;
        for (uint256 i = 0; i < p.replicas; i++) if (_slot(w, i) == S_EMPTY) full = false;
        if (full) w = _setStatus(w, T_CLAIMED);
        tasks[id] = w;
        emit Claimed(id, slot, msg.sender);
    }

    /// K rows (sealed): only the commitment goes on chain.
    function commit(Params calldata p, uint8 slot, bytes32 commitment) external {
        (bytes32 id, uint256 w) = _task(p, "commit");
        require(w & F_UNRUNNABLE == 0, "commit: the task was ruled unrunnable: send expire");
        require(slot < p.replicas, "commit: no such slot");
        uint256 sw = slots[id][slot];
        require(_slot(w, slot) == S_CLAIMED && address(uint160(sw)) == msg.sender,
                "commit: the sender holds no claimed slot there");
        require(block.number <= (sw >> 160) + p.workBlocks, "commit: commit deadline passed");
        require(commitment != 0, "commit: the commitment is zero");
        slots[id][slot] = sealHash(Seal(msg.sender, commitment, 0, 0, 0));
        w = _setSlot(w, slot, S_COMMITTED);
        bool all = true;
        for (uint256 i = 0; i < p.replicas; i++) if (_slot(w, i) != S_COMMITTED) all = false;
        if (all) {
            w = _setStatus(w, T_COMMITTED);
            w = _setWindowEnd(w, uint64(block.number) + 2 * uint64(p.windowBlocks));
        }
        tasks[id] = w;
        emit Committed(id, slot, msg.sender, commitment);
    }

    /// RV rows: the values, the salt and the SHA-256 of the leaf blob (the
    /// trace's n+1 leaves, 32 bytes each), which the worker publishes in the
    /// blob store for anyone to locate a divergence (docs/evm.md: the leaves
    /// no longer travel in calldata, whose EIP-7623 floor priced them at
    /// ~257,000 gas). Its availability is a data challenge's (want = the leaf
    /// blob: unanswered by the deadline, the slot is slashed); its shape (n+1
    /// leaves, leaf n the final state, the Merkle root the trace root) is
    /// badReveal's: anyone may show a published blob that breaks it.
    function reveal(Params calldata p, uint8 slot, Values calldata v, bytes32 salt, bytes32 leafBlob) external {
        (bytes32 id, uint256 w) = _task(p, "reveal");
        require(slot < p.replicas, "reveal: no such slot");
        require(_slot(w, slot) == S_COMMITTED, "reveal: the slot is not committed (or revealed already)");
        uint64 we = _windowEnd(w);
        require(we != 0, "reveal: reveals open when every slot has committed");
        require(block.number <= we - p.windowBlocks, "reveal: the reveal deadline passed");
        bytes32 c = commitmentOf(id, slot, msg.sender, v, salt);
        require(slots[id][slot] == sealHash(Seal(msg.sender, c, 0, 0, 0)),
                "reveal: the values and salt do not open the slot's commitment with the sender's key");
        require(v.n == p.steps, "reveal: n is not the task's steps");
        if (p.kind == KIND_INFER) {
            require(leafBlob == 0, "reveal: an inference reveal names no leaf blob");
        } else {
            require(v.checkpointEvery >= 1, "reveal: checkpoint_every must be at least 1");
            require(leafBlob != 0, "reveal: name the leaf blob (its SHA-256)");
        }
        slots[id][slot] = sealHash(Seal(msg.sender, c, v.finalState, v.artifact, leafBlob));
        tasks[id] = _setSlot(w, slot, S_REVEALED);
        emit Revealed(id, slot, msg.sender, v, salt, leafBlob);
    }

    // ================= settlement =================

    /// F rows. seals[i] is slot i's seal (worker, commitment, and for a
    /// revealed slot its final state and artifact), checked against the
    /// stored hash; the results of the revealed slots are compared.
    function finalize(Params calldata p, Seal[] calldata seals) external {
        (bytes32 id, uint256 w) = _task(p, "finalize");
        require(w & F_UNRUNNABLE == 0, "finalize: the task was ruled unrunnable: send expire");
        uint8 st = _status(w);
        require(st != T_OPEN && st != T_CLAIMED, "finalize: not every slot committed; send expire");
        require(st != T_FINALIZED && st != T_EXPIRED, "finalize: the task is settled already");
        require(block.number > _windowEnd(w), "finalize: challenge window open");
        require(_openCh(w) == 0, "finalize: a challenge awaits its verdict (or its lapse)");
        require(seals.length == p.replicas, "finalize: one seal per slot");
        bool agree = true;
        int256 first = -1;
        for (uint256 i = 0; i < seals.length; i++) {
            uint8 s = _slot(w, i);
            if (s != S_COMMITTED && s != S_REVEALED) continue;
            Seal calldata sl = seals[i];
            require(slots[id][i] == sealHash(sl), "finalize: a seal is not the slot's");
            if (s == S_REVEALED) {
                if (first < 0) first = int256(i);
                else if (sl.finalState != seals[uint256(first)].finalState ||
                         sl.artifact != seals[uint256(first)].artifact) agree = false;
            }
        }
        uint64 paid = 0;
        for (uint256 i = 0; i < seals.length; i++) {
            uint8 s = _slot(w, i);
            address worker = seals[i].worker;
            if (s == S_COMMITTED) {            // F9: never revealed
                _forfeit(worker, p.workerStake);
                w = _setSlot(w, i, S_FORFEITED);
                emit SlotSettled(id, uint8(i), worker, S_FORFEITED, 0);
            } else if (s == S_REVEALED) {
                Account storage a = accounts[worker];
                a.locked -= p.workerStake;
                if (agree) {
                    a.balance += p.reward;
                    paid += p.reward;
                }
                w = _setSlot(w, i, agree ? S_PAID : S_UNPAID);
                emit SlotSettled(id, uint8(i), worker, agree ? S_PAID : S_UNPAID, agree ? p.reward : 0);
            }
        }
        uint64 refund = p.reward * p.replicas - paid;
        accounts[p.requester].balance += refund;
        tasks[id] = _setStatus(w, T_FINALIZED);
        emit TaskSettled(id, T_FINALIZED, refund);
    }

    /// Y rows: a task not every slot of which committed, once no slot can.
    /// seals: as finalize for committed slots; claimed slots are read from
    /// their words.
    function expire(Params calldata p, Seal[] calldata seals) external {
        (bytes32 id, uint256 w) = _task(p, "expire");
        uint8 st = _status(w);
        require(st != T_FINALIZED && st != T_EXPIRED, "expire: the task is settled already");
        require(seals.length == p.replicas, "expire: one seal per slot");
        if (w & F_UNRUNNABLE != 0) {
            _expireUnrunnable(id, w, p, seals);
            return;
        }
        require(st == T_OPEN || st == T_CLAIMED, "expire: every slot committed; send finalize");
        // an unrunnable claim is waited for (its ruling decides who forfeits): it lapses first
        require(_openCh(w) == 0, "expire: a challenge awaits its verdict (or its lapse)");
        require(block.number > uint256(_postedAt(w)) + p.claimBlocks + p.workBlocks,
                "expire: the task can still be committed");
        for (uint256 i = 0; i < p.replicas; i++) {
            uint8 s = _slot(w, i);
            if (s == S_CLAIMED) {
                address worker = address(uint160(slots[id][i]));
                _forfeit(worker, p.workerStake);
                w = _setSlot(w, i, S_FORFEITED);
                emit SlotSettled(id, uint8(i), worker, S_FORFEITED, 0);
            } else if (s == S_COMMITTED) {
                require(slots[id][i] == sealHash(seals[i]), "expire: a seal is not the slot's");
                accounts[seals[i].worker].locked -= p.workerStake;
                w = _setSlot(w, i, S_UNPAID);
                emit SlotSettled(id, uint8(i), seals[i].worker, S_UNPAID, 0);
            }
        }
        uint64 refund = p.reward * p.replicas;
        accounts[p.requester].balance += refund;
        tasks[id] = _setStatus(w, T_EXPIRED);
        emit TaskSettled(id, T_EXPIRED, refund);
    }

    /// V6 settled: an unrunnable task, at once (whatever its deadlines): every
    /// held slot VOID with its stake unlocked (nobody forfeits: the poster
    /// is at fault), nobody paid, the whole escrow back. Challenges still
    /// open lapse later with their bonds back (their slots are void already).
    function _expireUnrunnable(bytes32 id, uint256 w, Params calldata p, Seal[] calldata seals) private {
        for (uint256 i = 0; i < p.replicas; i++) {
            uint8 s = _slot(w, i);
            address worker;
            if (s == S_CLAIMED) {
                worker = address(uint160(slots[id][i]));
            } else if (s == S_COMMITTED || s == S_REVEALED) {
                require(slots[id][i] == sealHash(seals[i]), "expire: a seal is not the slot's");
                worker = seals[i].worker;
            } else {
                continue;
            }
            accounts[worker].locked -= p.workerStake;
            w = _setSlot(w, i, S_VOID);
            emit SlotSettled(id, uint8(i), worker, S_VOID, 0);
        }
        uint64 refund = p.reward * p.replicas;
        accounts[p.requester].balance += refund;
        tasks[id] = _setStatus(w, T_EXPIRED);
        emit TaskSettled(id, T_EXPIRED, refund);
    }
}
