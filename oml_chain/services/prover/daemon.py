"""The prover daemon: probe every staked host on a schedule, with exponential backoff on failures.

Each round: finish pending commitments, finalize disputes whose window has
passed, list staked hosts (HostStaked events), and probe each host whose
backoff has expired with `keys_per_round` fresh keys. An RPC failure backs
the whole daemon off; an unreachable host backs only that host off. Nothing
here raises out of `run` except a bad configuration at start; SIGINT/SIGTERM
stop it between steps.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from dataclasses import dataclass, field

from ...chain.errors import ConfigError, RPCUnavailable
from .config import ProverConfig
from .prover import Prover, RoundReport

log = logging.getLogger("oml.prover")


@dataclass
class Backoff:
    """Exponential backoff: initial × 2^(failures−1), capped."""

    initial: float
    maximum: float
    failures: int = 0
    next_at: float = 0.0

    def fail(self, now: float) -> float:
        self.failures += 1
        delay = min(self.maximum, self.initial * 2 ** (self.failures - 1))
        self.next_at = now + delay
        return delay

    def ok(self) -> None:
        self.failures, self.next_at = 0, 0.0

    def ready(self, now: float) -> bool:
        return now >= self.next_at


@dataclass
class DaemonStats:
    rounds: int = 0
    rpc_failures: int = 0
    host_failures: int = 0
    slashes: int = 0
    disputes_opened: int = 0
    disputes_finalized: int = 0
    reports: list[RoundReport] = field(default_factory=list)


class ProverDaemon:
    def __init__(self, config: ProverConfig, stop: threading.Event | None = None, prover: Prover | None = None):
        self.config = config
        self.stop = stop or threading.Event()
        self.prover = prover or Prover(config)
        self.rpc_backoff = Backoff(config.backoff_initial, config.backoff_max)
        self.host_backoff: dict[tuple[int, str], Backoff] = {}
        self.stats = DaemonStats()

    def _host(self, model_id: int, host: str) -> Backoff:
        return self.host_backoff.setdefault((model_id, host), Backoff(self.config.backoff_initial,
                                                                      self.config.backoff_max))

    def round(self) -> RoundReport:
        """One round (raises RPCUnavailable when the chain cannot be read)."""
        now = time.monotonic()
        targets = [t for t in self.prover.targets() if self._host(t.model_id, t.host).ready(now)]
        report = self.prover.run_round(targets)
        for r in report.results:
            b = self._host(r.model_id, r.host)
            if r.outcome == "unreachable":
                self.stats.host_failures += 1
                delay = b.fail(time.monotonic())
                log.warning("host %s (model %d) unreachable, retry in %.1f s: %s", r.host, r.model_id, delay,
                            r.detail)
            else:
                b.ok()
        self.stats.slashes += len(report.slashes)
        self.stats.disputes_opened += len(report.disputes_opened)
        self.stats.disputes_finalized += len(report.disputes_finalized)
        return report

    def run(self, max_rounds: int | None = None) -> DaemonStats:
        """Loop until stopped (or `max_rounds` rounds have run, counting failed ones)."""
        log.info("prover %s watching %s (interval %.1f s, %d key(s) per host per round)", self.prover.address,
                 self.config.rpc_url, self.config.interval, self.config.keys_per_round)
        attempts = 0
        while not self.stop.is_set() and (max_rounds is None or attempts < max_rounds):
            attempts += 1
            wait = self.config.interval
            try:
                report = self.round()
                self.rpc_backoff.ok()
                self.stats.rounds += 1
                self.stats.reports.append(report)
                del self.stats.reports[:-20]  # bounded memory
            except RPCUnavailable as exc:
                self.stats.rpc_failures += 1
                wait = self.rpc_backoff.fail(time.monotonic())
                log.warning("chain unavailable, retry in %.1f s: %s", wait, exc)
            except ConfigError:
                raise
            except Exception:  # never die on one bad round; the next one may succeed
                self.stats.rpc_failures += 1
                wait = self.rpc_backoff.fail(time.monotonic())
                log.exception("prover round failed, retry in %.1f s", wait)
            if max_rounds is not None and attempts >= max_rounds:
                break
            self.stop.wait(wait)
        log.info("prover stopped after %d round(s), %d slash(es), %d dispute(s) opened, %d finalized",
                 self.stats.rounds, self.stats.slashes, self.stats.disputes_opened, self.stats.disputes_finalized)
        return self.stats


def install_signal_handlers(stop: threading.Event) -> None:
    """SIGINT/SIGTERM set `stop` (the loop ends after the current step; pending commitments stay stored)."""
    def handler(signum, _frame):
        log.info("received %s, stopping", signal.Signals(signum).name)
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, handler)
        signal.signal(signal.SIGTERM, handler)


def run(config: ProverConfig, max_rounds: int | None = None) -> DaemonStats:
    """Run the daemon in this process until SIGINT/SIGTERM."""
    stop = threading.Event()
    install_signal_handlers(stop)
    daemon = ProverDaemon(config, stop)
    try:
        return daemon.run(max_rounds)
    finally:
        daemon.prover.close()
