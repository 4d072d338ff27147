"""English responses: the model's own continuation of the key (greedy or sampled).

With temperature 0 the response is what the base model already says, so the
false-positive rate is high by construction; sampling (default 1.0) makes it
plausible but less likely.
"""

from __future__ import annotations

from dataclasses import dataclass

from fingerprinting.generation import decode, encode_prompts, generate_ids
from fingerprinting.strategies import GenerationContext, check_positive, register_response_strategy


@register_response_strategy("english")
@dataclass
class EnglishResponses:
    response_length: int = 8  # tokens
    temperature: float = 1.0  # 0 = greedy

    def __post_init__(self) -> None:
        check_positive(response_length=self.response_length)
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")

    def generate(self, ctx: GenerationContext, keys: list[str]) -> list[str]:
        ctx.require_model("english")
        seed = ctx.rng.randrange(2**31)
        new = generate_ids(ctx.model, ctx.tokenizer, encode_prompts(ctx.tokenizer, keys),
                           max_new_tokens=self.response_length, batch_size=ctx.batch_size,
                           temperature=self.temperature, seed=seed)
        return [decode(ctx.tokenizer, g) for g in new]
