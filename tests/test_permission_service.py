"""Permission service over real HTTP (uvicorn on loopback) against a real anvil: issue, verify, settle, refuse."""

from __future__ import annotations

import time

import httpx
import pytest
from chain_world import ETH, PRICE
from permission_world import ThreadServer, make_config, single_body

from oml_chain.chain.eip712 import text_hash, verify_permission
from oml_chain.services.permission import (EscrowInsufficientError, ModelNotServed, ModelUnknown, PermissionClient,
                                           SeqReplayed, SyncPermissionClient, VoucherAmountMismatch,
                                           VoucherCountMismatch, chain_price, fixed_price)

pytestmark = pytest.mark.services


@pytest.fixture()
def served(staked, tmp_path):
    """`staked` world + a permission service (settling every 0.3 s) in a thread."""
    srv = ThreadServer(make_config(staked, tmp_path / "ledger.db", settle_interval=0.3))
    staked.extra["server"] = srv
    yield staked
    srv.stop()


def _client(world, tmp_path, host=None, name="host.db", **kw) -> SyncPermissionClient:
    host = host or world.host
    kw.setdefault("price", chain_price(host, world.model_id, ttl=0))
    return SyncPermissionClient(world.extra["server"].url, host.signer, world.model_id, host.domain,
                                world.signer.account, tmp_path / name, **kw)


def test_single_and_batch_then_settlement_moves_exactly_count_times_price(served, tmp_path):
    w, h = served, served.host
    with _client(w, tmp_path) as c:
        singles = [c.request(text_hash(f"query {i}")) for i in range(3)]
        batch = c.request_batch([text_hash(f"batch query {i}") for i in range(5)])
        assert [p.seq for p in singles + batch] == list(range(1, 9))
        assert [p.count for p in singles] == [1, 2, 3] and {p.count for p in batch} == {8}
        for p in singles + batch:  # independently of the client's own check
            assert verify_permission(h.domain, w.signer.account, w.model_id, h.account, p.query_hash, p.seq,
                                     p.signature)
        state = c.host_state()
        assert (state["issued"], state["voucher_count"], state["last_seq"]) == (8, 8, 8)
        assert state["escrow_spendable"] == str(ETH)
        revenue0, escrow0 = h.revenue_of(w.model_id), h.get_escrow(w.model_id, h.account).balance
        deadline = time.monotonic() + 20  # the background settlement runs every 0.3 s
        while h.settled_count(w.model_id, h.account) < 8 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert h.settled_count(w.model_id, h.account) == 8
        assert h.revenue_of(w.model_id) == revenue0 + 8 * PRICE
        assert h.get_escrow(w.model_id, h.account).balance == escrow0 - 8 * PRICE
        # an exact retry of the newest request returns the stored permissions and charges nothing
        body = {"model_id": w.model_id, "host": h.account, "voucher": {"model_id": w.model_id, "host": h.account,
                                                                       "count": 8, "cumulative_amount": str(8 * PRICE)},
                "voucher_signature": "0x" + h.sign_voucher(w.model_id, 8, 8 * PRICE).hex(),
                "items": [{"query_hash": "0x" + p.query_hash.hex(), "seq": p.seq} for p in batch]}
        r = httpx.post(w.extra["server"].url + "/v1/permissions/batch", json=body)
        assert r.status_code == 200
        assert [x["signature"] for x in r.json()["permissions"]] == ["0x" + p.signature.hex() for p in batch]
        time.sleep(0.5)
        assert c.host_state()["issued"] == 8 and h.settled_count(w.model_id, h.account) == 8
        assert h.revenue_of(w.model_id) == revenue0 + 8 * PRICE
    led = w.extra["server"].server.config.app.state.oml["service"].ledger
    assert [s["count"] for s in led.settlements() if s["status"] == "confirmed"] == [8]


def _cases(w):
    """(name, make_request → (path, content bytes), status, code)."""
    h, dom, mid = w.host.signer, w.host.domain, w.model_id
    q = text_hash("q")

    def ok(**over):
        b = single_body(h, dom, mid, q, 1, 1)
        b.update(over)
        return b

    other_signer_model = w.owner.register_model(w.make_params(permission_signer=w.owner.account))
    h2 = w.host2.signer
    return [
        ("malformed json", b'{"model_id": 1,', 400, "bad_json"),
        ("json nested 50,000 levels", b"[" * 50_000 + b"]" * 50_000, 400, "bad_json"),
        ("json nested 100 levels", b'{"model_id": ' + b"[" * 100 + b"]" * 100 + b"}", 400, "bad_json"),
        ("not an object", b"[1, 2]", 400, "bad_request"),
        ("missing seq", {k: v for k, v in ok().items() if k != "seq"}, 400, "bad_request"),
        ("model_id as string", ok(model_id=str(mid)), 400, "bad_request"),
        ("seq as float", ok(seq=1.5), 400, "bad_request"),
        ("seq as bool", ok(seq=True), 400, "bad_request"),
        ("negative seq", ok(seq=-3), 400, "bad_request"),
        ("bad hex query hash", ok(query_hash="0x" + "zz" * 32), 400, "bad_request"),
        ("short query hash", ok(query_hash="0x1234"), 400, "bad_request"),
        ("bad host address", ok(host="0x1234"), 400, "bad_request"),
        ("voucher not an object", ok(voucher=[1]), 400, "bad_request"),
        ("bad hex signature", ok(voucher_signature="0x" + "gg" * 65), 400, "bad_request"),
        ("voucher for another host", single_body(h, dom, mid, q, 1, 1) | {"host": h2.address}, 400,
         "voucher_mismatch"),
        ("voucher signed by another key", single_body(h, dom, mid, q, 1, 1, voucher_signer=h2), 401,
         "voucher_signature_invalid"),
        ("garbage voucher signature", ok(voucher_signature="0x" + "11" * 64 + "1b"), 401,
         "voucher_signature_invalid"),
        ("unknown model", single_body(h, dom, 999, q, 1, 1), 404, "model_not_found"),
        ("model with another signer", single_body(h, dom, other_signer_model, q, 1, 1), 403, "model_not_served"),
        ("unfunded escrow", single_body(h2, dom, mid, q, 1, 1), 402, "escrow_insufficient"),
        ("count mismatch", single_body(h, dom, mid, q, 1, 2), 409, "voucher_count_mismatch"),
    ]


def _post(url, path, content):
    if isinstance(content, bytes):
        return httpx.post(url + path, content=content, headers={"content-type": "application/json"})
    return httpx.post(url + path, json=content)


def _check_error(r, status, code):
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["code"] == code and len(err["message"]) > 20
    assert "Traceback" not in r.text and 'File "' not in r.text


def test_bad_input_table(served):
    url = served.extra["server"].url
    for name, content, status, code in _cases(served):
        _check_error(_post(url, "/v1/permissions", content), status, code)
    # nothing was charged for any of them
    assert httpx.get(f"{url}/v1/hosts/{served.model_id}/{served.host.account}").json()["issued"] == 0


def test_seq_replay_count_mismatch_batch_and_route_errors(served):
    url, h, dom, mid = served.extra["server"].url, served.host.signer, served.host.domain, served.model_id
    assert _post(url, "/v1/permissions", single_body(h, dom, mid, text_hash("a"), 5, 1)).status_code == 200
    r = _post(url, "/v1/permissions", single_body(h, dom, mid, text_hash("b"), 5, 2))
    _check_error(r, 409, "seq_replayed")
    assert r.json()["error"]["last_seq"] == 5
    r = _post(url, "/v1/permissions", single_body(h, dom, mid, text_hash("b"), 6, 7))
    _check_error(r, 409, "voucher_count_mismatch")
    assert r.json()["error"]["expected"] == 2
    batch = {"model_id": mid, "host": h.address, "voucher": {"model_id": mid, "host": h.address, "count": 3,
                                                             "cumulative_amount": str(3 * PRICE)},
             "voucher_signature": "0x" + h.sign_voucher(dom, mid, h.address, 3, 3 * PRICE).hex()}
    _check_error(_post(url, "/v1/permissions/batch", batch | {"items": []}), 400, "bad_request")
    same_seq = [{"query_hash": "0x" + text_hash(x).hex(), "seq": 9} for x in "cd"]
    _check_error(_post(url, "/v1/permissions/batch", batch | {"items": same_seq}), 400, "bad_request")
    _check_error(httpx.get(url + "/v1/nothing"), 404, "not_found")
    _check_error(httpx.get(url + "/v1/permissions"), 405, "method_not_allowed")
    _check_error(httpx.get(f"{url}/v1/hosts/abc/{h.address}"), 400, "bad_request")
    assert httpx.get(url + "/healthz").json() == {"ok": True, "signer": served.signer.account,
                                                  "chain_id": served.host.chain_id, "oml": served.address}


def test_client_raises_typed_errors_and_recovers(served, tmp_path):
    w = served
    with _client(w, tmp_path, host=w.host2, name="h2.db") as c:  # host2 has no escrow
        with pytest.raises(EscrowInsufficientError) as exc:
            c.request(text_hash("x"))
        assert (exc.value.needed, exc.value.available, exc.value.status) == (PRICE, 0, 402)
        assert c.count == 0  # a refused request releases its count
        w.host2.deposit_escrow(w.model_id, 3 * PRICE)  # the forced refresh sees the deposit at once
        assert [c.request(text_hash(f"x{i}")).count for i in range(3)] == [1, 2, 3]
        with pytest.raises(EscrowInsufficientError) as exc:
            c.request(text_hash("x4"))
        assert (exc.value.needed, exc.value.available) == (4 * PRICE, 3 * PRICE)
    other = w.owner.register_model(w.make_params(permission_signer=w.owner.account))
    c = SyncPermissionClient(w.extra["server"].url, w.host.signer, other, w.host.domain, w.signer.account,
                             tmp_path / "o.db", price=fixed_price(PRICE))
    with pytest.raises(ModelNotServed):
        c.request(text_hash("x"))
    c.close()
    c = SyncPermissionClient(w.extra["server"].url, w.host.signer, 999, w.host.domain, w.signer.account,
                             tmp_path / "u.db", price=fixed_price(PRICE))
    with pytest.raises(ModelUnknown):
        c.request(text_hash("x"))
    c.close()
    # a second client on a fresh store is out of step with the ledger: 409s, then resync() adopts the ledger
    with _client(w, tmp_path, name="a.db") as a:
        a.request(text_hash("first"))
    with _client(w, tmp_path, name="b.db") as b:
        with pytest.raises((SeqReplayed, VoucherCountMismatch)):
            b.request(text_hash("second"))
        assert b.resync()["issued"] == 1
        assert b.request(text_hash("second")).count == 2


def test_async_client_concurrent_calls_are_serialized(served, tmp_path):
    import asyncio

    w = served

    async def go():
        c = PermissionClient(w.extra["server"].url, w.host.signer, w.model_id, w.host.domain, w.signer.account,
                             tmp_path / "async.db", price=fixed_price(PRICE))
        perms = await asyncio.gather(*(c.request(text_hash(f"c{i}")) for i in range(10)))
        await c.aclose()
        return perms

    perms = asyncio.run(go())
    assert sorted(p.count for p in perms) == list(range(1, 11))
    assert sorted(p.seq for p in perms) == list(range(1, 11))


def test_each_permission_is_priced_when_issued_and_settles_exactly(served, tmp_path):
    """Finding 1, service side: permissions are charged at the price in force when issued; an announced change
    applies only after the notice period; the settled amount equals Σ(price at issue) exactly, whenever the
    settlement runs; a voucher at another price is refused with the expected amount."""
    from chain_world import NOTICE

    w, h, mid = served, served.host, served.model_id
    with _client(w, tmp_path) as c:
        for i in range(3):
            c.request(text_hash(f"old price {i}"))
        w.owner.set_price(mid, 3 * PRICE)  # announced now, in force after NOTICE
        c.request(text_hash("still the old price"))
        assert c.amount == 4 * PRICE
        w.mine(NOTICE)
        c.request_batch([text_hash("new price a"), text_hash("new price b")])
        assert c.amount == 4 * PRICE + 2 * 3 * PRICE
        # a host that signs the old price after the change is told what to sign; nothing is issued
        r = httpx.post(w.extra["server"].url + "/v1/permissions",
                       json=single_body(h.signer, h.domain, mid, text_hash("cheap"), 99, 7, amount=c.amount + PRICE))
        assert r.status_code == 409 and r.json()["error"]["code"] == "voucher_amount_mismatch"
        assert r.json()["error"]["expected"] == str(c.amount + 3 * PRICE)
        assert c.host_state()["voucher_amount"] == str(10 * PRICE)
        deadline = time.monotonic() + 20
        while h.settled_count(mid, h.account) < 6 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert h.settled_amount(mid, h.account) == 10 * PRICE  # 4 × PRICE + 2 × 3·PRICE
    led = w.extra["server"].server.config.app.state.oml["service"].ledger
    assert led.charged(mid, h.account) == 10 * PRICE


def test_client_retries_once_when_a_price_change_lands_between_reads(served, tmp_path):
    """The host's cached price is stale (the change took effect after its read): the service answers
    voucher_amount_mismatch, the client re-reads the chain, agrees, and retries; it never signs a number it
    did not compute itself."""
    from chain_world import NOTICE

    w, mid = served, served.model_id
    stale = [PRICE]

    def price(force=False):
        if force:
            stale[0] = w.host.get_model(mid).price_per_query
        return stale[0]

    with _client(w, tmp_path, price=price) as c:
        c.request(text_hash("q1"))
        w.owner.set_price(mid, 2 * PRICE)
        w.mine(NOTICE)
        time.sleep(2.2)  # the service's chain cache (ttl 2 s) sees the new price; the host's does not
        p = c.request(text_hash("q2"))  # first try at the stale price, refused, then retried at 2 × PRICE
        assert p.count == 2 and c.amount == 3 * PRICE
    with _client(w, tmp_path, name="liar.db", price=fixed_price(PRICE)) as liar:
        liar.resync()
        with pytest.raises(VoucherAmountMismatch) as exc:  # a host that insists on the old price gets nothing
            liar.request(text_hash("q3"))
        assert exc.value.expected == 5 * PRICE and liar.count == 2
