"""The v2 owner and status commands of the `oml` CLI on a real anvil: registration bounds (notice period, prover
share, unbonding delay), scheduled price and stake-term changes with their notice, signer rotation, revenue
recipient, and what `oml status` shows of them (pending changes, settled amounts, open disputes)."""

from __future__ import annotations

import json

import pytest
from chain_world import DELAY, MIN_STAKE, NOTICE, PRICE, PROVER_BPS, SLASH_BPS, save_fingerprints
from click.testing import CliRunner
from web3 import Web3

from oml_chain.chain.eip712 import text_hash
from oml_chain.cli import main

pytestmark = pytest.mark.chain

NEW_SIGNER = "0x" + "ab" * 20


@pytest.fixture()
def cli(world, tmp_path):
    """Run `oml ...` against the world's chain and OML; returns (exit code, output)."""
    from oml_chain.chain.deploy import write_deployment

    deps = tmp_path / "deployments.json"
    write_deployment(deps, world.w3.eth.chain_id, world.address, 0)
    common = ["--rpc-url", world.w3.provider.endpoint_uri, "--deployments", str(deps)]

    def run(*args, key=None):
        group, *rest = args
        cmd = [group, *rest[:1], *common, *rest[1:]] if group == "model" else [group, *common, *rest]
        if key is not None:
            cmd += ["--key", "0x" + key.signer.private_key.hex()]
        res = CliRunner().invoke(main, cmd)
        return res.exit_code, res.output

    return run


def status_json(cli) -> dict:
    code, out = cli("status", "--json")
    assert code == 0, out
    return json.loads(out)


def one_line_error(code: int, out: str, *needles: str) -> None:
    assert code == 1 and "Traceback" not in out and len(out.strip().splitlines()) == 1, out
    for n in needles:
        assert n in out, out


@pytest.mark.parametrize("args, needles", [
    (["--notice-period", "10m"], ["notice period must be between 1h and 30d", "10m (600 s)"]),
    (["--prover-share-bps", "6000"], ["prover share bps must be in 0..5000", "6000"]),
    (["--unbonding-delay", "3600"], ["unbonding delay must be between 1d and 365d", "1h (3600 s)"]),
    (["--notice-period", "soon"], ["--notice-period must be a duration"]),
], ids=["notice-10m", "prover-share-6000", "unbonding-1h", "notice-garbage"])
def test_register_refuses_out_of_range_terms_in_one_line(world, cli, tmp_path, args, needles):
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "model.safetensors").write_bytes(b"weights")
    (model_dir / "config.json").write_text('{"model_type": "llama"}')  # what `oml model register` checks for
    fps = save_fingerprints(tmp_path / "fps.jsonl", world.fingerprints)
    before = world.owner.model_count()
    code, out = cli("model", "register", "--model-dir", str(model_dir), "--fingerprints", str(fps), *args,
                    key=world.owner)
    one_line_error(code, out, "ConfigError", *needles)
    assert world.owner.model_count() == before


def test_register_with_notice_period_and_status(world, cli, tmp_path):
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "model.safetensors").write_bytes(b"weights")
    (model_dir / "config.json").write_text('{"model_type": "llama"}')  # what `oml model register` checks for
    fps = save_fingerprints(tmp_path / "fps.jsonl", world.fingerprints)
    code, out = cli("model", "register", "--model-dir", str(model_dir), "--fingerprints", str(fps),
                    "--notice-period", "2h", "--unbonding-delay", "2d", "--prover-share-bps", "5000",
                    "--out", str(tmp_path / "reg.json"), key=world.owner)
    assert code == 0, out
    mid = int(out.strip().splitlines()[-1])
    m = world.owner.get_model(mid)
    assert (m.notice_period, m.unbonding_delay, m.prover_share_bps) == (7_200, 2 * 86_400, 5_000)
    assert json.loads((tmp_path / "reg.json").read_text())["params"]["notice_period"] == 7_200
    row = next(r for r in status_json(cli)["models"] if r["model_id"] == mid)
    assert (row["notice_period"], row["unbonding_delay"], row["pending_price"]) == (7_200, 2 * 86_400, None)


def test_set_price_is_pending_for_the_notice_period_then_in_force(world, cli):
    w, mid = world, world.model_id
    snap = status_json(cli)
    (m,) = snap["models"]
    assert (m["notice_period"], m["price_per_query"], m["pending_price"]) == (NOTICE, PRICE, None)
    code, out = cli("status")
    assert code == 0 and "notice" in out and "Scheduled changes" in out, out

    code, out = cli("model", "set-price", "--model-id", str(mid), "--price", "2000gwei", key=w.owner)
    assert code == 0, out
    effective = w.now() + NOTICE
    assert "price 1000 gwei -> 2000 gwei per query" in out and "takes effect at" in out and "1h notice" in out
    from oml_chain.chain.registration import format_time
    assert format_time(effective) in out

    (m,) = status_json(cli)["models"]
    assert m["price_per_query"] == PRICE  # not yet
    assert m["pending_price"] == {"price": 2_000 * 10**9, "effective_at": effective}
    code, out = cli("status")
    assert code == 0, out
    assert f"model {mid}: price 0.000001 -> 0.000002 ETH/query at {format_time(effective)} (in 1h)" in out

    w.mine(seconds=NOTICE - 120)
    (m,) = status_json(cli)["models"]
    assert m["price_per_query"] == PRICE and m["pending_price"]["effective_at"] == effective
    w.mine(seconds=121)
    (m,) = status_json(cli)["models"]
    assert m["price_per_query"] == 2_000 * 10**9 and m["pending_price"] is None
    assert w.owner.price_at(mid, effective - 1) == PRICE and w.owner.price_at(mid, effective) == 2_000 * 10**9
    code, out = cli("status")
    assert "ETH/query at" not in out


def test_set_terms_keeps_unspecified_values_and_status_shows_them(world, cli):
    w, mid = world, world.model_id
    code, out = cli("model", "set-terms", "--model-id", str(mid), "--slash-bps", "2500", key=w.owner)
    assert code == 0, out
    effective = w.now() + NOTICE
    assert "slash 2500 bps" in out and "takes effect at" in out
    (m,) = status_json(cli)["models"]
    assert m["pending_stake_terms"]["min_host_stake"] == str(MIN_STAKE)  # JSON: integers above 2**53 as strings
    assert {k: int(v) for k, v in m["pending_stake_terms"].items()} == {"min_host_stake": MIN_STAKE, "slash_bps": 2_500,
                                        "prover_share_bps": PROVER_BPS, "unbonding_delay": DELAY,
                                        "effective_at": effective}
    assert m["slash_bps"] == SLASH_BPS
    # a second change builds on the announced one
    code, out = cli("model", "set-terms", "--model-id", str(mid), "--min-stake", "2eth", key=w.owner)
    assert code == 0, out
    pending = w.owner.pending_stake_terms(mid).value
    assert (pending.min_host_stake, pending.slash_bps) == (2 * MIN_STAKE, 2_500)
    code, out = cli("status")
    assert f"model {mid}: stake terms -> min stake 2.000000 ETH, slash 25%, prover share 20%, unbonding 1d" in out

    code, out = cli("model", "set-terms", "--model-id", str(mid), "--prover-share-bps", "6000", key=w.owner)
    one_line_error(code, out, "prover share bps must be in 0..5000")
    code, out = cli("model", "set-terms", "--model-id", str(mid), key=w.owner)
    one_line_error(code, out, "give at least one of")
    code, out = cli("model", "set-price", "--model-id", str(mid), "--price", "1gwei", key=w.host)
    one_line_error(code, out, "ModelNotOwner")


def test_set_signer_warns_and_status_lists_the_retired_signer(world, cli):
    w, mid = world, world.model_id
    old = w.signer.account
    code, out = cli("model", "set-signer", "--model-id", str(mid), "--signer", NEW_SIGNER, key=w.owner)
    assert code == 0, out
    retired_at = w.now()
    assert f"warning: {old} is retired" in out and "1h notice period" in out and "record receipts" in out
    assert w.owner.get_model(mid).permission_signer.lower() == NEW_SIGNER
    assert w.owner.permission_signer_retired_at(mid, old) == retired_at
    (m,) = status_json(cli)["models"]
    assert m["retired_signers"] == [{"signer": old, "retired_at": retired_at, "grace_ends": retired_at + NOTICE}]
    code, out = cli("status")
    assert "Retired permission signers" in out and old in out
    # a retired signer can never come back
    code, out = cli("model", "set-signer", "--model-id", str(mid), "--signer", old, key=w.owner)
    one_line_error(code, out, "ModelPermissionSignerReused")


def test_set_recipient(world, cli):
    w, mid = world, world.model_id
    code, out = cli("model", "set-recipient", "--model-id", str(mid), "--recipient", w.host2.account, key=w.owner)
    assert code == 0, out
    assert f"{w.recipient.account} -> {w.host2.account}" in out
    assert w.owner.get_model(mid).revenue_recipient == w.host2.account
    code, out = cli("model", "set-recipient", "--model-id", str(mid), "--recipient", "0x" + "00" * 20, key=w.owner)
    one_line_error(code, out, "non-zero")


def test_status_shows_settled_amount_and_open_disputes(staked, cli):
    w, mid = staked, staked.model_id
    sig = w.host.sign_voucher(mid, 3, 3 * PRICE)
    w.signer.settle(mid, w.host.account, 3, 3 * PRICE, sig)
    # a retired signer's permission makes the reveal open a dispute
    w.owner.set_permission_signer(mid, Web3.to_checksum_address(NEW_SIGNER))
    fp = w.fingerprints[2]
    perm = w.signer.sign_permission(mid, w.host.account, text_hash(fp.key), 5)
    w.prover.prove(w.evidence(index=2, seq=5, permission=perm), timeout=30)

    snap = status_json(cli)
    (h,) = snap["hosts"]
    assert (h["settled_queries"], h["settled_amount"], h["open_disputes"]) == (3, 3 * PRICE, 1)
    (d,) = snap["disputes"]
    assert (d["host"], d["index"], d["prover"], d["state"]) == (w.host.account, 2, w.prover.account, "open")
    assert d["signer"] == w.signer.account and d["deadline"] == w.now() + w.prover.dispute_window()
    (m,) = snap["models"]
    assert m["fingerprints_burned"] == 1
    code, out = cli("status")
    assert code == 0 and "open disputes" in out and "settled ETH" in out and "Disputes" in out, out
    w.mine(seconds=w.prover.dispute_window() + 1)
    assert status_json(cli)["disputes"][0]["state"] == "finalizable"


def test_durations_parse_and_print():
    from oml_chain.chain.errors import ConfigError
    from oml_chain.chain.registration import format_duration, format_time, parse_duration

    assert [parse_duration(v, "x") for v in ("3600", "90m", "1h", "2d", "1d12h", "1w")] == \
        [3_600, 5_400, 3_600, 172_800, 129_600, 604_800]
    with pytest.raises(ConfigError, match="--notice-period must be a duration"):
        parse_duration("1 fortnight", "--notice-period")
    assert [format_duration(s) for s in (0, 59, 3_600, 7_530, 90_061)] == ["0s", "59s", "1h", "2h 5m", "1d 1h"]
    assert format_time(1_700_000_000) == "2023-11-14 22:13:20 UTC"
    assert format_time(1_700_000_000, 1_700_000_000 - 7_530) == "2023-11-14 22:13:20 UTC (in 2h 5m)"
    assert format_time(1_700_000_000, 1_700_000_060) == "2023-11-14 22:13:20 UTC (1m ago)"


@pytest.mark.parametrize("cmd", [["model", "set-price"], ["model", "set-terms"], ["model", "set-signer"],
                                 ["model", "set-recipient"]], ids=" ".join)
def test_help_of_the_owner_commands(cmd):
    res = CliRunner().invoke(main, [*cmd, "--help"])
    assert res.exit_code == 0 and "Usage: " in res.output and "--model-id" in res.output, res.output
