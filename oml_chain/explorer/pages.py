"""One builder per page: what the page shows, as plain data (figures, fields, tables, chart series).

The HTML route renders a builder's `Page` with its template; the API route returns `Page.to_json()`: the
same data, so the JSON API mirrors every page. Builders raise `NotFound` / `BadRequest`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from eth_utils import is_address, to_checksum_address

from ..chain.dao import format_shares, format_wei
from ..chain.registration import format_time
from .chainread import ChainReader
from .db import EventRow
from .community import _num
from .queries import Queries
from .tables import BadRequest, Column, EventSource, NotFound, Table, Wei, jsonable


@dataclass
class Page:
    template: str
    title: str
    data: dict[str, Any]
    tables: list[Table] = field(default_factory=list)

    def table(self, table_id: str) -> Table:
        return next(t for t in self.tables if t.id == table_id)

    def to_json(self) -> dict:
        out = jsonable(self.data)
        out["tables"] = {t.id: t.to_json() for t in self.tables}
        return out


# --- parameters ------------------------------------------------------------------------------------------


def parse_int(value: str, what: str) -> int:
    if not value.isdigit() or len(value) > 78:
        raise BadRequest(f"{what} must be a non-negative whole number, got {value!r}")
    return int(value)


def parse_address(value: str, what: str = "address") -> str:
    if not isinstance(value, str) or not value.startswith(("0x", "0X")) or not is_address(value):
        raise BadRequest(f"{what} must be a 0x-address (40 hex digits), got {value!r}")
    return to_checksum_address(value)


# --- links and columns ---------------------------------------------------------------------------------------


def model_link(row: Mapping) -> str | None:
    return f"/model/{row['model_id']}" if row.get("model_id") is not None else None


def host_link(key: str = "host"):
    return lambda row: f"/host/{row[key]}" if row.get(key) else None


def prover_link(key: str = "prover"):
    return lambda row: f"/prover/{row[key]}" if row.get(key) else None


def slash_link(row: Mapping) -> str:
    return f"/slash/{row['model_id']}/{row['host']}/{row['index']}"


TIME = Column("time", "Time (UTC)", "time", sql="block")
BLOCK = Column("block", "Block", "int")
TX = Column("tx", "Transaction", "hash", sortable=False)
MODEL = Column("model_id", "Model", "model", link=model_link)
HOST = Column("host", "Host", "addr", link=host_link())


def event_row(e: EventRow) -> dict:
    return {"time": e.time, "block": e.block, "log_index": e.log_index, "name": e.name, "model_id": e.model_id,
            "host": e.host, "account": e.account, "tx": e.tx, "contract": e.contract, "summary": describe(e),
            "args": e.args}


EVENT_COLUMNS = [TIME, BLOCK, Column("name", "Event"), MODEL, HOST, Column("account", "Account", "addr"),
                 Column("summary", "Details", sortable=False), TX]


def events_table(q: Queries, table_id: str, title: str, primary: bool = False, drop: tuple[str, ...] = (),
                 **filters) -> Table:
    """Events matching `filters`, paged in SQL; `drop` leaves out columns the page already fixes (its host...)."""
    columns = [c for c in EVENT_COLUMNS if c.key not in drop]
    return Table(table_id, title, columns, EventSource(q, filters, event_row), "time", primary=primary)


def describe(e: EventRow) -> str:
    """One line about an event for the events tables."""
    a, w = e.args, (lambda k: format_wei(_num(e.args.get(k))))
    n = e.name
    if n == "VoucherSettled":
        return f"{w('amount')} for queries up to #{a['count']} (cumulative {w('cumulativeAmount')})"
    if n == "HostStaked":
        return f"staked {w('amount')}, total {w('totalStake')}"
    if n == "EscrowDeposited":
        return f"deposited {w('amount')}, balance {w('balance')}"
    if n == "HostSlashed":
        return f"fingerprint #{a['index']}: slashed {w('slashed')}, prover reward {w('reward')}"
    if n == "FingerprintBurned":
        return f"fingerprint #{a['index']} burned"
    if n == "PriceChangeScheduled":
        return f"price {w('oldPrice')} → {w('newPrice')} from {fmt_time(_num(a['effectiveAt']))}"
    if n == "ModelRegistered":
        return f"{a['metadataURI']}, price {w('pricePerQuery')}, {a['fingerprintCount']} fingerprints"
    if n in ("RevenueWithdrawn", "RevenuePulled", "RevenueClaimed", "RewardWithdrawn", "StakeWithdrawn",
             "EscrowWithdrawn"):
        return w("amount")
    if n == "EscrowWithdrawalRequested":
        return f"{w('amount')} thawing until {fmt_time(_num(a['thawEnd']))}"
    if n == "VoteCast":
        return f"{('against', 'for', 'abstain')[_num(a['support'])] if _num(a['support']) < 3 else a['support']} " \
               f"with {format_shares(_num(a['weight']))} votes"
    if n == "ProposalCreated":
        return a["description"].splitlines()[0][:80] if a.get("description") else "proposal"
    if n == "Transfer":
        return f"{format_shares(_num(a['value']))} shares {short(a['from'])} → {short(a['to'])}"
    if n == "EndpointUpdated":
        return a["endpoint"]
    if n == "AttestationSignerUpdated":
        return f"{short(a['previousSigner'])} → {short(a['newSigner'])}"
    if n == "SlashCommitted":
        return f"commitment {short(a['commitment'])}"
    if n == "CommunityCreated":
        return f"shares {short(a['shares'])}, vault {short(a['vault'])}"
    if n in ("ProposalQueued", "ProposalExecuted", "ProposalCanceled"):
        return f"proposal {short(str(a['proposalId']))}" + (f", executable from {fmt_time(_num(a['etaSeconds']))}"
                                                            if n == "ProposalQueued" else "")
    if n == "DelegateChanged":
        return f"{short(a['delegator'])} delegates to {short(a['toDelegate'])}"
    if n == "DelegateVotesChanged":
        return f"{short(a['delegate'])}: {format_shares(_num(a['previousVotes']))} → " \
               f"{format_shares(_num(a['newVotes']))} votes"
    parts = [f"{k} {short(str(v)) if len(str(v)) > 20 else v}" for k, v in a.items()
             if k not in ("modelId", "host") and not isinstance(v, list)]
    return ", ".join(parts)[:120]


def short(v: str | None) -> str:
    if not v:
        return ""
    return v if len(v) <= 14 else f"{v[:6]}…{v[-4:]}"


def fmt_time(t: Any) -> str:
    """A unix time as '2026-11-26 08:00:00 UTC' ("—" when there is none)."""
    return "—" if t in (None, "", 0) else format_time(int(t))


def chart(series: dict) -> dict:
    pts = series["points"]
    return {"bucket": series["bucket"], "labels": [fmt_time(p["time"])[:16] for p in pts],
            "queries": [p["queries"] for p in pts], "amounts_eth": [p["amount"] / 1e18 for p in pts],
            "points": [{**p, "amount": Wei(p["amount"])} for p in pts]}


SERIES_COLUMNS = [Column("time", "Bucket start (UTC)", "time"), Column("queries", "Queries", "int"),
                  Column("settlements", "Settlements", "int"), Column("amount", "Fees settled", "wei")]


# --- pages -------------------------------------------------------------------------------------------------


def overview(q: Queries) -> Page:
    led = q.ledger()
    pos = led["positions"].values()
    slashes = q.slashes()
    figures = {"models": len(q.models()), "hosts": len({p["host"] for p in pos if p["stake"] > 0}),
               "total_stake": Wei(sum(p["stake"] for p in pos)), "fees_settled": Wei(sum(led["fees"].values())),
               "escrow": Wei(sum(p["escrow"] for p in pos)), "queries": sum(p["queries"] for p in pos),
               "slashes": len(slashes), "slashed": Wei(sum(s["slashed"] for s in slashes)),
               "communities": len(q.communities())}
    series = q.settlement_series()
    tables = [events_table(q, "events", "Latest events", primary=True)]
    return Page("overview.html", "Overview", {"figures": figures, "status": q.status(), "chart": chart(series)},
                tables)


MODEL_COLUMNS = [Column("model_id", "Model", "model", link=model_link), Column("metadata_uri", "Metadata URI"),
                 Column("owner", "Owner", "addr"), Column("price", "Price / query", "wei"),
                 Column("hosts", "Hosts", "int"), Column("stake", "Stake", "wei"), Column("queries", "Queries", "int"),
                 Column("fees", "Fees settled", "wei"), Column("slashes", "Slashes", "int"),
                 Column("community", "Community", "bool"), Column("active", "Active", "bool")]


def models(q: Queries) -> Page:
    return Page("list.html", "Models", {"status": q.status()},
                [Table("models", "Models", MODEL_COLUMNS, q.models(), "model_id", "asc", primary=True)])


POSITION_COLUMNS = [Column("stake", "Stake", "wei"), Column("escrow", "Escrow", "wei"),
                    Column("queries", "Queries", "int"), Column("settled", "Fees settled", "wei"),
                    Column("slashes", "Slashes", "int"), Column("slashed", "Slashed", "wei"),
                    Column("endpoint", "Endpoint"), Column("unbonding_end", "Unbonding ends", "time")]
SLASH_COLUMNS = [TIME, MODEL, HOST, Column("index", "Fingerprint", "int", link=slash_link),
                 Column("prover", "Prover", "addr", link=prover_link()), Column("slashed", "Slashed", "wei"),
                 Column("reward", "Prover reward", "wei"), TX]


def model(q: Queries, reader: ChainReader, model_id_text: str) -> Page:
    mid = parse_int(model_id_text, "model id")
    states = q.model_states()
    status = q.status()
    if mid in states:
        m = states[mid]
    elif q.count(model_id=mid):  # events of a model whose registration is before the indexed range
        m = _unregistered(mid)
    else:
        raise NotFound(f"no model {mid} is indexed (models: {', '.join(map(str, sorted(states))) or 'none'})")
    chain = reader.model(mid, status["last_block"]) if reader.enabled else None
    if chain is not None and m["price"] is None:
        m.update(owner=chain["owner"], price=chain["price_per_query"], permission_signer=chain["permission_signer"],
                 metadata_uri=chain["metadata_uri"], active=chain["active"], weights_hash=chain["weights_hash"],
                 fingerprint_root=chain["fingerprint_root"], fingerprint_count=chain["fingerprint_count"])
    params = {"model_id": mid, "owner": m["owner"], "price": Wei(m["price"]) if m["price"] is not None else None,
              "permission_signer": m["permission_signer"],
              "metadata_uri": m["metadata_uri"], "active": m["active"], "weights_hash": m["weights_hash"],
              "fingerprint_root": m["fingerprint_root"], "fingerprint_count": m["fingerprint_count"],
              "registered_at": m["registered_at"], "registered_tx": m["registered_tx"],
              "pending_price": ({"price": Wei(m["pending_price"]["new_price"]),
                                 "effective_at": m["pending_price"]["effective_at"]} if m["pending_price"] else None),
              "min_host_stake": None, "slash_bps": None, "prover_share_bps": None, "unbonding_delay": None,
              "notice_period": None, "revenue_recipient": m["revenue_recipient"], "chain_read": chain is not None}
    if chain is not None:
        params.update(min_host_stake=Wei(chain["min_host_stake"]), slash_bps=chain["slash_bps"],
                      prover_share_bps=chain["prover_share_bps"], unbonding_delay=chain["unbonding_delay"],
                      notice_period=chain["notice_period"], revenue_recipient=chain["revenue_recipient"])
    positions = [{**p, **{k: Wei(p[k]) for k in ("stake", "escrow", "settled", "slashed")}}
                 for p in q.host_positions_of_model(mid)]
    revenue = {k: Wei(v) for k, v in q.revenue(mid).items()}
    prices = [{**c, "old_price": Wei(c["old_price"]), "new_price": Wei(c["new_price"])} for c in m["price_changes"]]
    terms = [{**c, "min_host_stake": Wei(c["min_host_stake"])} for c in m["stake_terms_changes"]]
    series = q.settlement_series(mid)
    slashes = [{**s, "slashed": Wei(s["slashed"]), "reward": Wei(s["reward"])} for s in q.slashes()
               if s["model_id"] == mid]
    tables = [
        Table("hosts", "Hosts", [HOST, *POSITION_COLUMNS], positions, "stake", primary=True),
        Table("prices", "Price history", [TIME, Column("old_price", "Old price", "wei"),
                                          Column("new_price", "New price", "wei"),
                                          Column("effective_at", "Effective at", "time"),
                                          Column("in_force", "In force", "bool"), TX], prices, "time"),
        Table("terms", "Stake terms announced", [TIME, Column("min_host_stake", "Min stake", "wei"),
                                                 Column("slash_bps", "Slash", "bps"),
                                                 Column("prover_share_bps", "Prover share", "bps"),
                                                 Column("unbonding_delay", "Unbonding", "duration"),
                                                 Column("effective_at", "Effective at", "time"), TX], terms, "time"),
        Table("series", "Queries settled over time", SERIES_COLUMNS, chart(series)["points"], "time", "asc"),
        Table("slashes", "Slashes", SLASH_COLUMNS, slashes, "time"),
        Table("burned", "Fingerprints burned", [TIME, HOST, Column("index", "Fingerprint", "int"), TX],
              [{"time": e.time, "host": e.host, "index": _num(e.args["index"]), "tx": e.tx, "model_id": mid}
               for e in q.iter_events("FingerprintBurned", model_id=mid)], "time"),
        Table("withdrawals", "Revenue withdrawn", [TIME, Column("recipient", "Recipient", "addr"),
                                                   Column("amount", "Amount", "wei"), TX],
              [{"time": e.time, "recipient": e.args["recipient"], "amount": Wei(_num(e.args["amount"])), "tx": e.tx}
               for e in q.iter_events("RevenueWithdrawn", model_id=mid)], "time"),
        events_table(q, "settlements", "Settlements", name="VoucherSettled", model_id=mid,
                     drop=("model_id", "account")),
    ]
    data = {"params": params, "revenue": revenue, "chart": chart(series), "status": status, "community": None}
    if m["community"] is not None:
        c = q.community(m["community"])
        data["community"] = {k: c[k] for k in ("shares", "vault", "governor", "timelock", "supply", "quorum_percent")}
        data["community"].update(supply=c["supply"], total_pulled=Wei(c["total_pulled"]),
                                 total_claimed=Wei(c["total_claimed"]))
        holders = [{**h, "claimable": Wei(h["claimable"])} for h in c["holders"]]
        proposals = c["proposals"]
        tables += [
            Table("holders", "Shareholders", [Column("account", "Holder", "addr"),
                                              Column("balance", "Shares", "shares"), Column("percent", "%", "pct"),
                                              Column("votes", "Votes", "shares"),
                                              Column("delegate", "Delegate", "addr"),
                                              Column("claimable", "Claimable", "wei")], holders, "balance"),
            Table("proposals", "Proposals", [TIME, Column("description", "Description"),
                                             Column("proposer", "Proposer", "addr"), Column("state", "State"),
                                             Column("for", "For", "shares"), Column("against", "Against", "shares"),
                                             Column("abstain", "Abstain", "shares"), Column("voters", "Voters", "int"),
                                             Column("vote_end", "Voting ends", "time"), TX], proposals, "time"),
            Table("pulls", "Revenue pulled into the vault", [TIME, Column("amount", "Amount", "wei"), TX],
                  [{**p, "amount": Wei(p["amount"])} for p in c["pulled"]], "time"),
            Table("claims", "Revenue claimed", [TIME, Column("account", "Holder", "addr"),
                                                Column("amount", "Amount", "wei"), TX],
                  [{**x, "amount": Wei(x["amount"])} for x in c["claimed"]], "time"),
        ]
    return Page("model.html", f"Model {mid}", data, tables)


def _unregistered(mid: int) -> dict:
    """A model known only from later events (the indexer started after its registration)."""
    return {"model_id": mid, "owner": None, "price": None, "permission_signer": None, "metadata_uri": None,
            "active": None, "weights_hash": None, "fingerprint_root": None, "fingerprint_count": None,
            "registered_at": None, "registered_tx": None, "pending_price": None, "price_changes": [],
            "stake_terms_changes": [], "revenue_recipient": None, "community": None}


HOST_LIST_COLUMNS = [HOST, Column("models", "Models", "int"), Column("stake", "Stake", "wei"),
                     Column("escrow", "Escrow", "wei"), Column("queries", "Queries", "int"),
                     Column("settled", "Fees settled", "wei"), Column("slashes", "Slashes", "int"),
                     Column("slashed", "Slashed", "wei")]


def hosts(q: Queries) -> Page:
    rows = [{**h, **{k: Wei(h[k]) for k in ("stake", "escrow", "settled", "slashed")}} for h in q.hosts()]
    return Page("list.html", "Hosts", {"status": q.status()},
                [Table("hosts", "Hosts", HOST_LIST_COLUMNS, rows, "stake", primary=True)])


def slashes(q: Queries) -> Page:
    rows = [{**s, "slashed": Wei(s["slashed"]), "reward": Wei(s["reward"])} for s in q.slashes()]
    return Page("list.html", "Slashes", {"status": q.status()},
                [Table("slashes", "Slashes", SLASH_COLUMNS, rows, "time", primary=True)])


def host(q: Queries, address_text: str) -> Page:
    address = parse_address(address_text, "host address")
    positions = [{**p, **{k: Wei(p[k]) for k in ("stake", "escrow", "settled", "slashed")}}
                 for p in q.host_positions(address)]
    if not positions and not q.count(host=address):
        raise NotFound(f"no host {address} in the indexed events")
    figures = {k: Wei(sum(p[k] for p in positions)) for k in ("stake", "escrow", "settled", "slashed")}
    figures["queries"] = sum(p["queries"] for p in positions)
    figures["models"] = len(positions)
    slashes_ = [{**s, "slashed": Wei(s["slashed"]), "reward": Wei(s["reward"])} for s in q.slashes()
                if s["host"] == address]
    signers = EventSource(q, {"name": "AttestationSignerUpdated", "host": address}, lambda e: {
        "time": e.time, "model_id": e.model_id, "previous": e.args["previousSigner"], "signer": e.args["newSigner"],
        "tx": e.tx})
    receipts = EventSource(q, {"name": "PermissionReceiptsRecorded", "host": address}, lambda e: {
        "time": e.time, "model_id": e.model_id, "root": e.args["root"], "tx": e.tx})
    tables = [
        Table("stakes", "Stakes per model", [MODEL, *POSITION_COLUMNS], positions, "model_id", "asc", primary=True),
        events_table(q, "settlements", "Settlements", name="VoucherSettled", host=address,
                     drop=("host", "account")),
        events_table(q, "escrow", "Escrow deposits and withdrawals", name=["EscrowDeposited",
                     "EscrowWithdrawalRequested", "EscrowWithdrawn"], host=address, drop=("host", "account")),
        Table("slashes", "Slashes", SLASH_COLUMNS, slashes_, "time"),
        Table("signers", "Attestation signer history", [TIME, MODEL, Column("previous", "Previous signer", "addr",
                                                                            sortable=False),
                                                        Column("signer", "New signer", "addr", sortable=False), TX],
              signers, "time"),
        Table("receipts", "Permission receipts recorded", [TIME, MODEL, Column("root", "Receipt root", "hash",
                                                                               sortable=False), TX],
              receipts, "time"),
    ]
    return Page("host.html", f"Host {short(address)}", {"address": address, "figures": figures,
                                                         "status": q.status()}, tables)


def prover(q: Queries, address_text: str) -> Page:
    address = parse_address(address_text, "prover address")
    names = ["SlashCommitted", "HostSlashed", "RewardWithdrawn", "SlashDisputed"]
    if not q.count(name=names, account=address):
        raise NotFound(f"no prover {address} in the indexed events (no commit, slash or reward)")
    led = q.ledger()
    won = [{**s, "slashed": Wei(s["slashed"]), "reward": Wei(s["reward"])} for s in q.slashes()
           if s["prover"] == address]
    rewards, withdrawn = led["prover_rewards"].get(address, 0), led["prover_withdrawn"].get(address, 0)
    figures = {"commits": q.count(name="SlashCommitted", account=address), "slashes": len(won),
               "rewards": Wei(rewards), "withdrawn": Wei(withdrawn), "owed": Wei(rewards - withdrawn),
               "disputes": q.count(name="SlashDisputed", account=address)}
    tables = [
        Table("slashes", "Slashes won", SLASH_COLUMNS, won, "time", primary=True),
        events_table(q, "commits", "Commitments", name="SlashCommitted", account=address,
                     drop=("account", "model_id", "host")),
        events_table(q, "withdrawals", "Reward withdrawals", name="RewardWithdrawn", account=address,
                     drop=("account", "model_id", "host")),
        events_table(q, "disputes", "Disputes opened", name="SlashDisputed", account=address, drop=("account",)),
    ]
    return Page("prover.html", f"Prover {short(address)}", {"address": address, "figures": figures,
                                                             "status": q.status()}, tables)


def slash(q: Queries, reader: ChainReader, model_id_text: str, host_text: str, index_text: str) -> Page:
    mid = parse_int(model_id_text, "model id")
    address = parse_address(host_text, "host address")
    index = parse_int(index_text, "fingerprint index")
    e = q.slash_event(mid, address, index)
    if e is None:
        raise NotFound(f"no slash of host {address} on model {mid} with fingerprint {index} is indexed")
    s = _slash_dict(e)
    burn = q.burn_event(mid, address, index)
    m = q.model_states().get(mid, {})
    status = q.status()
    evidence = None
    if burn is not None and reader.enabled:
        evidence = reader.evidence(burn.tx, status["chain_id"] or 0, m.get("fingerprint_root"))
    commit = None
    if evidence and evidence.get("decoded"):
        signers = {x.args["newSigner"] for x in q.iter_events("AttestationSignerUpdated", model_id=mid, host=address)}
        evidence = {**evidence, "signer_known": evidence["attestation_signer"] in signers}
        for c in q.events(name="SlashCommitted", account=s["prover"], limit=200):
            if c.args["commitment"] == evidence["commitment"]:
                commit = {"time": c.time, "block": c.block, "tx": c.tx, "commitment": c.args["commitment"]}
                break
    data = {"slash": s, "reveal_tx": burn.tx if burn else e.tx, "evidence": evidence, "commit": commit,
            "model": {"metadata_uri": m.get("metadata_uri"), "fingerprint_root": m.get("fingerprint_root")},
            "status": status, "evidence_error": None if evidence else (reader.last_error or "no RPC configured")}
    return Page("slash.html", f"Slash of {short(address)} on model {mid}", data, [])


def _slash_dict(e: EventRow) -> dict:
    a = e.args
    return {"model_id": e.model_id, "host": e.host, "prover": a["prover"], "index": _num(a["index"]),
            "slashed": Wei(_num(a["slashed"])), "reward": Wei(_num(a["reward"])),
            "to_revenue": Wei(_num(a["slashed"]) - _num(a["reward"])), "time": e.time, "block": e.block, "tx": e.tx}
