// Test oracle: OpenZeppelin StandardMerkleTree over fingerprint leaves.
// stdin: JSON array of [index, salt, keyHash, responseHash]; stdout: {root, proofs, dump}.
'use strict';
const fs = require('fs');
const { StandardMerkleTree } = require('@openzeppelin/merkle-tree');

const values = JSON.parse(fs.readFileSync(0, 'utf8'));
const tree = StandardMerkleTree.of(values, ['uint256', 'bytes32', 'bytes32', 'bytes32']);
const proofs = values.map((_, i) => tree.getProof(i));
process.stdout.write(JSON.stringify({ root: tree.root, proofs, dump: tree.dump() }));
