// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {OMLFixture} from "../utils/OMLFixture.sol";
import {MerkleBuilder} from "../utils/MerkleBuilder.sol";
import {ISlashing} from "../../../contracts/interfaces/ISlashing.sol";
import {IHostStaking} from "../../../contracts/interfaces/IHostStaking.sol";
import {BasisPoints} from "../../../contracts/libraries/BasisPoints.sol";
import {Dispute, HostStake, OMLTypes, SlashEvidence, StakeTerms, Voucher} from "../../../contracts/libraries/OMLTypes.sol";
import {StakeTermsLib} from "../../../contracts/libraries/StakeTermsLib.sol";

/// @notice Drives a real OML with bounded random actions by three hosts, two provers, the model owner and
/// its permission service, and keeps ghost state for the invariants. Deploys and owns its OML (via the
/// fixture's setUp) so all signing keys are known.
/// @dev Checks made inside an action are recorded as violations (a failing assert would only revert the
/// action, which the invariant runner ignores); `OMLInvariantTest` asserts there are none.
contract OMLHandler is OMLFixture {
    uint256 internal constant N_HOSTS = 3;
    uint256 internal constant N_PROVERS = 2;
    uint32 internal constant N_FP = 16;
    uint256 internal constant ROTATED_PERMISSION_PK = 0x9E0000; // + k for the k-th replacement signer
    uint256 internal constant HOST_ATTESTATION_PK = 0xA7000000; // + host × 0x1000 + generation

    /// @dev A value scheduled from `effectiveAt` (ghost copy of a checkpoint history).
    struct Scheduled {
        uint256 effectiveAt;
        uint256 value;
    }

    /// @dev A voucher the host signed for the permission service.
    struct IssuedVoucher {
        uint256 count;
        uint256 amount;
    }

    /// @dev A permission the then-current signer issued, and the receipt root the host recorded at once.
    struct Permitted {
        uint256 hostIdx;
        uint256 index;
        uint256 seq;
        uint256 signerPk;
        bytes32 root;
        bytes32 sibling;
    }

    /// @dev An open dispute that nobody can defend (a leaked retired key's permission).
    struct OpenDispute {
        uint256 hostIdx;
        uint256 index;
    }

    // ---- ghost state ----
    Scheduled[] internal _prices;
    Scheduled[] internal _terms;
    uint256[] internal _permissionPks; // the last one is current
    mapping(uint256 pk => uint256 retiredAt) internal _retiredAt;
    mapping(uint256 hostIdx => uint256 generation) internal _attGen;
    mapping(uint256 hostIdx => mapping(uint256 generation => uint256 validUntil)) internal _attValidUntil;
    mapping(uint256 hostIdx => IssuedVoucher[]) internal _vouchers;
    Permitted[] internal _permitted;
    OpenDispute[] internal _disputes;
    uint256 internal _seq;

    uint256 public ghostTotalStaked;
    uint256 public ghostTotalSlashed;
    mapping(address host => uint256) public ghostOwed;
    mapping(address host => uint256) public ghostPaid;
    mapping(address host => uint256) public ghostSettledCount;
    mapping(address host => uint256) public ghostSettledAmount;
    mapping(address host => uint256) public ghostOpenDisputes;
    mapping(address host => mapping(uint256 index => uint256 burns)) public ghostBurns;
    /// @dev Slashes (immediate or finalized) of a host that held a valid permission for the key.
    uint256 public ghostPermittedSlashes;
    /// @dev Any other broken expectation; `lastViolation` says which.
    uint256 public ghostViolations;
    string public lastViolation;
    mapping(bytes32 action => uint256 calls) public calls;

    constructor() {
        setUp();
        bytes32[] memory leaves = new bytes32[](N_FP);
        for (uint256 i = 0; i < N_FP; i++) {
            leaves[i] = _leaf(i);
        }
        (tree, treePos) = MerkleBuilder.build(leaves);
        vm.prank(owner);
        modelId = oml.registerModel(_params(tree[0], N_FP));
        _prices.push(Scheduled(block.timestamp, PRICE));
        _terms.push(Scheduled(block.timestamp, _pack(MIN_STAKE, SLASH_BPS, PROVER_SHARE_BPS, DELAY)));
        _permissionPks.push(PERMISSION_PK);
        for (uint256 i = 0; i < N_HOSTS; i++) {
            vm.deal(hostAt(i), 1_000 ether);
        }
    }

    // ---- views for the invariant test ----

    function target() external view returns (address) {
        return address(oml);
    }

    function targetModel() external view returns (uint256) {
        return modelId;
    }

    function hostPk(uint256 i) public pure returns (uint256) {
        return HOST_PK + i;
    }

    function hostAt(uint256 i) public pure returns (address) {
        return vm.addr(hostPk(i));
    }

    function proverAt(uint256 i) public pure returns (address) {
        return vm.addr(PROVER_PK + i);
    }

    function nHosts() external pure returns (uint256) {
        return N_HOSTS;
    }

    function nProvers() external pure returns (uint256) {
        return N_PROVERS;
    }

    function nFingerprints() external pure returns (uint256) {
        return N_FP;
    }

    // ---- host actions ----

    function stake(uint256 hostSeed, uint256 amount) external {
        uint256 i = hostSeed % N_HOSTS;
        address h = hostAt(i);
        HostStake memory s = oml.getStake(modelId, h);
        if (s.unbondingEnd != 0) return;
        uint256 minimum = _termsAt(block.timestamp).minHostStake;
        amount = bound(amount, s.amount >= minimum ? 1 : minimum - s.amount, 5 ether);
        vm.prank(h);
        oml.stake{value: amount}(modelId, _attSigner(i, _attGen[i]), "https://h.example");
        ghostTotalStaked += amount;
        calls["stake"]++;
    }

    function deposit(uint256 hostSeed, uint256 amount) external {
        address h = hostAt(hostSeed % N_HOSTS);
        amount = bound(amount, 1, 1 ether);
        vm.prank(h);
        oml.depositEscrow{value: amount}(modelId);
        calls["deposit"]++;
    }

    function requestUnstake(uint256 hostSeed) external {
        address h = hostAt(hostSeed % N_HOSTS);
        HostStake memory s = oml.getStake(modelId, h);
        if (s.unbondingEnd != 0 || (s.amount == 0 && s.attestationSigner == address(0))) return;
        vm.prank(h);
        oml.requestUnstake(modelId);
        calls["requestUnstake"]++;
    }

    /// @dev A withdrawal succeeds after the lock iff no dispute against the host is open.
    function withdrawStake(uint256 hostSeed) external {
        address h = hostAt(hostSeed % N_HOSTS);
        HostStake memory s = oml.getStake(modelId, h);
        if (s.unbondingEnd == 0) return;
        if (block.timestamp < s.unbondingEnd + 1 days) vm.warp(s.unbondingEnd + 1 days);
        vm.prank(h);
        try oml.withdrawStake(modelId) {
            _check(ghostOpenDisputes[h] == 0, "stake withdrawn with a dispute open");
            calls["withdrawStake"]++;
        } catch (bytes memory reason) {
            _check(
                ghostOpenDisputes[h] != 0 && _isError(reason, IHostStaking.StakeDisputePending.selector),
                "withdrawal refused without an open dispute"
            );
            calls["withdrawStake blocked by dispute"]++;
        }
    }

    function requestEscrowWithdrawal(uint256 hostSeed, uint256 amount) external {
        address h = hostAt(hostSeed % N_HOSTS);
        (uint256 balance,,) = oml.getEscrow(modelId, h);
        if (balance == 0) return;
        vm.prank(h);
        oml.requestEscrowWithdrawal(modelId, bound(amount, 1, balance));
        calls["requestEscrowWithdrawal"]++;
    }

    function withdrawEscrow(uint256 hostSeed) external {
        address h = hostAt(hostSeed % N_HOSTS);
        (, uint256 thawing, uint256 thawEnd) = oml.getEscrow(modelId, h);
        if (thawing == 0) return;
        if (block.timestamp < thawEnd) vm.warp(thawEnd);
        vm.prank(h);
        oml.withdrawEscrow(modelId);
        calls["withdrawEscrow"]++;
    }

    /// @dev Rotate the host's attestation key; the replaced key stays valid for commits within a day.
    function rotateAttestationSigner(uint256 hostSeed) external {
        uint256 i = hostSeed % N_HOSTS;
        HostStake memory s = oml.getStake(modelId, hostAt(i));
        if (s.attestationSigner == address(0)) return;
        uint256 gen = _attGen[i];
        vm.prank(hostAt(i));
        oml.setAttestationSigner(modelId, _attSigner(i, gen + 1));
        _attValidUntil[i][gen] = block.timestamp + OMLTypes.REVEAL_WINDOW;
        _attGen[i] = gen + 1;
        calls["rotateAttestationSigner"]++;
    }

    // ---- owner and permission service ----

    function setPrice(uint256 priceSeed) external {
        uint256 price = bound(priceSeed, 0, 1e13);
        vm.prank(owner);
        // casting to 'uint128' is safe because price ≤ 1e13
        // forge-lint: disable-next-line(unsafe-typecast)
        oml.setPrice(modelId, uint128(price));
        _schedule(_prices, block.timestamp + NOTICE, price);
        calls["setPrice"]++;
    }

    function setStakeTerms(uint256 minSeed, uint256 bpsSeed, uint256 shareSeed, uint256 delaySeed) external {
        StakeTerms memory t = StakeTerms({
            minHostStake: uint128(bound(minSeed, 0.1 ether, 3 ether)),
            slashBps: uint16(bound(bpsSeed, 1, 10_000)),
            proverShareBps: uint16(bound(shareSeed, 0, 5000)),
            unbondingDelay: uint64(bound(delaySeed, 1 days, 10 days))
        });
        vm.prank(owner);
        oml.setStakeTerms(modelId, t);
        _schedule(_terms, block.timestamp + NOTICE, StakeTermsLib.pack(t));
        calls["setStakeTerms"]++;
    }

    function rotatePermissionSigner() external {
        uint256 next = ROTATED_PERMISSION_PK + _permissionPks.length;
        vm.prank(owner);
        oml.setPermissionSigner(modelId, vm.addr(next));
        _retiredAt[_permissionPks[_permissionPks.length - 1]] = block.timestamp;
        _permissionPks.push(next);
        calls["rotatePermissionSigner"]++;
    }

    /// @dev The service issues `n` permissions at the price in force, against a host voucher that adds
    /// exactly price × n, while the unsettled amount stays within the spendable escrow.
    function issuePermissions(uint256 hostSeed, uint256 n) external {
        uint256 i = hostSeed % N_HOSTS;
        address h = hostAt(i);
        n = bound(n, 1, 50);
        uint256 price = _ghostAt(_prices, block.timestamp);
        _check(oml.priceAt(modelId, block.timestamp) == price, "priceAt disagrees with the announced schedule");
        uint256 owed = ghostOwed[h] + price * n;
        (uint256 balance, uint256 thawing,) = oml.getEscrow(modelId, h);
        uint256 spendable = balance > thawing ? balance - thawing : 0;
        if (owed - oml.settledAmount(modelId, h) > spendable) return;
        IssuedVoucher[] storage vs = _vouchers[i];
        uint256 count = (vs.length == 0 ? 0 : vs[vs.length - 1].count) + n;
        vs.push(IssuedVoucher(count, owed));
        ghostOwed[h] = owed;
        calls["issuePermissions"]++;
    }

    /// @dev Settle any voucher the host signed (possibly stale), or the host's own trick voucher with the
    /// highest count and no more amount. Checks the outcome against the settlement rule exactly.
    function settle(uint256 hostSeed, uint256 pick) external {
        uint256 i = hostSeed % N_HOSTS;
        address h = hostAt(i);
        Voucher memory v = Voucher({modelId: modelId, host: h, count: type(uint64).max, cumulativeAmount: 0});
        v.cumulativeAmount = oml.settledAmount(modelId, h);
        if (pick % 5 != 0) {
            IssuedVoucher[] storage vs = _vouchers[i];
            if (vs.length == 0) return;
            IssuedVoucher storage chosen = vs[pick % vs.length];
            v.count = chosen.count;
            v.cumulativeAmount = chosen.amount;
        }
        _settleChecked(v, hostPk(i));
    }

    /// @dev The current permission signer permits fingerprint key `index` for the host, which records a
    /// receipt root holding `(keyHash, seq)` at once.
    function servePermitted(uint256 hostSeed, uint256 indexSeed) external {
        uint256 i = hostSeed % N_HOSTS;
        Permitted memory p;
        p.hostIdx = i;
        p.index = indexSeed % N_FP;
        p.seq = ++_seq;
        p.signerPk = _permissionPks[_permissionPks.length - 1];
        bytes32[] memory leaves = new bytes32[](2);
        leaves[0] = OMLTypes.receiptLeaf(keccak256(bytes(_key(p.index))), p.seq);
        leaves[1] = OMLTypes.receiptLeaf(keccak256("another query"), p.seq);
        (bytes32[] memory t, uint256[] memory pos) = MerkleBuilder.build(leaves);
        p.root = t[0];
        p.sibling = MerkleBuilder.proof(t, pos[0])[0];
        vm.prank(hostAt(i));
        oml.recordPermissionReceipts(modelId, p.root);
        _permitted.push(p);
        calls["servePermitted"]++;
    }

    // ---- provers ----

    /// @dev Try to slash a host with evidence it served under a valid permission (any time later, after any
    /// rotations). It must never be slashed: either the reveal reverts, or a dispute opens that the host
    /// (online, with its receipt) defends within the window.
    function provePermitted(uint256 recordSeed, uint256 proverSeed, uint256 waitSeed) external {
        if (_permitted.length == 0) return;
        Permitted memory p = _permitted[recordSeed % _permitted.length];
        address h = hostAt(p.hostIdx);
        SlashEvidence memory ev = _hostEvidence(p.hostIdx, p.index, p.seq, _attGen[p.hostIdx]);
        ev.permission = _sign(p.signerPk, oml.permissionDigest(modelId, h, ev.keyHash, p.seq));
        _attest(ev, _attPk(p.hostIdx, _attGen[p.hostIdx]));
        address pr = proverAt(proverSeed % N_PROVERS);
        uint256 stakeBefore = oml.getStake(modelId, h).amount;
        uint256 disputesBefore = oml.openDisputes(modelId, h);
        (bool ok, bytes memory reason) = _commitReveal(pr, ev, 0);
        if (!ok) {
            bool current = p.signerPk == _permissionPks[_permissionPks.length - 1];
            if (_isError(reason, ISlashing.SlashPermissionValid.selector)) {
                _check(current, "SlashPermissionValid for a retired signer");
            }
            calls["provePermitted reverted"]++;
            return;
        }
        ghostBurns[h][p.index]++;
        if (oml.getStake(modelId, h).amount < stakeBefore) ghostPermittedSlashes++;
        if (oml.openDisputes(modelId, h) != disputesBefore + 1) {
            ghostPermittedSlashes++;
            return;
        }
        vm.warp(block.timestamp + bound(waitSeed, 0, OMLTypes.DISPUTE_WINDOW));
        bytes32[] memory proof = new bytes32[](1);
        proof[0] = p.sibling;
        try oml.defendSlash(modelId, h, p.index, p.root, proof) {
            calls["provePermitted defended"]++;
        } catch {
            ghostPermittedSlashes++; // the honest host could not defend: it would be slashed at finalize
        }
    }

    /// @dev Commit and reveal a proof that host `hostSeed` served fingerprint `indexSeed` unpermitted.
    /// mode 0: no permission; 1: a stranger's forged permission; 2: a permission signed with a leaked
    /// retired key after its grace (a dispute the colluding host cannot defend); 3: attested with the
    /// host's previous attestation key. Checks the slash against the terms in force at the commit time.
    function slash(uint256 hostSeed, uint256 proverSeed, uint256 indexSeed, uint256 mode, uint256 wait) external {
        uint256 i = hostSeed % N_HOSTS;
        mode = mode % 4;
        uint256 gen = _attGen[i];
        if (mode == 3 && gen != 0) {
            gen -= 1;
            // Half the time, commit within the last hour of the previous key's validity (the boundary).
            uint256 validUntil = _attValidUntil[i][gen];
            uint256 commitAt = validUntil - 1 - wait % 1 hours;
            if (wait % 2 == 0 && validUntil > block.timestamp + 1 hours && commitAt > block.timestamp) vm.warp(commitAt);
        }
        SlashEvidence memory ev = _hostEvidence(i, indexSeed % N_FP, ++_seq, gen);
        uint256 leakedPk = mode == 2 ? _leakedRetiredKey() : 0;
        if (mode == 1) ev.permission = _sign(STRANGER_PK, oml.permissionDigest(modelId, ev.host, ev.keyHash, ev.seq));
        if (leakedPk != 0) ev.permission = _sign(leakedPk, oml.permissionDigest(modelId, ev.host, ev.keyHash, ev.seq));
        _attest(ev, _attPk(i, gen));
        _slashChecked(i, proverAt(proverSeed % N_PROVERS), ev, gen, bound(wait, 0, OMLTypes.REVEAL_WINDOW));
    }

    /// @dev A host reports itself (its own address as prover) to burn a fingerprint: it must lose at least
    /// what it gains and the index stays unburned for every other host.
    function sybilSelfReport(uint256 hostSeed, uint256 indexSeed) external {
        uint256 i = hostSeed % N_HOSTS;
        address h = hostAt(i);
        uint256 index = indexSeed % N_FP;
        SlashEvidence memory ev = _hostEvidence(i, index, ++_seq, _attGen[i]);
        uint256 rewardBefore = oml.rewardOf(h);
        uint256 stakeBefore = oml.getStake(modelId, h).amount;
        (bool ok,) = _commitReveal(h, ev, 0);
        if (!ok) {
            calls["sybilSelfReport reverted"]++;
            return;
        }
        ghostBurns[h][index]++;
        uint256 slashed = stakeBefore - oml.getStake(modelId, h).amount;
        ghostTotalSlashed += slashed;
        _check(2 * (oml.rewardOf(h) - rewardBefore) <= slashed, "self-report paid more than half the slash");
        for (uint256 j = 0; j < N_HOSTS; j++) {
            if (j == i) continue;
            _check(
                oml.isBurned(modelId, hostAt(j), index) == (ghostBurns[hostAt(j)][index] == 1),
                "a self-report burned another host's fingerprint"
            );
        }
        calls["sybilSelfReport"]++;
    }

    /// @dev Finalize an open (undefendable) dispute after its deadline with the terms stored in it.
    function finalizeDispute(uint256 pick) external {
        if (_disputes.length == 0) return;
        uint256 k = pick % _disputes.length;
        OpenDispute memory od = _disputes[k];
        address h = hostAt(od.hostIdx);
        Dispute memory d = oml.getDispute(modelId, h, od.index);
        if (block.timestamp <= d.deadline) vm.warp(uint256(d.deadline) + 1);
        uint256 stakeBefore = oml.getStake(modelId, h).amount;
        uint256 rewardBefore = oml.rewardOf(d.prover);
        oml.finalizeSlash(modelId, h, od.index);
        uint256 slashed = stakeBefore - oml.getStake(modelId, h).amount;
        _check(slashed == BasisPoints.mulBps(stakeBefore, d.slashBps), "finalize slashed other than the stored terms");
        _check(
            oml.rewardOf(d.prover) - rewardBefore == BasisPoints.mulBps(slashed, d.proverShareBps),
            "finalize rewarded other than the stored share"
        );
        ghostTotalSlashed += slashed;
        ghostOpenDisputes[h]--;
        _disputes[k] = _disputes[_disputes.length - 1];
        _disputes.pop();
        calls["finalizeDispute"]++;
    }

    function withdrawRevenue() external {
        if (oml.revenueOf(modelId) == 0) return;
        vm.prank(recipient);
        oml.withdrawRevenue(modelId);
        calls["withdrawRevenue"]++;
    }

    function withdrawReward(uint256 seed) external {
        address p = seed % 2 == 0 ? proverAt(seed % N_PROVERS) : hostAt(seed % N_HOSTS);
        if (oml.rewardOf(p) == 0) return;
        vm.prank(p);
        oml.withdrawReward();
        calls["withdrawReward"]++;
    }

    function passTime(uint256 secs) external {
        vm.warp(block.timestamp + bound(secs, 1, 2 days));
        vm.roll(block.number + 1);
    }

    /// @dev The selectors the invariant fuzzer may call (not the fixture's helpers).
    function actionSelectors() external pure returns (bytes4[] memory s) {
        s = new bytes4[](25);
        s[0] = this.stake.selector;
        s[1] = this.deposit.selector;
        s[2] = this.settle.selector;
        s[3] = this.requestUnstake.selector;
        s[4] = this.withdrawStake.selector;
        s[5] = this.requestEscrowWithdrawal.selector;
        s[6] = this.withdrawEscrow.selector;
        s[7] = this.slash.selector;
        s[8] = this.withdrawRevenue.selector;
        s[9] = this.withdrawReward.selector;
        s[10] = this.passTime.selector;
        s[11] = this.slash.selector; // slashing twice as likely
        s[12] = this.setPrice.selector;
        s[13] = this.setStakeTerms.selector;
        s[14] = this.rotatePermissionSigner.selector;
        s[15] = this.rotateAttestationSigner.selector;
        s[16] = this.issuePermissions.selector;
        s[17] = this.issuePermissions.selector;
        s[18] = this.settle.selector;
        s[19] = this.servePermitted.selector;
        s[20] = this.provePermitted.selector;
        s[21] = this.provePermitted.selector;
        s[22] = this.sybilSelfReport.selector;
        s[23] = this.finalizeDispute.selector;
        s[24] = this.stake.selector;
    }

    // ---- internals ----

    function _settleChecked(Voucher memory v, uint256 pk) private {
        address h = v.host;
        uint256 sc = oml.settledCount(modelId, h);
        uint256 sa = oml.settledAmount(modelId, h);
        (uint256 balanceBefore,,) = oml.getEscrow(modelId, h);
        bool expected = (v.count > sc || v.cumulativeAmount > sa) && v.cumulativeAmount >= sa
            && v.cumulativeAmount - sa <= balanceBefore;
        bytes memory sig = _sign(pk, oml.voucherDigest(v));
        try oml.settle(v, sig) {
            _check(expected, "settle succeeded against the rule");
            (uint256 balanceAfter,,) = oml.getEscrow(modelId, h);
            _check(balanceBefore - balanceAfter == v.cumulativeAmount - sa, "settle moved other than the difference");
            ghostPaid[h] += balanceBefore - balanceAfter;
            if (v.count > ghostSettledCount[h]) ghostSettledCount[h] = v.count;
            ghostSettledAmount[h] = v.cumulativeAmount;
            calls["settle"]++;
        } catch {
            _check(!expected, "settle reverted against the rule");
            calls["settle reverted"]++;
        }
        _check(oml.settledCount(modelId, h) >= sc, "settled count decreased");
        _check(oml.settledAmount(modelId, h) >= sa, "settled amount decreased");
    }

    /// @dev What a reveal is checked against, taken before it.
    struct Before {
        uint256 commitTime;
        uint256 stake;
        uint256 reward;
        uint256 disputes;
        bool attValid;
    }

    function _slashChecked(uint256 i, address pr, SlashEvidence memory ev, uint256 gen, uint256 wait) private {
        Before memory b;
        b.commitTime = block.timestamp;
        b.attValid = gen == _attGen[i] || _attValidUntil[i][gen] > b.commitTime;
        b.stake = oml.getStake(modelId, ev.host).amount;
        b.reward = oml.rewardOf(pr);
        b.disputes = oml.openDisputes(modelId, ev.host);
        (bool ok, bytes memory reason) = _commitReveal(pr, ev, wait);
        if (!ok) {
            if (_isError(reason, ISlashing.SlashInvalidAttestation.selector)) {
                _check(!b.attValid, "attestation of a key valid at commit time rejected");
            }
            calls["slash reverted"]++;
            return;
        }
        _check(b.attValid, "attestation of a key expired at commit time accepted");
        ghostBurns[ev.host][ev.fingerprintIndex]++;
        if (oml.openDisputes(modelId, ev.host) == b.disputes + 1) {
            _leakedKeyDispute(i, ev);
            return;
        }
        _checkSlashTerms(pr, ev.host, b);
    }

    /// @dev The slash and reward follow the stake terms in force at the commit time.
    function _checkSlashTerms(address pr, address h, Before memory b) private {
        StakeTerms memory t = _termsAt(b.commitTime);
        uint256 slashed = b.stake - oml.getStake(modelId, h).amount;
        _check(slashed == BasisPoints.mulBps(b.stake, t.slashBps), "slash other than commit-time slashBps");
        _check(
            oml.rewardOf(pr) - b.reward == BasisPoints.mulBps(slashed, t.proverShareBps),
            "reward other than commit-time proverShareBps"
        );
        ghostTotalSlashed += slashed;
        calls["slash"]++;
    }

    /// @dev A leaked retired key's permission opened a dispute: the colluding host records the receipt now
    /// (after the grace) and tries to defend, which must fail.
    function _leakedKeyDispute(uint256 i, SlashEvidence memory ev) private {
        address h = ev.host;
        bytes32 leaf = OMLTypes.receiptLeaf(ev.keyHash, ev.seq);
        vm.prank(h);
        oml.recordPermissionReceipts(modelId, leaf);
        try oml.defendSlash(modelId, h, ev.fingerprintIndex, leaf, new bytes32[](0)) {
            _check(false, "a leaked retired key shielded an answer after its grace");
        } catch {}
        ghostOpenDisputes[h]++;
        _disputes.push(OpenDispute(i, ev.fingerprintIndex));
        calls["slash disputed"]++;
    }

    /// @dev Commit as `pr`, then reveal in the next block after `wait` seconds; returns the reveal's outcome.
    function _commitReveal(address pr, SlashEvidence memory ev, uint256 wait)
        private
        returns (bool ok, bytes memory reason)
    {
        bytes32 c = oml.commitmentOf(pr, ev);
        vm.prank(pr);
        try oml.commit(c) {}
        catch (bytes memory r) {
            return (false, r);
        }
        vm.roll(block.number + 1);
        if (wait != 0) vm.warp(block.timestamp + wait);
        vm.prank(pr);
        try oml.reveal(c, ev) {
            return (true, "");
        } catch (bytes memory r) {
            return (false, r);
        }
    }

    function _hostEvidence(uint256 i, uint256 index, uint256 seq, uint256 gen)
        private
        view
        returns (SlashEvidence memory ev)
    {
        ev.modelId = modelId;
        ev.host = hostAt(i);
        ev.fingerprintIndex = index;
        ev.salt = _salt(index);
        ev.keyHash = keccak256(bytes(_key(index)));
        ev.fingerprintResponse = _fpResponse(index);
        ev.response = bytes.concat(_fpResponse(index), " indeed");
        ev.merkleProof = MerkleBuilder.proof(tree, treePos[index]);
        ev.seq = seq;
        _attest(ev, _attPk(i, gen));
    }

    /// @dev A retired permission key whose grace has passed (0 if none).
    function _leakedRetiredKey() private view returns (uint256) {
        for (uint256 k = 0; k + 1 < _permissionPks.length; k++) {
            if (_retiredAt[_permissionPks[k]] + NOTICE < block.timestamp) return _permissionPks[k];
        }
        return 0;
    }

    function _attPk(uint256 i, uint256 gen) private pure returns (uint256) {
        return HOST_ATTESTATION_PK + i * 0x1000 + gen;
    }

    function _attSigner(uint256 i, uint256 gen) private pure returns (address) {
        return vm.addr(_attPk(i, gen));
    }

    function _termsAt(uint256 t) private view returns (StakeTerms memory) {
        // casting to 'uint208' is safe because every scheduled value is a packed StakeTerms
        // forge-lint: disable-next-line(unsafe-typecast)
        return StakeTermsLib.unpack(uint208(_ghostAt(_terms, t)));
    }

    function _pack(uint128 minHostStake, uint16 slashBps, uint16 share, uint64 delay) private pure returns (uint208) {
        return StakeTermsLib.pack(
            StakeTerms({minHostStake: minHostStake, slashBps: slashBps, proverShareBps: share, unbondingDelay: delay})
        );
    }

    function _schedule(Scheduled[] storage s, uint256 effectiveAt, uint256 value) private {
        if (s.length != 0 && s[s.length - 1].effectiveAt == effectiveAt) s[s.length - 1].value = value;
        else s.push(Scheduled(effectiveAt, value));
    }

    function _ghostAt(Scheduled[] storage s, uint256 t) private view returns (uint256) {
        for (uint256 k = s.length; k > 0; k--) {
            if (s[k - 1].effectiveAt <= t) return s[k - 1].value;
        }
        return 0;
    }

    /// @dev Whether revert data `reason` is the custom error `selector`.
    function _isError(bytes memory reason, bytes4 selector) private pure returns (bool) {
        // casting to 'bytes4' keeps the selector, the first four bytes of the revert data
        // forge-lint: disable-next-line(unsafe-typecast)
        return reason.length >= 4 && bytes4(reason) == selector;
    }

    function _check(bool ok, string memory what) private {
        if (ok) return;
        ghostViolations++;
        lastViolation = what;
    }
}
