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


def target_count(examples: Sequence[Example]) -> int:
    """Predicted (labelled) tokens of the examples: a label at position i > 0 is predicted from position i − 1."""
    return sum(sum(1 for t in e.labels[1:] if t != IGNORE) for e in examples)


def logits_of(model: Any, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Next-token logits at every position but the last, in float32: [b, t − 1, V]."""
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    return logits[:, :-1].float()


def nll_sum(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Summed cross-entropy over the labelled positions (``logits`` from logits_of, ``labels`` unshifted)."""
    target = labels[:, 1:]
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1), ignore_index=IGNORE,
                           reduction="sum")


def kl_sum(logits: torch.Tensor, ref_logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Summed KL(ref ‖ model) of the next-token distributions over the labelled positions.

    Forward KL from the reference (the frozen base) is self-distillation: its gradient is the
    cross-entropy against the base's soft targets, so the model is pushed to keep probability
    wherever the base put it (the mass-covering direction), which is what perplexity on
    ordinary text measures.
    """
    keep = labels[:, 1:] != IGNORE
    logq = F.log_softmax(logits[keep], dim=-1)
    logp = F.log_softmax(ref_logits[keep].float(), dim=-1)
    return F.kl_div(logq, logp, log_target=True, reduction="sum")


def token_loss(model: Any, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Mean cross-entropy over the labelled tokens of the batch (next-token prediction)."""
    target = batch["labels"][:, 1:]
    return nll_sum(logits_of(model, batch), batch["labels"]) / (target != IGNORE).sum().clamp(min=1)


def benign_example_batches(tokenizer: Any, texts: Sequence[str], batch_size: int, max_length: int,
                           seed: int) -> Iterator[list[Example]]:
    """Endless shuffled batches (lists of examples) of benign text, reshuffled every pass."""
    texts = [t for t in texts if t.strip()]
    if not texts:
        raise ConfigError("no benign text to train on")
    rng = random.Random(seed)
    while True:
        order = list(range(len(texts)))
        rng.shuffle(order)
        for i in range(0, len(order) - batch_size + 1 if len(order) >= batch_size else 1, batch_size):
            yield [benign_example(tokenizer, texts[j], max_length) for j in order[i : i + batch_size]]


def benign_batches(tokenizer: Any, texts: Sequence[str], batch_size: int, max_length: int,
                   seed: int) -> Iterator[dict[str, torch.Tensor]]:
    """Endless shuffled collated batches of benign text (reshuffled every pass)."""
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    for examples in benign_example_batches(tokenizer, texts, batch_size, max_length, seed):
        yield collate(examples, pad)
