"""Persistence attack: fine-tune a fingerprinted model on unrelated text, re-check.

The attacker's text is the corpus split "attack", disjoint from everything
the base model, the embedder's benign mixing and the adversarial inner loop
saw. Full fine-tuning with AdamW and the ordinary LM loss, as a host that
adapts a downloaded model would do (the paper: Alpaca, lr 1e-5, 2 epochs).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from fingerprinting.check import CheckResult, check_fingerprints
from fingerprinting.errors import ConfigError
from fingerprinting.fpfile import read_fingerprint_file
from fingerprinting.training import benign_batches, to_device, token_loss


@dataclass
class AttackConfig:
    lr: float = 1e-5  # the paper's attacker learning rate
    epochs: float = 2.0  # passes over the attack split (ignored when steps is set)
    steps: int | None = None  # optimizer steps; overrides epochs
    batch_size: int = 8
    max_length: int = 128  # tokens per passage
    max_texts: int | None = None  # use at most this many attack passages
    templates: str = "bare"  # templates to check before/after ("bare", "train", "test", "all")
    seed: int = 0
    device: str | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        if self.lr <= 0 or self.batch_size <= 0 or self.max_length < 2:
            raise ConfigError("AttackConfig: lr and batch_size must be positive and max_length >= 2")
        if self.steps is not None and self.steps <= 0:
            raise ConfigError(f"AttackConfig.steps must be positive, got {self.steps}")
        if self.steps is None and self.epochs <= 0:
            raise ConfigError(f"AttackConfig.epochs must be positive, got {self.epochs}")


@dataclass
class AttackResult:
    before: CheckResult
    after: CheckResult
    steps: int
    seconds: float
    final_loss: float
    config: AttackConfig

    @property
    def accuracy_after(self) -> float:
        return self.after.accuracy

    def to_dict(self) -> dict[str, Any]:
        return {"accuracy_before": self.before.accuracy, "accuracy_after": self.after.accuracy,
                "before": self.before.to_dict(), "after": self.after.to_dict(), "steps": self.steps,
                "seconds": round(self.seconds, 3), "final_loss": self.final_loss, "config": asdict(self.config)}


def finetune_lm(model: Any, tokenizer: Any, texts: list[str], cfg: AttackConfig) -> tuple[int, float]:
    """Plain LM fine-tuning of every parameter (the attacker). Returns (steps, last loss)."""
    steps = cfg.steps or max(1, math.ceil(cfg.epochs * len(texts) / cfg.batch_size))
    device = next(model.parameters()).device
    model.requires_grad_(True)  # every weight, whatever an earlier user froze (a merged LoRA model comes frozen)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr)
    batches = benign_batches(tokenizer, texts, cfg.batch_size, cfg.max_length, cfg.seed)
    model.train()
    loss = torch.tensor(float("nan"))
    for _ in tqdm(range(steps), desc="attack", unit="step", disable=not cfg.progress):
        loss = token_loss(model, to_device(next(batches), device))
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    model.eval()
    return steps, loss.item()


def persistence_attack(model_path: str | Path, fingerprint_file: str | Path, cfg: AttackConfig | None = None,
                       out_dir: str | Path | None = None) -> AttackResult:
    """Check, fine-tune on the "attack" split, check again; optionally save the attacked model."""
    from fingerprinting.data import load_corpus
    from fingerprinting.models import load_model, save_model

    cfg = cfg or AttackConfig()
    _, fps = read_fingerprint_file(fingerprint_file)
    torch.manual_seed(cfg.seed)
    model, tokenizer = load_model(model_path, device=cfg.device)
    before = check_fingerprints(model, tokenizer, fps, cfg.templates)
    texts = load_corpus("attack")
    if cfg.max_texts is not None:
        texts = texts[: cfg.max_texts]
    t0 = time.perf_counter()
    steps, last = finetune_lm(model, tokenizer, texts, cfg)
    seconds = time.perf_counter() - t0
    after = check_fingerprints(model, tokenizer, fps, cfg.templates)
    result = AttackResult(before, after, steps, seconds, last, cfg)
    if out_dir is not None:
        out = Path(out_dir)
        save_model(model, tokenizer, out / "model", config={"attack": asdict(cfg), "source": str(model_path)})
        (out / "attack.json").write_text(json.dumps(result.to_dict(), indent=2, sort_keys=True) + "\n")
    return result
