// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IVotes} from "@openzeppelin/contracts/governance/utils/IVotes.sol";
import {TimelockController} from "@openzeppelin/contracts/governance/TimelockController.sol";
import {IOML} from "../interfaces/IOML.sol";
import {ICommunityDeployer} from "../interfaces/ICommunity.sol";
import {ModelGovernor} from "./ModelGovernor.sol";
import {ModelShares} from "./ModelShares.sol";
import {RevenueVault} from "./RevenueVault.sol";

/// @title CommunityDeployer
/// @notice What the four deployers share: the factory that alone may use them, named once by their creator.
abstract contract CommunityDeployer is ICommunityDeployer {
    address private immutable _creator;
    address private _factory;

    /// @dev Reverts unless the caller is this deployer's factory.
    modifier onlyFactory() {
        require(msg.sender == _factory && msg.sender != address(0), DeployerNotFactory(msg.sender));
        _;
    }

    constructor() {
        _creator = msg.sender;
    }

    /// @inheritdoc ICommunityDeployer
    function setFactory(address factory_) external {
        require(msg.sender == _creator, DeployerNotCreator(msg.sender));
        require(_factory == address(0), DeployerFactoryAlreadySet(_factory));
        _factory = factory_;
        emit DeployerFactorySet(factory_);
    }

    /// @inheritdoc ICommunityDeployer
    function factory() external view returns (address) {
        return _factory;
    }
}

/// @title SharesDeployer
/// @notice Holds the creation code of `ModelShares`.
contract SharesDeployer is CommunityDeployer {
    /// @notice Deploy the shares of a community (factory only).
    function deploy(
        string calldata name,
        string calldata symbol,
        address vault,
        address[] calldata holders,
        uint256[] calldata amounts
    ) external onlyFactory returns (ModelShares) {
        return new ModelShares(name, symbol, vault, holders, amounts);
    }
}

/// @title VaultDeployer
/// @notice Holds the creation code of `RevenueVault`.
contract VaultDeployer is CommunityDeployer {
    /// @notice Deploy a revenue vault whose shares `binder` binds (factory only).
    function deploy(IOML oml, address binder) external onlyFactory returns (RevenueVault) {
        return new RevenueVault(oml, binder);
    }
}

/// @title TimelockDeployer
/// @notice Holds the creation code of OpenZeppelin's `TimelockController`.
contract TimelockDeployer is CommunityDeployer {
    /// @notice Deploy a timelock with no proposer or executor yet and `admin` to grant them (factory only).
    function deploy(uint256 minDelay, address admin) external onlyFactory returns (TimelockController) {
        return new TimelockController(minDelay, new address[](0), new address[](0), admin);
    }
}

/// @title GovernorDeployer
/// @notice Holds the creation code of `ModelGovernor`.
contract GovernorDeployer is CommunityDeployer {
    /// @notice Deploy a governor (factory only); arguments as `ModelGovernor`'s constructor.
    function deploy(
        string calldata name,
        IVotes token,
        TimelockController timelock,
        uint48 votingDelay,
        uint32 votingPeriod,
        uint256 proposalThreshold,
        uint256 quorumPercent
    ) external onlyFactory returns (ModelGovernor) {
        return new ModelGovernor(name, token, timelock, votingDelay, votingPeriod, proposalThreshold, quorumPercent);
    }
}
