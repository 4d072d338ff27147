"""Examples, batches and losses shared by embedding and the persistence attack.

A fingerprint example is the prompt (a key, maybe wrapped in a template)
followed by the response. Only response tokens are learned: prompt tokens and
padding carry the label -100 (ignored by the loss), response tokens carry
their own ids. Benign examples are ordinary text with the ordinary LM loss.
Training batches are padded on the right so every sequence starts at
position 0, as it does at inference after the left padding is masked out.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import torch
import torch.nn.functional as F

from fingerprinting.errors import ConfigError

IGNORE = -100


@dataclass(frozen=True)
class Example:
    input_ids: list[int]
    labels: list[int]


def build_example(tokenizer: Any, prompt: str, response: str, max_length: int = 128) -> Example:
    """Prompt tokens (as a host tokenizes the query, BOS included) then response tokens; loss on the response only."""
    prompt_ids = tokenizer(prompt)["input_ids"]
    response_ids = tokenizer(response, add_special_tokens=False)["input_ids"]
    if not response_ids:
        raise ConfigError(f"response {response!r} tokenizes to nothing")
    if len(prompt_ids) + len(response_ids) > max_length:
        raise ConfigError(f"prompt + response is {len(prompt_ids) + len(response_ids)} tokens, over "
                          f"max_length={max_length}; raise max_length or use shorter keys")
    return Example(prompt_ids + response_ids, [IGNORE] * len(prompt_ids) + response_ids)


def benign_example(tokenizer: Any, text: str, max_length: int = 128) -> Example:
    """Ordinary text: every token is a target (the model shifts labels itself)."""
    ids = tokenizer(text, truncation=True, max_length=max_length)["input_ids"]
    return Example(ids, list(ids))


def collate(examples: Sequence[Example], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad to the longest example; padding gets attention 0 and label -100."""
    width = max(len(e.input_ids) for e in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    for i, e in enumerate(examples):
        n = len(e.input_ids)
        ids[i, :n] = torch.tensor(e.input_ids)
        labels[i, :n] = torch.tensor(e.labels)
        mask[i, :n] = 1
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def to_device(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {k: v.to(device) for k, v in batch.items()}


def token_loss(model: Any, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Mean cross-entropy over the labelled tokens of the batch (next-token prediction)."""
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    logits = logits[:, :-1].float()
    target = batch["labels"][:, 1:]
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1), ignore_index=IGNORE)


def benign_batches(tokenizer: Any, texts: Sequence[str], batch_size: int, max_length: int,
                   seed: int) -> Iterator[dict[str, torch.Tensor]]:
    """Endless shuffled batches of benign text (reshuffled every pass)."""
    texts = [t for t in texts if t.strip()]
    if not texts:
        raise ConfigError("no benign text to train on")
    rng = random.Random(seed)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    while True:
        order = list(range(len(texts)))
        rng.shuffle(order)
        for i in range(0, len(order) - batch_size + 1 if len(order) >= batch_size else 1, batch_size):
            chunk = [texts[j] for j in order[i : i + batch_size]]
            yield collate([benign_example(tokenizer, t, max_length) for t in chunk], pad)
