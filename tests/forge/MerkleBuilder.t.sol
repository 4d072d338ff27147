// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {OMLFixture} from "./utils/OMLFixture.sol";
import {MerkleBuilder} from "./utils/MerkleBuilder.sol";

/// @notice The Solidity tree builder used by the slashing tests agrees with `@openzeppelin/merkle-tree`.
/// Expected values were produced by tests/js/merkle_oracle.js (StandardMerkleTree.of) for the fixture's
/// leaves `(i, keccak256(abi.encode("salt", i)), keccak256("fingerprint key number i"), keccak256("zebra<i>"))`.
contract MerkleBuilderTest is OMLFixture {
    function test_build_fiveLeaves_matchesStandardMerkleTree() public view {
        assertEq(tree[0], 0x14625100a39bc33a88d6e7c6cebf4c79b9012b94a78d5ef7a606ebbdd1083641, "root");
        bytes32[] memory proof = MerkleBuilder.proof(tree, treePos[2]);
        assertEq(proof.length, 2, "proof length for leaf 2");
        assertEq(proof[0], 0x9064f7466c33a33c9598f3a75b7f523a98b918e293c2bc66bf22905474630d9d, "proof[0]");
        assertEq(proof[1], 0x44d0a357cc57611d33d47eb7261a3734033cbd2360ed8cf9fc00a300bfb4b3c7, "proof[1]");
        assertEq(oml.getModel(modelId).fingerprintRoot, tree[0], "registered root");
    }

    function test_build_twoLeaves_matchesStandardMerkleTree() public pure {
        bytes32[] memory leaves = new bytes32[](2);
        leaves[0] = _leaf(0);
        leaves[1] = _leaf(1);
        (bytes32[] memory t, uint256[] memory pos) = MerkleBuilder.build(leaves);
        assertEq(t[0], 0xf698a603d5cae791ca9fdede8f223109dff45188ccee3005a4f135969f6da287, "root");
        assertEq(MerkleBuilder.proof(t, pos[1])[0], leaves[0], "sibling of leaf 1 is leaf 0");
    }
}
