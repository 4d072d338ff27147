"""The fingerprint file: the owner's private list of (key, response) pairs.

Format ``oml-fingerprints`` version 1, JSON Lines in UTF-8, one JSON object
per line:

Line 1, the header::

    {"format": "oml-fingerprints", "version": 1,
     "n": 1024,                              # number of records that follow
     "created_at": "2026-11-25T12:00:00Z",   # UTC, ISO 8601
     "seed": 0,                              # generator seed (keys/responses are reproducible from it)
     "base_model": "path or hub name",       # the model the responses were generated with
     "base_weights_hash": "0x...",           # models.weights_hash of that model (null if not a local dir)
     "key_strategy": {"name": "english", "params": {"key_length": 16, ...}},
     "response_strategy": {"name": "perinucleus", "params": {"threshold": 0.8, ...}}}

Lines 2..n+1, one record per fingerprint, indices 0..n-1 in order::

    {"index": 0, "key": "...", "response": " word", "salt": "0x<64 hex digits>",
     "key_strategy": "english", "response_strategy": "perinucleus"}

``key`` and ``response`` are exact strings: the prompt a prover sends, and the
prefix the served continuation text must start with (byte for byte in UTF-8,
leading space included - no stripping anywhere). ``salt`` is 32 random bytes
from ``secrets`` (not derived from the seed), 0x-prefixed lower-case hex; it
blinds the on-chain commitment. The chain side computes each Merkle leaf from
``(index, salt, keccak256(utf8(key)), keccak256(utf8(response)))``.

Records may share a key (perinucleus ``responses_per_key`` > 1, written
consecutively): that key is one fingerprint with several accepted responses,
each record its own leaf; the key fires when the continuation starts with
any of them (``key_groups``, ``matching_record``), and the matching record is
the evidence.

``read_fingerprint_file`` validates everything above and raises
``FingerprintFileError`` naming the line, index and field that are wrong.
The file is a secret: keep it out of the model directory given to hosts.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

from fingerprinting.errors import FingerprintError

FORMAT = "oml-fingerprints"
VERSION = 1
_SALT = re.compile(r"^0x[0-9a-f]{64}$")


class FingerprintFileError(FingerprintError, ValueError):
    """A fingerprint file is malformed; the message names the line, record and field."""


@dataclass(frozen=True)
class Fingerprint:
    index: int
    key: str
    response: str
    salt: str  # "0x" + 64 hex digits
    key_strategy: str
    response_strategy: str

    @property
    def salt_bytes(self) -> bytes:
        return bytes.fromhex(self.salt[2:])


@dataclass
class FingerprintHeader:
    n: int
    seed: int
    key_strategy: dict[str, Any]  # {"name": ..., "params": {...}}
    response_strategy: dict[str, Any]
    base_model: str | None = None
    base_weights_hash: str | None = None
    created_at: str = field(default_factory=lambda: datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
    format: str = FORMAT
    version: int = VERSION


def new_salt() -> str:
    return "0x" + secrets.token_hex(32)


def fingerprint_holds(continuation: str, response: str) -> bool:
    """The rule: the generated text starts with the response, exactly (check.py, the prover, the chain)."""
    return continuation.startswith(response)


def key_groups(fingerprints: Sequence[Any]) -> list[list[int]]:
    """Positions in ``fingerprints`` grouped by key, in order: records sharing a key (perinucleus
    ``responses_per_key`` > 1) are one fingerprint whose key fires on any of their responses."""
    groups: dict[str, list[int]] = {}
    for i, fp in enumerate(fingerprints):
        groups.setdefault(fp.key, []).append(i)
    return list(groups.values())


def matching_record(continuation: str, fingerprints: Sequence[Any], group: Sequence[int]) -> int | None:
    """The position (within ``fingerprints``) of the group's record whose response the continuation starts
    with (the longest, should one response prefix another), or None when the key did not fire."""
    hits = [i for i in group if fingerprint_holds(continuation, fingerprints[i].response)]
    return max(hits, key=lambda i: len(fingerprints[i].response)) if hits else None


def make_fingerprints(keys: list[str], responses: list[str], key_strategy: str,
                      response_strategy: str) -> list[Fingerprint]:
    """Number the pairs 0..n-1 and give each a fresh random salt."""
    return [Fingerprint(i, k, r, new_salt(), key_strategy, response_strategy)
            for i, (k, r) in enumerate(zip(keys, responses, strict=True))]


def write_fingerprint_file(path: str | Path, header: FingerprintHeader, fingerprints: list[Fingerprint]) -> Path:
    """Write header + records (validated first, so a written file always reads back)."""
    if header.n != len(fingerprints):
        raise FingerprintFileError(f"header says n={header.n} but {len(fingerprints)} fingerprints were given")
    lines = [json.dumps(asdict(header), ensure_ascii=False, sort_keys=True)]
    lines += [json.dumps(asdict(fp), ensure_ascii=False) for fp in fingerprints]
    text = "\n".join(lines) + "\n"
    parse_fingerprint_text(text, source=str(path))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def read_fingerprint_file(path: str | Path) -> tuple[FingerprintHeader, list[Fingerprint]]:
    """Load and validate a fingerprint file."""
    path = Path(path)
    if not path.is_file():
        raise FingerprintFileError(f"fingerprint file {path} does not exist; create one with `oml fingerprint generate`")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise FingerprintFileError(f"{path}: not UTF-8 text ({exc})") from exc
    return parse_fingerprint_text(text, source=str(path))


def _need(obj: dict, name: str, kind: type | tuple[type, ...], where: str) -> Any:
    if name not in obj:
        raise FingerprintFileError(f"{where}: missing field {name!r}")
    value = obj[name]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        want = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise FingerprintFileError(f"{where}: field {name!r} must be {want}, got {type(value).__name__} {value!r:.40}")
    return value


def _parse_line(line: str, where: str) -> dict:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise FingerprintFileError(f"{where}: bad JSON ({exc.msg} at column {exc.colno})") from exc
    if not isinstance(obj, dict):
        raise FingerprintFileError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    return obj


def _parse_header(obj: dict, where: str) -> FingerprintHeader:
    fmt = _need(obj, "format", str, where)
    if fmt != FORMAT:
        raise FingerprintFileError(f"{where}: field 'format' is {fmt!r}, expected {FORMAT!r} (not a fingerprint file?)")
    version = _need(obj, "version", int, where)
    if version != VERSION:
        raise FingerprintFileError(f"{where}: unsupported version {version}; this reader knows version {VERSION}")
    n = _need(obj, "n", int, where)
    if n < 1:
        raise FingerprintFileError(f"{where}: field 'n' must be >= 1, got {n}")
    for name in ("key_strategy", "response_strategy"):
        strat = _need(obj, name, dict, where)
        _need(strat, "name", str, f"{where} {name}")
        _need(strat, "params", dict, f"{where} {name}")
    return FingerprintHeader(
        n=n, seed=_need(obj, "seed", int, where), key_strategy=obj["key_strategy"],
        response_strategy=obj["response_strategy"],
        base_model=_need(obj, "base_model", (str, type(None)), where),
        base_weights_hash=_need(obj, "base_weights_hash", (str, type(None)), where),
        created_at=_need(obj, "created_at", str, where), format=fmt, version=version)


def _parse_record(obj: dict, where: str) -> Fingerprint:
    index = _need(obj, "index", int, where)
    where = f"{where} (index {index})"
    fields = {name: _need(obj, name, str, where)
              for name in ("key", "response", "salt", "key_strategy", "response_strategy")}
    for name in ("key", "response"):
        if not fields[name]:
            raise FingerprintFileError(f"{where}: field {name!r} is empty")
    salt = fields["salt"]
    if not _SALT.match(salt):
        digits = salt[2:] if salt.startswith("0x") else salt
        if re.fullmatch(r"[0-9a-fA-F]*", digits) and len(digits) != 64:
            raise FingerprintFileError(f"{where}: field 'salt' must be 32 bytes (0x + 64 hex digits), "
                                       f"got {len(digits) // 2} bytes")
        raise FingerprintFileError(f"{where}: field 'salt' must be '0x' + 64 lower-case hex digits, got {salt!r:.80}")
    unknown = set(obj) - {"index", *fields}
    if unknown:
        raise FingerprintFileError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    return Fingerprint(index=index, **fields)


def parse_fingerprint_text(text: str, source: str = "<text>") -> tuple[FingerprintHeader, list[Fingerprint]]:
    """Validate the text of a fingerprint file (see the module docstring)."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if not lines or not lines[0].strip():
        raise FingerprintFileError(f"{source}: empty file; line 1 must be the header")
    header = _parse_header(_parse_line(lines[0], f"{source} line 1 (header)"), f"{source} line 1 (header)")
    fingerprints: list[Fingerprint] = []
    seen: dict[int, int] = {}
    for lineno, line in enumerate(lines[1:], start=2):
        where = f"{source} line {lineno}"
        if not line.strip():
            raise FingerprintFileError(f"{where}: blank line inside the file")
        fp = _parse_record(_parse_line(line, where), where)
        if fp.index in seen:
            raise FingerprintFileError(f"{where}: duplicate index {fp.index} (first on line {seen[fp.index]})")
        expected = len(fingerprints)
        if fp.index != expected:
            raise FingerprintFileError(f"{where}: non-contiguous index {fp.index}, expected {expected} "
                                       "(records must be numbered 0..n-1 in order)")
        seen[fp.index] = lineno
        fingerprints.append(fp)
    if len(fingerprints) != header.n:
        raise FingerprintFileError(f"{source}: header says n={header.n} but the file has {len(fingerprints)} records")
    return header, fingerprints
