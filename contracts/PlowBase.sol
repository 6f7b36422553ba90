// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.30;

import "contracts/PlowTypes.sol";

/// @title PlowBase — the state and the helpers Plow and PlowDisputes share.
///
/// Money is one ERC-20 (the deployment names it) in uint64 base units, as
/// on the embedded ledger; every sum is checked (Solidity 0.8). Accounts
/// hold balance, stake, locked stake and unbonding funds in one storage
/// word. A task is stored as one word of state under its id, the hash of
/// its parameters (every call passes them back); a slot is one word: the
/// worker and claim height until it commits, then the hash of its seal.
/// Disputes are decided by a judge behind IJudge (today the referee's key).
/// docs/evm.md maps every ledger rule to the code below.
abstract contract PlowBase {
    // ---- deployment parameters ----
    IERC20 public immutable token;
    IJudge public immutable judge;
    uint64 public immutable unbondBlocks;
    uint64 public immutable verdictBlocks;   // a judge rules within this; a DA answer is due by then
    uint64 public immutable bondFloor;       // the least bond of any challenge (the referee's work is paid)
    uint32 public immutable slashChallengerPct;
    uint32 public immutable bondAccusedPct;
    uint8 public constant OPEN_PER_CHALLENGER = 4;
    uint8 public constant VOID_FACTOR = 2;    // an unruled challenge voids its slots after deadline + 2 x verdictBlocks
    uint64 public constant MAX_STEPS = 1024;  // a reveal's leaves fit one transaction

    uint8 constant KIND_INFER = 3;
    uint8 constant KIND_ROUND = 5;
    uint8 constant KIND_LABEL = 6;
    uint8 constant MODE_REPLICATED = 1;
    uint8 constant MODE_OPTIMISTIC = 2;

    /// Task word flag: the judge ruled the task unrunnable (the poster's
    /// fault, ledger.md V6): nobody may claim it or finalize it; expire
    /// settles it at once (every held slot VOID, its stake unlocked; the
    /// escrow back to the requester).
    uint256 constant F_UNRUNNABLE = uint256(1) << 176;
    // task status
    uint8 constant T_OPEN = 1;
    uint8 constant T_CLAIMED = 2;
    uint8 constant T_COMMITTED = 3;
    uint8 constant T_CHALLENGED = 4;
    uint8 constant T_RESOLVED = 5;
    uint8 constant T_FINALIZED = 6;
    uint8 constant T_EXPIRED = 7;
    // slot status (4 bits each in the task word)
    uint8 constant S_EMPTY = 0;
    uint8 constant S_CLAIMED = 1;
    uint8 constant S_COMMITTED = 2;
    uint8 constant S_REVEALED = 3;
    uint8 constant S_PAID = 4;
    uint8 constant S_UNPAID = 5;
    uint8 constant S_SLASHED = 6;
    uint8 constant S_FORFEITED = 7;
    uint8 constant S_VOID = 8;
    // challenge status
    uint8 constant C_OPEN = 1;
    uint8 constant C_UPHELD = 2;
    uint8 constant C_REJECTED = 3;
    uint8 constant C_EXPIRED = 4;

    struct Account {
        uint64 balance;
        uint64 stake;
        uint64 locked;
        uint64 unbonding;
    }

    struct Profile {
        uint64 unbondAt;
        uint8 profile;     // 0 unregistered, 1 person, 2 agent
        uint64 agentId;    // ERC-8004-style identity: the registration number
    }

    mapping(address => Account) public accounts;
    mapping(address => Profile) public profiles;
    mapping(uint256 => address) public agentWallet;
    mapping(uint256 => string) public agentURI;
    uint64 public agents;
    uint64 public burned;

    /// Task word: status (8) | postedAt (64) | windowEnd (64) | openChallenges (8) | slot statuses (8 x 4)
    /// | the unrunnable flag (bit 176).
    mapping(bytes32 => uint256) public tasks;
    /// Slot word: CLAIMED: worker (160) | claimedAt (64) << 160; later keccak256(abi.encode(Seal)).
    mapping(bytes32 => mapping(uint256 => uint256)) public slots;

    struct Challenge {
        bytes32 dispute;   // keccak256(abi.encode(Dispute))
        uint8 status;
        uint64 deadline;   // the judge (step) or the accused (data) must act by then
        uint64 voidAt;     // after it an unruled step challenge voids its slots
    }
    mapping(uint256 => Challenge) public challenges;
    mapping(address => uint8) public openBy;
    mapping(bytes32 => mapping(address => bool)) public holds; // replicated tasks: who holds a slot
    mapping(bytes32 => bool) public openKey;   // (task, accused slot, step or demanded blob, kind) disputed now

    event Deposited(address indexed who, uint64 amount);
    event Withdrawn(address indexed who, uint64 amount);
    event Staked(address indexed who, uint64 amount);
    event Unstaked(address indexed who, uint64 amount, uint64 unbondAt);
    event Released(address indexed who, uint64 amount);
    event Registered(uint256 indexed agentId, address indexed wallet, uint8 profile, string uri);
    event TaskPosted(bytes32 indexed task, address indexed requester, Params p);
    event Claimed(bytes32 indexed task, uint8 slot, address indexed worker);
    event Committed(bytes32 indexed task, uint8 slot, address indexed worker, bytes32 commitment);
    /// leafBlob: SHA-256 of the leaf blob the worker published off-chain (zero for inference).
    event Revealed(bytes32 indexed task, uint8 slot, address indexed worker, Values v, bytes32 salt, bytes32 leafBlob);
    event ChallengeOpened(uint256 indexed cid, bytes32 indexed task, Dispute d, uint64 deadline, uint64 voidAt);
    event ChallengeClosed(uint256 indexed cid, bytes32 indexed task, uint8 status, bytes32 computed);
    event SlotSettled(bytes32 indexed task, uint8 slot, address indexed worker, uint8 status, uint64 paid);
    event TaskSettled(bytes32 indexed task, uint8 status, uint64 refund);


    constructor(IERC20 token_, IJudge judge_, uint64 unbondBlocks_, uint64 verdictBlocks_, uint64 bondFloor_,
                uint32 slashChallengerPct_, uint32 bondAccusedPct_) {
        require(slashChallengerPct_ <= 100 && bondAccusedPct_ <= 100, "plow: a share is a percentage");
        require(verdictBlocks_ > 0 && bondFloor_ > 0, "plow: verdictBlocks and bondFloor must be positive");
        token = token_;
        judge = judge_;
        unbondBlocks = unbondBlocks_;
        verdictBlocks = verdictBlocks_;
        bondFloor = bondFloor_;
        slashChallengerPct = slashChallengerPct_;
        bondAccusedPct = bondAccusedPct_;
    }

    // ================= task words =================

    function _status(uint256 w) internal pure returns (uint8) { return uint8(w); }
    function _postedAt(uint256 w) internal pure returns (uint64) { return uint64(w >> 8); }
    function _windowEnd(uint256 w) internal pure returns (uint64) { return uint64(w >> 72); }
    function _openCh(uint256 w) internal pure returns (uint8) { return uint8(w >> 136); }
    function _slot(uint256 w, uint256 i) internal pure returns (uint8) { return uint8((w >> (144 + 4 * i)) & 15); }

    function _word(uint8 st, uint64 postedAt, uint64 windowEnd, uint8 openCh, uint256 slotBits)
        internal pure returns (uint256)
    {
        return uint256(st) | (uint256(postedAt) << 8) | (uint256(windowEnd) << 72) | (uint256(openCh) << 136) |
               (slotBits << 144);
    }

    function _setStatus(uint256 w, uint8 st) internal pure returns (uint256) { return (w & ~uint256(0xff)) | st; }
    function _setWindowEnd(uint256 w, uint64 e) internal pure returns (uint256) {
        return (w & ~(uint256(type(uint64).max) << 72)) | (uint256(e) << 72);
    }
    function _setOpenCh(uint256 w, uint8 c) internal pure returns (uint256) {
        return (w & ~(uint256(0xff) << 136)) | (uint256(c) << 136);
    }
    function _setSlot(uint256 w, uint256 i, uint8 st) internal pure returns (uint256) {
        uint256 sh = 144 + 4 * i;
        return (w & ~(uint256(15) << sh)) | (uint256(st) << sh);
    }

    function taskId(Params calldata p) public pure returns (bytes32) { return keccak256(abi.encode(p)); }

    /// The task's id and word; reverts for params that name no task.
    function _task(Params calldata p, string memory what) internal view returns (bytes32 id, uint256 w) {
        id = keccak256(abi.encode(p));
        w = tasks[id];
        if (w == 0) revert(string.concat(what, ": no such task"));
    }

    function disputeHash(Dispute calldata d) external pure returns (bytes32) { return keccak256(abi.encode(d)); }

    function sealHash(Seal memory s) public pure returns (uint256) { return uint256(keccak256(abi.encode(s))); }

    /// The sealed commitment (the EVM's form of ledger_commitment: the worker's
    /// address, the chain and this contract are in it, so it opens for its
    /// author only, here only).
    function commitmentOf(bytes32 id, uint8 slot, address worker, Values calldata v, bytes32 salt)
        public view returns (bytes32)
    {
        return keccak256(abi.encode("plow/commit/evm/v1", block.chainid, address(this), id, slot, worker, v, salt));
    }

    /// a forfeited stake leaves the worker and is burned whole: none to the
    /// poster (ledger.md F9, Y).
    function _forfeit(address worker, uint64 ws) internal {
        Account storage a = accounts[worker];
        a.stake -= ws;
        a.locked -= ws;
        burned += ws;
    }

    /// share of x to `to`, the rest burned.
    function _split(uint64 x, uint32 pct, address to) internal {
        uint64 share = (x / 100) * pct + ((x % 100) * pct) / 100;
        accounts[to].balance += share;
        burned += x - share;
    }
}
