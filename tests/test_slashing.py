"""Slashing: commit → reveal, every reveal check, per-host burns, rewards, slashability during unbonding,
commitments per prover, retired permission signers (receipts and disputes), terms at commit time."""

from __future__ import annotations

import pytest
from chain_world import DELAY, MIN_STAKE, NOTICE, PROVER_BPS, SLASH_BPS

from oml_chain.chain.eip712 import Signer, text_hash
from oml_chain.chain.errors import (ContractLookupError, ContractSignatureError, ContractStateError,
                                   ContractValueError)
from oml_chain.chain.merkle import ReceiptTree, receipt_leaf
from oml_chain.chain.roles import commitment_of
from oml_chain.chain.types import StakeTerms

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
    assert w.prover.get_commitment(w.prover.account, c).timestamp == w.now()
    rev_before = w.prover.revenue_of(mid)
    r = w.prover.reveal(c, ev)
    assert r.event("HostSlashed").args == {"modelId": mid, "host": w.host.account, "prover": w.prover.account,
                                           "index": 3, "slashed": SLASHED, "reward": REWARD}
    assert r.event("FingerprintBurned").args == {"modelId": mid, "host": w.host.account, "index": 3}
    assert w.prover.is_burned(mid, w.host.account, 3) and not w.prover.is_burned(mid, w.host.account, 4)
    assert not w.prover.is_burned(mid, w.host2.account, 3)  # burns are per host
    assert w.host.get_stake(mid, w.host.account).amount == MIN_STAKE - SLASHED
    assert w.prover.reward_of(w.prover.account) == REWARD
    assert w.prover.revenue_of(mid) == rev_before + SLASHED - REWARD
    assert w.prover.get_commitment(w.prover.account, c).timestamp == 0  # deleted
    before = w.prover.balance()
    assert w.prover.withdraw_reward().event("RewardWithdrawn").args["amount"] == REWARD
    assert w.prover.balance() > before and w.prover.reward_of(w.prover.account) == 0
    with pytest.raises(ContractLookupError, match="NothingToWithdraw"):
        w.prover.withdraw_reward()
    # double slash with the same fingerprint
    with pytest.raises(ContractStateError) as exc:
        w.prover.prove(w.evidence(3, seq=2))
    assert exc.value.error == "SlashFingerprintBurned"
    assert exc.value.values == {"modelId": mid, "host": w.host.account, "index": 3}


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
    assert exc.value.error == "SlashCommitmentNotFound"
    assert sorted(map(str, exc.value.values.values())) == sorted([w.prover.account, str(c)])
    r = w.prover.commit(c)
    with pytest.raises(ContractStateError, match="SlashCommitmentExists"):
        w.prover.commit(c)
    # same block as the commit (eth_call on the commit block): too early
    with pytest.raises(ContractStateError) as exc:
        w.prover.call("reveal", c, ev.to_abi(), sender=w.prover.account, block=r.block_number)
    assert exc.value.error == "SlashRevealTooEarly"
    # copying the evidence from the mempool: another account has no such commitment of its own
    with pytest.raises(ContractLookupError, match="SlashCommitmentNotFound"):
        w.other.reveal(c, ev)
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


def test_copied_commit_blocks_nobody(staked):
    """Finding 7: a squatter who copies a pending commit(c) from the mempool stores it under its own address;
    the prover's own commit and reveal go through."""
    w = staked
    ev = w.evidence(2)
    c = w.prover.commitment(ev)
    w.other.commit(c)  # front-run with the exact same commitment
    w.prover.commit(c)
    assert w.prover.reveal(c, ev).event("HostSlashed").args["prover"] == w.prover.account
    with pytest.raises(ContractValueError, match="SlashCommitmentMismatch"):  # the squatter cannot use it
        w.other.reveal(c, ev)


def test_sybil_self_report_burns_only_its_own_fingerprints(staked):
    """Finding 3: a throwaway host that reveals fingerprint 0 against itself burns index 0 for itself only;
    the honest-but-rogue host stays slashable with the same index, and self-reporting loses money."""
    w, mid = staked, staked.model_id
    w.host2.stake(mid, MIN_STAKE, "")
    w.prover.prove(w.evidence(0, host=w.host2))  # the sybil (and its prover) report itself
    assert w.prover.is_burned(mid, w.host2.account, 0) and not w.prover.is_burned(mid, w.host.account, 0)
    r = w.prover.prove(w.evidence(0))
    assert r.event("HostSlashed").args["host"] == w.host.account
    # self-reporting never pays: the sybil lost SLASHED of stake and its prover earned REWARD ≤ half of it
    assert w.host2.get_stake(mid, w.host2.account).amount == MIN_STAKE - SLASHED
    assert w.prover.reward_of(w.prover.account) == 2 * REWARD and REWARD <= SLASHED // 2
    with pytest.raises(ContractValueError) as exc:
        w.owner.register_model(w.make_params(prover_share_bps=5_001))
    assert exc.value.error == "ModelProverShareTooHigh"


def test_second_attestation_rotation_keeps_the_first_signers_window(staked):
    """Finding 5: rotating the attestation signer twice does not cut the first replaced signer's validity short."""
    w, mid, h = staked, staked.model_id, staked.host
    first = h.attestation_signer  # the key the evidence is signed with
    ev = w.evidence(1)
    r1 = h.set_attestation_signer(mid, Signer(b"\x43" * 32).address)
    valid_until = w.prover.attestation_signer_valid_until(mid, h.account, first.address)
    assert valid_until == w.w3.eth.get_block(r1.block_number)["timestamp"] + w.prover.reveal_window()
    c = w.prover.commitment(ev)
    w.mine(w.prover.reveal_window() - 100)
    w.prover.commit(c)  # just before the first signer's window closes
    h.set_attestation_signer(mid, Signer(b"\x44" * 32).address)  # second rotation, no rate limit
    assert w.prover.attestation_signer_valid_until(mid, h.account, first.address) == valid_until
    assert w.prover.reveal(c, ev).event("HostSlashed")


def test_pending_commitment_is_judged_by_the_terms_at_commit_time(staked):
    """Finding 8: a stake-terms change that takes effect between commit and reveal does not apply to it."""
    w, mid = staked, staked.model_id
    ev = w.evidence(6)
    c = w.prover.commitment(ev)
    w.owner.set_stake_terms(mid, StakeTerms(MIN_STAKE, 10_000, 0, DELAY))  # slash everything, no prover share
    w.mine(NOTICE - 30)
    w.prover.commit(c)  # under the old terms
    w.mine(60)
    assert w.owner.get_model(mid).slash_bps == 10_000  # the new terms are in force at reveal time
    r = w.prover.reveal(c, ev)
    assert r.event("HostSlashed").args["slashed"] == SLASHED and r.event("HostSlashed").args["reward"] == REWARD
    assert w.owner.stake_terms_at(mid, w.now()).slash_bps == 10_000


def _retire_signer(w):
    """Rotate the model's permission signer to a fresh key; returns (old signer client, retiredAt)."""
    new = Signer(b"\x77" * 32)
    r = w.owner.set_permission_signer(w.model_id, new.address)
    assert r.event("PermissionSignerUpdated").args == {"modelId": w.model_id, "oldSigner": w.signer.account,
                                                       "newSigner": new.address}
    retired_at = w.owner.permission_signer_retired_at(w.model_id, w.signer.account)
    assert retired_at == w.w3.eth.get_block(r.block_number)["timestamp"]
    return retired_at


def test_retired_signer_permission_recorded_in_time_is_defended_however_late(staked):
    """Finding 4 (a): a permission issued while its signer was current shields the host after the signer is
    retired, even when the evidence arrives long after: the host recorded its receipt before
    retiredAt + notice and defends the dispute."""
    w, mid, h = staked, staked.model_id, staked.host
    fp = w.fingerprints[2]
    perm = w.signer.sign_permission(mid, h.account, text_hash(fp.key), 7)  # issued while current
    tree = ReceiptTree([(text_hash("another query"), 6), (text_hash(fp.key), 7)])
    ev = h.record_permission_receipts(mid, tree.root).event("PermissionReceiptsRecorded").args
    assert ev == {"modelId": mid, "host": h.account, "root": tree.root}
    _retire_signer(w)
    w.mine(30 * 86_400)  # the evidence arrives a month later
    r = w.prover.prove(w.evidence(2, permission=perm, seq=7))
    d = r.event("SlashDisputed").args
    assert (d["modelId"], d["host"], d["index"], d["prover"], d["signer"]) == (mid, h.account, 2, w.prover.account,
                                                                               w.signer.account)
    assert not r.all("HostSlashed")
    assert w.prover.open_disputes(mid, h.account) == 1
    dispute = w.prover.get_dispute(mid, h.account, 2)
    assert dispute.receipt_leaf == receipt_leaf(text_hash(fp.key), 7) == w.prover.call("receiptLeaf",
                                                                                        text_hash(fp.key), 7)
    with pytest.raises(ContractSignatureError, match="SlashInvalidReceiptProof"):
        h.defend_slash(mid, h.account, 2, tree.root, tree.proof(text_hash("another query"), 6))
    assert h.defend_slash(mid, h.account, 2, tree.root, tree.proof(text_hash(fp.key), 7)).event("SlashDefended")
    assert h.get_stake(mid, h.account).amount == MIN_STAKE and w.prover.open_disputes(mid, h.account) == 0
    with pytest.raises(ContractLookupError, match="SlashDisputeNotFound"):  # closed: nothing left to finalize
        w.other.finalize_slash(mid, h.account, 2)


def test_leaked_retired_signer_cannot_shield_new_answers(staked):
    """Finding 4 (b): after retiredAt + notice a leaked retired key protects nothing new: a receipt recorded
    after the grace does not defend, and the dispute ends in a slash at the terms of commit time."""
    w, mid, h = staked, staked.model_id, staked.host
    _retire_signer(w)
    end = h.request_unstake(mid).event("UnstakeRequested").args["unbondingEnd"]  # the host tries to leave
    w.mine(NOTICE + 1)
    fp = w.fingerprints[4]
    forged = w.signer.sign_permission(mid, h.account, text_hash(fp.key), 9)  # the leaked old key
    tree = ReceiptTree([(text_hash(fp.key), 9)])
    h.record_permission_receipts(mid, tree.root)  # too late to count
    r = w.prover.prove(w.evidence(4, permission=forged, seq=9))
    deadline = r.event("SlashDisputed").args["deadline"]
    with pytest.raises(ContractStateError, match="SlashReceiptTooLate"):
        h.defend_slash(mid, h.account, 4, tree.root, tree.proof(text_hash(fp.key), 9))
    with pytest.raises(ContractStateError, match="SlashDisputeActive"):
        w.other.finalize_slash(mid, h.account, 4)
    w.mine(end + w.prover.reveal_window() - w.now())
    assert w.now() > deadline  # the defence window is over but nobody finalized yet
    with pytest.raises(ContractStateError) as exc:  # the stake waits for the dispute
        h.withdraw_stake(mid)
    assert exc.value.error == "StakeDisputePending" and exc.value.values["openDisputes"] == 1
    rev = w.prover.revenue_of(mid)
    fin = w.other.finalize_slash(mid, h.account, 4)  # anyone may finalize; the dispute's prover is paid
    assert fin.event("HostSlashed").args == {"modelId": mid, "host": h.account, "prover": w.prover.account,
                                             "index": 4, "slashed": SLASHED, "reward": REWARD}
    assert w.prover.reward_of(w.prover.account) == REWARD and w.prover.revenue_of(mid) == rev + SLASHED - REWARD
    with pytest.raises(ContractLookupError, match="SlashDisputeNotFound"):
        w.other.finalize_slash(mid, h.account, 4)
    assert h.withdraw_stake(mid).event("StakeWithdrawn").args["amount"] == MIN_STAKE - SLASHED


def test_new_signer_permissions_are_valid_and_retired_keys_never_return(staked):
    w, mid, h = staked, staked.model_id, staked.host
    _retire_signer(w)
    cur = Signer(b"\x77" * 32)
    fp = w.fingerprints[5]
    ok = cur.sign_permission(h.domain, mid, h.account, text_hash(fp.key), 10)
    _expect(w, w.evidence(5, permission=ok, seq=10), ContractStateError, "SlashPermissionValid")
    with pytest.raises(ContractValueError, match="ModelPermissionSignerReused"):
        w.owner.set_permission_signer(mid, w.signer.account)  # a retired key never comes back


def test_contract_signers_are_rejected(staked):
    """Finding 2: permission and attestation signers must be plain keys (here: the OML contract's address)."""
    w, mid = staked, staked.model_id
    with pytest.raises(ContractValueError) as exc:
        w.owner.register_model(w.make_params(permission_signer=w.address))
    assert exc.value.error == "ModelSignerNotEOA" and exc.value.values["signer"] == w.address
    with pytest.raises(ContractValueError, match="ModelSignerNotEOA"):
        w.owner.set_permission_signer(mid, w.address)
    with pytest.raises(ContractValueError, match="StakeSignerNotEOA"):
        w.host.set_attestation_signer(mid, w.address)
    with pytest.raises(ContractValueError, match="StakeSignerNotEOA"):
        w.host2.stake(mid, MIN_STAKE, "", attestation_signer=w.address)
