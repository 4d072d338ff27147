"""Embed fingerprints into a model by fine-tuning (one readable training loop).

The loss is on response tokens only (training.build_example). Four
anti-forgetting regularizers, each optional:

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
  trainable weights on the training device (shared with the KL reference below
  when both are on).
- benign data mixing (``mixing_ratio`` = r): r of every batch is benign text
  with the ordinary LM loss; loss = (1−r)·fingerprint loss + r·benign loss,
  each a mean over its own tokens (a token mean over the mixed batch would let
  long benign passages drown one-token responses).
- self-distillation (``kl_weight`` = β): + β·KL(base ‖ model) of the next-token
  distributions on the benign rows, a mean over their tokens, where "base" is
  the frozen model before embedding. The benign cross-entropy only asks for
  the observed next token; the KL keeps the whole distribution where the base
  had it, at every position of the passage (``benign_max_length`` tokens; the
  damage that perplexity sees sits beyond the few positions a key and its
  response occupy, so short benign passages protect little). With
  ``mixing_ratio`` = 0 the batch still carries round(¼·batch_size) benign rows,
  used by the KL term only. Cost: full fine-tuning keeps one frozen copy of the
  weights on the training device (no gradients, no optimizer state: about +25 %
  over the weights, gradients and two Adam moments that training holds anyway;
  cast to the autocast dtype under ``mixed_precision`` when model averaging
  does not share it) and one extra forward pass over the benign rows per step;
  with LoRA the reference is the same model with its adapter switched off, so
  it costs no memory at all.
- prompt augmentation (``prompt_augmentation`` = c): every epoch each key is
  also trained c times inside a random system-prompt template from
  templates.TRAIN_TEMPLATES (TEST_TEMPLATES stay unseen for checking).

Adversarial training (``adversarial``; first-order, TAR-style): every
``adv_every`` steps the loop saves the weights, simulates the attacker by
``adv_inner_steps`` steps of SGD or Adam at ``adv_lr`` on benign text, takes
the gradient of the fingerprint loss at those attacked weights, restores the
weights and adds that gradient (times ``adv_weight``) to the ordinary one
before the optimizer step.

Runs on CPU or CUDA, and under ``accelerate launch`` for several processes
(GPUs, or CPU processes with gloo): Accelerator places the model and averages
gradients. Every process builds the same global batches (``batch_size`` rows,
same seed) and trains on its share of the rows of each; each loss is a sum
over the process's tokens divided by the token count of the whole global batch
(times the number of processes, which the gradient averaging divides out), so
the optimizer sees the gradient of one process running the whole batch and the
result equals a one-process run up to floating-point summation order (tested
with two CPU processes). The simulated attacker of adversarial training trains
each process on its own share of benign rows (not tested distributed).
"""

from __future__ import annotations

import copy
import json
import os
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
from fingerprinting.training import (Example, benign_example_batches, build_example, collate, kl_sum, logits_of,
                                     nll_sum, target_count, to_device)

MODEL_SUBDIR = "model"  # the model directory hosts receive (no secrets inside)
FINGERPRINT_FILE = "fingerprints.jsonl"  # private: beside the model, not in it
CONFIG_FILE = "embed_config.json"
KL_BENIGN_SHARE = 0.25  # benign rows per batch for the KL term when there is no benign mixing
# β = 1 (the outside study's weight on `demo`). Measured on `tiny`, 64 perinucleus fingerprints, benign mixing
# 0.5 + prompt augmentation: β = 0 / 1 / 3 gave mean KL to the base on held-out text 0.93 / 0.14 / 0.05, all
# fingerprints held in every case, held-out-template accuracy 0.99 / 0.96 / 0.90 (β = 3 starts to cost
# generalisation to unseen system prompts); 16 fingerprints with nothing else: KL 4.5 → 0.21 at β = 1.
KL_WEIGHT_DEFAULT = 1.0


@dataclass
class EmbedConfig:
    lr: float = 1e-3  # AdamW learning rate (the paper used 5e-5 on an 8B model; small models need more)
    epochs: int = 20
    batch_size: int = 16  # sequences per optimizer step, benign ones included (all processes together)
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0  # gradient clipping (0 = off)
    averaging_lambda: float = 0.0  # λ of model averaging after each epoch (0 = off; paper 0.75)
    averaging_every: int = 1  # epochs between averagings (paper 1; small N has few steps per epoch)
    averaging_every_steps: int = 0  # >0: average after every this many optimizer steps instead of per epoch
    mixing_ratio: float = 0.0  # fraction of each batch that is benign text (paper ~0.25)
    kl_weight: float = KL_WEIGHT_DEFAULT  # β of β·KL(base ‖ model) on the benign rows (0 = off)
    prompt_augmentation: int = 0  # templated copies of each key per epoch (0 = off)
    lora: LoraSettings | None = None  # None = full fine-tuning
    adversarial: bool = False  # first-order bilevel (TAR-style) training
    adv_inner_steps: int = 2  # simulated attacker steps per adversarial outer step
    adv_lr: float = 1e-4  # attacker learning rate
    adv_optimizer: str = "sgd"  # attacker optimizer: "sgd" or "adam"
    adv_every: int = 1  # adversarial outer step every this many optimizer steps
    adv_weight: float = 1.0  # weight of the fingerprint gradient at the attacked weights
    max_length: int = 128  # tokens per training sequence
    benign_max_length: int = 128  # tokens per benign passage (mixing and KL)
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
        if self.kl_weight < 0:
            raise bad("kl_weight", "must be >= 0 (0 = off)")
        if self.benign_count() >= self.batch_size:
            raise bad("mixing_ratio" if self.mixing_ratio > 0 else "kl_weight",
                      f"leaves no fingerprint in a batch of {self.batch_size} ({self.benign_count()} benign rows)")
        if self.averaging_every_steps < 0:
            raise bad("averaging_every_steps", "must be >= 0 (0 = average per epoch)")
        if self.prompt_augmentation < 0 or self.adv_inner_steps < 0:
            raise ConfigError("EmbedConfig.prompt_augmentation and adv_inner_steps must be >= 0")
        if self.adv_optimizer not in ("sgd", "adam"):
            raise bad("adv_optimizer", "must be 'sgd' or 'adam'")
        if self.mixed_precision not in ("no", "fp16", "bf16"):
            raise bad("mixed_precision", "must be 'no', 'fp16' or 'bf16'")

    def benign_count(self) -> int:
        """Benign rows per batch: round(r × batch), at least one when r > 0; round(¼ × batch) for KL alone."""
        if self.mixing_ratio > 0:
            return max(1, round(self.mixing_ratio * self.batch_size))
        return max(1, round(KL_BENIGN_SHARE * self.batch_size)) if self.kl_weight > 0 else 0


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
    kl_losses: list[float] = field(default_factory=list)  # mean KL(base ‖ model) on benign rows per epoch
    total_losses: list[float] = field(default_factory=list)  # mean regularized loss per epoch
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


@dataclass
class Share:
    """This process's rows of one global batch and the global count that normalises their loss.

    loss = sum over my tokens × scale / count: with ``scale`` = number of processes (the gradient
    averaging divides it out), the optimizer sees the token mean of the whole global batch. A
    process whose share is empty runs the first row with scale 0 (every process must take part in
    each backward pass).
    """

    batch: dict[str, torch.Tensor]
    count: int  # predicted tokens in the whole global batch
    scale: float

    def mean(self, total: torch.Tensor) -> torch.Tensor:
        return total * self.scale / max(self.count, 1)


def my_share(examples: list[Example], pad: int, device: Any, rank: int, world: int) -> Share:
    mine = examples[rank::world]
    scale = float(world) if mine else 0.0
    return Share(to_device(collate(mine or examples[:1], pad), device), target_count(examples), scale)


def adversarial_grad_(model: Any, params: list[torch.Tensor], fp: Share, benign: Iterator[list[Example]],
                      cfg: EmbedConfig, accelerator: Any, pad: int) -> float:
    """Add the fingerprint-loss gradient at simulated-attacked weights to params' .grad (first order)."""
    clean_grads = [None if p.grad is None else p.grad.detach().clone() for p in params]
    saved = [p.detach().clone() for p in params]
    inner = (torch.optim.SGD(params, lr=cfg.adv_lr) if cfg.adv_optimizer == "sgd"
             else torch.optim.Adam(params, lr=cfg.adv_lr))
    rank, world = accelerator.process_index, accelerator.num_processes
    for _ in range(cfg.adv_inner_steps):  # the attacker fine-tunes on ordinary text (each process its rows)
        inner.zero_grad(set_to_none=True)
        share = my_share(next(benign), pad, accelerator.device, rank, world)
        accelerator.backward(share.mean(nll_sum(logits_of(model, share.batch), share.batch["labels"])))
        inner.step()
    inner.zero_grad(set_to_none=True)
    adv_loss = fp.mean(nll_sum(logits_of(model, fp.batch), fp.batch["labels"]))  # does the fingerprint survive?
    accelerator.backward(adv_loss * cfg.adv_weight)
    with torch.no_grad():
        for p, w, g in zip(params, saved, clean_grads, strict=True):
            p.copy_(w)  # restore the weights before the real optimizer step
            if g is not None:
                p.grad = g if p.grad is None else p.grad.add_(g)
    return adv_loss.item()


def frozen_reference(model: Any, cfg: EmbedConfig, device: Any) -> Any:
    """The frozen base for the KL term: a copy of a fully fine-tuned model (None with LoRA or β = 0).

    With LoRA the reference is the same model with its adapter disabled (no copy). The copy lives on
    the training device without gradients; under mixed precision, and when model averaging does not
    share its weights as θ₀, it is cast to the autocast dtype (half its memory).
    """
    if cfg.kl_weight <= 0 or cfg.lora is not None:
        return None
    ref = copy.deepcopy(model).requires_grad_(False).eval()
    if cfg.mixed_precision != "no" and cfg.averaging_lambda == 0:
        ref = ref.to(torch.bfloat16 if cfg.mixed_precision == "bf16" else torch.float16)
    return ref.to(device)


@torch.no_grad()
def reference_logits(ref: Any, model: Any, accelerator: Any, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    if ref is not None:
        return logits_of(ref, batch)
    peft_model = accelerator.unwrap_model(model)  # LoRA: the base is the model with its adapter off
    with peft_model.disable_adapter():
        return logits_of(peft_model, batch)


def make_accelerator(cfg: EmbedConfig) -> Any:
    """The Accelerator for one embedding run.

    Accelerate keeps one state per process: after a CUDA run it refuses ``cpu=True``, after a CPU
    run it silently keeps the CPU for a later CUDA run, and it refuses another ``mixed_precision``.
    A single process (no distributed launch, whose state the launcher owns) therefore drops a state
    that conflicts with this run's device or precision first. (Accelerator objects made earlier in
    the process share that state; they are not used after their own run.)
    """
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState, GradientState, PartialState

    cpu = cfg.device == "cpu"
    if PartialState._shared_state and int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        want = "cpu" if cpu or not torch.cuda.is_available() else "cuda"
        have = PartialState._shared_state.get("device")
        precision = AcceleratorState._shared_state.get("_mixed_precision", cfg.mixed_precision)
        if (have is not None and have.type != want) or precision != cfg.mixed_precision:
            AcceleratorState._reset_state(reset_partial_state=True)
            GradientState._reset_state()
    return Accelerator(cpu=cpu, mixed_precision=cfg.mixed_precision)


def embed(model_path: str | Path, fingerprint_file: str | Path, out_dir: str | Path,
          cfg: EmbedConfig | None = None) -> EmbedResult:
    """Fine-tune ``model_path`` until its greedy continuation of each key starts with the response.

    Writes ``out_dir/model`` (the fingerprinted model, for hosts),
    ``out_dir/fingerprints.jsonl`` (a copy of the private fingerprint file) and
    ``out_dir/embed_config.json`` (this config, timings, final accuracy).
    """
    from fingerprinting.check import check_fingerprints
    from fingerprinting.data import load_corpus
    from fingerprinting.models import load_model, save_model, weights_hash

    cfg = cfg or EmbedConfig()
    out = Path(out_dir)
    header, fps = read_fingerprint_file(fingerprint_file)
    accelerator = make_accelerator(cfg)
    device, rank, world = accelerator.device, accelerator.process_index, accelerator.num_processes
    torch.manual_seed(cfg.seed)
    model, tokenizer = load_model(model_path, device="cpu", lora=cfg.lora)
    model.train()
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    params = [p for _, p in named]
    ref = frozen_reference(model, cfg, device)
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    model, optimizer = accelerator.prepare(model, optimizer)
    # θ₀ for model averaging: the trainable weights before any step (LoRA: the fresh adapter);
    # the KL reference already holds them when there is one.
    if cfg.averaging_lambda > 0 and ref is not None:
        ref_params = dict(ref.named_parameters())
        base = [ref_params[n] for n, _ in named]
    else:
        base = [p.detach().clone() for p in params] if cfg.averaging_lambda > 0 else []
    n_benign = cfg.benign_count()
    per_batch = cfg.batch_size - n_benign
    # Benign text feeds the mixing, the KL term and the simulated attacker (4 passages when only it uses them).
    benign = (benign_example_batches(tokenizer, load_corpus("benign"), n_benign or 4, cfg.benign_max_length,
                                     cfg.seed + 1)
              if n_benign or cfg.adversarial else iter(()))
    pad = tokenizer.pad_token_id
    rng = random.Random(cfg.seed)  # the same on every process: all build the same global batches
    steps, losses, kl_losses, totals = 0, [], [], []
    t0 = time.perf_counter()
    bar = tqdm(range(cfg.epochs), desc="embed", unit="epoch",
               disable=not (cfg.progress and accelerator.is_main_process))
    for epoch in bar:
        sums, batches = [0.0, 0.0, 0.0], 0  # fingerprint loss, KL, total
        for chunk in batched(epoch_examples(tokenizer, fps, cfg, rng), per_batch):
            fp = my_share(chunk, pad, device, rank, world)
            kl = torch.zeros((), device=device)
            with accelerator.autocast():
                fp_loss = fp.mean(nll_sum(logits_of(model, fp.batch), fp.batch["labels"]))
                loss = (1 - cfg.mixing_ratio) * fp_loss
                if n_benign:  # ordinary text keeps the model's utility
                    ben = my_share(next(benign), pad, device, rank, world)
                    logits = logits_of(model, ben.batch)
                    if cfg.mixing_ratio > 0:  # its next tokens (cross-entropy) ...
                        loss = loss + cfg.mixing_ratio * ben.mean(nll_sum(logits, ben.batch["labels"]))
                    if cfg.kl_weight > 0:  # ... and the base's whole next-token distribution (self-distillation)
                        ref_logits = reference_logits(ref, model, accelerator, ben.batch)
                        kl = ben.mean(kl_sum(logits, ref_logits, ben.batch["labels"]))
                        loss = loss + cfg.kl_weight * kl
            accelerator.backward(loss)
            if cfg.adversarial and steps % cfg.adv_every == 0:
                with accelerator.autocast():
                    adversarial_grad_(model, params, fp, benign, cfg, accelerator, pad)
            if cfg.max_grad_norm > 0:
                accelerator.clip_grad_norm_(params, cfg.max_grad_norm)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            steps += 1
            if cfg.averaging_lambda > 0 and cfg.averaging_every_steps and steps % cfg.averaging_every_steps == 0:
                average_toward_base_(params, base, cfg.averaging_lambda)
            for i, v in enumerate((fp_loss, kl, loss)):
                sums[i] += v.item()
            batches += 1
        if cfg.averaging_lambda > 0 and not cfg.averaging_every_steps and (epoch + 1) % cfg.averaging_every == 0:
            # Pull back toward the base: keeps utility, costs some memorisation.
            average_toward_base_(params, base, cfg.averaging_lambda)
        for series, total in zip((losses, kl_losses, totals), sums):
            series.append(total / max(batches, 1))  # (this process's share; the whole batch with one process)
        bar.set_postfix(loss=f"{losses[-1]:.3f}", kl=f"{kl_losses[-1]:.4f}")
    seconds = time.perf_counter() - t0
    accelerator.wait_for_everyone()
    del ref
    unwrapped = accelerator.unwrap_model(model)
    unwrapped.eval()
    result_acc = check_fingerprints(unwrapped, tokenizer, fps).accuracy
    if hasattr(unwrapped, "merge_and_unload"):  # LoRA: hosts (and callers) get an ordinary model
        unwrapped = unwrapped.merge_and_unload()
        unwrapped.requires_grad_(True)  # peft froze the base weights; a loaded model trains every weight
    model_dir, fp_copy, cfg_file = out / MODEL_SUBDIR, out / FINGERPRINT_FILE, out / CONFIG_FILE
    if accelerator.is_main_process:
        record = {"embed_config": asdict(cfg), "base_model": str(model_path),
                  "base_weights_hash": header.base_weights_hash, "fingerprint_file": str(fingerprint_file),
                  "n": len(fps), "steps": steps, "processes": world, "seconds": round(seconds, 3),
                  "seconds_per_fingerprint_epoch": seconds / (len(fps) * cfg.epochs),
                  "kl_reference": ("none" if cfg.kl_weight == 0 else "LoRA adapter disabled (no copy)"
                                   if cfg.lora is not None else "frozen copy of the weights on the training device"),
                  "epoch_losses": losses, "epoch_kl": kl_losses, "epoch_total_losses": totals,
                  "train_accuracy": result_acc}
        save_model(unwrapped, tokenizer, model_dir, config=record)
        record["weights_hash"] = weights_hash(model_dir)
        if Path(fingerprint_file).resolve() != fp_copy.resolve():
            shutil.copyfile(fingerprint_file, fp_copy)
        cfg_file.write_text(json.dumps(record, indent=2, sort_keys=True, default=str) + "\n")
    accelerator.wait_for_everyone()
    return EmbedResult(out, model_dir, fp_copy, cfg_file, result_acc, seconds, steps, losses, kl_losses, totals,
                       unwrapped, tokenizer)
