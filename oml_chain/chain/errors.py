"""One exception root for OML, and the decoder that turns a contract revert into one.

Every class subclasses `OMLError` and the built-in that matches its meaning, so
callers may catch either. A contract revert becomes a `ContractError` subclass
(chosen per Solidity error in `ERROR_TABLE` below) carrying `.error` (the Solidity
name) and `.values` (the decoded arguments by name); its message says what
failed, with the values, and what to do.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from eth_abi import decode as abi_decode
from eth_utils import keccak, to_checksum_address


class OMLError(Exception):
    """Root of every error raised by OML."""


class ConfigError(OMLError, ValueError):
    """A bad setting or argument (wrong type, range, missing file)."""


class SignatureError(OMLError, ValueError):
    """A malformed or invalid signature or key."""


class RPCUnavailable(OMLError, ConnectionError):
    """The JSON-RPC endpoint cannot be reached."""

    def __init__(self, url: str, cause: BaseException | None = None):
        super().__init__(
            f"cannot reach the Ethereum RPC at {url} ({cause.__class__.__name__ if cause else 'no answer'}"
            f"{': ' + str(cause) if cause else ''}); check the RPC URL, or start a local chain with `oml chain up`"
        )
        self.url = url


class DeploymentNotFound(OMLError, LookupError):
    """No OML deployment is recorded for this chain."""


class CompileError(OMLError, RuntimeError):
    """solc failed to compile contracts/."""


class TransactionFailed(OMLError, RuntimeError):
    """A transaction was mined but reverted without decodable reason (out of gas, plain revert)."""


# --- contract reverts ------------------------------------------------------------------------------


class ContractError(OMLError):
    """A Solidity custom error raised by the OML contract."""

    def __init__(self, error: str, values: Mapping[str, Any], hint: str = ""):
        self.error = error
        self.values = dict(values)
        shown = ", ".join(f"{k}={_show(v)}" for k, v in self.values.items())
        msg = f"{error}({shown})"
        if hint:
            msg += f": {hint.format_map(_Shown(self.values))}"
        super().__init__(msg)


class ContractValueError(ContractError, ValueError):
    """Bad argument or amount (too small, out of range, wrong count)."""


class ContractPermissionError(ContractError, PermissionError):
    """The sender is not allowed to do this (not the owner, not the prover, …)."""


class ContractLookupError(ContractError, LookupError):
    """The thing referred to does not exist (model, stake, commitment)."""


class ContractStateError(ContractError, RuntimeError):
    """Not allowed in the current state (too early, too late, already done, inactive)."""


class ContractSignatureError(ContractError, SignatureError):
    """A signature or proof did not verify on chain."""


class ContractTransferError(ContractError, ConnectionError):
    """Sending ETH failed (the receiver rejected it)."""


class UnknownContractError(ContractError, RuntimeError):
    """Revert data that does not match any error of the OML ABI."""


class _Shown(dict):
    """Values for a hint template; a field the error does not carry stays as `{name}` instead of failing."""

    def __init__(self, values: Mapping[str, Any]):
        super().__init__({k: _show(v) for k, v in values.items()})

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def _show(v: Any) -> str:
    if isinstance(v, (bytes, bytearray)):
        return "0x" + bytes(v).hex()
    return str(v)


def _canonical_type(inp: Mapping[str, Any]) -> str:
    t = inp["type"]
    if t.startswith("tuple"):
        inner = ",".join(_canonical_type(c) for c in inp["components"])
        return f"({inner}){t[5:]}"
    return t


class RevertDecoder:
    """Maps 4-byte selectors of an ABI's custom errors to Python exceptions."""

    def __init__(self, abi: Iterable[Mapping[str, Any]], table: Mapping[str, tuple[type[ContractError], str]]):
        self.table = dict(table)
        self.errors: dict[bytes, tuple[str, list[str], list[str]]] = {}
        for item in abi:
            if item.get("type") != "error":
                continue
            types = [_canonical_type(i) for i in item["inputs"]]
            sig = f"{item['name']}({','.join(types)})"
            self.errors[keccak(text=sig)[:4]] = (item["name"], [i["name"] for i in item["inputs"]], types)

    def names(self) -> set[str]:
        return {name for name, _, _ in self.errors.values()}

    def decode(self, data: bytes | str | None) -> ContractError | None:
        """The exception for `data` (revert bytes), or None when there is no revert data."""
        if isinstance(data, str):
            data = bytes.fromhex(data.removeprefix("0x"))
        if not data:
            return None
        selector, body = bytes(data[:4]), bytes(data[4:])
        if selector == bytes.fromhex("08c379a0"):  # Error(string)
            (reason,) = abi_decode(["string"], body)
            return UnknownContractError("Error", {"reason": reason}, "the contract reverted with a message")
        if selector == bytes.fromhex("4e487b71"):  # Panic(uint256)
            (code,) = abi_decode(["uint256"], body)
            return UnknownContractError("Panic", {"code": code}, "an assertion or arithmetic check failed in the contract")
        if selector not in self.errors:
            return UnknownContractError("UnknownError", {"data": bytes(data)},
                                        "revert data matches no error of the OML ABI; is the ABI up to date?")
        name, arg_names, types = self.errors[selector]
        raw = abi_decode(types, body)
        values = {n or f"arg{i}": _normalize(v, t) for i, (n, v, t) in enumerate(zip(arg_names, raw, types))}
        cls, hint = self.table.get(name, (UnknownContractError, ""))
        return cls(name, values, hint)


def _normalize(v: Any, t: str) -> Any:
    if t == "address":
        return to_checksum_address(v)
    return v


V, P, L, S, G = (ContractValueError, ContractPermissionError, ContractLookupError, ContractStateError,
                 ContractSignatureError)

# Every custom error of the OML ABI and of the community contracts (contracts/community/, OpenZeppelin's
# governance included): (exception class, what to do). `{name}` fields take the decoded values.
# tests/test_errors.py checks that this table covers the compiled ABIs.
ERROR_TABLE: dict[str, tuple[type[ContractError], str]] = {
    "NothingToWithdraw": (L, "there is nothing to withdraw for this caller; check the balance view first"),
    # model registry
    "ModelNotFound": (L, "model {modelId} does not exist; ids start at 1 (see modelCount)"),
    "ModelNotOwner": (P, "only the owner {owner} may change model {modelId}; send from that account"),
    "ModelInactive": (S, "model {modelId} is inactive and takes no new stake; ask its owner to reactivate it"),
    "ModelBpsOutOfRange": (V, "basis points must be at most 10000 (100%); got {bps}"),
    "ModelZeroSlashBps": (V, "slash_bps must be at least 1, or a slash would take nothing"),
    "ModelZeroPermissionSigner": (V, "set a non-zero permission signer address"),
    "ModelZeroRevenueRecipient": (V, "set a non-zero revenue recipient address"),
    "ModelZeroFingerprintRoot": (V, "set the Merkle root of the fingerprint file (oml fingerprint commit)"),
    "ModelZeroFingerprintCount": (V, "set the number of fingerprints (at least 1)"),
    "ModelZeroMinHostStake": (V, "set a non-zero minimum host stake, or hosts have nothing to lose"),
    "ModelZeroOwner": (V, "the new owner must be a non-zero address"),
    "ModelSignerNotEOA": (V, "the permission signer {signer} has contract code; use a plain key (EOA): permissions "
                             "are checked with ECDSA only"),
    "ModelNoticePeriodOutOfRange": (V, "the notice period must be between {min} and {max} seconds; got {period}"),
    "ModelProverShareTooHigh": (V, "prover_share_bps is at most {max} (so self-reporting never pays); got {bps}"),
    "ModelUnbondingDelayOutOfRange": (V, "the unbonding delay must be between {min} and {max} seconds "
                                         "(at least the 1-day reveal window); got {delay}"),
    "ModelMinStakeTooSmall": (V, "a slash of {slashBps} bps of the minimum stake {minHostStake} wei rounds to zero; "
                                 "raise the minimum stake"),
    "ModelPermissionSignerReused": (V, "{signer} was already a permission signer of this model (or is the current "
                                       "one); rotate to a fresh key"),
    "CheckpointUnorderedInsertion": (S, "a scheduled change would take effect before an earlier one; retry later"),
    # staking
    "StakeBelowMinimum": (V, "the stake would be {amount} wei but the model needs at least {minimum} wei; send more"),
    "StakeUnbonding": (S, "the stake of {host} on model {modelId} is unbonding until {unbondingEnd}; "
                          "wait and withdraw, then stake again"),
    "StakeNotFound": (L, "{host} has no stake on model {modelId}; stake first"),
    "StakeNotUnbonding": (S, "call request_unstake for model {modelId} first"),
    "StakeStillLocked": (S, "the stake unlocks at {unlockTime} (unbonding end + reveal window); it is {now}; "
                            "wait until then"),
    "StakeZeroAttestationSigner": (V, "pass a non-zero attestation signer address"),
    "StakeSignerNotEOA": (V, "the attestation signer {signer} has contract code; use a plain key (EOA)"),
    "StakeDisputePending": (S, "{openDisputes} slash dispute(s) against {host} on model {modelId} are open; the "
                               "stake unlocks when they are defended or finalized"),
    # escrow
    "EscrowZeroDeposit": (V, "deposit a positive amount of wei"),
    "EscrowInsufficient": (V, "needs {needed} wei of escrow but {available} wei is there; deposit more escrow"),
    "EscrowStillThawing": (S, "the escrow withdrawal thaws at {thawEnd}; it is {now}; wait until then"),
    "EscrowZeroWithdrawal": (V, "request a positive amount"),
    "VoucherCountNotIncreasing": (V, "voucher count {count} is not above the settled count {settled}; "
                                     "settle a newer voucher"),
    "VoucherCountTooLarge": (V, "voucher count {count} exceeds the maximum {max}"),
    "VoucherAmountTooLarge": (V, "voucher amount {amount} exceeds the maximum {max}"),
    "VoucherAmountDecreasing": (V, "voucher amount {amount} is below the settled amount {settledAmount}; "
                                   "settle the host's newest voucher"),
    "VoucherInvalidSignature": (G, "the voucher for model {modelId} is not signed by host {host} under this "
                                   "contract's domain; re-sign it with the host's staking key"),
    "RevenueNotRecipient": (P, "only the revenue recipient {recipient} of model {modelId} may withdraw; "
                               "send from that account"),
    # slashing
    "SlashCommitmentExists": (S, "{prover} already committed {commitment}; reveal it or wait until it expires"),
    "SlashCommitmentNotFound": (L, "{prover} has no commitment {commitment}; commit first from this account "
                                   "(or it was already revealed)"),
    "SlashCommitmentMismatch": (V, "the evidence or the sender differs from what was committed; reveal exactly "
                                   "the committed evidence from the committing account"),
    "SlashRevealTooEarly": (S, "reveal in a block after the commit block {commitBlock} (this is block {block}); "
                               "wait for the next block"),
    "SlashCommitmentExpired": (S, "the commitment expired at {expiry} (now {now}); commit again"),
    "SlashStakeNotSlashable": (S, "the stake of {host} on model {modelId} stopped being slashable at "
                                  "{unbondingEnd}, before the commit at {commitTime}"),
    "SlashNothingToSlash": (S, "{host} has no stake left on model {modelId}"),
    "SlashFingerprintIndexOutOfRange": (V, "fingerprint index {index} is not below the model's count {count}"),
    "SlashFingerprintBurned": (S, "fingerprint {index} of model {modelId} was already revealed against {host}; "
                                  "use another"),
    "SlashInvalidMerkleProof": (G, "the fingerprint leaf or proof does not match the model's fingerprint root; "
                                   "build the proof from the committed fingerprint file"),
    "SlashInvalidAttestation": (G, "the attestation is not signed by the host's attestation signer over this "
                                   "evidence (query, response, permission, seq)"),
    "SlashResponseMismatch": (V, "the attested response does not start with the fingerprint response"),
    "SlashPermissionValid": (S, "the host held a valid permission for this query: no misuse to prove"),
    "SlashZeroReceiptRoot": (V, "record a non-zero receipt root"),
    "SlashDisputeNotFound": (L, "no open dispute for fingerprint {index} of model {modelId} against {host}"),
    "SlashDisputeExpired": (S, "the dispute's defence window closed at {deadline} (now {now})"),
    "SlashDisputeActive": (S, "the host may still defend until {deadline} (now {now}); finalize after that"),
    "SlashReceiptNotRecorded": (L, "receipt root {root} was never recorded by this host on this model"),
    "SlashReceiptTooLate": (S, "the receipt root was recorded at {recordedAt}, after the retired signer's grace "
                               "ended at {shieldDeadline}; it cannot shield this permission"),
    "SlashInvalidReceiptProof": (G, "the proof does not place (queryHash, seq) under the recorded root"),
    # community ownership (contracts/community/): shares, vault, factory, deployers
    "SharesNoContributors": (V, "give at least one holder (ADDRESS=AMOUNT)"),
    "SharesLengthMismatch": (V, "{holders} holders but {amounts} amounts; give one amount per holder"),
    "SharesZeroContributor": (V, "holder #{index} is the zero address; give a real account"),
    "SharesDuplicateContributor": (V, "{account} is listed twice; give each holder once with its total"),
    "SharesZeroAmount": (V, "{account} would get 0 shares; give every holder a positive amount"),
    "SharesSupplyTooLarge": (V, "the total supply {supply} exceeds {max} base units; give smaller amounts"),
    "VaultNotBinder": (P, "only the factory that made the vault may bind its shares (caller {caller})"),
    "VaultAlreadyBound": (S, "the vault's shares are already bound"),
    "VaultUnexpectedSender": (P, "the vault accepts ETH only from OML (revenue), not from {sender}"),
    "VaultNotRecipient": (S, "model {modelId} pays its revenue to {recipient}, not to this vault; nothing to pull "
                             "here (a community changes it by proposal)"),
    "VaultNothingToPull": (L, "model {modelId} has no revenue in OML to pull yet; settle fees (or slash) first"),
    "VaultNotShares": (P, "only the shares contract may checkpoint the vault (caller {caller})"),
    "FactoryDelayBelowUnbonding": (V, "the timelock delay {delay} s is below the model's unbonding delay "
                                      "{unbondingDelay} s; hosts must be able to leave before a change takes "
                                      "effect: use a delay of at least {unbondingDelay} s"),
    "FactoryNotModelOwner": (P, "only the owner {owner} of model {modelId} may convert it (caller {caller})"),
    "FactoryNotReserved": (S, "{caller} has not reserved model {modelId} for conversion; the owner runs "
                              "`oml dao convert` (reserve, transfer, convert)"),
    "FactoryNotOwnerYet": (S, "the factory does not own model {modelId} yet; transfer the model's ownership to the "
                              "factory before convertModel"),
    "DeployerNotFactory": (P, "only the community factory may use this deployer (caller {caller})"),
    "DeployerNotCreator": (P, "only the account that created this deployer may name its factory (caller {caller})"),
    "DeployerFactoryAlreadySet": (S, "this deployer already serves the factory {factory}"),
    # OpenZeppelin governance, votes and ERC20 errors the community contracts can surface
    "GovernorInvalidQuorumFraction": (V, "quorum {quorumNumerator}% is above {quorumDenominator}%; give a quorum "
                                         "percent in 0..100"),
    "GovernorInvalidVotingPeriod": (V, "the voting period must be at least 1 s; got {votingPeriod}"),
    "GovernorUnexpectedProposalState": (S, "proposal {proposalId} is in state {current} (0 Pending, 1 Active, "
                                           "2 Canceled, 3 Defeated, 4 Succeeded, 5 Queued, 6 Expired, 7 Executed), "
                                           "which does not allow this; check `oml dao status`"),
    "GovernorNonexistentProposal": (L, "no proposal {proposalId} in this governor; check the id (`oml dao status`)"),
    "GovernorAlreadyCastVote": (S, "{voter} has already voted on this proposal"),
    "GovernorInsufficientProposerVotes": (P, "{proposer} has {votes} votes but proposing needs {threshold}; "
                                             "delegate shares to it first (`oml dao delegate`)"),
    "GovernorInvalidProposalLength": (V, "a proposal needs as many targets ({targets}), calldatas ({calldatas}) "
                                         "and values ({values}), at least one"),
    "GovernorInvalidVoteType": (V, "vote for, against or abstain"),
    "GovernorInvalidVoteParams": (V, "this governor takes no vote parameters"),
    "GovernorInvalidSignature": (G, "the vote signature is not by {voter}"),
    "GovernorOnlyExecutor": (P, "only the governance executor (the timelock) may call this; {account} is not it"),
    "GovernorRestrictedProposer": (P, "the description restricts who may propose it; {proposer} may not"),
    "GovernorUnableToCancel": (P, "{account} may not cancel proposal {proposalId} now"),
    "GovernorDisabledDeposit": (V, "the governor does not accept ETH"),
    "GovernorAlreadyQueuedProposal": (S, "proposal {proposalId} is already queued"),
    "GovernorProposalQueueingFailed": (S, "queueing proposal {proposalId} failed"),
    "GovernorProposalQueueingNotRequired": (S, "proposal {proposalId} needs no queueing; execute it"),
    "GovernorQueueNotImplemented": (S, "this governor has no queue"),
    "GovernorNotQueuedProposal": (S, "proposal {proposalId} is not queued; queue it first"),
    "ERC6372InconsistentClock": (S, "the shares' clock and the governor's differ"),
    "ERC5805FutureLookup": (V, "votes at {timepoint} are not known yet (clock {clock}); ask about the past"),
    "VotesExpiredSignature": (S, "the delegation signature expired at {expiry}"),
    "ERC20ExceededSafeSupply": (V, "supply {increasedSupply} exceeds the votes cap {cap}"),
    "ERC20InsufficientBalance": (V, "{sender} holds {balance} share units but {needed} are needed"),
    "ERC20InsufficientAllowance": (V, "{spender} may spend {allowance} share units but {needed} are needed; "
                                      "approve more"),
    "ERC20InvalidSender": (V, "invalid sender {sender}"),
    "ERC20InvalidReceiver": (V, "invalid receiver {receiver}; shares cannot be burned or sent to 0"),
    "ERC20InvalidApprover": (V, "invalid approver {approver}"),
    "ERC20InvalidSpender": (V, "invalid spender {spender}"),
    "ERC2612ExpiredSignature": (S, "the permit expired at {deadline}"),
    "ERC2612InvalidSigner": (G, "the permit is signed by {signer}, not by the owner {owner}"),
    "InvalidAccountNonce": (V, "stale nonce for {account} (now {currentNonce}); sign again"),
    "TimelockInsufficientDelay": (V, "delay {delay} s is below the timelock's minimum {minDelay} s"),
    "TimelockInvalidOperationLength": (V, "targets ({targets}), payloads ({payloads}) and values ({values}) "
                                          "differ in length"),
    "TimelockUnauthorizedCaller": (P, "only the timelock itself may call this (caller {caller})"),
    "TimelockUnexecutedPredecessor": (S, "operation {predecessorId} must be executed first"),
    "TimelockUnexpectedOperationState": (S, "timelock operation {operationId} is not in a state that allows this "
                                            "(not ready: wait for the proposal's eta, or already done)"),
    "AccessControlUnauthorizedAccount": (P, "{account} lacks role {neededRole}"),
    "AccessControlBadConfirmation": (V, "an account may only renounce its own roles"),
    # OpenZeppelin errors the contract can surface
    "ReentrancyGuardReentrantCall": (S, "reentrant call rejected"),
    "FailedCall": (ContractTransferError, "an ETH transfer failed; the receiving account rejected it"),
    "InsufficientBalance": (V, "the contract balance {balance} is below {needed}"),
    "AddressEmptyCode": (V, "{target} has no code"),
    "ECDSAInvalidSignature": (G, "invalid ECDSA signature"),
    "ECDSAInvalidSignatureLength": (G, "a signature is 65 bytes, got {length}"),
    "ECDSAInvalidSignatureS": (G, "signature s value is in the upper half order (malleable); re-sign"),
    "SafeCastOverflowedUintDowncast": (V, "value {value} does not fit in {bits} bits"),
    "InvalidShortString": (V, "invalid short string"),
    "StringTooLong": (V, "string too long: {str}"),
}
del V, P, L, S, G
