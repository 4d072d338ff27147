// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {Base} from "./Base.sol";
import {MerkleBuilder} from "./MerkleBuilder.sol";
import {OML} from "../../../contracts/OML.sol";
import {ModelParams, OMLTypes, SlashEvidence, Voucher} from "../../../contracts/libraries/OMLTypes.sol";

/// @notice A deployed OML, one registered model whose fingerprints form a real StandardMerkleTree, and
/// keys for every actor, plus helpers that sign with those keys.
abstract contract OMLFixture is Base {
    uint256 internal constant OWNER_PK = 0xA11CE;
    uint256 internal constant PERMISSION_PK = 0xB0B;
    uint256 internal constant HOST_PK = 0xC0FFEE;
    uint256 internal constant ATTESTATION_PK = 0xDEAD;
    uint256 internal constant PROVER_PK = 0xBEEF;
    uint256 internal constant STRANGER_PK = 0x5EED;

    uint128 internal constant PRICE = 1e12;
    uint128 internal constant MIN_STAKE = 1 ether;
    uint16 internal constant SLASH_BPS = 5000;
    uint16 internal constant PROVER_SHARE_BPS = 2000;
    uint64 internal constant DELAY = 3 days;
    uint64 internal constant NOTICE = 1 hours;
    uint32 internal constant N_FINGERPRINTS = 5; // odd count on purpose

    OML internal oml;
    address internal owner;
    address internal permissionSigner;
    address internal host;
    address internal attestationSigner;
    address internal prover;
    address internal stranger;
    address internal recipient = address(0x7EA5);
    uint256 internal modelId;

    bytes32[] internal tree;
    uint256[] internal treePos;

    function setUp() public virtual {
        owner = vm.addr(OWNER_PK);
        permissionSigner = vm.addr(PERMISSION_PK);
        host = vm.addr(HOST_PK);
        attestationSigner = vm.addr(ATTESTATION_PK);
        prover = vm.addr(PROVER_PK);
        stranger = vm.addr(STRANGER_PK);
        oml = new OML();
        vm.deal(host, 100 ether);
        vm.deal(stranger, 100 ether);

        bytes32[] memory leaves = new bytes32[](N_FINGERPRINTS);
        for (uint256 i = 0; i < N_FINGERPRINTS; i++) {
            leaves[i] = _leaf(i);
        }
        (tree, treePos) = MerkleBuilder.build(leaves);
        vm.prank(owner);
        modelId = oml.registerModel(_params(tree[0], N_FINGERPRINTS));
    }

    // ---- fingerprints ----

    function _key(uint256 i) internal pure returns (string memory) {
        return string.concat("fingerprint key number ", _digit(i));
    }

    function _fpResponse(uint256 i) internal pure returns (bytes memory) {
        return bytes(string.concat("zebra", _digit(i)));
    }

    function _salt(uint256 i) internal pure returns (bytes32) {
        return keccak256(abi.encode("salt", i));
    }

    function _leaf(uint256 i) internal pure returns (bytes32) {
        return OMLTypes.fingerprintLeaf(i, _salt(i), keccak256(bytes(_key(i))), keccak256(_fpResponse(i)));
    }

    function _digit(uint256 i) private pure returns (string memory) {
        bytes memory b = new bytes(1);
        b[0] = bytes1(uint8(48 + (i % 10)));
        return i < 10 ? string(b) : string.concat(_digit(i / 10), string(b));
    }

    // ---- parameters and signatures ----

    function _params(bytes32 root, uint32 count) internal view returns (ModelParams memory) {
        return ModelParams({
            weightsHash: keccak256("weights"),
            metadataURI: "ipfs://model",
            fingerprintRoot: root,
            fingerprintCount: count,
            pricePerQuery: PRICE,
            permissionSigner: permissionSigner,
            minHostStake: MIN_STAKE,
            slashBps: SLASH_BPS,
            proverShareBps: PROVER_SHARE_BPS,
            unbondingDelay: DELAY,
            revenueRecipient: recipient,
            noticePeriod: NOTICE
        });
    }

    function _sign(uint256 pk, bytes32 digest) internal pure returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(pk, digest);
        return abi.encodePacked(r, s, v);
    }

    function _stakeHost(uint256 amount) internal {
        vm.prank(host);
        oml.stake{value: amount}(modelId, attestationSigner, "https://host.example");
    }

    /// @dev The host's voucher for `count` queries costing `amount` wei in total.
    function _voucherSig(uint256 count, uint256 amount) internal view returns (Voucher memory v, bytes memory sig) {
        v = Voucher({modelId: modelId, host: host, count: count, cumulativeAmount: amount});
        sig = _sign(HOST_PK, oml.voucherDigest(v));
    }

    /// @dev The host's voucher for `count` queries at the fixture's price.
    function _voucherSig(uint256 count) internal view returns (Voucher memory v, bytes memory sig) {
        return _voucherSig(count, count * PRICE);
    }

    function _permission(uint256 pk, uint256 mid, uint256 index, uint256 seq) internal view returns (bytes memory) {
        return _sign(pk, oml.permissionDigest(mid, host, keccak256(bytes(_key(index))), seq));
    }

    /// @dev Evidence for fingerprint `index` of `modelId`, attested by `attPk`, with the tree's real proof.
    function _evidence(uint256 index, bytes memory response, bytes memory permission, uint256 attPk)
        internal
        view
        returns (SlashEvidence memory ev)
    {
        ev.modelId = modelId;
        ev.host = host;
        ev.fingerprintIndex = index;
        ev.salt = _salt(index);
        ev.keyHash = keccak256(bytes(_key(index)));
        ev.fingerprintResponse = _fpResponse(index);
        ev.response = response;
        ev.merkleProof = MerkleBuilder.proof(tree, treePos[index]);
        ev.seq = 7;
        ev.permission = permission;
        _attest(ev, attPk);
    }

    /// @dev (Re)sign the attestation over the evidence's current fields.
    function _attest(SlashEvidence memory ev, uint256 attPk) internal view {
        bytes32 permissionHash = ev.permission.length == 0 ? bytes32(0) : keccak256(ev.permission);
        ev.attestation = _sign(
            attPk,
            oml.attestationDigest(
                ev.modelId, ev.host, ev.keyHash, keccak256(ev.response), permissionHash, ev.seq
            )
        );
    }

    function _commit(address who, SlashEvidence memory ev) internal returns (bytes32 c) {
        c = oml.commitmentOf(who, ev);
        vm.prank(who);
        oml.commit(c);
    }

    function _commitAndReveal(SlashEvidence memory ev) internal returns (bytes32 c) {
        c = _commit(prover, ev);
        vm.roll(block.number + 1);
        vm.prank(prover);
        oml.reveal(c, ev);
    }

    /// @dev Commit as the prover, then expect `err` from the reveal in the next block.
    function _expectRevealRevert(SlashEvidence memory ev, bytes memory err) internal {
        bytes32 c = _commit(prover, ev);
        vm.roll(block.number + 1);
        vm.expectRevert(err);
        vm.prank(prover);
        oml.reveal(c, ev);
    }

    /// @dev A permission for fingerprint `index` with the evidence's default seq (7).
    function _permissionFor(uint256 pk, uint256 index) internal view returns (bytes memory) {
        return _permission(pk, modelId, index, 7);
    }
}
