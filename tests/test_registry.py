"""Model registry: registration, owner-only updates, reverts with decoded values."""

from __future__ import annotations

import pytest

from oml_chain.chain.errors import ContractLookupError, ContractPermissionError, ContractStateError, ContractValueError
from oml_chain.chain.types import ZERO_ADDRESS

pytestmark = pytest.mark.chain


def test_register_returns_increasing_ids_and_stores_params(world):
    m = world.owner.get_model(world.model_id)
    assert world.model_id == 1
    p = world.params
    assert (m.weights_hash, m.metadata_uri, m.fingerprint_root, m.fingerprint_count) == (
        p.weights_hash, p.metadata_uri, p.fingerprint_root, p.fingerprint_count)
    assert (m.price_per_query, m.permission_signer, m.min_host_stake, m.slash_bps, m.prover_share_bps,
            m.unbonding_delay, m.revenue_recipient) == (p.price_per_query, p.permission_signer, p.min_host_stake,
                                                        p.slash_bps, p.prover_share_bps, p.unbonding_delay,
                                                        p.revenue_recipient)
    assert m.notice_period == p.notice_period == 3_600
    assert m.owner == world.owner.account and m.active is True
    second = world.host.transact("registerModel", world.make_params(metadata_uri="x").to_abi())
    ev = second.event("ModelRegistered").args
    assert ev["modelId"] == 2 and ev["owner"] == world.host.account and ev["metadataURI"] == "x"
    assert world.owner.model_count() == 2


BAD_PARAMS = [
    (dict(slash_bps=10_001), "ModelBpsOutOfRange", {"bps": 10_001}),
    (dict(prover_share_bps=10_001), "ModelProverShareTooHigh", {"bps": 10_001, "max": 5_000}),
    (dict(slash_bps=0), "ModelZeroSlashBps", {}),
    (dict(permission_signer=ZERO_ADDRESS), "ModelZeroPermissionSigner", {}),
    (dict(revenue_recipient=ZERO_ADDRESS), "ModelZeroRevenueRecipient", {}),
    (dict(fingerprint_root=b"\x00" * 32), "ModelZeroFingerprintRoot", {}),
    (dict(fingerprint_count=0), "ModelZeroFingerprintCount", {}),
    (dict(min_host_stake=0), "ModelZeroMinHostStake", {}),
]


@pytest.mark.parametrize("over,error,values", BAD_PARAMS, ids=[f"{e}-{list(o)[0]}" for o, e, _ in BAD_PARAMS])
def test_register_reverts(world, over, error, values):
    # bypass the client-side range check for bps > 10000 to reach the contract's own check
    from oml_chain.chain.types import _camel

    params = world.make_params().to_abi()
    params.update({("metadataURI" if k == "metadata_uri" else _camel(k)): v for k, v in over.items()})
    with pytest.raises(ContractValueError) as exc:
        world.owner.transact("registerModel", params)
    assert exc.value.error == error and exc.value.values == values


def test_client_side_validation_names_the_field(world):
    with pytest.raises(ValueError, match="slash_bps"):
        world.make_params(slash_bps=20_000)
    with pytest.raises(ValueError, match="weights_hash must be 32 bytes"):
        world.make_params(weights_hash=b"x")


def test_owner_updates_emit_events(world):
    mid, o = world.model_id, world.owner
    ev = o.set_price(mid, 7).event("PriceChangeScheduled").args
    assert ev == {"modelId": mid, "oldPrice": 10**12, "newPrice": 7, "effectiveAt": world.now() + 3_600}
    assert o.pending_price(mid).value == 7 and o.pending_price(mid).effective_at == ev["effectiveAt"]
    assert o.get_model(mid).price_per_query == 10**12  # announced, not yet in force
    world.mine(3_600)
    assert o.pending_price(mid) is None
    assert o.set_permission_signer(mid, world.other.account).event("PermissionSignerUpdated").args["newSigner"] \
        == world.other.account
    assert o.set_metadata_uri(mid, "ipfs://v2").event("MetadataURIUpdated").args["metadataURI"] == "ipfs://v2"
    assert o.set_active(mid, False).event("ModelActiveSet").args["active"] is False
    m = o.get_model(mid)
    assert (m.price_per_query, m.permission_signer, m.metadata_uri, m.active) == (7, world.other.account,
                                                                                "ipfs://v2", False)
    r = o.transfer_model_ownership(mid, world.host.account).event("ModelOwnershipTransferred").args
    assert r["newOwner"] == world.host.account and o.get_model(mid).owner == world.host.account


ONLY_OWNER = [("set_price", (5,)), ("set_permission_signer", (None,)), ("set_metadata_uri", ("u",)),
              ("set_active", (False,)), ("transfer_model_ownership", (None,)), ("set_revenue_recipient", (None,)),
              ("set_stake_terms", ("terms",))]


@pytest.mark.parametrize("method,args", ONLY_OWNER, ids=[m for m, _ in ONLY_OWNER])
def test_owner_only(world, method, args):
    from oml_chain.chain.roles import OwnerClient

    intruder = OwnerClient(world.w3, world.address, world.other.signer, abi=world.abi)
    from oml_chain.chain.types import StakeTerms

    terms = StakeTerms(world.params.min_host_stake, 100, 0, world.params.unbonding_delay)
    args = tuple(world.other.account if a is None else terms if a == "terms" else a for a in args)
    with pytest.raises(ContractPermissionError) as exc:
        getattr(intruder, method)(world.model_id, *args)
    assert exc.value.error == "ModelNotOwner"
    assert exc.value.values == {"modelId": world.model_id, "caller": world.other.account,
                                "owner": world.owner.account}
    assert isinstance(exc.value, PermissionError)


def test_unknown_model_and_zero_owner(world):
    with pytest.raises(ContractLookupError) as exc:
        world.owner.get_model(99)
    assert exc.value.values == {"modelId": 99} and isinstance(exc.value, LookupError)
    with pytest.raises(ContractLookupError, match="ModelNotFound"):
        world.owner.set_price(99, 1)
    with pytest.raises(ContractValueError, match="ModelZeroOwner"):
        world.owner.transfer_model_ownership(world.model_id, ZERO_ADDRESS)


def test_inactive_model_takes_no_new_stake(world):
    world.owner.set_active(world.model_id, False)
    with pytest.raises(ContractStateError) as exc:
        world.host.stake(world.model_id, world.params.min_host_stake)
    assert exc.value.error == "ModelInactive" and exc.value.values == {"modelId": world.model_id}
