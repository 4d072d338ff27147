"""Keys of uniformly random vocabulary tokens (scales, but out of distribution and easy to filter)."""

from __future__ import annotations

from dataclasses import dataclass

from fingerprinting.strategies import GenerationContext, check_positive, register_key_strategy


@register_key_strategy("random_tokens")
@dataclass
class RandomTokens:
    key_length: int = 16  # tokens per key

    def __post_init__(self) -> None:
        check_positive(key_length=self.key_length)

    def generate(self, ctx: GenerationContext, n: int) -> list[str]:
        if ctx.tokenizer is None:
            raise ValueError("random_tokens needs a tokenizer")
        special = set(ctx.tokenizer.all_special_ids)
        # Printable tokens only: byte-fallback pieces decode to control or replacement characters.
        vocab = [i for i in range(len(ctx.tokenizer)) if i not in special and _printable(ctx.tokenizer.decode([i]))]
        keys = []
        for _ in range(n):
            ids = [ctx.rng.choice(vocab) for _ in range(self.key_length)]
            keys.append(ctx.tokenizer.decode(ids).strip())
        return keys


def _printable(text: str) -> bool:
    return bool(text) and text.isprintable() and "\ufffd" not in text
