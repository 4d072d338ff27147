"""Fee escrow: deposits, cumulative-amount voucher settlement (partial, replay across model/contract/chain,
repricing by the owner), thaw, revenue."""

from __future__ import annotations

import pytest
from chain_world import DELAY, ETH, NOTICE, PRICE, make_world

from oml_chain.chain.deploy import deploy_contract
from oml_chain.chain.eip712 import Domain
from oml_chain.chain.errors import ContractLookupError, ContractPermissionError, ContractSignatureError, \
    ContractStateError, ContractValueError

pytestmark = pytest.mark.chain


def test_deposit_and_view(staked):
    mid, h = staked.model_id, staked.host
    ev = h.deposit_escrow(mid, 5).event("EscrowDeposited").args
    assert ev == {"modelId": mid, "host": h.account, "amount": 5, "balance": ETH + 5}
    e = h.get_escrow(mid, h.account)
    assert (e.balance, e.thawing_amount, e.thaw_end, e.spendable) == (ETH + 5, 0, 0, ETH + 5)
    with pytest.raises(ContractValueError, match="EscrowZeroDeposit"):
        h.deposit_escrow(mid, 0)
    with pytest.raises(ContractLookupError, match="ModelNotFound"):
        h.deposit_escrow(77, 1)


def settle(world, count: int, amount: int | None = None, host=None):
    """Settle `host`'s voucher for `count` queries owing `amount` (default count × PRICE), signed by the host."""
    h = host or world.host
    amount = count * PRICE if amount is None else amount
    return world.signer.settle(world.model_id, h.account, count, amount, h.sign_voucher(world.model_id, count, amount))


# (voucher counts settled in order, expected new queries per settlement)
SETTLEMENTS = [([1], [1]), ([3, 10, 11], [3, 7, 1]), ([1000, 1001], [1000, 1])]


@pytest.mark.parametrize("counts,queries", SETTLEMENTS)
def test_partial_settlements_move_price_times_new_queries(staked, counts, queries):
    mid, h, s = staked.model_id, staked.host, staked.signer
    for count, q in zip(counts, queries):
        before_rev, before_esc = s.revenue_of(mid), s.get_escrow(mid, h.account).balance
        ev = settle(staked, count).event("VoucherSettled").args
        assert ev == {"modelId": mid, "host": h.account, "count": count, "cumulativeAmount": count * PRICE,
                      "amount": q * PRICE}
        assert s.revenue_of(mid) == before_rev + q * PRICE
        assert s.get_escrow(mid, h.account).balance == before_esc - q * PRICE
        assert s.settled_count(mid, h.account) == count
        assert s.settled_amount(mid, h.account) == count * PRICE


def test_settle_reverts(staked):
    mid, h, s = staked.model_id, staked.host, staked.signer
    settle(staked, 10)
    for count in (10, 9):  # replay and rollback
        with pytest.raises(ContractValueError) as exc:
            settle(staked, count)
        assert exc.value.error == "VoucherCountNotIncreasing" and exc.value.values == {"count": count, "settled": 10}
    with pytest.raises(ContractValueError) as exc:  # more queries, less money: the amount never goes back
        settle(staked, 11, 9 * PRICE)
    assert exc.value.error == "VoucherAmountDecreasing"
    assert exc.value.values == {"amount": 9 * PRICE, "settledAmount": 10 * PRICE}
    forged = s.signer.sign_voucher(s.domain, mid, h.account, 20, 20 * PRICE)  # signed by someone else
    with pytest.raises(ContractSignatureError) as exc:
        s.settle(mid, h.account, 20, 20 * PRICE, forged)
    assert exc.value.values == {"modelId": mid, "host": h.account}
    too_many = ETH // PRICE + 11
    with pytest.raises(ContractValueError) as exc:
        settle(staked, too_many)
    assert exc.value.error == "EscrowInsufficient"
    assert exc.value.values == {"needed": (too_many - 10) * PRICE, "available": ETH - 10 * PRICE}
    with pytest.raises(ContractValueError, match="VoucherCountTooLarge"):
        settle(staked, 2**64, 0)
    with pytest.raises(ContractValueError, match="VoucherAmountTooLarge"):
        settle(staked, 20, 2**128)


def test_owner_cannot_reprice_settled_or_unsettled_queries(staked):
    """Finding 1: an owner raising the price, settling the host's newest voucher and lowering the price again
    (v1 drained the whole escrow) moves exactly the amount the host signed; a price change only counts for
    permissions issued after the notice period."""
    mid, h, s, o = staked.model_id, staked.host, staked.signer, staked.owner
    signed = 1000 * PRICE  # the host owes 1000 queries at the price in force when they were permitted
    sig = h.sign_voucher(mid, 1000, signed)
    ev = o.set_price(mid, 10**18).event("PriceChangeScheduled").args  # 1 ETH per query ...
    assert ev == {"modelId": mid, "oldPrice": PRICE, "newPrice": 10**18, "effectiveAt": staked.now() + NOTICE}
    assert o.get_model(mid).price_per_query == PRICE  # ... announced, not in force
    staked.mine(NOTICE)
    assert o.get_model(mid).price_per_query == 10**18
    escrow, revenue = s.get_escrow(mid, h.account).balance, s.revenue_of(mid)
    s.settle(mid, h.account, 1000, signed, sig)  # anyone may settle; the price is not read
    assert s.get_escrow(mid, h.account).balance == escrow - signed
    assert s.revenue_of(mid) == revenue + signed
    o.set_price(mid, 0)
    staked.mine(NOTICE)
    # a free model: the host may count up, but the amount it owes never drops
    with pytest.raises(ContractValueError, match="VoucherAmountDecreasing"):
        settle(staked, 2**64 - 1, 0)
    settle(staked, 2**64 - 1, signed)
    assert s.get_escrow(mid, h.account).balance == escrow - signed
    assert o.price_at(mid, ev["effectiveAt"] - 1) == PRICE and o.price_at(mid, ev["effectiveAt"]) == 10**18


def test_voucher_replay_across_model_chain_and_contract_rejected(staked, oml_artifacts, dev_keys):
    mid, h, s = staked.model_id, staked.host, staked.signer
    mid2 = staked.owner.register_model(staked.make_params())
    h.deposit_escrow(mid2, ETH)
    amount = 5 * PRICE
    sig = h.sign_voucher(mid, 5, amount)
    with pytest.raises(ContractSignatureError, match="VoucherInvalidSignature"):  # other model
        s.settle(mid2, h.account, 5, amount, sig)
    wrong_chain = h.signer.sign_voucher(Domain(h.chain_id + 1, h.address), mid, h.account, 5, amount)
    with pytest.raises(ContractSignatureError, match="VoucherInvalidSignature"):  # other chain id
        s.settle(mid, h.account, 5, amount, wrong_chain)
    address2, _ = deploy_contract(staked.w3, dev_keys[9], oml_artifacts["OML"])  # second deployment
    other = make_world(staked.w3, address2, staked.abi, dev_keys)
    other.host.deposit_escrow(other.model_id, ETH)
    with pytest.raises(ContractSignatureError, match="VoucherInvalidSignature"):
        other.signer.settle(other.model_id, h.account, 5, amount, sig)
    assert other.host.sign_voucher(other.model_id, 5, amount) != sig
    other.signer.settle(other.model_id, h.account, 5, amount, other.host.sign_voucher(other.model_id, 5, amount))
    s.settle(mid, h.account, 5, amount, sig)  # the original still settles where it belongs


def test_escrow_thaw_and_withdraw(staked):
    mid, h, s = staked.model_id, staked.host, staked.signer
    with pytest.raises(ContractValueError, match="EscrowZeroWithdrawal"):
        h.request_escrow_withdrawal(mid, 0)
    with pytest.raises(ContractValueError, match="EscrowInsufficient"):
        h.request_escrow_withdrawal(mid, ETH + 1)
    with pytest.raises(ContractLookupError, match="NothingToWithdraw"):
        h.withdraw_escrow(mid)
    ev = h.request_escrow_withdrawal(mid, ETH // 2).event("EscrowWithdrawalRequested").args
    assert ev["amount"] == ETH // 2 and ev["thawEnd"] == staked.now() + DELAY
    e = h.get_escrow(mid, h.account)
    assert (e.thawing_amount, e.spendable) == (ETH // 2, ETH // 2)
    with pytest.raises(ContractStateError) as exc:
        h.withdraw_escrow(mid)
    assert exc.value.error == "EscrowStillThawing" and exc.value.values["thawEnd"] == ev["thawEnd"]
    # settlement still draws on thawing escrow: leave less than requested
    count = (ETH * 3 // 4) // PRICE
    settle(staked, count)
    staked.mine(DELAY)
    left = ETH - count * PRICE
    before = h.balance()
    r = h.withdraw_escrow(mid)
    assert r.event("EscrowWithdrawn").args["amount"] == left  # min(requested, balance)
    assert h.get_escrow(mid, h.account).balance == 0
    assert h.balance() > before


def test_revenue_pull_only_by_recipient(staked):
    mid, h, s = staked.model_id, staked.host, staked.signer
    with pytest.raises(ContractLookupError, match="NothingToWithdraw"):
        staked.recipient.withdraw_revenue(mid)
    settle(staked, 100)
    with pytest.raises(ContractPermissionError) as exc:
        staked.owner.withdraw_revenue(mid)
    assert exc.value.values == {"modelId": mid, "caller": staked.owner.account,
                                "recipient": staked.recipient.account}
    before = staked.recipient.balance()
    r = staked.recipient.withdraw_revenue(mid)
    assert r.event("RevenueWithdrawn").args["amount"] == 100 * PRICE
    assert staked.recipient.revenue_of(mid) == 0
    assert staked.recipient.balance() > before


def test_revenue_recipient_setter(staked):
    """Finding 8: the owner (only) moves the revenue recipient; revenue already earned follows it."""
    mid, o = staked.model_id, staked.owner
    settle(staked, 10)
    with pytest.raises(ContractPermissionError, match="ModelNotOwner"):
        staked.recipient.set_revenue_recipient(mid, staked.recipient.account)
    with pytest.raises(ContractValueError, match="ModelZeroRevenueRecipient"):
        o.set_revenue_recipient(mid, "0x" + "0" * 40)
    ev = o.set_revenue_recipient(mid, o.account).event("RevenueRecipientUpdated").args
    assert ev == {"modelId": mid, "oldRecipient": staked.recipient.account, "newRecipient": o.account}
    with pytest.raises(ContractPermissionError, match="RevenueNotRecipient"):
        staked.recipient.withdraw_revenue(mid)
    assert o.withdraw_revenue(mid).event("RevenueWithdrawn").args["amount"] == 10 * PRICE
