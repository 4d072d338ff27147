// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {Address} from "@openzeppelin/contracts/utils/Address.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {IHostStaking} from "./interfaces/IHostStaking.sol";
import {ModelRegistry} from "./ModelRegistry.sol";
import {HostStake, OMLTypes} from "./libraries/OMLTypes.sol";

/// @title HostStaking
/// @notice Per-model host stakes (one concern of `OML`).
abstract contract HostStaking is ModelRegistry, IHostStaking, ReentrancyGuardTransient {
    /// @dev A stake as stored; `amount`, `unbondingEnd` and `openDisputes` share the slot a reveal reads.
    struct StakeRecord {
        uint128 amount;
        uint64 unbondingEnd;
        uint64 openDisputes;
        address attestationSigner;
        string endpoint;
    }

    mapping(uint256 modelId => mapping(address host => StakeRecord)) private _stakes;
    mapping(uint256 modelId => mapping(address host => mapping(address signer => uint256 validUntil))) private
        _signerValidUntil;

    /// @inheritdoc IHostStaking
    function stake(uint256 modelId, address attestationSigner, string calldata endpoint) external payable {
        ModelRecord storage m = _model(modelId);
        require(m.active, ModelInactive(modelId));
        _checkAttestationSigner(attestationSigner);
        StakeRecord storage s = _stakes[modelId][msg.sender];
        require(s.unbondingEnd == 0, StakeUnbonding(modelId, msg.sender, s.unbondingEnd));
        uint256 total = s.amount + msg.value;
        uint256 minimum = _stakeTermsAt(m, block.timestamp).minHostStake;
        require(total >= minimum, StakeBelowMinimum(total, minimum));
        _stake(modelId, msg.sender, s, total, attestationSigner, endpoint);
    }

    /// @inheritdoc IHostStaking
    function setAttestationSigner(uint256 modelId, address signer) external {
        _checkAttestationSigner(signer);
        StakeRecord storage s = _existingStake(modelId, msg.sender);
        _setAttestationSigner(modelId, msg.sender, s, signer);
    }

    /// @inheritdoc IHostStaking
    function setEndpoint(uint256 modelId, string calldata endpoint) external {
        StakeRecord storage s = _existingStake(modelId, msg.sender);
        s.endpoint = endpoint;
        emit EndpointUpdated(modelId, msg.sender, endpoint);
    }

    /// @inheritdoc IHostStaking
    function requestUnstake(uint256 modelId) external {
        StakeRecord storage s = _existingStake(modelId, msg.sender);
        require(s.unbondingEnd == 0, StakeUnbonding(modelId, msg.sender, s.unbondingEnd));
        _requestUnstake(modelId, msg.sender, s);
    }

    /// @inheritdoc IHostStaking
    function withdrawStake(uint256 modelId) external nonReentrant {
        StakeRecord storage s = _stakes[modelId][msg.sender];
        uint256 unbondingEnd = s.unbondingEnd;
        require(unbondingEnd != 0, StakeNotUnbonding(modelId, msg.sender));
        uint256 unlockTime = unbondingEnd + OMLTypes.REVEAL_WINDOW;
        require(block.timestamp >= unlockTime, StakeStillLocked(block.timestamp, unlockTime));
        require(s.openDisputes == 0, StakeDisputePending(modelId, msg.sender, s.openDisputes));
        _withdrawStake(modelId, msg.sender);
    }

    /// @inheritdoc IHostStaking
    function getStake(uint256 modelId, address host) external view returns (HostStake memory) {
        StakeRecord storage s = _stakes[modelId][host];
        return HostStake({
            amount: s.amount,
            unbondingEnd: s.unbondingEnd,
            attestationSigner: s.attestationSigner,
            endpoint: s.endpoint
        });
    }

    /// @inheritdoc IHostStaking
    function attestationSignerValidUntil(uint256 modelId, address host, address signer)
        external
        view
        returns (uint256)
    {
        return _signerValidUntil[modelId][host][signer];
    }

    /// @inheritdoc IHostStaking
    function isActiveHost(uint256 modelId, address host) external view returns (bool) {
        ModelRecord storage m = _modelUnchecked(modelId);
        StakeRecord storage s = _stakes[modelId][host];
        return m.active && s.unbondingEnd == 0 && s.amount != 0
            && s.amount >= _stakeTermsAt(m, block.timestamp).minHostStake;
    }

    /// @inheritdoc IHostStaking
    function openDisputes(uint256 modelId, address host) external view returns (uint256) {
        return _stakes[modelId][host].openDisputes;
    }

    /// @dev Add `msg.value` (already checked: `total` meets the minimum) and update signer and endpoint.
    function _stake(
        uint256 modelId,
        address host,
        StakeRecord storage s,
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

    /// @dev Replace the signer; the replaced one stays valid for evidence committed before
    /// `now + REVEAL_WINDOW`. Time only grows, so this never shortens a validity set by an earlier rotation.
    function _setAttestationSigner(uint256 modelId, address host, StakeRecord storage s, address signer) private {
        address old = s.attestationSigner;
        if (old != address(0) && old != signer) {
            _signerValidUntil[modelId][host][old] = block.timestamp + OMLTypes.REVEAL_WINDOW;
        }
        s.attestationSigner = signer;
        emit AttestationSignerUpdated(modelId, host, old, signer);
    }

    /// @dev Start the unbonding clock with the unbonding delay in force now.
    function _requestUnstake(uint256 modelId, address host, StakeRecord storage s) private {
        uint256 unbondingEnd = block.timestamp + _stakeTermsAt(_model(modelId), block.timestamp).unbondingDelay;
        s.unbondingEnd = SafeCast.toUint64(unbondingEnd);
        emit UnstakeRequested(modelId, host, unbondingEnd);
    }

    /// @dev Clear the stake record and pay what is left of it (nothing if it was slashed to zero).
    /// Replaced signers' validity is kept: it only ever admits evidence signed by this host's own keys.
    function _withdrawStake(uint256 modelId, address host) private {
        uint256 amount = _stakes[modelId][host].amount;
        delete _stakes[modelId][host];
        emit StakeWithdrawn(modelId, host, amount);
        if (amount != 0) Address.sendValue(payable(host), amount);
    }

    /// @dev Take `amount` (≤ the stake) from a host's stake for a slash.
    function _slashStake(StakeRecord storage s, uint256 amount) internal {
        s.amount -= SafeCast.toUint128(amount);
    }

    /// @dev The stake record (possibly empty) for internal use by other concerns.
    function _stakeOf(uint256 modelId, address host) internal view returns (StakeRecord storage) {
        return _stakes[modelId][host];
    }

    /// @dev Whether `signer` signs for `s` in evidence committed at `commitTime`: the current signer, or a
    /// replaced one still valid then.
    function _isAttestationSigner(
        uint256 modelId,
        address host,
        StakeRecord storage s,
        address signer,
        uint256 commitTime
    ) internal view returns (bool) {
        return signer == s.attestationSigner || _signerValidUntil[modelId][host][signer] > commitTime;
    }

    /// @dev An attestation signer is a non-zero EOA.
    function _checkAttestationSigner(address signer) private view {
        require(signer != address(0), StakeZeroAttestationSigner());
        require(signer.code.length == 0, StakeSignerNotEOA(signer));
    }

    /// @dev A non-empty stake record; reverts with StakeNotFound.
    function _existingStake(uint256 modelId, address host) private view returns (StakeRecord storage s) {
        s = _stakes[modelId][host];
        require(s.amount != 0 || s.attestationSigner != address(0), StakeNotFound(modelId, host));
    }
}
