"""The explorer's indexer against a real anvil: every event exactly once (across restarts, in any range size,
communities discovered on the way), decoded exactly as web3 decodes it; reorgs rolled back; an RPC outage
through a real TCP proxy reported and recovered from without a gap; confirmations; the run loops.

Each test deploys its own OML and CommunityFactory inside `chain_snapshot`, so the indexer sees exactly that
test's activity (the session's OML is shared by every test)."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from chain_world import ETH, MIN_STAKE, make_world
from dao_world import VOTING_DELAY, earn_fees, make_dao, slash
from eth_utils import event_abi_to_log_topic
from netproxy import TcpProxy
from web3._utils.events import get_event_data

from oml_chain.chain.dao import community_abis, deploy_community_factory
from oml_chain.chain.deploy import deploy_contract
from oml_chain.explorer.db import ExplorerDB
from oml_chain.explorer.indexer import KIND_ARTIFACT, Indexer, RPCError


class Chain:
    """A fresh OML + factory with its world, and the oracle: the chain's own logs decoded by web3."""

    def __init__(self, w3, keys, artifacts):
        self.w3, self.keys, self.artifacts = w3, keys, artifacts
        self.start = w3.eth.block_number + 1
        self.oml, _ = deploy_contract(w3, keys[9], artifacts["OML"])
        self.factory = deploy_community_factory(w3, keys[9], self.oml)
        self.world = make_world(w3, self.oml, artifacts["OML"].abi, keys)
        self.abis = community_abis(artifacts)
        self.kinds = {self.oml: "oml", self.factory: "factory"}
        self.dao = None

    def indexer(self, db, **kw) -> Indexer:
        kw.setdefault("confirmations", 0)
        kw.setdefault("start_block", self.start)
        return Indexer(kw.pop("rpc", self.w3), db, self.oml, self.factory, abis=self.abis, **kw)

    # --- activity ------------------------------------------------------------------------------------------
    def fees_and_slash(self):
        w = self.world
        w.host.stake(w.model_id, MIN_STAKE, "https://host.example")
        w.host.deposit_escrow(w.model_id, ETH)
        earn_fees(w, w.model_id, 3)
        earn_fees(w, w.model_id, 7)
        slash(w, w.model_id, 0)
        w.prover.withdraw_reward()

    def community(self):
        self.dao = make_dao(self.world, self.factory, self.keys, self.artifacts)
        c = self.dao.community
        self.kinds.update({c.shares: "shares", c.vault: "vault", c.governor: "governor"})
        a, b, cc = self.dao.members
        earn_fees(self.world, self.dao.model_id, 4, host=self.world.host2)
        p = cc.propose([cc.action_set_price(self.dao.model_id, 2_000 * 10**9)])
        self.world.mine(VOTING_DELAY + 1)
        a.vote(p.proposal_id, "for", "looks right")
        b.vote(p.proposal_id, "against")
        a.pull(self.dao.model_id)
        b.claim()
        return p

    # --- oracle --------------------------------------------------------------------------------------------
    def expected(self) -> dict[tuple[int, int], dict]:
        """(block, log_index) → {name, contract, args, tx, time} for every log of the followed contracts."""
        by_topic = {kind: {event_abi_to_log_topic(e): e for e in self.abis[art] if e.get("type") == "event"}
                    for kind, art in KIND_ARTIFACT.items()}
        out = {}
        for lg in self.w3.eth.get_logs({"address": list(self.kinds), "fromBlock": self.start, "toBlock": "latest"}):
            abi = by_topic[self.kinds[lg["address"]]][bytes(lg["topics"][0])]
            ev = get_event_data(self.w3.codec, abi, lg)
            out[(lg["blockNumber"], lg["logIndex"])] = {
                "name": ev["event"], "contract": lg["address"], "args": {k: _json(v) for k, v in ev["args"].items()},
                "tx": "0x" + bytes(lg["transactionHash"]).hex(),
                "time": self.w3.eth.get_block(lg["blockNumber"])["timestamp"]}
        return out


def _json(v):
    """web3's decoded value in the explorer's JSON encoding (SPEC.md)."""
    if isinstance(v, bool) or isinstance(v, str):
        return v
    if isinstance(v, int):
        return str(v) if abs(v) > 2**53 else v
    if isinstance(v, bytes):
        return "0x" + v.hex()
    return [_json(x) for x in v]


def rows(db) -> dict[tuple[int, int], dict]:
    return {(e.block, e.log_index): {"name": e.name, "contract": e.contract, "args": e.args, "tx": e.tx,
                                     "time": e.time}
            for e in db.iter_events()}


@pytest.fixture()
def chain(w3, dev_keys, oml_artifacts, chain_snapshot):
    return Chain(w3, dev_keys, oml_artifacts)


@pytest.fixture()
def db(tmp_path):
    d = ExplorerDB.open(tmp_path / "explorer.db")
    yield d
    d.close()


# --- exactly once ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("chunk, max_logs, read_size", [(1, 10_000, 1 << 20), (2000, 3, 7)],
                         ids=["block-by-block", "streamed-in-threes-7-bytes-a-read"])
def test_every_event_exactly_once_across_restarts(chain, tmp_path, chunk, max_logs, read_size):
    path = tmp_path / "explorer.db"
    chain.fees_and_slash()
    db = ExplorerDB.open(path)
    ix = chain.indexer(db, chunk=chunk, max_logs=max_logs)
    ix.rpc.read_size = read_size  # every log cut by read boundaries many times
    first = ix.sync_once()
    want = chain.expected()
    assert first == len(want) > 0 and rows(db) == want
    assert ix.sync_once() == 0  # nothing new: nothing added
    db.close()

    proposal = chain.community()  # communities are discovered while indexing; restart from the file
    db = ExplorerDB.open(path)
    ix = chain.indexer(db, chunk=chunk, max_logs=max_logs)
    ix.rpc.read_size = read_size
    added = ix.sync_once()
    want = chain.expected()
    assert added == len(want) - first and rows(db) == want
    assert ix.sync_once() == 0 and rows(db) == want
    assert db.count() == len(want)

    # denormalised columns and the followed contracts
    c, mid = chain.dao.community, chain.dao.model_id
    kinds = {(r.address, r.kind, r.model_id) for r in db.contracts()}
    assert kinds == {(chain.oml, "oml", None), (chain.factory, "factory", None), (c.shares, "shares", mid),
                     (c.vault, "vault", mid), (c.governor, "governor", mid)}
    slashed = db.events(name="HostSlashed")
    assert len(slashed) == 1 and slashed[0].host == chain.world.host.account
    assert slashed[0].account == chain.world.prover.account and slashed[0].model_id == chain.world.model_id
    created = db.events(name="ProposalCreated")
    assert [e.model_id for e in created] == [mid] and created[0].args["proposalId"] == str(proposal.proposal_id)
    votes = db.events(name="VoteCast", order="block ASC, log_index ASC")
    assert [(e.account, e.model_id, e.args["support"]) for e in votes] == [
        (chain.dao.members[0].account, mid, 1), (chain.dao.members[1].account, mid, 0)]
    last = db.meta_int("last_block")
    assert last == chain.w3.eth.block_number and db.block_hash(last) == chain.w3.eth.get_block(last)["hash"].to_0x_hex()
    db.close()


def test_streamed_answers_that_are_errors_or_not_arrays(anvil_node):
    from oml_chain.explorer.indexer import JsonRpc

    rpc = JsonRpc(anvil_node.url, read_size=5)
    with pytest.raises(RPCError, match="expected an array"):
        list(rpc.stream_array("eth_blockNumber", [], 10))
    with pytest.raises(RPCError) as exc:  # a block past the head: anvil answers with an error object
        list(rpc.stream_array("eth_getLogs", [{"fromBlock": hex(10**9), "toBlock": hex(10**9 + 1)}], 10))
    assert exc.value.code is not None and exc.value.method == "eth_getLogs"
    rpc.close()


# --- reorgs ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("replacement_blocks", [1, 5], ids=["shorter", "longer"])
def test_reorg_rolls_back_and_reindexes(chain, db, replacement_blocks):
    w3, w = chain.w3, chain.world
    w.host.stake(w.model_id, MIN_STAKE, "https://host.example")
    ix = chain.indexer(db)
    ix.sync_once()
    kept = rows(db)

    snap = w3.provider.make_request("evm_snapshot", [])["result"]
    doomed = [_hex(w.host.deposit_escrow(w.model_id, ETH + i).tx_hash) for i in range(3)]
    ix.sync_once()
    assert {e.tx for e in db.events(name="EscrowDeposited")} == set(doomed)
    w3.provider.make_request("evm_revert", [snap])

    fresh = [_hex(w.host2.stake(w.model_id, MIN_STAKE, "https://other.example").tx_hash)]
    if replacement_blocks > 1:
        w.mine(blocks=replacement_blocks - 1)
    ix.sync_once()
    assert db.count(name="EscrowDeposited") == 0  # the reverted blocks' rows are gone
    assert [e.tx for e in db.events(name="HostStaked", host=w.host2.account)] == fresh
    assert rows(db) == chain.expected() and set(kept) <= set(rows(db))
    assert ix.status()["reorgs"] == 1 and db.meta_int("last_block") == w3.eth.block_number
    assert ix.sync_once() == 0 and ix.status()["reorgs"] == 1


# --- RPC outage --------------------------------------------------------------------------------------------------


def test_rpc_outage_is_reported_then_resumed_without_a_gap(chain, db, anvil_node):
    proxy = TcpProxy(anvil_node.port).start()
    try:
        chain.fees_and_slash()
        ix = chain.indexer(db, rpc=proxy.url, chunk=2)
        while db.count() == 0:  # part of the history, as if the outage came mid-sync
            ix.sync_once(max_chunks=1)
        partial = db.meta_int("last_block")
        assert partial < chain.w3.eth.block_number

        proxy.stop()
        chain.world.host.deposit_escrow(chain.world.model_id, 5 * ETH)  # the chain moves on meanwhile
        before = time.time()
        with pytest.raises(RPCError):
            ix.sync_once()
        st = ix.status()
        assert st["rpc_ok"] is False and proxy.url in st["rpc_error"] and "Connection" in st["rpc_error"]
        assert st["rpc_error_at"] >= int(before) and st["last_block"] == partial

        proxy.start()
        ix.sync_once()
        st = ix.status()
        assert st["rpc_ok"] is True and st["last_block"] == chain.w3.eth.block_number and st["lag"] == 0
        assert rows(db) == chain.expected()  # every (block, log index) of the chain, no gap
    finally:
        proxy.stop()


def test_run_backs_off_through_an_outage_and_catches_up(chain, db, anvil_node):
    proxy = TcpProxy(anvil_node.port).start()
    ix = chain.indexer(db, rpc=proxy.url, backoff_max=0.4)
    stop = threading.Event()
    thread = threading.Thread(target=ix.run, args=(0.05, stop), daemon=True)
    try:
        thread.start()
        w = chain.world
        w.host.stake(w.model_id, MIN_STAKE, "https://host.example")
        _until(lambda: db.count(name="HostStaked") == 1)
        proxy.stop()
        _until(lambda: not ix.status()["rpc_ok"] and ix.status()["failures"] >= 3)  # retried, and still failing
        assert thread.is_alive()
        w.host.deposit_escrow(w.model_id, ETH)
        proxy.start()
        _until(lambda: ix.status()["rpc_ok"] and ix.status()["failures"] == 0
               and db.count(name="EscrowDeposited") == 1)
        assert rows(db) == chain.expected()
    finally:
        stop.set()
        thread.join(5)
        proxy.stop()
    assert not thread.is_alive()


def test_run_async_never_raises_on_a_dead_rpc_and_stops_when_cancelled(chain, db, free_url):
    ix = chain.indexer(db, rpc=free_url, backoff_max=0.2)

    async def main():
        task = asyncio.create_task(ix.run_async(0.05))
        await asyncio.sleep(1.0)
        alive = not task.done()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return alive

    assert asyncio.run(main()) is True
    st = ix.status()
    assert st["rpc_ok"] is False and free_url in st["rpc_error"] and st["failures"] >= 3

    ok = chain.indexer(db)  # the same database, a working RPC: back to ok
    ok.sync_once()
    assert ok.status()["rpc_ok"] is True and rows(db) == chain.expected()


# --- confirmations -----------------------------------------------------------------------------------------------


def test_confirmations_keep_the_tip_out(chain, db):
    w = chain.world
    ix = chain.indexer(db, confirmations=2)
    w.host.stake(w.model_id, MIN_STAKE, "https://host.example")
    w.host.deposit_escrow(w.model_id, ETH)  # the last two blocks: not yet confirmed
    ix.sync_once()
    head = chain.w3.eth.block_number
    st = ix.status()
    assert st["last_block"] == head - 2 and st["head"] == head and st["lag"] == 2
    assert db.count(name=["HostStaked", "EscrowDeposited"]) == 0 and db.count(name="ModelRegistered") == 1
    w.mine(blocks=2)
    ix.sync_once()
    assert db.count(name=["HostStaked", "EscrowDeposited"]) == 2 and rows(db) == chain.expected()


def test_a_database_of_another_deployment_is_refused(chain, db, w3, oml_address):
    chain.indexer(db).sync_once()
    other = Indexer(w3, db, oml_address, confirmations=0, abis=chain.abis)
    with pytest.raises(ValueError, match="use another --db"):
        other.sync_once()


def _hex(tx_hash: str) -> str:
    return tx_hash if tx_hash.startswith("0x") else "0x" + tx_hash


def _until(cond, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_start_block_defaults_to_the_deployment_block(chain, db):
    ix = Indexer(chain.w3, db, chain.oml, chain.factory, confirmations=0, abis=chain.abis)  # no start_block
    ix.sync_once()
    assert db.meta_int("start_block") == chain.start  # found by binary search over eth_getCode
    assert rows(db) == chain.expected()


def test_a_factory_given_later_is_indexed_from_the_start(chain, db):
    chain.fees_and_slash()
    chain.community()
    Indexer(chain.w3, db, chain.oml, confirmations=0, start_block=chain.start, abis=chain.abis).sync_once()
    assert db.count(name="CommunityCreated") == 0 and db.count() > 0  # OML only: the community is unknown
    chain.indexer(db).sync_once()  # now with the factory
    assert rows(db) == chain.expected() and db.count(name="CommunityCreated") == 1


@pytest.mark.parametrize("word, typ, value", [
    ("f" * 64, "int256", -1),
    ("f" * 64, "uint256", str(2**256 - 1)),  # beyond 2**53: a decimal string
    (f"{2**53:064x}", "uint256", 2**53),
    (f"{2**53 + 1:064x}", "uint64", str(2**53 + 1)),
    ("0" * 63 + "1", "bool", True),
    ("ab" * 4 + "0" * 56, "bytes4", "0xabababab"),
    ("0" * 24 + "f39fd6e51aad88f6f4ce6ab8827279cfffb92266", "address", "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"),
])
def test_one_word_decoding(word, typ, value):
    from oml_chain.explorer.indexer import _word

    assert _word(word, typ) == value
