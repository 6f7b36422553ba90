// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.30;

/// @title PlowMerkle — src/merkle's tree, bit for bit, with the SHA-256
/// precompile (address 2):
///   leaf node  = SHA-256(0x00 || leaf)          (33 bytes)
///   inner node = SHA-256(0x01 || left || right) (65 bytes)
/// levels pair (0,1), (2,3)...; an odd level's last node is promoted
/// unchanged. A proof is the sibling path from the leaf level up; its length
/// must be exactly pathLen(index, n).
library PlowMerkle {
    function _leaf(bytes32 l) private view returns (bytes32 h) {
        assembly {
            let p := mload(0x40)
            mstore8(p, 0)
            mstore(add(p, 1), l)
            if iszero(staticcall(gas(), 2, p, 33, 0, 32)) { revert(0, 0) }
            h := mload(0)
        }
    }

    function _node(bytes32 a, bytes32 b) private view returns (bytes32 h) {
        assembly {
            let p := mload(0x40)
            mstore8(p, 1)
            mstore(add(p, 1), a)
            mstore(add(p, 33), b)
            if iszero(staticcall(gas(), 2, p, 65, 0, 32)) { revert(0, 0) }
            h := mload(0)
        }
    }

    /// The root of n >= 1 leaves: 2n - 1 precompile calls, n words of
    /// scratch memory past the free pointer (levels are built in place).
    function root(bytes32[] calldata leaves) internal view returns (bytes32) {
        uint256 off;
        assembly { off := leaves.offset }
        return _root(off, leaves.length);
    }

    /// The same root of a leaf blob (32 bytes a leaf, concatenated: the
    /// bytes whose SHA-256 a reveal names); its length is a multiple of 32.
    function rootOfBlob(bytes calldata blob) internal view returns (bytes32) {
        require(blob.length % 32 == 0, "merkle: a leaf blob is 32 bytes a leaf");
        uint256 off;
        assembly { off := blob.offset }
        return _root(off, blob.length / 32);
    }

    function _root(uint256 off, uint256 n) private view returns (bytes32 r) {
        require(n > 0, "merkle: no leaves");
        assembly ("memory-safe") {
            let buf := mload(0x40)
            let scratch := add(buf, shl(5, n))
            mstore8(scratch, 0)
            for { let i := 0 } lt(i, n) { i := add(i, 1) } {
                calldatacopy(add(scratch, 1), add(off, shl(5, i)), 32)
                if iszero(staticcall(gas(), 2, scratch, 33, add(buf, shl(5, i)), 32)) { revert(0, 0) }
            }
            mstore8(scratch, 1)
            for {} gt(n, 1) {} {
                let m := 0
                let i := 0
                for {} lt(add(i, 1), n) { i := add(i, 2) } {
                    mcopy(add(scratch, 1), add(buf, shl(5, i)), 64)
                    if iszero(staticcall(gas(), 2, scratch, 65, add(buf, shl(5, m)), 32)) { revert(0, 0) }
                    m := add(m, 1)
                }
                if lt(i, n) {
                    mstore(add(buf, shl(5, m)), mload(add(buf, shl(5, i))))
                    m := add(m, 1)
                }
                n := m
            }
            r := mload(buf)
        }
    }

    function _height(uint64 n) private pure returns (uint256 L) {
        uint64 x = n - 1;
        while (x != 0) {
            L++;
            x >>= 1;
        }
    }

    function _hasSibling(uint64 index, uint64 n, uint256 L) private pure returns (bool) {
        return ((uint256(index >> L) ^ 1) << L) < n;
    }

    function pathLen(uint64 index, uint64 n) internal pure returns (uint256 len) {
        uint256 H = _height(n);
        for (uint256 L = 0; L < H; L++)
            if (_hasSibling(index, n, L)) len++;
    }

    /// merkle_verify: proofN and proofIndex are what the proof says, n and
    /// index what the caller expects; every mismatch is false, never a revert.
    function verify(bytes32 rt, uint64 n, uint64 index, bytes32 leaf, uint64 proofN, uint64 proofIndex,
                    bytes32[] calldata path) internal view returns (bool) {
        if (n == 0 || index >= n || proofN != n || proofIndex != index) return false;
        if (path.length > 64 || path.length != pathLen(index, n)) return false;
        bytes32 r = _leaf(leaf);
        uint256 k = 0;
        uint256 H = _height(n);
        for (uint256 L = 0; L < H; L++) {
            if (!_hasSibling(index, n, L)) continue;
            if ((index >> L) & 1 == 1) r = _node(path[k], r);
            else r = _node(r, path[k]);
            k++;
        }
        return k == path.length && r == rt;
    }
}

/// @title MerkleCheck — the library behind eth_call, for the differential
/// test against src/merkle (tests/test_evm.c) and for anyone's tools.
contract MerkleCheck {
    function root(bytes32[] calldata leaves) external view returns (bytes32) {
        return PlowMerkle.root(leaves);
    }

    function verify(bytes32 rt, uint64 n, uint64 index, bytes32 leaf, uint64 proofN, uint64 proofIndex,
                    bytes32[] calldata path) external view returns (bool) {
        return PlowMerkle.verify(rt, n, index, leaf, proofN, proofIndex, path);
    }
}
