"""`oml fingerprint generate | embed | check | attack | audit` through click, on the tiny model."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from fingerprinting.cli import fingerprint

pytestmark = pytest.mark.ml




@pytest.mark.parametrize("command", ["generate", "embed", "check", "attack", "audit"])
def test_every_option_has_help(command):
    import click

    res = CliRunner().invoke(fingerprint, [command, "--help"])
    assert res.exit_code == 0 and "Usage:" in res.output
    cmd = fingerprint.commands[command]
    assert cmd.help
    for param in cmd.params:
        assert isinstance(param, click.Option) and param.help, f"{command} {param.name} has no help"
        assert param.opts[-1] in res.output


def test_generate_embed_check_attack_audit_round(tmp_path, tiny_base_dir, tiny_other_seed_dir, device):
    run = CliRunner().invoke
    fp = tmp_path / "fp.jsonl"
    res = run(fingerprint, ["generate", "--model", str(tiny_base_dir), "-n", "4", "--key-strategy", "random_words",
                            "--key-param", "num_words=6", "--response-strategy", "english_random",
                            "--seed", "5", "--device", device, "--out", str(fp)])
    assert res.exit_code == 0, res.output
    assert "wrote 4 fingerprints" in res.output and len(fp.read_text().splitlines()) == 5

    res = run(fingerprint, ["embed", "--model", str(tiny_base_dir), "--fingerprints", str(fp), "--out",
                            str(tmp_path / "emb"), "--lr", "3e-3", "--epochs", "20", "--batch-size", "4",
                            "--device", device, "--quiet"])
    assert res.exit_code == 0, res.output
    assert "train accuracy 100.0%" in res.output

    out = tmp_path / "check.json"
    res = run(fingerprint, ["check", "--model", str(tmp_path / "emb" / "model"), "--fingerprints", str(fp),
                            "--templates", "all", "--device", device, "--out", str(out)])
    assert res.exit_code == 0, res.output
    result = json.loads(out.read_text())
    assert result["accuracy"] == 1.0 and result["held"] == [0, 1, 2, 3]
    assert set(result["per_template"]) >= {"bare", "assistant", "support"}

    out = tmp_path / "attack.json"
    res = run(fingerprint, ["attack", "--model", str(tmp_path / "emb" / "model"), "--fingerprints", str(fp),
                            "--steps", "2", "--batch-size", "2", "--max-length", "32", "--device", device,
                            "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert json.loads(out.read_text())["steps"] == 2

    out = tmp_path / "audit.json"
    res = run(fingerprint, ["audit", "--fingerprints", str(fp), "--independent", str(tiny_other_seed_dir),
                            "--device", device, "--out", str(out)])
    assert res.exit_code == 0, res.output
    audit = json.loads(out.read_text())
    assert audit["models"]["base"] == str(tiny_base_dir)
    assert 0.0 <= audit["false_positive_rates"]["independent"] <= 1.0


def test_failures_exit_nonzero_with_a_clear_message(tmp_path, tiny_base_dir):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"format": "oml-fingerprints", "version": 9}\n')
    res = CliRunner().invoke(fingerprint, ["check", "--model", str(tiny_base_dir), "--fingerprints", str(bad)])
    assert res.exit_code == 1 and "unsupported version 9" in res.output
    res = CliRunner().invoke(fingerprint, ["generate", "--model", str(tiny_base_dir), "--key-strategy", "nope",
                                           "--out", str(tmp_path / "x.jsonl")])
    assert res.exit_code == 1 and "unknown key strategy 'nope'" in res.output
    res = CliRunner().invoke(fingerprint, ["generate", "--model", str(tiny_base_dir), "--key-param", "oops"])
    assert res.exit_code == 2 and "NAME=VALUE" in res.output


def test_generate_and_check_keys_with_two_responses(tmp_path, tiny_base_dir, device):
    from fingerprinting.fpfile import read_fingerprint_file

    fp = tmp_path / "pairs.jsonl"
    res = CliRunner().invoke(fingerprint, ["generate", "--model", str(tiny_base_dir), "-n", "3", "--response-param",
                                           "responses_per_key=2", "--device", device, "--out", str(fp)])
    assert res.exit_code == 0, res.output
    assert "wrote 6 fingerprints (3 keys, 2 responses each)" in res.output
    header, fps = read_fingerprint_file(fp)
    assert header.n == 6 and header.response_strategy["params"]["responses_per_key"] == 2
    res = CliRunner().invoke(fingerprint, ["check", "--model", str(tiny_base_dir), "--fingerprints", str(fp),
                                           "--device", device, "--out", str(tmp_path / "check.json")])
    assert res.exit_code == 0, res.output
    assert "0/3 fingerprints hold (0.0%) (keys of 6 records: a key holds on any of its responses)" in res.output
    res = CliRunner().invoke(fingerprint, ["generate", "--model", str(tiny_base_dir), "-n", "3", "--response-param",
                                           "responses_per_key=4", "--out", str(tmp_path / "x.jsonl")])
    assert res.exit_code != 0 and "responses_per_key (4) cannot exceed width (3)" in res.output
