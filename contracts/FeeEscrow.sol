// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {Address} from "@openzeppelin/contracts/utils/Address.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {IFeeEscrow} from "./interfaces/IFeeEscrow.sol";
import {ModelRegistry} from "./ModelRegistry.sol";
import {OMLTypes, Voucher} from "./libraries/OMLTypes.sol";
import {Signatures} from "./libraries/Signatures.sol";

/// @title FeeEscrow
/// @notice Host fee escrows, cumulative-amount voucher settlement and model revenue (one concern of `OML`).
abstract contract FeeEscrow is ModelRegistry, IFeeEscrow, EIP712, ReentrancyGuardTransient {
    /// @dev One host's escrow on one model: `balance`, `settledCount` and `thawEnd` share a slot, and
    /// `thawing` and `settledAmount` the next, so a settlement touches two slots of escrow state.
    struct EscrowAccount {
        uint128 balance;
        uint64 settledCount;
        uint64 thawEnd;
        uint128 thawing;
        uint128 settledAmount;
    }

    mapping(uint256 modelId => mapping(address host => EscrowAccount)) private _escrows;

    /// @inheritdoc IFeeEscrow
    function depositEscrow(uint256 modelId) external payable {
        _model(modelId);
        require(msg.value != 0, EscrowZeroDeposit());
        EscrowAccount storage e = _escrows[modelId][msg.sender];
        uint256 balance = e.balance + msg.value;
        e.balance = SafeCast.toUint128(balance);
        emit EscrowDeposited(modelId, msg.sender, msg.value, balance);
    }

    /// @inheritdoc IFeeEscrow
    function settle(Voucher calldata v, bytes calldata hostSignature) external {
        require(v.count <= type(uint64).max, VoucherCountTooLarge(v.count, type(uint64).max));
        require(
            v.cumulativeAmount <= type(uint128).max, VoucherAmountTooLarge(v.cumulativeAmount, type(uint128).max)
        );
        EscrowAccount storage e = _escrows[v.modelId][v.host];
        uint256 settledCount_ = e.settledCount;
        uint256 settledAmount_ = e.settledAmount;
        // A voucher that adds to the amount settles whatever its count: a host cannot void the vouchers it
        // handed out by first settling one with a higher count and no more amount.
        require(
            v.count > settledCount_ || v.cumulativeAmount > settledAmount_,
            VoucherCountNotIncreasing(v.count, settledCount_)
        );
        require(v.cumulativeAmount >= settledAmount_, VoucherAmountDecreasing(v.cumulativeAmount, settledAmount_));
        require(
            Signatures.isValidNow(v.host, _hashTypedDataV4(OMLTypes.hashVoucher(v)), hostSignature),
            VoucherInvalidSignature(v.modelId, v.host)
        );
        _settle(v, e, v.cumulativeAmount - settledAmount_);
    }

    /// @inheritdoc IFeeEscrow
    function requestEscrowWithdrawal(uint256 modelId, uint256 amount) external {
        ModelRecord storage m = _model(modelId);
        require(amount != 0, EscrowZeroWithdrawal());
        EscrowAccount storage e = _escrows[modelId][msg.sender];
        require(amount <= e.balance, EscrowInsufficient(amount, e.balance));
        uint256 thawEnd = block.timestamp + _stakeTermsAt(m, block.timestamp).unbondingDelay;
        e.thawing = SafeCast.toUint128(amount);
        e.thawEnd = SafeCast.toUint64(thawEnd);
        emit EscrowWithdrawalRequested(modelId, msg.sender, amount, thawEnd);
    }

    /// @inheritdoc IFeeEscrow
    function withdrawEscrow(uint256 modelId) external nonReentrant {
        EscrowAccount storage e = _escrows[modelId][msg.sender];
        require(e.thawing != 0, NothingToWithdraw());
        require(block.timestamp >= e.thawEnd, EscrowStillThawing(block.timestamp, e.thawEnd));
        _withdrawEscrow(modelId, msg.sender, e);
    }

    /// @inheritdoc IFeeEscrow
    function withdrawRevenue(uint256 modelId) external nonReentrant {
        ModelRecord storage m = _model(modelId);
        address recipient = m.revenueRecipient;
        require(msg.sender == recipient, RevenueNotRecipient(modelId, msg.sender, recipient));
        uint256 amount = m.revenue;
        require(amount != 0, NothingToWithdraw());
        m.revenue = 0;
        emit RevenueWithdrawn(modelId, recipient, amount);
        Address.sendValue(payable(recipient), amount);
    }

    /// @inheritdoc IFeeEscrow
    function getEscrow(uint256 modelId, address host)
        external
        view
        returns (uint256 balance, uint256 thawingAmount, uint256 thawEnd)
    {
        EscrowAccount storage e = _escrows[modelId][host];
        return (e.balance, e.thawing, e.thawEnd);
    }

    /// @inheritdoc IFeeEscrow
    function settledCount(uint256 modelId, address host) external view returns (uint256) {
        return _escrows[modelId][host].settledCount;
    }

    /// @inheritdoc IFeeEscrow
    function settledAmount(uint256 modelId, address host) external view returns (uint256) {
        return _escrows[modelId][host].settledAmount;
    }

    /// @inheritdoc IFeeEscrow
    function revenueOf(uint256 modelId) external view returns (uint256) {
        return _modelUnchecked(modelId).revenue;
    }

    /// @dev Move `amount` (the voucher's cumulative amount less the settled amount) from escrow to revenue
    /// and record the voucher as settled: the settled amount becomes the voucher's, the settled count the
    /// higher of the two (signature, count and amount already checked).
    function _settle(Voucher calldata v, EscrowAccount storage e, uint256 amount) private {
        uint256 balance = e.balance;
        require(amount <= balance, EscrowInsufficient(amount, balance));
        // casting to 'uint128' is safe because amount ≤ balance < 2^128
        // forge-lint: disable-next-line(unsafe-typecast)
        e.balance = uint128(balance - amount);
        // casting to 'uint64' is safe because `settle` checked count ≤ 2^64 − 1
        // forge-lint: disable-next-line(unsafe-typecast)
        if (v.count > e.settledCount) e.settledCount = uint64(v.count);
        // casting to 'uint128' is safe because `settle` checked cumulativeAmount ≤ 2^128 − 1
        // forge-lint: disable-next-line(unsafe-typecast)
        e.settledAmount = uint128(v.cumulativeAmount);
        // A non-zero amount came out of an escrow, and escrows exist only for registered models.
        if (amount != 0) _creditRevenue(_modelUnchecked(v.modelId), amount);
        emit VoucherSettled(v.modelId, v.host, v.count, v.cumulativeAmount, amount);
    }

    /// @dev Pay `min(thawing, balance)` and clear the request.
    function _withdrawEscrow(uint256 modelId, address host, EscrowAccount storage e) private {
        uint256 balance = e.balance;
        uint256 amount = e.thawing < balance ? e.thawing : balance;
        // casting to 'uint128' is safe because amount ≤ balance < 2^128
        // forge-lint: disable-next-line(unsafe-typecast)
        e.balance = uint128(balance - amount);
        e.thawing = 0;
        e.thawEnd = 0;
        emit EscrowWithdrawn(modelId, host, amount);
        if (amount != 0) Address.sendValue(payable(host), amount);
    }
}
