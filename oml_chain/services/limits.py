"""Request-size and JSON limits shared by the HTTP servers (host, permission service, distribution server).

`BodyLimit` is an ASGI middleware that refuses an oversized body without buffering it: a `Content-Length`
above the limit is answered 413 before a byte of the body is read; a body without one (chunked) is read
up to the limit and refused as soon as it passes it, so a server holds at most the limit plus one received
chunk. The 413 closes the connection (`Connection: close`), so the rest of the body is never read.
A body within the limit is handed to the app as one message, exactly as the client sent it.

`parse_json` decodes a request body and refuses nesting deeper than `MAX_JSON_DEPTH` (the decoder recurses:
50,000 nested brackets would otherwise raise RecursionError, and a few thousand would make every later
walk of the value fragile). Its `JSONBodyError.message` says what to send instead.
"""

from __future__ import annotations

import json
from typing import Any, Awaitable, Callable

MAX_JSON_DEPTH = 64

Render = Callable[[str, str], dict]


def error_body(code: str, message: str) -> dict:
    """The wire protocol's error shape (oml_chain/services/README.md)."""
    return {"error": {"code": code, "message": message}}


class BodyLimit:
    """ASGI middleware: 413 `body_too_large` for a request body over `max_body` bytes (see module doc)."""

    def __init__(self, app: Any, max_body: int, render: Render = error_body):
        self.app, self.max_body, self.render = app, max_body, render

    async def __call__(self, scope: dict, receive: Callable[[], Awaitable[dict]], send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length, chunked = None, False
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                length = value
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        if length is not None and not chunked:
            try:
                size = int(length)
            except ValueError:
                size = -1
            if size > self.max_body:
                await self._refuse(send, f"the body is {size} bytes")
                return
            if size <= 0:  # no body (a malformed length is refused by the HTTP parser before we run)
                await self.app(scope, receive, send)
                return
        elif not chunked:
            await self.app(scope, receive, send)
            return
        parts, total = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            total += len(chunk)
            if total > self.max_body:
                await self._refuse(send, f"the body is more than {self.max_body} bytes")
                return
            parts.append(chunk)
            if not message.get("more_body", False):
                break
        body, replayed = b"".join(parts), False

        async def replay() -> dict:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, send: Callable, what: str) -> None:
        content = json.dumps(self.render("body_too_large", f"{what}; the limit is {self.max_body} bytes: "
                                         "send a smaller request")).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(content)).encode()), (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": content, "more_body": False})


class JSONBodyError(ValueError):
    """The body is not JSON the servers accept; `message` says what to send instead."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def parse_json(raw: bytes, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """The JSON value of `raw`, or JSONBodyError (invalid JSON, or nested deeper than `max_depth`)."""
    try:
        value = json.loads(raw)
    except RecursionError:
        raise JSONBodyError(f"the JSON body is nested too deeply (more than {max_depth} levels are refused); "
                            "send a flat JSON object") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise JSONBodyError(f"the body is not valid JSON ({exc}); send Content-Type: application/json with a "
                            "JSON object") from None
    if json_depth(value, max_depth) > max_depth:
        raise JSONBodyError(f"the JSON body is nested more than {max_depth} levels deep; send a flat JSON object")
    return value


def json_depth(value: Any, stop_above: int) -> int:
    """Nesting depth of a decoded JSON value (a scalar is 0, `[]` is 1), walked without recursion; stops
    early once it exceeds `stop_above`."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        v, depth = stack.pop()
        if isinstance(v, (dict, list)):
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > stop_above:
                    return deepest
            stack.extend((c, depth) for c in (v.values() if isinstance(v, dict) else v))
    return deepest
