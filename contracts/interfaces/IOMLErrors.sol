// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

/// @title IOMLErrors
/// @notice Errors shared by more than one OML concern.
interface IOMLErrors {
    /// @notice The caller has nothing to withdraw (zero stake, revenue, reward or no pending escrow withdrawal).
    error NothingToWithdraw();
}
