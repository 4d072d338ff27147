// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IOMLErrors} from "./IOMLErrors.sol";
import {IOML} from "./IOML.sol";
import {ModelParams} from "../libraries/OMLTypes.sol";

/// @notice What a community is made of, besides its shares' holders (`createCommunityModel`, `convertModel`).
/// @dev Field order is part of the ABI that `oml_chain` mirrors; do not reorder.
struct DaoParams {
    /// @dev Name of the shares token (also its EIP-712 name for `permit`) and of the governor.
    string name;
    /// @dev Symbol of the shares token.
    string symbol;
    /// @dev Contributors, each minted `amounts[i]` shares once; no other mint or burn ever.
    address[] holders;
    uint256[] amounts;
    /// @dev Seconds from a proposal to its vote snapshot (the shares' clock is the timestamp).
    uint48 votingDelay;
    /// @dev Seconds a vote lasts.
    uint32 votingPeriod;
    /// @dev Votes (shares) a proposer needs, at `now − 1`.
    uint256 proposalThreshold;
    /// @dev Quorum in percent of the supply (0..100) at the proposal's snapshot.
    uint256 quorumPercent;
    /// @dev The timelock's minimum delay in seconds; at least the model's `unbondingDelay`.
    uint256 timelockDelay;
}

/// @notice The contracts that own one model (`createCommunityModel`, `convertModel`, `communityOf`).
/// @dev Field order is part of the ABI; do not reorder. All zero for a model without a community.
struct Community {
    uint256 modelId;
    address shares;
    address vault;
    address governor;
    address timelock;
}

/// @title IModelShares
/// @notice A community's shares: ERC20 + ERC20Permit + ERC20Votes on a timestamp clock (ERC-6372), a fixed
/// supply minted at creation. Every transfer first calls `vault.checkpoint(from, to)`.
interface IModelShares {
    /// @notice No contributors were given.
    error SharesNoContributors();
    /// @notice `holders` and `amounts` differ in length.
    error SharesLengthMismatch(uint256 holders, uint256 amounts);
    /// @notice `holders[index]` is the zero address.
    error SharesZeroContributor(uint256 index);
    /// @notice `account` appears more than once in `holders`.
    error SharesDuplicateContributor(address account);
    /// @notice `account` was given zero shares.
    error SharesZeroAmount(address account);
    /// @notice The total supply `supply` would exceed `max` (2^128).
    error SharesSupplyTooLarge(uint256 supply, uint256 max);

    /// @notice The revenue vault whose accumulator every transfer checkpoints.
    function vault() external view returns (address);
}

/// @title IRevenueVault
/// @notice A model's `revenueRecipient`: pulls revenue from OML and shares it among the holders of the
/// community's shares by a reward-per-share accumulator (scaled by 1e27, starting at 1), credited at the balances
/// the revenue arrived under; holders `claim` (pull). Each holder's record is one storage slot (`uint160` paid
/// accumulator, `uint96` claimable wei).
interface IRevenueVault is IOMLErrors {
    /// @notice `caller` is not the binder named at construction.
    error VaultNotBinder(address caller);
    /// @notice `bindShares` was already called.
    error VaultAlreadyBound();
    /// @notice ETH may arrive only from OML; `sender` sent some.
    error VaultUnexpectedSender(address sender);
    /// @notice The model's revenue `recipient` is not this vault.
    error VaultNotRecipient(uint256 modelId, address recipient);
    /// @notice The model has no revenue to pull.
    error VaultNothingToPull(uint256 modelId);
    /// @notice `caller` is not the shares contract.
    error VaultNotShares(address caller);

    /// @notice `amount` wei of `modelId`'s revenue was pulled; the accumulator is now `accRewardPerShare`.
    event RevenuePulled(uint256 indexed modelId, uint256 amount, uint256 accRewardPerShare);
    /// @notice `account` claimed `amount` wei.
    event RevenueClaimed(address indexed account, uint256 amount);

    /// @notice Bind the shares contract, once, by the binder named at construction.
    /// @param shares The community's shares (ERC20).
    function bindShares(address shares) external;

    /// @notice Initialise the records of `holders` (the minted holders), by the binder named at construction, so
    /// that their first credit or claim updates a warm, non-zero slot instead of writing a fresh one.
    /// @dev Changes no one's earnings: an unwritten record already counts as credited up to the initial
    /// accumulator (1); records already written are left as they are.
    /// @param holders Accounts whose records to initialise.
    function initAccounts(address[] calldata holders) external;

    /// @notice Pull `modelId`'s revenue from OML and distribute it to the holders of now (anyone may call).
    /// @dev Reverts with VaultNotRecipient unless the model's revenue recipient is this vault, and with
    /// VaultNothingToPull if `OML.revenueOf(modelId)` is zero. `accRewardPerShare += (amount × 1e27 + carry) /
    /// totalSupply`; the remainder is carried to the next pull. Reverts (SafeCast) if the accumulator would
    /// exceed 2^160 (≈ 1.46e21 wei ever pulled per share unit), so that every record's `paid` fits.
    /// @param modelId The model (a vault may serve several versions).
    /// @return amount Wei pulled.
    function pull(uint256 modelId) external returns (uint256 amount);

    /// @notice Credit `from` and `to` with what their balances earned since their last checkpoint (shares only).
    /// @dev Called by the shares contract before every transfer's balance change. Zero addresses are skipped.
    function checkpoint(address from, address to) external;

    /// @notice Credit the caller and pay all its claimable revenue.
    /// @dev Reverts with NothingToWithdraw when it is zero. Non-reentrant.
    /// @return amount Wei paid.
    function claim() external returns (uint256 amount);

    /// @notice Wei `account` may claim now: credited plus pending at its current balance.
    function claimableOf(address account) external view returns (uint256);

    /// @notice 1 + revenue per share unit ever distributed, scaled by 1e27 (1 before the first pull).
    function accRewardPerShare() external view returns (uint256);

    /// @notice Wei pulled from OML, all models together.
    function totalPulled() external view returns (uint256);

    /// @notice Wei paid out by `claim`.
    function totalClaimed() external view returns (uint256);

    /// @notice The shares contract (zero until bound).
    function shares() external view returns (address);

    /// @notice The OML contract revenue is pulled from.
    function oml() external view returns (IOML);
}

/// @title ICommunityDeployer
/// @notice One creation code each (`SharesDeployer`, `VaultDeployer`, `TimelockDeployer`,
/// `GovernorDeployer`), so that the factory stays under the contract size limit. Only their factory may use them.
interface ICommunityDeployer {
    /// @notice `caller` is not the account that created this deployer.
    error DeployerNotCreator(address caller);
    /// @notice The factory is already set to `factory`.
    error DeployerFactoryAlreadySet(address factory);
    /// @notice `caller` is not this deployer's factory.
    error DeployerNotFactory(address caller);

    /// @notice The deployer will accept calls from `factory` only.
    event DeployerFactorySet(address indexed factory);

    /// @notice Name the only factory allowed to deploy with this deployer (once, by the deployer's creator).
    function setFactory(address factory) external;

    /// @notice The factory allowed to deploy (zero until set).
    function factory() external view returns (address);
}

/// @title ICommunityFactory
/// @notice Creates a community (shares, revenue vault, timelock, governor) that owns a model and receives its
/// revenue, either for a new model in one transaction or by converting a single-owner model.
interface ICommunityFactory {
    /// @notice The timelock `delay` is below the model's `unbondingDelay` (hosts could not leave before a change).
    error FactoryDelayBelowUnbonding(uint256 delay, uint256 unbondingDelay);
    /// @notice `caller` is not the model's `owner`.
    error FactoryNotModelOwner(uint256 modelId, address caller, address owner);
    /// @notice `caller` has not reserved the conversion of `modelId`.
    error FactoryNotReserved(uint256 modelId, address caller);
    /// @notice The factory does not own `modelId` yet (transfer it first).
    error FactoryNotOwnerYet(uint256 modelId);

    /// @notice A community now owns `modelId` and receives its revenue.
    event CommunityCreated(
        uint256 indexed modelId, address shares, address vault, address governor, address timelock
    );
    /// @notice `owner` reserved the conversion of `modelId`: only it may convert once the factory owns the model.
    event ConversionReserved(uint256 indexed modelId, address indexed owner);

    /// @notice Deploy a community and register `model` owned by its timelock, its vault the revenue recipient.
    /// @dev `model.revenueRecipient` is replaced by the vault. The factory is the model's owner for one
    /// instant, then transfers ownership to the timelock. Reverts with FactoryDelayBelowUnbonding, any
    /// ModelShares constructor error, OpenZeppelin's GovernorInvalidQuorumFraction, or any registerModel error.
    /// @return c The community.
    function createCommunityModel(ModelParams calldata model, DaoParams calldata dao)
        external
        returns (Community memory c);

    /// @notice Step 1 of converting a single-owner model: its owner reserves the conversion.
    /// @dev Reverts with FactoryNotModelOwner. A reservation by a later owner replaces an earlier one.
    function reserveConversion(uint256 modelId) external;

    /// @notice Step 3 (after the owner's `OML.transferModelOwnership(modelId, factory)`): deploy a community,
    /// make its vault the revenue recipient and hand the model to its timelock.
    /// @dev Reverts with FactoryNotReserved, FactoryNotOwnerYet, FactoryDelayBelowUnbonding (against the larger
    /// of the unbonding delay in force and a pending one). Revenue already in OML goes to the vault's next pull.
    function convertModel(uint256 modelId, DaoParams calldata dao) external returns (Community memory c);

    /// @notice The community the factory created for `modelId` (all zero when none).
    function communityOf(uint256 modelId) external view returns (Community memory);

    /// @notice The OML contract.
    function oml() external view returns (IOML);
}
