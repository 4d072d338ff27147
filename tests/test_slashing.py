"""Slashing: commit → reveal, every reveal check, burn, rewards, slashability during unbonding."""

from __future__ import annotations

import pytest
from chain_world import DELAY, MIN_STAKE, PROVER_BPS, SLASH_BPS

from oml_chain.chain.eip712 import Signer, text_hash
from oml_chain.chain.errors import (ContractLookupError, ContractPermissionError, ContractSignatureError,
                              ContractStateError, ContractValueError)
from oml_chain.chain.roles import commitment_of

pytestmark = pytest.mark.chain

SLASHED = MIN_STAKE * SLASH_BPS // 10_000
REWARD = SLASHED * PROVER_BPS // 10_000


def test_commitment_hash_equals_contract(staked):
    ev = staked.evidence(2, permission=b"\x01" * 65)
    assert commitment_of(staked.prover.account, ev) == staked.prover.call("commitmentOf", staked.prover.account,
                                                                          ev.to_abi())


def test_prove_slashes_pays_and_burns(staked):
    w, mid = staked, staked.model_id
    ev = w.evidence(3)
    c = w.prover.commitment(ev)
    ce = w.prover.commit(c).event("SlashCommitted").args
    assert ce["commitment"] == c and ce["prover"] == w.prover.account
    assert w.prover.get_commitment(c).prover == w.prover.account
    rev_before = w.prover.revenue_of(mid)
    r = w.prover.reveal(c, ev)
    assert r.event("HostSlashed").args == {"modelId": mid, "host": w.host.account, "prover": w.prover.account,
                                           "index": 3, "slashed": SLASHED, "reward": REWARD}
    assert r.event("FingerprintBurned").args == {"modelId": mid, "index": 3}
    assert w.prover.is_burned(mid, 3) and not w.prover.is_burned(mid, 4)
    assert w.host.get_stake(mid, w.host.account).amount == MIN_STAKE - SLASHED
    assert w.prover.reward_of(w.prover.account) == REWARD
    assert w.prover.revenue_of(mid) == rev_before + SLASHED - REWARD
    assert w.prover.get_commitment(c).prover == "0x" + "0" * 40  # deleted
    before = w.prover.balance()
    assert w.prover.withdraw_reward().event("RewardWithdrawn").args["amount"] == REWARD
    assert w.prover.balance() > before and w.prover.reward_of(w.prover.account) == 0
    with pytest.raises(ContractLookupError, match="NothingToWithdraw"):
        w.prover.withdraw_reward()
    # double slash with the same fingerprint
    with pytest.raises(ContractStateError) as exc:
        w.prover.prove(w.evidence(3, seq=2))
    assert exc.value.error == "SlashFingerprintBurned" and exc.value.values == {"modelId": mid, "index": 3}


def test_invalid_permission_still_slashes(staked):
    w = staked
    fp = w.fingerprints[1]
    bogus = w.other.signer.sign_permission(w.host.domain, w.model_id, w.host.account, text_hash(fp.key), 1)
    assert w.prover.prove(w.evidence(1, permission=bogus)).event("HostSlashed")


def _expect(world, ev, cls, error, values=None, prover=None):
    prover = prover or world.prover
    c = prover.commitment(ev)
    prover.commit(c)
    with pytest.raises(cls) as exc:
        prover.reveal(c, ev)
    assert exc.value.error == error
    if values is not None:
        assert exc.value.values == values


def test_valid_permission_is_not_misuse(staked):
    w = staked
    fp = w.fingerprints[0]
    perm = w.signer.sign_permission(w.model_id, w.host.account, text_hash(fp.key), 5)
    _expect(w, w.evidence(0, permission=perm, seq=5), ContractStateError, "SlashPermissionValid")


def test_bad_evidence_reverts_each_with_its_error(staked):
    w = staked
    _expect(w, w.evidence(0, response="something else"), ContractValueError, "SlashResponseMismatch")
    _expect(w, w.evidence(0, attest_with=Signer(b"\x09" * 32)), ContractSignatureError, "SlashInvalidAttestation")
    ev = w.evidence(0)
    bad_proof = type(ev)(**{**ev.__dict__, "merkle_proof": w.tree.proof(1)})
    _expect(w, bad_proof, ContractSignatureError, "SlashInvalidMerkleProof")
    out_of_range = type(ev)(**{**ev.__dict__, "fingerprint_index": 8})
    _expect(w, out_of_range, ContractValueError, "SlashFingerprintIndexOutOfRange", {"index": 8, "count": 8})
    no_stake = w.evidence(0, host=w.host2)
    _expect(w, no_stake, ContractStateError, "SlashNothingToSlash", {"modelId": w.model_id, "host": w.host2.account})


def test_commit_reveal_protocol_errors(staked):
    w = staked
    ev = w.evidence(0)
    c = w.prover.commitment(ev)
    with pytest.raises(ContractLookupError) as exc:
        w.prover.reveal(c, ev)
    assert exc.value.values == {"commitment": c}
    r = w.prover.commit(c)
    with pytest.raises(ContractStateError, match="SlashCommitmentExists"):
        w.prover.commit(c)
    # same block as the commit (eth_call on the commit block): too early
    with pytest.raises(ContractStateError) as exc:
        w.prover.call("reveal", c, ev.to_abi(), sender=w.prover.account, block=r.block_number)
    assert exc.value.error == "SlashRevealTooEarly"
    # copying the evidence from the mempool: another account cannot use this commitment or its evidence
    with pytest.raises(ContractPermissionError) as exc:
        w.other.reveal(c, ev)
    assert exc.value.values == {"caller": w.other.account, "prover": w.prover.account}
    other_ev = w.evidence(0, seq=9)
    with pytest.raises(ContractValueError, match="SlashCommitmentMismatch"):
        w.prover.reveal(c, other_ev)
    w.mine(w.prover.reveal_window() + 1)
    with pytest.raises(ContractStateError) as exc:
        w.prover.reveal(c, ev)
    assert exc.value.error == "SlashCommitmentExpired"


def test_slash_during_unbonding_and_withdraw_waits_for_pending_commit(staked):
    w, mid = staked, staked.model_id
    end = w.host.request_unstake(mid).event("UnstakeRequested").args["unbondingEnd"]
    w.mine(DELAY - 10)  # still unbonding, still slashable: commit now
    ev = w.evidence(4)
    c = w.prover.commitment(ev)
    w.prover.commit(c)
    w.mine(20)  # unbonding over; the host tries to run
    with pytest.raises(ContractStateError, match="StakeStillLocked"):
        w.host.withdraw_stake(mid)
    r = w.prover.reveal(c, ev)  # the commit made while slashable can still be revealed
    assert r.event("HostSlashed").args["slashed"] == SLASHED
    # a commitment made after unbonding ended is rejected
    late = w.evidence(5)
    lc = w.prover.commitment(late)
    w.prover.commit(lc)
    with pytest.raises(ContractStateError) as exc:
        w.prover.reveal(lc, late)
    assert exc.value.error == "SlashStakeNotSlashable" and exc.value.values["unbondingEnd"] == end
    w.mine(end + w.prover.reveal_window() - w.now())
    assert w.host.withdraw_stake(mid).event("StakeWithdrawn").args["amount"] == MIN_STAKE - SLASHED
