"""OpenAI request parsing and response shapes for the host server.

The query q a host attests is the prompt string for `/v1/completions`, and for `/v1/chat/completions` the
prompt text rendered from the messages: with the tokenizer's chat template when it has one, else the message
contents joined by a blank line ("\\n\\n") in order — so a single user message is its content exactly (a
fingerprint key sent through chat is the same query as through completions) and a system prompt followed by
a user message is "system\\n\\nuser", the shape of the fingerprinting templates.

`max_tokens` is checked once the prompt is tokenized (`resolve_max_tokens`): it may be at most the model's
context minus the prompt's tokens (and the host's own cap, if it sets one); without it a request gets the
host's default, shortened to what fits. `temperature` in [0, 2]: at most 1e-5 decodes greedily (engine.py).
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any


class BadRequest(Exception):
    """A 4xx answer: status, machine code and a message saying what to do."""

    def __init__(self, status: int, code: str, message: str, param: str | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.param = status, code, message, param

    def body(self) -> dict:
        err = {"code": self.code, "message": self.message, "type": "invalid_request_error"}
        if self.param:
            err["param"] = self.param
        return {"error": err}


@dataclass
class ParsedRequest:
    query: str
    max_tokens: int | None  # None: the host's default (resolve_max_tokens)
    temperature: float
    top_p: float
    stop: tuple[str, ...]
    chat: bool
    templated: bool  # rendered by the tokenizer's chat template: encode without adding special tokens again
    stream: bool = False
    include_usage: bool = False  # stream_options.include_usage: a usage chunk (empty choices) before the oml chunk
    n: int = 1  # choices: one permission for the query, one attestation per choice
    logprobs: int | None = None  # top logprobs per token asked for (completions `logprobs`, chat `top_logprobs`)


MAX_N = 16
MAX_LOGPROBS = 20


_ROLES = ("system", "developer", "user", "assistant", "tool")


def _show(v: Any) -> str:
    """A client's value quoted in a message, cut short (a request may be up to the body limit)."""
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def _number(body: dict, name: str, default: float, lo: float, hi: float) -> float:
    v = body.get(name)
    if v is None:
        return default
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= v <= hi:
        raise BadRequest(400, "invalid_value", f"`{name}` must be a number in [{lo}, {hi}], got {_show(v)}", name)
    return float(v)


def _common(body: Any, model_name: str, chat: bool) -> dict:
    if not isinstance(body, dict):
        raise BadRequest(400, "invalid_request", "the body must be a JSON object")
    stream = body.get("stream", False)
    if stream is None:
        stream = False
    if not isinstance(stream, bool):
        raise BadRequest(400, "invalid_value", f"`stream` must be true or false, got {_show(stream)}", "stream")
    opts = body.get("stream_options")
    if opts is not None:
        if not stream:
            raise BadRequest(400, "invalid_value", "`stream_options` is only allowed with `stream: true`",
                             "stream_options")
        if not isinstance(opts, dict) or not isinstance(opts.get("include_usage", False), bool):
            raise BadRequest(400, "invalid_value", "`stream_options` must be an object like "
                             "{\"include_usage\": true}", "stream_options")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest(400, "missing_model", f"`model` is required; this host serves {model_name!r}", "model")
    if model != model_name:
        raise BadRequest(404, "model_not_found", f"this host serves {model_name!r}, not {_show(model)}; see GET "
                         "/v1/models", "model")
    n = body.get("n", 1)
    n = 1 if n is None else n
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_N:
        raise BadRequest(400, "invalid_value", f"`n` must be an integer in [1, {MAX_N}], got {_show(n)}", "n")
    if chat:
        want = body.get("logprobs")
        if want is not None and not isinstance(want, bool):
            raise BadRequest(400, "invalid_value", f"`logprobs` must be true or false, got {_show(want)}", "logprobs")
        top = body.get("top_logprobs")
        if top is not None and (isinstance(top, bool) or not isinstance(top, int) or not 0 <= top <= MAX_LOGPROBS):
            raise BadRequest(400, "invalid_value", f"`top_logprobs` must be an integer in [0, {MAX_LOGPROBS}], got "
                             f"{_show(top)}", "top_logprobs")
        if top is not None and not want:
            raise BadRequest(400, "invalid_value", "`top_logprobs` needs `logprobs: true`", "top_logprobs")
        logprobs = (top or 0) if want else None
    else:
        logprobs = body.get("logprobs")
        if logprobs is not None and (isinstance(logprobs, bool) or not isinstance(logprobs, int)
                                     or not 0 <= logprobs <= MAX_LOGPROBS):
            raise BadRequest(400, "invalid_value", f"`logprobs` must be an integer in [0, {MAX_LOGPROBS}], got "
                             f"{_show(logprobs)}", "logprobs")
    names = ("max_completion_tokens", "max_tokens") if chat else ("max_tokens",)
    mt = next((body[k] for k in names if body.get(k) is not None), None)
    if mt is not None and (isinstance(mt, bool) or not isinstance(mt, int) or mt < 1):
        raise BadRequest(400, "invalid_value", f"`max_tokens` must be a positive integer, got {_show(mt)}",
                         "max_tokens")
    stop = body.get("stop")
    if stop is None:
        stops: tuple[str, ...] = ()
    elif isinstance(stop, str):
        stops = (stop,)
    elif isinstance(stop, list) and len(stop) <= 4 and all(isinstance(s, str) for s in stop):
        stops = tuple(stop)
    else:
        raise BadRequest(400, "invalid_value", "`stop` must be a string or a list of at most 4 strings", "stop")
    return dict(max_tokens=mt, temperature=_number(body, "temperature", 0.0, 0.0, 2.0),
                top_p=_number(body, "top_p", 1.0, 1e-6, 1.0), stop=stops, stream=stream,
                include_usage=bool(stream and opts and opts.get("include_usage")), n=n, logprobs=logprobs)


def resolve_max_tokens(requested: int | None, prompt_tokens: int, context: int, cap: int | None,
                       default: int) -> int:
    """The max_tokens a request gets: at most the model's `context` (0 = unknown) minus the prompt's tokens, and
    at most the host's `cap` (None = no cap of its own); `requested` None takes `default`, shortened to fit.
    A BadRequest saying what the maximum is for this prompt otherwise."""
    room = context - prompt_tokens if context else None
    if room is not None and room < 1:
        raise BadRequest(400, "context_length_exceeded", f"the prompt has {prompt_tokens} tokens but the model's "
                         f"context is {context} tokens, which leaves no room for a completion; shorten the prompt",
                         "prompt")
    limits = [x for x in (room, cap) if x is not None]
    allowed = min(limits) if limits else None
    if requested is None:
        return default if allowed is None else min(default, allowed)
    if allowed is not None and requested > allowed:
        if allowed == room:
            raise BadRequest(400, "context_length_exceeded", f"`max_tokens` is at most {allowed} for this prompt "
                             f"(the model's context is {context} tokens and the prompt takes {prompt_tokens}); "
                             f"got {requested}: lower max_tokens or shorten the prompt", "max_tokens")
        raise BadRequest(400, "invalid_value", f"`max_tokens` is at most {allowed} on this host (its cap; this "
                         f"prompt would leave room for {room if room is not None else 'more'}); got {requested}",
                         "max_tokens")
    return requested


def parse_completion(body: Any, model_name: str) -> ParsedRequest:
    common = _common(body, model_name, chat=False)
    prompt = body.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
        prompt = prompt[0]
    if not isinstance(prompt, str):
        raise BadRequest(400, "missing_prompt", "`prompt` is required and must be one string (token-id and "
                         "multi-prompt batches are not supported: send one request per prompt)", "prompt")
    return ParsedRequest(query=prompt, chat=False, templated=False, **common)


def _content(msg: dict, i: int) -> str:
    c = msg.get("content")
    if isinstance(c, str):
        return c
    if isinstance(c, list) and all(isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str)
                                   for p in c):
        return "".join(p["text"] for p in c)
    raise BadRequest(400, "invalid_messages", f"messages[{i}].content must be a string or a list of text parts",
                     "messages")


def parse_chat(body: Any, model_name: str, tokenizer: Any) -> ParsedRequest:
    common = _common(body, model_name, chat=True)
    msgs = body.get("messages")
    if not isinstance(msgs, list) or not msgs:
        raise BadRequest(400, "missing_messages", "`messages` is required: a non-empty list of "
                         "{role, content} objects", "messages")
    clean = []
    for i, m in enumerate(msgs):
        if not isinstance(m, dict) or m.get("role") not in _ROLES:
            raise BadRequest(400, "invalid_messages", f"messages[{i}] must be an object with role one of "
                             f"{', '.join(_ROLES)}", "messages")
        clean.append({"role": m["role"], "content": _content(m, i)})
    if getattr(tokenizer, "chat_template", None):
        query = tokenizer.apply_chat_template(clean, tokenize=False, add_generation_prompt=True)
        return ParsedRequest(query=query, chat=True, templated=True, **common)
    return ParsedRequest(query="\n\n".join(m["content"] for m in clean), chat=True, templated=False, **common)


def chat_logprobs(lp: dict | None) -> dict | None:
    """Completions-style logprobs ({tokens, token_logprobs, top_logprobs}) in the chat shape ({content: [...]})."""
    if lp is None:
        return None
    tops = lp.get("top_logprobs") or []
    content = []
    for k, (tok, val) in enumerate(zip(lp.get("tokens") or [], lp.get("token_logprobs") or [])):
        top = tops[k] if k < len(tops) and isinstance(tops[k], dict) else {}
        content.append({"token": tok, "logprob": val, "bytes": None,
                        "top_logprobs": [{"token": t, "logprob": v, "bytes": None} for t, v in top.items()]})
    return {"content": content}


def response_body(model: str, chat: bool, choices: list, prompt_tokens: int, omls: list[dict] | None) -> dict:
    """The non-streamed body: `choices` are backends.Choice; `omls` the attestation of each choice (None: plain).
    `oml` attests choice 0 (the only one when n = 1); with n > 1, `oml_choices[i]` attests choice i."""
    out = []
    for i, c in enumerate(choices):
        if chat:
            out.append({"index": i, "message": {"role": "assistant", "content": c.text},
                        "logprobs": chat_logprobs(c.logprobs), "finish_reason": c.finish_reason})
        else:
            out.append({"index": i, "text": c.text, "logprobs": c.logprobs, "finish_reason": c.finish_reason})
    body = {"id": ("chatcmpl-" if chat else "cmpl-") + secrets.token_hex(12),
            "object": "chat.completion" if chat else "text_completion", "created": int(time.time()),
            "model": model, "system_fingerprint": None, "choices": out,
            "usage": _usage(prompt_tokens, sum(c.completion_tokens for c in choices)),
            "oml": omls[0] if omls else None}
    if omls and len(omls) > 1:
        body["oml_choices"] = omls
    return body


def _usage(p: int, c: int) -> dict:
    return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}


class ChunkShape:
    """The OpenAI SSE chunks of one streamed response (completions or chat), all with one id and `created`."""

    def __init__(self, model: str, chat: bool):
        self.model, self.chat = model, chat
        self.id = ("chatcmpl-" if chat else "cmpl-") + secrets.token_hex(12)
        self.created = int(time.time())

    def _chunk(self, choices: list, **extra) -> dict:
        return {"id": self.id, "object": "chat.completion.chunk" if self.chat else "text_completion",
                "created": self.created, "model": self.model, "system_fingerprint": None, "choices": choices,
                **extra}

    def _choice(self, index: int, text: str | None, finish: str | None, role: bool = False,
                logprobs: Any = None) -> dict:
        if self.chat:
            delta: dict = {"role": "assistant", "content": text or ""} if role else {}
            if text and not role:
                delta["content"] = text
            return {"index": index, "delta": delta, "logprobs": chat_logprobs(logprobs), "finish_reason": finish}
        return {"index": index, "text": text or "", "logprobs": logprobs, "finish_reason": finish}

    def first(self, index: int = 0) -> dict | None:
        """Chat: the opening chunk of a choice, `delta.role = "assistant"` (and empty content); completions: none."""
        return self._chunk([self._choice(index, "", None, role=True)]) if self.chat else None

    def delta(self, text: str, index: int = 0, logprobs: Any = None) -> dict:
        return self._chunk([self._choice(index, text, None, logprobs=logprobs)])

    def finish(self, finish: str, index: int = 0) -> dict:
        return self._chunk([self._choice(index, None, finish)])

    def usage(self, prompt_tokens: int, completion_tokens: int) -> dict:
        return self._chunk([], usage=_usage(prompt_tokens, completion_tokens))

    def oml(self, omls: list[dict] | None) -> dict:
        """The attestation chunk: `oml` attests choice 0; with n > 1, `oml_choices[i]` attests choice i."""
        if omls and len(omls) > 1:
            return self._chunk([], oml=omls[0], oml_choices=omls)
        return self._chunk([], oml=omls[0] if omls else None)

    def error(self, code: str, message: str) -> dict:
        return {"error": {"code": code, "message": message, "type": "server_error"}}
