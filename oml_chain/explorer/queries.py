"""What the explorer's pages show, computed from the indexed events (db.py) alone.

Money is exact: uint arguments are summed in SQL in two parts (above and below 10**9, each fits SQLite's
64-bit integers) and joined in Python, so no float ever touches a wei amount. State that events carry only as
changes is rebuilt from them:

- a host's stake on a model = Σ HostStaked.amount − Σ HostSlashed.slashed − Σ StakeWithdrawn.amount;
- its fee escrow = Σ EscrowDeposited.amount − Σ VoucherSettled.amount − Σ EscrowWithdrawn.amount;
- a model's revenue owed = Σ VoucherSettled.amount + Σ (slashed − reward) − Σ RevenueWithdrawn.amount;
- the price in force = the newest PriceChangeScheduled whose effectiveAt has passed (else the registered one);
- a proposal's state = OpenZeppelin Governor's rules over ProposalCreated / VoteCast / Queued / Executed /
  Canceled, the quorum fraction (QuorumNumeratorUpdated) and the share supply;
- a shareholder's claimable revenue = the RevenueVault's arithmetic replayed over Transfer / RevenuePulled /
  RevenueClaimed (contracts/README.md, RevenueVault).

"Now" is the time of the last indexed block, so every figure is the chain as of that block. Results of the
heavier queries are cached until the database changes (new events, a new last block or a reorg).
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from typing import Any, Callable, Iterable

from .db import ExplorerDB, EventRow
from .indexer import status_from_meta

ZERO = "0x0000000000000000000000000000000000000000"
PROPOSAL_STATES = ("Pending", "Active", "Canceled", "Defeated", "Succeeded", "Queued", "Expired", "Executed")
ACC_SCALE, ACC_INITIAL = 10**27, 1  # RevenueVault
MODEL_EVENTS = ("ModelRegistered", "PriceChangeScheduled", "StakeTermsChangeScheduled", "PermissionSignerUpdated",
                "RevenueRecipientUpdated", "MetadataURIUpdated", "ModelActiveSet", "ModelOwnershipTransferred")
BUCKETS = (60, 300, 900, 3_600, 4 * 3_600, 6 * 3_600, 12 * 3_600, 86_400, 7 * 86_400, 30 * 86_400)


def _num(v: Any) -> int:
    """A JSON arg (int, or a decimal string for big values) as an int."""
    return int(v) if v is not None else 0


def _split_sum(field: str) -> str:
    """SQL: two sums (high part ÷ 10**9, low part) of a uint arg stored as a JSON number or decimal string."""
    v = f"CAST(json_extract(args, '$.{field}') AS TEXT)"
    return f"SUM(CAST(substr({v}, 1, length({v}) - 9) AS INTEGER)), SUM(CAST(substr({v}, -9) AS INTEGER))"


def _join(hi: int | None, lo: int | None) -> int:
    return (hi or 0) * 10**9 + (lo or 0)


class Queries:
    """Read-only queries over one ExplorerDB (its own connection; WAL lets the indexer write meanwhile)."""

    def __init__(self, db: ExplorerDB):
        self.db = db
        self._cache: dict[Any, Any] = {}
        self._cache_version: tuple | None = None
        self._cache_lock = threading.Lock()

    # --- plumbing -------------------------------------------------------------------------------------
    def _all(self, sql: str, params: Iterable = ()) -> list[tuple]:
        with self.db.lock:
            return self.db.conn.execute(sql, tuple(params)).fetchall()

    def _one(self, sql: str, params: Iterable = ()) -> tuple | None:
        with self.db.lock:
            return self.db.conn.execute(sql, tuple(params)).fetchone()

    def version(self) -> tuple:
        """Changes whenever the indexed data may have: the newest event id, last block and reorg count."""
        row = self._one("SELECT (SELECT max(id) FROM events), (SELECT count(*) FROM events), "
                        "(SELECT value FROM meta WHERE key = 'last_block'), "
                        "(SELECT value FROM meta WHERE key = 'reorgs')")
        return tuple(row)

    def cached(self, key: Any, compute: Callable[[], Any]) -> Any:
        version = self.version()
        with self._cache_lock:
            if version != self._cache_version:
                self._cache, self._cache_version = {}, version
            if key in self._cache:
                return self._cache[key]
        value = compute()
        with self._cache_lock:
            if self._cache_version == version:
                self._cache[key] = value
        return value

    def events(self, **kw) -> list[EventRow]:
        return self.db.events(**kw)

    def count(self, **kw) -> int:
        return self.db.count(**kw)

    def iter_events(self, names, **kw) -> Iterable[EventRow]:
        return self.db.iter_events(names, **kw)

    def _sums(self, name: str, field: str, group: tuple[str, ...] = (), where: str = "",
              params: Iterable = ()) -> dict:
        """{group values: exact Σ field} over events `name` (group by columns of `events`)."""
        cols = ", ".join(group)
        sql = (f"SELECT {cols + ', ' if cols else ''}{_split_sum(field)} FROM events WHERE name = ?"
               f"{' AND ' + where if where else ''}{' GROUP BY ' + cols if cols else ''}")
        out = {}
        for row in self._all(sql, (name, *params)):
            key = tuple(row[:len(group)])
            out[key if len(group) != 1 else key[0]] = _join(row[-2], row[-1])
        return out

    # --- status -----------------------------------------------------------------------------------------
    def status(self) -> dict:
        meta = self.db.meta()
        st = status_from_meta(meta, self.db.count())
        st["last_block_time"] = self.now()
        return st

    def now(self) -> int | None:
        """Chain time of the last indexed block (or of the newest event)."""
        row = self._one("SELECT b.time FROM blocks b WHERE b.number = (SELECT CAST(value AS INTEGER) FROM meta "
                        "WHERE key = 'last_block')")
        if row:
            return row[0]
        row = self._one("SELECT max(time) FROM events")
        return row[0] if row and row[0] is not None else None

    # --- ledger: balances rebuilt from events (cached) ----------------------------------------------------
    def ledger(self) -> dict:
        return self.cached("ledger", self._ledger)

    def _ledger(self) -> dict:
        by = ("model_id", "host")
        staked = self._sums("HostStaked", "amount", by)
        slashed = self._sums("HostSlashed", "slashed", by)
        rewards = self._sums("HostSlashed", "reward", by)
        withdrawn = self._sums("StakeWithdrawn", "amount", by)
        deposited = self._sums("EscrowDeposited", "amount", by)
        settled = self._sums("VoucherSettled", "amount", by)
        esc_out = self._sums("EscrowWithdrawn", "amount", by)
        queries = {(m, h): int(q or 0) for m, h, q in self._all(
            "SELECT model_id, host, max(CAST(json_extract(args, '$.count') AS INTEGER)) FROM events "
            "WHERE name = 'VoucherSettled' GROUP BY model_id, host")}
        slash_n = {(m, h): n for m, h, n in self._all(
            "SELECT model_id, host, count(*) FROM events WHERE name = 'HostSlashed' GROUP BY model_id, host")}
        settle_n = {(m, h): n for m, h, n in self._all(
            "SELECT model_id, host, count(*) FROM events WHERE name = 'VoucherSettled' GROUP BY model_id, host")}
        endpoints = {(m, h): json.loads(a).get("endpoint", "") for m, h, a in self._all(
            "SELECT model_id, host, args FROM events WHERE id IN (SELECT max(id) FROM events "
            "WHERE name = 'EndpointUpdated' GROUP BY model_id, host)")}
        unbonding = {(m, h): _num(json.loads(a).get("unbondingEnd")) for m, h, a in self._all(
            "SELECT model_id, host, args FROM events WHERE id IN (SELECT max(id) FROM events "
            "WHERE name = 'UnstakeRequested' GROUP BY model_id, host)")}
        thawing = {(m, h): (_num(json.loads(a).get("amount")), _num(json.loads(a).get("thawEnd"))) for m, h, a in
                   self._all("SELECT model_id, host, args FROM events WHERE id IN (SELECT max(id) FROM events "
                             "WHERE name = 'EscrowWithdrawalRequested' GROUP BY model_id, host)")}
        pairs = set(staked) | set(deposited) | set(settled)
        positions = {}
        for k in pairs:
            positions[k] = {
                "model_id": k[0], "host": k[1],
                "stake": staked.get(k, 0) - slashed.get(k, 0) - withdrawn.get(k, 0),
                "staked": staked.get(k, 0), "slashed": slashed.get(k, 0), "stake_withdrawn": withdrawn.get(k, 0),
                "escrow": deposited.get(k, 0) - settled.get(k, 0) - esc_out.get(k, 0),
                "escrow_deposited": deposited.get(k, 0), "escrow_withdrawn": esc_out.get(k, 0),
                "settled": settled.get(k, 0), "settlements": settle_n.get(k, 0), "queries": queries.get(k, 0),
                "slashes": slash_n.get(k, 0), "endpoint": endpoints.get(k, ""), "unbonding_end": unbonding.get(k, 0),
                "escrow_thawing": thawing.get(k, (0, 0))[0], "escrow_thaw_end": thawing.get(k, (0, 0))[1],
            }
        by_model = ("model_id",)
        revenue_in = self._sums("VoucherSettled", "amount", by_model)
        slash_in = {m: v - self._sums("HostSlashed", "reward", by_model).get(m, 0)
                    for m, v in self._sums("HostSlashed", "slashed", by_model).items()}
        revenue_out = self._sums("RevenueWithdrawn", "amount", by_model)
        prover_rewards = self._sums("HostSlashed", "reward", ("account",))
        prover_out = self._sums("RewardWithdrawn", "amount", ("account",))
        del rewards
        return {"positions": positions, "fees": revenue_in, "slash_revenue": slash_in,
                "revenue_withdrawn": revenue_out, "prover_rewards": prover_rewards, "prover_withdrawn": prover_out}

    # --- models -------------------------------------------------------------------------------------------
    def model_states(self) -> dict[int, dict]:
        return self.cached("models", self._model_states)

    def _model_states(self) -> dict[int, dict]:
        """model id → what the events say about it (registration, changes, price in force now)."""
        now = self.now() or 0
        models: dict[int, dict] = {}
        for e in self.db.iter_events(list(MODEL_EVENTS)):
            a = e.args
            if e.name == "ModelRegistered":
                models[e.model_id] = {
                    "model_id": e.model_id, "owner": a["owner"], "registered_owner": a["owner"],
                    "weights_hash": a["weightsHash"], "fingerprint_root": a["fingerprintRoot"],
                    "fingerprint_count": _num(a["fingerprintCount"]), "registered_price": _num(a["pricePerQuery"]),
                    "price": _num(a["pricePerQuery"]), "permission_signer": a["permissionSigner"],
                    "metadata_uri": a["metadataURI"], "active": True, "registered_at": e.time,
                    "registered_block": e.block, "registered_tx": e.tx, "price_changes": [], "stake_terms_changes": [],
                    "revenue_recipient": None, "pending_price": None, "community": None}
                continue
            m = models.get(e.model_id)
            if m is None:
                continue
            if e.name == "PriceChangeScheduled":
                change = {"old_price": _num(a["oldPrice"]), "new_price": _num(a["newPrice"]),
                          "effective_at": _num(a["effectiveAt"]), "time": e.time, "block": e.block, "tx": e.tx}
                m["price_changes"].append(change)
            elif e.name == "StakeTermsChangeScheduled":
                m["stake_terms_changes"].append({
                    "min_host_stake": _num(a["minHostStake"]), "slash_bps": _num(a["slashBps"]),
                    "prover_share_bps": _num(a["proverShareBps"]), "unbonding_delay": _num(a["unbondingDelay"]),
                    "effective_at": _num(a["effectiveAt"]), "time": e.time, "block": e.block, "tx": e.tx})
            elif e.name == "PermissionSignerUpdated":
                m["permission_signer"] = a["newSigner"]
            elif e.name == "RevenueRecipientUpdated":
                m["revenue_recipient"] = a["newRecipient"]
            elif e.name == "MetadataURIUpdated":
                m["metadata_uri"] = a["metadataURI"]
            elif e.name == "ModelActiveSet":
                m["active"] = bool(a["active"])
            elif e.name == "ModelOwnershipTransferred":
                m["owner"] = a["newOwner"]
        for m in models.values():
            # A newer announcement replaces a pending one: the price in force is the newest change whose time
            # has come, unless a later announcement (made before it took effect) superseded it.
            price, pending = m["registered_price"], None
            for i, c in enumerate(m["price_changes"]):
                superseded = any(d["time"] < c["effective_at"] for d in m["price_changes"][i + 1:])
                c["superseded"] = superseded
                c["in_force"] = False
                if superseded:
                    continue
                if c["effective_at"] <= now:
                    price = c["new_price"]
                else:
                    pending = c
            for c in m["price_changes"]:
                c["in_force"] = not c["superseded"] and c["effective_at"] <= now and c["new_price"] == price
            m["price"], m["pending_price"] = price, pending
        for c in self.communities():
            if c["model_id"] in models:
                models[c["model_id"]]["community"] = c
        return models

    def communities(self) -> list[dict]:
        out = []
        for e in self.db.iter_events("CommunityCreated"):
            a = e.args
            out.append({"model_id": e.model_id, "shares": a["shares"], "vault": a["vault"], "governor": a["governor"],
                        "timelock": a["timelock"], "block": e.block, "tx": e.tx, "time": e.time})
        return out

    def models(self) -> list[dict]:
        led = self.ledger()
        rows = []
        states = self.model_states()
        known = set(states) | {p["model_id"] for p in led["positions"].values() if p["model_id"] is not None}
        for mid in sorted(known):
            m = states.get(mid, {"metadata_uri": None, "owner": None, "price": None, "active": None,
                                 "community": None, "registered_at": None})
            pos = [p for p in led["positions"].values() if p["model_id"] == mid]
            rows.append({"model_id": mid, "metadata_uri": m["metadata_uri"], "owner": m["owner"], "price": m["price"],
                         "active": m["active"], "community": m["community"] is not None,
                         "hosts": sum(1 for p in pos if p["stake"] > 0), "stake": sum(p["stake"] for p in pos),
                         "fees": led["fees"].get(mid, 0), "queries": sum(p["queries"] for p in pos),
                         "slashes": sum(p["slashes"] for p in pos), "registered_at": m["registered_at"]})
        return rows

    def revenue(self, model_id: int) -> dict:
        led = self.ledger()
        fees, slash = led["fees"].get(model_id, 0), led["slash_revenue"].get(model_id, 0)
        out = led["revenue_withdrawn"].get(model_id, 0)
        return {"fees": fees, "from_slashes": slash, "withdrawn": out, "owed": fees + slash - out}

    # --- time series ----------------------------------------------------------------------------------------
    def settlement_series(self, model_id: int | None = None) -> dict:
        return self.cached(("series", model_id), lambda: self._series(model_id))

    def _series(self, model_id: int | None) -> dict:
        where, params = ("AND model_id = ?", (model_id,)) if model_id is not None else ("", ())
        span = self._one(f"SELECT min(time), max(time) FROM events WHERE name = 'VoucherSettled' {where}", params)
        if not span or span[0] is None:
            return {"bucket": 3_600, "points": []}
        width = max(1, span[1] - span[0])
        bucket = next((b for b in BUCKETS if width / b <= 30), BUCKETS[-1])
        v = "CAST(json_extract(args, '$.amount') AS TEXT)"
        c = "CAST(json_extract(args, '$.count') AS INTEGER)"
        rows = self._all(
            f"SELECT (time / ?) * ? AS t, SUM(q), SUM(CAST(substr(v, 1, length(v) - 9) AS INTEGER)), "
            f"SUM(CAST(substr(v, -9) AS INTEGER)), count(*) FROM ("
            f"  SELECT time, {v} AS v, {c} - COALESCE(LAG({c}) OVER (PARTITION BY model_id, host "
            f"  ORDER BY block, log_index), 0) AS q FROM events WHERE name = 'VoucherSettled' {where}"
            f") GROUP BY t ORDER BY t", (bucket, bucket, *params))
        return {"bucket": bucket, "points": [{"time": t, "queries": int(q or 0), "amount": _join(hi, lo),
                                              "settlements": n} for t, q, hi, lo, n in rows]}

    # --- community --------------------------------------------------------------------------------------------
    def community(self, c: dict) -> dict:
        return self.cached(("community", c["shares"]), lambda: self._community(c))

    def _community(self, c: dict) -> dict:
        now = self.now() or 0
        balances: dict[str, int] = defaultdict(int)
        delegates: dict[str, str] = {}
        votes: dict[str, int] = {}
        supply = 0
        acc, carry = ACC_INITIAL, 0
        paid: dict[str, int] = {}
        credited: dict[str, int] = defaultdict(int)
        quorum_numerator = None
        supply_history: list[tuple[int, int]] = []  # (time, supply) for quorum at a snapshot

        def pending(a: str) -> int:
            return balances.get(a, 0) * (acc - paid.get(a, ACC_INITIAL)) // ACC_SCALE

        def credit(a: str) -> None:
            if a == ZERO:
                return
            credited[a] += pending(a)
            paid[a] = acc

        pulled, claimed = [], []
        proposals: dict[str, dict] = {}
        order: list[str] = []
        contracts = [c["shares"], c["vault"], c["governor"]]
        for e in self._events_of_contracts(contracts):
            a = e.args
            if e.contract == c["shares"]:
                if e.name == "Transfer":
                    src, dst, value = a["from"], a["to"], _num(a["value"])
                    if src != ZERO:  # ModelShares checkpoints both sides of every transfer but the mint
                        credit(src)
                        credit(dst)
                    if src == ZERO:
                        supply += value
                        supply_history.append((e.time, supply))
                    else:
                        balances[src] -= value
                    if dst == ZERO:
                        supply -= value
                        supply_history.append((e.time, supply))
                    else:
                        balances[dst] += value
                elif e.name == "DelegateChanged":
                    delegates[a["delegator"]] = a["toDelegate"]
                elif e.name == "DelegateVotesChanged":
                    votes[a["delegate"]] = _num(a["newVotes"])
            elif e.contract == c["vault"]:
                if e.name == "RevenuePulled":
                    amount = _num(a["amount"])
                    num = amount * ACC_SCALE + carry
                    acc, carry = acc + num // supply if supply else acc, num % supply if supply else carry
                    pulled.append({"time": e.time, "block": e.block, "tx": e.tx, "amount": amount,
                                   "acc_reward_per_share": _num(a["accRewardPerShare"])})
                elif e.name == "RevenueClaimed":
                    who = a["account"]
                    credit(who)
                    credited[who] = 0
                    claimed.append({"time": e.time, "block": e.block, "tx": e.tx, "account": who,
                                    "amount": _num(a["amount"])})
            elif e.contract == c["governor"]:
                if e.name == "QuorumNumeratorUpdated":
                    quorum_numerator = _num(a["newQuorumNumerator"])
                elif e.name == "ProposalCreated":
                    pid = str(a["proposalId"])
                    order.append(pid)
                    proposals[pid] = {"proposal_id": pid, "proposer": a["proposer"], "description": a["description"],
                                      "vote_start": _num(a["voteStart"]), "vote_end": _num(a["voteEnd"]),
                                      "targets": a["targets"], "time": e.time, "block": e.block, "tx": e.tx,
                                      "for": 0, "against": 0, "abstain": 0, "voters": 0, "eta": 0, "queued": False,
                                      "executed": False, "canceled": False, "votes": []}
                elif e.name in ("VoteCast", "VoteCastWithParams"):
                    p = proposals.get(str(a["proposalId"]))
                    if p is not None:
                        support, weight = _num(a["support"]), _num(a["weight"])
                        p[("against", "for", "abstain")[support] if support < 3 else "abstain"] += weight
                        p["voters"] += 1
                        p["votes"].append({"voter": a["voter"], "support": ("against", "for", "abstain")[support]
                                           if support < 3 else str(support), "weight": weight,
                                           "reason": a.get("reason", ""), "time": e.time, "tx": e.tx})
                elif e.name == "ProposalQueued":
                    p = proposals.get(str(a["proposalId"]))
                    if p is not None:
                        p["queued"], p["eta"] = True, _num(a["etaSeconds"])
                elif e.name == "ProposalExecuted":
                    p = proposals.get(str(a["proposalId"]))
                    if p is not None:
                        p["executed"] = True
                elif e.name == "ProposalCanceled":
                    p = proposals.get(str(a["proposalId"]))
                    if p is not None:
                        p["canceled"] = True
        for p in proposals.values():
            supply_at = next((s for t, s in reversed(supply_history) if t <= p["vote_start"]), supply)
            quorum = supply_at * quorum_numerator // 100 if quorum_numerator is not None else None
            p["quorum"] = quorum
            p["state"] = _proposal_state(p, now, quorum)
        holders = []
        for account in sorted(set(balances) | set(credited)):
            claimable = credited.get(account, 0) + pending(account)
            if balances.get(account, 0) == 0 and claimable == 0:
                continue
            holders.append({"account": account, "balance": balances.get(account, 0),
                            "percent": round(100 * balances.get(account, 0) / supply, 4) if supply else 0.0,
                            "votes": votes.get(account, 0), "delegate": delegates.get(account, ZERO),
                            "claimable": claimable})
        holders.sort(key=lambda h: (-h["balance"], h["account"]))
        return {**c, "supply": supply, "holders": holders, "proposals": [proposals[p] for p in order],
                "quorum_percent": quorum_numerator, "pulled": pulled, "claimed": claimed,
                "total_pulled": sum(p["amount"] for p in pulled), "total_claimed": sum(x["amount"] for x in claimed)}

    def _events_of_contracts(self, addresses: list[str]) -> Iterable[EventRow]:
        marks = ", ".join("?" * len(addresses))
        after = (-1, -1)
        while True:
            with self.db.lock:
                rows = self.db.conn.execute(
                    f"SELECT id, block, log_index, tx, time, contract, kind, name, model_id, host, account, args "
                    f"FROM events WHERE contract IN ({marks}) AND (block > ? OR (block = ? AND log_index > ?)) "
                    f"ORDER BY block, log_index LIMIT 1000", (*addresses, after[0], after[0], after[1])).fetchall()
            for r in rows:
                yield EventRow(r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], json.loads(r[11]), r[0])
            if len(rows) < 1000:
                return
            after = (rows[-1][1], rows[-1][2])

    # --- hosts, slashes, provers ------------------------------------------------------------------------------
    def hosts(self) -> list[dict]:
        by_host: dict[str, dict] = {}
        for p in self.ledger()["positions"].values():
            h = by_host.setdefault(p["host"], {"host": p["host"], "models": 0, "stake": 0, "escrow": 0, "settled": 0,
                                               "queries": 0, "slashes": 0, "slashed": 0})
            h["models"] += 1
            for k in ("stake", "escrow", "settled", "queries", "slashes", "slashed"):
                h[k] += p[k]
        return list(by_host.values())

    def host_positions_of_model(self, model_id: int) -> list[dict]:
        return [p for p in self.ledger()["positions"].values() if p["model_id"] == model_id]

    def host_positions(self, host: str) -> list[dict]:
        return [p for p in self.ledger()["positions"].values() if p["host"] == host]

    def slashes(self) -> list[dict]:
        return [_slash_row(e) for e in self.db.iter_events("HostSlashed")]

    def slash_event(self, model_id: int, host: str, index: int) -> EventRow | None:
        for e in self.db.events(name="HostSlashed", model_id=model_id, host=host, limit=1000):
            if _num(e.args["index"]) == index:
                return e
        return None

    def burn_event(self, model_id: int, host: str, index: int) -> EventRow | None:
        for e in self.db.events(name="FingerprintBurned", model_id=model_id, host=host, limit=1000):
            if _num(e.args["index"]) == index:
                return e
        return None

    def is_known_address(self, address: str) -> bool:
        return self._one("SELECT 1 FROM events WHERE host = ? OR account = ? LIMIT 1", (address, address)) is not None


def _slash_row(e: EventRow) -> dict:
    a = e.args
    return {"model_id": e.model_id, "host": e.host, "prover": a["prover"], "index": _num(a["index"]),
            "slashed": _num(a["slashed"]), "reward": _num(a["reward"]), "time": e.time, "block": e.block, "tx": e.tx}


def _proposal_state(p: dict, now: int, quorum: int | None) -> str:
    """OpenZeppelin Governor.state() (with GovernorTimelockControl) from the indexed facts."""
    if p["executed"]:
        return "Executed"
    if p["canceled"]:
        return "Canceled"
    if now <= p["vote_start"]:
        return "Pending"
    if now <= p["vote_end"]:
        return "Active"
    reached = quorum is None or quorum <= p["for"] + p["abstain"]
    if not reached or p["for"] <= p["against"]:
        return "Defeated"
    return "Queued" if p["queued"] else "Succeeded"
