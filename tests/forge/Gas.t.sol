// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {OMLFixture} from "./utils/OMLFixture.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {NaivePermissions} from "../../contracts/bench/NaivePermissions.sol";
import {SlashEvidence, Voucher} from "../../contracts/libraries/OMLTypes.sol";

/// @notice Whole-transaction gas estimates against the design targets: 21000 + calldata (EIP-2028 /
/// EIP-7623 floor, whichever is higher) + execution measured with cold storage (refunds not subtracted,
/// so the estimate is an upper bound). The official figures are measured on anvil by the Python benchmarks.
/// A reveal writes three slots that may be fresh (zero → non-zero, 22.1k each): the burned-bitmap word, the
/// prover's reward and the model's revenue. "Typical" = revenue already accrued from fees and the bitmap word
/// already holding an earlier burn, with a first-time prover; "worst" = all three fresh.
contract GasTest is OMLFixture {
    uint256 internal constant DEPTH = 10;
    uint256 internal constant INDEX = 5;
    uint256 internal constant NEIGHBOUR = 6;

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

    bytes32[] private _proof;
    bytes32[] private _neighbourProof;

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

    function test_gas_commit_within50k() public {
        bytes32 c = keccak256("commitment");
        bytes memory data = abi.encodeCall(oml.commit, (c));
        vm.cool(address(oml));
        vm.prank(prover);
        uint256 g = gasleft();
        oml.commit(c);
        uint256 total = _txGas(data, g - gasleft());
        emit log_named_uint("commit tx gas (est.)", total);
        assertLe(total, 50_000, "commit gas");
    }

    function test_gas_reveal_depth10_typical_within130k() public {
        _warmUpTypicalState();
        uint256 total = _measureReveal("", "reveal tx gas, typical, no permission (est.)");
        assertLe(total, 130_000, "typical reveal gas");
    }

    function test_gas_reveal_depth10_typical_withInvalidPermission_within130k() public {
        _warmUpTypicalState();
        bytes memory forged = _permission(STRANGER_PK, modelId, INDEX, 12345);
        uint256 total = _measureReveal(forged, "reveal tx gas, typical, forged 65-byte permission (est.)");
        assertLe(total, 130_000, "typical reveal gas with permission check");
    }

    function test_gas_reveal_depth10_worstCase_allSlotsFresh() public {
        uint256 total = _measureReveal("", "reveal tx gas, worst case: 3 fresh slots (est.)");
        assertLe(total, 150_000, "worst-case reveal gas");
    }

    /// @dev Fees already accrued to revenue, and the neighbouring fingerprint burned by another prover.
    function _warmUpTypicalState() private {
        (Voucher memory v, bytes memory sig) = _voucherSig(10);
        oml.settle(v, sig);
        SlashEvidence memory ev = _deepEvidence(NEIGHBOUR, "");
        bytes32 c = _commit(stranger, ev);
        vm.roll(block.number + 1);
        vm.prank(stranger);
        oml.reveal(c, ev);
    }

    function test_gas_settle_1000Queries_isFlat() public {
        uint256 g1 = _measureSettle(1, "settle tx gas, first voucher count 1 (est.)");
        uint256 g1000 = _measureSettle(1001, "settle tx gas, +1000 queries (est.)");
        emit log_named_uint("settle gas per query at 1000 queries", g1000 / 1000);
        assertLe(g1000, 60_000, "settle gas");
        assertLe(g1000 / 1000, 100, "gas per query");
        assertLe(g1000, g1 + 1000, "flat in count");
    }

    function test_gas_naivePermit_perQuery() public {
        NaivePermissions naive = new NaivePermissions();
        // casting to 'uint96' is safe because PRICE is 1e12
        // forge-lint: disable-next-line(unsafe-typecast)
        naive.setPrice(modelId, uint96(PRICE));
        bytes32 q = keccak256("query");
        bytes memory data = abi.encodeCall(naive.permit, (modelId, q));
        vm.cool(address(naive));
        vm.prank(host);
        uint256 g = gasleft();
        naive.permit{value: PRICE}(modelId, q);
        uint256 total = _txGas(data, g - gasleft());
        emit log_named_uint("naive permit tx gas per query (est.)", total);
        assertGe(total, 45_000, "naive permission costs a fresh slot per query");
    }

    function _measureReveal(bytes memory permission, string memory label) private returns (uint256 total) {
        SlashEvidence memory ev = _deepEvidence(INDEX, permission);
        bytes32 c = _commit(prover, ev);
        vm.roll(block.number + 1);
        bytes memory data = abi.encodeCall(oml.reveal, (c, ev));
        vm.cool(address(oml));
        vm.prank(prover);
        uint256 g = gasleft();
        oml.reveal(c, ev);
        total = _txGas(data, g - gasleft());
        emit log_named_uint(label, total);
        emit log_named_uint("reveal calldata bytes", data.length);
        assertTrue(oml.isBurned(modelId, INDEX), "slashed");
    }

    function _measureSettle(uint256 count, string memory label) private returns (uint256 total) {
        (Voucher memory v, bytes memory sig) = _voucherSig(count);
        bytes memory data = abi.encodeCall(oml.settle, (v, sig));
        vm.cool(address(oml));
        vm.prank(permissionSigner);
        uint256 g = gasleft();
        oml.settle(v, sig);
        total = _txGas(data, g - gasleft());
        emit log_named_uint(label, total);
    }

    /// @dev 21000 + max(standard calldata + execution, EIP-7623 floor).
    function _txGas(bytes memory data, uint256 execution) private pure returns (uint256) {
        uint256 zeros = 0;
        for (uint256 i = 0; i < data.length; i++) {
            if (data[i] == 0) zeros++;
        }
        uint256 tokens = zeros + 4 * (data.length - zeros);
        uint256 standard = 4 * tokens + execution;
        uint256 floor = 10 * tokens;
        return 21_000 + (standard > floor ? standard : floor);
    }
}
