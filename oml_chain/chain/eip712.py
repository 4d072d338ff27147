"""EIP-712 structs of OML: the one place that defines Permission, Voucher and Attestation.

Domain: name "OML", version "2" (protocol v2: the voucher carries the cumulative amount owed), chainId,
verifyingContract (the OML contract).
All fields of the three structs are static ABI types, so the struct hash is
keccak256(typeHash ‖ 32-byte words): we encode the words directly (exactly what
abi.encode does for static types), hash with keccak and sign with coincurve
(libsecp256k1: deterministic RFC 6979, low-s). Signatures are 65 bytes r‖s‖v
with v ∈ {27, 28}, as OpenZeppelin's ECDSA / SignatureChecker expect.
"""

from __future__ import annotations

from dataclasses import dataclass

from Crypto.Hash import keccak as _keccak_mod
from coincurve import PrivateKey, PublicKey
from eth_utils import to_checksum_address

from .errors import SignatureError

DOMAIN_NAME = "OML"
DOMAIN_VERSION = "2"

# secp256k1 group order; OpenZeppelin rejects s in the upper half.
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_HALF_N = SECP256K1_N // 2


def keccak(data: bytes) -> bytes:
    return _keccak_mod.new(data=data, digest_bits=256).digest()


def text_hash(text: str | bytes) -> bytes:
    """keccak256(utf8(text)): the queryHash / responseHash / keyHash of the spec."""
    return keccak(text.encode("utf-8") if isinstance(text, str) else bytes(text))


# Field lists exactly as contracts/README.md (name, solidity type).
PERMISSION_FIELDS = (("modelId", "uint256"), ("host", "address"), ("queryHash", "bytes32"), ("seq", "uint256"))
VOUCHER_FIELDS = (("modelId", "uint256"), ("host", "address"), ("count", "uint256"), ("cumulativeAmount", "uint256"))
ATTESTATION_FIELDS = (("modelId", "uint256"), ("host", "address"), ("queryHash", "bytes32"),
                      ("responseHash", "bytes32"), ("permissionHash", "bytes32"), ("seq", "uint256"))
DOMAIN_FIELDS = (("name", "string"), ("version", "string"), ("chainId", "uint256"), ("verifyingContract", "address"))

TYPES = {"Permission": PERMISSION_FIELDS, "Voucher": VOUCHER_FIELDS, "Attestation": ATTESTATION_FIELDS}


def type_string(name: str, fields_: tuple[tuple[str, str], ...]) -> str:
    return f"{name}(" + ",".join(f"{t} {n}" for n, t in fields_) + ")"


PERMISSION_TYPEHASH = keccak(type_string("Permission", PERMISSION_FIELDS).encode())
VOUCHER_TYPEHASH = keccak(type_string("Voucher", VOUCHER_FIELDS).encode())
ATTESTATION_TYPEHASH = keccak(type_string("Attestation", ATTESTATION_FIELDS).encode())
DOMAIN_TYPEHASH = keccak(type_string("EIP712Domain", DOMAIN_FIELDS).encode())


def _uint(value: int) -> bytes:
    if not isinstance(value, int) or value < 0 or value >= 1 << 256:
        raise ValueError(f"expected a uint256, got {value!r}")
    return value.to_bytes(32, "big")


def _address(value: str | bytes) -> bytes:
    raw = bytes(value) if isinstance(value, (bytes, bytearray)) else bytes.fromhex(value.removeprefix("0x"))
    if len(raw) != 20:
        raise ValueError(f"expected a 20-byte address, got {value!r}")
    return b"\x00" * 12 + raw


def _bytes32(value: bytes) -> bytes:
    if isinstance(value, str):
        value = bytes.fromhex(value.removeprefix("0x"))
    if len(value) != 32:
        raise ValueError(f"expected 32 bytes, got {len(value)} bytes")
    return bytes(value)


@dataclass(frozen=True)
class Domain:
    """EIP-712 domain of one OML deployment."""

    chain_id: int
    verifying_contract: str

    @property
    def separator(self) -> bytes:
        return _domain_separator(self.chain_id, self.verifying_contract.lower())

    def as_dict(self) -> dict:
        return {"name": DOMAIN_NAME, "version": DOMAIN_VERSION, "chainId": self.chain_id,
                "verifyingContract": to_checksum_address(self.verifying_contract)}


_SEPARATORS: dict[tuple[int, str], bytes] = {}


def _domain_separator(chain_id: int, contract: str) -> bytes:
    key = (chain_id, contract)
    sep = _SEPARATORS.get(key)
    if sep is None:
        sep = keccak(DOMAIN_TYPEHASH + keccak(DOMAIN_NAME.encode()) + keccak(DOMAIN_VERSION.encode())
                     + _uint(chain_id) + _address(contract))
        _SEPARATORS[key] = sep
    return sep


def _digest(domain: Domain, struct_hash: bytes) -> bytes:
    return keccak(b"\x19\x01" + domain.separator + struct_hash)


def hash_permission(model_id: int, host: str, query_hash: bytes, seq: int) -> bytes:
    return keccak(PERMISSION_TYPEHASH + _uint(model_id) + _address(host) + _bytes32(query_hash) + _uint(seq))


def hash_voucher(model_id: int, host: str, count: int, cumulative_amount: int) -> bytes:
    return keccak(VOUCHER_TYPEHASH + _uint(model_id) + _address(host) + _uint(count) + _uint(cumulative_amount))


def hash_attestation(model_id: int, host: str, query_hash: bytes, response_hash: bytes,
                     permission_hash: bytes, seq: int) -> bytes:
    return keccak(ATTESTATION_TYPEHASH + _uint(model_id) + _address(host) + _bytes32(query_hash)
                  + _bytes32(response_hash) + _bytes32(permission_hash) + _uint(seq))


def digest_permission(domain: Domain, model_id: int, host: str, query_hash: bytes, seq: int) -> bytes:
    return _digest(domain, hash_permission(model_id, host, query_hash, seq))


def digest_voucher(domain: Domain, model_id: int, host: str, count: int, cumulative_amount: int) -> bytes:
    return _digest(domain, hash_voucher(model_id, host, count, cumulative_amount))


def digest_attestation(domain: Domain, model_id: int, host: str, query_hash: bytes, response_hash: bytes,
                       permission_hash: bytes, seq: int) -> bytes:
    return _digest(domain, hash_attestation(model_id, host, query_hash, response_hash, permission_hash, seq))


def permission_hash(permission_signature: bytes | None) -> bytes:
    """keccak256(signature), or bytes32(0) when the host served without a permission."""
    return keccak(permission_signature) if permission_signature else b"\x00" * 32


# --- signatures ----------------------------------------------------------------------------------


def address_of_public_key(pub: PublicKey) -> str:
    return to_checksum_address(keccak(pub.format(compressed=False)[1:])[-20:])


def sign_digest(private_key: bytes, digest: bytes) -> bytes:
    """65-byte r‖s‖v (v = 27/28, low-s) over a 32-byte digest."""
    sig = PrivateKey(private_key).sign_recoverable(digest, hasher=None)
    return sig[:64] + bytes([sig[64] + 27])


def recover(digest: bytes, signature: bytes) -> str:
    """The signer's checksummed address; raises SignatureError for a malformed or high-s signature."""
    if len(signature) != 65:
        raise SignatureError(f"a signature is 65 bytes r‖s‖v, got {len(signature)} bytes; "
                             "pass the exact bytes the signer returned")
    v = signature[64]
    if v not in (27, 28):
        raise SignatureError(f"signature v must be 27 or 28, got {v}; re-sign with an Ethereum signer")
    s = int.from_bytes(signature[32:64], "big")
    if s > _HALF_N or s == 0:
        raise SignatureError("signature s is not in the lower half order (malleable); re-sign with a low-s signer")
    try:
        pub = PublicKey.from_signature_and_message(signature[:64] + bytes([v - 27]), digest, hasher=None)
    except Exception as exc:  # coincurve raises a bare Exception for unrecoverable points
        raise SignatureError(f"signature does not recover to a public key ({exc}); it is corrupt") from exc
    return address_of_public_key(pub)


def verify(digest: bytes, signature: bytes, expected_signer: str) -> bool:
    """True iff `signature` is a valid low-s signature of `digest` by `expected_signer`."""
    try:
        return recover(digest, signature).lower() == expected_signer.lower()
    except SignatureError:
        return False


class Signer:
    """A private key with its address; signs the three OML structs for one domain at a time."""

    def __init__(self, private_key: bytes | str):
        if isinstance(private_key, str):
            private_key = bytes.fromhex(private_key.removeprefix("0x"))
        if len(private_key) != 32:
            raise SignatureError(f"a private key is 32 bytes, got {len(private_key)}; pass the hex key (0x + 64 hex digits)")
        self._key = PrivateKey(private_key)
        self.private_key = bytes(private_key)
        self.address = address_of_public_key(self._key.public_key)

    def __repr__(self) -> str:  # never print the key
        return f"Signer({self.address})"

    def sign_digest(self, digest: bytes) -> bytes:
        sig = self._key.sign_recoverable(digest, hasher=None)
        return sig[:64] + bytes([sig[64] + 27])

    def sign_permission(self, domain: Domain, model_id: int, host: str, query_hash: bytes, seq: int) -> bytes:
        return self.sign_digest(digest_permission(domain, model_id, host, query_hash, seq))

    def sign_voucher(self, domain: Domain, model_id: int, host: str, count: int, cumulative_amount: int) -> bytes:
        return self.sign_digest(digest_voucher(domain, model_id, host, count, cumulative_amount))

    def sign_attestation(self, domain: Domain, model_id: int, host: str, query_hash: bytes,
                         response_hash: bytes, permission_hash_: bytes, seq: int) -> bytes:
        return self.sign_digest(digest_attestation(domain, model_id, host, query_hash, response_hash,
                                                   permission_hash_, seq))


def verify_permission(domain: Domain, signer: str, model_id: int, host: str, query_hash: bytes, seq: int,
                      signature: bytes) -> bool:
    return verify(digest_permission(domain, model_id, host, query_hash, seq), signature, signer)


def verify_voucher(domain: Domain, signer: str, model_id: int, host: str, count: int, cumulative_amount: int,
                   signature: bytes) -> bool:
    return verify(digest_voucher(domain, model_id, host, count, cumulative_amount), signature, signer)


def verify_attestation(domain: Domain, signer: str, model_id: int, host: str, query_hash: bytes,
                       response_hash: bytes, permission_hash_: bytes, seq: int, signature: bytes) -> bool:
    return verify(digest_attestation(domain, model_id, host, query_hash, response_hash, permission_hash_, seq),
                  signature, signer)


def typed_data(domain: Domain, primary_type: str, message: dict) -> dict:
    """The full EIP-712 JSON (for wallets / eth_signTypedData_v4 and as a cross-check)."""
    return {
        "types": {"EIP712Domain": [{"name": n, "type": t} for n, t in DOMAIN_FIELDS],
                  primary_type: [{"name": n, "type": t} for n, t in TYPES[primary_type]]},
        "primaryType": primary_type,
        "domain": domain.as_dict(),
        "message": message,
    }
