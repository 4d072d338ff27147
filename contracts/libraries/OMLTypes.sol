// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

/// @notice What a model owner submits to `registerModel`.
/// @dev Field order is part of the ABI that `oml_chain` mirrors; do not reorder.
struct ModelParams {
    /// @dev keccak256 (or any 32-byte digest) of the M.oml weights file.
    bytes32 weightsHash;
    /// @dev Where model metadata (name, card, download location) lives.
    string metadataURI;
    /// @dev StandardMerkleTree root over the fingerprint leaves.
    bytes32 fingerprintRoot;
    /// @dev Number of leaves N; valid fingerprint indices are 0..N-1.
    uint32 fingerprintCount;
    /// @dev Fee in wei per permitted query (0: a free model). Changes later only with notice (`setPrice`).
    uint128 pricePerQuery;
    /// @dev Key (EOA) that signs EIP-712 `Permission` structs for this model.
    address permissionSigner;
    /// @dev Minimum stake in wei for a host to be active; `minHostStake × slashBps / 10000 ≥ 1`.
    uint128 minHostStake;
    /// @dev Share of a host's stake taken by one successful slash, in basis points (1..10000).
    uint16 slashBps;
    /// @dev Share of a slash paid to the prover, in basis points (0..5000); the rest is model revenue.
    uint16 proverShareBps;
    /// @dev Seconds a host's unstake and escrow withdrawal take to thaw (1 day..365 days).
    uint64 unbondingDelay;
    /// @dev Who may pull the model's revenue (fees and the treasury part of slashes).
    address revenueRecipient;
    /// @dev Seconds between scheduling a price or stake-terms change and its taking effect (1 hour..30 days);
    /// also the grace after a permission signer's retirement in which hosts record their receipts. Fixed.
    uint64 noticePeriod;
}

/// @notice A registered model (`getModel`): the registration parameters, with price and stake terms as in
/// force now, plus its owner and active flag.
/// @dev Field order is part of the ABI (`getModel`); do not reorder.
struct Model {
    bytes32 weightsHash;
    string metadataURI;
    bytes32 fingerprintRoot;
    uint32 fingerprintCount;
    uint128 pricePerQuery;
    address permissionSigner;
    uint128 minHostStake;
    uint16 slashBps;
    uint16 proverShareBps;
    uint64 unbondingDelay;
    address revenueRecipient;
    uint64 noticePeriod;
    /// @dev May schedule price and stake-terms changes, rotate the signer, and change metadata, revenue
    /// recipient, active flag and ownership.
    address owner;
    /// @dev Inactive models accept no new stake; existing stakes stay slashable.
    bool active;
}

/// @notice The four terms a model owner may change with notice (`setStakeTerms`).
/// @dev Field order is part of the ABI (`stakeTermsAt`, `pendingStakeTerms`); do not reorder.
struct StakeTerms {
    uint128 minHostStake;
    uint16 slashBps;
    uint16 proverShareBps;
    uint64 unbondingDelay;
}

/// @notice A host's stake on one model (`getStake`).
struct HostStake {
    /// @dev Wei staked (reduced by slashes).
    uint128 amount;
    /// @dev 0 while bonded; otherwise the time the stake stops being slashable.
    uint64 unbondingEnd;
    /// @dev Key (EOA) that signs the host's EIP-712 `Attestation`s.
    address attestationSigner;
    /// @dev The host's public serving endpoint (URL).
    string endpoint;
}

/// @notice A host-signed cumulative voucher: the host owes `cumulativeAmount` wei in total for `count`
/// queries on `modelId`.
/// @dev EIP-712 type `Voucher(uint256 modelId,address host,uint256 count,uint256 cumulativeAmount)`.
struct Voucher {
    uint256 modelId;
    address host;
    uint256 count;
    uint256 cumulativeAmount;
}

/// @notice A slash commitment as stored under `(prover, commitment)` (one storage slot).
struct Commitment {
    /// @dev Block of the commit; a reveal must come in a later block.
    uint48 blockNumber;
    /// @dev Time of the commit; the reveal window, slashability and the slash terms are taken at it.
    uint48 timestamp;
}

/// @notice A slash whose permission was signed by a retired permission signer, awaiting the host's defence.
/// @dev Field order is part of the ABI (`getDispute`); do not reorder. All zero when there is none.
struct Dispute {
    /// @dev Who revealed the evidence and receives the reward if the slash is finalized.
    address prover;
    /// @dev Last moment the host may defend (reveal time + DISPUTE_WINDOW); finalizable after it.
    uint48 deadline;
    /// @dev The slash terms in force at the commitment's time.
    uint16 slashBps;
    uint16 proverShareBps;
    /// @dev `receiptLeaf(keyHash, seq)`: what the host must prove it recorded.
    bytes32 receiptLeaf;
    /// @dev The retired signer's `retiredAt + noticePeriod`: receipt roots recorded later do not shield.
    uint64 shieldDeadline;
}

/// @notice Everything a prover reveals to prove that a host served a fingerprint key without permission.
/// @dev Field order is part of the ABI and of the commitment hash `keccak256(abi.encode(evidence))`.
struct SlashEvidence {
    uint256 modelId;
    address host;
    /// @dev Leaf index of the fingerprint in the model's Merkle tree.
    uint256 fingerprintIndex;
    /// @dev Per-leaf salt (hides the key until reveal).
    bytes32 salt;
    /// @dev keccak256(utf8(key)); also the attested queryHash.
    bytes32 keyHash;
    /// @dev The fingerprint's response text (utf8); its keccak256 is the leaf's responseHash.
    bytes fingerprintResponse;
    /// @dev The full response text the host attested to (utf8).
    bytes response;
    /// @dev StandardMerkleTree proof of the leaf.
    bytes32[] merkleProof;
    /// @dev The attestation's sequence number (also the Permission's seq).
    uint256 seq;
    /// @dev The permission signature the host attached (65 bytes), or empty if none.
    bytes permission;
    /// @dev The host's attestation signature (65 bytes r||s||v).
    bytes attestation;
}

/// @title OMLTypes
/// @notice Protocol constants, EIP-712 type hashes, and struct and leaf hashing shared by the OML contracts.
library OMLTypes {
    /// @notice Seconds a slash commitment may be revealed after it is made, and the extra lock on stake
    /// withdrawal after unbonding ends.
    uint256 internal constant REVEAL_WINDOW = 1 days;
    /// @notice Seconds a host may defend a disputed slash after it is opened.
    uint256 internal constant DISPUTE_WINDOW = 1 days;
    /// @notice Bounds of a model's `noticePeriod`.
    uint256 internal constant MIN_NOTICE_PERIOD = 1 hours;
    uint256 internal constant MAX_NOTICE_PERIOD = 30 days;
    /// @notice Bounds of `unbondingDelay`; the minimum is the reveal window.
    uint256 internal constant MIN_UNBONDING_DELAY = REVEAL_WINDOW;
    uint256 internal constant MAX_UNBONDING_DELAY = 365 days;
    /// @notice Upper bound of `proverShareBps` (half a slash): self-reporting never pays.
    uint256 internal constant MAX_PROVER_SHARE_BPS = 5000;

    /// @notice EIP-712 type hash of `Permission(uint256 modelId,address host,bytes32 queryHash,uint256 seq)`.
    bytes32 internal constant PERMISSION_TYPEHASH =
        keccak256("Permission(uint256 modelId,address host,bytes32 queryHash,uint256 seq)");

    /// @notice EIP-712 type hash of `Voucher(uint256 modelId,address host,uint256 count,uint256 cumulativeAmount)`.
    bytes32 internal constant VOUCHER_TYPEHASH =
        keccak256("Voucher(uint256 modelId,address host,uint256 count,uint256 cumulativeAmount)");

    /// @notice EIP-712 type hash of the host's attestation.
    bytes32 internal constant ATTESTATION_TYPEHASH = keccak256(
        "Attestation(uint256 modelId,address host,bytes32 queryHash,bytes32 responseHash,bytes32 permissionHash,uint256 seq)"
    );

    /// @notice EIP-712 struct hash of a Permission.
    function hashPermission(uint256 modelId, address host, bytes32 queryHash, uint256 seq)
        internal
        pure
        returns (bytes32)
    {
        return keccak256(abi.encode(PERMISSION_TYPEHASH, modelId, host, queryHash, seq));
    }

    /// @notice EIP-712 struct hash of a Voucher.
    function hashVoucher(Voucher calldata v) internal pure returns (bytes32) {
        return keccak256(abi.encode(VOUCHER_TYPEHASH, v.modelId, v.host, v.count, v.cumulativeAmount));
    }

    /// @notice EIP-712 struct hash of an Attestation.
    function hashAttestation(
        uint256 modelId,
        address host,
        bytes32 queryHash,
        bytes32 responseHash,
        bytes32 permissionHash,
        uint256 seq
    ) internal pure returns (bytes32) {
        return keccak256(
            abi.encode(ATTESTATION_TYPEHASH, modelId, host, queryHash, responseHash, permissionHash, seq)
        );
    }

    /// @notice StandardMerkleTree leaf of a fingerprint `(index, salt, keyHash, responseHash)`.
    function fingerprintLeaf(uint256 index, bytes32 salt, bytes32 keyHash, bytes32 responseHash)
        internal
        pure
        returns (bytes32)
    {
        return keccak256(bytes.concat(keccak256(abi.encode(index, salt, keyHash, responseHash))));
    }

    /// @notice StandardMerkleTree leaf of a permission receipt `(queryHash, seq)`.
    function receiptLeaf(bytes32 queryHash, uint256 seq) internal pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(queryHash, seq))));
    }
}
