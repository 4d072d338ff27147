"""EIP-712 digests and signatures against eth-account and (on chain) the OML contract's own digests."""

from __future__ import annotations

import os
import random
import time

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data

from oml_chain.chain import eip712
from oml_chain.chain.eip712 import Domain, Signer
from oml_chain.chain.errors import OMLError, SignatureError

pytestmark = pytest.mark.chain

RNG = random.Random(712)


def rand_addr() -> str:
    return Account.create().address


def rand32() -> bytes:
    return os.urandom(32)


def random_cases(n: int):
    for _ in range(n):
        domain = Domain(RNG.randrange(1, 2**64), rand_addr())
        model, seq = RNG.randrange(2**256), RNG.randrange(2**256)
        host, qh, rh, ph = rand_addr(), rand32(), rand32(), rand32()
        yield domain, [
            ("Permission", {"modelId": model, "host": host, "queryHash": qh, "seq": seq},
             lambda d: eip712.digest_permission(d, model, host, qh, seq),
             lambda s, d: s.sign_permission(d, model, host, qh, seq)),
            ("Voucher", {"modelId": model, "host": host, "count": seq, "cumulativeAmount": model ^ seq},
             lambda d: eip712.digest_voucher(d, model, host, seq, model ^ seq),
             lambda s, d: s.sign_voucher(d, model, host, seq, model ^ seq)),
            ("Attestation", {"modelId": model, "host": host, "queryHash": qh, "responseHash": rh,
                             "permissionHash": ph, "seq": seq},
             lambda d: eip712.digest_attestation(d, model, host, qh, rh, ph, seq),
             lambda s, d: s.sign_attestation(d, model, host, qh, rh, ph, seq)),
        ]


@pytest.mark.parametrize("case", range(20))
def test_digest_and_signature_equal_eth_account(case):
    domain, structs = next(random_cases(1))
    acct = Account.create()
    signer = Signer(acct.key)
    assert signer.address == acct.address
    for primary, message, digest_fn, sign_fn in structs:
        signable = encode_typed_data(full_message=eip712.typed_data(domain, primary, message))
        expected = Account.sign_message(signable, acct.key)
        assert digest_fn(domain) == bytes(expected.message_hash), primary
        sig = sign_fn(signer, domain)
        assert sig == bytes(expected.signature), primary  # RFC 6979 both sides: identical bytes
        assert eip712.recover(digest_fn(domain), sig) == acct.address


def test_verify_rejects_wrong_signer_domain_and_malleable_signatures():
    s = Signer(Account.create().key)
    d1, d2 = Domain(1, rand_addr()), Domain(2, rand_addr())
    qh = rand32()
    sig = s.sign_permission(d1, 7, s.address, qh, 1)
    assert eip712.verify_permission(d1, s.address, 7, s.address, qh, 1, sig)
    assert not eip712.verify_permission(d2, s.address, 7, s.address, qh, 1, sig)  # other chain / contract
    assert not eip712.verify_permission(d1, s.address, 8, s.address, qh, 1, sig)  # other model
    assert not eip712.verify_permission(d1, rand_addr(), 7, s.address, qh, 1, sig)
    r, s_val, v = sig[:32], int.from_bytes(sig[32:64], "big"), sig[64]
    high_s = r + (eip712.SECP256K1_N - s_val).to_bytes(32, "big") + bytes([55 - v])  # same point, malleated
    assert not eip712.verify_permission(d1, s.address, 7, s.address, qh, 1, high_s)
    with pytest.raises(SignatureError, match="lower half"):
        eip712.recover(eip712.digest_permission(d1, 7, s.address, qh, 1), high_s)
    with pytest.raises(SignatureError, match="65 bytes"):
        eip712.recover(b"\x00" * 32, sig[:64])
    with pytest.raises(SignatureError, match="v must be 27 or 28"):
        eip712.recover(b"\x00" * 32, sig[:64] + b"\x01")


def test_bad_key_and_values_raise_clear_errors():
    with pytest.raises(SignatureError, match="32 bytes"):
        Signer("0x1234")
    s = Signer(Account.create().key)
    with pytest.raises(ValueError, match="32 bytes"):
        s.sign_permission(Domain(1, rand_addr()), 1, s.address, b"short", 1)
    with pytest.raises(ValueError, match="uint256"):
        s.sign_voucher(Domain(1, rand_addr()), -1, s.address, 1, 0)
    assert issubclass(SignatureError, OMLError) and issubclass(SignatureError, ValueError)
    assert "0x" not in repr(s)[len("Signer(0x"):].replace(s.address[2:], "")  # repr never shows the key


def test_signing_speed_one_core():
    s = Signer(Account.create().key)
    d = Domain(31337, rand_addr())
    hashes = [rand32() for _ in range(2000)]
    t0 = time.perf_counter()
    for i, qh in enumerate(hashes):
        s.sign_permission(d, 1, s.address, qh, i)
    rate = len(hashes) / (time.perf_counter() - t0)
    print(f"\nEIP-712 Permission signing: {rate:,.0f} signatures/s on one core")
    assert rate >= 2_500  # target 5,000/s; generous bound for a shared, loaded 2-core machine


# --- on chain: the contract's own digest views -------------------------------------------------------


@pytest.mark.parametrize("case", range(5))
def test_digests_equal_contract_views(w3, oml_address, oml_artifacts, case):
    c = w3.eth.contract(address=oml_address, abi=oml_artifacts["OML"].abi)
    domain = Domain(w3.eth.chain_id, oml_address)
    assert c.functions.domainSeparator().call() == domain.separator
    model, seq, host, qh, rh, ph = RNG.randrange(2**256), RNG.randrange(2**256), rand_addr(), rand32(), rand32(), rand32()
    assert c.functions.permissionDigest(model, host, qh, seq).call() == eip712.digest_permission(domain, model, host, qh, seq)
    amount = RNG.randrange(2**256)
    assert (c.functions.voucherDigest((model, host, seq, amount)).call()
            == eip712.digest_voucher(domain, model, host, seq, amount))
    assert c.functions.eip712Domain().call()[2] == "2"  # protocol v2: v1 vouchers do not verify
    assert (c.functions.attestationDigest(model, host, qh, rh, ph, seq).call()
            == eip712.digest_attestation(domain, model, host, qh, rh, ph, seq))
