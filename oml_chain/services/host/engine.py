"""Batched text generation over a local Hugging Face causal LM, fed by a queue from many concurrent requests.

A worker thread takes the first queued request, waits up to `batch_wait_ms` for more with the same sampling
settings (up to `max_batch`), and runs one `model.generate` over the whole batch: prompts left padded,
greedy when temperature is at most `GREEDY_TEMPERATURE` (1e-5: dividing logits by a smaller temperature overflows
to inf/NaN and sampling crashes, and any temperature that small samples the greedy token anyway), else sampled; `max_new_tokens` is the batch's largest `max_tokens` and each row
is cut back to its own. The text returned is the decoded continuation (`skip_special_tokens=True`, no
tokenization-space cleanup), cut at the first stop sequence: exactly the string the host attests and that a
fingerprint check compares with `startswith` (fingerprinting/check.py).

Stop sequences end generation inside `generate` (a `StoppingCriteria` decodes each watched row after every token
and stops it once its text holds a stop sequence), so `completion_tokens` counts the tokens up to the one that
completed the stop, not `max_tokens`.

`submit_group(..., n)` queues the `n` choices of one request (OpenAI's `n`) side by side; they are generated in one
batch (with other requests when not streamed), each its own row and `Completion`.

Streaming (`submit(..., on_text=callback)`): a streamed request runs alone, as a batch of its own choices (batching
different streamed requests together is not done); after every generated token the same criterion decodes the row and hands
`on_text` the new text that is safe to release: never a tail that could still turn into a stop sequence (it holds
back `len(longest stop) - 1` characters) nor an incomplete UTF-8 character. The deltas concatenate exactly to
the `Completion.text` the Future then resolves to. A `cancel` event (set by the server when the permission is
refused or the client goes away) stops the row at the next token.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import torch
from transformers import GenerationConfig, LogitsProcessor, LogitsProcessorList, StoppingCriteria, StoppingCriteriaList

from ...chain.errors import ConfigError, OMLError

log = logging.getLogger("oml.host.engine")

GREEDY_TEMPERATURE = 1e-5  # temperatures ≤ this decode greedily (see the module docstring)


class EngineError(OMLError, RuntimeError):
    """The generation engine failed or is shut down."""


class PromptTooLong(OMLError, ValueError):
    """The prompt plus max_tokens does not fit the model's context."""


@dataclass
class Completion:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str  # "stop" (eos or a stop sequence) or "length"


@dataclass
class _Request:
    prompt_ids: list[int]
    max_tokens: int
    temperature: float
    top_p: float
    stop: tuple[str, ...]
    on_text: Callable[[str], Any] | None = None  # streaming: called (worker thread) with each released delta
    cancel: threading.Event | None = None
    group: int = 0  # the choices of one request (`n > 1`) share a group and run in one batch, streamed or not
    future: Future = field(default_factory=Future)

    @property
    def sampling(self) -> tuple[float, float]:
        return (self.temperature, self.top_p) if self.temperature > GREEDY_TEMPERATURE else (0.0, 1.0)

    @property
    def stream(self) -> bool:
        return self.on_text is not None


class _Row:
    """Per-row watch during generate: stop sequences, max_tokens, streaming release and cancellation."""

    def __init__(self, req: _Request, engine: "GenerationEngine"):
        self.req, self.engine = req, engine
        self.hold = max((len(s) for s in req.stop), default=1) - 1
        self.done = False
        self.result: Completion | None = None
        self.sent = ""  # released to on_text so far

    def step(self, tokens: list[int]) -> bool:
        if self.done:
            return True
        r, eng = self.req, self.engine
        finish = None
        if eng.eos_id is not None and eng.eos_id in tokens:
            tokens, finish = tokens[: tokens.index(eng.eos_id)], "stop"
        elif len(tokens) >= r.max_tokens:
            tokens, finish = tokens[: r.max_tokens], "length"
        if finish is None and not r.stop and not r.stream and (r.cancel is None or not r.cancel.is_set()):
            return False  # nothing to watch in the text: decode once, at the end
        text = eng.decode(tokens)
        cuts = [text.find(s) for s in r.stop if s in text]
        if cuts:
            text, finish = text[: min(cuts)], "stop"
        if finish is None and r.cancel is not None and r.cancel.is_set():
            finish = "cancelled"
        if finish is not None:
            self.finish(text, len(tokens), finish)
            return True
        if r.stream:
            safe = text[: len(text) - self.hold] if self.hold else text
            while safe.endswith("\ufffd"):  # an incomplete UTF-8 character: wait for its other bytes
                safe = safe[:-1]
            self._release(safe)
        return False

    def _release(self, text: str) -> None:
        if len(text) > len(self.sent) and text.startswith(self.sent):
            delta, self.sent = text[len(self.sent):], text
            self.req.on_text(delta)

    def finish(self, text: str, n_tokens: int, finish: str) -> None:
        if self.req.stream:
            if not text.startswith(self.sent):  # decoding was not prefix-stable: what was released stands
                log.warning("streamed text is not a prefix of the final decode; attesting the released text")
                text = self.sent
            self._release(text)
        self.done = True
        self.result = Completion(text, len(self.req.prompt_ids), n_tokens, finish)


class _Watch(StoppingCriteria):
    """Calls `_Row.step` for the watched rows after every token; a finished row stops there."""

    def __init__(self, rows: list[_Row | None], width: int):
        self.rows, self.width = rows, width

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs) -> torch.Tensor:
        new = input_ids[:, self.width:].tolist()
        done = [row.step(new[i]) if row is not None else False for i, row in enumerate(self.rows)]
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)


class _Evade(LogitsProcessor):
    """A rogue host dodging fingerprints (demos and measurements only): wherever the top token's probability exceeds
    tau, its logit is exchanged with the runner-up's (``rank`` 3: the third's; fingerprinting/evade.py `swap_top2`,
    the τ-swap host)."""

    def __init__(self, tau: float, rank: int = 2):
        from fingerprinting.evade import check_rank, swap_top2

        check_rank(rank)
        self.tau, self.rank, self._swap = tau, rank, swap_top2
        self.swapped = 0  # tokens swapped so far

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        out, swap = self._swap(scores, self.tau, rank=self.rank)
        self.swapped += int(swap.sum())
        return out


class GenerationEngine:
    """Owns the model; `submit()` is thread-safe and returns a Future of a `Completion`."""

    def __init__(self, model: Any, tokenizer: Any, max_batch: int = 8, batch_wait_ms: float = 5.0,
                 evade_tau: float | None = None, evade_rank: int = 2):
        if max_batch < 1:
            raise ConfigError(f"max_batch must be at least 1, got {max_batch}")
        self.model, self.tokenizer = model, tokenizer
        self.max_batch, self.batch_wait = max_batch, batch_wait_ms / 1000.0
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self.eos_id = tokenizer.eos_token_id
        self.context = int(getattr(model.config, "max_position_embeddings", 0) or 0)
        self.device = next(model.parameters()).device
        # rogue τ-swap (None: honest decoding)
        self.evade = _Evade(evade_tau, evade_rank) if evade_tau is not None else None
        self.generate_calls = 0  # batched generate() runs so far
        self.requests_served = 0
        self.max_batch_seen = 0
        self._queue: queue.Queue[_Request | None] = queue.Queue()
        self._held: list[_Request] = []  # taken from the queue but not batchable with the last batch
        self._stopped = False
        self._submit_lock = threading.Lock()
        self._groups = 0
        self._thread = threading.Thread(target=self._loop, name="oml-generate", daemon=True)
        self._thread.start()

    # --- public -------------------------------------------------------------------------------------
    def encode(self, prompt: str, add_special_tokens: bool = True) -> list[int]:
        """Token ids of the prompt, tokenized exactly as the fingerprint checker does (a prompt rendered by a
        chat template already holds its special tokens: pass add_special_tokens=False)."""
        return self.tokenizer(prompt, add_special_tokens=add_special_tokens)["input_ids"]

    def decode(self, tokens: Sequence[int]) -> str:
        """The text of generated tokens, exactly as attested (special tokens skipped, no space cleanup)."""
        return self.tokenizer.decode(list(tokens), skip_special_tokens=True, clean_up_tokenization_spaces=False)

    def submit(self, prompt_ids: Sequence[int], max_tokens: int, temperature: float = 0.0, top_p: float = 1.0,
               stop: Sequence[str] = (), on_text: Callable[[str], Any] | None = None,
               cancel: threading.Event | None = None) -> Future:
        """A Future of the `Completion`. With `on_text` the request streams: the worker thread calls
        `on_text(delta)` as text is generated, before the Future resolves (module docstring)."""
        cb = None if on_text is None else (lambda _i, d: on_text(d))
        return self.submit_group(prompt_ids, 1, max_tokens, temperature, top_p, stop, cb, cancel)[0]

    def submit_group(self, prompt_ids: Sequence[int], n: int, max_tokens: int, temperature: float = 0.0,
                     top_p: float = 1.0, stop: Sequence[str] = (),
                     on_text: Callable[[int, str], Any] | None = None,
                     cancel: threading.Event | None = None) -> list[Future]:
        """`n` choices of one prompt (OpenAI's `n`), generated in one batch: a Future of each choice's
        `Completion`; with `on_text`, `on_text(index, delta)` streams every choice."""
        if self._stopped:
            raise EngineError("the generation engine is shut down")
        if n < 1 or n > self.max_batch:
            raise ConfigError(f"n must be in [1, {self.max_batch}] (the engine's max_batch), got {n}")
        if self.context and len(prompt_ids) + max_tokens > self.context:
            raise PromptTooLong(f"the prompt has {len(prompt_ids)} tokens and max_tokens is {max_tokens}, but the "
                                f"model's context is {self.context} tokens; shorten the prompt or lower max_tokens")
        stops = tuple(s for s in stop if s)
        with self._submit_lock:  # a group's requests stay adjacent in the queue
            self._groups += 1
            reqs = [_Request(list(prompt_ids), max_tokens, float(temperature), float(top_p), stops,
                             None if on_text is None else (lambda d, i=i: on_text(i, d)), cancel, self._groups)
                    for i in range(n)]
            for r in reqs:
                self._queue.put(r)
        return [r.future for r in reqs]

    def close(self, timeout: float = 30.0) -> None:
        self._stopped = True
        self._queue.put(None)
        self._thread.join(timeout)

    # --- worker -------------------------------------------------------------------------------------
    def _next_batch(self) -> list[_Request] | None:
        first = self._held.pop(0) if self._held else self._queue.get()
        if first is None:
            return None
        batch, rest = [first], []
        if first.stream:  # a streamed request runs alone, with the other choices of its group
            while len(batch) < self.max_batch:
                nxt = self._held.pop(0) if self._held and self._held[0].group == first.group else None
                if nxt is None:
                    try:
                        nxt = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if nxt is None or nxt.group != first.group:
                        if nxt is None:
                            self._queue.put(None)  # the shutdown comes after this batch
                        else:
                            self._held.append(nxt)  # newer than anything already held
                        break
                batch.append(nxt)
            return batch

        def fits(r: _Request) -> bool:
            return r.sampling == first.sampling and not r.stream

        for r in self._held:  # requests set aside earlier go first, in order
            (batch if fits(r) and len(batch) < self.max_batch else rest).append(r)
        self._held = rest
        deadline = time.monotonic() + self.batch_wait
        while len(batch) < self.max_batch:
            try:
                r = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if r is None:
                self._queue.put(None)  # let the loop see the shutdown after this batch
                break
            (batch if fits(r) else self._held).append(r)
        return batch

    def _loop(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                break
            try:
                results = self._generate(batch)
            except Exception as exc:  # a fault must fail the requests, not kill the worker
                log.exception("generation failed for a batch of %d", len(batch))
                for r in batch:
                    if not r.future.done():
                        r.future.set_exception(EngineError(f"generation failed: {exc.__class__.__name__}: {exc}"))
                continue
            for r, c in zip(batch, results):
                r.future.set_result(c)
        for r in self._held:
            r.future.set_exception(EngineError("the generation engine shut down before serving this request"))

    @torch.no_grad()
    def _generate(self, batch: list[_Request]) -> list[Completion]:
        width = max(len(r.prompt_ids) for r in batch)
        ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for i, r in enumerate(batch):
            if r.prompt_ids:
                ids[i, width - len(r.prompt_ids):] = torch.tensor(r.prompt_ids, dtype=torch.long)
                mask[i, width - len(r.prompt_ids):] = 1
        temperature, top_p = batch[0].sampling
        sample = temperature > 0
        cfg = GenerationConfig(max_new_tokens=max(r.max_tokens for r in batch), do_sample=sample,
                               temperature=temperature if sample else None, top_p=top_p if sample else None,
                               top_k=0 if sample else None, pad_token_id=self.pad_id, eos_token_id=self.eos_id,
                               bos_token_id=self.tokenizer.bos_token_id)
        rows = [_Row(r, self) for r in batch]
        # watch every token only when a row needs it (stop sequences, streaming, cancellation)
        watched = any(r.stop or r.stream or r.cancel is not None for r in batch)
        criteria = StoppingCriteriaList([_Watch(rows, width)]) if watched else None
        out = self.model.generate(input_ids=ids.to(self.device), attention_mask=mask.to(self.device),
                                  generation_config=cfg, stopping_criteria=criteria,
                                  logits_processor=LogitsProcessorList([self.evade]) if self.evade else None)
        self.generate_calls += 1
        self.requests_served += len(batch)
        self.max_batch_seen = max(self.max_batch_seen, len(batch))
        new_rows = out[:, width:].tolist()
        return [self._finish(watch, tokens) for watch, tokens in zip(rows, new_rows)]

    @staticmethod
    def _finish(watch: _Row, tokens: list[int]) -> Completion:
        """The row's completion: the same cut (eos, max_tokens, stop sequences) whether or not it was watched."""
        if not watch.done:  # generate ended before a per-token check finished this row
            tokens = tokens[: watch.req.max_tokens]
            watch.step(tokens)
            if not watch.done:
                watch.finish(watch.engine.decode(tokens), len(tokens), "length")
        return watch.result
