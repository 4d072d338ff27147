"""Host staking: stake, top up, signer/endpoint, unbond, withdraw after unbonding + reveal window."""

from __future__ import annotations

import pytest
from chain_world import DELAY, MIN_STAKE

from oml_chain.chain.eip712 import Signer
from oml_chain.chain.errors import ContractLookupError, ContractStateError, ContractValueError
from oml_chain.chain.types import ZERO_ADDRESS

pytestmark = pytest.mark.chain


def test_stake_top_up_and_views(world):
    mid, h = world.model_id, world.host
    ev = h.stake(mid, MIN_STAKE, "https://a").event("HostStaked").args
    assert ev == {"modelId": mid, "host": h.account, "amount": MIN_STAKE, "totalStake": MIN_STAKE}
    assert h.is_active_host(mid, h.account)
    ev = h.stake(mid, 5, "https://b").event("HostStaked").args
    assert ev["totalStake"] == MIN_STAKE + 5
    s = h.get_stake(mid, h.account)
    assert (s.amount, s.unbonding_end, s.attestation_signer, s.endpoint) == (
        MIN_STAKE + 5, 0, h.attestation_signer.address, "https://b")
    assert h.set_endpoint(mid, "https://c").event("EndpointUpdated").args["endpoint"] == "https://c"
    assert h.get_stake(mid, h.account).endpoint == "https://c"
    assert not h.is_active_host(mid, world.other.account)


def test_stake_reverts(world):
    mid, h = world.model_id, world.host
    with pytest.raises(ContractValueError) as exc:
        h.stake(mid, MIN_STAKE - 1)
    assert exc.value.error == "StakeBelowMinimum" and exc.value.values == {"amount": MIN_STAKE - 1,
                                                                            "minimum": MIN_STAKE}
    with pytest.raises(ContractValueError, match="StakeZeroAttestationSigner"):
        h.stake(mid, MIN_STAKE, attestation_signer=ZERO_ADDRESS)
    with pytest.raises(ContractLookupError, match="ModelNotFound"):
        h.stake(42, MIN_STAKE)
    for call in (lambda: h.request_unstake(mid), lambda: h.set_endpoint(mid, "x"),
                 lambda: h.set_attestation_signer(mid, world.other.account)):
        with pytest.raises(ContractLookupError) as exc:
            call()
        assert exc.value.error == "StakeNotFound" and exc.value.values == {"modelId": mid, "host": h.account}


def test_attestation_signer_rotation_limited(world):
    mid, h = world.model_id, world.host
    h.stake(mid, MIN_STAKE)
    old = h.attestation_signer.address
    new = Signer(b"\x07" * 32).address
    ev = h.set_attestation_signer(mid, new).event("AttestationSignerUpdated").args
    assert (ev["previousSigner"], ev["newSigner"]) == (old, new)
    assert h.call("getPreviousAttestationSigner", mid, h.account)[0] == old
    with pytest.raises(ContractStateError) as exc:
        h.set_attestation_signer(mid, old)
    assert exc.value.error == "StakeSignerRotationTooSoon"
    assert exc.value.values["allowedAt"] > exc.value.values["now"]
    with pytest.raises(ContractValueError, match="StakeZeroAttestationSigner"):
        h.set_attestation_signer(mid, ZERO_ADDRESS)


def test_unbond_then_withdraw_only_after_delay_and_reveal_window(world):
    mid, h = world.model_id, world.host
    h.stake(mid, MIN_STAKE)
    with pytest.raises(ContractStateError, match="StakeNotUnbonding"):
        h.withdraw_stake(mid)
    end = h.request_unstake(mid).event("UnstakeRequested").args["unbondingEnd"]
    assert end == world.now() + DELAY and h.get_stake(mid, h.account).unbonding_end == end
    assert not h.is_active_host(mid, h.account)
    with pytest.raises(ContractStateError) as exc:
        h.stake(mid, 1)
    assert exc.value.error == "StakeUnbonding" and exc.value.values["unbondingEnd"] == end
    with pytest.raises(ContractStateError, match="StakeUnbonding"):
        h.request_unstake(mid)
    window = h.reveal_window()
    assert window == 86_400
    world.mine(DELAY)  # unbonding over, but the reveal window is not
    with pytest.raises(ContractStateError) as exc:
        h.withdraw_stake(mid)
    assert exc.value.error == "StakeStillLocked" and exc.value.values["unlockTime"] == end + window
    world.mine(end + window - world.now())
    before = h.balance()
    r = h.withdraw_stake(mid)
    assert r.event("StakeWithdrawn").args["amount"] == MIN_STAKE
    gas_cost = before - h.balance() + MIN_STAKE
    assert 0 < gas_cost < 10**16
    assert h.get_stake(mid, h.account).amount == 0
    with pytest.raises(ContractStateError, match="StakeNotUnbonding"):  # the stake record is cleared
        h.withdraw_stake(mid)
