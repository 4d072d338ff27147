"""What the explorer's pages show, computed from the indexed events (db.py) alone.

Money is exact: uint arguments are summed in SQL in two parts (above and below 10**9, each fits SQLite's
64-bit integers) and joined in Python, so no float ever touches a wei amount. State that events carry only as
changes is rebuilt from them:

- a host's stake on a model = Σ HostStaked.amount − Σ HostSlashed.slashed − Σ StakeWithdrawn.amount;
- its fee escrow = Σ EscrowDeposited.amount − Σ VoucherSettled.amount − Σ EscrowWithdrawn.amount;
- a model's revenue owed = Σ VoucherSettled.amount + Σ (slashed − reward) − Σ RevenueWithdrawn.amount;
- the price in force = the newest PriceChangeScheduled whose effectiveAt has passed (else the registered one);
- a community's shareholders, claimable revenue and proposal states: community.py.

"Now" is the time of the last indexed block, so every figure is the chain as of that block. Results are cached
until the database changes; the ledger (stakes, escrows, fees, rewards) and the chart series are then brought up
to date from the new events alone, and rebuilt in full only after a reorg or rollback removed events.
"""

from __future__ import annotations

import functools
import json
import threading
from typing import Any, Callable, Iterable

from .db import DEFAULT_ORDER, EventRow, ExplorerDB, parse_order
from .community import _num, replay_community
from .indexer import status_from_meta

MODEL_EVENTS = ("ModelRegistered", "PriceChangeScheduled", "StakeTermsChangeScheduled", "PermissionSignerUpdated",
                "RevenueRecipientUpdated", "MetadataURIUpdated", "ModelActiveSet", "ModelOwnershipTransferred")
BUCKETS = (60, 300, 900, 3_600, 4 * 3_600, 6 * 3_600, 12 * 3_600, 86_400, 7 * 86_400, 30 * 86_400)


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
        """db.events, but a list of names near the top is read name by name (each an index range in order)
        and merged here: SQLite would otherwise sort every matching row to return the first page."""
        names, limit, offset = kw.get("name"), kw.get("limit", 50), kw.get("offset", 0)
        if isinstance(names, str) or names is None or len(names) < 2 or limit + offset > 2_000:
            return self.db.events(**kw)
        rows = [e for n in names for e in self.db.events(**{**kw, "name": n, "limit": limit + offset, "offset": 0})]
        rows.sort(key=functools.cmp_to_key(_comparator(kw.get("order", DEFAULT_ORDER))))
        return rows[offset:offset + limit]

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

    # --- ledger: balances rebuilt from events ---------------------------------------------------------------
    # Every part is additive over events (sums, counts), a maximum, or "the newest one wins", so when the
    # database only grew (no reorg, no rollback) the parts are brought up to date from the new events alone.
    _SUMS = (("HostStaked", "amount", "pair"), ("HostSlashed", "slashed", "pair"), ("StakeWithdrawn", "amount", "pair"),
             ("EscrowDeposited", "amount", "pair"), ("VoucherSettled", "amount", "pair"),
             ("EscrowWithdrawn", "amount", "pair"), ("VoucherSettled", "amount", "model"),
             ("HostSlashed", "slashed", "model"), ("HostSlashed", "reward", "model"),
             ("RevenueWithdrawn", "amount", "model"), ("HostSlashed", "reward", "prover"),
             ("RewardWithdrawn", "amount", "prover"))
    _GROUPS = {"pair": ("model_id", "host"), "model": ("model_id",), "prover": ("account",)}
    _LATEST = (("EndpointUpdated", "endpoint"), ("UnstakeRequested", "unbonding"),
               ("EscrowWithdrawalRequested", "thawing"))

    def ledger(self) -> dict:
        version = self.version()
        with self._cache_lock:
            state = getattr(self, "_ledger_state", None)
        if state is not None and state[0] == version:
            return state[2]
        max_id, count = version[0] or 0, version[1]
        if state is not None and state[0][3] == version[3] and (state[0][0], state[0][1]) == (version[0], count):
            parts = state[1]  # only the last block moved: no new events
        elif state is not None and state[0][3] == version[3] and max_id > (state[0][0] or 0) and \
                count - state[0][1] == self._one("SELECT count(*) FROM events WHERE id > ?", (state[0][0] or 0,))[0]:
            parts = _merge(state[1], self._ledger_parts(state[0][0] or 0, max_id))
        else:
            parts = self._ledger_parts(0, max_id)
        ledger = _assemble(parts)
        with self._cache_lock:
            self._ledger_state = (version, parts, ledger)
        return ledger

    def _ledger_parts(self, after_id: int, upto_id: int) -> dict:
        """The ledger's raw parts over events with after_id < id ≤ upto_id."""
        where, params = "id > ? AND id <= ?", (after_id, upto_id)
        parts: dict = {"sums": {}, "count": {}, "max_count": {}, "latest": {}}
        for name, field, group in self._SUMS:
            parts["sums"][(name, field, group)] = self._sums(name, field, self._GROUPS[group], where, params)
        for name in ("HostSlashed", "VoucherSettled"):
            parts["count"][name] = {(m, h): n for m, h, n in self._all(
                f"SELECT model_id, host, count(*) FROM events WHERE name = ? AND {where} GROUP BY model_id, host",
                (name, *params))}
        parts["max_count"] = {(m, h): int(q or 0) for m, h, q in self._all(
            "SELECT model_id, host, max(CAST(json_extract(args, '$.count') AS INTEGER)) FROM events "
            f"WHERE name = 'VoucherSettled' AND {where} GROUP BY model_id, host", params)}
        for name, key in self._LATEST:
            parts["latest"][key] = {(m, h): json.loads(a) for m, h, a in self._all(
                f"SELECT model_id, host, args FROM events WHERE id IN (SELECT max(id) FROM events "
                f"WHERE name = ? AND {where} GROUP BY model_id, host)", (name, *params))}
        return parts

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
        """Queries and fees settled per time bucket (VoucherSettled; a settlement's queries are its count less
        the host's previous count). Kept up to date from new events while the bucket width stays the same."""
        version = self.version()
        with self._cache_lock:
            states = self.__dict__.setdefault("_series_state", {})
            state = states.get(model_id)
        if state is not None and state[0] == version:
            return state[1]
        old = state[0] if state is not None else None
        if old is not None and old[3] == version[3] and (old[0], old[1]) == (version[0], version[1]):
            series, aux = state[1], state[2]
        elif old is not None and old[3] == version[3] and (version[0] or 0) > (old[0] or 0) and \
                version[1] - old[1] == self._one("SELECT count(*) FROM events WHERE id > ?", (old[0] or 0,))[0]:
            series, aux = self._series_add(model_id, state[1], state[2], old[0] or 0, version[0])
        else:
            series, aux = self._series_full(model_id)
        with self._cache_lock:
            states[model_id] = (version, series, aux)
        return series

    @staticmethod
    def _bucket(first: int, last: int) -> int:
        width = max(1, last - first)
        return next((b for b in BUCKETS if width / b <= 30), BUCKETS[-1])

    def _series_full(self, model_id: int | None) -> tuple[dict, dict]:
        where, params = ("AND model_id = ?", (model_id,)) if model_id is not None else ("", ())
        span = self._one(f"SELECT min(time), max(time) FROM events WHERE name = 'VoucherSettled' {where}", params)
        last_count = {(m, h): int(c) for m, h, c in self._all(
            "SELECT model_id, host, CAST(json_extract(args, '$.count') AS INTEGER) FROM events WHERE id IN "
            f"(SELECT max(id) FROM events WHERE name = 'VoucherSettled' {where} GROUP BY model_id, host)", params)}
        if not span or span[0] is None:
            return {"bucket": 3_600, "points": []}, {"first": None, "last": None, "last_count": last_count}
        bucket = self._bucket(span[0], span[1])
        v = "CAST(json_extract(args, '$.amount') AS TEXT)"
        c = "CAST(json_extract(args, '$.count') AS INTEGER)"
        rows = self._all(
            f"SELECT (time / ?) * ? AS t, SUM(q), SUM(CAST(substr(v, 1, length(v) - 9) AS INTEGER)), "
            f"SUM(CAST(substr(v, -9) AS INTEGER)), count(*) FROM ("
            f"  SELECT time, {v} AS v, {c} - COALESCE(LAG({c}) OVER (PARTITION BY model_id, host "
            f"  ORDER BY block, log_index), 0) AS q FROM events WHERE name = 'VoucherSettled' {where}"
            f") GROUP BY t ORDER BY t", (bucket, bucket, *params))
        points = [{"time": t, "queries": int(q or 0), "amount": _join(hi, lo), "settlements": n}
                  for t, q, hi, lo, n in rows]
        return {"bucket": bucket, "points": points}, {"first": span[0], "last": span[1], "last_count": last_count}

    def _series_add(self, model_id, series: dict, aux: dict, after_id: int, upto_id: int) -> tuple[dict, dict]:
        where, params = ("AND model_id = ?", (model_id,)) if model_id is not None else ("", ())
        rows = self._all(
            "SELECT time, model_id, host, CAST(json_extract(args, '$.count') AS INTEGER), "
            "CAST(json_extract(args, '$.amount') AS TEXT) FROM events WHERE name = 'VoucherSettled' AND id > ? "
            f"AND id <= ? {where} ORDER BY block, log_index", (after_id, upto_id, *params))
        if not rows:
            return series, aux
        first = aux["first"] if aux["first"] is not None else rows[0][0]
        last = max(aux["last"] or rows[-1][0], rows[-1][0])
        if aux["first"] is None or self._bucket(first, last) != series["bucket"]:
            return self._series_full(model_id)
        bucket = series["bucket"]
        points = {p["time"]: dict(p) for p in series["points"]}
        last_count = dict(aux["last_count"])
        for t, m, h, count, amount in rows:
            p = points.setdefault(t // bucket * bucket, {"time": t // bucket * bucket, "queries": 0, "amount": 0,
                                                         "settlements": 0})
            p["queries"] += int(count) - last_count.get((m, h), 0)
            p["amount"] += int(amount)
            p["settlements"] += 1
            last_count[(m, h)] = int(count)
        return ({"bucket": bucket, "points": [points[t] for t in sorted(points)]},
                {"first": first, "last": last, "last_count": last_count})

    # --- community --------------------------------------------------------------------------------------------
    def community(self, c: dict) -> dict:
        return self.cached(("community", c["shares"]), lambda: self._community(c))

    def _community(self, c: dict) -> dict:
        return replay_community(c, self._events_of_contracts([c["shares"], c["vault"], c["governor"]]), self.now() or 0)

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


def _merge(old: dict, new: dict) -> dict:
    """Ledger parts of older events and of newer ones → the parts of both."""
    out: dict = {"sums": {}, "count": {}, "max_count": dict(old["max_count"]), "latest": {}}
    for key in old["sums"]:
        merged = dict(old["sums"][key])
        for k, v in new["sums"][key].items():
            merged[k] = merged.get(k, 0) + v
        out["sums"][key] = merged
    for name in old["count"]:
        merged = dict(old["count"][name])
        for k, v in new["count"][name].items():
            merged[k] = merged.get(k, 0) + v
        out["count"][name] = merged
    for k, v in new["max_count"].items():
        out["max_count"][k] = max(v, out["max_count"].get(k, 0))
    for key in old["latest"]:
        out["latest"][key] = {**old["latest"][key], **new["latest"][key]}
    return out


def _assemble(parts: dict) -> dict:
    """Positions (model, host), model revenue and prover rewards from the ledger's parts."""
    s = parts["sums"]
    staked, slashed = s[("HostStaked", "amount", "pair")], s[("HostSlashed", "slashed", "pair")]
    withdrawn, deposited = s[("StakeWithdrawn", "amount", "pair")], s[("EscrowDeposited", "amount", "pair")]
    settled, esc_out = s[("VoucherSettled", "amount", "pair")], s[("EscrowWithdrawn", "amount", "pair")]
    latest = parts["latest"]
    positions = {}
    for k in set(staked) | set(deposited) | set(settled):
        thaw = latest["thawing"].get(k, {})
        positions[k] = {
            "model_id": k[0], "host": k[1],
            "stake": staked.get(k, 0) - slashed.get(k, 0) - withdrawn.get(k, 0),
            "staked": staked.get(k, 0), "slashed": slashed.get(k, 0), "stake_withdrawn": withdrawn.get(k, 0),
            "escrow": deposited.get(k, 0) - settled.get(k, 0) - esc_out.get(k, 0),
            "escrow_deposited": deposited.get(k, 0), "escrow_withdrawn": esc_out.get(k, 0),
            "settled": settled.get(k, 0), "settlements": parts["count"]["VoucherSettled"].get(k, 0),
            "queries": parts["max_count"].get(k, 0), "slashes": parts["count"]["HostSlashed"].get(k, 0),
            "endpoint": latest["endpoint"].get(k, {}).get("endpoint", ""),
            "unbonding_end": _num(latest["unbonding"].get(k, {}).get("unbondingEnd")),
            "escrow_thawing": _num(thaw.get("amount")), "escrow_thaw_end": _num(thaw.get("thawEnd"))}
    rewards_by_model = s[("HostSlashed", "reward", "model")]
    return {"positions": positions, "fees": s[("VoucherSettled", "amount", "model")],
            "slash_revenue": {m: v - rewards_by_model.get(m, 0)
                              for m, v in s[("HostSlashed", "slashed", "model")].items()},
            "revenue_withdrawn": s[("RevenueWithdrawn", "amount", "model")],
            "prover_rewards": s[("HostSlashed", "reward", "prover")],
            "prover_withdrawn": s[("RewardWithdrawn", "amount", "prover")]}


def _comparator(order: str):
    """A cmp function for EventRows that orders as the SQL `order` clause would (NULLs first when ascending)."""
    terms = [t.split() for t in parse_order(order).split(", ")]

    def cmp(a: EventRow, b: EventRow) -> int:
        for col, direction in terms:
            x, y = getattr(a, col), getattr(b, col)
            if x == y:
                continue
            less = (y is not None) if x is None else (y is not None and x < y)
            return (-1 if less else 1) * (1 if direction == "ASC" else -1)
        return 0
    return cmp


def _slash_row(e: EventRow) -> dict:
    a = e.args
    return {"model_id": e.model_id, "host": e.host, "prover": a["prover"], "index": _num(a["index"]),
            "slashed": _num(a["slashed"]), "reward": _num(a["reward"]), "time": e.time, "block": e.block, "tx": e.tx}
