// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {Hashes} from "@openzeppelin/contracts/utils/cryptography/Hashes.sol";

/// @notice Builds trees exactly as `@openzeppelin/merkle-tree` StandardMerkleTree does: leaf hashes sorted
/// ascending, stored at the end of a flat array in reverse, parents hashed as commutative pairs.
library MerkleBuilder {
    /// @dev The flat tree for `leafHashes` (any order) and, for each input leaf, its index in the tree.
    function build(bytes32[] memory leafHashes)
        internal
        pure
        returns (bytes32[] memory tree, uint256[] memory treeIndexOf)
    {
        uint256 n = leafHashes.length;
        require(n != 0, "MerkleBuilder: no leaves");
        uint256[] memory order = _sortedOrder(leafHashes);
        tree = new bytes32[](2 * n - 1);
        treeIndexOf = new uint256[](n);
        for (uint256 i = 0; i < n; i++) {
            uint256 pos = tree.length - 1 - i;
            tree[pos] = leafHashes[order[i]];
            treeIndexOf[order[i]] = pos;
        }
        for (uint256 i = tree.length - n; i > 0; i--) {
            uint256 p = i - 1;
            tree[p] = Hashes.commutativeKeccak256(tree[2 * p + 1], tree[2 * p + 2]);
        }
    }

    /// @dev Sibling hashes from tree position `pos` up to the root.
    function proof(bytes32[] memory tree, uint256 pos) internal pure returns (bytes32[] memory out) {
        uint256 depth = 0;
        for (uint256 j = pos; j > 0; j = (j - 1) / 2) depth++;
        out = new bytes32[](depth);
        uint256 k = 0;
        for (uint256 j = pos; j > 0; j = (j - 1) / 2) {
            out[k++] = tree[j % 2 == 1 ? j + 1 : j - 1];
        }
    }

    /// @dev Indices of `xs` in ascending order of value (insertion sort; test sizes are small).
    function _sortedOrder(bytes32[] memory xs) private pure returns (uint256[] memory idx) {
        idx = new uint256[](xs.length);
        for (uint256 i = 0; i < xs.length; i++) {
            idx[i] = i;
            for (uint256 j = i; j > 0 && xs[idx[j - 1]] > xs[idx[j]]; j--) {
                (idx[j - 1], idx[j]) = (idx[j], idx[j - 1]);
            }
        }
    }
}
