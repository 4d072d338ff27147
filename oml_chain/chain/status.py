"""A snapshot of an OML deployment from chain views and events (`oml status`, the demo summary)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from eth_utils import event_abi_to_log_topic, to_checksum_address

from .client import OMLContract


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
    fingerprints_burned: int = 0


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
class Snapshot:
    chain_id: int
    oml: str
    block: int
    models: list[ModelRow] = field(default_factory=list)
    hosts: list[HostRow] = field(default_factory=list)
    slashes: list[SlashRow] = field(default_factory=list)
    rewards: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = asdict(self)
        for section in ("models", "hosts", "slashes"):
            for row in d[section]:
                for k, v in row.items():
                    if isinstance(v, int) and not isinstance(v, bool) and v > 2**53:
                        row[k] = str(v)
        d["rewards"] = {k: str(v) for k, v in self.rewards.items()}
        return d


def _logs(oml: OMLContract, name: str, from_block: int = 0):
    topic = next(event_abi_to_log_topic(e) for e in oml.abi if e.get("type") == "event" and e["name"] == name)
    logs = oml._rpc(lambda: oml.w3.eth.get_logs({"address": oml.address, "fromBlock": from_block,
                                                  "toBlock": "latest", "topics": [topic]}))
    return list(zip(logs, oml.decode_events({"logs": logs})))


def snapshot(oml: OMLContract, model_ids: list[int] | None = None, from_block: int = 0) -> Snapshot:
    """Models, staked hosts, escrows, revenue, slashes and prover rewards as the chain sees them now."""
    snap = Snapshot(chain_id=oml.chain_id, oml=oml.address, block=oml._rpc(lambda: oml.w3.eth.block_number))
    ids = model_ids or list(range(1, oml.model_count() + 1))
    slashed: dict[tuple[int, str], int] = {}
    burned: dict[int, int] = {}
    for log, ev in _logs(oml, "HostSlashed", from_block):
        a = ev.args
        if int(a["modelId"]) not in ids:
            continue
        row = SlashRow(int(a["modelId"]), to_checksum_address(a["host"]), to_checksum_address(a["prover"]),
                       int(a["index"]), int(a["slashed"]), int(a["reward"]), int(log["blockNumber"]))
        snap.slashes.append(row)
        slashed[(row.model_id, row.host)] = slashed.get((row.model_id, row.host), 0) + row.slashed
        burned[row.model_id] = burned.get(row.model_id, 0) + 1
        snap.rewards.setdefault(row.prover, 0)
    for mid in ids:
        m = oml.get_model(mid)
        snap.models.append(ModelRow(mid, m.owner, m.active, m.price_per_query, m.min_host_stake, m.slash_bps,
                                    m.prover_share_bps, m.fingerprint_count, oml.revenue_of(mid), burned.get(mid, 0)))
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
                                  slashed.get((mid, host), 0)))
    for prover in list(snap.rewards):
        snap.rewards[prover] = oml.reward_of(prover)
    return snap


def _eth(wei: int) -> str:
    return f"{wei / 10**18:.6f}"


def _short(addr: str) -> str:
    return addr[:8] + "…" + addr[-4:]


def format_table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    line = lambda r: "  ".join(str(x).ljust(w) for x, w in zip(r, widths)).rstrip()  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths]), *[line(r) for r in rows]])


def format_snapshot(snap: Snapshot) -> str:
    """Human-readable tables (ETH amounts)."""
    out = [f"OML {snap.oml} on chain {snap.chain_id}, block {snap.block}", "", "Models"]
    out.append(format_table([[m.model_id, _short(m.owner), "yes" if m.active else "no", _eth(m.price_per_query),
                              _eth(m.min_host_stake), f"{m.slash_bps / 100:g}%", f"{m.prover_share_bps / 100:g}%",
                              m.fingerprint_count, m.fingerprints_burned, _eth(m.revenue)] for m in snap.models],
                            ["id", "owner", "active", "price ETH", "min stake ETH", "slash", "prover share",
                             "fingerprints", "burned", "revenue ETH"]))
    out += ["", "Hosts"]
    out.append(format_table([[h.model_id, _short(h.host), _eth(h.stake), "yes" if h.active else "no",
                              _eth(h.escrow), h.settled_queries, _eth(h.slashed), h.endpoint or "-"]
                             for h in snap.hosts] or [["-"] * 8],
                            ["model", "host", "stake ETH", "active", "escrow ETH", "settled queries", "slashed ETH",
                             "endpoint"]))
    out += ["", "Slashes"]
    out.append(format_table([[s.model_id, _short(s.host), _short(s.prover), s.index, _eth(s.slashed), _eth(s.reward),
                              s.block] for s in snap.slashes] or [["-"] * 7],
                            ["model", "host", "prover", "fingerprint", "slashed ETH", "reward ETH", "block"]))
    if snap.rewards:
        out += ["", "Unclaimed prover rewards: " + ", ".join(f"{_short(p)} {_eth(v)} ETH"
                                                               for p, v in snap.rewards.items())]
    return "\n".join(out)
