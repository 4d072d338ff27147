// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IOMLErrors} from "./IOMLErrors.sol";
import {HostStake} from "../libraries/OMLTypes.sol";

/// @title IHostStaking
/// @notice Per-model host stakes: stake, top up, attestation key and endpoint, unbond, withdraw.
/// @dev A stake is keyed by `(modelId, host)`; `host` is the staking address (it also signs vouchers).
interface IHostStaking is IOMLErrors {
    /// @notice The stake after this call (`amount`) would be below the model's `minimum` in force.
    error StakeBelowMinimum(uint256 amount, uint256 minimum);
    /// @notice The stake is unbonding (until `unbondingEnd`) and cannot be topped up or unbonded again.
    error StakeUnbonding(uint256 modelId, address host, uint256 unbondingEnd);
    /// @notice `host` has no stake on `modelId`.
    error StakeNotFound(uint256 modelId, address host);
    /// @notice The stake is not unbonding; call `requestUnstake` first.
    error StakeNotUnbonding(uint256 modelId, address host);
    /// @notice The stake unlocks at `unlockTime` (= unbondingEnd + REVEAL_WINDOW); it is `now`.
    error StakeStillLocked(uint256 now, uint256 unlockTime);
    /// @notice The attestation signer is the zero address.
    error StakeZeroAttestationSigner();
    /// @notice The attestation signer has code; it must be an EOA (attestations are checked with ECDSA only).
    error StakeSignerNotEOA(address signer);
    /// @notice `openDisputes` slash disputes against the host are open; the stake cannot be withdrawn.
    error StakeDisputePending(uint256 modelId, address host, uint256 openDisputes);

    /// @notice `host` added `amount` wei; its stake is now `totalStake`.
    event HostStaked(uint256 indexed modelId, address indexed host, uint256 amount, uint256 totalStake);
    /// @notice The host's attestation signer changed; `previousSigner` stays valid for slash evidence
    /// committed before `attestationSignerValidUntil`.
    event AttestationSignerUpdated(
        uint256 indexed modelId, address indexed host, address previousSigner, address newSigner
    );
    /// @notice The host's endpoint changed.
    event EndpointUpdated(uint256 indexed modelId, address indexed host, string endpoint);
    /// @notice The host started unbonding; the stake stays slashable until `unbondingEnd`.
    event UnstakeRequested(uint256 indexed modelId, address indexed host, uint256 unbondingEnd);
    /// @notice The host withdrew its stake of `amount` wei.
    event StakeWithdrawn(uint256 indexed modelId, address indexed host, uint256 amount);

    /// @notice Stake on a model, or top up an existing stake, and set the attestation signer and endpoint.
    /// @dev The resulting stake must be at least the `minHostStake` in force; reverts for an inactive model
    /// (ModelInactive), a zero or contract signer (StakeZeroAttestationSigner, StakeSignerNotEOA) or while
    /// unbonding. Changing the signer here is a rotation as in `setAttestationSigner`.
    /// @param modelId The model.
    /// @param attestationSigner EOA that signs the host's attestations.
    /// @param endpoint The host's public endpoint URL.
    function stake(uint256 modelId, address attestationSigner, string calldata endpoint) external payable;

    /// @notice Change the attestation signer. The replaced signer stays valid for slash evidence committed
    /// before `now + REVEAL_WINDOW`; its validity is kept per signer and never shortened by later rotations,
    /// so rotations are not rate limited.
    /// @param modelId The model.
    /// @param signer The new signer (non-zero EOA).
    function setAttestationSigner(uint256 modelId, address signer) external;

    /// @notice Change the endpoint.
    /// @param modelId The model.
    /// @param endpoint The new endpoint URL.
    function setEndpoint(uint256 modelId, string calldata endpoint) external;

    /// @notice Start unbonding: `unbondingEnd = now + unbondingDelay` (in force now). The stake stays
    /// slashable until then.
    /// @param modelId The model.
    function requestUnstake(uint256 modelId) external;

    /// @notice Withdraw the whole stake once `now >= unbondingEnd + REVEAL_WINDOW` and no slash dispute
    /// against the host is open (StakeDisputePending).
    /// @param modelId The model.
    function withdrawStake(uint256 modelId) external;

    /// @notice The stake of `host` on `modelId` (all zero if none).
    function getStake(uint256 modelId, address host) external view returns (HostStake memory);

    /// @notice Until when the replaced attestation signer `signer` is accepted in slash evidence (compared
    /// with the commit time); 0 if `signer` was never replaced for this host.
    function attestationSignerValidUntil(uint256 modelId, address host, address signer)
        external
        view
        returns (uint256);

    /// @notice True when the stake is at least the minimum in force, not unbonding, and the model is active.
    function isActiveHost(uint256 modelId, address host) external view returns (bool);

    /// @notice Number of open slash disputes against `host` on `modelId`.
    function openDisputes(uint256 modelId, address host) external view returns (uint256);
}
