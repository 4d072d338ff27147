"""Stealth: can a host tell fingerprint keys from ordinary prompts by their likelihood?

A host that serves an open-weights model also has its base model, so the
cheapest key filter it can run is the base model's own negative
log-likelihood (NLL) of each incoming prompt: random-token keys are far less
likely than real text, and English keys sampled at a low temperature are far
*more* likely. This module measures that filter.

Scores (per prompt, under the base model; every token of the prompt is
predicted, the first one from BOS):

- ``mean_nll``: total NLL / number of tokens (nats per token);
- ``nll_per_char``: total NLL / number of characters (a length normalisation
  that does not depend on how the tokenizer splits the prompt);
- ``length_residual``: total NLL minus the least-squares line
  ``a + b·tokens`` fitted on the real prompts (how much more or less likely
  the prompt is than real text of its length);
- ``nll_std`` and ``top1_rate``: the spread of the per-token NLL and the
  fraction of tokens that are the model's greedy choice. The default English
  keys are matched to real text on the first three scores' ingredients (mean
  NLL, characters per token); these two are not matched, so they check that
  the matching did not merely hide the keys from the scores it was built on.

The reference is real prompts of the same length distribution: passages of a
held-out corpus split cut to the token lengths of the keys (the i-th real
prompt gets the length of key ``i mod n_keys``). For each score the
separability is the AUROC of "key vs real prompt", computed exactly as the
Mann-Whitney statistic (ties count one half), and reported two-sided,
``max(a, 1 − a)``: a host may flag prompts that are too likely as well as
too unlikely. 0.5 means the score cannot tell keys from real prompts, 1.0
means it separates them perfectly. ``null_sd`` is the standard deviation of
the AUROC of two samples of these sizes drawn from one distribution, so an
AUROC within about 2·null_sd of 0.5 is indistinguishable from chance.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import torch

from fingerprinting.errors import ConfigError

DETECTORS = ("mean_nll", "nll_per_char", "length_residual", "nll_std", "top1_rate")


# --------------------------------------------------------------------------- the metric


def auroc(positives: Sequence[float], negatives: Sequence[float]) -> float:
    """P(score of a positive > score of a negative), ties counting one half (exact, O(n log n))."""
    if not positives or not negatives:
        raise ConfigError("auroc needs at least one positive and one negative score")
    scored = sorted([(float(s), 1) for s in positives] + [(float(s), 0) for s in negatives])
    rank_sum, i = 0.0, 0
    while i < len(scored):  # mid-ranks over runs of equal scores
        j = i
        while j < len(scored) and scored[j][0] == scored[i][0]:
            j += 1
        mid = (i + 1 + j) / 2  # ranks i+1 .. j
        rank_sum += mid * sum(label for _, label in scored[i:j])
        i = j
    n_pos, n_neg = len(positives), len(negatives)
    u = rank_sum - n_pos * (n_pos + 1) / 2
    return u / (n_pos * n_neg)


def two_sided(a: float) -> float:
    """max(a, 1 − a): separability whichever side the positives lie on."""
    return max(a, 1.0 - a)


def null_sd(n_pos: int, n_neg: int) -> float:
    """Standard deviation of the AUROC of two same-distribution samples (no ties)."""
    return math.sqrt((n_pos + n_neg + 1) / (12.0 * n_pos * n_neg))


# --------------------------------------------------------------------------- scoring prompts


@dataclass
class PromptScores:
    """Per-prompt likelihood features under one model."""

    nll: list[float]  # total NLL (nats) of the prompt's tokens
    tokens: list[int]  # predicted tokens
    chars: list[int]  # characters
    nll_sq: list[float] | None = None  # sum of squared per-token NLLs (for the spread)
    top1: list[int] | None = None  # tokens that are the model's greedy choice

    def mean_nll(self) -> list[float]:
        return [s / max(t, 1) for s, t in zip(self.nll, self.tokens)]

    def nll_per_char(self) -> list[float]:
        return [s / max(c, 1) for s, c in zip(self.nll, self.chars)]

    def nll_std(self) -> list[float]:
        return [math.sqrt(max(0.0, q / max(t, 1) - (s / max(t, 1)) ** 2))
                for s, q, t in zip(self.nll, self.nll_sq or [], self.tokens)]

    def top1_rate(self) -> list[float]:
        return [g / max(t, 1) for g, t in zip(self.top1 or [], self.tokens)]


def _with_bos(tokenizer: Any, text: str) -> list[int]:
    """The prompt's ids as a host tokenizes it, with a BOS in front when the tokenizer has one."""
    ids = tokenizer(text)["input_ids"]
    bos = tokenizer.bos_token_id
    if bos is not None and (not ids or ids[0] != bos):
        ids = [bos] + ids
    return ids


@torch.no_grad()
def score_prompts(model: Any, tokenizer: Any, texts: Sequence[str], batch_size: int = 32) -> PromptScores:
    """Total NLL, predicted-token count and length of every text under ``model`` (right-padded batches)."""
    if not texts:
        raise ConfigError("no prompts to score")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    rows = [_with_bos(tokenizer, t) for t in texts]
    nll, nll_sq = [0.0] * len(rows), [0.0] * len(rows)
    count, top1 = [0] * len(rows), [0] * len(rows)
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        width = max(len(rows[i]) for i in chunk)
        ids = torch.full((len(chunk), width), pad, dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        for r, i in enumerate(chunk):
            ids[r, : len(rows[i])] = torch.tensor(rows[i])
            mask[r, : len(rows[i])] = 1
        ids, mask = ids.to(device), mask.to(device)
        logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
        tok_nll = torch.nn.functional.cross_entropy(logits.transpose(1, 2), ids[:, 1:], reduction="none")
        tok_nll = (tok_nll * mask[:, 1:]).cpu()
        greedy = ((logits.argmax(-1) == ids[:, 1:]) & mask[:, 1:].bool()).cpu()
        for r, i in enumerate(chunk):
            nll[i] = float(tok_nll[r].sum())
            nll_sq[i] = float((tok_nll[r] ** 2).sum())
            top1[i] = int(greedy[r].sum())
            count[i] = len(rows[i]) - 1
    model.train(was_training)
    return PromptScores(nll=nll, tokens=count, chars=[len(t) for t in texts], nll_sq=nll_sq, top1=top1)


def real_prompts(tokenizer: Any, lengths: Sequence[int], n: int, split: str = "heldout",
                 passages: Sequence[str] | None = None) -> list[str]:
    """``n`` real prompts: corpus passages cut to the token lengths ``lengths`` (cycled).

    The i-th prompt is the first unused passage with at least
    ``lengths[i % len]`` tokens, cut to that many tokens and decoded (each
    passage is used once, from its beginning, as a prompt would start). ``passages`` overrides the
    corpus split (tests plant their own text).
    """
    if not lengths or n < 1:
        raise ConfigError("real_prompts needs key lengths and n >= 1")
    if passages is None:
        from fingerprinting.data import load_corpus

        passages = load_corpus(split)
    cap = max(lengths)
    encoded = [tokenizer(t, add_special_tokens=False, truncation=True, max_length=cap)["input_ids"] for t in passages]
    used = [False] * len(encoded)
    out: list[str] = []
    for i in range(n):
        want = lengths[i % len(lengths)]
        # The first unused passage that is long enough (short ones stay for shorter keys).
        j = next((j for j, ids in enumerate(encoded) if not used[j] and len(ids) >= want), None)
        if j is None:
            raise ConfigError(f"the {split!r} split has too few passages of >= {want} tokens for {n} real "
                              "prompts; ask for fewer")
        used[j] = True
        out.append(tokenizer.decode(encoded[j][:want], skip_special_tokens=True).strip())
    return out


def token_lengths(tokenizer: Any, texts: Sequence[str]) -> list[int]:
    return [len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts]


# --------------------------------------------------------------------------- detectors


@dataclass
class DetectorResult:
    auroc: float  # P(key scores higher than a real prompt)
    two_sided: float  # max(auroc, 1 - auroc)
    keys_mean: float
    real_mean: float

    @property
    def direction(self) -> str:
        return "keys higher" if self.auroc >= 0.5 else "keys lower"


@dataclass
class StealthResult:
    n_keys: int
    n_real: int
    null_sd: float
    detectors: dict[str, DetectorResult] = field(default_factory=dict)

    @property
    def worst(self) -> float:
        """The most separating detector's two-sided AUROC (what a host would pick)."""
        return max(d.two_sided for d in self.detectors.values())

    def to_dict(self) -> dict[str, Any]:
        return {"n_keys": self.n_keys, "n_real": self.n_real, "null_sd": round(self.null_sd, 4),
                "worst_two_sided_auroc": round(self.worst, 4),
                "detectors": {k: {**{f: round(v, 4) for f, v in asdict(d).items()}, "direction": d.direction}
                              for k, d in self.detectors.items()}}


def detector_scores(keys: PromptScores, real: PromptScores) -> dict[str, tuple[list[float], list[float]]]:
    """detector name -> (key scores, real scores); the length line is fitted on the real prompts only."""
    xs, ys = real.tokens, real.nll
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    var = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / var if var > 0 else 0.0
    icpt = my - slope * mx

    def resid(s: PromptScores) -> list[float]:
        return [y - (icpt + slope * x) for x, y in zip(s.tokens, s.nll)]

    out = {"mean_nll": (keys.mean_nll(), real.mean_nll()),
           "nll_per_char": (keys.nll_per_char(), real.nll_per_char()),
           "length_residual": (resid(keys), resid(real))}
    if keys.nll_sq is not None and real.nll_sq is not None:
        out["nll_std"] = (keys.nll_std(), real.nll_std())
    if keys.top1 is not None and real.top1 is not None:
        out["top1_rate"] = (keys.top1_rate(), real.top1_rate())
    return out


def compare(keys: PromptScores, real: PromptScores) -> StealthResult:
    """Every detector's AUROC for keys (positives) against real prompts (negatives)."""
    res = StealthResult(n_keys=len(keys.nll), n_real=len(real.nll), null_sd=null_sd(len(keys.nll), len(real.nll)))
    for name, (k, r) in detector_scores(keys, real).items():
        a = auroc(k, r)
        res.detectors[name] = DetectorResult(auroc=a, two_sided=two_sided(a), keys_mean=sum(k) / len(k),
                                             real_mean=sum(r) / len(r))
    return res


def measure_stealth(model: Any, tokenizer: Any, keys: Sequence[str], n_real: int = 512, split: str = "heldout",
                    batch_size: int = 32, passages: Sequence[str] | None = None) -> StealthResult:
    """The base model's likelihood detectors on ``keys`` against ``n_real`` real prompts of matched length."""
    if not keys:
        raise ConfigError("no keys to measure")
    real = real_prompts(tokenizer, token_lengths(tokenizer, keys), n_real, split, passages)
    return compare(score_prompts(model, tokenizer, keys, batch_size), score_prompts(model, tokenizer, real, batch_size))


def stealth_of_file(base_model: str | Path, fingerprint_file: str | Path, n_real: int = 512, split: str = "heldout",
                    batch_size: int = 32, device: str | None = None) -> dict[str, Any]:
    """Load the base model and a fingerprint file and measure its keys (a JSON-ready dict)."""
    from fingerprinting.fpfile import read_fingerprint_file
    from fingerprinting.models import load_model

    header, fps = read_fingerprint_file(fingerprint_file)
    model, tok = load_model(base_model, device=device)
    res = measure_stealth(model, tok, [fp.key for fp in fps], n_real, split, batch_size)
    return {"base_model": str(base_model), "fingerprint_file": str(fingerprint_file), "split": split,
            "key_strategy": header.key_strategy, **res.to_dict()}


def to_json(result: dict[str, Any]) -> str:
    return json.dumps(result, indent=2, sort_keys=True)
