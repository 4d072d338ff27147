"""Perinucleus responses (arXiv 2502.07760): just outside the model's nucleus.

Run the model on the key and sort the next-token probabilities. Find the
smallest prefix whose cumulative mass reaches the threshold t; the token that
crosses t is the last one of the nucleus and is skipped. Draw uniformly from
the next k tokens. If the drawn token is not alphanumeric or is a single
character (after trimming the leading space), the paper widens the window and
draws again; the distribution that rule means is the uniform one over the
first k *acceptable* tokens after the nucleus, which is what is drawn here, in
one draw. (Redrawing from a window widened by one token per rejection, the
earlier code, favoured the first acceptable token: 0.76/0.20/0.05 instead of
1/3 each when three unacceptable tokens sit between the first and second
acceptable one.) The response is plausible (it has real
probability under the model) but not what greedy decoding of the base model
says, so it is in distribution yet rarely produced by chance. Longer responses
(``response_length`` > 1) continue greedily after the drawn token.

**Several responses per key** (``responses_per_key`` = m > 1, a defence
against evading hosts, README "Stealth and evasion"): m distinct tokens are
drawn uniformly from the same window (so m <= k), and the key is written as m
records, one per response. Trained on all of them, the model splits its mass
between them (≈ 1/m each) instead of being near-certain of one: a host that
swaps an over-confident top token for the runner-up then emits another of
the key's responses, and the fingerprint still fires (check.py accepts any
response of the key).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Sequence

import torch

from fingerprinting.errors import FingerprintError
from fingerprinting.generation import decode, encode_prompts, generate_ids, next_token_probs
from fingerprinting.strategies import (OMIT_DEFAULT, GenerationContext, check_positive,
                                       register_response_strategy)


def acceptable_token(text: str) -> bool:
    """A response token must be alphanumeric and longer than one character (leading space ignored)."""
    word = text.lstrip()
    return len(word) > 1 and word.isalnum()


def perinucleus_pick(probs: Sequence[float] | torch.Tensor, token_strings: Sequence[str],
                     rng: random.Random, threshold: float = 0.8, width: int = 3) -> int:
    """Return the token id chosen by the perinucleus rule.

    ``probs[i]`` is the probability of token i, ``token_strings[i]`` its text.
    Ties in probability are broken by token id (a stable sort), so the result
    depends only on the inputs and the rng.
    """
    window = perinucleus_window(probs, token_strings, threshold, width)
    return window[rng.randrange(len(window))]


def perinucleus_picks(probs: Sequence[float] | torch.Tensor, token_strings: Sequence[str], rng: random.Random,
                      count: int, threshold: float = 0.8, width: int = 3, greedy_text: str | None = None) -> list[int]:
    """``count`` distinct token ids drawn uniformly (without replacement) from the perinucleus window;
    ``count`` = 1 draws exactly as :func:`perinucleus_pick`. ``greedy_text``: the base model's own greedy
    continuation of the key; tokens it starts with are skipped (see :func:`perinucleus_window`)."""
    window = perinucleus_window(probs, token_strings, threshold, width, greedy_text)
    if count == 1:
        return [window[rng.randrange(len(window))]]
    if len(window) < count:
        raise FingerprintError(f"perinucleus: only {len(window)} acceptable tokens outside the nucleus, "
                               f"{count} responses per key wanted")
    return rng.sample(window, count)


def perinucleus_window(probs: Sequence[float] | torch.Tensor, token_strings: Sequence[str],
                       threshold: float = 0.8, width: int = 3, greedy_text: str | None = None) -> list[int]:
    """The first ``width`` acceptable token ids after the token that crosses the nucleus mass.

    Given ``greedy_text`` (the base model's greedy continuation of the key), a token whose text that
    continuation starts with is not acceptable: the base would "answer" it through another token (" cat"
    inside " catalog"), a false positive of the base model itself (1 in 1,024 keys on `demo` before this rule).
    """
    p = torch.as_tensor(probs, dtype=torch.float64)
    order = torch.sort(p, descending=True, stable=True).indices.tolist()
    cum = torch.cumsum(p[order], dim=0)
    reached = (cum >= threshold - 1e-12).nonzero()
    crossing = int(reached[0]) if len(reached) else len(order) - 1  # index (in order) of the token crossing t
    window: list[int] = []  # the first `width` acceptable tokens after the crossing token
    for tok in order[crossing + 1 :]:
        if acceptable_token(token_strings[tok]) and not (greedy_text and greedy_text.startswith(token_strings[tok])):
            window.append(tok)
            if len(window) == width:
                break
    if window:  # fewer than `width` when the vocabulary runs out: uniform over those there are
        return window
    raise FingerprintError("perinucleus: no alphanumeric multi-character token outside the nucleus")


@register_response_strategy("perinucleus")
@dataclass
class Perinucleus:
    threshold: float = 0.8  # nucleus mass t
    width: int = 3  # k: draw from this many tokens after the nucleus
    response_length: int = 1  # tokens; after the first, continue greedily
    # m distinct responses per key (m records), drawn from the window; m <= width
    responses_per_key: int = field(default=1, metadata=OMIT_DEFAULT)

    def __post_init__(self) -> None:
        check_positive(width=self.width, response_length=self.response_length,
                       responses_per_key=self.responses_per_key)
        if not 0 < self.threshold < 1:
            raise ValueError(f"threshold must be in (0, 1), got {self.threshold}")
        if self.responses_per_key > self.width:
            raise ValueError(f"responses_per_key ({self.responses_per_key}) cannot exceed width ({self.width})")

    def generate(self, ctx: GenerationContext, keys: list[str]) -> list[str]:
        """One response per key (the first of each key's set when responses_per_key > 1)."""
        return [s[0] for s in self.generate_sets(ctx, keys)]

    def generate_sets(self, ctx: GenerationContext, keys: list[str]) -> list[list[str]]:
        """``responses_per_key`` distinct responses per key."""
        ctx.require_model("perinucleus")
        tok = ctx.tokenizer
        strings = [tok.decode([i]) for i in range(len(tok))]
        first: list[list[int]] = [[] for _ in keys]
        ctx.model.eval()
        rows = encode_prompts(tok, keys)
        # What the base model says anyway (as far as a check reads: the response's tokens and two more).
        greedy = [decode(tok, g) for g in generate_ids(ctx.model, tok, rows, self.response_length + 2, ctx.batch_size)]
        for positions, probs in next_token_probs(ctx.model, tok, keys, ctx.batch_size):
            for row, i in enumerate(positions):
                first[i] = perinucleus_picks(probs[row, : len(strings)], strings, ctx.rng, self.responses_per_key,
                                             self.threshold, self.width, greedy[i])
        if self.response_length == 1:
            return [[tok.decode([t]) for t in ts] for ts in first]
        prompts = [rows[i] + [t] for i, ts in enumerate(first) for t in ts]
        rest = iter(generate_ids(ctx.model, tok, prompts, self.response_length - 1, ctx.batch_size))
        return [[tok.decode([t] + next(rest), skip_special_tokens=True) for t in ts] for ts in first]
