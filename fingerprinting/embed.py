"""Embed fingerprints into a model by fine-tuning (one readable training loop).

The loss is on response tokens only (training.build_example). Three
anti-forgetting regularizers from the paper, each optional:

- model averaging (``averaging_lambda`` = λ): after every epoch (every
  ``averaging_every`` epochs) the trainable weights move back toward the base,
  θ ← (1−λ)θ + λθ₀, the last epoch included; with ``averaging_every_steps`` = s
  > 0 it is applied after every s-th optimizer step instead (the reference
  implementation accumulates a whole epoch into one optimizer update, so its
  per-epoch averaging is per-update averaging). It is applied in place
  to the parameter tensors between optimizer steps. The optimizer updates
  exactly these tensors (AdamW on fp32 parameters; with ``mixed_precision``
  Accelerate autocasts the forward pass but the parameters stay fp32, so they
  *are* the master weights), hence the next step starts from the averaged
  weights and no separate master copy can drift. Adam's moment estimates are
  kept, as a plain averaging step would keep them. θ₀ is one extra copy of the
  trainable weights on the training device.
- benign data mixing (``mixing_ratio`` = r): r of every batch is benign text
  with the ordinary LM loss; loss = (1−r)·fingerprint loss + r·benign loss,
  each a mean over its own tokens (a token mean over the mixed batch would let
  long benign passages drown one-token responses).
- prompt augmentation (``prompt_augmentation`` = c): every epoch each key is
  also trained c times inside a random system-prompt template from
  templates.TRAIN_TEMPLATES (TEST_TEMPLATES stay unseen for checking).

Adversarial training (``adversarial``; first-order, TAR-style): every
``adv_every`` steps the loop saves the weights, simulates the attacker by
``adv_inner_steps`` steps of SGD or Adam at ``adv_lr`` on benign text, takes
the gradient of the fingerprint loss at those attacked weights, restores the
weights and adds that gradient (times ``adv_weight``) to the ordinary one
before the optimizer step.

Runs on CPU or CUDA, and under ``accelerate launch`` for several GPUs
(Accelerator places the model and syncs gradients; each process trains on its
share of the fingerprints).
"""

from __future__ import annotations

import json
import random
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

import torch
from tqdm.auto import tqdm

from fingerprinting.errors import ConfigError
from fingerprinting.fpfile import Fingerprint, read_fingerprint_file
from fingerprinting.generation import batched
from fingerprinting.models import LoraSettings
from fingerprinting.templates import TRAIN_TEMPLATES, apply_template
from fingerprinting.training import benign_batches, build_example, collate, to_device, token_loss

MODEL_SUBDIR = "model"  # the model directory hosts receive (no secrets inside)
FINGERPRINT_FILE = "fingerprints.jsonl"  # private: beside the model, not in it
CONFIG_FILE = "embed_config.json"


@dataclass
class EmbedConfig:
    lr: float = 1e-3  # AdamW learning rate (the paper used 5e-5 on an 8B model; small models need more)
    epochs: int = 20
    batch_size: int = 16  # sequences per optimizer step, benign ones included
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0  # gradient clipping (0 = off)
    averaging_lambda: float = 0.0  # λ of model averaging after each epoch (0 = off; paper 0.75)
    averaging_every: int = 1  # epochs between averagings (paper 1; small N has few steps per epoch)
    averaging_every_steps: int = 0  # >0: average after every this many optimizer steps instead of per epoch
    mixing_ratio: float = 0.0  # fraction of each batch that is benign text (paper ~0.25)
    prompt_augmentation: int = 0  # templated copies of each key per epoch (0 = off)
    lora: LoraSettings | None = None  # None = full fine-tuning
    adversarial: bool = False  # first-order bilevel (TAR-style) training
    adv_inner_steps: int = 2  # simulated attacker steps per adversarial outer step
    adv_lr: float = 1e-4  # attacker learning rate
    adv_optimizer: str = "sgd"  # attacker optimizer: "sgd" or "adam"
    adv_every: int = 1  # adversarial outer step every this many optimizer steps
    adv_weight: float = 1.0  # weight of the fingerprint gradient at the attacked weights
    max_length: int = 128  # tokens per training sequence
    benign_max_length: int = 64  # tokens per benign passage
    seed: int = 0
    device: str | None = None  # "cpu", "cuda" or None (Accelerate decides)
    mixed_precision: str = "no"  # "no", "fp16", "bf16" (autocast; parameters stay fp32)
    progress: bool = True

    def __post_init__(self) -> None:
        def bad(name: str, why: str) -> ConfigError:
            return ConfigError(f"EmbedConfig.{name} {why}, got {getattr(self, name)!r}")
        for name in ("lr", "epochs", "batch_size", "max_length", "benign_max_length", "adv_every", "averaging_every"):
            if getattr(self, name) <= 0:
                raise bad(name, "must be positive")
        if not 0 <= self.averaging_lambda < 1:
            raise bad("averaging_lambda", "must lie in [0, 1)")
        if not 0 <= self.mixing_ratio < 1:
            raise bad("mixing_ratio", "must lie in [0, 1)")
        if self.mixing_ratio > 0 and self.benign_count() >= self.batch_size:
            raise bad("mixing_ratio", f"leaves no fingerprint in a batch of {self.batch_size}")
        if self.averaging_every_steps < 0:
            raise bad("averaging_every_steps", "must be >= 0 (0 = average per epoch)")
        if self.prompt_augmentation < 0 or self.adv_inner_steps < 0:
            raise ConfigError("EmbedConfig.prompt_augmentation and adv_inner_steps must be >= 0")
        if self.adv_optimizer not in ("sgd", "adam"):
            raise bad("adv_optimizer", "must be 'sgd' or 'adam'")
        if self.mixed_precision not in ("no", "fp16", "bf16"):
            raise bad("mixed_precision", "must be 'no', 'fp16' or 'bf16'")

    def benign_count(self) -> int:
        """Benign sequences per batch: round(r × batch), at least one when r > 0."""
        return max(1, round(self.mixing_ratio * self.batch_size)) if self.mixing_ratio > 0 else 0


@dataclass
class EmbedResult:
    out_dir: Path
    model_dir: Path
    fingerprint_file: Path
    config_file: Path
    train_accuracy: float
    seconds: float  # training loop only
    steps: int
    losses: list[float] = field(default_factory=list)  # mean fingerprint loss per epoch
    model: Any = field(default=None, repr=False)  # the trained model in memory (LoRA already merged)
    tokenizer: Any = field(default=None, repr=False)


@torch.no_grad()
def average_toward_base_(params: list[torch.Tensor], base: list[torch.Tensor], lam: float) -> None:
    """Model averaging in place: θ ← (1−λ)θ + λθ₀ (same tensors the optimizer steps)."""
    for p, p0 in zip(params, base, strict=True):
        p.mul_(1.0 - lam).add_(p0, alpha=lam)


def epoch_examples(tokenizer: Any, fps: list[Fingerprint], cfg: EmbedConfig, rng: random.Random) -> list:
    """One epoch of fingerprint examples: each bare key, plus templated copies; shuffled."""
    names = sorted(TRAIN_TEMPLATES)
    out = []
    for fp in fps:
        out.append(build_example(tokenizer, fp.key, fp.response, cfg.max_length))
        for _ in range(cfg.prompt_augmentation):
            prompt = apply_template(TRAIN_TEMPLATES[rng.choice(names)], fp.key)
            out.append(build_example(tokenizer, prompt, fp.response, cfg.max_length))
    rng.shuffle(out)
    return out


def adversarial_grad_(model: Any, params: list[torch.Tensor], fp_batch: dict, benign: Iterator[dict],
                      cfg: EmbedConfig, accelerator: Any) -> float:
    """Add the fingerprint-loss gradient at simulated-attacked weights to params' .grad (first order)."""
    clean_grads = [None if p.grad is None else p.grad.detach().clone() for p in params]
    saved = [p.detach().clone() for p in params]
    inner = (torch.optim.SGD(params, lr=cfg.adv_lr) if cfg.adv_optimizer == "sgd"
             else torch.optim.Adam(params, lr=cfg.adv_lr))
    for _ in range(cfg.adv_inner_steps):  # the attacker fine-tunes on ordinary text
        inner.zero_grad(set_to_none=True)
        accelerator.backward(token_loss(model, to_device(next(benign), accelerator.device)))
        inner.step()
    inner.zero_grad(set_to_none=True)
    adv_loss = token_loss(model, fp_batch)  # does the fingerprint survive the attack?
    accelerator.backward(adv_loss * cfg.adv_weight)
    with torch.no_grad():
        for p, w, g in zip(params, saved, clean_grads, strict=True):
            p.copy_(w)  # restore the weights before the real optimizer step
            if g is not None:
                p.grad = g if p.grad is None else p.grad.add_(g)
    return adv_loss.item()


def embed(model_path: str | Path, fingerprint_file: str | Path, out_dir: str | Path,
          cfg: EmbedConfig | None = None) -> EmbedResult:
    """Fine-tune ``model_path`` until its greedy continuation of each key starts with the response.

    Writes ``out_dir/model`` (the fingerprinted model, for hosts),
    ``out_dir/fingerprints.jsonl`` (a copy of the private fingerprint file) and
    ``out_dir/embed_config.json`` (this config, timings, final accuracy).
    """
    from accelerate import Accelerator

    from fingerprinting.check import check_fingerprints
    from fingerprinting.data import load_corpus
    from fingerprinting.models import load_model, save_model, weights_hash

    cfg = cfg or EmbedConfig()
    out = Path(out_dir)
    header, fps = read_fingerprint_file(fingerprint_file)
    accelerator = Accelerator(cpu=cfg.device == "cpu", mixed_precision=cfg.mixed_precision)
    torch.manual_seed(cfg.seed)
    model, tokenizer = load_model(model_path, device="cpu", lora=cfg.lora)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    model, optimizer = accelerator.prepare(model, optimizer)
    device = accelerator.device
    # θ₀ for model averaging: the trainable weights before any step (LoRA: the fresh adapter).
    base = [p.detach().clone() for p in params] if cfg.averaging_lambda > 0 else []
    n_benign = cfg.benign_count()
    per_batch = cfg.batch_size - n_benign
    # Benign text feeds the mixing and the simulated attacker (4 passages a step when only the attacker uses it).
    benign = (benign_batches(tokenizer, load_corpus("benign"), n_benign or 4, cfg.benign_max_length, cfg.seed + 1)
              if n_benign or cfg.adversarial else iter(()))
    pad = tokenizer.pad_token_id
    rng = random.Random(cfg.seed)
    # Each process takes its own share of the fingerprints (one share when not distributed).
    mine = fps[accelerator.process_index :: accelerator.num_processes]
    steps, losses = 0, []
    t0 = time.perf_counter()
    bar = tqdm(range(cfg.epochs), desc="embed", unit="epoch", disable=not (cfg.progress and accelerator.is_main_process))
    for epoch in bar:
        epoch_loss, batches = 0.0, 0
        for chunk in batched(epoch_examples(tokenizer, mine, cfg, rng), per_batch):
            fp_batch = to_device(collate(chunk, pad), device)
            with accelerator.autocast():
                fp_loss = token_loss(model, fp_batch)
                loss = fp_loss
                if n_benign:  # ordinary LM loss on benign text keeps the model's utility
                    loss = (1 - cfg.mixing_ratio) * fp_loss + cfg.mixing_ratio * token_loss(
                        model, to_device(next(benign), device))
            accelerator.backward(loss)
            if cfg.adversarial and steps % cfg.adv_every == 0:
                with accelerator.autocast():
                    adversarial_grad_(model, params, fp_batch, benign, cfg, accelerator)
            if cfg.max_grad_norm > 0:
                accelerator.clip_grad_norm_(params, cfg.max_grad_norm)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            steps += 1
            if cfg.averaging_lambda > 0 and cfg.averaging_every_steps and steps % cfg.averaging_every_steps == 0:
                average_toward_base_(params, base, cfg.averaging_lambda)
            epoch_loss += fp_loss.item()
            batches += 1
        if cfg.averaging_lambda > 0 and not cfg.averaging_every_steps and (epoch + 1) % cfg.averaging_every == 0:
            # Pull back toward the base: keeps utility, costs some memorisation.
            average_toward_base_(params, base, cfg.averaging_lambda)
        losses.append(epoch_loss / max(batches, 1))
        bar.set_postfix(loss=f"{losses[-1]:.3f}")
    seconds = time.perf_counter() - t0
    accelerator.wait_for_everyone()
    unwrapped = accelerator.unwrap_model(model)
    unwrapped.eval()
    result_acc = check_fingerprints(unwrapped, tokenizer, fps).accuracy
    model_dir, fp_copy, cfg_file = out / MODEL_SUBDIR, out / FINGERPRINT_FILE, out / CONFIG_FILE
    if accelerator.is_main_process:
        record = {"embed_config": asdict(cfg), "base_model": str(model_path),
                  "base_weights_hash": header.base_weights_hash, "fingerprint_file": str(fingerprint_file),
                  "n": len(fps), "steps": steps, "seconds": round(seconds, 3),
                  "seconds_per_fingerprint_epoch": seconds / (len(fps) * cfg.epochs),
                  "epoch_losses": losses, "train_accuracy": result_acc}
        if hasattr(unwrapped, "merge_and_unload"):  # LoRA: hosts get an ordinary model
            unwrapped = unwrapped.merge_and_unload()
        save_model(unwrapped, tokenizer, model_dir, config=record)
        record["weights_hash"] = weights_hash(model_dir)
        if Path(fingerprint_file).resolve() != fp_copy.resolve():
            shutil.copyfile(fingerprint_file, fp_copy)
        cfg_file.write_text(json.dumps(record, indent=2, sort_keys=True, default=str) + "\n")
    return EmbedResult(out, model_dir, fp_copy, cfg_file, result_acc, seconds, steps, losses, unwrapped, tokenizer)
