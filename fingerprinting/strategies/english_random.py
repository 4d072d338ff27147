"""English-random responses: one random common word (with the leading space a continuation has)."""

from __future__ import annotations

from dataclasses import dataclass

from fingerprinting.data import common_words
from fingerprinting.strategies import GenerationContext, check_positive, register_response_strategy


@register_response_strategy("english_random")
@dataclass
class EnglishRandom:
    pool: int = 5000  # draw from this many most common English words
    leading_space: bool = True  # the continuation of a key usually starts with a space

    def __post_init__(self) -> None:
        check_positive(pool=self.pool)

    def generate(self, ctx: GenerationContext, keys: list[str]) -> list[str]:
        words = [w for w in common_words(self.pool) if w.isalpha() and len(w) > 1]
        prefix = " " if self.leading_space else ""
        return [prefix + ctx.rng.choice(words) for _ in keys]
