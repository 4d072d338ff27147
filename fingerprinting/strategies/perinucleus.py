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
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Sequence

import torch

from fingerprinting.errors import FingerprintError
from fingerprinting.generation import encode_prompts, generate_ids, next_token_probs
from fingerprinting.strategies import GenerationContext, check_positive, register_response_strategy


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
    p = torch.as_tensor(probs, dtype=torch.float64)
    order = torch.sort(p, descending=True, stable=True).indices.tolist()
    cum = torch.cumsum(p[order], dim=0)
    reached = (cum >= threshold - 1e-12).nonzero()
    crossing = int(reached[0]) if len(reached) else len(order) - 1  # index (in order) of the token crossing t
    window: list[int] = []  # the first `width` acceptable tokens after the crossing token
    for tok in order[crossing + 1 :]:
        if acceptable_token(token_strings[tok]):
            window.append(tok)
            if len(window) == width:
                break
    if window:  # fewer than `width` when the vocabulary runs out: uniform over those there are
        return window[rng.randrange(len(window))]
    raise FingerprintError("perinucleus: no alphanumeric multi-character token outside the nucleus")


@register_response_strategy("perinucleus")
@dataclass
class Perinucleus:
    threshold: float = 0.8  # nucleus mass t
    width: int = 3  # k: draw from this many tokens after the nucleus
    response_length: int = 1  # tokens; after the first, continue greedily

    def __post_init__(self) -> None:
        check_positive(width=self.width, response_length=self.response_length)
        if not 0 < self.threshold < 1:
            raise ValueError(f"threshold must be in (0, 1), got {self.threshold}")

    def generate(self, ctx: GenerationContext, keys: list[str]) -> list[str]:
        ctx.require_model("perinucleus")
        tok = ctx.tokenizer
        strings = [tok.decode([i]) for i in range(len(tok))]
        first: list[int] = [0] * len(keys)
        ctx.model.eval()
        for positions, probs in next_token_probs(ctx.model, tok, keys, ctx.batch_size):
            for row, i in enumerate(positions):
                first[i] = perinucleus_pick(probs[row, : len(strings)], strings, ctx.rng,
                                            self.threshold, self.width)
        if self.response_length == 1:
            return [tok.decode([t]) for t in first]
        prompts = [r + [t] for r, t in zip(encode_prompts(tok, keys), first)]
        rest = generate_ids(ctx.model, tok, prompts, self.response_length - 1, ctx.batch_size)
        return [tok.decode([t] + r, skip_special_tokens=True) for t, r in zip(first, rest)]
