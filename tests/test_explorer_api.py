"""The explorer's JSON API (and its HTML pages' status codes) over real HTTP on loopback, on the demo world
(oml_chain/explorer/world.py) played on its own anvil and indexed by the real indexer (`Indexer.sync_once`):
every figure equals what the chain itself says (getModel, getStake, getEscrow, settledAmount, revenueOf,
rewardOf, the vault's and governor's views, the HostSlashed events); unknown ids 404, malformed ones 400;
tables sort and paginate; the in-process indexer follows new blocks."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
import requests
from server_thread import ServerThread
from web3 import Web3

from oml_chain.chain.anvil import free_port, start_anvil
from oml_chain.chain.client import OMLContract
from oml_chain.chain.dao import CommunityClient, community_abis, format_wei
from oml_chain.explorer.db import ExplorerDB
from oml_chain.explorer.indexer import Indexer
from oml_chain.explorer.web import ExplorerConfig, uvicorn_config
from oml_chain.explorer.world import build_world

pytestmark = pytest.mark.chain


class Explorer:
    def __init__(self, url, w3, world, oml, community, db_path, rpc_url):
        self.url, self.w3, self.world, self.oml, self.community, self.db_path = url, w3, world, oml, community, db_path
        self.rpc_url = rpc_url

    def get(self, path: str, status: int = 200, **params):
        r = requests.get(self.url + path, params=params, timeout=30)
        assert r.status_code == status, (path, r.status_code, r.text[:500])
        return r.json() if r.headers["content-type"].startswith("application/json") else r.text

    def pairs(self):
        """(model id, host) of every stake the world made."""
        return sorted(self.world.settled)


@pytest.fixture(scope="module")
def explorer(tmp_path_factory, oml_artifacts):
    node = start_anvil()
    server = None
    try:
        w3 = Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 30}))
        world = build_world(w3)
        db_path = tmp_path_factory.mktemp("explorer") / "explorer.db"
        db = ExplorerDB.open(db_path)
        indexer = Indexer(node.url, db, world.oml, world.factory, confirmations=0)
        assert indexer.sync_once() > 100
        indexer.close()
        db.close()
        port = free_port()
        config = ExplorerConfig(db_path=str(db_path), rpc_url=node.url, oml=world.oml, factory=world.factory,
                                index=True, confirmations=0, poll_interval=0.2, port=port)
        server = ServerThread(uvicorn_config(config), port, "explorer")
        abis = community_abis(oml_artifacts)
        oml = OMLContract(w3, world.oml, abi=abis["OML"])
        community = CommunityClient(w3, world.oml, world.factory, abis=abis, community=world.community)
        yield Explorer(server.url, w3, world, oml, community, db_path, node.url)
    finally:
        if server is not None:
            server.stop()
        node.stop()


def test_overview_figures_equal_the_chain(explorer):
    ex, oml = explorer, explorer.oml
    d = ex.get("/api/overview")
    f = d["figures"]
    assert f["models"] == oml.model_count() == 3
    assert int(f["total_stake"]) == sum(oml.get_stake(m, h).amount for m, h in ex.pairs())
    assert int(f["escrow"]) == sum(oml.get_escrow(m, h).balance for m, h in ex.pairs())
    assert int(f["fees_settled"]) == sum(oml.settled_amount(m, h) for m, h in ex.pairs()) == sum(
        ex.world.settled.values())
    assert f["queries"] == sum(oml.settled_count(m, h) for m, h in ex.pairs())
    assert f["slashes"] == 2 and int(f["slashed"]) == sum(s.slashed for s in ex.world.slashes)
    st = d["status"]
    assert st["last_block"] >= ex.world.last_block and st["rpc_ok"] is True and st["chain_id"] == 31337
    events = d["tables"]["events"]
    assert events["total"] == st["events"] and len(events["rows"]) == 50 and events["pages"] > 1
    assert sum(p["queries"] for p in d["chart"]["points"]) == f["queries"]
    assert sum(int(p["amount"]) for p in d["chart"]["points"]) == int(f["fees_settled"])


def test_models_list_and_model_parameters_equal_getModel(explorer):
    ex, oml = explorer, explorer.oml
    rows = {r["model_id"]: r for r in ex.get("/api/models")["tables"]["models"]["rows"]}
    assert set(rows) == {1, 2, 3}
    for mid in rows:
        chain = oml.get_model(mid)
        assert int(rows[mid]["price"]) == chain.price_per_query
        assert rows[mid]["owner"] == chain.owner and rows[mid]["active"] == chain.active
        assert int(rows[mid]["stake"]) == sum(oml.get_stake(m, h).amount for m, h in ex.pairs() if m == mid)
        p = ex.get(f"/api/model/{mid}")["params"]
        assert p["chain_read"] is True
        assert (int(p["price"]), p["owner"], p["permission_signer"], p["metadata_uri"], p["active"]) == (
            chain.price_per_query, chain.owner, chain.permission_signer, chain.metadata_uri, chain.active)
        assert (int(p["min_host_stake"]), p["slash_bps"], p["prover_share_bps"], p["unbonding_delay"],
                p["notice_period"], p["revenue_recipient"], p["fingerprint_count"]) == (
            chain.min_host_stake, chain.slash_bps, chain.prover_share_bps, chain.unbonding_delay,
            chain.notice_period, chain.revenue_recipient, chain.fingerprint_count)
        assert p["fingerprint_root"] == "0x" + chain.fingerprint_root.hex()
    assert rows[3]["community"] is True and rows[1]["community"] is False


def test_model_page_hosts_revenue_prices_burns(explorer):
    ex, oml = explorer, explorer.oml
    alpha = ex.world.models["alpha"]
    d = ex.get(f"/api/model/{alpha}")
    hosts = {r["host"]: r for r in d["tables"]["hosts"]["rows"]}
    assert set(hosts) == {h for m, h in ex.pairs() if m == alpha}
    for h, r in hosts.items():
        assert int(r["stake"]) == oml.get_stake(alpha, h).amount
        assert int(r["escrow"]) == oml.get_escrow(alpha, h).balance
        assert int(r["settled"]) == oml.settled_amount(alpha, h) == ex.world.settled[(alpha, h)]
        assert r["queries"] == oml.settled_count(alpha, h)
        assert r["endpoint"] == oml.get_stake(alpha, h).endpoint
    assert int(d["revenue"]["owed"]) == oml.revenue_of(alpha)
    prices = d["tables"]["prices"]["rows"]
    assert [(int(r["old_price"]), int(r["new_price"]), r["in_force"]) for r in prices] == [
        (10_000 * 10**9, 15_000 * 10**9, True)]
    slash = next(s for s in ex.world.slashes if s.model_id == alpha)
    burned = d["tables"]["burned"]["rows"]
    assert [(r["host"], r["index"]) for r in burned] == [(slash.host, slash.index)]
    assert oml.is_burned(alpha, slash.host, slash.index)
    withdrawn = d["tables"]["withdrawals"]["rows"]
    assert len(withdrawn) == 1 and int(withdrawn[0]["amount"]) == int(d["revenue"]["withdrawn"]) > 0
    series = d["tables"]["series"]
    assert sum(r["queries"] for r in series["rows"]) == sum(oml.settled_count(alpha, h) for h in hosts)
    settlements = ex.get(f"/api/model/{alpha}", settlements_per_page=5, settlements_page=2)["tables"]["settlements"]
    assert settlements["page"] == 2 and len(settlements["rows"]) == 5
    assert settlements["total"] == 12 * len(hosts) and {r["name"] for r in settlements["rows"]} == {"VoucherSettled"}


def test_community_holders_proposals_and_vault_equal_the_contracts(explorer):
    ex, c = explorer, explorer.community
    gamma = ex.world.models["gamma"]
    d = ex.get(f"/api/model/{gamma}")
    assert d["community"]["shares"] == ex.world.community.shares
    assert int(d["community"]["supply"]) == c.total_supply()
    holders = {r["account"]: r for r in d["tables"]["holders"]["rows"]}
    assert set(holders) == set(ex.world.holders)
    for a, r in holders.items():
        assert int(r["balance"]) == c.share_balance(a)
        assert int(r["votes"]) == c.votes(a)
        assert int(r["claimable"]) == c.claimable(a)
    assert any(int(r["claimable"]) > 0 for r in holders.values())  # holder C never claimed
    vault = c.vault_state()
    assert int(d["community"]["total_pulled"]) == vault.total_pulled > 0
    assert int(d["community"]["total_claimed"]) == vault.total_claimed > 0
    proposals = {int(p["proposal_id"]): p for p in d["tables"]["proposals"]["rows"]}
    assert set(proposals) == set(ex.world.proposals.values())
    for pid, p in proposals.items():
        chain = c.proposal(pid)
        assert p["state"] == chain.state
        assert (int(p["for"]), int(p["against"]), int(p["abstain"])) == (chain.for_votes, chain.against_votes,
                                                                         chain.abstain_votes)
    assert proposals[ex.world.proposals["price"]]["state"] == "Executed"
    assert proposals[ex.world.proposals["deactivate"]]["state"] == "Defeated"
    assert int(d["revenue"]["owed"]) == ex.oml.revenue_of(gamma)


def test_host_page_stakes_signers_receipts(explorer):
    ex, oml = explorer, explorer.oml
    h1 = ex.world.hosts[0]
    d = ex.get(f"/api/host/{h1.lower()}")  # any case in, checksummed out
    assert d["address"] == h1
    stakes = {r["model_id"]: r for r in d["tables"]["stakes"]["rows"]}
    assert set(stakes) == {m for m, h in ex.pairs() if h == h1}
    for mid, r in stakes.items():
        assert int(r["stake"]) == oml.get_stake(mid, h1).amount
        assert int(r["escrow"]) == oml.get_escrow(mid, h1).balance
    assert int(d["figures"]["settled"]) == sum(oml.settled_amount(m, h1) for m in stakes)
    signers = d["tables"]["signers"]["rows"]
    alpha = ex.world.models["alpha"]
    assert [r["signer"] for r in sorted(signers, key=lambda r: r["time"]) if r["model_id"] == alpha][-1] == \
        oml.get_stake(alpha, h1).attestation_signer
    assert len([r for r in signers if r["model_id"] == alpha]) == 2  # set at staking, then rotated
    receipts = d["tables"]["receipts"]["rows"]
    assert len(receipts) == 1 and oml.receipt_recorded_at(alpha, h1, bytes.fromhex(receipts[0]["root"][2:])) > 0
    assert d["tables"]["settlements"]["total"] == 12 * len(stakes)


def test_slash_evidence_and_prover(explorer):
    ex, oml = explorer, explorer.oml
    for s in ex.world.slashes:
        d = ex.get(f"/api/slash/{s.model_id}/{s.host}/{s.index}")
        assert (int(d["slash"]["slashed"]), int(d["slash"]["reward"]), d["slash"]["prover"]) == (
            s.slashed, s.reward, s.prover)
        assert int(d["slash"]["to_revenue"]) == s.slashed - s.reward
        e = d["evidence"]
        assert e["decoded"] is True and d["reveal_tx"] == s.reveal_tx
        assert (e["model_id"], e["host"], e["fingerprint_index"], e["prover"]) == (s.model_id, s.host, s.index,
                                                                                   s.prover)
        assert e["merkle_proof_valid"] is True and e["response_matches"] is True and e["permission"] == "0x"
        assert e["response"].startswith(e["fingerprint_response"])
        assert e["attestation_signer"] == oml.get_stake(s.model_id, s.host).attestation_signer
        assert e["signer_known"] is True
        assert d["commit"]["commitment"] == e["commitment"] and d["commit"]["block"] < d["slash"]["block"]
    slashes = ex.get("/api/slashes")["tables"]["slashes"]["rows"]
    assert sorted((r["model_id"], r["index"]) for r in slashes) == sorted((s.model_id, s.index)
                                                                          for s in ex.world.slashes)
    for prover in ex.world.provers:
        d = ex.get(f"/api/prover/{prover}")
        won = [s for s in ex.world.slashes if s.prover == prover]
        assert d["figures"]["slashes"] == len(won) == d["figures"]["commits"]
        assert int(d["figures"]["rewards"]) == sum(s.reward for s in won)
        assert int(d["figures"]["owed"]) == oml.reward_of(prover)
    assert int(ex.get(f"/api/prover/{ex.world.provers[0]}")["figures"]["withdrawn"]) == ex.world.slashes[0].reward


@pytest.mark.parametrize("path", ["/api/model/99", "/api/host/0x000000000000000000000000000000000000dEaD",
                                  "/api/prover/0x000000000000000000000000000000000000dEaD",
                                  "/api/slash/1/0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc/7",
                                  "/api/slash/2/0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc/2", "/api/nothing"])
def test_unknown_ids_are_404_json(explorer, path):
    body = explorer.get(path, status=404)
    assert body["error"]["code"] == "not_found" and body["error"]["message"]


@pytest.mark.parametrize("path,params", [
    ("/api/model/abc", {}), ("/api/model/-1", {}), ("/api/host/0x1234", {}), ("/api/prover/nothex", {}),
    ("/api/host/0x70997970C51812dc3A010C7d01b50e0d17dc79C8g", {}), ("/api/slash/1/0x12/2", {}),
    ("/api/slash/1/0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc/x", {}),
    ("/api/overview", {"page": 0}), ("/api/overview", {"page": "two"}), ("/api/overview", {"per_page": 201}),
    ("/api/models", {"sort": "nope"}), ("/api/models", {"dir": "up"}), ("/api/model/1", {"sort": "x"}),
    ("/api/model/1", {"burned_sort": "x"}),
    ("/api/model/1", {"settlements_per_page": 500}),
])
def test_bad_parameters_are_400_json(explorer, path, params):
    body = explorer.get(path, status=400, **params)
    assert body["error"]["code"] == "bad_request" and body["error"]["message"]


def test_pagination_covers_every_event_once_and_sorting_orders(explorer):
    ex = explorer
    first = ex.get("/api/overview", per_page=200)["tables"]["events"]
    total, seen = first["total"], []
    for page in range(1, first["pages"] + 1):
        rows = ex.get("/api/overview", per_page=200, page=page)["tables"]["events"]["rows"]
        seen += [(r["block"], r["log_index"]) for r in rows]
    assert len(seen) == total == len(set(seen)) and seen == sorted(seen, reverse=True)
    asc = ex.get("/api/overview", sort="block", dir="asc", per_page=20)["tables"]["events"]["rows"]
    assert [(r["block"], r["log_index"]) for r in asc] == sorted(seen)[:20]
    by_name = ex.get("/api/overview", sort="name", dir="asc", per_page=200)["tables"]["events"]["rows"]
    assert [r["name"] for r in by_name] == sorted(r["name"] for r in by_name)
    beyond = ex.get("/api/overview", page=first["pages"] + 5)["tables"]["events"]
    assert beyond["rows"] == [] and beyond["total"] == total
    prices = [int(r["price"]) for r in ex.get("/api/models", sort="price", dir="desc")["tables"]["models"]["rows"]]
    assert prices == sorted(prices, reverse=True)
    stakes = [int(r["stake"]) for r in ex.get("/api/hosts", sort="stake", dir="asc")["tables"]["hosts"]["rows"]]
    assert stakes == sorted(stakes) and len(stakes) == 3


def test_pages_render_html_with_the_same_figures(explorer):
    ex = explorer
    html = ex.get("/")
    f = ex.get("/api/overview")["figures"]
    for figure in (format_wei(int(f["total_stake"])), format_wei(int(f["fees_settled"])),
                   format_wei(int(f["escrow"]))):
        assert figure in html
    assert "/static/vendor/chart.umd.min.js" in html and 'class="chart-data"' in html
    model = ex.get("/model/3")
    assert ex.world.community.shares[6:-4] in model and "Executed" in model and "Defeated" in model
    assert "25000 gwei" in model
    for path in ("/models", "/hosts", "/slashes", f"/host/{ex.world.hosts[2]}", f"/prover/{ex.world.provers[1]}"):
        assert "<table" in ex.get(path)
    assert "not_found" not in ex.get("/model/99", status=404) and "404" in ex.get("/model/99", status=404)
    assert "must be a 0x-address" in ex.get("/host/0x12", status=400)
    js = requests.get(ex.url + "/static/vendor/chart.umd.min.js", timeout=30)
    assert js.status_code == 200 and "Chart" in js.text[:5000] and len(js.content) > 100_000
    assert requests.get(ex.url + "/static/explorer.css", timeout=30).status_code == 200


def test_serve_indexes_new_blocks_in_the_background(explorer):
    """New events reach the pages through the in-process indexer; the cached figures and the chart are brought
    up to date from the new events alone and still equal the chain."""
    ex, oml = explorer, explorer.oml
    from oml_chain.chain.anvil import DEV_KEYS
    from oml_chain.chain.roles import HostClient, PermissionSignerClient

    h2 = HostClient(ex.w3, ex.world.oml, DEV_KEYS[4])
    signer = PermissionSignerClient(ex.w3, ex.world.oml, DEV_KEYS[2])
    beta = ex.world.models["beta"]
    before = ex.get(f"/api/model/{beta}")
    ex.get("/api/overview")  # the series and ledger are cached now
    escrow = int(before["tables"]["hosts"]["rows"][0]["escrow"])
    h2.deposit_escrow(beta, 10**17)
    count, amount = oml.settled_count(beta, h2.account) + 40, oml.settled_amount(beta, h2.account) + 40 * 10**13
    tx = signer.settle(beta, h2.account, count, amount, h2.sign_voucher(beta, count, amount))
    deadline = time.monotonic() + 20
    while ex.get("/api/status")["last_block"] < tx.block_number:
        assert time.monotonic() < deadline, "the in-process indexer did not reach the new blocks"
        time.sleep(0.1)
    after = ex.get(f"/api/model/{beta}")
    row = after["tables"]["hosts"]["rows"][0]
    assert int(row["escrow"]) == escrow + 10**17 - 40 * 10**13 == oml.get_escrow(beta, h2.account).balance
    assert int(row["settled"]) == oml.settled_amount(beta, h2.account) and row["queries"] == count
    assert sum(p["queries"] for p in after["chart"]["points"]) == count
    f = ex.get("/api/overview")["figures"]
    assert f["queries"] == sum(oml.settled_count(m, h) for m, h in ex.pairs())
    assert int(f["fees_settled"]) == sum(oml.settled_amount(m, h) for m, h in ex.pairs())
    assert sum(int(p["amount"]) for p in ex.get("/api/overview")["chart"]["points"]) == int(f["fees_settled"])


def test_cli_index_one_pass_matches_the_server_database(explorer, tmp_path):
    ex = explorer
    deployments = tmp_path / "deployments.json"
    deployments.write_text(json.dumps({"31337": {"OML": ex.world.oml, "block": ex.world.deploy_block,
                                                 "CommunityFactory": ex.world.factory}}))
    db = tmp_path / "cli.db"
    cmd = [sys.executable, "-m", "oml_chain.cli", "explorer", "index", "--rpc-url", ex.rpc_url, "--deployments",
           str(deployments), "--db", str(db), "--confirmations", "0"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    mine = ExplorerDB.open(db)
    try:
        served = ex.get("/api/status")
        assert f"{mine.count()} in all" in out.stderr and mine.count() >= 149
        assert mine.meta_get("factory") == ex.world.factory and mine.meta_int("start_block") == ex.world.deploy_block
        assert mine.count() <= served["events"]  # the server may have indexed the later test's deposit too
    finally:
        mine.close()
    bad = subprocess.run(cmd[:-4] + ["--oml", "0x1234", "--db", str(db)], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1 and "--oml must be a 0x-address" in bad.stderr and "Traceback" not in bad.stderr


def test_pages_keep_working_while_the_rpc_is_down(explorer, tmp_path, free_url):
    """An explorer whose node does not answer: the in-process indexer records the failure (the status bar and
    /api/status show it), and every page still renders from the database; chain reads show as unavailable."""
    import sqlite3

    from markupsafe import escape

    ex = explorer
    copy = tmp_path / "copy.db"
    src, dst = sqlite3.connect(ex.db_path), sqlite3.connect(copy)
    src.backup(dst)
    src.close()
    dst.close()
    port = free_port()
    server = ServerThread(uvicorn_config(ExplorerConfig(db_path=str(copy), rpc_url=free_url, oml=ex.world.oml,
                                                        factory=ex.world.factory, index=True, confirmations=0,
                                                        poll_interval=0.2, port=port)), port, "explorer")
    try:
        url = server.url
        deadline = time.monotonic() + 20
        while (st := requests.get(url + "/api/status", timeout=10).json())["rpc_ok"]:
            assert time.monotonic() < deadline, "the indexer never reported the dead RPC"
            time.sleep(0.1)
        assert st["rpc_error"] and st["rpc_error_at"] and st["last_block"] >= ex.world.last_block
        html = requests.get(url + "/", timeout=10).text
        assert 'class="status down"' in html and "RPC</b> <span class=\"no\">down" in html
        assert str(escape(st["rpc_error"][:40])) in html
        model = requests.get(url + "/api/model/1", timeout=10).json()
        assert model["params"]["chain_read"] is False and model["params"]["min_host_stake"] is None
        assert int(model["params"]["price"]) == ex.oml.get_model(1).price_per_query  # from the events alone
        s = ex.world.slashes[0]
        slash = requests.get(f"{url}/slash/{s.model_id}/{s.host}/{s.index}", timeout=10)
        assert slash.status_code == 200 and "could not be read from the chain" in slash.text
    finally:
        server.stop()
