// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {OMLFixture} from "./utils/OMLFixture.sol";
import {Vm} from "./utils/Vm.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {NaivePermissions} from "../../contracts/bench/NaivePermissions.sol";
import {SlashEvidence, StakeTerms, Voucher} from "../../contracts/libraries/OMLTypes.sol";

/// @notice Whole-transaction gas estimates against the design targets, computed as a node does for a
/// transaction sent straight to OML: the callee frame's execution gas (`vm.lastCallGas`, OML's storage made
/// cold with `vm.cool`; in a transaction the target account is warm, so no CALL surcharge), plus 21000 and
/// calldata (EIP-2028), less the refund (EIP-3529, capped at a fifth), but at least the EIP-7623 calldata
/// floor. Each figure is also logged without the refund. The official figures are measured on anvil by
/// `make bench-gas` (anvil receipts agreed with these estimates to within 12 gas). A reveal writes two slots
/// that may be fresh (zero → non-zero, 22.1k each): the host's burned-bitmap word and the prover's reward (the
/// model's revenue shares a slot with its fingerprint count, never zero). "Typical" = fees already settled and
/// the bitmap word already holding an earlier burn of the same host, with a first-time prover; "worst" = the
/// model's first slash: bitmap word and reward fresh, no revenue yet.
contract GasTest is OMLFixture {
    uint256 internal constant DEPTH = 10;
    uint256 internal constant INDEX = 5;
    uint256 internal constant NEIGHBOUR = 6;

    bytes32[] private _proof;
    bytes32[] private _neighbourProof;

    function setUp() public override {
        super.setUp();
        // A model whose root sits ten levels above fingerprints INDEX and NEIGHBOUR, which are siblings
        // (a depth-10 tree of 1024 leaves).
        bytes32[] memory proof = new bytes32[](DEPTH);
        bytes32[] memory neighbourProof = new bytes32[](DEPTH);
        proof[0] = _leaf(NEIGHBOUR);
        neighbourProof[0] = _leaf(INDEX);
        for (uint256 i = 1; i < DEPTH; i++) {
            proof[i] = keccak256(abi.encode("sibling", i));
            neighbourProof[i] = proof[i];
        }
        bytes32 root = MerkleProof.processProof(proof, _leaf(INDEX));
        vm.prank(owner);
        modelId = oml.registerModel(_params(root, 1024));
        _stakeHost(2 ether);
        vm.prank(host);
        oml.depositEscrow{value: 1 ether}(modelId);
        delete tree;
        _proof = proof;
        _neighbourProof = neighbourProof;
    }

    function test_gas_commit_within50k() public {
        uint256 total = _measure(prover, abi.encodeCall(oml.commit, (keccak256("commitment"))), "commit");
        assertLe(total, 50_000, "commit gas");
    }

    function test_gas_reveal_depth10_typical() public {
        _warmUpTypicalState();
        assertLe(_measureReveal("", "reveal, typical, no permission"), 135_000, "typical reveal gas");
    }

    function test_gas_reveal_depth10_typical_withInvalidPermission() public {
        _warmUpTypicalState();
        bytes memory forged = _permission(STRANGER_PK, modelId, INDEX, 12345);
        assertLe(
            _measureReveal(forged, "reveal, typical, forged 65-byte permission"), 135_000, "reveal gas with a permission"
        );
    }

    function test_gas_reveal_depth10_worstCase_within135k() public {
        uint256 total = _measureReveal("", "reveal, worst case: bitmap word and reward fresh, no revenue yet");
        assertLe(total, 135_000, "worst-case reveal gas");
    }

    /// @dev The slash terms are looked up at the commit time in a history that grows with every change.
    function test_gas_reveal_depth10_worstCase_after50StakeTermChanges() public {
        for (uint256 i = 0; i < 50; i++) {
            vm.prank(owner);
            oml.setStakeTerms(
                modelId,
                StakeTerms({
                    minHostStake: MIN_STAKE, slashBps: SLASH_BPS, proverShareBps: PROVER_SHARE_BPS, unbondingDelay: DELAY
                })
            );
            vm.warp(block.timestamp + 1 hours);
        }
        assertLe(_measureReveal("", "reveal, worst case, 51 stake-terms checkpoints"), 135_000, "reveal gas, long history");
    }

    /// @dev A retired signer's permission: the reveal burns and stores a dispute (three fresh slots).
    function test_gas_reveal_depth10_opensDispute() public {
        bytes memory permission = _permission(PERMISSION_PK, modelId, INDEX, 12345);
        vm.prank(owner);
        oml.setPermissionSigner(modelId, stranger);
        _measureReveal(permission, "reveal, retired signer's permission: opens a dispute");
    }

    function test_gas_settle_1000Queries_within100PerQuery() public {
        _measureSettle(1, "settle, first voucher (count 1)");
        uint256 g1000 = _measureSettle(1001, "settle, next voucher (+1000 queries)");
        emit log_named_uint("settle gas per query at N = 1000", g1000 / 1000);
        assertLe(g1000 / 1000, 100, "gas per query");
    }

    function test_gas_recordPermissionReceipts() public {
        _measure(host, abi.encodeCall(oml.recordPermissionReceipts, (modelId, keccak256("root"))), "recordPermissionReceipts");
    }

    function test_gas_naivePermit_perQuery() public {
        NaivePermissions naive = new NaivePermissions();
        // casting to 'uint96' is safe because PRICE is 1e12
        // forge-lint: disable-next-line(unsafe-typecast)
        naive.setPrice(modelId, uint96(PRICE));
        bytes memory data = abi.encodeCall(naive.permit, (modelId, keccak256("query")));
        vm.cool(address(naive));
        vm.prank(host);
        (bool ok,) = address(naive).call{value: PRICE}(data);
        assertTrue(ok, "naive permit");
        uint256 total = _txGas(data, vm.lastCallGas());
        emit log_named_uint("naive permit tx gas per query (est.)", total);
        assertGe(total, 45_000, "naive permission costs a fresh slot per query");
    }

    // ---- helpers ----

    function _deepEvidence(uint256 index, bytes memory permission) private view returns (SlashEvidence memory ev) {
        ev.modelId = modelId;
        ev.host = host;
        ev.fingerprintIndex = index;
        ev.salt = _salt(index);
        ev.keyHash = keccak256(bytes(_key(index)));
        ev.fingerprintResponse = _fpResponse(index);
        ev.response = bytes.concat(_fpResponse(index), ", said the host, and went on ....."); // 40 bytes
        ev.merkleProof = index == INDEX ? _proof : _neighbourProof;
        ev.seq = 12345;
        ev.permission = permission;
        _attest(ev, ATTESTATION_PK);
    }

    /// @dev Fees already accrued to revenue, and the neighbouring fingerprint burned for the same host by
    /// another prover.
    function _warmUpTypicalState() private {
        (Voucher memory v, bytes memory sig) = _voucherSig(10);
        oml.settle(v, sig);
        SlashEvidence memory ev = _deepEvidence(NEIGHBOUR, "");
        bytes32 c = _commit(stranger, ev);
        vm.roll(block.number + 1);
        vm.prank(stranger);
        oml.reveal(c, ev);
    }

    function _measureReveal(bytes memory permission, string memory label) private returns (uint256 total) {
        SlashEvidence memory ev = _deepEvidence(INDEX, permission);
        bytes32 c = _commit(prover, ev);
        vm.roll(block.number + 1);
        bytes memory data = abi.encodeCall(oml.reveal, (c, ev));
        emit log_named_uint("reveal calldata bytes", data.length);
        total = _measure(prover, data, label);
        assertTrue(oml.isBurned(modelId, host, INDEX), "burned");
    }

    function _measureSettle(uint256 count, string memory label) private returns (uint256) {
        (Voucher memory v, bytes memory sig) = _voucherSig(count);
        return _measure(permissionSigner, abi.encodeCall(oml.settle, (v, sig)), label);
    }

    /// @dev Send `data` to OML from `from` with all of OML's storage cold; log and return the tx estimate.
    function _measure(address from, bytes memory data, string memory label) private returns (uint256 total) {
        vm.cool(address(oml));
        vm.prank(from);
        (bool ok,) = address(oml).call(data);
        assertTrue(ok, label);
        Vm.Gas memory g = vm.lastCallGas();
        total = _txGas(data, g);
        emit log_named_uint(string.concat(label, ": tx gas (est.)"), total);
        emit log_named_uint(string.concat(label, ": tx gas before refund"), _txGasBeforeRefund(data, g));
    }

    /// @dev 21000 + calldata + execution − min(refund, used / 5), at least the EIP-7623 floor.
    function _txGas(bytes memory data, Vm.Gas memory g) private pure returns (uint256) {
        uint256 used = _txGasBeforeRefund(data, g);
        // casting to 'uint256' is safe because the refund counter of a successful call is not negative
        // forge-lint: disable-next-line(unsafe-typecast)
        uint256 refund = uint256(int256(g.gasRefunded));
        if (refund > used / 5) refund = used / 5;
        uint256 floor = 21_000 + 10 * _tokens(data);
        return used - refund > floor ? used - refund : floor;
    }

    function _txGasBeforeRefund(bytes memory data, Vm.Gas memory g) private pure returns (uint256) {
        return 21_000 + 4 * _tokens(data) + g.gasTotalUsed;
    }

    /// @dev EIP-7623 calldata tokens: zero bytes count 1, others 4.
    function _tokens(bytes memory data) private pure returns (uint256 tokens) {
        for (uint256 i = 0; i < data.length; i++) {
            tokens += data[i] == 0 ? 1 : 4;
        }
    }
}
