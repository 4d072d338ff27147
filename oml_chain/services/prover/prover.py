"""The prover (Fig. 3): probe hosts with fresh fingerprint keys, commit and reveal slash proofs.

`Prover` is chain- and HTTP-facing but loop-free: `targets()` lists staked
hosts of models whose fingerprints it holds, `probe(target)` sends fresh keys
and slashes on misuse, `resume_pending()` finishes commitments a previous run
left behind, `finalize_due_disputes()` finalizes the disputes its reveals
opened once their window has passed (a host that served under a *retired*
permission signer's permission gets `DISPUTE_WINDOW` to defend with a receipt).
The daemon (daemon.py) schedules these with backoff.

Burns are per host on chain (`isBurned(model, host, index)`), so a key is
chosen per host: never one already sent to (or burned for) that host; keys
never sent to anyone first, then keys only other hosts have seen.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import httpx
from eth_utils import event_abi_to_log_topic, is_address, to_checksum_address
from web3 import Web3

from fingerprinting.fpfile import matching_record

from ...chain.commitment import CommittedFingerprint, FingerprintCommitment, commit_fingerprints
from ...chain.client import TxResult
from ...chain.errors import ContractError, ContractStateError, RPCUnavailable, TransactionFailed
from ...chain.roles import ProverClient, build_evidence
from ...chain.types import SlashEvidence
from .config import ProverConfig
from .probe import (HostAnswerInvalid, HostUnreachable, classify_permission, send_probe, served_model_name,
                    verify_answer)
from .store import DisputeRecord, ProverStore, SlashRecord

log = logging.getLogger("oml.prover")


@dataclass(frozen=True)
class Target:
    model_id: int
    host: str
    endpoint: str
    stake: int


@dataclass
class ProbeResult:
    model_id: int
    host: str
    endpoint: str
    fp_index: int | None
    # slashed | disputed | permitted | not_fired | invalid_answer | unreachable | no_keys | slash_failed
    outcome: str
    detail: str = ""
    slash: SlashRecord | None = None
    dispute: DisputeRecord | None = None  # outcome "disputed": the permission's signer is retired


@dataclass(frozen=True)
class DisputeClosure:
    """A dispute of ours that closed: `finalized` (with its slash), `defended` or `closed` (no slash found)."""

    dispute: DisputeRecord
    slash: SlashRecord | None = None


Reveal = SlashRecord | DisputeRecord  # what a reveal produced


@dataclass
class RoundReport:
    results: list[ProbeResult] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    resumed: list[Reveal] = field(default_factory=list)  # pending commitments of earlier runs, revealed now
    closed: list[DisputeClosure] = field(default_factory=list)  # disputes finalized (or found defended) now

    @property
    def slashes(self) -> list[SlashRecord]:
        """Every slash of this round: probes, resumed reveals and finalized disputes."""
        out = [r.slash for r in self.results if r.slash is not None]
        out += [r for r in self.resumed if isinstance(r, SlashRecord)]
        return out + [c.slash for c in self.closed if c.slash is not None]

    @property
    def disputes_opened(self) -> list[DisputeRecord]:
        out = [r.dispute for r in self.results if r.dispute is not None]
        return out + [r for r in self.resumed if isinstance(r, DisputeRecord)]

    @property
    def disputes_finalized(self) -> list[DisputeClosure]:
        return [c for c in self.closed if c.dispute.state == "finalized"]


def _hash(tx: TxResult) -> str:
    """The transaction hash as 0x-hex (what event logs give too), whatever HexBytes.hex() returns."""
    return tx.tx_hash if tx.tx_hash.startswith("0x") else "0x" + tx.tx_hash


def make_web3(rpc_url: str, timeout: float = 10.0) -> Web3:
    return Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": timeout}))


class Prover:
    """One prover key, its fingerprint files and its SQLite record."""

    def __init__(self, config: ProverConfig, w3: Web3 | None = None):
        self.config = config
        self.w3 = w3 or make_web3(config.rpc_url)
        self.client = ProverClient(self.w3, config.oml_address, config.prover_key)
        self.store = ProverStore(config.db_path)
        self.files: list[FingerprintCommitment] = [commit_fingerprints(p) for p in config.fingerprint_files]
        self.models: dict[int, FingerprintCommitment] = {}
        self.http = httpx.Client(timeout=config.request_timeout)
        self._names: dict[str, str] = {}
        self._hosts: dict[tuple[int, str], None] = {}  # every (model, host) ever staked, in first-seen order
        self._scanned_to = -1
        self._topics = {e["name"]: event_abi_to_log_topic(e) for e in self.client.abi if e.get("type") == "event"}

    def close(self) -> None:
        self.http.close()
        self.store.close()

    @property
    def address(self) -> str:
        return self.client.account

    def _event_logs(self, event: str, from_block: int, to_block: int | str) -> list:
        """Raw logs of one OML event in a block range."""
        return self.client._rpc(lambda: self.w3.eth.get_logs({
            "address": self.client.address, "fromBlock": from_block, "toBlock": to_block,
            "topics": [self._topics[event]]}))

    # --- which models and hosts ---------------------------------------------------------------
    def refresh_models(self) -> dict[int, FingerprintCommitment]:
        """Match each fingerprint file to the registered models whose fingerprint root it produces."""
        ids = self.config.model_ids or range(1, self.client.model_count() + 1)
        by_root = {f.root: f for f in self.files}
        for mid in ids:
            if mid in self.models:
                continue
            model = self.client.get_model(mid)
            match = by_root.get(bytes(model.fingerprint_root))
            if match is not None and match.count == model.fingerprint_count:
                self.models[mid] = match
                log.info("model %d: fingerprints from %s (%d keys)", mid, match.path, match.count)
        return self.models

    def targets(self) -> list[Target]:
        """Hosts with a non-zero stake on models we hold fingerprints for.

        HostStaked events are scanned incrementally (only blocks not seen before); stakes and endpoints are
        read fresh every time, so a changed endpoint or a withdrawn stake is noticed at once.
        """
        self.refresh_models()
        latest = self.client._rpc(lambda: self.w3.eth.block_number)
        start = max(self.config.from_block, self._scanned_to + 1)
        if start <= latest:
            for ev in self.client.decode_events({"logs": self._event_logs("HostStaked", start, latest)}):
                self._hosts[(int(ev.args["modelId"]), to_checksum_address(ev.args["host"]))] = None
            self._scanned_to = latest
        out = []
        for mid, host in self._hosts:
            if mid not in self.models:
                continue
            stake = self.client.get_stake(mid, host)
            if stake.amount > 0:
                out.append(Target(mid, host, stake.endpoint, stake.amount))
        return out

    # --- keys ---------------------------------------------------------------------------------
    def fresh_keys(self, model_id: int, host: str, n: int) -> list[CommittedFingerprint]:
        """Up to `n` fingerprints for `host`: never sent to it and not burned for it on chain.

        Keys no host has seen come first; then keys sent only to other hosts (burns are per host, so a key
        revealed against one host still proves misuse by another).
        A key with several responses (several records) is one probe: returned as its first record, fresh only
        while none of its records was sent to or burned for the host.
        """
        host = to_checksum_address(host)
        fps = self.models[model_id]
        sent = self.store.sent_to(model_id)
        unseen, elsewhere = [], []
        for group in fps.key_groups:
            hosts = set().union(*(sent.get(fp.index, set()) for fp in group))
            if host not in hosts:
                (elsewhere if hosts else unseen).append(group)
        out = []
        for group in unseen + elsewhere:
            if len(out) >= n:
                break
            if any(self.client.is_burned(model_id, host, fp.index) for fp in group):
                for fp in group:  # revealed against this host by someone: the key is public
                    self.store.mark_used(model_id, fp.index, host)
                continue
            out.append(group[0])
        return out

    # --- probing ------------------------------------------------------------------------------
    def probe(self, target: Target, n_keys: int | None = None, endpoint: str | None = None) -> list[ProbeResult]:
        """Send `n_keys` fresh keys to one host; slash it (or open a dispute) when it answers a fingerprint
        without a permission of the current signer."""
        if target.model_id not in self.refresh_models():
            raise KeyError(f"no fingerprint file matches model {target.model_id}; pass its fingerprint file")
        target = Target(target.model_id, to_checksum_address(target.host), target.endpoint, target.stake)
        url = endpoint or target.endpoint
        if not url.startswith(("http://", "https://")):
            return [ProbeResult(target.model_id, target.host, url, None, "unreachable",
                                f"endpoint {url!r} is not an http(s) URL")]
        keys = self.fresh_keys(target.model_id, target.host, n_keys or self.config.keys_per_round)
        if not keys:
            return [ProbeResult(target.model_id, target.host, url, None, "no_keys",
                                "every fingerprint of this model was sent to or burned for this host")]
        if url not in self._names:
            self._names[url] = served_model_name(self.http, url, target.model_id)
        results = []
        for fp in keys:
            results.append(self._probe_one(target, url, fp))
            if results[-1].outcome in ("unreachable", "slashed", "disputed"):
                break  # a dead host: back off; a slashed one: enough for this round
        return results

    def _probe_one(self, target: Target, url: str, fp: CommittedFingerprint) -> ProbeResult:
        mid, host = target.model_id, target.host
        group = self.models[mid].group_of(fp.index)
        max_tokens = min(self.config.max_tokens, max(len(g.response.encode()) for g in group) + 4)
        for g in group:  # before sending: a sent key is spent even if we crash
            self.store.mark_used(mid, g.index, host)
        res = ProbeResult(mid, host, url, fp.index, "")
        try:
            body = send_probe(self.http, url, self._names[url], fp.key, max_tokens, self.config.stream)
        except HostUnreachable as exc:
            res.outcome, res.detail = "unreachable", str(exc)
            for g in group:  # the key never reached a model: give it back
                self.store.unmark_used(mid, g.index, host)
        except HostAnswerInvalid as exc:
            res.outcome, res.detail = "invalid_answer", str(exc)
        else:
            res = self._judge(target, url, fp, body)
        self.store.record_probe(mid, host, url, res.fp_index, res.outcome, res.detail)
        log.info("probe model %d host %s key #%d: %s %s", mid, host, fp.index, res.outcome, res.detail[:120])
        return res

    def _attestation_signers(self, model_id: int, host: str, body) -> list[str]:
        """The host's current attestation signer, and the signer the answer names if it was replaced but is
        still valid for a commitment made now (with 10 minutes to spare)."""
        signers = [self.client.get_stake(model_id, host).attestation_signer]
        oml = body.get("oml") if isinstance(body, dict) else None
        claimed = oml.get("attestation_signer") if isinstance(oml, dict) else None
        if isinstance(claimed, str) and is_address(claimed) and claimed.lower() != signers[0].lower():
            claimed = to_checksum_address(claimed)
            if self.client.attestation_signer_valid_until(model_id, host, claimed) > self.client.chain_time() + 600:
                signers.append(claimed)
        return signers

    def _judge(self, target: Target, url: str, fp: CommittedFingerprint, body) -> ProbeResult:
        mid, host = target.model_id, target.host
        res = ProbeResult(mid, host, url, fp.index, "")
        try:
            answer = verify_answer(body, self.client.domain, mid, host, fp.key,
                                   self._attestation_signers(mid, host, body))
        except HostAnswerInvalid as exc:
            res.outcome, res.detail = "invalid_answer", str(exc)
            return res
        group = self.models[mid].group_of(fp.index)
        hit = matching_record(answer.text, group, range(len(group)))
        if hit is None:
            res.outcome = "not_fired"
            res.detail = f"answered {answer.text[:40]!r}, fingerprint {' or '.join(repr(g.response) for g in group)}"
            return res
        fp = group[hit]  # the record whose response the answer starts with is the evidence
        res.fp_index = fp.index
        model = self.client.get_model(mid)
        verdict = classify_permission(self.client.domain, mid, host, fp.key, answer, model.permission_signer,
                                      lambda who: self.client.permission_signer_retired_at(mid, who))
        if verdict.kind == "current":
            res.outcome, res.detail = "permitted", f"fingerprint fired under a valid permission (seq {answer.seq})"
            return res
        evidence = build_evidence(mid, host, fp.leaf, self.models[mid].tree, fp.response, answer.text, answer.seq,
                                  answer.permission or None, answer.attestation)
        try:
            done = self.slash(evidence)
        except ContractError as exc:
            res.outcome, res.detail = "slash_failed", str(exc)
            return res
        if isinstance(done, DisputeRecord):
            res.outcome, res.dispute = "disputed", done
            res.detail = (f"served under {verdict.describe()}: dispute open until {done.deadline} "
                          "(the host may defend with a receipt recorded in time)")
        else:
            res.outcome, res.slash = "slashed", done
            res.detail = f"slashed {done.slashed} wei, reward {done.reward} wei ({verdict.describe()})"
        return res

    # --- commit → reveal ----------------------------------------------------------------------
    def slash(self, evidence: SlashEvidence) -> Reveal:
        """Store the evidence, commit, wait a block, reveal; returns the recorded slash, or the dispute the
        reveal opened (permission of a retired signer)."""
        c = self.client.commitment(evidence)
        self.store.add_pending(c, evidence)
        return self._finish(c, evidence, "new")

    def _finish(self, c: bytes, evidence: SlashEvidence, state: str) -> Reveal:
        mid, host, idx = evidence.model_id, evidence.host, evidence.fingerprint_index
        onchain = self.client.get_commitment(self.address, c)
        if onchain.block_number == 0:
            if self.client.is_burned(mid, host, idx):  # revealed already (by us before a crash, or by someone else)
                mine = self._find_own_reveal(c, evidence)
                if mine is not None:
                    return mine
                self.store.mark_failed(c, f"fingerprint {idx} was already revealed against {host} by another proof")
                raise ContractStateError("SlashFingerprintBurned", {"modelId": mid, "host": host, "index": idx},
                                         "fingerprint {index} of model {modelId} was already revealed against "
                                         "{host}; use another")
            tx = self.client.commit(c)
            self.store.mark_committed(c, tx.block_number)
            log.info("committed %s in block %d", "0x" + c.hex()[:16], tx.block_number)
        elif state == "new":
            self.store.mark_committed(c, onchain.block_number)
        deadline = time.monotonic() + self.config.reveal_timeout
        while True:
            try:
                tx = self.client.reveal(c, evidence)
                break
            except ContractStateError as exc:
                if exc.error == "SlashRevealTooEarly" and time.monotonic() < deadline:
                    time.sleep(0.2)
                    continue
                self.store.mark_failed(c, str(exc))
                raise
            except ContractError as exc:
                self.store.mark_failed(c, str(exc))
                raise
        return self._record_reveal(c, evidence, tx)

    def _record_reveal(self, c: bytes, evidence: SlashEvidence, tx: TxResult) -> Reveal:
        mid, host, idx = evidence.model_id, evidence.host, evidence.fingerprint_index
        for ev in tx.events:
            if ev.name == "HostSlashed":
                rec = SlashRecord("0x" + c.hex(), mid, host, idx, int(ev.args["slashed"]), int(ev.args["reward"]),
                                  _hash(tx), tx.block_number)
                self.store.record_slash(c, mid, host, idx, rec.slashed, rec.reward, rec.tx_hash, rec.block)
                log.warning("SLASHED host %s on model %d with fingerprint #%d: %d wei (reward %d)", host, mid, idx,
                            rec.slashed, rec.reward)
                return rec
            if ev.name == "SlashDisputed":
                rec = self.store.record_dispute(c, mid, host, idx, to_checksum_address(ev.args["signer"]),
                                                int(ev.args["deadline"]), _hash(tx), tx.block_number)
                log.warning("DISPUTED slash of host %s on model %d with fingerprint #%d: the permission is by retired "
                            "signer %s; finalizing after %d unless the host defends", host, mid, idx, rec.signer,
                            rec.deadline)
                return rec
        self.store.mark_failed(c, f"reveal {_hash(tx)} emitted neither HostSlashed nor SlashDisputed")
        raise TransactionFailed(f"reveal {_hash(tx)} emitted neither HostSlashed nor SlashDisputed "
                                f"(events: {[e.name for e in tx.events]}); is the OML ABI the v2 one?")

    def _own_events(self, name: str, model_id: int, host: str, index: int, prover: str | None) -> list:
        """(log, event) pairs of `name` for (model, host, index), emitted for `prover` when given."""
        logs = self._event_logs(name, self.config.from_block, "latest")
        out = []
        for log_, ev in zip(logs, self.client.decode_events({"logs": logs})):
            a = ev.args
            if (int(a["modelId"]) == model_id and to_checksum_address(a["host"]) == host and int(a["index"]) == index
                    and (prover is None or to_checksum_address(a["prover"]) == prover)):
                out.append((log_, ev))
        return out

    @staticmethod
    def _where(log_) -> tuple[str, int]:
        return "0x" + bytes(log_["transactionHash"]).hex(), int(log_["blockNumber"])

    def _find_own_reveal(self, c: bytes, evidence: SlashEvidence) -> Reveal | None:
        """A reveal of ours that is mined but not recorded (a crash in between): record it now."""
        mid, host, idx = evidence.model_id, to_checksum_address(evidence.host), evidence.fingerprint_index
        for log_, ev in self._own_events("HostSlashed", mid, host, idx, self.address):
            tx_hash, block = self._where(log_)
            rec = SlashRecord("0x" + c.hex(), mid, evidence.host, idx, int(ev.args["slashed"]), int(ev.args["reward"]),
                              tx_hash, block)
            self.store.record_slash(c, mid, evidence.host, idx, rec.slashed, rec.reward, tx_hash, block)
            return rec
        for log_, ev in self._own_events("SlashDisputed", mid, host, idx, self.address):
            tx_hash, block = self._where(log_)
            return self.store.record_dispute(c, mid, evidence.host, idx, to_checksum_address(ev.args["signer"]),
                                             int(ev.args["deadline"]), tx_hash, block)
        return None

    def resume_pending(self) -> list[Reveal]:
        """Finish every stored commitment (commit if it never got mined, then reveal)."""
        done = []
        for p in self.store.open_pending():
            log.info("resuming pending commitment 0x%s (model %d, host %s, key #%d, state %s)", p.commitment.hex()[:16],
                     p.model_id, p.host, p.fp_index, p.state)
            try:
                done.append(self._finish(p.commitment, p.evidence, p.state))
            except RPCUnavailable:
                raise
            except (ContractError, TransactionFailed) as exc:
                log.error("pending commitment 0x%s failed: %s", p.commitment.hex()[:16], exc)
        return done

    # --- disputes -----------------------------------------------------------------------------
    def finalize_due_disputes(self) -> list[DisputeClosure]:
        """Finalize our open disputes whose defence window has passed; record the ones that closed otherwise
        (defended by the host, or finalized by someone else: the reward is still ours). Disputes still inside
        their window are left open."""
        out = []
        open_ = self.store.disputes("open")
        if not open_:
            return out
        now = self.client.chain_time()
        for d in open_:
            try:
                closure = self._close_dispute(d, now)
            except RPCUnavailable:
                raise
            except (ContractError, TransactionFailed) as exc:
                log.error("finalizing the dispute over fingerprint #%d of model %d against %s failed: %s",
                          d.fp_index, d.model_id, d.host, exc)
                continue
            if closure is not None:
                out.append(closure)
        return out

    def _close_dispute(self, d: DisputeRecord, now: int) -> DisputeClosure | None:
        mid, host, idx = d.model_id, to_checksum_address(d.host), d.fp_index
        onchain = self.client.get_dispute(mid, host, idx)
        if onchain.open:
            if now < onchain.deadline:
                return None  # the host may still defend
            try:
                tx = self.client.finalize_slash(mid, host, idx)
            except ContractStateError as exc:
                if exc.error == "SlashDisputeActive":
                    return None
                raise
            slashed = [e.args for e in tx.events if e.name == "HostSlashed"]
            if not slashed:  # the stake left was too small to slash: the case is closed
                return self._closed(d, "finalized", f"finalized in {_hash(tx)}; nothing left to slash")
            return self._closed(d, "finalized", f"finalized in {_hash(tx)}",
                                SlashRecord(d.commitment, mid, d.host, idx, int(slashed[0]["slashed"]),
                                            int(slashed[0]["reward"]), _hash(tx), tx.block_number))
        for log_, ev in self._own_events("HostSlashed", mid, host, idx, self.address):
            tx_hash, block = self._where(log_)
            return self._closed(d, "finalized", f"finalized by another caller in {tx_hash}",
                                SlashRecord(d.commitment, mid, d.host, idx, int(ev.args["slashed"]),
                                            int(ev.args["reward"]), tx_hash, block))
        defended = self._own_events("SlashDefended", mid, host, idx, None)
        if defended:
            return self._closed(d, "defended", "the host proved a permission receipt recorded in time "
                                               f"({self._where(defended[0][0])[0]})")
        return self._closed(d, "closed", "closed on chain without a slash event of ours")

    def _closed(self, d: DisputeRecord, state: str, detail: str, slash: SlashRecord | None = None) -> DisputeClosure:
        self.store.close_dispute(d.model_id, d.host, d.fp_index, state, detail, slash)
        rec = DisputeRecord(d.commitment, d.model_id, d.host, d.fp_index, d.signer, d.deadline, state, d.tx_hash,
                            d.block, detail)
        if slash is not None:
            log.warning("SLASHED host %s on model %d with fingerprint #%d after an undefended dispute: %d wei "
                        "(reward %d)", d.host, d.model_id, d.fp_index, slash.slashed, slash.reward)
        else:
            log.info("dispute over fingerprint #%d of model %d against %s: %s (%s)", d.fp_index, d.model_id, d.host,
                     state, detail)
        return DisputeClosure(rec, slash)

    def run_round(self, targets: list[Target] | None = None) -> RoundReport:
        """Resume pending reveals, finalize due disputes, then probe every target once (errors of one host do
        not stop the others)."""
        report = RoundReport()
        report.resumed = self.resume_pending()
        report.closed = self.finalize_due_disputes()
        for t in (self.targets() if targets is None else targets):
            try:
                report.results.extend(self.probe(t))
            except RPCUnavailable:
                raise
            except Exception as exc:  # one bad host must not stop the round
                log.exception("probing model %d host %s failed", t.model_id, t.host)
                report.errors.append(f"{t.host}: {exc}")
        return report
