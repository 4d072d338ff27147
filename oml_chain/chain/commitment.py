"""The one bridge from a fingerprint file to the on-chain commitment.

`oml model register` (root and count) and the prover (leaves, Merkle proofs)
both call `commit_fingerprints`, so what is registered and what is proven are
built by the same code: leaf `(index, salt, keccak(utf8(key)), keccak(utf8(response)))`
for every record of the file, in file order, as contracts/README.md specifies.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from .eip712 import text_hash
from .errors import ConfigError
from .merkle import FingerprintLeaf, FingerprintTree


@dataclass(frozen=True)
class CommittedFingerprint:
    """One fingerprint of the file with its leaf (secret key and response included)."""

    index: int
    key: str
    response: str
    leaf: FingerprintLeaf


@dataclass(frozen=True)
class FingerprintCommitment:
    """All fingerprints of one file, their leaves and the Merkle tree over them."""

    path: Path
    fingerprints: tuple[CommittedFingerprint, ...]
    tree: FingerprintTree

    @property
    def root(self) -> bytes:
        return self.tree.root

    @property
    def count(self) -> int:
        return len(self.fingerprints)

    def get(self, index: int) -> CommittedFingerprint:
        if not 0 <= index < len(self.fingerprints):
            raise ConfigError(f"fingerprint index {index} is not in {self.path} ({self.count} records)")
        return self.fingerprints[index]

    def proof(self, index: int) -> list[bytes]:
        return self.tree.proof(index)

    @cached_property
    def key_groups(self) -> tuple[tuple[CommittedFingerprint, ...], ...]:
        """Records grouped by key, in file order: a key with several responses (perinucleus
        ``responses_per_key``) is one fingerprint that fires on any of them, each its own leaf."""
        from fingerprinting.fpfile import key_groups

        return tuple(tuple(self.fingerprints[i] for i in g) for g in key_groups(self.fingerprints))

    @cached_property
    def _group_by_key(self) -> dict[str, tuple[CommittedFingerprint, ...]]:
        return {g[0].key: g for g in self.key_groups}

    def group_of(self, index: int) -> tuple[CommittedFingerprint, ...]:
        """The records sharing the key of record ``index`` (itself included)."""
        return self._group_by_key[self.get(index).key]


def leaf_of(index: int, salt: bytes, key: str, response: str) -> FingerprintLeaf:
    """The Merkle leaf of one fingerprint record."""
    return FingerprintLeaf(index, salt, text_hash(key), text_hash(response))


def commit_fingerprints(path: str | Path) -> FingerprintCommitment:
    """Read and validate a fingerprint file and build its commitment (raises FingerprintFileError / ConfigError)."""
    from fingerprinting.fpfile import read_fingerprint_file

    path = Path(path)
    _, records = read_fingerprint_file(path)
    fps = tuple(CommittedFingerprint(r.index, r.key, r.response, leaf_of(r.index, r.salt_bytes, r.key, r.response))
                for r in records)
    return FingerprintCommitment(path=path, fingerprints=fps, tree=FingerprintTree(f.leaf for f in fps))
