"""A community-owned model on the session's OML for the community tests: three holders (50/30/20 shares by
default), short voting (1 s delay, 60 s period; anvil time travel), revenue from fees and slashes, and a
reference model of the vault's arithmetic (contracts/README.md, RevenueVault) to compute exact wei."""

from __future__ import annotations

from dataclasses import dataclass, field

from chain_world import DELAY, ETH, MIN_STAKE, PRICE, PROVER_BPS, SLASH_BPS, World

from oml_chain.chain.dao import ACC_INITIAL, ACC_SCALE, Community, CommunityClient, DaoParams, community_abis

VOTING_DELAY, VOTING_PERIOD, QUORUM = 1, 60, 10
SHARE = 10**18  # one share in base units (18 decimals)
HOLDER_KEYS = (0, 7, 8)  # dev keys of holders A (the creator), B and C
SLASHED = MIN_STAKE * SLASH_BPS // 10_000
TREASURY = SLASHED - SLASHED * PROVER_BPS // 10_000  # what one slash adds to the model's revenue


def dao_params(holders, amounts, **over) -> DaoParams:
    base = dict(name="Tiny shares", symbol="TINY", holders=tuple(holders), amounts=tuple(amounts),
                voting_delay=VOTING_DELAY, voting_period=VOTING_PERIOD, proposal_threshold=0, quorum_percent=QUORUM,
                timelock_delay=DELAY)
    base.update(over)
    return DaoParams(**base)


@dataclass
class Dao:
    world: World
    factory: str
    abis: dict
    community: Community
    members: list[CommunityClient]  # clients of holders A, B, C, bound to the community
    amounts: tuple[int, ...]

    @property
    def model_id(self) -> int:
        return self.community.model_id

    def client(self, key: str) -> CommunityClient:
        return CommunityClient(self.world.w3, self.world.address, self.factory, key, community=self.community,
                               abis=self.abis)


def community_client(world: World, factory: str, key: str, abis: dict, community: Community | None = None):
    return CommunityClient(world.w3, world.address, factory, key, community=community, abis=abis)


def make_dao(world: World, factory: str, keys: list[str], artifacts: dict,
             shares: tuple[int, ...] = (50, 30, 20), delegate_all: bool = True, **dao_over) -> Dao:
    """Create a community model from `world.make_params()` held by dev keys 0, 7, 8 (`shares` whole shares);
    A self-delegates at creation, B and C delegate themselves when `delegate_all`; `dao_over` overrides
    `dao_params`."""
    abis = community_abis(artifacts)
    holder_keys = [keys[i] for i in HOLDER_KEYS[:len(shares)]]
    clients = [community_client(world, factory, k, abis) for k in holder_keys]
    amounts = tuple(s * SHARE for s in shares)
    c = clients[0].create(world.make_params(), dao_params([x.account for x in clients], amounts, **dao_over))
    for x in clients[1:]:
        x.bind(c)
        if delegate_all:
            x.delegate()
    return Dao(world, factory, abis, c, clients, amounts)


def earn_fees(world: World, model_id: int, count: int, host=None) -> int:
    """The host stakes (first time) with 1 ETH of escrow and settles a voucher up to `count` queries at PRICE;
    returns the revenue it added."""
    host = host or world.host
    if world.host.get_stake(model_id, host.account).amount == 0:
        host.stake(model_id, MIN_STAKE, "https://host.example")
        host.deposit_escrow(model_id, ETH)
    before = world.signer.settled_amount(model_id, host.account)
    amount = count * PRICE
    world.signer.settle(model_id, host.account, count, amount, host.sign_voucher(model_id, count, amount))
    return amount - before


def slash(world: World, model_id: int, index: int) -> int:
    """Prove the host served fingerprint `index` without permission; returns what it added to revenue."""
    world.prover.prove(world.evidence(index, model_id=model_id), timeout=30)
    return TREASURY


@dataclass
class VaultModel:
    """The RevenueVault's arithmetic in Python (spec: acc starts at 1, acc += (amount × 1e27 + carry) / supply,
    carry the rest; claimable = credited + balance × (acc − paid) / 1e27, credited at every transfer; an account
    never credited counts as paid up to the initial 1)."""

    balances: dict[str, int]
    acc: int = ACC_INITIAL
    carry: int = 0
    paid: dict[str, int] = field(default_factory=dict)
    credited: dict[str, int] = field(default_factory=dict)

    def pull(self, amount: int) -> None:
        num = amount * ACC_SCALE + self.carry
        supply = sum(self.balances.values())
        self.acc += num // supply
        self.carry = num % supply

    def _credit(self, a: str) -> None:
        self.credited[a] = self.claimable(a)
        self.paid[a] = self.acc

    def transfer(self, src: str, dst: str, amount: int) -> None:
        self._credit(src)
        self._credit(dst)
        self.balances[src] -= amount
        self.balances[dst] = self.balances.get(dst, 0) + amount

    def claimable(self, a: str) -> int:
        pending = self.balances.get(a, 0) * (self.acc - self.paid.get(a, ACC_INITIAL)) // ACC_SCALE
        return self.credited.get(a, 0) + pending

    def claim(self, a: str) -> int:
        self._credit(a)
        amount, self.credited[a] = self.credited[a], 0
        return amount
