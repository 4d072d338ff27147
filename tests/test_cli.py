"""The `oml` CLI: --help of every command, a deploy → register → status round trip on anvil, error paths."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from oml_chain.cli import main

pytestmark = pytest.mark.chain

COMMANDS = [
    [], ["chain"], ["chain", "up"], ["chain", "down"], ["deploy"], ["model"], ["model", "register"],
    ["model", "show"], ["host"], ["host", "stake"], ["host", "unstake"], ["host", "withdraw"], ["host", "deposit"],
    ["host", "download"], ["host", "serve"], ["permission"], ["permission", "serve"], ["distribute"],
    ["distribute", "serve"], ["prove"], ["prove", "once"], ["prove", "daemon"], ["status"], ["explorer"],
    ["explorer", "serve"], ["explorer", "index"],
]


@pytest.mark.parametrize("cmd", COMMANDS, ids=lambda c: " ".join(c) or "oml")
def test_help_of_every_command(cmd):
    res = CliRunner().invoke(main, [*cmd, "--help"])
    assert res.exit_code == 0, res.output
    assert "Usage: " in res.output and "--help" in res.output


def test_key_is_never_echoed(dev_keys):
    res = CliRunner().invoke(main, ["deploy", "--rpc-url", "http://127.0.0.1:9", "--key", dev_keys[0]])
    assert res.exit_code != 0
    assert dev_keys[0][2:] not in res.output


def test_wrong_rpc_url_is_one_clear_line(free_url):
    res = CliRunner().invoke(main, ["status", "--rpc-url", free_url])
    assert res.exit_code == 1
    assert free_url in res.output and "oml chain up" in res.output
    assert "Traceback" not in res.output and len(res.output.strip().splitlines()) == 1


def test_debug_shows_the_exception(free_url):
    res = CliRunner().invoke(main, ["status", "--rpc-url", free_url, "--debug"])
    assert res.exit_code == 1
    assert res.exception is not None and type(res.exception).__name__ == "RPCUnavailable"


def test_chain_up_down(tmp_path, monkeypatch):
    from oml_chain.chain.anvil import free_port, wait_for_rpc

    monkeypatch.chdir(tmp_path)
    port = free_port()
    runner = CliRunner()
    res = runner.invoke(main, ["chain", "up", "--port", str(port)])
    assert res.exit_code == 0, res.output
    state = json.loads((tmp_path / ".oml" / "anvil.json").read_text())
    assert state["url"] == f"http://127.0.0.1:{port}"
    try:
        assert wait_for_rpc(state["url"], 5)
        again = runner.invoke(main, ["chain", "up", "--port", str(port)])
        assert again.exit_code == 1 and "already running" in again.output
    finally:
        res = runner.invoke(main, ["chain", "down"])
    assert res.exit_code == 0, res.output
    assert not (tmp_path / ".oml" / "anvil.json").exists()
    assert not wait_for_rpc(state["url"], 3, raise_=False)


def test_deploy_register_status_round_trip(tmp_path, anvil_node, dev_keys, chain_snapshot, fingerprinted_tiny):
    from oml_chain.chain.commitment import commit_fingerprints
    from fingerprinting.models import weights_hash

    runner = CliRunner()
    deps = tmp_path / "deployments.json"
    common = ["--rpc-url", anvil_node.url, "--deployments", str(deps)]
    res = runner.invoke(main, ["deploy", *common, "--key", dev_keys[0]])
    assert res.exit_code == 0, res.output
    assert deps.is_file() and "OML deployed at" in res.output

    reg_json = tmp_path / "reg.json"
    res = runner.invoke(main, ["model", "register", *common, "--key", dev_keys[0],
                               "--model-dir", str(fingerprinted_tiny.model_dir),
                               "--fingerprints", str(fingerprinted_tiny.fingerprint_file), "--price", "2000gwei",
                               "--min-stake", "0.5eth", "--slash-bps", "2500", "--out", str(reg_json)])
    assert res.exit_code == 0, res.output
    reg = json.loads(reg_json.read_text())
    assert reg["model_id"] == 1 and res.output.strip().splitlines()[-1] == "1"
    fps = commit_fingerprints(fingerprinted_tiny.fingerprint_file)
    assert reg["fingerprint_root"] == "0x" + fps.root.hex() and reg["fingerprint_count"] == 16
    assert reg["weights_hash"] == weights_hash(fingerprinted_tiny.model_dir)

    res = runner.invoke(main, ["host", "stake", *common, "--key", dev_keys[1], "--model-id", "1",
                               "--amount", "0.4eth", "--endpoint", "http://h"])
    assert res.exit_code == 1 and "StakeBelowMinimum" in res.output and "Traceback" not in res.output
    res = runner.invoke(main, ["host", "stake", *common, "--key", dev_keys[1], "--model-id", "1",
                               "--amount", "0.5eth", "--endpoint", "http://host.example"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(main, ["host", "deposit", *common, "--key", dev_keys[1], "--model-id", "1",
                               "--amount", "0.01eth"])
    assert res.exit_code == 0, res.output

    res = runner.invoke(main, ["status", *common, "--json"])
    assert res.exit_code == 0, res.output
    snap = json.loads(res.output)
    (m,) = snap["models"]
    assert (m["model_id"], m["price_per_query"], m["slash_bps"], m["fingerprint_count"]) == (1, 2 * 10**12, 2500, 16)
    (h,) = snap["hosts"]
    assert int(h["stake"]) == 5 * 10**17 and int(h["escrow"]) == 10**16 and h["endpoint"] == "http://host.example"
    res = runner.invoke(main, ["status", *common])
    assert res.exit_code == 0 and "Models" in res.output and "0.500000" in res.output


def test_register_rejects_a_bad_fingerprint_file(tmp_path, anvil_node, dev_keys, oml_address, fingerprinted_tiny):
    deps = tmp_path / "deployments.json"
    from oml_chain.chain.deploy import write_deployment
    write_deployment(deps, 31337, oml_address, 0)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"format": "nope"}\n')
    res = CliRunner().invoke(main, ["model", "register", "--rpc-url", anvil_node.url, "--deployments", str(deps),
                                    "--key", dev_keys[0], "--model-dir", str(fingerprinted_tiny.model_dir),
                                    "--fingerprints", str(bad)])
    assert res.exit_code == 1
    assert "FingerprintFileError" in res.output and "line 1" in res.output


def test_register_refuses_a_directory_without_a_model(tmp_path, anvil_node, w3, dev_keys, oml_address,
                                                      chain_snapshot, fingerprinted_tiny):
    """A directory hosts could not load (no config.json or no weights at its top, e.g. the directory above the
    model) is refused before anything reaches the chain."""
    import shutil

    from fingerprinting.errors import ModelLoadError
    from oml_chain.chain.client import OMLContract
    from oml_chain.chain.deploy import write_deployment
    from oml_chain.chain.registration import register_model
    from oml_chain.chain.roles import OwnerClient

    deps = tmp_path / "deployments.json"
    write_deployment(deps, 31337, oml_address, 0)
    empty, weights_only = tmp_path / "empty", tmp_path / "weights-only"
    empty.mkdir()
    weights_only.mkdir()
    shutil.copy(fingerprinted_tiny.model_dir / "model.safetensors", weights_only)
    before = OMLContract(w3, oml_address).model_count()
    fp = str(fingerprinted_tiny.fingerprint_file)
    for d in (empty, weights_only, fingerprinted_tiny.model_dir.parent):
        res = CliRunner().invoke(main, ["model", "register", "--rpc-url", anvil_node.url, "--deployments", str(deps),
                                        "--key", dev_keys[0], "--model-dir", str(d), "--fingerprints", fp])
        assert res.exit_code == 1 and "is not a model directory" in res.output, res.output
        with pytest.raises(ModelLoadError, match="not a model directory"):
            register_model(OwnerClient(w3, oml_address, dev_keys[0]), d, fp, out=tmp_path / "reg.json")
    assert "did you mean" in res.output and str(fingerprinted_tiny.model_dir) in res.output
    assert OMLContract(w3, oml_address).model_count() == before  # nothing was registered
