"""A fingerprinted model for tests and the demo: base model → N fingerprints → embedded to 100 %, cached.

The cache key covers the base model's recipe key, N, the generation and
embedding settings, so a warm run reuses the result and a changed setting
rebuilds it. Embedding repeats (continuing from the last result) until every
fingerprint holds, at most `max_attempts` times.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..chain.errors import ConfigError

DONE = "prepared.json"


@dataclass
class PrepConfig:
    preset: str = "tiny"  # base model preset (fingerprinting.base_models)
    n: int = 16  # fingerprints (keys)
    responses_per_key: int = 1  # 2: each key carries two responses, the defence against runner-up-swapping hosts
    seed: int = 0
    key_strategy: str = "english"
    response_strategy: str = "perinucleus"
    key_params: dict = field(default_factory=lambda: {"key_length": 12})
    epochs: int = 30
    lr: float = 2e-3
    batch_size: int = 16
    mixing_ratio: float = 0.5  # half of each batch benign text ...
    kl_weight: float = 1.0  # ... held to the base's next-token distribution: no utility cost (README figures)
    max_attempts: int = 3

    def generate_config(self):
        from fingerprinting.generate import GenerateConfig

        return GenerateConfig(n=self.n, key_strategy=self.key_strategy, key_params=dict(self.key_params),
                              response_strategy=self.response_strategy, seed=self.seed,
                              response_params={"responses_per_key": self.responses_per_key}
                              if self.responses_per_key > 1 else {})

    def embed_config(self, attempt: int, progress: bool = False):
        from fingerprinting.embed import EmbedConfig

        return EmbedConfig(lr=self.lr, epochs=self.epochs, batch_size=self.batch_size, mixing_ratio=self.mixing_ratio,
                           kl_weight=self.kl_weight, seed=self.seed + attempt, device="cpu", progress=progress)

    def key(self, base_key: str) -> str:
        """The cache key: this config, the base model's recipe, and the whole generation and embedding recipe as
        the library fills it in (its defaults included), so a changed default never reuses a stale model."""
        from fingerprinting.generate import STRATEGY_VERSION

        recipe = {"generate": _plain(asdict(self.generate_config())), "strategies": STRATEGY_VERSION,
                  "embed": {k: v for k, v in _plain(asdict(self.embed_config(0))).items() if k != "progress"}}
        mine = asdict(self)
        if self.responses_per_key == 1:
            del mine["responses_per_key"]  # the same key as before the option existed
        blob = json.dumps({**mine, "base": base_key, "recipe": recipe, "v": 2}, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]


def _plain(d: dict) -> dict:
    return json.loads(json.dumps(d, default=str))


@dataclass
class FingerprintedModel:
    root: Path  # the prepared directory
    model_dir: Path  # what hosts receive
    fingerprint_file: Path  # private
    base_dir: Path
    accuracy: float
    n: int
    seconds: float
    reused: bool


def cache_root() -> Path:
    base = Path(os.environ["OML_CACHE"]).expanduser() if os.environ.get("OML_CACHE") else Path.home() / ".cache" / "oml"
    return base / "fingerprinted"


def prepare_model(cfg: PrepConfig | None = None, progress: bool = True, cache_dir: Path | None = None,
                  say=print) -> FingerprintedModel:
    """Build (or reuse) the base model, generate and embed cfg.n fingerprints until all hold.

    Uses the caller's torch thread setting (the demo's entry point picks idle cores; tests use one).
    """
    from fingerprinting.base_models import build_base_model, get_preset
    from fingerprinting.check import check_model
    from fingerprinting.embed import embed
    from fingerprinting.generate import generate_fingerprint_file

    cfg = cfg or PrepConfig()
    t0 = time.monotonic()
    base = build_base_model(cfg.preset, seed=0, progress=progress)
    per_key = f"x{cfg.responses_per_key}" if cfg.responses_per_key > 1 else ""
    target = (cache_dir or cache_root()) / f"{cfg.preset}-n{cfg.n}{per_key}-{cfg.key(get_preset(cfg.preset).key())}"
    done = target / DONE
    if done.is_file():
        info = json.loads(done.read_text())
        return FingerprintedModel(target, target / "model", target / "fingerprints.jsonl", base, info["accuracy"],
                                  cfg.n, time.monotonic() - t0, True)
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        say(f"generating {cfg.n} {cfg.response_strategy} fingerprints on {base.name}"
            + (f" ({cfg.responses_per_key} responses per key)" if cfg.responses_per_key > 1 else ""))
        fp_file = work / "fingerprints.src.jsonl"
        generate_fingerprint_file(base, fp_file, cfg.generate_config(), device="cpu")
        source, acc = base, 0.0
        for attempt in range(1, cfg.max_attempts + 1):
            out = work / f"embed{attempt}"
            say(f"embedding (attempt {attempt}, {cfg.epochs} epochs)")
            res = embed(source, fp_file, out, cfg.embed_config(attempt, progress))
            acc = check_model(res.model_dir, fp_file, device="cpu").accuracy
            say(f"fingerprint accuracy {acc:.0%}")
            source = res.model_dir
            if acc >= 1.0:
                break
        if acc < 1.0:
            raise ConfigError(f"only {acc:.0%} of the fingerprints hold after {cfg.max_attempts} embedding attempts; "
                              "raise PrepConfig.epochs or lr")
        shutil.copytree(source, work / "model")
        shutil.copyfile(fp_file, work / "fingerprints.jsonl")
        for p in work.iterdir():
            if p.name not in ("model", "fingerprints.jsonl"):
                shutil.rmtree(p) if p.is_dir() else p.unlink()
        (work / DONE).write_text(json.dumps({"config": asdict(cfg), "accuracy": acc, "base": str(base),
                                             "seconds": round(time.monotonic() - t0, 1)}, indent=2) + "\n")
        if target.exists():
            shutil.rmtree(target)
        os.rename(work, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return FingerprintedModel(target, target / "model", target / "fingerprints.jsonl", base, acc, cfg.n,
                              time.monotonic() - t0, False)
