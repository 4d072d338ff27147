"""Keys of common English words in random order."""

from __future__ import annotations

from dataclasses import dataclass

from fingerprinting.data import common_words
from fingerprinting.strategies import GenerationContext, check_positive, register_key_strategy


@register_key_strategy("random_words")
@dataclass
class RandomWords:
    num_words: int = 12  # words per key
    pool: int = 5000  # draw from this many most common English words

    def __post_init__(self) -> None:
        check_positive(num_words=self.num_words, pool=self.pool)

    def generate(self, ctx: GenerationContext, n: int) -> list[str]:
        words = [w for w in common_words(self.pool) if w.isalpha()]
        return [" ".join(ctx.rng.choice(words) for _ in range(self.num_words)) for _ in range(n)]
