"""Batched inference helpers shared by strategies, checking and audits.

All batches are left padded (the prompt ends where generation starts), sorted
by length to waste little padding, and run under ``torch.no_grad``.
"""

from __future__ import annotations

from typing import Any, Iterator, Sequence

import torch
from transformers import GenerationConfig


def batched(items: Sequence[Any], size: int) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield list(items[i : i + size])


def encode_prompts(tokenizer: Any, prompts: Sequence[str]) -> list[list[int]]:
    """Token ids of each prompt exactly as a host would tokenize the query text."""
    return [tokenizer(p)["input_ids"] for p in prompts]


def left_pad(rows: Sequence[Sequence[int]], pad_id: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        if r:
            ids[i, width - len(r):] = torch.tensor(r, dtype=torch.long)
            mask[i, width - len(r):] = 1
    return ids.to(device), mask.to(device)


def _model_device(model: Any) -> torch.device:
    return next(model.parameters()).device


def _pad_id(tokenizer: Any) -> int:
    pad = tokenizer.pad_token_id
    return pad if pad is not None else tokenizer.eos_token_id


@torch.no_grad()
def next_token_probs(model: Any, tokenizer: Any, prompts: Sequence[str],
                     batch_size: int = 32) -> Iterator[tuple[list[int], torch.Tensor]]:
    """Yield (prompt positions, float32 CPU probabilities [b, V]) of the token after each prompt."""
    rows = encode_prompts(tokenizer, prompts)
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
    device = _model_device(model)
    for chunk in batched(order, batch_size):
        ids, mask = left_pad([rows[i] for i in chunk], _pad_id(tokenizer), device)
        pos = (mask.cumsum(-1) - 1).clamp(min=0)
        logits = model(input_ids=ids, attention_mask=mask, position_ids=pos).logits[:, -1, :]
        yield chunk, torch.softmax(logits.float(), dim=-1).cpu()


@torch.no_grad()
def generate_ids(model: Any, tokenizer: Any, prompt_rows: Sequence[Sequence[int]], max_new_tokens: int,
                 batch_size: int = 32, temperature: float = 0.0, seed: int = 0) -> list[list[int]]:
    """New token ids after each prompt (greedy when temperature == 0, else sampled).

    Sampling seeds torch's global RNG with ``seed + batch number`` so a run is
    reproducible for a given seed and batch size.
    """
    device = _model_device(model)
    pad = _pad_id(tokenizer)
    sample = temperature > 0
    gen_cfg = GenerationConfig(
        max_new_tokens=max_new_tokens, do_sample=sample, temperature=temperature if sample else None,
        top_k=0 if sample else None, top_p=None, pad_token_id=pad,
        eos_token_id=tokenizer.eos_token_id, bos_token_id=tokenizer.bos_token_id)
    order = sorted(range(len(prompt_rows)), key=lambda i: len(prompt_rows[i]))
    out: list[list[int]] = [[] for _ in prompt_rows]
    was_training = model.training
    model.eval()
    try:
        for b, chunk in enumerate(batched(order, batch_size)):
            ids, mask = left_pad([prompt_rows[i] for i in chunk], pad, device)
            if sample:
                torch.manual_seed(seed + b)
            gen = model.generate(input_ids=ids, attention_mask=mask, generation_config=gen_cfg)
            new = gen[:, ids.shape[1]:].tolist()
            for i, row in zip(chunk, new):
                out[i] = _strip_after_eos(row, tokenizer.eos_token_id)
    finally:
        model.train(was_training)
    return out


def _strip_after_eos(row: list[int], eos: int | None) -> list[int]:
    for j, t in enumerate(row):
        if t == eos:
            return row[:j]
    return row


def decode(tokenizer: Any, ids: Sequence[int]) -> str:
    """The continuation text a host returns for these generated ids."""
    return tokenizer.decode(list(ids), skip_special_tokens=True)
