"""False-positive audit: models that were never fingerprinted must not answer with the responses.

The base model (the fingerprints' responses were chosen to be plausible but
not its greedy answer) and an independently trained model (another seed of the
same recipe, same tokenizer) are checked on the same keys; their accuracies
are the false-positive rates.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fingerprinting.check import CheckResult, check_fingerprints
from fingerprinting.errors import ConfigError
from fingerprinting.fpfile import read_fingerprint_file


@dataclass
class AuditResult:
    n: int
    models: dict[str, str]  # role -> model path / name
    results: dict[str, CheckResult] = field(default_factory=dict)  # role -> check result

    @property
    def false_positive_rates(self) -> dict[str, float]:
        return {role: r.accuracy for role, r in self.results.items()}

    def to_dict(self) -> dict[str, Any]:
        return {"n": self.n, "models": self.models, "false_positive_rates": self.false_positive_rates,
                "results": {role: r.to_dict() for role, r in self.results.items()}}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)


def audit_false_positives(fingerprint_file: str | Path, models: dict[str, str | Path], templates: str = "bare",
                          batch_size: int = 32, device: str | None = None) -> AuditResult:
    """Check every model in ``models`` (role -> path, e.g. {"base": ..., "independent": ...})."""
    from fingerprinting.models import load_model

    if not models:
        raise ConfigError("audit needs at least one model (e.g. the base model and an independent one)")
    _, fps = read_fingerprint_file(fingerprint_file)
    result = AuditResult(n=len(fps), models={k: str(v) for k, v in models.items()})
    for role, path in models.items():
        model, tokenizer = load_model(path, device=device)
        result.results[role] = check_fingerprints(model, tokenizer, fps, templates, batch_size)
        del model
    return result


def default_audit_models(fingerprint_file: str | Path, independent_preset: str = "tiny",
                         independent_seed: int = 1, base: str | Path | None = None) -> dict[str, str]:
    """{"base": the header's base model (or ``base``), "independent": a built base model of another seed}."""
    from fingerprinting.base_models import build_base_model

    header, _ = read_fingerprint_file(fingerprint_file)
    base = base or header.base_model
    if not base:
        raise ConfigError("the fingerprint file names no base model; pass the base model explicitly")
    independent = build_base_model(independent_preset, seed=independent_seed, progress=False)
    if Path(base).resolve() == independent.resolve():
        raise ConfigError(f"the independent model ({independent_preset} seed {independent_seed}) is the base model "
                          "itself; choose another --independent-seed")
    return {"base": str(base), "independent": str(independent)}
