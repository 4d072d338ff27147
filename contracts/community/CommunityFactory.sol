// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {TimelockController} from "@openzeppelin/contracts/governance/TimelockController.sol";
import {IOML} from "../interfaces/IOML.sol";
import {Community, DaoParams, ICommunityFactory} from "../interfaces/ICommunity.sol";
import {Model, ModelParams, StakeTerms} from "../libraries/OMLTypes.sol";
import {GovernorDeployer, SharesDeployer, TimelockDeployer, VaultDeployer} from "./Deployers.sol";
import {ModelGovernor} from "./ModelGovernor.sol";
import {ModelShares} from "./ModelShares.sol";
import {RevenueVault} from "./RevenueVault.sol";

/// @title CommunityFactory
/// @notice Creates the contracts that own a model and receive its revenue: shares, revenue vault, timelock
/// (the owner) and governor (its only proposer and canceller); for a new model in one transaction, or by
/// converting a single-owner model in three.
contract CommunityFactory is ICommunityFactory {
    IOML private immutable _oml;
    SharesDeployer private immutable _sharesDeployer;
    VaultDeployer private immutable _vaultDeployer;
    TimelockDeployer private immutable _timelockDeployer;
    GovernorDeployer private immutable _governorDeployer;

    mapping(uint256 modelId => address owner) private _reservedBy;
    mapping(uint256 modelId => Community) private _communities;

    constructor(
        IOML oml_,
        SharesDeployer sharesDeployer,
        VaultDeployer vaultDeployer,
        TimelockDeployer timelockDeployer,
        GovernorDeployer governorDeployer
    ) {
        _oml = oml_;
        _sharesDeployer = sharesDeployer;
        _vaultDeployer = vaultDeployer;
        _timelockDeployer = timelockDeployer;
        _governorDeployer = governorDeployer;
    }

    /// @inheritdoc ICommunityFactory
    function createCommunityModel(ModelParams calldata model, DaoParams calldata dao)
        external
        returns (Community memory c)
    {
        _checkDelay(dao.timelockDelay, model.unbondingDelay);
        c = _deploy(dao);
        ModelParams memory params = model;
        params.revenueRecipient = c.vault;
        c.modelId = _oml.registerModel(params);
        _handOver(c);
    }

    /// @inheritdoc ICommunityFactory
    function reserveConversion(uint256 modelId) external {
        address owner = _oml.getModel(modelId).owner;
        require(msg.sender == owner, FactoryNotModelOwner(modelId, msg.sender, owner));
        _reservedBy[modelId] = msg.sender;
        emit ConversionReserved(modelId, msg.sender);
    }

    /// @inheritdoc ICommunityFactory
    function convertModel(uint256 modelId, DaoParams calldata dao) external returns (Community memory c) {
        require(_reservedBy[modelId] == msg.sender, FactoryNotReserved(modelId, msg.sender));
        Model memory m = _oml.getModel(modelId);
        require(m.owner == address(this), FactoryNotOwnerYet(modelId));
        // A scheduled longer unbonding delay counts too: it will be in force while the community governs.
        (StakeTerms memory pending, uint256 effectiveAt) = _oml.pendingStakeTerms(modelId);
        uint256 unbonding = m.unbondingDelay;
        if (effectiveAt != 0 && pending.unbondingDelay > unbonding) unbonding = pending.unbondingDelay;
        _checkDelay(dao.timelockDelay, unbonding);
        delete _reservedBy[modelId];
        c = _deploy(dao);
        c.modelId = modelId;
        _oml.setRevenueRecipient(modelId, c.vault);
        _handOver(c);
    }

    /// @inheritdoc ICommunityFactory
    function communityOf(uint256 modelId) external view returns (Community memory) {
        return _communities[modelId];
    }

    /// @inheritdoc ICommunityFactory
    function oml() external view returns (IOML) {
        return _oml;
    }

    function _checkDelay(uint256 delay, uint256 unbondingDelay) private pure {
        require(delay >= unbondingDelay, FactoryDelayBelowUnbonding(delay, unbondingDelay));
    }

    /// @dev Vault, shares (bound to the vault, the minted holders' vault records initialised), timelock (admin: this factory, for now), governor; then the
    /// governor becomes the timelock's only proposer and canceller, anyone an executor, and the factory
    /// renounces the admin role (the timelock stays its own admin, so only a proposal can change roles).
    function _deploy(DaoParams calldata dao) private returns (Community memory c) {
        RevenueVault vault = _vaultDeployer.deploy(_oml, address(this));
        ModelShares shares = _sharesDeployer.deploy(dao.name, dao.symbol, address(vault), dao.holders, dao.amounts);
        vault.bindShares(address(shares));
        vault.initAccounts(dao.holders);
        TimelockController timelock = _timelockDeployer.deploy(dao.timelockDelay, address(this));
        ModelGovernor governor = _governorDeployer.deploy(
            dao.name, shares, timelock, dao.votingDelay, dao.votingPeriod, dao.proposalThreshold, dao.quorumPercent
        );
        timelock.grantRole(timelock.PROPOSER_ROLE(), address(governor));
        timelock.grantRole(timelock.CANCELLER_ROLE(), address(governor));
        timelock.grantRole(timelock.EXECUTOR_ROLE(), address(0));
        timelock.renounceRole(timelock.DEFAULT_ADMIN_ROLE(), address(this));
        c.shares = address(shares);
        c.vault = address(vault);
        c.governor = address(governor);
        c.timelock = address(timelock);
    }

    /// @dev The timelock becomes the model's owner; the community is recorded.
    function _handOver(Community memory c) private {
        _oml.transferModelOwnership(c.modelId, c.timelock);
        _communities[c.modelId] = c;
        emit CommunityCreated(c.modelId, c.shares, c.vault, c.governor, c.timelock);
    }
}
