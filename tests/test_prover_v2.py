"""The prover on protocol v2: real anvil, real HTTP host endpoints, the real prover and `oml prove once`.

The hosts here are scripted: a real HTTP server speaking the host protocol (GET /v1/models, POST /v1/completions
with the `oml` block of services/README.md) that answers every fingerprint key with its fingerprint response,
attested by the host's real attestation key and carrying a permission signed by a key the test chooses. That is
exactly what a rogue host holding a retired (leaked) permission key would send, without a model in the loop.
"""

from __future__ import annotations

import itertools
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from chain_world import ETH, MIN_STAKE, PROVER_BPS, SLASH_BPS, World, save_fingerprints

from oml_chain.chain.eip712 import Signer, text_hash
from oml_chain.chain.errors import ContractLookupError, ContractStateError
from oml_chain.chain.merkle import FingerprintTree, ReceiptTree
from oml_chain.chain.roles import HostClient, build_evidence
from oml_chain.chain.types import StakeTerms

pytestmark = pytest.mark.chain

STAKE = 2 * ETH


class ScriptedHost:
    """A host endpoint on a real HTTP server: fingerprint keys fire, answers are attested by `host`'s attestation
    key, and each carries a permission signed by `permission_signer` (None: served without permission)."""

    def __init__(self, world: World, host: HostClient, model_id: int, permission_signer: Signer | None):
        self.world, self.host, self.model_id, self.permission_signer = world, host, model_id, permission_signer
        self.responses = {fp.key: fp.response for fp in world.fingerprints}
        self.served: list[tuple[str, int]] = []  # (query, seq) of every answer
        self._seq = itertools.count(1)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _send(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                if self.path == "/v1/models":
                    self._send(200, {"object": "list", "data": [{"id": f"oml-{outer.model_id}", "object": "model"}]})
                else:
                    self._send(404, {"error": "not found"})

            def do_POST(self):
                if self.path != "/v1/completions":
                    self._send(404, {"error": "not found"})
                    return
                req = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                self._send(200, outer.answer(req["prompt"]))

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def answer(self, prompt: str) -> dict:
        h, mid = self.host, self.model_id
        text = self.responses[prompt] + " and then some" if prompt in self.responses else " an ordinary answer"
        seq = next(self._seq)
        qh = text_hash(prompt)
        permission = (self.permission_signer.sign_permission(h.domain, mid, h.account, qh, seq)
                      if self.permission_signer else None)
        att = h.attest(mid, prompt, text, permission, seq)
        self.served.append((prompt, seq))
        oml = {"model_id": mid, "host": h.account, "query_hash": "0x" + qh.hex(),
               "response_hash": "0x" + text_hash(text).hex(), "seq": seq,
               "permission": "0x" + permission.hex() if permission else None, "attestation": "0x" + att.hex(),
               "attestation_signer": h.attestation_signer.address}
        return {"object": "text_completion", "choices": [{"index": 0, "text": text, "finish_reason": "length"}],
                "oml": oml}

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def hosts():
    started: list[ScriptedHost] = []

    def start(*args) -> ScriptedHost:
        started.append(ScriptedHost(*args))
        return started[-1]

    yield start
    for h in started:
        h.stop()


def prover_config(world: World, tmp_path, model_id: int, fingerprints=None, db="prover.db", key=None, **kw):
    from oml_chain.services.prover import ProverConfig

    fp_file = save_fingerprints(tmp_path / f"fingerprints-{model_id}.jsonl", fingerprints or world.fingerprints)
    return ProverConfig(rpc_url=world.w3.provider.endpoint_uri, oml_address=world.address,
                        prover_key=key or "0x" + world.prover.signer.private_key.hex(),
                        fingerprint_files=[str(fp_file)], db_path=str(tmp_path / db), model_ids=[model_id], **kw)


def retire_signer(w: World) -> int:
    """Rotate the model's permission signer to a fresh key; returns when the old one (w.signer) was retired."""
    w.owner.set_permission_signer(w.model_id, Signer(b"\x77" * 32).address)
    retired_at = w.owner.permission_signer_retired_at(w.model_id, w.signer.account)
    assert retired_at == w.now()
    return retired_at


def serve_under_retired_signer(w, hosts):
    """The world's host serves (and stakes) under permissions of the signer the owner then retires."""
    rogue = hosts(w, w.host, w.model_id, w.signer.signer)
    w.host.stake(w.model_id, STAKE, rogue.url)
    retire_signer(w)
    return rogue


def open_one_dispute(w, hosts, tmp_path):
    """A prover's first round against such a host: one probe, one dispute opened; (rogue, prover, result)."""
    from oml_chain.services.prover import Prover

    rogue = serve_under_retired_signer(w, hosts)
    prover = Prover(prover_config(w, tmp_path, w.model_id))
    (result,) = prover.run_round().results
    assert result.outcome == "disputed", result.detail
    return rogue, prover, result


def test_retired_signer_permission_opens_a_dispute_finalized_after_the_window(world, hosts, tmp_path):
    from oml_chain.services.prover import Prover

    w, mid = world, world.model_id
    rogue = hosts(w, w.host, mid, w.signer.signer)  # serves under the old signer's permissions
    w.host.stake(mid, STAKE, rogue.url)
    retire_signer(w)
    prover = Prover(prover_config(w, tmp_path, mid))
    try:
        report = prover.run_round()
        (result,) = report.results
        assert result.outcome == "disputed", result.detail
        assert report.slashes == [] and report.disputes_opened == [result.dispute]
        d = result.dispute
        assert (d.model_id, d.host, d.fp_index, d.signer, d.state) == (mid, w.host.account, result.fp_index,
                                                                         w.signer.account, "open")
        # on chain: the index is burned for this host, a dispute with the commit-time terms is open, nothing taken
        onchain = w.prover.get_dispute(mid, w.host.account, d.fp_index)
        assert onchain.open and onchain.prover == prover.address and onchain.deadline == d.deadline
        assert (onchain.slash_bps, onchain.prover_share_bps) == (SLASH_BPS, PROVER_BPS)
        assert onchain.deadline == w.now() + w.prover.dispute_window()
        assert w.prover.open_disputes(mid, w.host.account) == 1 and w.prover.is_burned(mid, w.host.account, d.fp_index)
        assert w.host.get_stake(mid, w.host.account).amount == STAKE and w.prover.reward_of(prover.address) == 0
        disputed = [e for e in w.prover.decode_events(w.w3.eth.get_transaction_receipt(d.tx_hash))]
        assert [e.name for e in disputed if e.name in ("SlashDisputed", "HostSlashed")] == ["SlashDisputed"]
        # inside the window nothing is finalized
        assert prover.finalize_due_disputes() == []
        assert [x.state for x in prover.store.disputes()] == ["open"]
    finally:
        prover.close()

    # the owner announces lighter terms; they are in force by the time the dispute is finalized, yet the slash
    # uses the terms in force when the commitment was made
    w.owner.set_stake_terms(mid, StakeTerms(MIN_STAKE, 1_000, 500, w.params.unbonding_delay))
    revenue_before = w.prover.revenue_of(mid)
    w.mine(seconds=w.prover.dispute_window() + 1)
    assert w.prover.get_model(mid).slash_bps == 1_000

    restarted = Prover(prover_config(w, tmp_path, mid))  # the dispute survived the restart (SQLite)
    try:
        report = restarted.run_round(targets=[])
        (closure,) = report.closed
        assert report.disputes_finalized == [closure] and report.slashes == [closure.slash]
        slashed = STAKE * SLASH_BPS // 10_000
        reward = slashed * PROVER_BPS // 10_000
        assert closure.dispute.state == "finalized"
        assert (closure.slash.fp_index, closure.slash.slashed, closure.slash.reward) == (d.fp_index, slashed, reward)
        assert w.host.get_stake(mid, w.host.account).amount == STAKE - slashed
        assert w.prover.reward_of(restarted.address) == reward
        assert w.prover.revenue_of(mid) == revenue_before + slashed - reward
        assert w.prover.open_disputes(mid, w.host.account) == 0
        assert not w.prover.get_dispute(mid, w.host.account, d.fp_index).open
        ev = [e for e in w.prover.decode_events(w.w3.eth.get_transaction_receipt(closure.slash.tx_hash))
              if e.name == "HostSlashed"]
        assert [(e.args["prover"], e.args["index"], e.args["slashed"], e.args["reward"]) for e in ev] == \
            [(restarted.address, d.fp_index, slashed, reward)]
        assert [(s.fp_index, s.slashed) for s in restarted.store.slashes()] == [(d.fp_index, slashed)]
        assert [x.state for x in restarted.store.disputes()] == ["finalized"]
        assert restarted.finalize_due_disputes() == []
    finally:
        restarted.close()


def test_a_defended_dispute_is_not_finalized(world, hosts, tmp_path):
    w, mid = world, world.model_id
    rogue, prover, result = open_one_dispute(w, hosts, tmp_path)
    try:
        idx = result.fp_index
        # the host recorded the permission's receipt within the notice period and defends with it
        (query, seq), = rogue.served
        tree = ReceiptTree([(text_hash(query), seq)])
        w.host.record_permission_receipts(mid, tree.root)
        tx = w.host.defend_slash(mid, w.host.account, idx, tree.root, tree.proof(text_hash(query), seq))
        assert [e.name for e in tx.events] == ["SlashDefended"]

        w.mine(seconds=w.prover.dispute_window() + 1)
        report = prover.run_round(targets=[])
        (closure,) = report.closed
        assert closure.dispute.state == "defended" and closure.slash is None
        assert report.disputes_finalized == [] and report.slashes == []
        assert w.host.get_stake(mid, w.host.account).amount == STAKE
        assert w.prover.reward_of(prover.address) == 0 and w.prover.open_disputes(mid, w.host.account) == 0
        assert prover.store.slashes() == [] and [x.state for x in prover.store.disputes()] == ["defended"]
        assert w.prover.is_burned(mid, w.host.account, idx)  # the index stays burned for that host
        with pytest.raises(ContractLookupError) as exc:
            w.prover.finalize_slash(mid, w.host.account, idx)
        assert exc.value.error == "SlashDisputeNotFound"
        assert prover.finalize_due_disputes() == []
    finally:
        prover.close()


@pytest.mark.parametrize("who", ["current", "stranger"])
def test_current_signer_permits_and_a_strangers_permission_is_slashed(world, hosts, tmp_path, who):
    from oml_chain.services.prover import Prover

    w, mid = world, world.model_id
    signer = w.signer.signer if who == "current" else Signer(b"\x55" * 32)  # never a signer of the model
    h = hosts(w, w.host, mid, signer)
    w.host.stake(mid, STAKE, h.url)
    prover = Prover(prover_config(w, tmp_path, mid))
    try:
        report = prover.run_round()
    finally:
        prover.close()
    (result,) = report.results
    assert report.disputes_opened == [] and w.prover.open_disputes(mid, w.host.account) == 0
    if who == "current":
        assert result.outcome == "permitted" and report.slashes == []
        assert w.host.get_stake(mid, w.host.account).amount == STAKE
        assert not w.prover.is_burned(mid, w.host.account, result.fp_index)
    else:
        assert result.outcome == "slashed", result.detail
        assert result.slash.slashed == STAKE * SLASH_BPS // 10_000
        assert w.host.get_stake(mid, w.host.account).amount == STAKE - result.slash.slashed


def test_a_key_burned_against_one_host_still_proves_misuse_by_another(world, hosts, tmp_path):
    from oml_chain.services.prover import Prover

    w = world
    fp = w.fingerprints[0]
    one = FingerprintTree([fp.leaf])  # a model with a single fingerprint: every host must get the same key
    mid = w.owner.register_model(w.make_params(fingerprint_root=one.root, fingerprint_count=1))
    a, b = hosts(w, w.host, mid, None), hosts(w, w.host2, mid, None)  # both serve without permission
    w.host.stake(mid, STAKE, a.url)
    w.host2.stake(mid, STAKE, b.url)
    prover = Prover(prover_config(w, tmp_path, mid, fingerprints=[fp]))
    try:
        report = prover.run_round()
        assert [(r.host, r.fp_index, r.outcome) for r in report.results] == \
            [(w.host.account, 0, "slashed"), (w.host2.account, 0, "slashed")], [r.detail for r in report.results]
        slashed = STAKE * SLASH_BPS // 10_000
        assert [s.slashed for s in report.slashes] == [slashed, slashed]
        for h in (w.host, w.host2):
            assert w.prover.is_burned(mid, h.account, 0)
            assert w.prover.get_stake(mid, h.account).amount == STAKE - slashed
        assert w.prover.reward_of(prover.address) == 2 * (slashed * PROVER_BPS // 10_000)
        # the key is spent for both hosts now: the next round has nothing to send, and nothing fails
        assert [r.outcome for r in prover.run_round().results] == ["no_keys", "no_keys"]
    finally:
        prover.close()
    # and the contract refuses a second burn of the same index against the same host
    att = w.host.attest(mid, fp.key, fp.response + "!", None, 99)
    again = build_evidence(mid, w.host.account, fp.leaf, one, fp.response, fp.response + "!", 99, None, att)
    with pytest.raises(ContractStateError) as exc:
        w.other.prove(again, timeout=30)
    assert exc.value.error == "SlashFingerprintBurned" and exc.value.values["host"] == w.host.account


def test_keys_are_chosen_per_host_unseen_first(world, hosts, tmp_path):
    """A key sent to one host is never sent to it again; another host gets keys nobody saw first, and only then
    keys other hosts have seen."""
    from oml_chain.services.prover import Prover

    w, mid = world, world.model_id
    a = hosts(w, w.host, mid, None)
    w.host.stake(mid, STAKE, a.url)
    w.host2.stake(mid, STAKE, "http://127.0.0.1:9")
    prover = Prover(prover_config(w, tmp_path, mid))
    try:
        target = next(t for t in prover.targets() if t.host == w.host.account)
        (result,) = prover.probe(target)
        assert result.outcome == "slashed" and result.fp_index == 0
        n = len(w.fingerprints)
        assert [f.index for f in prover.fresh_keys(mid, w.host.account, n)] == list(range(1, n))
        assert [f.index for f in prover.fresh_keys(mid, w.host2.account, n)] == [*range(1, n), 0]
    finally:
        prover.close()


def test_prove_once_reports_disputes_opened_and_finalized(world, hosts, tmp_path):
    from click.testing import CliRunner

    from oml_chain.chain.deploy import write_deployment
    from oml_chain.cli import main

    w, mid = world, world.model_id
    rogue = serve_under_retired_signer(w, hosts)
    deps = tmp_path / "deployments.json"
    write_deployment(deps, w.w3.eth.chain_id, w.address, 0)
    fp_file = save_fingerprints(tmp_path / "fps.jsonl", w.fingerprints)
    args = ["prove", "once", "--rpc-url", w.w3.provider.endpoint_uri, "--deployments", str(deps), "--key",
            "0x" + w.prover.signer.private_key.hex(), "--fingerprints", str(fp_file), "--db", str(tmp_path / "p.db"),
            "--model-id", str(mid), "--host", w.host.account, "--log-level", "warning"]

    res = CliRunner().invoke(main, [*args, "--json", str(tmp_path / "first.json")])
    assert res.exit_code == 0, res.output
    assert ": disputed" in res.output and w.signer.account in res.output
    first = json.loads((tmp_path / "first.json").read_text())
    (opened,) = first["disputes_opened"]
    assert (opened["host"], opened["state"], opened["signer"]) == (w.host.account, "open", w.signer.account)
    assert first["disputes_finalized"] == [] and first["slashes"] == []

    w.mine(seconds=w.prover.dispute_window() + 1)
    res = CliRunner().invoke(main, [*args, "--json", str(tmp_path / "second.json")])
    assert res.exit_code == 0, res.output
    slashed = STAKE * SLASH_BPS // 10_000
    second = json.loads((tmp_path / "second.json").read_text())
    (fin,) = second["disputes_finalized"]
    assert fin["dispute"]["fp_index"] == opened["fp_index"] and fin["dispute"]["state"] == "finalized"
    assert (fin["slash"]["slashed"], fin["slash"]["reward"]) == (slashed, slashed * PROVER_BPS // 10_000)
    assert "dispute finalized" in res.output
    assert len(second["disputes_opened"]) == 1  # this round probed again with a fresh key
    assert w.host.get_stake(mid, w.host.account).amount == STAKE - slashed


def test_a_v1_store_keeps_its_sent_keys_per_host(tmp_path):
    """A prover database of v1 (one `used_keys` row per key) opens as the per-host record of v2."""
    import sqlite3

    from oml_chain.services.prover.store import ProverStore

    db = tmp_path / "v1.db"
    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE used_keys (model_id INTEGER NOT NULL, fp_index INTEGER NOT NULL, host TEXT NOT NULL, "
                    "at REAL NOT NULL, PRIMARY KEY (model_id, fp_index))")
        con.execute("INSERT INTO used_keys VALUES (1, 3, '0xA', 0), (1, 4, '0xB', 0)")
    store = ProverStore(db)
    try:
        assert store.sent_to(1) == {3: {"0xA"}, 4: {"0xB"}}
        assert store.used_indices(1, "0xA") == {3} and store.used_indices(1) == {3, 4}
        store.mark_used(1, 3, "0xB")
        store.unmark_used(1, 4, "0xB")
        assert store.sent_to(1) == {3: {"0xA", "0xB"}}
    finally:
        store.close()
    store = ProverStore(db)  # reopening does not migrate twice
    try:
        assert store.sent_to(1) == {3: {"0xA", "0xB"}}
    finally:
        store.close()


class Crash(BaseException):
    """Stands for the process dying (not caught by `except Exception`)."""


def test_a_crash_after_a_disputed_reveal_is_recovered_from_the_chain(world, hosts, tmp_path, monkeypatch):
    """The reveal that opened the dispute was mined but the process died before recording it: the restarted
    prover finds its SlashDisputed event, records the dispute, and finalizes it after the window."""
    from oml_chain.services.prover import DisputeRecord, Prover
    from oml_chain.services.prover.store import ProverStore

    w, mid = world, world.model_id
    rogue = serve_under_retired_signer(w, hosts)
    monkeypatch.setattr(ProverStore, "record_dispute", lambda *a, **k: (_ for _ in ()).throw(Crash()))
    crashed = Prover(prover_config(w, tmp_path, mid))
    with pytest.raises(Crash):
        crashed.probe(crashed.targets()[0])
    (pending,) = crashed.store.open_pending()
    assert pending.state == "committed" and crashed.store.disputes() == []
    assert w.prover.get_dispute(mid, w.host.account, pending.fp_index).open  # mined before the crash
    crashed.close()
    monkeypatch.undo()

    restarted = Prover(prover_config(w, tmp_path, mid))
    try:
        report = restarted.run_round(targets=[])
        (d,) = report.resumed
        assert isinstance(d, DisputeRecord) and report.disputes_opened == [d]
        assert (d.fp_index, d.state) == (pending.fp_index, "open")
        assert d.deadline == w.prover.get_dispute(mid, w.host.account, d.fp_index).deadline
        assert not restarted.store.open_pending() and [x.state for x in restarted.store.disputes()] == ["open"]
        w.mine(seconds=w.prover.dispute_window() + 1)
        (closure,) = restarted.run_round(targets=[]).closed
        assert closure.slash.slashed == STAKE * SLASH_BPS // 10_000
        assert w.host.get_stake(mid, w.host.account).amount == STAKE - closure.slash.slashed
    finally:
        restarted.close()


def test_a_dispute_finalized_by_someone_else_is_recorded_with_our_reward(world, hosts, tmp_path):
    w, mid = world, world.model_id
    _, prover, result = open_one_dispute(w, hosts, tmp_path)
    try:
        w.mine(seconds=w.prover.dispute_window() + 1)
        tx = w.other.finalize_slash(mid, w.host.account, result.fp_index)  # anyone may finalize
        (closure,) = prover.finalize_due_disputes()
        slashed = STAKE * SLASH_BPS // 10_000
        assert closure.dispute.state == "finalized" and "another caller" in closure.dispute.detail
        assert (closure.slash.slashed, closure.slash.reward, closure.slash.tx_hash) == \
            (slashed, slashed * PROVER_BPS // 10_000, "0x" + tx.tx_hash.removeprefix("0x"))
        assert w.prover.reward_of(prover.address) == closure.slash.reward and w.prover.reward_of(w.other.account) == 0
        assert [s.slashed for s in prover.store.slashes()] == [slashed]
    finally:
        prover.close()
