// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {CommunityFixture} from "../CommunityFixture.sol";

/// @notice Drives a real community model (real OML revenue by settled host vouchers) with random share
/// transfers, revenue arrivals, pulls and claims by five holders, and keeps a reference model of what each
/// holder earned: Σ over pulls of floor(balance at the pull × amount / supply), independent of the vault's
/// accumulator scale. alice, bob and carol are minted holders (records initialised by the factory); dave and
/// 0xE21 start with unwritten records (a zero `paid`, counting as the initial accumulator).
contract RevenueHandler is CommunityFixture {
    uint256 internal constant N = 5;

    address[N] internal _holders;
    mapping(address holder => uint256) public ghostExpected;
    mapping(address holder => uint256) public ghostClaimed;
    uint256 public ghostPulled;
    uint256 public ghostClaimedTotal;
    uint256 public ghostPulls;

    constructor() {
        setUp();
        _holders = [alice, bob, carol, dave, address(0xE21)];
    }

    function holderAt(uint256 i) external view returns (address) {
        return _holders[i];
    }

    function nHolders() external pure returns (uint256) {
        return N;
    }

    function targetVault() external view returns (address) {
        return address(vault);
    }

    function actionSelectors() external pure returns (bytes4[] memory s) {
        s = new bytes4[](4);
        s[0] = this.transfer.selector;
        s[1] = this.earn.selector;
        s[2] = this.pull.selector;
        s[3] = this.claim.selector;
    }

    function transfer(uint256 fromSeed, uint256 toSeed, uint256 amount) external {
        address from = _holders[fromSeed % N];
        address to = _holders[toSeed % N];
        amount = bound(amount, 0, shares.balanceOf(from));
        _transfer(from, to, amount);
    }

    /// @dev Fees arrive in OML (not yet the vault's).
    function earn(uint256 amount) external {
        _earn(bound(amount, 1, 5 ether));
    }

    function pull() external {
        uint256 amount = oml.revenueOf(modelId);
        if (amount == 0) return;
        for (uint256 i = 0; i < N; i++) {
            ghostExpected[_holders[i]] += shares.balanceOf(_holders[i]) * amount / SUPPLY;
        }
        vault.pull(modelId);
        ghostPulled += amount;
        ghostPulls += 1;
    }

    function claim(uint256 seed) external {
        address who = _holders[seed % N];
        if (vault.claimableOf(who) == 0) return;
        vm.prank(who);
        uint256 paid = vault.claim();
        ghostClaimed[who] += paid;
        ghostClaimedTotal += paid;
    }
}
