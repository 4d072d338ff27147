// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {ERC20Votes} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Votes.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";
import {IModelShares, IRevenueVault} from "../interfaces/ICommunity.sol";

/// @title ModelShares
/// @notice A community's shares: votes (after delegation) on a timestamp clock, and a share of the model's
/// revenue through the vault. Fixed supply, minted once to the contributors.
contract ModelShares is ERC20, ERC20Permit, ERC20Votes, IModelShares {
    /// @dev The largest total supply (so `balance × Δaccumulator` cannot overflow in the vault).
    uint256 private constant MAX_SUPPLY = 2 ** 128;

    IRevenueVault private immutable _vault;

    constructor(
        string memory name,
        string memory symbol,
        address vault_,
        address[] memory holders,
        uint256[] memory amounts
    ) ERC20(name, symbol) ERC20Permit(name) {
        require(holders.length != 0, SharesNoContributors());
        require(holders.length == amounts.length, SharesLengthMismatch(holders.length, amounts.length));
        _vault = IRevenueVault(vault_);
        uint256 supply = 0;
        for (uint256 i = 0; i < holders.length; i++) {
            address holder = holders[i];
            uint256 amount = amounts[i];
            require(holder != address(0), SharesZeroContributor(i));
            require(balanceOf(holder) == 0, SharesDuplicateContributor(holder));
            require(amount != 0, SharesZeroAmount(holder));
            require(
                amount <= MAX_SUPPLY && supply + amount <= MAX_SUPPLY,
                SharesSupplyTooLarge(amount > MAX_SUPPLY ? amount : supply + amount, MAX_SUPPLY)
            );
            supply += amount;
            _mint(holder, amount);
        }
    }

    /// @inheritdoc IModelShares
    function vault() external view returns (address) {
        return address(_vault);
    }

    /// @notice ERC-6372 clock: the block timestamp.
    function clock() public view override returns (uint48) {
        return uint48(block.timestamp);
    }

    /// @notice ERC-6372 clock mode.
    // solhint-disable-next-line func-name-mixedcase
    function CLOCK_MODE() public pure override returns (string memory) {
        return "mode=timestamp";
    }

    /// @inheritdoc ERC20Permit
    function nonces(address owner) public view override(ERC20Permit, Nonces) returns (uint256) {
        return super.nonces(owner);
    }

    /// @dev Every transfer (not the mint) first credits both sides with the revenue their balances earned.
    function _update(address from, address to, uint256 value) internal override(ERC20, ERC20Votes) {
        if (from != address(0)) {
            _vault.checkpoint(from, to);
        }
        super._update(from, to, value);
    }
}
