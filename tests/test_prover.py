"""The prover against a real anvil, the real permission service and real host servers (honest and rogue)."""

from __future__ import annotations

import threading
import time

import pytest

pytestmark = pytest.mark.services

ETH = 10**18
STAKE = 2 * ETH
SLASH_BPS, PROVER_BPS = 5_000, 2_000


class Crash(BaseException):
    """Stands for the process dying (not caught by `except Exception`)."""


@pytest.fixture(scope="module")
def pworld(tmp_path_factory, w3, anvil_node, dev_keys, oml_artifacts, fingerprinted_tiny):
    from oml_chain.chain.anvil import free_port
    from oml_chain.chain.deploy import deploy_contract, write_deployment
    from oml_chain.demo.procs import ProcessGroup, ServiceProcess
    from oml_chain.chain.registration import RegistrationOptions, register_model
    from oml_chain.chain.roles import HostClient, OwnerClient

    out = tmp_path_factory.mktemp("prover")
    oml, block = deploy_contract(w3, dev_keys[8], oml_artifacts["OML"])
    deps = out / "deployments.json"
    write_deployment(deps, w3.eth.chain_id, oml, block)
    owner = OwnerClient(w3, oml, dev_keys[0])
    signer_key = dev_keys[1]
    from oml_chain.chain.eip712 import Signer
    reg = register_model(owner, fingerprinted_tiny.model_dir, fingerprinted_tiny.fingerprint_file,
                         RegistrationOptions(price_per_query=10**12, permission_signer=Signer(signer_key).address,
                                             min_host_stake=ETH, slash_bps=SLASH_BPS, prover_share_bps=PROVER_BPS),
                         out=out / "reg.json")
    chain = ["--rpc-url", anvil_node.url, "--deployments", str(deps)]
    procs = ProcessGroup()
    try:
        perm_port = free_port()
        perm = procs.start(ServiceProcess("permission", ["permission", "serve", *chain, "--db", str(out / "perm.db"),
                                                         "--port", str(perm_port), "--settle-interval", "0"],
                                          out / "perm.log", env={"OML_PRIVATE_KEY": signer_key}))
        hosts = {}
        for label, key in (("honest", dev_keys[2]), ("rogue", dev_keys[3])):
            port = free_port()
            hc = HostClient(w3, oml, key, attestation_key="0x" + bytes([7 + len(label)] * 32).hex())
            hc.stake(reg.model_id, STAKE, f"http://127.0.0.1:{port}")
            hc.deposit_escrow(reg.model_id, ETH // 100)
            args = ["host", "serve", *chain, "--model-id", str(reg.model_id), "--model-dir",
                    str(fingerprinted_tiny.model_dir), "--port", str(port), "--state-db", str(out / f"{label}.db")]
            args += ["--no-permission"] if label == "rogue" else ["--permission-url", f"http://127.0.0.1:{perm_port}"]
            env = {"OML_PRIVATE_KEY": key, "OML_ATTESTATION_KEY": "0x" + hc.attestation_signer.private_key.hex()}
            hosts[label] = (hc, procs.start(ServiceProcess(label, args, out / f"{label}.log", env=env)), port)
        perm.wait_http(f"http://127.0.0.1:{perm_port}/healthz", 120)
        for hc, svc, port in hosts.values():
            svc.wait_http(f"http://127.0.0.1:{port}/v1/models", 180)
        yield dict(w3=w3, oml=oml, model_id=reg.model_id, owner=owner, honest=hosts["honest"][0],
                   rogue=hosts["rogue"][0], out=out, fp_file=fingerprinted_tiny.fingerprint_file, url=anvil_node.url,
                   keys=dev_keys)
    finally:
        procs.close()


def make_config(pw, db_name, key_index=4, rpc_url=None, **kw):
    from oml_chain.services.prover import ProverConfig

    return ProverConfig(rpc_url=rpc_url or pw["url"], oml_address=pw["oml"], prover_key=pw["keys"][key_index],
                        fingerprint_files=[str(pw["fp_file"])], db_path=str(pw["out"] / db_name),
                        model_ids=[pw["model_id"]], **kw)


def test_streamed_probe_reads_the_same_attested_answer(pworld):
    """A streamed probe of the honest host rebuilds the same text and attestation shape as an ordinary one."""
    import httpx

    from oml_chain.services.prover.probe import send_probe

    honest = pworld["honest"]
    endpoint = honest.get_stake(pworld["model_id"], honest.account).endpoint
    with httpx.Client(timeout=60) as http:
        name = f"oml-{pworld['model_id']}"
        plain = send_probe(http, endpoint, name, "The king said to the people", 8)
        streamed = send_probe(http, endpoint, name, "The king said to the people", 8, stream=True)
    assert streamed["choices"][0]["text"] == plain["choices"][0]["text"] != ""
    assert streamed["oml"]["query_hash"] == plain["oml"]["query_hash"]
    assert streamed["oml"]["response_hash"] == plain["oml"]["response_hash"]
    assert streamed["oml"]["seq"] == plain["oml"]["seq"] + 1 and streamed["oml"]["permission"]


def test_slashes_the_rogue_never_the_honest_host(pworld):
    from oml_chain.chain.errors import ContractStateError
    from oml_chain.chain.roles import ProverClient
    from oml_chain.services.prover import Prover
    from oml_chain.services.prover.store import ProverStore

    mid, honest, rogue = pworld["model_id"], pworld["honest"], pworld["rogue"]
    rogue_before = rogue.get_stake(mid, rogue.account).amount
    prover = Prover(make_config(pworld, "p1.db", keys_per_round=2))
    try:
        report = prover.run_round()
    finally:
        prover.close()
    by_host = {}
    for r in report.results:
        by_host.setdefault(r.host, []).append(r)
    assert {r.outcome for r in by_host[honest.account]} == {"permitted"}, by_host[honest.account]
    assert honest.get_stake(mid, honest.account).amount == STAKE
    (slash,) = report.slashes
    assert slash.host == rogue.account and by_host[rogue.account][-1].outcome == "slashed"
    expected = rogue_before * SLASH_BPS // 10_000
    assert slash.slashed == expected and rogue.get_stake(mid, rogue.account).amount == rogue_before - expected
    assert slash.reward == expected * PROVER_BPS // 10_000
    assert prover.client.reward_of(prover.address) == slash.reward
    assert prover.client.is_burned(mid, rogue.account, slash.fp_index)
    assert not prover.client.is_burned(mid, honest.account, slash.fp_index)  # burns are per host
    # every key sent was fresh, and the record survives in SQLite
    sent = [r.fp_index for r in report.results]
    assert len(sent) == len(set(sent))
    store = ProverStore(pworld["out"] / "p1.db")
    assert [s.fp_index for s in store.slashes()] == [slash.fp_index] and not store.open_pending()
    assert {p["fp_index"] for p in store.probes()} == set(sent)
    store.close()
    # the same fingerprint cannot be proven twice
    pc = ProverClient(pworld["w3"], pworld["oml"], pworld["keys"][4])
    tx = pworld["w3"].eth.get_transaction(slash.tx_hash)
    _, args = pc.contract.decode_function_input(tx["input"])
    from oml_chain.chain.types import SlashEvidence
    evidence = SlashEvidence.from_abi(args["evidence"])
    with pytest.raises(ContractStateError) as exc:
        pc.prove(evidence, timeout=30)
    assert exc.value.error == "SlashFingerprintBurned"


def test_resumes_a_pending_reveal_after_a_crash(pworld, monkeypatch):
    from oml_chain.chain.roles import ProverClient
    from oml_chain.services.prover import Prover

    mid, rogue = pworld["model_id"], pworld["rogue"]
    before = rogue.get_stake(mid, rogue.account).amount
    monkeypatch.setattr(ProverClient, "reveal", lambda *a, **k: (_ for _ in ()).throw(Crash()))
    crashed = Prover(make_config(pworld, "p2.db", key_index=5))
    target = next(t for t in crashed.targets() if t.host == rogue.account)
    with pytest.raises(Crash):
        crashed.probe(target)
    (pending,) = crashed.store.open_pending()
    assert pending.state == "committed" and pending.host == rogue.account
    assert crashed.client.get_commitment(crashed.address, pending.commitment).block_number == pending.commit_block > 0
    assert rogue.get_stake(mid, rogue.account).amount == before
    crashed.close()
    monkeypatch.undo()

    restarted = Prover(make_config(pworld, "p2.db", key_index=5))
    try:
        (done,) = restarted.resume_pending()
        assert done.fp_index == pending.fp_index and restarted.client.is_burned(mid, rogue.account, pending.fp_index)
        assert restarted.client.get_commitment(restarted.address, pending.commitment).block_number == 0  # deleted
        assert rogue.get_stake(mid, rogue.account).amount == before - before * SLASH_BPS // 10_000
        assert not restarted.store.open_pending() and len(restarted.store.slashes()) == 1
        assert restarted.resume_pending() == []
    finally:
        restarted.close()


def test_daemon_survives_a_stopped_rpc_and_an_unreachable_host(pworld, caplog):
    from netproxy import TcpProxy

    from oml_chain.chain.anvil import free_port
    from oml_chain.chain.roles import HostClient
    from oml_chain.services.prover import ProverDaemon

    mid, rogue = pworld["model_id"], pworld["rogue"]
    ghost = HostClient(pworld["w3"], pworld["oml"], pworld["keys"][6])
    ghost.stake(mid, STAKE, f"http://127.0.0.1:{free_port()}")  # nothing listens there
    proxy = TcpProxy(int(pworld["url"].rsplit(":", 1)[1]))
    proxy.start()
    proxy.stop()  # the chain is unreachable when the daemon starts
    before = rogue.get_stake(mid, rogue.account).amount
    stop = threading.Event()
    daemon = ProverDaemon(make_config(pworld, "p3.db", key_index=7, rpc_url=proxy.url, interval=0.3,
                                      backoff_initial=0.2, backoff_max=1.0), stop)
    caplog.set_level("INFO", logger="oml.prover")
    th = threading.Thread(target=daemon.run, kwargs={"max_rounds": 200}, daemon=True)
    th.start()
    try:
        deadline = time.monotonic() + 20
        while daemon.stats.rpc_failures < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert daemon.stats.rpc_failures >= 2 and th.is_alive()
        proxy.start()  # the chain comes back on the same URL
        deadline = time.monotonic() + 90
        while (daemon.stats.slashes < 1 or daemon.stats.host_failures < 1) and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        stop.set()
        th.join(30)
        proxy.stop()
        daemon.prover.close()
    assert not th.is_alive()
    assert daemon.stats.slashes >= 1 and daemon.stats.host_failures >= 1
    assert rogue.get_stake(mid, rogue.account).amount < before
    assert any("chain unavailable" in r.message for r in caplog.records)
    assert any("unreachable" in r.message and ghost.account in r.message for r in caplog.records)


def test_prove_once_and_status_through_the_cli(pworld):
    """`oml prove once --stream`: the streamed probe's deltas and final `oml` chunk slash the rogue just the same."""
    import json

    from click.testing import CliRunner

    from oml_chain.cli import main

    mid, rogue = pworld["model_id"], pworld["rogue"]
    before = rogue.get_stake(mid, rogue.account).amount
    common = ["--rpc-url", pworld["url"], "--deployments", str(pworld["out"] / "deployments.json")]
    res = CliRunner().invoke(main, ["prove", "once", *common, "--key", pworld["keys"][8], "--fingerprints",
                                    str(pworld["fp_file"]), "--db", str(pworld["out"] / "cli.db"), "--host",
                                    rogue.account, "--model-id", str(mid), "--json", str(pworld["out"] / "once.json"),
                                    "--stream"])
    assert res.exit_code == 0, res.output
    assert f"host {rogue.account}" in res.output and ": slashed" in res.output
    assert rogue.get_stake(mid, rogue.account).amount == before - before * SLASH_BPS // 10_000
    (result,) = json.loads((pworld["out"] / "once.json").read_text())["results"]
    assert result["outcome"] == "slashed" and result["slash"]["slashed"] == before * SLASH_BPS // 10_000
    res = CliRunner().invoke(main, ["status", *common, "--json"])
    snap = json.loads(res.output)
    assert len(snap["slashes"]) >= 2 and all(s["host"] == rogue.account for s in snap["slashes"])
    (model,) = snap["models"]
    assert model["fingerprints_burned"] == len(snap["slashes"])
    assert snap["disputes"] == [] and all(h["open_disputes"] == 0 for h in snap["hosts"])


def test_daemon_process_stops_cleanly_on_sigterm(pworld):
    import signal
    import sqlite3

    from oml_chain.demo.procs import ServiceProcess

    db = pworld["out"] / "daemon-proc.db"
    svc = ServiceProcess("prover daemon", ["prove", "daemon", "--rpc-url", pworld["url"], "--deployments",
                                           str(pworld["out"] / "deployments.json"), "--fingerprints",
                                           str(pworld["fp_file"]), "--db", str(db), "--interval", "0.5"],
                         pworld["out"] / "daemon-proc.log", env={"OML_PRIVATE_KEY": pworld["keys"][9]}).start()
    try:
        deadline = time.monotonic() + 60
        probes = 0
        while probes == 0 and time.monotonic() < deadline and svc.process.poll() is None:
            time.sleep(0.3)
            if db.exists():
                with sqlite3.connect(db) as con:
                    probes = con.execute("SELECT count(*) FROM probes").fetchone()[0]
        assert probes > 0, svc.log_tail()
        svc.process.send_signal(signal.SIGTERM)
        assert svc.process.wait(30) == 0
    finally:
        svc.stop()
    log = (pworld["out"] / "daemon-proc.log").read_text()
    assert "received SIGTERM, stopping" in log and "round(s)" in log and "Traceback" not in log
