"""Fingerprint Merkle commitment equals @openzeppelin/merkle-tree (StandardMerkleTree) and verifies on chain."""

from __future__ import annotations

import json
import random
import subprocess
from pathlib import Path

import pytest

from oml_chain.chain.errors import ConfigError
from oml_chain.chain.merkle import FingerprintLeaf, FingerprintTree, leaf_hash, verify_proof

pytestmark = pytest.mark.chain

ORACLE = Path(__file__).parent / "js" / "merkle_oracle.js"
REPO = Path(__file__).resolve().parent.parent


def leaves(n: int, seed: int) -> list[FingerprintLeaf]:
    rng = random.Random(seed)
    return [FingerprintLeaf(i, rng.randbytes(32), rng.randbytes(32), rng.randbytes(32)) for i in range(n)]


def oz(values: list[FingerprintLeaf]) -> dict:
    out = subprocess.run(["node", str(ORACLE)], input=json.dumps([v.as_json() for v in values]),
                         capture_output=True, text=True, check=True, cwd=REPO)
    return json.loads(out.stdout)


@pytest.mark.parametrize("n", [1, 2, 3, 7, 64, 1000])
def test_root_and_proofs_equal_openzeppelin(n):
    values = leaves(n, seed=n)
    tree = FingerprintTree(values)
    ref = oz(values)
    assert "0x" + tree.root.hex() == ref["root"]
    for v, ref_proof in zip(values, ref["proofs"]):
        proof = tree.proof(v.index)
        assert ["0x" + p.hex() for p in proof] == ref_proof
        assert verify_proof(tree.root, v, proof)
    assert tree.dump() == ref["dump"]  # identical standard-v1 JSON


def test_dump_load_roundtrip_and_rejects_tampering(tmp_path):
    tree = FingerprintTree(leaves(9, seed=3))
    path = tmp_path / "tree.json"
    tree.save(path)
    again = FingerprintTree.load(path)
    assert again.root == tree.root and again.proof(4) == tree.proof(4)
    data = json.loads(path.read_text())
    data["tree"][0] = "0x" + "00" * 32
    with pytest.raises(ConfigError, match="corrupt"):
        FingerprintTree.load(data)
    with pytest.raises(ConfigError, match="standard-v1"):
        FingerprintTree.load({"format": "simple-v1", "leafEncoding": ["bytes32"], "values": []})


def test_wrong_leaf_or_proof_fails_and_bad_input_is_explained():
    values = leaves(7, seed=5)
    tree = FingerprintTree(values)
    other = FingerprintLeaf(3, values[3].salt, values[3].key_hash, b"\x01" * 32)
    assert not verify_proof(tree.root, other, tree.proof(3))
    assert not verify_proof(tree.root, values[3], tree.proof(4))
    assert leaf_hash(values[0]) != leaf_hash(values[1])
    with pytest.raises(ConfigError, match="not in this tree"):
        tree.proof(99)
    with pytest.raises(ConfigError, match="at least one leaf"):
        FingerprintTree([])
    with pytest.raises(ConfigError, match="salt must be 32 bytes"):
        FingerprintLeaf(0, b"x", b"\x00" * 32, b"\x00" * 32)
