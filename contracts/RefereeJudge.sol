// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.30;

import "contracts/PlowTypes.sol";

/// @title RefereeJudge — today's judge: the off-chain one-step referee's key,
/// fixed at deployment, signs each verdict; anyone may carry the signed
/// verdict here. The verdict carries its evidence (the bytes the referee
/// re-ran the step from: blob hashes, the recomputed leaf), emitted so anyone
/// can re-run the step and show a wrong verdict. The trust that remains is
/// this key (docs/evm.md).
contract RefereeJudge is IJudge {
    address public immutable referee;
    address public plow;

    event Verdict(uint256 indexed cid, uint8 ruling, bytes32 computed, bytes evidence);

    constructor(address referee_) {
        require(referee_ != address(0), "judge: no referee");
        referee = referee_;
    }

    function attach() external {
        require(plow == address(0), "judge: attached already");
        plow = msg.sender;
    }

    function opened(uint256, Dispute calldata) external view {
        require(msg.sender == plow, "judge: not the settlement contract");
    }

    /// The digest the referee signs (raw secp256k1 over these 32 bytes).
    function digest(uint256 cid, uint8 ruling, bytes32 computed, bytes calldata evidence)
        public view returns (bytes32)
    {
        return keccak256(abi.encode("plow/verdict/evm/v1", block.chainid, address(this), cid, ruling, computed,
                                    keccak256(evidence)));
    }

    function rule(uint256 cid, Dispute calldata d, uint8 ruling, bytes32 computed, bytes calldata evidence,
                  uint8 v, bytes32 r, bytes32 s) external {
        require(uint256(s) <= 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0, "judge: high s");
        address who = ecrecover(digest(cid, ruling, computed, evidence), v, r, s);
        require(who != address(0) && who == referee, "judge: not signed by the referee");
        emit Verdict(cid, ruling, computed, evidence);
        IPlowSettle(plow).settle(cid, d, ruling, computed);
    }
}
