// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.30;

/// @title PlowTypes — the values the settlement contract, its judges and the
/// C client share (docs/evm.md has the encodings).

/// What a task asks for. Its id is keccak256(abi.encode(Params)): the contract
/// stores only the task's mutable state, every call passes the params back and
/// the hash proves them. requester must be the poster; salt makes ids unique.
struct Params {
    address requester;
    uint8 kind;            // the kind table (docs/ledger.md): the contract is kind-agnostic but for infer (3)
    uint8 mode;            // 1 replicated, 2 optimistic
    uint8 replicas;        // slots: 2..8 replicated, 1 optimistic
    uint64 reward;         // per slot, base units of the token
    uint64 workerStake;    // locked by each claim
    uint64 minBond;        // a challenge's least bond (with no other worker named)
    uint64 steps;          // the trace has steps + 1 leaves (infer: the token count, no leaves)
    uint32 claimBlocks;
    uint32 workBlocks;
    uint32 windowBlocks;
    bytes32 spec;          // the spec blob's hash (off-chain)
    bytes32 salt;
}

/// The values a sealed commitment hides (docs/ledger.md, reveal).
struct Values {
    bytes32 traceRoot;
    bytes32 finalState;
    bytes32 artifact;
    bytes32 manifest;
    uint64 n;
    uint32 checkpointEvery;
}

/// A slot's public seal as finalize and the disputes name it: the worker,
/// its commitment and (once revealed) its final state, artifact and the
/// SHA-256 of its leaf blob (the n+1 leaves, 32 bytes each, concatenated:
/// published off-chain in the blob store, demanded by a data challenge,
/// their Merkle root computed only when a badReveal challenge needs it).
/// The contract keeps only keccak256 of it.
struct Seal {
    address worker;
    bytes32 commitment;
    bytes32 finalState;    // zero until revealed
    bytes32 artifact;      // zero until revealed
    bytes32 leaves;        // zero until revealed: SHA-256 of the leaf blob (zero for inference)
}

/// One dispute, in the shape a judge decides: the step j between an agreed
/// state (leafPrev, the state blob that must hash to it) and the two leaves
/// j (accused, other). A later bisection judge narrows exactly this game to
/// one operation; today the referee rules it. kind 0 is a step challenge,
/// 1 a data-availability challenge (stateBlob = the blob demanded), 2 a
/// worker's unrunnable claim (accused = the requester, accusedSlot = the
/// claimant's slot, stateBlob zero: ledger.md D3).
struct Dispute {
    bytes32 task;
    uint64 workerStake;
    uint8 kind;
    uint8 accusedSlot;
    uint8 otherSlot;
    bool hasOther;
    address challenger;
    address accused;
    address other;
    uint64 step;
    uint64 bond;
    bytes32 stateBlob;
    bytes32 leafPrev;
    bytes32 accusedLeaf;
    bytes32 otherLeaf;
}

/// A judge owns the decision of every dispute the settlement contract opens
/// and reports it back through IPlowSettle.settle.
interface IJudge {
    /// Binds the judge to the settlement contract calling it (once).
    function attach() external;
    /// A dispute opened: a game-playing judge starts its game here.
    function opened(uint256 cid, Dispute calldata d) external;
}

interface IPlowSettle {
    /// ruling: 0 the agreed state was not shown (nobody wrong) / the blob is
    /// available or was never promised; 1 computed is the honest leaf j.
    function settle(uint256 cid, Dispute calldata d, uint8 ruling, bytes32 computed) external;
}

interface IERC20 {
    function transfer(address to, uint256 value) external returns (bool);
    function transferFrom(address from, address to, uint256 value) external returns (bool);
    function balanceOf(address who) external view returns (uint256);
}
