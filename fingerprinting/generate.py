"""Generate N fingerprints with a key strategy and a response strategy.

Keys must be distinct (two equal keys with different responses would
contradict each other) and responses non-empty; the generator asks the key
strategy for more until it has N usable keys. A response strategy with
several responses per key (perinucleus ``responses_per_key``) writes each key
as that many consecutive records, one per response: the key's accepted
responses, trained together (check.py: a key fires on any of them); N counts
keys, the file then holds N × m records. Keys and responses are
reproducible from the seed; salts are fresh secrets every time.

The default keys are English keys sampled at temperature 1 with top-p 0.95 and
matched to the likelihood of real prompts (strategies/english_keys.py): the
base model's own NLL tells them from real prompts with a two-sided AUROC of
about 0.52, where the paper's temperature-0.5 keys score 0.95 (README,
"Stealth and evasion").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fingerprinting.errors import ConfigError, FingerprintError
from fingerprinting.fpfile import (Fingerprint, FingerprintHeader, make_fingerprints,
                                   write_fingerprint_file)
from fingerprinting.strategies import (GenerationContext, make_key_strategy, make_response_strategy,
                                       strategy_params)

# Bumped whenever a strategy draws different fingerprints from the same GenerateConfig, so that caches keyed by
# the config (oml_chain/demo/model_prep.py) never reuse fingerprints of the old code. 2: perinucleus draws
# uniformly among exactly the first k acceptable tokens; english keys sample at temperature 1, top-p 0.95, filtered
# to match real text; 3: perinucleus skips window tokens the base's own greedy continuation starts with (a base false
# positive through another token, " cat" in " catalog").
STRATEGY_VERSION = 3


@dataclass
class GenerateConfig:
    n: int = 64  # number of fingerprints (keys; the file holds n × responses_per_key records)
    key_strategy: str = "english"
    key_params: dict[str, Any] = field(default_factory=dict)
    response_strategy: str = "perinucleus"
    response_params: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    batch_size: int = 32  # prompts per forward pass / generate call
    max_rounds: int = 8  # rounds of topping up duplicate keys / empty responses before giving up

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ConfigError(f"n must be >= 1, got {self.n}")
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {self.batch_size}")


def generate_fingerprints(model: Any, tokenizer: Any, cfg: GenerateConfig, base_model: str | None = None,
                          base_weights_hash: str | None = None) -> tuple[FingerprintHeader, list[Fingerprint]]:
    """Generate cfg.n fingerprints for ``model`` (returns the file header and the records)."""
    key_strat = make_key_strategy(cfg.key_strategy, **cfg.key_params)
    resp_strat = make_response_strategy(cfg.response_strategy, **cfg.response_params)
    ctx = GenerationContext(model=model, tokenizer=tokenizer, seed=cfg.seed, batch_size=cfg.batch_size)
    keys: list[str] = []
    responses: list[list[str]] = []
    seen: set[str] = set()
    for _ in range(cfg.max_rounds):
        missing = cfg.n - len(keys)
        if missing == 0:
            break
        batch = [k for k in key_strat.generate(ctx, missing) if k.strip()]
        fresh = []
        for k in batch:
            if k not in seen:
                seen.add(k)
                fresh.append(k)
        if not fresh:
            continue
        for k, rs in zip(fresh, response_sets(resp_strat, ctx, fresh), strict=True):
            if all(r.strip() for r in rs) and len(set(rs)) == len(rs):
                keys.append(k)
                responses.append(rs)
    if len(keys) < cfg.n:
        raise FingerprintError(
            f"only {len(keys)} distinct usable fingerprints after {cfg.max_rounds} rounds (wanted {cfg.n}); "
            "use longer keys, a bigger word pool, or fewer fingerprints")
    flat_keys = [k for k, rs in zip(keys, responses) for _ in rs]
    flat_responses = [r for rs in responses for r in rs]
    header = FingerprintHeader(
        n=len(flat_keys), seed=cfg.seed,
        key_strategy={"name": cfg.key_strategy, "params": strategy_params(key_strat)},
        response_strategy={"name": cfg.response_strategy, "params": strategy_params(resp_strat)},
        base_model=base_model, base_weights_hash=base_weights_hash)
    return header, make_fingerprints(flat_keys, flat_responses, cfg.key_strategy, cfg.response_strategy)


def response_sets(strategy: Any, ctx: GenerationContext, keys: list[str]) -> list[list[str]]:
    """Each key's responses: the strategy's ``generate_sets`` where it has one, else one response per key."""
    if hasattr(strategy, "generate_sets"):
        return strategy.generate_sets(ctx, keys)
    return [[r] for r in strategy.generate(ctx, keys)]


def generate_fingerprint_file(base_model: str | Path, out: str | Path, cfg: GenerateConfig,
                              device: str | None = None) -> tuple[Path, list[Fingerprint]]:
    """Load ``base_model``, generate, and write the fingerprint file to ``out``."""
    from fingerprinting.models import load_model, weights_hash

    model, tokenizer = load_model(base_model, device=device)
    wh = weights_hash(base_model) if Path(base_model).is_dir() else None
    header, fps = generate_fingerprints(model, tokenizer, cfg, base_model=str(base_model), base_weights_hash=wh)
    return write_fingerprint_file(out, header, fps), fps
