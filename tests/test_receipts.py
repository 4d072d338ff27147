"""Permission receipts and the host's guard against a real permission service and anvil (finding 4, host side).

An honest host obtains permissions through the service; the owner then retires the permission signer (e.g. its
key leaked). The guard notices the rotation, records the host's receipts on chain before the notice period ends,
and later defends the dispute a prover opens with one of those permissions, however late it comes.
"""

from __future__ import annotations

import pytest
from chain_world import MIN_STAKE, NOTICE, PRICE
from permission_world import ThreadServer, make_config

from oml_chain.chain.eip712 import Signer, text_hash
from oml_chain.chain.errors import OMLError
from oml_chain.services.host.guard import ReceiptGuard
from oml_chain.services.permission import SyncPermissionClient, chain_price, defend_dispute, record_receipts

pytestmark = pytest.mark.services


@pytest.fixture()
def served(staked, tmp_path):
    srv = ThreadServer(make_config(staked, tmp_path / "ledger.db"))
    staked.extra["server"] = srv
    yield staked
    srv.stop()


def _client(w, tmp_path) -> SyncPermissionClient:
    return SyncPermissionClient(w.extra["server"].url, w.host.signer, w.model_id, w.host.domain, w.signer.account,
                                tmp_path / "host.db", price=chain_price(w.host, w.model_id))


def test_guard_records_on_rotation_and_defends_a_late_dispute(served, tmp_path):
    w, mid, h = served, served.model_id, served.host
    fp = w.fingerprints[3]
    with _client(w, tmp_path) as c:
        for i in range(4):
            c.request(text_hash(f"ordinary query {i}"))
        perm = c.request(text_hash(fp.key))  # a prover's fingerprint probe, answered honestly with a permission
        assert c.receipts.counts() == (5, 5)
        guard = ReceiptGuard(h, mid, c.client, receipt_interval=0)
        guard.step()
        assert guard.recorded_roots == []  # nothing is due while the signer is current (interval 0)
        new_signer = Signer(b"\x31" * 32)
        w.owner.set_permission_signer(mid, new_signer.address)  # the old key is retired now
        guard.step()
        assert len(guard.recorded_roots) == 1 and c.receipts.counts() == (5, 0)
        assert c.client.permission_signer == new_signer.address  # permissions now verify against the new key
        root = guard.recorded_roots[0]
        assert 0 < h.receipt_recorded_at(mid, h.account, root) <= (
            h.permission_signer_retired_at(mid, w.signer.account) + NOTICE)
        w.mine(90 * 86_400)  # the evidence arrives three months later
        r = w.prover.prove(w.evidence(3, permission=perm.signature, seq=perm.seq))
        assert r.event("SlashDisputed").args["host"] == h.account
        guard.step()
        assert guard.defended == [3]
        assert not h.get_dispute(mid, h.account, 3).open
        assert h.get_stake(mid, h.account).amount == MIN_STAKE  # never slashed
        assert c.amount == 5 * PRICE  # and it paid for every one of them at the price of the day


def test_unrecorded_permission_cannot_be_defended(served, tmp_path):
    """A host that missed the deadline (no receipt) cannot defend; the library says so in one line."""
    w, mid, h = served, served.model_id, served.host
    fp = w.fingerprints[1]
    with _client(w, tmp_path) as c:
        perm = c.request(text_hash(fp.key))
        w.owner.set_permission_signer(mid, Signer(b"\x32" * 32).address)
        w.mine(NOTICE + 60)
        assert record_receipts(c.receipts, h, mid) is not None  # recorded, but after the grace: does not count
        assert record_receipts(c.receipts, h, mid) is None  # nothing left to record
        w.prover.prove(w.evidence(1, permission=perm.signature, seq=perm.seq))
        with pytest.raises(OMLError, match="SlashReceiptTooLate"):
            defend_dispute(c.receipts, h, mid, 1)
        with pytest.raises(OMLError, match="no open dispute"):
            defend_dispute(c.receipts, h, mid, 2)


def test_cli_records_receipts_and_defends(served, tmp_path):
    """`oml host receipts --record` and `oml host defend` drive the same library from the command line."""
    from click.testing import CliRunner

    from oml_chain.chain.deploy import write_deployment
    from oml_chain.cli import main

    w, mid, h = served, served.model_id, served.host
    deps = tmp_path / "deployments.json"
    write_deployment(deps, w.w3.eth.chain_id, w.address, 0)
    state = tmp_path / "host.db"
    common = ["--rpc-url", w.w3.provider.endpoint_uri, "--deployments", str(deps), "--model-id", str(mid),
              "--key", "0x" + h.signer.private_key.hex(), "--state-db", str(state)]
    fp = w.fingerprints[6]
    with _client(w, tmp_path) as c:
        perm = c.request(text_hash(fp.key))
    res = CliRunner().invoke(main, ["host", "receipts", *common, "--record"])
    assert res.exit_code == 0 and "1 permission receipts, 1 not yet recorded" in res.output, res.output
    assert "recorded 1 receipts under root 0x" in res.output
    w.owner.set_permission_signer(mid, Signer(b"\x33" * 32).address)
    w.prover.prove(w.evidence(6, permission=perm.signature, seq=perm.seq))
    res = CliRunner().invoke(main, ["host", "defend", *common, "--index", "6"])
    assert res.exit_code == 0 and "defended" in res.output, res.output
    assert not h.get_dispute(mid, h.account, 6).open and h.get_stake(mid, h.account).amount == MIN_STAKE
    res = CliRunner().invoke(main, ["host", "defend", *common, "--index", "6"])
    assert res.exit_code == 1 and "no open dispute" in res.output and "Traceback" not in res.output
