"""`oml dao ...` on a real anvil: create a community model from a model directory with three holders, the full
governance lifecycle through the CLI (propose set-price, two votes, time travel past the voting period and the
timelock delay, queue, execute; the price is scheduled on OML and in force after the notice period), pull and
claim, convert a single-owner model, `oml dao status` and `oml status`, and every error in one line (exit 1)
with the contract's custom error name; click's usage errors exit 2."""

from __future__ import annotations

import json
import re

import pytest
from chain_world import DELAY, NOTICE, PRICE, save_fingerprints
from click.testing import CliRunner
from dao_world import SHARE, VOTING_PERIOD, earn_fees, slash

from oml_chain.cli import main

pytestmark = pytest.mark.chain


@pytest.fixture()
def env(world, factory_address, dev_keys, tmp_path):
    """(run, world, holders): `run("dao", "create", ..., key=k)` → (exit code, output) against the world's chain,
    OML and the session's CommunityFactory; holders are dev keys 0, 7, 8."""
    from oml_chain.chain.deploy import write_deployment

    deps = tmp_path / "deployments.json"
    write_deployment(deps, world.w3.eth.chain_id, world.address, 0, extra={"CommunityFactory": factory_address})
    common = ["--rpc-url", world.w3.provider.endpoint_uri, "--deployments", str(deps)]

    def run(*args, key=None):
        group, *rest = args
        cmd = [group, *rest[:1], *common, *rest[1:]] if group in ("dao", "model") else [group, *common, *rest]
        if key is not None:
            cmd += ["--key", key]
        res = CliRunner().invoke(main, cmd)
        return res.exit_code, res.output

    return run, world, [dev_keys[i] for i in (0, 7, 8)]


def _address(key: str) -> str:
    from eth_account import Account

    return Account.from_key(key).address


def one_line_error(code: int, out: str, *needles: str) -> None:
    """Exit 1 and one line of error (progress lines `[  0.0s] ...` on stderr before it aside)."""
    lines = [line for line in out.strip().splitlines() if not re.match(r"\[\s*\d+\.\ds\] ", line)]
    assert code == 1 and "Traceback" not in out and len(lines) == 1, out
    for n in needles:
        assert n in out, out


def model_files(world, tmp_path):
    model_dir = tmp_path / "tiny-model"
    model_dir.mkdir(exist_ok=True)
    (model_dir / "model.safetensors").write_bytes(b"weights")
    (model_dir / "config.json").write_text('{"model_type": "llama"}')
    return model_dir, save_fingerprints(tmp_path / "fps.jsonl", world.fingerprints)


def create(run, world, tmp_path, keys, *extra, shares=(50, 30, 20)):
    model_dir, fps = model_files(world, tmp_path)
    holders = [x for k, s in zip(keys, shares) for x in ("--holder", f"{_address(k)}={s}")]
    return run("dao", "create", "--model-dir", str(model_dir), "--fingerprints", str(fps), "--signer",
               world.signer.account, "--voting-delay", "1s", "--voting-period", "60s", *holders, *extra, key=keys[0])


@pytest.fixture()
def created(env, tmp_path):
    run, w, keys = env
    code, out = create(run, w, tmp_path, keys)
    assert code == 0, out
    mid = int(out.strip().splitlines()[-1])
    for k in keys[1:]:  # the other holders delegate themselves
        code, out2 = run("dao", "delegate", "--model-id", str(mid), key=k)
        assert code == 0 and "delegated to" in out2, out2
    return run, w, keys, mid, out


def test_create_registers_a_community_model(created, tmp_path):
    run, w, keys, mid, out = created
    m = w.owner.get_model(mid)
    assert f"model {mid} is owned by its community" in out and "timelock" in out and "vault" in out
    assert f"holder {_address(keys[1])}: 30 shares (30%)" in out
    assert "timelock delay 1d" in out  # default: the model's unbonding delay
    assert f"delegated the votes of {_address(keys[0])} to itself" in out
    assert m.owner in out and m.revenue_recipient in out and m.permission_signer == w.signer.account
    reg = json.loads((tmp_path / f"registration-{w.w3.eth.chain_id}-{mid}.json").read_text())
    assert reg["owner"] == m.owner and reg["params"]["revenue_recipient"] == m.revenue_recipient

    code, out = run("dao", "status", "--model-id", str(mid))
    assert code == 0, out
    assert f"Community of model {mid}" in out and "Shareholders" in out and "Proposals" in out
    assert re.search(rf"{_address(keys[1])}\s+30\s+30%\s+30\s+0 wei", out), out
    code, out = run("dao", "status", "--model-id", str(mid), "--json")
    info = json.loads(out)
    assert [(h["balance"], h["percent"], h["votes"]) for h in info["shareholders"]] == [
        (str(s * SHARE), float(s), str(s * SHARE)) for s in (50, 30, 20)]
    assert info["settings"]["timelock_delay"] == DELAY and info["proposals"] == []

    code, out = run("status", "--json")
    row = next(r for r in json.loads(out)["models"] if r["model_id"] == mid)
    assert row["community"]["holders"] == 3 and row["community"]["open_proposals"] == 0
    assert row["community"]["timelock"] == m.owner and row["community"]["vault"] == m.revenue_recipient
    other = next(r for r in json.loads(out)["models"] if r["model_id"] == w.model_id)
    assert other["community"] is None
    code, out = run("status")
    assert code == 0 and "Community-owned models" in out and f"model {mid}: shares" in out and "3 holder(s)" in out


def test_governance_lifecycle_through_the_cli(created):
    run, w, keys, mid, _ = created
    code, out = run("model", "set-price", "--model-id", str(mid), "--price", "2000gwei", key=keys[0])
    one_line_error(code, out, "ModelNotOwner")  # the creator is not the owner: the timelock is

    code, out = run("dao", "propose", "--community", str(mid), "--set-price", "2000gwei", key=keys[2])
    assert code == 0, out
    pid = int(re.search(r"proposal id: (\d+)", out).group(1))
    assert f"set price of model {mid} to 2000 gwei" in out and "voting from" in out
    code, out = run("dao", "vote", "--proposal", str(pid), "--support", "for", key=keys[0])
    one_line_error(code, out, "GovernorUnexpectedProposalState", "Pending")  # voting has not started
    w.mine(2)
    code, out = run("dao", "vote", "--proposal", str(pid), "--support", "for", key=keys[0])
    assert code == 0 and "voted for" in out and "with 50 votes" in out, out
    code, out = run("dao", "vote", "--proposal", str(pid), "--support", "against", "--reason", "too much",
                    "--community", str(mid), key=keys[1])
    assert code == 0 and "for 50, against 30, abstain 0 (Active)" in out, out
    code, out = run("dao", "vote", "--proposal", str(pid), "--support", "for", key=keys[0])
    one_line_error(code, out, "GovernorAlreadyCastVote")
    code, out = run("dao", "queue", "--proposal", str(pid), key=keys[2])
    one_line_error(code, out, "GovernorUnexpectedProposalState", "Active", "Succeeded")

    code, out = run("status", "--json")
    assert next(r for r in json.loads(out)["models"] if r["model_id"] == mid)["community"]["open_proposals"] == 1
    w.mine(VOTING_PERIOD + 1)
    code, out = run("dao", "queue", "--proposal", str(pid), key=keys[2])
    assert code == 0 and f"proposal {pid} queued; executable from" in out, out
    code, out = run("dao", "execute", "--proposal", str(pid), key=keys[2])
    one_line_error(code, out, "TimelockUnexpectedOperationState")
    w.mine(DELAY)
    code, out = run("dao", "execute", "--proposal", str(pid), key=keys[1])  # anyone executes, even a no voter
    assert code == 0 and f"model {mid}: price 1000 gwei -> 2000 gwei per query from" in out, out
    assert w.owner.pending_price(mid).value == 2_000 * 10**9 and w.owner.get_model(mid).price_per_query == PRICE
    code, out = run("dao", "status", "--model-id", str(mid), "--json")
    (p,) = json.loads(out)["proposals"]
    assert (p["state"], p["for"], p["against"], p["abstain"]) == ("Executed", str(50 * SHARE), str(30 * SHARE), "0")
    assert p["description"] == f"set price of model {mid} to 2000 gwei" and p["eta"] > 0
    w.mine(NOTICE)
    assert w.owner.get_model(mid).price_per_query == 2_000 * 10**9
    code, out = run("dao", "status", "--model-id", str(mid))
    assert f"{pid}\n  Executed: for 50, against 30, abstain 0" in out
    assert f"  set price of model {mid} to 2000 gwei" in out


def test_pull_and_claim_through_the_cli(created):
    run, w, keys, mid, _ = created
    code, out = run("dao", "pull", "--model-id", str(mid), key=keys[1])
    one_line_error(code, out, "VaultNothingToPull")
    revenue = earn_fees(w, mid, 1_234) + slash(w, mid, 2)
    code, out = run("dao", "pull", "--model-id", str(mid), key=keys[1])
    assert code == 0 and "pulled" in out, out
    code, out = run("dao", "status", "--model-id", str(mid), "--json")
    info = json.loads(out)
    assert [int(h["claimable"]) for h in info["shareholders"]] == [revenue * s // 100 for s in (50, 30, 20)]
    assert info["vault"]["total_pulled"] == str(revenue) and info["vault"]["pending"] == "0"
    code, out = run("dao", "claim", "--model-id", str(mid), key=keys[2])
    assert code == 0 and f"({revenue * 20 // 100} wei)" in out, out
    code, out = run("dao", "claim", "--model-id", str(mid), key=keys[2])
    one_line_error(code, out, "NothingToWithdraw")
    code, out = run("dao", "status", "--model-id", str(mid))
    assert "Vault: pulled" in out and "claimed" in out


def test_convert_a_single_owner_model_through_the_cli(env):
    run, w, keys = env
    mid = w.model_id  # owned by dev key 0
    code, out = run("dao", "convert", "--model-id", str(mid), "--holder", f"{_address(keys[1])}=1",
                    "--voting-delay", "1s", "--voting-period", "60s", key=keys[1])
    one_line_error(code, out, "not by", "only its owner may convert it")
    code, out = run("model", "set-terms", "--model-id", str(mid), "--unbonding-delay", "2d", key=keys[0])
    assert code == 0, out  # announced, not in force: the default timelock delay counts it
    code, out = run("dao", "convert", "--model-id", str(mid), "--holder", f"{_address(keys[0])}=70",
                    "--holder", f"{_address(keys[1])}=30", "--voting-delay", "1s", "--voting-period", "60s",
                    "--name", "Old model DAO", "--symbol", "OLD", key=keys[0])
    assert code == 0, out
    assert int(out.strip().splitlines()[-1]) == mid
    m = w.owner.get_model(mid)
    assert f"timelock {m.owner} (owner)" in out and "timelock delay 2d" in out
    code, out = run("model", "set-price", "--model-id", str(mid), "--price", "1gwei", key=keys[0])
    one_line_error(code, out, "ModelNotOwner")
    code, out = run("dao", "convert", "--model-id", str(mid), "--holder", f"{_address(keys[0])}=1", key=keys[0])
    one_line_error(code, out, "not by")
    code, out = run("dao", "status", "--model-id", str(mid), "--json")
    assert [h["percent"] for h in json.loads(out)["shareholders"]] == [70.0, 30.0]


@pytest.mark.parametrize("extra, needles", [
    (["--holder", "DUP=5"], ["SharesDuplicateContributor"]),
    (["--holder", "ZERO=0"], ["SharesZeroAmount"]),
    (["--quorum-percent", "101"], ["GovernorInvalidQuorumFraction", "101"]),
    (["--timelock-delay", "23h"], ["FactoryDelayBelowUnbonding", "delay=82800", "unbondingDelay=86400"]),
    (["--holder", "0x1234=5"], ["ConfigError", "--holder address must be a 0x-address"]),
    (["--holder", "nonsense"], ["ConfigError", "ADDRESS=AMOUNT"]),
    (["--voting-period", "soon"], ["ConfigError", "--voting-period must be a duration"]),
], ids=["duplicate", "zero-amount", "quorum-101", "delay-below-unbonding", "bad-address", "no-equals",
        "bad-period"])
def test_create_refuses_bad_inputs_in_one_line(env, tmp_path, extra, needles):
    run, w, keys = env
    extra = [e.replace("DUP", _address(keys[0])).replace("ZERO", _address(keys[2])) for e in extra]
    before = w.owner.model_count()
    code, out = create(run, w, tmp_path, keys[:2], *extra, shares=(60, 40))
    one_line_error(code, out, *needles)
    assert w.owner.model_count() == before


def test_dao_usage_and_lookup_errors(created):
    run, w, keys, mid, _ = created
    code, out = run("dao", "vote", "--proposal", "1", "--support", "maybe", key=keys[0])
    assert code == 2 and "Usage:" in out and "'maybe' is not one of" in out, out
    code, out = run("dao", "vote", "--proposal", "12345", "--support", "for", key=keys[0])
    one_line_error(code, out, "no community governor knows proposal 12345")
    code, out = run("dao", "propose", "--community", str(mid), key=keys[0])
    one_line_error(code, out, "give at least one action")
    code, out = run("dao", "propose", "--community", str(w.model_id), "--set-price", "1gwei", key=keys[0])
    one_line_error(code, out, "is not community-owned", "oml dao convert")
    code, out = run("dao", "status", "--model-id", "99")
    one_line_error(code, out, "ModelNotFound")
    res = CliRunner().invoke(main, ["dao", "--help"])
    assert res.exit_code == 0 and all(c in res.output for c in ("create", "convert", "propose", "vote", "queue",
                                                                 "execute", "status", "pull", "claim", "delegate"))


def test_propose_several_actions_and_a_new_version(created, tmp_path):
    run, w, keys, mid, _ = created
    v2 = tmp_path / "v2"
    v2.mkdir()
    model_dir, fps = model_files(w, v2)
    (model_dir / "model.safetensors").write_bytes(b"weights v2")
    code, out = run("dao", "propose", "--community", str(mid), "--slash-bps", "2500", "--set-recipient", "vault",
                    "--deactivate", "--new-version", "--model-dir", str(model_dir), "--fingerprints", str(fps),
                    key=keys[0])
    assert code == 0, out
    pid = int(re.search(r"proposal id: (\d+)", out).group(1))
    assert f"set stake terms of model {mid} to min stake 1 ETH, slash 25%" in out
    assert "(the community vault)" in out and f"deactivate model {mid}" in out
    assert f"register a new version of model {mid}" in out
    w.mine(2)
    for k in keys[:2]:
        assert run("dao", "vote", "--proposal", str(pid), "--support", "for", key=k)[0] == 0
    w.mine(VOTING_PERIOD + 1)
    assert run("dao", "queue", "--proposal", str(pid), key=keys[0])[0] == 0
    w.mine(DELAY)
    code, out = run("dao", "execute", "--proposal", str(pid), key=keys[0])
    assert code == 0, out
    new_id = int(re.search(r"registered model (\d+)", out).group(1))
    assert "StakeTermsChangeScheduled" in out and "ModelActiveSet" in out
    assert not w.owner.get_model(mid).active
    code, out = run("status", "--json")
    row = next(r for r in json.loads(out)["models"] if r["model_id"] == new_id)
    assert row["community"]["model_id"] == mid and row["owner"] == row["community"]["timelock"]
    code, out = run("dao", "status", "--model-id", str(new_id), "--json")
    assert json.loads(out)["community"]["model_id"] == mid
