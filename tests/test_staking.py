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


def test_attestation_signer_rotation_keeps_every_replaced_signer(world):
    mid, h = world.model_id, world.host
    h.stake(mid, MIN_STAKE)
    old = h.attestation_signer.address
    new = Signer(b"\x07" * 32).address
    r = h.set_attestation_signer(mid, new)
    ev = r.event("AttestationSignerUpdated").args
    assert (ev["previousSigner"], ev["newSigner"]) == (old, new)
    until = world.w3.eth.get_block(r.block_number)["timestamp"] + h.reveal_window()
    assert h.attestation_signer_valid_until(mid, h.account, old) == until
    assert h.attestation_signer_valid_until(mid, h.account, new) == 0
    h.set_attestation_signer(mid, old)  # no rate limit: rotating back at once is allowed ...
    assert h.attestation_signer_valid_until(mid, h.account, new) >= until  # ... and every replaced key is kept
    assert h.get_stake(mid, h.account).attestation_signer == old
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


@pytest.mark.parametrize("field,value,error", [
    ("unbonding_delay", 0, "ModelUnbondingDelayOutOfRange"),
    ("unbonding_delay", 86_399, "ModelUnbondingDelayOutOfRange"),
    ("unbonding_delay", 366 * 86_400, "ModelUnbondingDelayOutOfRange"),
    ("notice_period", 0, "ModelNoticePeriodOutOfRange"),
    ("notice_period", 3_599, "ModelNoticePeriodOutOfRange"),
    ("notice_period", 31 * 86_400, "ModelNoticePeriodOutOfRange"),
    ("min_host_stake", 1, "ModelMinStakeTooSmall"),
    ("prover_share_bps", 5_001, "ModelProverShareTooHigh"),
])
def test_absurd_delays_and_rounding_stakes_rejected(world, field, value, error):
    """Finding 6: a zero unbonding delay (unstake and pull escrow before settlement), a delay that locks funds
    for years, a notice period outside 1 h..30 d and a minimum stake whose slash rounds to zero are refused."""
    with pytest.raises(ContractValueError) as exc:
        world.owner.register_model(world.make_params(**{field: value}))
    assert exc.value.error == error


def test_stake_terms_change_with_notice_and_bounds(world):
    """Finding 8: bounded setters that take effect after the notice period; unbonding fixed at request time."""
    from chain_world import NOTICE, SLASH_BPS

    from oml_chain.chain.types import StakeTerms

    mid, o, h = world.model_id, world.owner, world.host
    h.stake(mid, MIN_STAKE)
    with pytest.raises(ContractValueError, match="ModelUnbondingDelayOutOfRange"):
        o.set_stake_terms(mid, StakeTerms(MIN_STAKE, SLASH_BPS, 0, 0))
    with pytest.raises(ContractValueError, match="ModelMinStakeTooSmall"):
        o.set_stake_terms(mid, StakeTerms(1, 1, 0, DELAY))
    new = StakeTerms(2 * MIN_STAKE, 1_000, 100, 2 * DELAY)
    ev = o.set_stake_terms(mid, new).event("StakeTermsChangeScheduled").args
    assert ev["effectiveAt"] == world.now() + NOTICE and ev["minHostStake"] == 2 * MIN_STAKE
    pending = o.pending_stake_terms(mid)
    assert pending.value == new and pending.effective_at == ev["effectiveAt"]
    assert o.get_model(mid).stake_terms == StakeTerms(MIN_STAKE, SLASH_BPS, 2_000, DELAY)
    assert h.is_active_host(mid, h.account)
    world.mine(NOTICE)
    assert o.get_model(mid).stake_terms == new and o.pending_stake_terms(mid) is None
    assert not h.is_active_host(mid, h.account)  # below the new minimum, announced an hour ahead
    end = h.request_unstake(mid).event("UnstakeRequested").args["unbondingEnd"]
    assert end == world.now() + 2 * DELAY
