"""English keys: text the model itself writes after a random common word.

As in the paper: prompt with a random common (capitalised) word, sample, and
cut the text to ``key_length`` tokens. Sampling runs in batches and is seeded
from the context seed.

The paper sampled at temperature 0.5. Such keys are too *likely*: a host
running the base model's own per-token NLL over incoming prompts separates
them from real prompts of the same length (two-sided AUROC 0.95 on the
`tiny` model, see ``fingerprinting.stealth`` and the README). The defaults
therefore sample at temperature 1 with nucleus (top-p) sampling, and then
*match* the keys to real text: candidates are scored by the base model and
kept so that their joint distribution of (mean NLL per token, characters per
token, standard deviation of the per-token NLL) follows that of real prompts
cut to the key length (quota sampling: the real prompts' quantile bins of
each feature form cells, each cell takes as many keys as its share of real
prompts). Every kept key's features lie within the real prompts' range.
``match="none"`` turns the filter off, ``match="nll"`` matches the mean NLL
alone. (Matching mean NLL and characters per token only left the NLL spread
as a detector with AUROC 0.59-0.62 on `tiny`; with the spread matched too
the worst of five detectors is 0.53-0.54, README "Stealth and evasion".)
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Any, Sequence

import torch
from transformers import GenerationConfig

from fingerprinting.data import common_words
from fingerprinting.generation import batched, left_pad
from fingerprinting.strategies import GenerationContext, check_positive, register_key_strategy

MATCH_MODES = ("none", "nll", "joint")
JOINT_DIMS = 3  # mean NLL, characters per token, NLL spread


@torch.no_grad()
def sample_ids(model: Any, tokenizer: Any, prompt_rows: Sequence[Sequence[int]], max_new_tokens: int,
               temperature: float, top_p: float, seed: int, batch_size: int = 32) -> list[list[int]]:
    """Sampled new token ids after each prompt (temperature and top-p; seeded per batch)."""
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    cfg = GenerationConfig(max_new_tokens=max_new_tokens, do_sample=True, temperature=temperature, top_k=0,
                           top_p=top_p if top_p < 1 else None, pad_token_id=pad,
                           eos_token_id=tokenizer.eos_token_id, bos_token_id=tokenizer.bos_token_id)
    device = next(model.parameters()).device
    out: list[list[int]] = [[] for _ in prompt_rows]
    was_training = model.training
    model.eval()
    for b, chunk in enumerate(batched(list(range(len(prompt_rows))), batch_size)):
        ids, mask = left_pad([prompt_rows[i] for i in chunk], pad, device)
        torch.manual_seed(seed + b)
        gen = model.generate(input_ids=ids, attention_mask=mask, generation_config=cfg)
        for i, row in zip(chunk, gen[:, ids.shape[1]:].tolist()):
            eos = tokenizer.eos_token_id
            out[i] = row[: row.index(eos)] if eos in row else row
    model.train(was_training)
    return out


def _features(scores: Any) -> list[tuple[float, ...]]:
    """(mean NLL per token, characters per token, spread of the per-token NLL) of scored prompts."""
    return [(m, c / max(t, 1), sd) for m, t, c, sd in zip(scores.mean_nll(), scores.tokens, scores.chars,
                                                         scores.nll_std())]


class RealMatcher:
    """Quota cells from real prompts: quantile bins of each matched feature, with the real range as outer edges."""

    def __init__(self, real: list[tuple[float, ...]], bins: int, dims: int) -> None:
        self.dims = dims
        self.edges = []  # per feature: bins + 1 ascending edges, [0] = real min, [-1] = real max
        for d in range(dims):
            vals = sorted(f[d] for f in real)
            inner = [vals[min(len(vals) - 1, round(k * len(vals) / bins))] for k in range(1, bins)]
            self.edges.append([vals[0], *inner, vals[-1]])
        self.share: dict[tuple[int, ...], float] = {}
        for f in real:
            cell = self.cell(f)
            self.share[cell] = self.share.get(cell, 0.0) + 1.0 / len(real)

    @property
    def nll_range(self) -> tuple[float, float]:
        return self.edges[0][0], self.edges[0][-1]

    def cell(self, f: tuple[float, ...]) -> tuple[int, ...] | None:
        """The cell of a feature vector, None when any feature lies outside the real range."""
        out = []
        for d in range(self.dims):
            e = self.edges[d]
            if not e[0] <= f[d] <= e[-1]:
                return None
            out.append(min(len(e) - 2, max(0, bisect.bisect_right(e, f[d]) - 1)))
        return tuple(out)

    def quotas(self, n: int) -> dict[tuple[int, ...], int]:
        """n keys split over the cells by the real share (largest remainder)."""
        raw = {c: s * n for c, s in self.share.items()}
        q = {c: int(v) for c, v in raw.items()}
        for c in sorted(raw, key=lambda c: raw[c] - q[c], reverse=True)[: n - sum(q.values())]:
            q[c] += 1
        return q


@register_key_strategy("english")
@dataclass
class EnglishKeys:
    key_length: int = 16  # tokens per key, the starting word included
    temperature: float = 1.0  # the paper used 0.5: too likely, easy to filter (see module docstring)
    top_p: float = 0.95  # nucleus sampling (1.0 = off)
    pool: int = 1000  # starting words come from this many most common words
    match: str = "joint"  # "none" | "nll" | "joint": match the keys' likelihood to real prompts (see above)
    match_bins: int = 4  # quantile bins per matched feature
    match_split: str = "benign"  # corpus split of the real reference prompts (the stealth benchmark uses "heldout")
    match_prompts: int = 400  # real reference prompts
    max_draws: int = 12  # candidates drawn per key at most, before the quota falls back to any in-range key

    def __post_init__(self) -> None:
        check_positive(key_length=self.key_length, temperature=self.temperature, pool=self.pool,
                       match_bins=self.match_bins, match_prompts=self.match_prompts, max_draws=self.max_draws)
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.match not in MATCH_MODES:
            raise ValueError(f"match must be one of {', '.join(MATCH_MODES)}, got {self.match!r}")

    def generate(self, ctx: GenerationContext, n: int) -> list[str]:
        ctx.require_model("english")
        if self.match == "none":
            return self._sample(ctx, n)
        from fingerprinting.stealth import real_prompts, score_prompts

        matcher = getattr(self, "_matcher", None)
        if matcher is None or getattr(self, "_matcher_for", None) is not ctx.model:
            real = real_prompts(ctx.tokenizer, [self.key_length], self.match_prompts, self.match_split)
            feats = _features(score_prompts(ctx.model, ctx.tokenizer, real, ctx.batch_size))
            matcher = RealMatcher(feats, self.match_bins, 1 if self.match == "nll" else JOINT_DIMS)
            self._matcher, self._matcher_for = matcher, ctx.model  # not dataclass fields: kept out of the header
        quota = matcher.quotas(n)
        kept: list[str] = []
        spare: list[str] = []  # in range, but their cell was full
        drawn = 0
        while len(kept) < n and drawn < self.max_draws * n:
            batch = self._sample(ctx, max(ctx.batch_size, 2 * (n - len(kept))))
            drawn += len(batch)
            for key, f in zip(batch, _features(score_prompts(ctx.model, ctx.tokenizer, batch, ctx.batch_size))):
                cell = matcher.cell(f)
                if cell is None or not key:
                    continue
                if quota.get(cell, 0) > 0 and len(kept) < n:
                    quota[cell] -= 1
                    kept.append(key)
                else:
                    spare.append(key)
        # Cells that real text fills but sampling rarely reaches: any in-range key (the range guarantee holds).
        return kept + spare[: n - len(kept)]

    def _sample(self, ctx: GenerationContext, n: int) -> list[str]:
        tok = ctx.tokenizer
        words = [w for w in common_words(self.pool) if w.isalpha()]
        starts = [ctx.rng.choice(words).capitalize() for _ in range(n)]
        rows = [tok(s)["input_ids"] for s in starts]
        # Prompt ids without special tokens: what the key text starts with.
        bare = [tok(s, add_special_tokens=False)["input_ids"] for s in starts]
        new = sample_ids(ctx.model, tok, rows, self.key_length, self.temperature, self.top_p,
                         seed=ctx.rng.randrange(2**31), batch_size=ctx.batch_size)
        return [tok.decode((b + g)[: self.key_length], skip_special_tokens=True).strip() for b, g in zip(bare, new)]
