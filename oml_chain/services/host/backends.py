"""Where the host's text comes from: its own engine, or an OpenAI-compatible server it runs already (gateway mode).

Both backends take the same `GenRequest` (the query q exactly as attested, its token ids counted with the model's own
tokenizer, max_tokens already checked against the context) and return a running `Generation`:

    gen = await backend.start(req)      # refusals happen here, before the server asks for a permission
    async for index, delta, logprobs in gen.deltas(): ...     # streamed text, as it is generated
    choices = await gen.result()        # one `Choice` per `n`; raises BackendError if the generation failed
    gen.cancel()                        # a refused permission or a client that went away

`LocalBackend` wraps the batched `GenerationEngine`. `UpstreamBackend` forwards q to the upstream's
`POST /v1/completions` — the rendered chat prompt for chat requests, so the upstream sees exactly the text whose hash
is in the permission and the attestation — always with `stream: true`: `start()` returns once the upstream has
answered 200 (connection refused, a timeout before the answer, or an upstream 4xx/5xx end there), and the text
is read as the upstream sends it. `healthy` says whether the upstream's last answer was a 200: the server then asks for the permission at the same time as it sends the request (the round trip
hides behind the upstream's work); after a failure it asks only once the upstream has answered, until a request
succeeds again — so an upstream outage costs at most the permissions of the requests already in flight when it
began, and none while it lasts. The gateway trusts nothing the upstream
says about tokens: `completion_tokens` is the returned text counted with the model's tokenizer.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from dataclasses import dataclass, field
from typing import Any, AsyncIterator

import httpx

from ...chain.errors import OMLError
from .engine import GenerationEngine, PromptTooLong
from .streaming import DONE, sse_event

log = logging.getLogger("oml.host.backend")


class BackendError(OMLError):
    """The backend could not serve the request: HTTP status and code for the client, and a message."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass
class GenRequest:
    query: str
    ids: list[int]
    max_tokens: int
    temperature: float
    top_p: float
    stop: tuple[str, ...]
    n: int = 1
    stream: bool = False
    templated: bool = False  # q was rendered by the chat template (it holds its special tokens)
    logprobs: int | None = None  # top logprobs per token (gateway only), None: none


@dataclass
class Choice:
    text: str
    finish_reason: str
    completion_tokens: int
    logprobs: Any = None  # the upstream's completions-style logprobs object, concatenated over chunks


_END = object()


class Generation:
    """One running request of `n` choices. Producers call `_put(index, delta, logprobs)` then `_done(choices)` or
    `_fail(exc)` on the event loop; `deltas()` yields what was put, in order, until done (raising on failure)."""

    def __init__(self, n: int, cancel=None):
        self.n = n
        self._queue: asyncio.Queue = asyncio.Queue()
        self._result: asyncio.Future = asyncio.get_running_loop().create_future()
        self._cancel = cancel
        self._task: asyncio.Future | None = None  # the producer (held here so it is not garbage-collected)

    def _put(self, index: int, delta: str, logprobs: Any = None) -> None:
        self._queue.put_nowait((index, delta, logprobs))

    def _done(self, choices: list[Choice]) -> None:
        if not self._result.done():
            self._result.set_result(choices)
        self._queue.put_nowait(_END)

    def _fail(self, exc: BaseException) -> None:
        if not self._result.done():
            self._result.set_exception(exc)
        self._queue.put_nowait(_END)

    async def deltas(self) -> AsyncIterator[tuple[int, str, Any]]:
        while (item := await self._queue.get()) is not _END:
            yield item
        self._result.result()  # raises the failure, if any

    async def result(self) -> list[Choice]:
        return await asyncio.shield(self._result)

    def cancel(self) -> None:
        if self._cancel is not None and not self._result.done():
            self._cancel()
        if not self._result.done():
            self._result.cancel()
        # retrieve a failure nobody will read (no "exception was never retrieved" warning)
        if self._result.done() and not self._result.cancelled():
            self._result.exception()


class LocalBackend:
    """The host's own batched transformers engine."""

    kind = "engine"
    supports_logprobs = False
    healthy = True  # in-process: the permission is always asked for while the engine generates

    def __init__(self, engine: GenerationEngine):
        self.engine = engine
        self.tokenizer = engine.tokenizer
        self.context = engine.context
        self.max_n = engine.max_batch

    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        return self.engine.encode(text, add_special_tokens)

    async def start(self, req: GenRequest) -> Generation:
        loop = asyncio.get_running_loop()
        stop_flag = threading.Event() if req.stream else None  # non-streamed rows are not watched per token
        gen = Generation(req.n, stop_flag.set if stop_flag is not None else None)
        on_text = (lambda i, d: loop.call_soon_threadsafe(gen._put, i, d)) if req.stream else None
        try:
            futs = self.engine.submit_group(req.ids, req.n, req.max_tokens, req.temperature, req.top_p, req.stop,
                                            on_text=on_text, cancel=stop_flag)
        except PromptTooLong as exc:
            raise BackendError(400, "context_length_exceeded", str(exc)) from None

        async def finish() -> None:
            try:
                done = await asyncio.gather(*(asyncio.wrap_future(f) for f in futs))
            except Exception as exc:
                gen._fail(BackendError(500, "internal_error", f"the host's engine failed: {exc}"))
                return
            gen._done([Choice(c.text, c.finish_reason, c.completion_tokens) for c in done])

        # the worker calls on_text before it resolves a future: the end is queued after the last delta
        gen._task = asyncio.ensure_future(finish())
        return gen

    async def aclose(self) -> None:
        self.engine.close()


def _merge_logprobs(into: dict | None, part: dict | None) -> dict | None:
    """Concatenate completions-style logprobs ({tokens, token_logprobs, top_logprobs, text_offset}) of chunks."""
    if part is None:
        return into
    if into is None:
        return {k: list(v) if isinstance(v, list) else v for k, v in part.items()}
    for k, v in part.items():
        if isinstance(v, list):
            into.setdefault(k, []).extend(v)
    return into


@dataclass
class UpstreamBackend:
    """An OpenAI-compatible server (vLLM, TGI, SGLang, llama.cpp's server, another OML host in plain mode) at
    `base_url` (ending in /v1), serving `model`; the tokenizer is the model's own (loaded from the model directory)."""

    base_url: str
    model: str
    tokenizer: Any
    context: int
    timeout: float = 600.0
    connect_timeout: float = 5.0
    max_n: int = 16
    kind: str = "upstream"
    supports_logprobs: bool = True
    healthy: bool = False  # the upstream's last answer was a 200: permissions may go out with the requests
    client: httpx.AsyncClient = field(init=False)

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")
        limits = httpx.Limits(max_connections=256, max_keepalive_connections=64)
        self.client = httpx.AsyncClient(timeout=httpx.Timeout(self.timeout, connect=self.connect_timeout),
                                        limits=limits)

    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        return self.tokenizer(text, add_special_tokens=add_special_tokens)["input_ids"]

    def count(self, text: str) -> int:
        return len(self.encode(text, add_special_tokens=False)) if text else 0

    def _where(self) -> str:
        return f"the upstream model server at {self.base_url}"

    async def start(self, req: GenRequest) -> Generation:
        """Send the request; returns once the upstream answered 200. Sets `healthy` (see the module docstring)."""
        body: dict[str, Any] = {"model": self.model, "prompt": req.query, "max_tokens": req.max_tokens,
                                "temperature": req.temperature, "top_p": req.top_p, "n": req.n, "stream": True}
        if req.stop:
            body["stop"] = list(req.stop)
        if req.logprobs is not None:
            body["logprobs"] = req.logprobs
        if req.templated:
            body["add_special_tokens"] = False  # vLLM: q already holds the chat template's special tokens
        try:
            resp = await self.client.send(self.client.build_request("POST", self.base_url + "/completions",
                                                                    json=body), stream=True)
        except httpx.ConnectError as exc:
            self.healthy = False
            raise BackendError(502, "upstream_unavailable", f"{self._where()} refused the connection or is "
                               f"unreachable ({exc.__class__.__name__}); the host's operator must start it; "
                               "retry later") from None
        except httpx.TimeoutException:
            self.healthy = False
            raise BackendError(504, "upstream_timeout", f"{self._where()} did not answer in time; retry later") \
                from None
        except httpx.HTTPError as exc:
            self.healthy = False
            raise BackendError(502, "upstream_error", f"{self._where()} failed: {exc.__class__.__name__}: {exc}") \
                from None
        if resp.status_code != 200:
            raw = await resp.aread()
            await resp.aclose()
            self.healthy = False  # even a 4xx: requests it rejects must not cost a permission each
            raise self._refusal(resp.status_code, raw)
        self.healthy = True
        gen = Generation(req.n)
        task = asyncio.ensure_future(self._read(resp, req, gen))
        gen._cancel = task.cancel
        gen._task = task
        return gen

    def _refusal(self, status: int, raw: bytes) -> BackendError:
        try:
            err = json.loads(raw)["error"]
            msg = err.get("message") if isinstance(err, dict) else str(err)
        except Exception:
            msg = raw[:200].decode("utf-8", "replace").strip() or "(no body)"
        if 400 <= status < 500:
            return BackendError(status if status in (400, 404, 413, 422) else 400, "upstream_rejected",
                                f"{self._where()} rejected the request (HTTP {status}): {msg}")
        return BackendError(502, "upstream_error", f"{self._where()} failed (HTTP {status}): {msg}; retry later")

    async def _read(self, resp: httpx.Response, req: GenRequest, gen: Generation) -> None:
        texts = [""] * req.n
        finish: list[str | None] = [None] * req.n
        logprobs: list[dict | None] = [None] * req.n
        try:
            done = False
            async for line in resp.aiter_lines():
                if done:
                    continue  # after [DONE]: read the body to its end, so the connection is kept alive
                chunk = sse_event(line)
                if chunk is None:
                    continue
                if chunk is DONE:
                    done = True
                    gen._done([Choice(t, f or "stop", self.count(t), lp) for t, f, lp in zip(texts, finish, logprobs)])
                    continue
                if "error" in chunk and not chunk.get("choices"):
                    err = chunk["error"]
                    raise BackendError(502, "upstream_interrupted", f"{self._where()} failed mid-stream: "
                                       f"{err.get('message') if isinstance(err, dict) else err}")
                for ch in chunk.get("choices") or []:
                    i = int(ch.get("index", 0))
                    if not 0 <= i < req.n:
                        raise BackendError(502, "upstream_error", f"{self._where()} sent choice index {i} for n = "
                                           f"{req.n}")
                    piece = ch.get("text") or ""
                    lp = ch.get("logprobs")
                    if piece or lp:
                        texts[i] += piece
                        logprobs[i] = _merge_logprobs(logprobs[i], lp)
                        gen._put(i, piece, lp)
                    if ch.get("finish_reason"):
                        finish[i] = ch["finish_reason"]
            if not done:
                raise BackendError(502, "upstream_interrupted", f"{self._where()} closed the stream before it "
                                   "finished")
        except asyncio.CancelledError:
            gen._fail(BackendError(499, "cancelled", "the request was cancelled"))
            raise
        except BackendError as exc:
            gen._fail(exc)
        except httpx.TimeoutException:
            gen._fail(BackendError(504, "upstream_timeout", f"{self._where()} stopped sending mid-stream"))
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            gen._fail(BackendError(502, "upstream_interrupted", f"{self._where()} broke off the stream: "
                                   f"{exc.__class__.__name__}: {exc}"))
        finally:
            await resp.aclose()

    def pool(self) -> dict | None:
        """Connections to the upstream held in the client's pool: {"in_use", "idle"} (None if httpx hides them).
        Streamed or not, a finished request leaves its connection idle and reusable, never in use."""
        try:
            conns = self.client._transport._pool.connections
            idle = sum(1 for c in conns if c.is_idle())
            return {"in_use": len(conns) - idle, "idle": idle}
        except AttributeError:
            return None

    async def models(self) -> list[str]:
        r = await self.client.get(self.base_url + "/models", timeout=self.connect_timeout + 5)
        r.raise_for_status()
        return [m["id"] for m in r.json().get("data", [])]

    async def aclose(self) -> None:
        await self.client.aclose()
