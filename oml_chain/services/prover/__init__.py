"""The prover (Fig. 3 of the seed): poses as a user, sends fingerprint keys, slashes hosts that serve without
permission. `Prover` (one round, library), `ProverDaemon` / `run` (scheduled, with backoff), `ProverConfig`."""

from .config import ProverConfig
from .daemon import ProverDaemon, run
from .prover import ProbeResult, Prover, RoundReport, Target

__all__ = ["ProverConfig", "Prover", "ProverDaemon", "ProbeResult", "RoundReport", "Target", "run"]
