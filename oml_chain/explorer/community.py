"""A community's state replayed from its contracts' events (shares, vault, governor), for the model page:

- shareholders: balances from Transfer, votes from DelegateVotesChanged, delegates from DelegateChanged;
- claimable revenue: the RevenueVault's arithmetic (contracts/README.md, RevenueVault): acc starts at 1 and
  grows by (amount × 1e27 + carry) / supply at each pull; every transfer but the mint credits both sides with
  balance × (acc − paid) / 1e27; a claim pays what is credited and pending;
- proposals: OpenZeppelin Governor's state() over ProposalCreated / VoteCast / ProposalQueued /
  ProposalExecuted / ProposalCanceled, the quorum fraction (QuorumNumeratorUpdated) and the supply at the
  proposal's snapshot.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Iterable

from .db import EventRow

ZERO = "0x0000000000000000000000000000000000000000"
ACC_SCALE, ACC_INITIAL = 10**27, 1  # RevenueVault


def _num(v) -> int:
    """A JSON arg (int, or a decimal string for big values) as an int (0 when absent)."""
    return int(v) if v is not None else 0


def replay_community(c: dict, events: Iterable[EventRow], now: int) -> dict:
    """The state of community `c` (CommunityCreated's addresses) after `events` of its shares, vault and
    governor in chain order; `now` decides the state of proposals still open."""
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
    for e in events:
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
