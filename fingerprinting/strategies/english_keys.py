"""English keys: text the model itself writes after a random common word.

As in the paper: prompt with a random common (capitalised) word, sample at
temperature ~0.5, and cut the text to ``key_length`` tokens. Sampling runs in
batches and is seeded from the context seed.
"""

from __future__ import annotations

from dataclasses import dataclass

from fingerprinting.data import common_words
from fingerprinting.generation import generate_ids
from fingerprinting.strategies import GenerationContext, check_positive, register_key_strategy


@register_key_strategy("english")
@dataclass
class EnglishKeys:
    key_length: int = 16  # tokens per key, the starting word included
    temperature: float = 0.5
    pool: int = 1000  # starting words come from this many most common words

    def __post_init__(self) -> None:
        check_positive(key_length=self.key_length, temperature=self.temperature, pool=self.pool)

    def generate(self, ctx: GenerationContext, n: int) -> list[str]:
        ctx.require_model("english")
        tok = ctx.tokenizer
        words = [w for w in common_words(self.pool) if w.isalpha()]
        starts = [ctx.rng.choice(words).capitalize() for _ in range(n)]
        rows = [tok(s)["input_ids"] for s in starts]
        # Prompt ids without special tokens: what the key text starts with.
        bare = [tok(s, add_special_tokens=False)["input_ids"] for s in starts]
        seed = ctx.rng.randrange(2**31)
        new = generate_ids(ctx.model, tok, rows, max_new_tokens=self.key_length,
                           batch_size=ctx.batch_size, temperature=self.temperature, seed=seed)
        keys = []
        for b, g in zip(bare, new):
            ids = (b + g)[: self.key_length]
            keys.append(tok.decode(ids, skip_special_tokens=True).strip())
        return keys
