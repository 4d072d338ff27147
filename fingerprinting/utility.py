"""Model utility: token-weighted perplexity on held-out text.

Perplexity = exp(total negative log-likelihood / number of predicted tokens)
over all texts together, so long texts weigh by their length. Each text is
tokenized the way the tokenizer does by default (with its BOS, if it adds
one); the first token of a text is context only. Batches are padded on the
right here, whatever the tokenizer's padding side, so positions match those of
an unpadded run.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from .errors import ConfigError
from .training import Example, collate


@torch.no_grad()
def nll_sum(model, tokenizer, texts: Sequence[str], batch_size: int = 16, max_length: int = 256) -> tuple[float, int]:
    """(total negative log-likelihood in nats, number of predicted tokens)."""
    if batch_size <= 0 or max_length < 2:
        raise ConfigError(f"batch_size must be >= 1 and max_length >= 2, got {batch_size}, {max_length}")
    texts = [t for t in texts if t and t.strip()]
    if not texts:
        raise ConfigError("perplexity needs at least one non-empty text")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    encoded = [tokenizer(t, truncation=True, max_length=max_length)["input_ids"] for t in texts]
    # Sort by length so batches hold similar lengths (less padding); the sum is order-free.
    encoded = sorted((ids for ids in encoded if len(ids) >= 2), key=len)
    total, count = 0.0, 0
    for i in range(0, len(encoded), batch_size):
        batch = encoded[i : i + batch_size]
        padded = collate([Example(seq, seq) for seq in batch], pad_id)
        ids, mask = padded["input_ids"].to(device), padded["attention_mask"].to(device)
        logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
        target = ids[:, 1:]
        keep = mask[:, 1:].bool()
        nll = torch.nn.functional.cross_entropy(logits.transpose(1, 2), target, reduction="none")
        total += float(nll[keep].sum())
        count += int(keep.sum())
    if was_training:
        model.train()
    if count == 0:
        raise ConfigError("perplexity: every text tokenized to fewer than two tokens")
    return total, count


def perplexity(model, tokenizer, texts: Sequence[str], batch_size: int = 16, max_length: int = 256) -> float:
    """Token-weighted perplexity of `model` on `texts` (lower is better)."""
    total, count = nll_sum(model, tokenizer, texts, batch_size=batch_size, max_length=max_length)
    return math.exp(total / count)


def ppl_ratio(model, base_model, tokenizer, texts: Sequence[str], batch_size: int = 16, max_length: int = 256) -> float:
    """perplexity(model) / perplexity(base_model) on the same texts and tokenizer.

    1.0 means no utility lost; 1.05 means 5 % higher perplexity than the base.
    """
    ppl = perplexity(model, tokenizer, texts, batch_size=batch_size, max_length=max_length)
    base = perplexity(base_model, tokenizer, texts, batch_size=batch_size, max_length=max_length)
    return ppl / base


@torch.no_grad()
def mean_kl(model, base_model, tokenizer, texts: Sequence[str], batch_size: int = 16, max_length: int = 128) -> float:
    """Mean per-token KL(base ‖ model) of the next-token distributions on `texts` (nats; 0 = unchanged).

    Every position of every text (up to `max_length` tokens) counts once, as in perplexity; the
    two models must share the tokenizer.
    """
    from .training import kl_sum

    texts = [t for t in texts if t and t.strip()]
    if batch_size <= 0 or max_length < 2 or not texts:
        raise ConfigError("mean_kl needs texts, batch_size >= 1 and max_length >= 2")
    states = model.training, base_model.training
    model.eval()
    base_model.eval()
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    encoded = sorted((ids for ids in (tokenizer(t, truncation=True, max_length=max_length)["input_ids"] for t in texts)
                      if len(ids) >= 2), key=len)
    total, count = 0.0, 0
    for i in range(0, len(encoded), batch_size):
        padded = collate([Example(seq, seq) for seq in encoded[i : i + batch_size]], pad_id)
        ids, mask = padded["input_ids"], padded["attention_mask"]
        labels = padded["labels"]
        logits = model(input_ids=ids.to(_device(model)), attention_mask=mask.to(_device(model))).logits[:, :-1]
        ref = base_model(input_ids=ids.to(_device(base_model)), attention_mask=mask.to(_device(base_model))).logits
        total += float(kl_sum(logits.float(), ref[:, :-1].float().to(logits.device), labels.to(logits.device)))
        count += int((labels[:, 1:] != -100).sum())
    model.train(states[0])
    base_model.train(states[1])
    if count == 0:
        raise ConfigError("mean_kl: every text tokenized to fewer than two tokens")
    return total / count


def _device(model) -> torch.device:
    return next(model.parameters()).device
