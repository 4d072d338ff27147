"""The fingerprint file: round trip and one rejection per kind of malformation."""

from __future__ import annotations

import json

import pytest

from fingerprinting.errors import FingerprintError
from fingerprinting.fpfile import (FingerprintFileError, FingerprintHeader, make_fingerprints, parse_fingerprint_text,
                                   read_fingerprint_file, write_fingerprint_file)

pytestmark = pytest.mark.ml

KEYS = ["The river ran", "Ünïcödé key — with dashes", 'quotes " and {braces}']
RESPONSES = [" water", " naïve", "\tTab"]


def _header(n: int = 3) -> FingerprintHeader:
    return FingerprintHeader(n=n, seed=7, key_strategy={"name": "english", "params": {"key_length": 16}},
                             response_strategy={"name": "perinucleus", "params": {"threshold": 0.8, "width": 3}},
                             base_model="/models/tiny", base_weights_hash="0x" + "ab" * 32)


def _good_lines() -> list[dict]:
    fps = make_fingerprints(KEYS, RESPONSES, "english", "perinucleus")
    header = {k: v for k, v in vars(_header()).items()}
    return [header] + [dict(vars(fp)) for fp in fps]


def _text(lines: list) -> str:
    return "\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n"


def test_round_trip_keeps_exact_strings(tmp_path):
    fps = make_fingerprints(KEYS, RESPONSES, "english", "perinucleus")
    path = write_fingerprint_file(tmp_path / "fp.jsonl", _header(), fps)
    header, loaded = read_fingerprint_file(path)
    assert loaded == fps
    assert [fp.key for fp in loaded] == KEYS and [fp.response for fp in loaded] == RESPONSES
    assert header.n == 3 and header.seed == 7 and header.version == 1
    assert header.response_strategy["params"]["threshold"] == 0.8
    assert all(len(fp.salt_bytes) == 32 for fp in loaded)
    assert len({fp.salt for fp in loaded}) == 3  # fresh random salts
    first, second = path.read_text(encoding="utf-8").splitlines()[:2]
    assert json.loads(first)["format"] == "oml-fingerprints"
    assert json.loads(second)["index"] == 0


def _mutate(fn):
    lines = _good_lines()
    fn(lines)
    return lines


def _set(i, field, value):
    return lambda lines: lines[i].__setitem__(field, value)


def _drop(i, field):
    return lambda lines: lines[i].pop(field)


BAD_CASES = [
    # (id, mutation of [header, rec0, rec1, rec2], fragments the message must contain)
    ("bad_json", lambda ls: ls.__setitem__(2, '{"index": 1, "key": '), ["line 3", "bad JSON"]),
    ("not_object", lambda ls: ls.__setitem__(1, "[1, 2]"), ["line 2", "JSON object"]),
    ("missing_field", _drop(2, "response"), ["line 3", "index 1", "missing field 'response'"]),
    ("wrong_type_index", _set(1, "index", "0"), ["line 2", "'index' must be int"]),
    ("wrong_type_key", _set(3, "key", 42), ["line 4", "index 2", "'key' must be str"]),
    ("bool_index", _set(1, "index", False), ["line 2", "'index' must be int"]),
    ("short_salt", _set(2, "salt", "0x" + "ab" * 31), ["line 3", "index 1", "'salt'", "32 bytes", "got 31"]),
    ("non_hex_salt", _set(2, "salt", "0x" + "zz" * 32), ["line 3", "'salt'", "hex"]),
    ("duplicate_index", _set(3, "index", 1), ["line 4", "duplicate index 1", "line 3"]),
    ("non_contiguous", _set(3, "index", 5), ["line 4", "non-contiguous index 5", "expected 2"]),
    ("wrong_version", _set(0, "version", 2), ["line 1", "unsupported version 2"]),
    ("wrong_format", _set(0, "format", "something-else"), ["line 1", "'format'"]),
    ("empty_key", _set(1, "key", ""), ["line 2", "index 0", "'key' is empty"]),
    ("empty_response", _set(2, "response", ""), ["line 3", "index 1", "'response' is empty"]),
    ("count_mismatch", _set(0, "n", 4), ["header says n=4", "3 records"]),
    ("unknown_field", _set(1, "extra", 1), ["line 2", "unknown field", "extra"]),
    ("header_missing_seed", _drop(0, "seed"), ["line 1", "missing field 'seed'"]),
    ("blank_line", lambda ls: ls.insert(2, " "), ["line 3", "blank line"]),
]


@pytest.mark.parametrize("case,mutate,fragments", BAD_CASES, ids=[c[0] for c in BAD_CASES])
def test_malformed_file_is_rejected_with_its_reason(tmp_path, case, mutate, fragments):
    path = tmp_path / "bad.jsonl"
    path.write_text(_text(_mutate(mutate)), encoding="utf-8")
    with pytest.raises(FingerprintFileError) as err:
        read_fingerprint_file(path)
    for fragment in fragments:
        assert fragment in str(err.value), (case, str(err.value))
    assert isinstance(err.value, FingerprintError) and isinstance(err.value, ValueError)


def test_unmodified_good_lines_parse():
    header, fps = parse_fingerprint_text(_text(_good_lines()))
    assert header.n == len(fps) == 3


def test_empty_and_missing_files_are_rejected(tmp_path):
    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(FingerprintFileError, match="empty file"):
        read_fingerprint_file(tmp_path / "empty.jsonl")
    with pytest.raises(FingerprintFileError, match="does not exist"):
        read_fingerprint_file(tmp_path / "nope.jsonl")


def test_writer_refuses_header_count_mismatch(tmp_path):
    fps = make_fingerprints(KEYS, RESPONSES, "english", "perinucleus")
    with pytest.raises(FingerprintFileError, match="n=5"):
        write_fingerprint_file(tmp_path / "fp.jsonl", _header(5), fps)
    assert not (tmp_path / "fp.jsonl").exists()
