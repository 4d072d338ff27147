// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {Address} from "@openzeppelin/contracts/utils/Address.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {IHostStaking} from "./interfaces/IHostStaking.sol";
import {ModelRegistry} from "./ModelRegistry.sol";
import {HostStake, Model, OMLTypes} from "./libraries/OMLTypes.sol";

/// @title HostStaking
/// @notice Per-model host stakes (one concern of `OML`).
abstract contract HostStaking is ModelRegistry, IHostStaking, ReentrancyGuardTransient {
    /// @dev The signer replaced by the last rotation, accepted in evidence committed before `validUntil`.
    struct PreviousSigner {
        address signer;
        uint64 validUntil;
    }

    mapping(uint256 modelId => mapping(address host => HostStake)) private _stakes;
    mapping(uint256 modelId => mapping(address host => PreviousSigner)) private _previousSigners;

    /// @inheritdoc IHostStaking
    function stake(uint256 modelId, address attestationSigner, string calldata endpoint) external payable {
        Model storage m = _model(modelId);
        require(m.active, ModelInactive(modelId));
        require(attestationSigner != address(0), StakeZeroAttestationSigner());
        HostStake storage s = _stakes[modelId][msg.sender];
        require(s.unbondingEnd == 0, StakeUnbonding(modelId, msg.sender, s.unbondingEnd));
        uint256 total = s.amount + msg.value;
        require(total >= m.minHostStake, StakeBelowMinimum(total, m.minHostStake));
        _stake(modelId, msg.sender, s, total, attestationSigner, endpoint);
    }

    /// @inheritdoc IHostStaking
    function setAttestationSigner(uint256 modelId, address signer) external {
        require(signer != address(0), StakeZeroAttestationSigner());
        HostStake storage s = _existingStake(modelId, msg.sender);
        _setAttestationSigner(modelId, msg.sender, s, signer);
    }

    /// @inheritdoc IHostStaking
    function setEndpoint(uint256 modelId, string calldata endpoint) external {
        HostStake storage s = _existingStake(modelId, msg.sender);
        s.endpoint = endpoint;
        emit EndpointUpdated(modelId, msg.sender, endpoint);
    }

    /// @inheritdoc IHostStaking
    function requestUnstake(uint256 modelId) external {
        HostStake storage s = _existingStake(modelId, msg.sender);
        require(s.unbondingEnd == 0, StakeUnbonding(modelId, msg.sender, s.unbondingEnd));
        _requestUnstake(modelId, msg.sender, s);
    }

    /// @inheritdoc IHostStaking
    function withdrawStake(uint256 modelId) external nonReentrant {
        HostStake storage s = _stakes[modelId][msg.sender];
        uint256 unbondingEnd = s.unbondingEnd;
        require(unbondingEnd != 0, StakeNotUnbonding(modelId, msg.sender));
        uint256 unlockTime = unbondingEnd + OMLTypes.REVEAL_WINDOW;
        require(block.timestamp >= unlockTime, StakeStillLocked(block.timestamp, unlockTime));
        _withdrawStake(modelId, msg.sender);
    }

    /// @inheritdoc IHostStaking
    function getStake(uint256 modelId, address host) external view returns (HostStake memory) {
        return _stakes[modelId][host];
    }

    /// @inheritdoc IHostStaking
    function getPreviousAttestationSigner(uint256 modelId, address host)
        external
        view
        returns (address signer, uint256 validUntil)
    {
        PreviousSigner storage p = _previousSigners[modelId][host];
        return (p.signer, p.validUntil);
    }

    /// @inheritdoc IHostStaking
    function isActiveHost(uint256 modelId, address host) external view returns (bool) {
        Model storage m = _modelUnchecked(modelId);
        HostStake storage s = _stakes[modelId][host];
        return m.active && s.unbondingEnd == 0 && s.amount != 0 && s.amount >= m.minHostStake;
    }

    /// @dev Add `msg.value` (already checked: `total` meets the minimum) and update signer and endpoint.
    function _stake(
        uint256 modelId,
        address host,
        HostStake storage s,
        uint256 total,
        address attestationSigner,
        string calldata endpoint
    ) private {
        s.amount = SafeCast.toUint128(total);
        emit HostStaked(modelId, host, msg.value, total);
        if (s.attestationSigner != attestationSigner) {
            _setAttestationSigner(modelId, host, s, attestationSigner);
        }
        if (keccak256(bytes(s.endpoint)) != keccak256(bytes(endpoint))) {
            s.endpoint = endpoint;
            emit EndpointUpdated(modelId, host, endpoint);
        }
    }

    /// @dev Replace the signer; the replaced one stays valid for evidence committed within REVEAL_WINDOW,
    /// and the next rotation must wait until then (so no signer is ever dropped early).
    function _setAttestationSigner(uint256 modelId, address host, HostStake storage s, address signer) private {
        address old = s.attestationSigner;
        if (old != address(0)) {
            PreviousSigner storage p = _previousSigners[modelId][host];
            require(block.timestamp >= p.validUntil, StakeSignerRotationTooSoon(block.timestamp, p.validUntil));
            p.signer = old;
            p.validUntil = SafeCast.toUint64(block.timestamp + OMLTypes.REVEAL_WINDOW);
        }
        s.attestationSigner = signer;
        emit AttestationSignerUpdated(modelId, host, old, signer);
    }

    /// @dev Start the unbonding clock.
    function _requestUnstake(uint256 modelId, address host, HostStake storage s) private {
        uint256 unbondingEnd = block.timestamp + _model(modelId).unbondingDelay;
        s.unbondingEnd = SafeCast.toUint64(unbondingEnd);
        emit UnstakeRequested(modelId, host, unbondingEnd);
    }

    /// @dev Clear the stake record and pay what is left of it (nothing if it was slashed to zero).
    function _withdrawStake(uint256 modelId, address host) private {
        uint256 amount = _stakes[modelId][host].amount;
        delete _stakes[modelId][host];
        delete _previousSigners[modelId][host];
        emit StakeWithdrawn(modelId, host, amount);
        if (amount != 0) Address.sendValue(payable(host), amount);
    }

    /// @dev Take `amount` (≤ the stake) from a host's stake for a slash.
    function _slashStake(HostStake storage s, uint256 amount) internal {
        s.amount -= SafeCast.toUint128(amount);
    }

    /// @dev The stake record (possibly empty) for internal use by other concerns.
    function _stakeOf(uint256 modelId, address host) internal view returns (HostStake storage) {
        return _stakes[modelId][host];
    }

    /// @dev The previous signer record for internal use by slashing.
    function _previousSignerOf(uint256 modelId, address host) internal view returns (PreviousSigner storage) {
        return _previousSigners[modelId][host];
    }

    /// @dev A non-empty stake record; reverts with StakeNotFound.
    function _existingStake(uint256 modelId, address host) private view returns (HostStake storage s) {
        s = _stakes[modelId][host];
        require(s.amount != 0 || s.attestationSigner != address(0), StakeNotFound(modelId, host));
    }
}
