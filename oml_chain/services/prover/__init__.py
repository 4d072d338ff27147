"""The prover (Fig. 3 of the seed): poses as a user, sends fingerprint keys, slashes hosts that serve without
permission (a permission of a retired signer opens a dispute, finalized after its window unless defended).
`Prover` (one round, library), `ProverDaemon` / `run` (scheduled, with backoff), `ProverConfig`."""

from .config import ProverConfig
from .daemon import ProverDaemon, run
from .prover import DisputeClosure, ProbeResult, Prover, RoundReport, Target
from .store import DisputeRecord, SlashRecord

__all__ = ["DisputeClosure", "DisputeRecord", "ProverConfig", "Prover", "ProverDaemon", "ProbeResult", "RoundReport",
           "SlashRecord", "Target", "run"]
