// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IOMLErrors} from "./IOMLErrors.sol";
import {Voucher} from "../libraries/OMLTypes.sol";

/// @title IFeeEscrow
/// @notice Host fee escrows, settlement of host-signed cumulative vouchers, and model revenue (pull).
interface IFeeEscrow is IOMLErrors {
    /// @notice A deposit of zero wei.
    error EscrowZeroDeposit();
    /// @notice The operation needs `needed` wei of escrow but `available` is there.
    error EscrowInsufficient(uint256 needed, uint256 available);
    /// @notice The escrow withdrawal thaws until `thawEnd`; it is `now`.
    error EscrowStillThawing(uint256 now, uint256 thawEnd);
    /// @notice A withdrawal request of zero wei.
    error EscrowZeroWithdrawal();
    /// @notice The voucher's `count` is not above the already `settled` count.
    error VoucherCountNotIncreasing(uint256 count, uint256 settled);
    /// @notice The voucher's `count` exceeds the supported maximum `max` (2^64 - 1).
    error VoucherCountTooLarge(uint256 count, uint256 max);
    /// @notice The voucher is not signed by its `host`.
    error VoucherInvalidSignature(uint256 modelId, address host);
    /// @notice `caller` is not the model's revenue `recipient`.
    error RevenueNotRecipient(uint256 modelId, address caller, address recipient);

    /// @notice `host` deposited `amount` wei; its escrow balance is now `balance`.
    event EscrowDeposited(uint256 indexed modelId, address indexed host, uint256 amount, uint256 balance);
    /// @notice A voucher for cumulative `count` settled `queries` new queries, moving `amount` wei to revenue.
    event VoucherSettled(
        uint256 indexed modelId, address indexed host, uint256 count, uint256 queries, uint256 amount
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
    /// `(v.count − settled) × pricePerQuery` from the host's escrow to the model's revenue.
    /// @dev Draws on thawing escrow too. Reverts with VoucherCountNotIncreasing, VoucherCountTooLarge,
    /// VoucherInvalidSignature or EscrowInsufficient.
    /// @param v The voucher `(modelId, host, count)`.
    /// @param hostSignature EIP-712 signature of `v` by `v.host` (65 bytes, or ERC-1271).
    function settle(Voucher calldata v, bytes calldata hostSignature) external;

    /// @notice Ask to withdraw `amount` wei of escrow after the model's unbonding delay.
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
    /// @dev Spendable for new permissions: `balance − thawingAmount` (floored at 0).
    function getEscrow(uint256 modelId, address host)
        external
        view
        returns (uint256 balance, uint256 thawingAmount, uint256 thawEnd);

    /// @notice The highest voucher count settled for `(modelId, host)`.
    function settledCount(uint256 modelId, address host) external view returns (uint256);

    /// @notice The model's unwithdrawn revenue in wei.
    function revenueOf(uint256 modelId) external view returns (uint256);
}
