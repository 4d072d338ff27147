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
    /// @dev Scale of the accumulator. With 1e27 the accumulator fits `uint160` for any realistic history:
    /// it grows by `amount × 1e27 / supply` per pull, so it stays below 2^160 ≈ 1.46e48 as long as the revenue
    /// ever pulled per share unit stays below ≈ 1.46e21 wei (e.g. 1.46e39 wei for a supply of 1e18 share units);
    /// past that `pull` reverts (SafeCast) instead of corrupting the records.
    uint256 private constant PRECISION = 1e27;
    /// @dev The accumulator's value before any pull. A `paid` of zero (a record never written) counts as this
    /// value, so records may be initialised (made non-zero) without changing what anyone earns.
    uint160 private constant INITIAL_ACC = 1;

    /// @dev One holder, one slot: the accumulator value it was credited up to (zero: never written, i.e.
    /// `INITIAL_ACC`), and wei credited and not yet claimed (2^96 wei ≈ 79 billion ether).
    struct Account {
        uint160 paid;
        uint96 claimable;
    }

    IOML private immutable _oml;
    address private immutable _binder;
    IERC20 private _shares;
    /// @dev Starts at `INITIAL_ACC`, at most `type(uint160).max` (checked at every pull).
    uint256 private _acc = INITIAL_ACC;
    /// @dev Remainder of the last distribution, in 1e27 units of wei (below the supply).
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
    function initAccounts(address[] calldata holders) external {
        require(msg.sender == _binder, VaultNotBinder(msg.sender));
        for (uint256 i = 0; i < holders.length; i++) {
            Account storage a = _accounts[holders[i]];
            // A zero `paid` already counts as INITIAL_ACC: writing it changes no one's earnings.
            if (a.paid == 0) a.paid = INITIAL_ACC;
        }
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
        // Reverts past 2^160 (see PRECISION), so every `paid` fits its record.
        uint256 acc = SafeCast.toUint160(_acc + scaled / supply);
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
        // One slot write (acc ≤ type(uint160).max, checked by `pull`).
        _accounts[msg.sender] = Account({paid: SafeCast.toUint160(acc), claimable: 0});
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
    /// nothing changed. One slot, read and written once.
    function _credit(address account, uint256 acc) private {
        Account storage a = _accounts[account];
        uint256 paid = a.paid;
        if (paid == 0) paid = INITIAL_ACC;
        // slither-disable-next-line incorrect-equality -- accumulator bookkeeping, not a balance: equal means nothing new
        if (account == address(0) || paid == acc) return;
        uint256 claimable = a.claimable + _pending(account, paid, acc);
        // One slot write. acc ≤ type(uint160).max (checked by `pull`); claimable ≤ Σ pulled, and a claimable past
        // 2^96 wei would revert rather than wrap.
        _accounts[account] = Account({paid: SafeCast.toUint160(acc), claimable: SafeCast.toUint96(claimable)});
    }

    /// @dev `balance × (acc − paid) / PRECISION`, a zero `paid` (never written) counting as INITIAL_ACC. No
    /// overflow: balance ≤ supply ≤ 2^128 and supply × (acc − paid) ≤ Σ pulled × PRECISION + supply.
    function _pending(address account, uint256 paid, uint256 acc) private view returns (uint256) {
        if (paid == 0) paid = INITIAL_ACC;
        return _shares.balanceOf(account) * (acc - paid) / PRECISION;
    }
}
