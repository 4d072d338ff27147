// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {CommunityFixture} from "./CommunityFixture.sol";
import {Vm} from "../utils/Vm.sol";
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {ERC20Votes} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Votes.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";

/// @notice The baseline: the same token without the vault checkpoint (ERC20 + Permit + Votes, timestamp clock).
contract PlainVotes is ERC20, ERC20Permit, ERC20Votes {
    constructor(address[] memory holders, uint256[] memory amounts) ERC20("Plain", "PLN") ERC20Permit("Plain") {
        for (uint256 i = 0; i < holders.length; i++) {
            _mint(holders[i], amounts[i]);
        }
    }

    function clock() public view override returns (uint48) {
        return uint48(block.timestamp);
    }

    // solhint-disable-next-line func-name-mixedcase
    function CLOCK_MODE() public pure override returns (string memory) {
        return "mode=timestamp";
    }

    function nonces(address owner) public view override(ERC20Permit, Nonces) returns (uint256) {
        return super.nonces(owner);
    }

    function _update(address from, address to, uint256 value) internal override(ERC20, ERC20Votes) {
        super._update(from, to, value);
    }
}

/// @notice Whole-transaction gas estimates of the community actions, as `tests/forge/Gas.t.sol` computes
/// them: callee execution gas with the touched contracts' storage cold (`vm.cool`), + 21000 + calldata, less
/// the capped refund, at least the EIP-7623 floor. Accounts touched earlier in the test stay warm, so calls
/// into other contracts may be under-estimated by up to 2500 gas each.
contract CommunityGasTest is CommunityFixture {
    PlainVotes internal plain;

    function setUp() public override {
        super.setUp();
        plain = new PlainVotes(_dao().holders, _dao().amounts);
        vm.prank(alice);
        plain.delegate(alice);
        vm.prank(bob);
        plain.delegate(bob);
        vm.warp(block.timestamp + 1);
    }

    function test_gas_createCommunityModel() public {
        bytes memory data = abi.encodeCall(factory.createCommunityModel, (_newModelParams(stranger), _dao()));
        _measure(alice, address(factory), data, "createCommunityModel (3 holders)");
    }

    function test_gas_delegate() public {
        _measure(dave, address(shares), abi.encodeCall(shares.delegate, (dave)), "delegate (no balance)");
        _measure(alice, address(shares), abi.encodeCall(shares.delegate, (bob)), "delegate (500 shares, to another)");
    }

    function test_gas_governance() public {
        Proposal memory p =
            _proposal(address(oml), abi.encodeCall(oml.setPrice, (modelId, 2 * PRICE)), "double the price");
        bytes memory data = abi.encodeCall(governor.propose, (p.targets, p.values, p.calldatas, p.description));
        _measure(alice, address(governor), data, "propose (setPrice)");
        p.id = governor.getProposalId(p.targets, p.values, p.calldatas, keccak256(bytes(p.description)));
        _toVoting(p.id);
        _measure(alice, address(governor), abi.encodeCall(governor.castVote, (p.id, 1)), "castVote");
        _toEnd(p.id);
        bytes32 dh = keccak256(bytes(p.description));
        _measure(bob, address(governor), abi.encodeCall(governor.queue, (p.targets, p.values, p.calldatas, dh)), "queue");
        vm.warp(governor.proposalEta(p.id));
        _measure(
            bob, address(governor), abi.encodeCall(governor.execute, (p.targets, p.values, p.calldatas, dh)), "execute"
        );
        (uint256 price,) = oml.pendingPrice(modelId);
        assertEq(price, 2 * PRICE, "executed");
    }

    /// @dev The claimer already has ETH (it pays for its transaction), so the payment creates no account.
    /// Target (both a holder's first claim and a repeat one): ≤ 60k. The minted holders' records were
    /// initialised by the factory, so even the first claim updates a non-zero slot.
    function test_gas_pull_and_claim() public {
        vm.deal(bob, 1 ether);
        vm.deal(carol, 1 ether);
        _earn(1 ether);
        _measure(stranger, address(vault), abi.encodeCall(vault.pull, (modelId)), "pull (first)");
        _earn(1 ether);
        _measure(stranger, address(vault), abi.encodeCall(vault.pull, (modelId)), "pull (later)");
        uint256 firstInVault =
            _measure(bob, address(vault), abi.encodeCall(vault.claim, ()), "claim (first in the vault, holder's first)");
        uint256 first = _measure(carol, address(vault), abi.encodeCall(vault.claim, ()), "claim (holder's first)");
        assertLe(firstInVault, 60_000, "first claim in the vault gas");
        assertLe(first, 60_000, "holder's first claim gas");
        _earn(1 ether);
        vault.pull(modelId);
        uint256 claimGas = _measure(bob, address(vault), abi.encodeCall(vault.claim, ()), "claim (repeat)");
        assertLe(claimGas, 60_000, "claim gas");
    }

    /// @dev Both holders delegated and already holding; "typical": both were checkpointed by an earlier transfer
    /// and revenue was pulled since; "first touch": the first transfer after a pull of minted holders never
    /// checkpointed since the mint (records initialised by the factory). Target for both: ≤ 30k over plain.
    /// A transfer to a new holder is logged too (its record is written from zero, like its balance).
    function test_gas_transfer_accumulatorOverhead() public {
        _earn(1 ether);
        vault.pull(modelId);
        bytes memory data = abi.encodeCall(shares.transfer, (bob, 1e18));
        uint256 firstTouch = _measure(alice, address(shares), data, "shares transfer, first touch after a pull");
        uint256 plainFirst = _measure(alice, address(plain), data, "plain ERC20Votes transfer (first)");
        _earn(1 ether);
        vault.pull(modelId);
        uint256 typical = _measure(alice, address(shares), data, "shares transfer, typical (after a pull)");
        uint256 noPull = _measure(alice, address(shares), data, "shares transfer, no pull since the last one");
        uint256 plainGas = _measure(alice, address(plain), data, "plain ERC20Votes transfer");
        emit log_named_uint("accumulator overhead, typical", typical - plainGas);
        emit log_named_uint("accumulator overhead, no pull since", noPull - plainGas);
        emit log_named_uint("accumulator overhead, first touch", firstTouch - plainFirst);
        assertLe(typical - plainGas, 30_000, "transfer overhead of the accumulator, typical");
        assertLe(firstTouch - plainFirst, 30_000, "transfer overhead of the accumulator, first touch");
        _earn(1 ether);
        vault.pull(modelId);
        data = abi.encodeCall(shares.transfer, (dave, 1e18));
        uint256 toNew = _measure(alice, address(shares), data, "shares transfer to a new holder, after a pull");
        uint256 plainToNew = _measure(alice, address(plain), data, "plain ERC20Votes transfer to a new holder");
        emit log_named_uint("accumulator overhead, to a new holder", toNew - plainToNew);
    }

    // ---- helpers (as tests/forge/Gas.t.sol) ----

    function _measure(address from, address target, bytes memory data, string memory label)
        private
        returns (uint256 total)
    {
        vm.cool(address(oml));
        vm.cool(address(factory));
        vm.cool(address(shares));
        vm.cool(address(vault));
        vm.cool(address(governor));
        vm.cool(address(timelock));
        vm.cool(address(plain));
        vm.cool(address(sharesDeployer));
        vm.cool(address(vaultDeployer));
        vm.cool(address(timelockDeployer));
        vm.cool(address(governorDeployer));
        vm.prank(from);
        (bool ok,) = target.call(data);
        assertTrue(ok, label);
        Vm.Gas memory g = vm.lastCallGas();
        total = _txGas(data, g);
        emit log_named_uint(string.concat(label, ": tx gas (est.)"), total);
    }

    function _txGas(bytes memory data, Vm.Gas memory g) private pure returns (uint256) {
        uint256 used = 21_000 + 4 * _tokens(data) + g.gasTotalUsed;
        // casting to 'uint256' is safe because the refund counter of a successful call is not negative
        // forge-lint: disable-next-line(unsafe-typecast)
        uint256 refund = uint256(int256(g.gasRefunded));
        if (refund > used / 5) refund = used / 5;
        uint256 floor = 21_000 + 10 * _tokens(data);
        return used - refund > floor ? used - refund : floor;
    }

    function _tokens(bytes memory data) private pure returns (uint256 tokens) {
        for (uint256 i = 0; i < data.length; i++) {
            tokens += data[i] == 0 ? 1 : 4;
        }
    }
}
