"""A snapshot of an OML deployment from chain views and events (`oml status`, the demo summary).

Per model: the terms in force, the notice period, announced changes not yet in
force (price, stake terms) and retired permission signers; per host: stake,
escrow, settled queries and wei, open disputes; slashes, disputes and unclaimed
prover rewards; for a community-owned model (its owner is the timelock of a community made by the
CommunityFactory), the community's contracts, holder count and open proposals. Times are chain time (the
latest block's timestamp).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from eth_utils import event_abi_to_log_topic, to_checksum_address

from .client import OMLContract
from .registration import format_duration, format_time


@dataclass
class HostRow:
    model_id: int
    host: str
    stake: int
    unbonding_end: int
    endpoint: str
    active: bool
    escrow: int
    escrow_thawing: int
    settled_queries: int
    settled_amount: int = 0  # wei settled from the host's vouchers
    open_disputes: int = 0
    slashed: int = 0


@dataclass
class ModelRow:
    model_id: int
    owner: str
    active: bool
    price_per_query: int
    min_host_stake: int
    slash_bps: int
    prover_share_bps: int
    fingerprint_count: int
    revenue: int
    fingerprints_burned: int = 0  # (host, index) pairs burned by reveals (burns are per host)
    notice_period: int = 0
    unbonding_delay: int = 0
    permission_signer: str = ""
    pending_price: dict | None = None  # {"price", "effective_at"}: announced, not yet in force
    pending_stake_terms: dict | None = None  # {"min_host_stake", "slash_bps", "prover_share_bps",
    #                                           "unbonding_delay", "effective_at"}
    retired_signers: list[dict] = field(default_factory=list)  # [{"signer", "retired_at", "grace_ends"}]
    community: dict | None = None  # {"shares", "vault", "governor", "timelock", "holders", "open_proposals"}


@dataclass
class SlashRow:
    model_id: int
    host: str
    prover: str
    index: int
    slashed: int
    reward: int
    block: int


@dataclass
class DisputeRow:
    """A slash disputed because the permission was by a retired signer (SlashDisputed)."""

    model_id: int
    host: str
    index: int
    prover: str
    signer: str  # the retired permission signer
    deadline: int  # the host may defend until then; anyone may finalize after
    state: str  # open | finalizable | defended | finalized
    block: int


@dataclass
class Snapshot:
    chain_id: int
    oml: str
    block: int
    time: int = 0  # timestamp of `block` (chain time)
    models: list[ModelRow] = field(default_factory=list)
    hosts: list[HostRow] = field(default_factory=list)
    slashes: list[SlashRow] = field(default_factory=list)
    disputes: list[DisputeRow] = field(default_factory=list)
    rewards: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON-safe: integers above 2**53 become strings (JS readers), rewards are strings."""
        d = _json_safe(asdict(self))
        d["rewards"] = {k: str(v) for k, v in self.rewards.items()}
        return d


def _json_safe(v):
    if isinstance(v, dict):
        return {k: _json_safe(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_json_safe(x) for x in v]
    if isinstance(v, int) and not isinstance(v, bool) and v > 2**53:
        return str(v)
    return v


def _logs(oml: OMLContract, name: str, from_block: int = 0):
    topic = next(event_abi_to_log_topic(e) for e in oml.abi if e.get("type") == "event" and e["name"] == name)
    logs = oml._rpc(lambda: oml.w3.eth.get_logs({"address": oml.address, "fromBlock": from_block,
                                                  "toBlock": "latest", "topics": [topic]}))
    return list(zip(logs, oml.decode_events({"logs": logs})))


def snapshot(oml: OMLContract, model_ids: list[int] | None = None, from_block: int = 0,
             factory: str | None = None) -> Snapshot:
    """Models, staked hosts, escrows, revenue, scheduled changes, slashes, disputes and prover rewards as the
    chain sees them now; with the CommunityFactory's address, the community of each community-owned model."""
    latest = oml._rpc(lambda: oml.w3.eth.get_block("latest"))
    snap = Snapshot(chain_id=oml.chain_id, oml=oml.address, block=int(latest["number"]), time=int(latest["timestamp"]))
    ids = model_ids or list(range(1, oml.model_count() + 1))
    slashed: dict[tuple[int, str], int] = {}
    for log, ev in _logs(oml, "HostSlashed", from_block):
        a = ev.args
        if int(a["modelId"]) not in ids:
            continue
        row = SlashRow(int(a["modelId"]), to_checksum_address(a["host"]), to_checksum_address(a["prover"]),
                       int(a["index"]), int(a["slashed"]), int(a["reward"]), int(log["blockNumber"]))
        snap.slashes.append(row)
        slashed[(row.model_id, row.host)] = slashed.get((row.model_id, row.host), 0) + row.slashed
        snap.rewards.setdefault(row.prover, 0)
    burned: dict[int, set] = {}
    for _, ev in _logs(oml, "FingerprintBurned", from_block):
        burned.setdefault(int(ev.args["modelId"]), set()).add((to_checksum_address(ev.args["host"]),
                                                               int(ev.args["index"])))
    defended = {(int(ev.args["modelId"]), to_checksum_address(ev.args["host"]), int(ev.args["index"]))
                for _, ev in _logs(oml, "SlashDefended", from_block)}
    for log, ev in _logs(oml, "SlashDisputed", from_block):
        a = ev.args
        mid, host, idx = int(a["modelId"]), to_checksum_address(a["host"]), int(a["index"])
        if mid not in ids:
            continue
        d = oml.get_dispute(mid, host, idx)
        state = (("open" if snap.time <= d.deadline else "finalizable") if d.open
                 else "defended" if (mid, host, idx) in defended else "finalized")
        snap.disputes.append(DisputeRow(mid, host, idx, to_checksum_address(a["prover"]),
                                        to_checksum_address(a["signer"]), int(a["deadline"]), state,
                                        int(log["blockNumber"])))
        snap.rewards.setdefault(to_checksum_address(a["prover"]), 0)
    retired: dict[int, list[str]] = {}
    for _, ev in _logs(oml, "PermissionSignerUpdated", from_block):
        retired.setdefault(int(ev.args["modelId"]), []).append(to_checksum_address(ev.args["oldSigner"]))
    for mid in ids:
        m = oml.get_model(mid)
        row = ModelRow(mid, m.owner, m.active, m.price_per_query, m.min_host_stake, m.slash_bps, m.prover_share_bps,
                       m.fingerprint_count, oml.revenue_of(mid), len(burned.get(mid, ())), m.notice_period,
                       m.unbonding_delay, m.permission_signer)
        price = oml.pending_price(mid)
        if price is not None:
            row.pending_price = {"price": price.value, "effective_at": price.effective_at}
        terms = oml.pending_stake_terms(mid)
        if terms is not None:
            row.pending_stake_terms = {**asdict(terms.value), "effective_at": terms.effective_at}
        for signer in retired.get(mid, []):
            at = oml.permission_signer_retired_at(mid, signer)
            row.retired_signers.append({"signer": signer, "retired_at": at, "grace_ends": at + m.notice_period})
        snap.models.append(row)
    hosts: dict[tuple[int, str], None] = {}
    for _, ev in _logs(oml, "HostStaked", from_block):
        key = (int(ev.args["modelId"]), to_checksum_address(ev.args["host"]))
        if key[0] in ids:
            hosts[key] = None
    for mid, host in hosts:
        s = oml.get_stake(mid, host)
        e = oml.get_escrow(mid, host)
        snap.hosts.append(HostRow(mid, host, s.amount, s.unbonding_end, s.endpoint, oml.is_active_host(mid, host),
                                  e.balance, e.thawing_amount, oml.settled_count(mid, host),
                                  oml.settled_amount(mid, host), oml.open_disputes(mid, host),
                                  slashed.get((mid, host), 0)))
    for prover in list(snap.rewards):
        snap.rewards[prover] = oml.reward_of(prover)
    if factory is not None:
        _add_communities(oml, snap, factory, from_block)
    return snap


def _add_communities(oml: OMLContract, snap: Snapshot, factory: str, from_block: int) -> None:
    """Fill `community` of each model whose owner is a community's timelock: the factory's `communityOf(modelId)`,
    else (a version the community registered by vote) the community whose timelock owns it."""
    from .dao import CommunityClient

    client = CommunityClient(oml.w3, oml.address, factory, from_block=from_block)
    by_timelock = None
    for row in snap.models:
        c = client.community_of(row.model_id)
        if not (c.exists and c.timelock == row.owner):
            if by_timelock is None:
                by_timelock = {x.timelock: x for x in client.communities()}
            c = by_timelock.get(row.owner)
        if c is None:
            continue
        client.bind(c)
        row.community = {"model_id": c.model_id, "shares": c.shares, "vault": c.vault, "governor": c.governor,
                         "timelock": c.timelock, "holders": len(client.shareholders()),
                         "open_proposals": sum(p.open for p in client.proposals())}


def _eth(wei: int) -> str:
    return f"{wei / 10**18:.6f}"


def _short(addr: str) -> str:
    return addr[:8] + "…" + addr[-4:]


def format_table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    line = lambda r: "  ".join(str(x).ljust(w) for x, w in zip(r, widths)).rstrip()  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths]), *[line(r) for r in rows]])


def _bps(bps: int) -> str:
    return f"{bps / 100:g}%"


def scheduled_lines(snap: Snapshot) -> list[str]:
    """One line per announced change not yet in force, with its effective time (UTC and from now)."""
    out = []
    for m in snap.models:
        if m.pending_price:
            p = m.pending_price
            out.append(f"model {m.model_id}: price {_eth(m.price_per_query)} -> {_eth(p['price'])} ETH/query at "
                       f"{format_time(p['effective_at'], snap.time)}")
        if m.pending_stake_terms:
            t = m.pending_stake_terms
            out.append(f"model {m.model_id}: stake terms -> min stake {_eth(t['min_host_stake'])} ETH, slash "
                       f"{_bps(t['slash_bps'])}, prover share {_bps(t['prover_share_bps'])}, unbonding "
                       f"{format_duration(t['unbonding_delay'])} at {format_time(t['effective_at'], snap.time)}")
    return out


def format_snapshot(snap: Snapshot) -> str:
    """Human-readable tables (ETH amounts, UTC times)."""
    out = [f"OML {snap.oml} on chain {snap.chain_id}, block {snap.block} ({format_time(snap.time)})", "", "Models"]
    out.append(format_table([[m.model_id, _short(m.owner), "yes" if m.active else "no", _eth(m.price_per_query),
                              _eth(m.min_host_stake), _bps(m.slash_bps), _bps(m.prover_share_bps),
                              format_duration(m.unbonding_delay), format_duration(m.notice_period),
                              m.fingerprint_count, m.fingerprints_burned, _eth(m.revenue)] for m in snap.models],
                            ["id", "owner", "active", "price ETH", "min stake ETH", "slash", "prover share",
                             "unbonding", "notice", "fingerprints", "burned", "revenue ETH"]))
    out += ["", "Scheduled changes (announced a notice period ahead)"]
    out += scheduled_lines(snap) or ["-"]
    retired = [(m.model_id, r) for m in snap.models for r in m.retired_signers]
    if retired:
        out += ["", "Retired permission signers (their permissions shield only receipts recorded before grace end)"]
        out += [f"model {mid}: {r['signer']} retired {format_time(r['retired_at'])}, grace ends "
                f"{format_time(r['grace_ends'], snap.time)}" for mid, r in retired]
    communities = [m for m in snap.models if m.community]
    if communities:
        out += ["", "Community-owned models (`oml dao status --model-id N` for holders, vault and proposals)"]
        out += [f"model {m.model_id}: shares {m.community['shares']}, {m.community['holders']} holder(s), "
                f"{m.community['open_proposals']} open proposal(s); owner = timelock {m.community['timelock']}, "
                f"revenue to vault {m.community['vault']}" for m in communities]
    out += ["", "Hosts"]
    out.append(format_table([[h.model_id, _short(h.host), _eth(h.stake), "yes" if h.active else "no",
                              _eth(h.escrow), h.settled_queries, _eth(h.settled_amount), h.open_disputes,
                              _eth(h.slashed), h.endpoint or "-"]
                             for h in snap.hosts] or [["-"] * 10],
                            ["model", "host", "stake ETH", "active", "escrow ETH", "settled queries", "settled ETH",
                             "open disputes", "slashed ETH", "endpoint"]))
    out += ["", "Slashes"]
    out.append(format_table([[s.model_id, _short(s.host), _short(s.prover), s.index, _eth(s.slashed), _eth(s.reward),
                              s.block] for s in snap.slashes] or [["-"] * 7],
                            ["model", "host", "prover", "fingerprint", "slashed ETH", "reward ETH", "block"]))
    if snap.disputes:
        out += ["", "Disputes (permission of a retired signer; the host may defend with a receipt until the deadline)"]
        out.append(format_table([[d.model_id, _short(d.host), d.index, _short(d.prover), _short(d.signer),
                                  format_time(d.deadline, snap.time), d.state] for d in snap.disputes],
                                ["model", "host", "fingerprint", "prover", "retired signer", "deadline", "state"]))
    if snap.rewards:
        out += ["", "Unclaimed prover rewards: " + ", ".join(f"{_short(p)} {_eth(v)} ETH"
                                                               for p, v in snap.rewards.items())]
    return "\n".join(out)
