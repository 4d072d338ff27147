"""Durability: the service as a real process, `kill -9` between and during requests, restart on the same
ledger, settle → on-chain revenue is exactly (permissions actually returned) × price."""

from __future__ import annotations

import threading
import time

import httpx
import pytest
from chain_world import ETH, PRICE
from permission_world import ProcServer, make_config, single_body

from oml_chain.chain.eip712 import text_hash
from oml_chain.services.permission import Ledger, PermissionServiceUnavailable, SyncPermissionClient, fixed_price

pytestmark = pytest.mark.services


def _client(world, srv_url, host, path, retries=0) -> SyncPermissionClient:
    return SyncPermissionClient(srv_url, host.signer, world.model_id, host.domain, world.signer.account, path,
                                retries=retries, timeout=5.0, backoff=0.05, price=fixed_price(PRICE))


def test_kill9_between_and_during_requests_charges_exactly_what_was_returned(staked, tmp_path):
    w = staked
    w.host2.deposit_escrow(w.model_id, ETH)
    hosts = [w.host, w.host2]
    config = make_config(w, tmp_path / "ledger.db")
    srv = ProcServer.start(config, tmp_path / "service.log")
    returned: dict[str, dict[int, bytes]] = {h.account: {} for h in hosts}  # host -> seq -> signature
    clients = {h.account: _client(w, srv.url, h, tmp_path / f"{h.account}.db") for h in hosts}
    try:
        # 1. sequential traffic, then kill -9 between requests
        for i in range(10):
            for h in hosts:
                p = clients[h.account].request(text_hash(f"{h.account} a{i}"))
                returned[h.account][p.seq] = p.signature
        last_body = single_body(w.host.signer, w.host.domain, w.model_id, text_hash(f"{w.host.account} a9"),
                                10, 10)
        srv.kill9()
        srv = ProcServer.start(config, tmp_path / "service.log")
        # the exact retry of the last request after the crash returns the same permission and charges nothing
        r = httpx.post(srv.url + "/v1/permissions", json=last_body)
        assert r.status_code == 200 and bytes.fromhex(r.json()["signature"][2:]) == returned[w.host.account][10]
        assert httpx.get(f"{srv.url}/v1/hosts/{w.model_id}/{w.host.account}").json()["issued"] == 10

        # 2. two hosts hammer the service from threads; kill -9 while their requests are in flight
        failed: dict[str, bytes] = {}

        def hammer(h):
            c = clients[h.account]
            for i in range(10_000):
                qh = text_hash(f"{h.account} b{i}")
                try:
                    p = c.request(qh)
                except PermissionServiceUnavailable:
                    failed[h.account] = qh
                    return
                returned[h.account][p.seq] = p.signature

        threads = [threading.Thread(target=hammer, args=(h,)) for h in hosts]
        for t in threads:
            t.start()
        time.sleep(1.5)
        srv.kill9()
        for t in threads:
            t.join(30)
        assert set(failed) == {h.account for h in hosts}, "every host had a request in flight at the kill"
        srv = ProcServer.start(config, tmp_path / "service.log")
        for h in hosts:  # each host retries its interrupted query: answered once, whether or not it was committed
            c = clients[h.account]
            p = c.request(failed[h.account])
            assert p.seq not in returned[h.account]
            returned[h.account][p.seq] = p.signature
            for i in range(3):  # traffic continues normally
                q = c.request(text_hash(f"{h.account} c{i}"))
                returned[h.account][q.seq] = q.signature

        # 3. SIGTERM: the shutdown settles every host's newest voucher
        assert srv.terminate()
    finally:
        if srv.process.poll() is None:
            srv.kill9()
        for c in clients.values():
            c.close()
    led = Ledger(config.db_path)
    try:
        total = 0
        for h in hosts:
            n = len(returned[h.account])
            total += n
            assert n > 20, "traffic ran before the crash"
            assert led.permission_count(w.model_id, h.account) == n, "the ledger holds exactly what was returned"
            assert sorted(returned[h.account]) == list(range(1, n + 1)), "no seq lost or used twice"
            assert w.host.settled_count(w.model_id, h.account) == n
            assert w.host.get_escrow(w.model_id, h.account).balance == ETH - n * PRICE
        assert w.host.revenue_of(w.model_id) == total * PRICE
    finally:
        led.close()


def test_sigterm_settles_newest_voucher(staked, tmp_path):
    w = staked
    config = make_config(w, tmp_path / "ledger.db", settle_interval=3600)  # no periodic round before the stop
    srv = ProcServer.start(config, tmp_path / "service.log")
    c = _client(w, srv.url, w.host, tmp_path / "host.db", retries=2)
    try:
        c.request(text_hash("one"))
        c.request_batch([text_hash("two"), text_hash("three")])
        assert w.host.settled_count(w.model_id, w.host.account) == 0
        assert srv.terminate()
    finally:
        if srv.process.poll() is None:
            srv.kill9()
        c.close()
    assert w.host.settled_count(w.model_id, w.host.account) == 3
    assert w.host.revenue_of(w.model_id) == 3 * PRICE
    led = Ledger(config.db_path)
    try:
        rows = led.settlements()
        assert [(r["count"], r["status"]) for r in rows] == [(3, "confirmed")] and rows[0]["tx_hash"]
    finally:
        led.close()
    assert "settled model" in (tmp_path / "service.log").read_text()
