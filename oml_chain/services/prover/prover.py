"""The prover (Fig. 3): probe hosts with fresh fingerprint keys, commit and reveal slash proofs.

`Prover` is chain- and HTTP-facing but loop-free: `targets()` lists staked
hosts of models whose fingerprints it holds, `probe(target)` sends fresh keys
and slashes on misuse, `resume_pending()` finishes commitments a previous run
left behind. The daemon (daemon.py) schedules these with backoff.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import httpx
from eth_utils import event_abi_to_log_topic, to_checksum_address
from web3 import Web3

from ...chain.commitment import CommittedFingerprint, FingerprintCommitment, commit_fingerprints
from ...chain.errors import ContractError, ContractStateError, RPCUnavailable
from ...chain.roles import ProverClient, build_evidence
from ...chain.types import ZERO_ADDRESS
from .config import ProverConfig
from .probe import (HostAnswerInvalid, HostUnreachable, permission_is_valid, send_probe, served_model_name,
                    verify_answer)
from .store import ProverStore, SlashRecord

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
    outcome: str  # slashed | permitted | not_fired | invalid_answer | unreachable | no_keys | slash_failed
    detail: str = ""
    slash: SlashRecord | None = None


@dataclass
class RoundReport:
    results: list[ProbeResult] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def slashes(self) -> list[SlashRecord]:
        return [r.slash for r in self.results if r.slash is not None]


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
    def fresh_keys(self, model_id: int, n: int) -> list[CommittedFingerprint]:
        """Up to `n` fingerprints never sent by this prover and not burned on chain."""
        fps = self.models[model_id]
        used = self.store.used_indices(model_id)
        out = []
        for fp in fps.fingerprints:
            if len(out) >= n:
                break
            if fp.index in used:
                continue
            if self.client.is_burned(model_id, fp.index):
                self.store.mark_used(model_id, fp.index, "(burned on chain)")
                continue
            out.append(fp)
        return out

    # --- probing ------------------------------------------------------------------------------
    def probe(self, target: Target, n_keys: int | None = None, endpoint: str | None = None) -> list[ProbeResult]:
        """Send `n_keys` fresh keys to one host; slash it when it answers a fingerprint without permission."""
        if target.model_id not in self.refresh_models():
            raise KeyError(f"no fingerprint file matches model {target.model_id}; pass its fingerprint file")
        url = endpoint or target.endpoint
        if not url.startswith(("http://", "https://")):
            return [ProbeResult(target.model_id, target.host, url, None, "unreachable",
                                f"endpoint {url!r} is not an http(s) URL")]
        keys = self.fresh_keys(target.model_id, n_keys or self.config.keys_per_round)
        if not keys:
            return [ProbeResult(target.model_id, target.host, url, None, "no_keys",
                                "every fingerprint of this model was used or burned")]
        model = self.client.get_model(target.model_id)
        stake = self.client.get_stake(target.model_id, target.host)
        signers = [stake.attestation_signer]
        prev, valid_until = self.client.call("getPreviousAttestationSigner", target.model_id, target.host)
        if prev != ZERO_ADDRESS and valid_until > time.time() + 600:
            signers.append(prev)
        if url not in self._names:
            self._names[url] = served_model_name(self.http, url, target.model_id)
        results = []
        for fp in keys:
            results.append(self._probe_one(target, url, fp, model, signers))
            if results[-1].outcome in ("unreachable", "slashed"):
                break  # a dead host: back off; a slashed one: enough for this round
        return results

    def _probe_one(self, target: Target, url: str, fp: CommittedFingerprint, model, signers) -> ProbeResult:
        mid, host = target.model_id, target.host
        max_tokens = min(self.config.max_tokens, len(fp.response.encode()) + 4)
        self.store.mark_used(mid, fp.index, host)  # before sending: a sent key is spent even if we crash
        res = ProbeResult(mid, host, url, fp.index, "")
        try:
            body = send_probe(self.http, url, self._names[url], fp.key, max_tokens)
        except HostUnreachable as exc:
            res.outcome, res.detail = "unreachable", str(exc)
            # the key never reached a model: give it back
            self.store.unmark_used(mid, fp.index)
        except HostAnswerInvalid as exc:
            res.outcome, res.detail = "invalid_answer", str(exc)
        else:
            res = self._judge(target, url, fp, model, signers, body)
        self.store.record_probe(mid, host, url, fp.index, res.outcome, res.detail)
        log.info("probe model %d host %s key #%d: %s %s", mid, host, fp.index, res.outcome, res.detail[:120])
        return res

    def _judge(self, target: Target, url: str, fp: CommittedFingerprint, model, signers, body) -> ProbeResult:
        mid, host = target.model_id, target.host
        res = ProbeResult(mid, host, url, fp.index, "")
        try:
            answer = verify_answer(body, self.client.domain, mid, host, fp.key, signers)
        except HostAnswerInvalid as exc:
            res.outcome, res.detail = "invalid_answer", str(exc)
            return res
        if not answer.text.startswith(fp.response):
            res.outcome, res.detail = "not_fired", f"answered {answer.text[:40]!r}, fingerprint {fp.response!r}"
            return res
        if permission_is_valid(self.client.domain, mid, host, fp.key, answer, model.permission_signer,
                               lambda who: self.client.call("wasPermissionSigner", mid, who)):
            res.outcome, res.detail = "permitted", f"fingerprint fired under a valid permission (seq {answer.seq})"
            return res
        evidence = build_evidence(mid, host, fp.leaf, self.models[mid].tree, fp.response, answer.text, answer.seq,
                                  answer.permission or None, answer.attestation)
        try:
            res.slash = self.slash(evidence)
            res.outcome = "slashed"
            res.detail = f"slashed {res.slash.slashed} wei, reward {res.slash.reward} wei"
        except ContractError as exc:
            res.outcome, res.detail = "slash_failed", str(exc)
        return res

    # --- commit → reveal ----------------------------------------------------------------------
    def slash(self, evidence) -> SlashRecord:
        """Store the evidence, commit, wait a block, reveal; returns the recorded slash."""
        c = self.client.commitment(evidence)
        self.store.add_pending(c, evidence)
        return self._finish(c, evidence, "new")

    def _finish(self, c: bytes, evidence, state: str) -> SlashRecord:
        mid, idx = evidence.model_id, evidence.fingerprint_index
        onchain = self.client.get_commitment(c)
        if onchain.prover == ZERO_ADDRESS:
            if self.client.is_burned(mid, idx):  # revealed already (by us before a crash, or by someone else)
                mine = self._find_own_slash(mid, idx)
                if mine is not None:
                    self.store.record_slash(c, mid, evidence.host, idx, *mine)
                    return SlashRecord("0x" + c.hex(), mid, evidence.host, idx, *mine)
                self.store.mark_failed(c, "the fingerprint was burned by another proof")
                raise ContractStateError("SlashFingerprintBurned", {"modelId": mid, "index": idx},
                                         "fingerprint {index} of model {modelId} was already revealed; use another")
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
        ev = tx.event("HostSlashed").args
        self.store.record_slash(c, mid, evidence.host, idx, int(ev["slashed"]), int(ev["reward"]), tx.tx_hash,
                                tx.block_number)
        log.warning("SLASHED host %s on model %d with fingerprint #%d: %d wei (reward %d)", evidence.host, mid, idx,
                    ev["slashed"], ev["reward"])
        return SlashRecord("0x" + c.hex(), mid, evidence.host, idx, int(ev["slashed"]), int(ev["reward"]),
                           tx.tx_hash, tx.block_number)

    def _find_own_slash(self, model_id: int, index: int) -> tuple[int, int, str, int] | None:
        logs = self._event_logs("HostSlashed", self.config.from_block, "latest")
        for log_, ev in zip(logs, self.client.decode_events({"logs": logs})):
            a = ev.args
            if int(a["modelId"]) == model_id and int(a["index"]) == index and a["prover"] == self.address:
                return int(a["slashed"]), int(a["reward"]), "0x" + bytes(log_["transactionHash"]).hex(), \
                    int(log_["blockNumber"])
        return None

    def resume_pending(self) -> list[SlashRecord]:
        """Finish every stored commitment (commit if it never got mined, then reveal)."""
        done = []
        for p in self.store.open_pending():
            log.info("resuming pending commitment 0x%s (model %d, host %s, key #%d, state %s)", p.commitment.hex()[:16],
                     p.model_id, p.host, p.fp_index, p.state)
            try:
                done.append(self._finish(p.commitment, p.evidence, p.state))
            except RPCUnavailable:
                raise
            except ContractError as exc:
                log.error("pending commitment 0x%s failed: %s", p.commitment.hex()[:16], exc)
        return done

    def run_round(self, targets: list[Target] | None = None) -> RoundReport:
        """Resume pending reveals, then probe every target once (errors of one host do not stop the others)."""
        report = RoundReport()
        self.resume_pending()
        for t in (self.targets() if targets is None else targets):
            try:
                report.results.extend(self.probe(t))
            except RPCUnavailable:
                raise
            except Exception as exc:  # one bad host must not stop the round
                log.exception("probing model %d host %s failed", t.model_id, t.host)
                report.errors.append(f"{t.host}: {exc}")
        return report
