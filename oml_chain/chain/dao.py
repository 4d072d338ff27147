"""Community ownership (contracts/README.md, "Community ownership"): a model owned by a DAO of shareholders.

A community is four contracts made by `CommunityFactory` in one transaction: `ModelShares` (ERC20Votes,
timestamp clock, fixed supply), `RevenueVault` (the model's revenue recipient; pro-rata claims), an
OpenZeppelin `TimelockController` (the model's owner in OML) and `ModelGovernor` (the timelock's only
proposer). Every owner call of OML then goes propose → vote → queue → delay → execute.

`CommunityClient` is an `OMLContract` on OML that also holds clients of the factory and of one community's
contracts, all signing with one key; reverts of any of them decode to the errors of all of them (a
proposal's execution bubbles up OML's own error through the timelock).

Proposals are identified as OpenZeppelin's Governor does: `hashProposal(targets, values, calldatas,
keccak(description))`; `queue` and `execute` need those four values, which are rebuilt here from the
proposal's `ProposalCreated` event, so nothing has to be stored off chain.

Actions are built from a small vocabulary of OML owner calls, each with a human-readable description
("set price of model 3 to 2000 gwei"); a proposal's description is their descriptions, one per line,
unless the proposer gives one.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Iterable, Sequence

from eth_utils import is_address, keccak, to_checksum_address
from web3 import Web3

from .client import OMLContract, TxResult, _outputs
from .eip712 import Signer
from .errors import ERROR_TABLE, ConfigError, ContractStateError, RevertDecoder
from .types import ZERO_ADDRESS, AbiStruct, ModelParams, StakeTerms, check_uints

SHARES, VAULT, GOVERNOR, TIMELOCK, FACTORY = ("ModelShares", "RevenueVault", "ModelGovernor", "TimelockController",
                                              "CommunityFactory")
DEPLOYERS = ("SharesDeployer", "VaultDeployer", "TimelockDeployer", "GovernorDeployer")
COMMUNITY_CONTRACTS = (SHARES, VAULT, GOVERNOR, TIMELOCK, FACTORY, *DEPLOYERS)

# OpenZeppelin IGovernor.ProposalState, in enum order.
PROPOSAL_STATES = ("Pending", "Active", "Canceled", "Defeated", "Succeeded", "Queued", "Expired", "Executed")
OPEN_STATES = frozenset({"Pending", "Active", "Succeeded", "Queued"})
SUPPORT = {"against": 0, "for": 1, "abstain": 2}  # GovernorCountingSimple
ACC_SCALE = 10**27  # RevenueVault.accRewardPerShare units
ACC_INITIAL = 1  # RevenueVault.accRewardPerShare before any pull (an unwritten record counts as paid up to it)


# --- structs ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DaoParams(AbiStruct):
    """What a community is made with (`createCommunityModel`, `convertModel`); field order is the ABI's.

    `amounts` are share base units (18 decimals). `voting_delay` / `voting_period` / `timelock_delay` are
    seconds (the shares' clock is the block timestamp); `quorum_percent` is the share of the supply that
    must vote for or abstain (OpenZeppelin quorum fraction, denominator 100). Only types and sizes are
    checked here; the contracts check the rest and their errors come back by name (SharesZeroAmount,
    SharesDuplicateContributor, GovernorInvalidQuorumFraction, FactoryDelayBelowUnbonding, ...).
    """

    name: str
    symbol: str
    holders: tuple[str, ...]
    amounts: tuple[int, ...]
    voting_delay: int
    voting_period: int
    proposal_threshold: int = 0
    quorum_percent: int = 10
    timelock_delay: int = 86_400

    def __post_init__(self) -> None:
        object.__setattr__(self, "holders", tuple(self.holders))
        object.__setattr__(self, "amounts", tuple(self.amounts))
        for h in self.holders:  # (tuples first: a generator would be used up by this check)
            if not isinstance(h, str) or not is_address(h):
                raise ConfigError(f"a holder must be a 0x-address, got {h!r}")
        object.__setattr__(self, "holders", tuple(to_checksum_address(h) for h in self.holders))
        check_uints(self, (("voting_delay", 48), ("voting_period", 32), ("proposal_threshold", 256),
                           ("quorum_percent", 256), ("timelock_delay", 256)))
        for a in self.amounts:
            if not isinstance(a, int) or isinstance(a, bool) or not 0 <= a < 1 << 256:
                raise ConfigError(f"a share amount must be a non-negative integer (base units), got {a!r}")


@dataclass(frozen=True)
class Community(AbiStruct):
    """The contracts of one community (`communityOf`, `CommunityCreated`); all zero when there is none."""

    model_id: int
    shares: str
    vault: str
    governor: str
    timelock: str

    @property
    def exists(self) -> bool:
        return int(self.shares, 16) != 0

    def to_json(self) -> dict:
        return {"model_id": self.model_id, "shares": self.shares, "vault": self.vault, "governor": self.governor,
                "timelock": self.timelock}


@dataclass(frozen=True)
class Action:
    """One call the timelock will make: `target.call{value}(calldata)`, and what it does in words."""

    target: str
    value: int
    calldata: bytes
    description: str


@dataclass(frozen=True)
class Proposal:
    """A proposal as its `ProposalCreated` event and the governor's views tell it."""

    proposal_id: int
    proposer: str
    targets: tuple[str, ...]
    values: tuple[int, ...]
    calldatas: tuple[bytes, ...]
    description: str
    vote_start: int  # snapshot timepoint: votes are counted as delegated at this time
    vote_end: int  # voting closes after this timepoint
    block: int = 0
    state: str = ""
    against_votes: int = 0
    for_votes: int = 0
    abstain_votes: int = 0
    eta: int = 0  # when a queued proposal may be executed (0: not queued)

    @property
    def description_hash(self) -> bytes:
        return keccak(text=self.description)

    @property
    def open(self) -> bool:
        return self.state in OPEN_STATES

    def to_json(self) -> dict:
        return {"proposal_id": str(self.proposal_id), "proposer": self.proposer, "description": self.description,
                "state": self.state, "for": str(self.for_votes), "against": str(self.against_votes),
                "abstain": str(self.abstain_votes), "vote_start": self.vote_start, "vote_end": self.vote_end,
                "eta": self.eta, "targets": list(self.targets), "values": [str(v) for v in self.values],
                "calldatas": ["0x" + c.hex() for c in self.calldatas], "block": self.block}


@dataclass(frozen=True)
class Shareholder:
    account: str
    balance: int
    votes: int  # voting power now (delegated to this account)
    delegate: str  # whom this account delegates to (zero: nobody, so its shares do not vote)
    claimable: int  # wei claimable from the vault

    def to_json(self, supply: int) -> dict:
        return {"account": self.account, "balance": str(self.balance), "percent": percent(self.balance, supply),
                "votes": str(self.votes), "delegate": self.delegate, "claimable": str(self.claimable)}


@dataclass(frozen=True)
class VaultState:
    address: str
    balance: int  # wei held (claimable + dust + carry)
    total_pulled: int
    total_claimed: int
    acc_reward_per_share: int
    pending: int  # revenue of the community's model in OML not yet pulled

    def to_json(self) -> dict:
        return {k: (str(v) if isinstance(v, int) else v) for k, v in self.__dict__.items()}


def percent(part: int, whole: int) -> float:
    return round(100 * part / whole, 4) if whole else 0.0


def proposal_state_name(value: int) -> str:
    return PROPOSAL_STATES[value] if 0 <= value < len(PROPOSAL_STATES) else f"Unknown({value})"


def parse_support(value: str | int) -> int:
    """'for' / 'against' / 'abstain' (or 1 / 0 / 2) → GovernorCountingSimple's vote type."""
    if isinstance(value, int) and not isinstance(value, bool) and value in SUPPORT.values():
        return value
    v = str(value).strip().lower()
    if v in SUPPORT:
        return SUPPORT[v]
    raise ConfigError(f"support must be one of for, against, abstain; got {value!r}")


# --- artifacts and deployment ------------------------------------------------------------------------------


def community_abis(artifacts: dict | None = None) -> dict[str, list]:
    """ABIs of OML and the community contracts by name (from `artifacts`, else compiled from contracts/, cached)."""
    from .artifacts import compile_contracts

    arts = artifacts if artifacts is not None else compile_contracts()
    missing = [n for n in (*COMMUNITY_CONTRACTS, "OML") if n not in arts]
    if missing:
        raise ConfigError(f"the compiled contracts lack {', '.join(missing)}; contracts/community/ is missing or "
                          "incomplete in this checkout")
    return {n: arts[n].abi for n in (*COMMUNITY_CONTRACTS, "OML")}


def deploy_community_factory(w3: Web3, key: Signer | str | bytes, oml_address: str) -> str:
    """Deploy the four deployers and the CommunityFactory for `oml_address`, then point each deployer at the
    factory (`setFactory`, once). Returns the factory's address."""
    from .artifacts import load_artifact
    from .deploy import deploy_contract

    signer = key if isinstance(key, Signer) else Signer(key)
    deployers = [deploy_contract(w3, signer, load_artifact(name))[0] for name in DEPLOYERS]
    factory, _ = deploy_contract(w3, signer, load_artifact(FACTORY), to_checksum_address(oml_address), *deployers)
    for name, address in zip(DEPLOYERS, deployers):
        OMLContract(w3, address, signer, abi=load_artifact(name).abi).transact("setFactory", factory)
    return factory


# --- descriptions ------------------------------------------------------------------------------------------


def _decimal(units: int, scale: int) -> str:
    from decimal import Decimal

    text = f"{Decimal(int(units)) / Decimal(scale):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def format_wei(wei: int) -> str:
    """2000000000000 → '2000 gwei', 10**18 → '1 ETH', 5 → '5 wei' (exact; no rounding)."""
    wei = int(wei)
    if wei >= 10**15:
        return _decimal(wei, 10**18) + " ETH"
    if wei >= 10**6:
        return _decimal(wei, 10**9) + " gwei"
    return f"{wei} wei"


def format_shares(units: int, decimals: int = 18) -> str:
    """Share base units as shares: 50 * 10**18 → '50', 5 * 10**17 → '0.5'."""
    return _decimal(units, 10**decimals)


def _bps(bps: int) -> str:
    return f"{bps / 100:g}%"


# --- the client ------------------------------------------------------------------------------------------


class CommunityClient(OMLContract):
    """OML plus the community factory and (once bound) one community's shares, vault, governor and timelock.

    `community` is bound by `create`, `convert`, `open(model_id)` or the constructor. Reads need no key;
    transactions are signed with `private_key` (the shareholder, proposer or voter).
    """

    def __init__(self, w3: Web3, oml_address: str, factory_address: str,
                 private_key: bytes | str | Signer | None = None, community: Community | None = None,
                 from_block: int = 0, abis: dict[str, list] | None = None, **kw):
        self.abis = abis or community_abis()
        super().__init__(w3, oml_address, private_key, abi=self.abis["OML"], **kw)
        all_errors = [i for name in ("OML", *COMMUNITY_CONTRACTS) for i in self.abis[name] if i.get("type") == "error"]
        self.decoder = RevertDecoder(all_errors, ERROR_TABLE)
        self.from_block = from_block
        self.factory = self._sub(FACTORY, factory_address)
        self.community: Community | None = None
        self.shares = self.vault = self.governor = self.timelock = None
        if community is not None:
            self.bind(community)

    def _sub(self, name: str, address: str) -> OMLContract:
        cls = _GovernorContract if name == GOVERNOR else OMLContract
        c = cls(self.w3, address, self.signer, abi=self.abis[name], receipt_timeout=self.receipt_timeout,
                gas_margin=self.gas_margin)
        c.decoder = self.decoder
        return c

    def bind(self, community: Community) -> CommunityClient:
        if not community.exists:
            raise ConfigError(f"no community for model {community.model_id}")
        self.community = community
        self.shares = self._sub(SHARES, community.shares)
        self.vault = self._sub(VAULT, community.vault)
        self.governor = self._sub(GOVERNOR, community.governor)
        self.timelock = self._sub(TIMELOCK, community.timelock)
        return self

    def _bound(self) -> Community:
        if self.community is None:
            raise ConfigError("this client is bound to no community; create one or open(model_id) first")
        return self.community

    # --- finding communities ---------------------------------------------------------------------------
    def community_of(self, model_id: int) -> Community:
        """The factory's record for `model_id` (all zero when the factory made none for it)."""
        raw = self.factory.call("communityOf", model_id)
        return _community(Community.from_abi(raw, _outputs(self.factory.abi, "communityOf")))

    def communities(self) -> list[Community]:
        """Every community the factory made (CommunityCreated), oldest first."""
        return [_community(Community(int(e.args["modelId"]), e.args["shares"], e.args["vault"], e.args["governor"],
                                     e.args["timelock"]))
                for e in self.factory.events("CommunityCreated", self.from_block)]

    def find(self, model_id: int) -> Community | None:
        """The community that owns `model_id`: the factory's record, else (a version the community registered
        by vote) the community whose timelock is the model's owner. None for a model no community owns."""
        c = self.community_of(model_id)
        owner = self.get_model(model_id).owner
        if c.exists and c.timelock == owner:
            return c
        for c in self.communities():
            if c.timelock == owner:
                return c
        return None

    def open(self, model_id: int) -> CommunityClient:
        """Bind to the community that owns `model_id` (ConfigError naming the owner when none does)."""
        c = self.find(model_id)
        if c is None:
            owner = self.get_model(model_id).owner
            raise ConfigError(f"model {model_id} is not community-owned (its owner is {owner}); create one with "
                              f"`oml dao create` or convert it with `oml dao convert --model-id {model_id}`")
        return self.bind(c)

    def open_for_proposal(self, proposal_id: int) -> CommunityClient:
        """Bind to the community whose governor knows `proposal_id`."""
        for c in self.communities():
            gov = self._sub(GOVERNOR, c.governor)
            if gov.call("proposalSnapshot", proposal_id) != 0:
                return self.bind(c)
        raise ConfigError(f"no community governor knows proposal {proposal_id}; check the id (`oml dao status`)")

    # --- creation and conversion -----------------------------------------------------------------------
    def create(self, model: ModelParams, dao: DaoParams, delegate: bool = True) -> Community:
        """Register `model` owned by a new community (revenue recipient: its vault, whatever `model` says);
        then, unless `delegate` is False, delegate this account's votes to itself if it holds shares."""
        tx = self.factory.transact("createCommunityModel", model.to_abi(), dao.to_abi())
        c = self._created(tx)
        self.bind(c)
        if delegate and self.account in dao.holders:
            self.delegate()
        return c

    def convert(self, model_id: int, dao: DaoParams, delegate: bool = True) -> Community:
        """Hand a single-owner model to a new community: `reserveConversion`, `OML.transferModelOwnership` to
        the factory, `convertModel` (the three transactions of the spec, from the owner's key). Resumes
        after an interruption: a model the factory already owns only needs `convertModel`."""
        owner = self.get_model(model_id).owner
        if owner == self.account:
            self.factory.transact("reserveConversion", model_id)
            self.transact("transferModelOwnership", model_id, self.factory.address)
        c = self._created(self.factory.transact("convertModel", model_id, dao.to_abi()))
        self.bind(c)
        if delegate and self.account in dao.holders:
            self.delegate()
        return c

    @staticmethod
    def _created(tx: TxResult) -> Community:
        ev = tx.event("CommunityCreated")
        return _community(Community(int(ev.args["modelId"]), ev.args["shares"], ev.args["vault"],
                                    ev.args["governor"], ev.args["timelock"]))

    # --- shares ----------------------------------------------------------------------------------------
    def delegate(self, to: str | None = None) -> TxResult:
        """Delegate this account's votes (to itself by default); shares vote only once delegated."""
        self._bound()
        return self.shares.transact("delegate", to_checksum_address(to) if to else self.account)

    def transfer_shares(self, to: str, amount: int) -> TxResult:
        self._bound()
        return self.shares.transact("transfer", to_checksum_address(to), amount)

    def share_balance(self, account: str) -> int:
        self._bound()
        return self.shares.call("balanceOf", to_checksum_address(account))

    def total_supply(self) -> int:
        self._bound()
        return self.shares.call("totalSupply")

    def votes(self, account: str) -> int:
        """Voting power of `account` now (shares delegated to it)."""
        self._bound()
        return self.shares.call("getVotes", to_checksum_address(account))

    def shareholders(self) -> list[Shareholder]:
        """Every account that ever received shares (Transfer events) and still holds some or has revenue to
        claim (a seller keeps what its shares earned before the sale), largest holding first."""
        self._bound()
        seen: dict[str, None] = {}
        for e in self.shares.events("Transfer", self.from_block):
            if int(e.args["to"], 16) != 0:
                seen[to_checksum_address(e.args["to"])] = None
        rows = []
        for account in seen:
            bal, claimable = self.shares.call("balanceOf", account), self.vault.call("claimableOf", account)
            if bal == 0 and claimable == 0:
                continue
            rows.append(Shareholder(account, bal, self.shares.call("getVotes", account),
                                    to_checksum_address(self.shares.call("delegates", account)), claimable))
        return sorted(rows, key=lambda r: (-r.balance, r.account))

    # --- vault -----------------------------------------------------------------------------------------
    def pull(self, model_id: int | None = None) -> int:
        """Move the model's revenue from OML into the vault and distribute it pro rata; returns the wei pulled."""
        mid = self._bound().model_id if model_id is None else model_id
        return int(self.vault.transact("pull", mid).event("RevenuePulled").args["amount"])

    def claim(self) -> int:
        """Pay this account's claimable revenue; returns the wei paid."""
        self._bound()
        return int(self.vault.transact("claim").event("RevenueClaimed").args["amount"])

    def claimable(self, account: str | None = None) -> int:
        self._bound()
        return self.vault.call("claimableOf", to_checksum_address(account) if account else self.account)

    def vault_state(self) -> VaultState:
        c = self._bound()
        return VaultState(c.vault, self.balance(c.vault), self.vault.call("totalPulled"),
                          self.vault.call("totalClaimed"), self.vault.call("accRewardPerShare"),
                          self.revenue_of(c.model_id))

    # --- actions -----------------------------------------------------------------------------------------
    def _action(self, description: str, fn: str, *args) -> Action:
        data = self.contract.encode_abi(fn, args=list(args))
        return Action(self.address, 0, bytes.fromhex(data[2:]), description)

    def action_set_price(self, model_id: int, price_per_query: int) -> Action:
        if not 0 <= price_per_query < 1 << 128:
            raise ConfigError(f"price per query must be in [0, 2**128) wei, got {price_per_query}")
        return self._action(f"set price of model {model_id} to {format_wei(price_per_query)}", "setPrice", model_id,
                            price_per_query)

    def action_set_stake_terms(self, model_id: int, min_host_stake: int | None = None, slash_bps: int | None = None,
                               prover_share_bps: int | None = None, unbonding_delay: int | None = None) -> Action:
        """New stake terms; values left None keep the latest announced ones (pending, else in force)."""
        from .registration import check_stake_terms, format_duration

        pending = self.pending_stake_terms(model_id)
        base = pending.value if pending is not None else self.get_model(model_id).stake_terms
        changes = {k: v for k, v in dict(min_host_stake=min_host_stake, slash_bps=slash_bps,
                                          prover_share_bps=prover_share_bps,
                                          unbonding_delay=unbonding_delay).items() if v is not None}
        if not changes:
            raise ConfigError("give at least one stake term to change (min stake, slash bps, prover share bps, "
                              "unbonding delay)")
        t: StakeTerms = check_stake_terms(replace(base, **changes))
        return self._action(f"set stake terms of model {model_id} to min stake {format_wei(t.min_host_stake)}, "
                            f"slash {_bps(t.slash_bps)}, prover share {_bps(t.prover_share_bps)}, unbonding "
                            f"{format_duration(t.unbonding_delay)}", "setStakeTerms", model_id, t.to_abi())

    def action_set_permission_signer(self, model_id: int, signer: str) -> Action:
        signer = _address(signer, "permission signer")
        return self._action(f"set permission signer of model {model_id} to {signer} (the current one is retired)",
                            "setPermissionSigner", model_id, signer)

    def action_set_revenue_recipient(self, model_id: int, recipient: str) -> Action:
        recipient = _address(recipient, "revenue recipient")
        where = " (the community vault)" if self.community and recipient == self.community.vault else ""
        return self._action(f"set revenue recipient of model {model_id} to {recipient}{where}",
                            "setRevenueRecipient", model_id, recipient)

    def action_set_active(self, model_id: int, active: bool) -> Action:
        return self._action(f"{'activate' if active else 'deactivate'} model {model_id}", "setActive", model_id,
                            bool(active))

    def action_set_metadata_uri(self, model_id: int, uri: str) -> Action:
        return self._action(f"set metadata URI of model {model_id} to {uri}", "setMetadataURI", model_id, uri)

    def action_register_version(self, model_id: int, weights_hash: bytes, fingerprint_root: bytes,
                                fingerprint_count: int, metadata_uri: str | None = None) -> Action:
        """Register a new version of `model_id`: new weights and fingerprints, the same terms as in force now,
        owned by the timelock (the caller of registerModel) and paying the community's vault."""
        c = self._bound()
        m = self.get_model(model_id)
        params = ModelParams(weights_hash=bytes(weights_hash), metadata_uri=metadata_uri or m.metadata_uri,
                             fingerprint_root=bytes(fingerprint_root), fingerprint_count=fingerprint_count,
                             price_per_query=m.price_per_query, permission_signer=m.permission_signer,
                             min_host_stake=m.min_host_stake, slash_bps=m.slash_bps,
                             prover_share_bps=m.prover_share_bps, unbonding_delay=m.unbonding_delay,
                             revenue_recipient=c.vault, notice_period=m.notice_period)
        return self._action(f"register a new version of model {model_id}: weights 0x{params.weights_hash.hex()}, "
                            f"{fingerprint_count} fingerprints (root 0x{params.fingerprint_root.hex()}), revenue to "
                            f"the community vault {c.vault}", "registerModel", params.to_abi())

    # --- governance --------------------------------------------------------------------------------------
    def propose(self, actions: Sequence[Action], description: str | None = None) -> Proposal:
        """Propose `actions`; the description defaults to their descriptions, one per line. Returns the
        proposal (its id is OpenZeppelin's hashProposal of the four values)."""
        self._bound()
        if not actions:
            raise ConfigError("a proposal needs at least one action")
        text = description if description else "\n".join(a.description for a in actions)
        tx = self.governor.transact("propose", [a.target for a in actions], [a.value for a in actions],
                                    [a.calldata for a in actions], text)
        pid = int(tx.event("ProposalCreated").args["proposalId"])
        return self.proposal(pid)

    def vote(self, proposal_id: int, support: str | int, reason: str = "") -> TxResult:
        self._bound()
        s = parse_support(support)
        if reason:
            return self.governor.transact("castVoteWithReason", proposal_id, s, reason)
        return self.governor.transact("castVote", proposal_id, s)

    def queue(self, proposal_id: int) -> Proposal:
        """Queue a succeeded proposal in the timelock; it may be executed at the returned proposal's eta."""
        p = self._created_proposal(proposal_id)
        self.governor.transact("queue", list(p.targets), list(p.values), list(p.calldatas), p.description_hash)
        return self.proposal(proposal_id)

    def execute(self, proposal_id: int) -> TxResult:
        """Execute a queued proposal after the timelock delay (anyone may); the result's events include OML's
        (e.g. PriceChangeScheduled, ModelRegistered) as well as the governor's."""
        p = self._created_proposal(proposal_id)
        tx = self.governor.transact("execute", list(p.targets), list(p.values), list(p.calldatas),
                                    p.description_hash, value=sum(p.values))
        receipt = self._rpc(lambda: self.w3.eth.get_transaction_receipt(tx.tx_hash))
        return TxResult(tx.tx_hash, tx.block_number, tx.gas_used, [*tx.events, *self.decode_events(receipt)])

    def state(self, proposal_id: int) -> str:
        """Pending / Active / Canceled / Defeated / Succeeded / Queued / Expired / Executed."""
        self._bound()
        return proposal_state_name(self.governor.call("state", proposal_id))

    def _created_proposal(self, proposal_id: int) -> Proposal:
        self._bound()
        for p in self._proposal_events():
            if p.proposal_id == proposal_id:
                return p
        raise ConfigError(f"the governor {self.community.governor} has no proposal {proposal_id}")

    def _proposal_events(self) -> list[Proposal]:
        abi = next(e for e in self.governor.abi if e.get("type") == "event" and e["name"] == "ProposalCreated")
        from eth_utils import event_abi_to_log_topic
        from web3._utils.events import get_event_data

        logs = self._rpc(lambda: self.w3.eth.get_logs({"address": self.governor.address, "fromBlock": self.from_block,
                                                        "toBlock": "latest", "topics": [event_abi_to_log_topic(abi)]}))
        out = []
        for log in logs:
            a = get_event_data(self.w3.codec, abi, log)["args"]
            out.append(Proposal(int(a["proposalId"]), to_checksum_address(a["proposer"]),
                                tuple(to_checksum_address(t) for t in a["targets"]), tuple(int(v) for v in a["values"]),
                                tuple(bytes(c) for c in a["calldatas"]), a["description"], int(a["voteStart"]),
                                int(a["voteEnd"]), int(log["blockNumber"])))
        return out

    def _with_state(self, p: Proposal) -> Proposal:
        against, for_, abstain = self.governor.call("proposalVotes", p.proposal_id)
        return replace(p, state=proposal_state_name(self.governor.call("state", p.proposal_id)),
                       against_votes=int(against), for_votes=int(for_), abstain_votes=int(abstain),
                       eta=int(self.governor.call("proposalEta", p.proposal_id)))

    def proposal(self, proposal_id: int) -> Proposal:
        """One proposal with its state, votes and eta."""
        return self._with_state(self._created_proposal(proposal_id))

    def proposals(self) -> list[Proposal]:
        """Every proposal of the community, oldest first, with state, votes and eta."""
        self._bound()
        return [self._with_state(p) for p in self._proposal_events()]

    def governance_settings(self) -> dict[str, Any]:
        self._bound()
        g = self.governor
        return {"voting_delay": g.call("votingDelay"), "voting_period": g.call("votingPeriod"),
                "proposal_threshold": g.call("proposalThreshold"), "quorum_percent": g.call("quorumNumerator"),
                "timelock_delay": self.timelock.call("getMinDelay")}


class _GovernorContract(OMLContract):
    """The governor: a GovernorUnexpectedProposalState revert names the states instead of their numbers."""

    def _reraise(self, exc: Exception):
        try:
            super()._reraise(exc)
        except ContractStateError as err:
            if err.error != "GovernorUnexpectedProposalState":
                raise
            v = err.values
            bits = int.from_bytes(bytes(v["expectedStates"]), "big")
            wanted = [name for i, name in enumerate(PROPOSAL_STATES) if bits >> i & 1]
            hint = (f"proposal {v['proposalId']} is {proposal_state_name(int(v['current']))}, but this needs it "
                    f"{' or '.join(wanted) or 'in another state'}; check `oml dao status`")
            raise ContractStateError(err.error, {**v, "expectedStates": "0x" + bytes(v["expectedStates"]).hex()},
                                     hint.replace("{", "{{").replace("}", "}}")) from exc


def _community(c: Community) -> Community:
    return Community(int(c.model_id), to_checksum_address(c.shares), to_checksum_address(c.vault),
                     to_checksum_address(c.governor), to_checksum_address(c.timelock))


def _address(value: str, what: str) -> str:
    if not isinstance(value, str) or not is_address(value) or int(value, 16) == 0:
        raise ConfigError(f"the {what} must be a non-zero 0x-address, got {value!r}")
    return to_checksum_address(value)


def split_holders(pairs: Iterable[str], decimals: int = 18) -> tuple[list[str], list[int]]:
    """['0xabc…=50', '0xdef…=0.5'] → addresses and amounts in base units (amounts are whole or decimal shares).
    Duplicates and zero amounts are passed on: the shares contract refuses them by name."""
    from decimal import Decimal, InvalidOperation

    holders, amounts = [], []
    for pair in pairs:
        address, sep, amount = str(pair).partition("=")
        if not sep:
            raise ConfigError(f"--holder must be ADDRESS=AMOUNT (shares), got {pair!r}")
        holders.append(_holder(address.strip(), pair))
        try:
            value = Decimal(amount.strip()) * 10**decimals
        except InvalidOperation:
            raise ConfigError(f"--holder amount must be a number of shares such as 50 or 0.5, got {pair!r}") from None
        if value < 0 or value != int(value):
            raise ConfigError(f"--holder amount must be non-negative with at most {decimals} decimals, got {pair!r}")
        amounts.append(int(value))
    return holders, amounts


def _holder(address: str, pair: str) -> str:
    if not is_address(address):
        raise ConfigError(f"--holder address must be a 0x-address (40 hex digits), got {pair!r}")
    return to_checksum_address(address)


__all__ = ["Action", "Community", "CommunityClient", "DaoParams", "Proposal", "Shareholder", "VaultState",
           "PROPOSAL_STATES", "SUPPORT", "ZERO_ADDRESS", "deploy_community_factory", "community_abis",
           "format_wei", "format_shares", "parse_support", "split_holders", "percent"]
