// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IOMLErrors} from "./IOMLErrors.sol";
import {Voucher} from "../libraries/OMLTypes.sol";

/// @title IFeeEscrow
/// @notice Host fee escrows, settlement of host-signed cumulative-amount vouchers, and model revenue (pull).
interface IFeeEscrow is IOMLErrors {
    /// @notice A deposit of zero wei.
    error EscrowZeroDeposit();
    /// @notice The operation needs `needed` wei of escrow but `available` is there.
    error EscrowInsufficient(uint256 needed, uint256 available);
    /// @notice The escrow withdrawal thaws until `thawEnd`; it is `now`.
    error EscrowStillThawing(uint256 now, uint256 thawEnd);
    /// @notice A withdrawal request of zero wei.
    error EscrowZeroWithdrawal();
    /// @notice The voucher adds nothing: its `count` is not above the already `settled` count and its amount
    /// not above the settled amount (a replayed or stale voucher).
    error VoucherCountNotIncreasing(uint256 count, uint256 settled);
    /// @notice The voucher's `count` exceeds the supported maximum `max` (2^64 - 1).
    error VoucherCountTooLarge(uint256 count, uint256 max);
    /// @notice The voucher's `cumulativeAmount` exceeds the supported maximum `max` (2^128 - 1).
    error VoucherAmountTooLarge(uint256 amount, uint256 max);
    /// @notice The voucher's cumulative `amount` is below the already settled amount.
    error VoucherAmountDecreasing(uint256 amount, uint256 settledAmount);
    /// @notice The voucher is not signed by its `host`.
    error VoucherInvalidSignature(uint256 modelId, address host);
    /// @notice `caller` is not the model's revenue `recipient`.
    error RevenueNotRecipient(uint256 modelId, address caller, address recipient);

    /// @notice `host` deposited `amount` wei; its escrow balance is now `balance`.
    event EscrowDeposited(uint256 indexed modelId, address indexed host, uint256 amount, uint256 balance);
    /// @notice A voucher for `count` queries and `cumulativeAmount` wei in total settled, moving `amount` wei
    /// (cumulativeAmount − previously settled amount) from the host's escrow to revenue.
    event VoucherSettled(
        uint256 indexed modelId, address indexed host, uint256 count, uint256 cumulativeAmount, uint256 amount
    );
    /// @notice `host` asked to withdraw `amount` wei of escrow, available from `thawEnd`.
    event EscrowWithdrawalRequested(uint256 indexed modelId, address indexed host, uint256 amount, uint256 thawEnd);
    /// @notice `host` withdrew `amount` wei of escrow.
    event EscrowWithdrawn(uint256 indexed modelId, address indexed host, uint256 amount);
    /// @notice The revenue `recipient` pulled `amount` wei of model revenue.
    event RevenueWithdrawn(uint256 indexed modelId, address indexed recipient, uint256 amount);

    /// @notice Deposit `msg.value` into the caller's fee escrow for `modelId`.
    /// @param modelId The model (must exist).
    function depositEscrow(uint256 modelId) external payable;

    /// @notice Settle a host-signed cumulative voucher (anyone may call): moves
    /// `v.cumulativeAmount − settledAmount` from the host's escrow to the model's revenue. The price is not
    /// read: the host owes exactly what it signed. Afterwards `settledAmount = v.cumulativeAmount` and
    /// `settledCount = max(settledCount, v.count)`: both only grow.
    /// @dev Checks, in order: VoucherCountTooLarge, VoucherAmountTooLarge, VoucherCountNotIncreasing (unless
    /// `v.count > settledCount` or `v.cumulativeAmount > settledAmount`), VoucherAmountDecreasing,
    /// VoucherInvalidSignature, EscrowInsufficient. A voucher that raises the amount settles even if its count
    /// is not above the settled count, so a host that settles a voucher with a higher count and no more
    /// amount (up to 2^64 − 1) cannot void the vouchers it gave out: in the end it pays the highest
    /// cumulative amount it signed. Draws on thawing escrow too.
    /// @param v The voucher `(modelId, host, count, cumulativeAmount)`.
    /// @param hostSignature EIP-712 signature of `v` by `v.host` (65 bytes, or ERC-1271 for a contract host).
    function settle(Voucher calldata v, bytes calldata hostSignature) external;

    /// @notice Ask to withdraw `amount` wei of escrow after the model's unbonding delay (in force now).
    /// @dev Replaces any earlier request and restarts the thaw. `amount` must not exceed the balance.
    /// @param modelId The model.
    /// @param amount Wei to withdraw.
    function requestEscrowWithdrawal(uint256 modelId, uint256 amount) external;

    /// @notice Withdraw `min(requested, balance)` once the thaw has ended.
    /// @param modelId The model.
    function withdrawEscrow(uint256 modelId) external;

    /// @notice Pay the model's accumulated revenue to its revenue recipient (recipient only).
    /// @param modelId The model.
    function withdrawRevenue(uint256 modelId) external;

    /// @notice The host's escrow: total `balance`, the part requested for withdrawal, and when it thaws.
    /// @dev Spendable for new permissions: `balance − thawingAmount` (floored at 0) less what the host has
    /// signed for but not yet settled.
    function getEscrow(uint256 modelId, address host)
        external
        view
        returns (uint256 balance, uint256 thawingAmount, uint256 thawEnd);

    /// @notice The highest voucher count settled for `(modelId, host)`.
    function settledCount(uint256 modelId, address host) external view returns (uint256);

    /// @notice The cumulative amount of the last settled voucher for `(modelId, host)` (wei paid in total).
    function settledAmount(uint256 modelId, address host) external view returns (uint256);

    /// @notice The model's unwithdrawn revenue in wei.
    function revenueOf(uint256 modelId) external view returns (uint256);
}
