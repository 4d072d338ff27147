"""OpenZeppelin StandardMerkleTrees: the fingerprint commitment over (index, salt, keyHash, responseHash),
and a host's permission receipts over (queryHash, seq).

Leaf = keccak256(bytes.concat(keccak256(abi.encode(uint256 index, bytes32 salt, bytes32 keyHash,
bytes32 responseHash)))); leaves sorted by hash; the tree is the flat array of
@openzeppelin/merkle-tree (root at 0, children of i at 2i+1 and 2i+2, leaves
at the end in reverse sorted order); inner nodes hash the sorted pair. `dump`
writes OpenZeppelin's "standard-v1" JSON so either side can load the other's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from .eip712 import keccak
from .errors import ConfigError

LEAF_ENCODING = ["uint256", "bytes32", "bytes32", "bytes32"]


@dataclass(frozen=True)
class FingerprintLeaf:
    """One committed fingerprint (hashes only; the key and response stay secret until a reveal)."""

    index: int
    salt: bytes
    key_hash: bytes
    response_hash: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.index, int) or not 0 <= self.index < 1 << 256:
            raise ConfigError(f"fingerprint index must be a uint256, got {self.index!r}")
        for name in ("salt", "key_hash", "response_hash"):
            v = getattr(self, name)
            if not isinstance(v, (bytes, bytearray)) or len(v) != 32:
                raise ConfigError(f"fingerprint {name} must be 32 bytes, got {v!r}")

    def as_json(self) -> list[str]:
        return [str(self.index), "0x" + self.salt.hex(), "0x" + self.key_hash.hex(), "0x" + self.response_hash.hex()]

    @classmethod
    def from_json(cls, value: Sequence) -> FingerprintLeaf:
        idx, salt, kh, rh = value
        return cls(int(idx, 0) if isinstance(idx, str) else int(idx), _b32(salt), _b32(kh), _b32(rh))


def _b32(v: str | bytes) -> bytes:
    return bytes.fromhex(v.removeprefix("0x")) if isinstance(v, str) else bytes(v)


def leaf_hash(leaf: FingerprintLeaf) -> bytes:
    encoded = leaf.index.to_bytes(32, "big") + leaf.salt + leaf.key_hash + leaf.response_hash
    return keccak(keccak(encoded))


def hash_pair(a: bytes, b: bytes) -> bytes:
    return keccak(a + b) if a < b else keccak(b + a)


def build_standard_tree(hashes: Sequence[bytes]) -> tuple[list[bytes], list[int]]:
    """The flat StandardMerkleTree array over leaf hashes, and the tree index of each input leaf."""
    order = sorted(range(len(hashes)), key=lambda i: hashes[i])
    n = len(hashes)
    size = 2 * n - 1
    tree: list[bytes] = [b""] * size
    tree_index = [0] * n
    for pos, value_i in enumerate(order):
        ti = size - 1 - pos
        tree[ti] = hashes[value_i]
        tree_index[value_i] = ti
    for i in range(size - 1 - n, -1, -1):
        tree[i] = hash_pair(tree[2 * i + 1], tree[2 * i + 2])
    return tree, tree_index


def standard_proof(tree: Sequence[bytes], tree_index: int) -> list[bytes]:
    """Sibling hashes from the leaf at `tree_index` up to the root."""
    i, proof = tree_index, []
    while i > 0:
        proof.append(tree[i + 1 if i % 2 == 1 else i - 1])
        i = (i - 1) // 2
    return proof


class FingerprintTree:
    """A built tree: root, proofs, verification, dump/load."""

    def __init__(self, leaves: Iterable[FingerprintLeaf]):
        self.values = list(leaves)
        if not self.values:
            raise ConfigError("a fingerprint tree needs at least one leaf")
        self.tree, self._tree_index = build_standard_tree([leaf_hash(v) for v in self.values])
        self._by_index = {v.index: i for i, v in enumerate(self.values)}

    @property
    def root(self) -> bytes:
        return self.tree[0]

    def __len__(self) -> int:
        return len(self.values)

    def position_of(self, fingerprint_index: int) -> int:
        """Position in `values` of the leaf with this fingerprint index."""
        try:
            return self._by_index[fingerprint_index]
        except KeyError:
            raise ConfigError(f"fingerprint index {fingerprint_index} is not in this tree "
                              f"({len(self.values)} leaves)") from None

    def proof(self, fingerprint_index: int) -> list[bytes]:
        """Merkle proof (sibling hashes, leaf to root) of the leaf with this fingerprint index."""
        return standard_proof(self.tree, self._tree_index[self.position_of(fingerprint_index)])

    def dump(self) -> dict:
        """OpenZeppelin StandardMerkleTree "standard-v1" JSON."""
        return {
            "format": "standard-v1",
            "leafEncoding": LEAF_ENCODING,
            "tree": ["0x" + h.hex() for h in self.tree],
            "values": [{"value": v.as_json(), "treeIndex": ti} for v, ti in zip(self.values, self._tree_index)],
        }

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.dump(), indent=1))

    @classmethod
    def load(cls, data: dict | str | Path) -> FingerprintTree:
        """Load a dump (dict, JSON path); checks format, encoding and that the stored tree matches."""
        if isinstance(data, (str, Path)):
            data = json.loads(Path(data).read_text())
        if data.get("format") != "standard-v1" or data.get("leafEncoding") != LEAF_ENCODING:
            raise ConfigError(f"not a fingerprint tree dump: expected format standard-v1 with leafEncoding "
                              f"{LEAF_ENCODING}, got {data.get('format')!r} / {data.get('leafEncoding')!r}")
        tree = cls(FingerprintLeaf.from_json(v["value"]) for v in data["values"])
        if "tree" in data and ["0x" + h.hex() for h in tree.tree] != [h.lower() for h in data["tree"]]:
            raise ConfigError("the dump's stored tree does not match its values; the file is corrupt")
        return tree


def process_proof(leaf: bytes, proof: Sequence[bytes]) -> bytes:
    node = leaf
    for sibling in proof:
        node = hash_pair(node, sibling)
    return node


def verify_proof(root: bytes, leaf: FingerprintLeaf, proof: Sequence[bytes]) -> bool:
    """What MerkleProof.verify does on chain."""
    return process_proof(leaf_hash(leaf), proof) == root


# --- permission receipts ---------------------------------------------------------------------------


def receipt_leaf(query_hash: bytes, seq: int) -> bytes:
    """keccak256(bytes.concat(keccak256(abi.encode(bytes32 queryHash, uint256 seq)))), as OML.receiptLeaf."""
    if len(query_hash) != 32 or not 0 <= seq < 1 << 256:
        raise ConfigError(f"a receipt is (32-byte query hash, uint256 seq), got ({query_hash!r}, {seq!r})")
    return keccak(keccak(bytes(query_hash) + seq.to_bytes(32, "big")))


class ReceiptTree:
    """A host's permission receipts (queryHash, seq) as a StandardMerkleTree; its root goes on chain with
    `recordPermissionReceipts`, and a proof of one receipt defends a disputed slash."""

    def __init__(self, receipts: Iterable[tuple[bytes, int]]):
        self.values = [(bytes(q), int(s)) for q, s in receipts]
        if not self.values:
            raise ConfigError("a receipt tree needs at least one receipt")
        self.tree, self._tree_index = build_standard_tree([receipt_leaf(q, s) for q, s in self.values])
        self._pos = {v: i for i, v in enumerate(self.values)}

    @property
    def root(self) -> bytes:
        return self.tree[0]

    def __contains__(self, receipt: tuple[bytes, int]) -> bool:
        return (bytes(receipt[0]), int(receipt[1])) in self._pos

    def proof(self, query_hash: bytes, seq: int) -> list[bytes]:
        pos = self._pos.get((bytes(query_hash), int(seq)))
        if pos is None:
            raise ConfigError(f"receipt (0x{bytes(query_hash).hex()}, {seq}) is not in this tree")
        return standard_proof(self.tree, self._tree_index[pos])
