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
    /// @dev Fee in wei charged per permitted query.
    uint128 pricePerQuery;
    /// @dev Key that signs EIP-712 `Permission` structs for this model.
    address permissionSigner;
    /// @dev Minimum stake in wei for a host to be active.
    uint128 minHostStake;
    /// @dev Share of a host's stake taken by one successful slash, in basis points (1..10000).
    uint16 slashBps;
    /// @dev Share of a slash paid to the prover, in basis points (0..10000); the rest is model revenue.
    uint16 proverShareBps;
    /// @dev Seconds a host's unstake and escrow withdrawal take to thaw.
    uint64 unbondingDelay;
    /// @dev Who may pull the model's revenue (fees and the treasury part of slashes).
    address revenueRecipient;
}

/// @notice A registered model: the registration parameters plus its owner and active flag.
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
    /// @dev May change price, signer, metadata, active flag and ownership.
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
    /// @dev Key that signs the host's EIP-712 `Attestation`s.
    address attestationSigner;
    /// @dev The host's public serving endpoint (URL).
    string endpoint;
}

/// @notice A host-signed cumulative voucher: the host owes `count` queries in total on `modelId`.
/// @dev EIP-712 type `Voucher(uint256 modelId,address host,uint256 count)`.
struct Voucher {
    uint256 modelId;
    address host;
    uint256 count;
}

/// @notice A slash commitment as stored (one storage slot).
struct Commitment {
    /// @dev The account that committed and alone may reveal.
    address prover;
    /// @dev Block of the commit; a reveal must come in a later block.
    uint48 blockNumber;
    /// @dev Time of the commit; the reveal window and slashability are measured from it.
    uint48 timestamp;
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
/// @notice EIP-712 type hashes and struct hashing shared by the OML contracts.
library OMLTypes {
    /// @notice Seconds a slash commitment may be revealed after it is made, and the extra lock on stake
    /// withdrawal after unbonding ends.
    uint256 internal constant REVEAL_WINDOW = 1 days;

    /// @notice EIP-712 type hash of `Permission(uint256 modelId,address host,bytes32 queryHash,uint256 seq)`.
    bytes32 internal constant PERMISSION_TYPEHASH =
        keccak256("Permission(uint256 modelId,address host,bytes32 queryHash,uint256 seq)");

    /// @notice EIP-712 type hash of `Voucher(uint256 modelId,address host,uint256 count)`.
    bytes32 internal constant VOUCHER_TYPEHASH = keccak256("Voucher(uint256 modelId,address host,uint256 count)");

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
        return keccak256(abi.encode(VOUCHER_TYPEHASH, v.modelId, v.host, v.count));
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
}
