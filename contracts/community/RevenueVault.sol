// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {Address} from "@openzeppelin/contracts/utils/Address.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IOML} from "../interfaces/IOML.sol";
import {IRevenueVault} from "../interfaces/ICommunity.sol";

/// @title RevenueVault
/// @notice A model's revenue recipient: pulls revenue from OML and shares it among the holders of the
/// community's shares at the moment it is pulled (reward-per-share accumulator, pull-based claims).
contract RevenueVault is IRevenueVault, ReentrancyGuardTransient {
    /// @dev Scale of the accumulator.
    uint256 private constant PRECISION = 1e36;

    /// @dev One holder: wei credited and not yet claimed, and the accumulator value it was credited up to.
    struct Account {
        uint256 claimable;
        uint256 paid;
    }

    IOML private immutable _oml;
    address private immutable _binder;
    IERC20 private _shares;
    uint256 private _acc;
    /// @dev Remainder of the last distribution, in 1e36 units of wei (below the supply).
    uint256 private _carry;
    /// @dev One slot, non-zero from the first pull on: the first claim writes no fresh slot for the total.
    uint128 private _totalPulled;
    uint128 private _totalClaimed;
    mapping(address account => Account) private _accounts;

    constructor(IOML oml_, address binder) {
        _oml = oml_;
        _binder = binder;
    }

    /// @notice Accepts ETH from OML only (revenue withdrawals).
    receive() external payable {
        require(msg.sender == address(_oml), VaultUnexpectedSender(msg.sender));
    }

    /// @inheritdoc IRevenueVault
    function bindShares(address shares_) external {
        require(msg.sender == _binder, VaultNotBinder(msg.sender));
        require(address(_shares) == address(0), VaultAlreadyBound());
        _shares = IERC20(shares_);
    }

    /// @inheritdoc IRevenueVault
    function pull(uint256 modelId) external nonReentrant returns (uint256 amount) {
        address recipient = _oml.getModel(modelId).revenueRecipient;
        require(recipient == address(this), VaultNotRecipient(modelId, recipient));
        require(_oml.revenueOf(modelId) != 0, VaultNothingToPull(modelId));
        uint256 before = address(this).balance;
        _oml.withdrawRevenue(modelId);
        amount = address(this).balance - before;
        uint256 scaled = amount * PRECISION + _carry;
        uint256 supply = _shares.totalSupply();
        uint256 acc = _acc + scaled / supply;
        _acc = acc;
        _carry = scaled % supply;
        _totalPulled += SafeCast.toUint128(amount);
        emit RevenuePulled(modelId, amount, acc);
    }

    /// @inheritdoc IRevenueVault
    function checkpoint(address from, address to) external {
        require(msg.sender == address(_shares), VaultNotShares(msg.sender));
        uint256 acc = _acc;
        _credit(from, acc);
        _credit(to, acc);
    }

    /// @inheritdoc IRevenueVault
    function claim() external nonReentrant returns (uint256 amount) {
        // What `_credit` would add, paid at once rather than stored and cleared.
        Account storage a = _accounts[msg.sender];
        uint256 acc = _acc;
        uint256 paid = a.paid;
        uint256 credited = a.claimable;
        amount = credited + _pending(msg.sender, paid, acc);
        require(amount != 0, NothingToWithdraw());
        if (credited != 0) a.claimable = 0;
        if (paid != acc) a.paid = acc;
        _totalClaimed += SafeCast.toUint128(amount);
        emit RevenueClaimed(msg.sender, amount);
        Address.sendValue(payable(msg.sender), amount);
    }

    /// @inheritdoc IRevenueVault
    function claimableOf(address account) external view returns (uint256) {
        Account storage a = _accounts[account];
        return a.claimable + _pending(account, a.paid, _acc);
    }

    /// @inheritdoc IRevenueVault
    function accRewardPerShare() external view returns (uint256) {
        return _acc;
    }

    /// @inheritdoc IRevenueVault
    function totalPulled() external view returns (uint256) {
        return _totalPulled;
    }

    /// @inheritdoc IRevenueVault
    function totalClaimed() external view returns (uint256) {
        return _totalClaimed;
    }

    /// @inheritdoc IRevenueVault
    function shares() external view returns (address) {
        return address(_shares);
    }

    /// @inheritdoc IRevenueVault
    function oml() external view returns (IOML) {
        return _oml;
    }

    /// @dev Move what `account`'s balance earned since its last checkpoint into its claimable; no write when
    /// nothing changed.
    function _credit(address account, uint256 acc) private {
        Account storage a = _accounts[account];
        uint256 paid = a.paid;
        // slither-disable-next-line incorrect-equality -- accumulator bookkeeping, not a balance: equal means nothing new
        if (account == address(0) || paid == acc) return;
        uint256 owed = _pending(account, paid, acc);
        if (owed != 0) a.claimable += owed;
        a.paid = acc;
    }

    function _pending(address account, uint256 paid, uint256 acc) private view returns (uint256) {
        return _shares.balanceOf(account) * (acc - paid) / PRECISION;
    }
}
