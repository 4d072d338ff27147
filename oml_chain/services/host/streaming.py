"""Client side of a streamed, attested response: collect the SSE chunks and verify the final `oml` chunk.

    from oml_chain.services.host.streaming import collect, verify_streamed
    chunks = list(openai_client.completions.create(..., stream=True))   # or chat.completions
    text, oml = collect(chunks)
    verify_streamed(text, oml, domain, query, attestation_signer)       # True when the host attested `text`

The attestation in the last chunk before `data: [DONE]` is the same as the non-streaming `oml` field: it covers
keccak256(utf8(concatenation of every delta)), so a client verifies exactly the text it displayed.
"""

from __future__ import annotations

import json
from typing import Any, Iterable

from ...chain.eip712 import Domain, permission_hash, text_hash, verify_attestation


DONE = object()  # what `sse_event` returns for `data: [DONE]`


def sse_event(line: str) -> Any:
    """The payload of one line of an OpenAI SSE stream: None for a line without data (blank, comment, `event:`),
    DONE for `data: [DONE]`, else the chunk's parsed JSON (ValueError when it is not JSON)."""
    if not line.startswith("data:"):
        return None
    data = line[5:].strip()
    return DONE if data == "[DONE]" else json.loads(data)


def _get(obj: Any, name: str) -> Any:
    if isinstance(obj, dict):
        return obj.get(name)
    value = getattr(obj, name, None)
    if value is None and getattr(obj, "model_extra", None):
        value = obj.model_extra.get(name)
    return value


def collect(chunks: Iterable[Any]) -> tuple[str, dict | None]:
    """The concatenated text of streamed chunks (completion `text` or chat `delta.content`; dicts or openai
    objects) and the `oml` field of the attestation chunk (None if none came)."""
    parts, oml = [], None
    for chunk in chunks:
        for choice in _get(chunk, "choices") or []:
            delta = _get(choice, "delta")
            piece = _get(delta, "content") if delta is not None else _get(choice, "text")
            if piece:
                parts.append(piece)
        if _get(chunk, "oml") is not None:
            oml = _get(chunk, "oml")
    return "".join(parts), oml


def verify_streamed(text: str | Iterable[str], oml: dict, domain: Domain, query: str | None = None,
                    attestation_signer: str | None = None) -> bool:
    """Whether `oml` attests `text` (a string, or the deltas in order): the response hash is keccak of the
    concatenated text, the query hash matches `query` when given, and the attestation verifies against
    `attestation_signer` (the on-chain one; default: the signer the host names in `oml`, which proves only
    consistency)."""
    if not isinstance(text, str):
        text = "".join(text)
    rh = text_hash(text)
    if oml.get("response_hash") != "0x" + rh.hex():
        return False
    qh = bytes.fromhex(oml["query_hash"][2:])
    if query is not None and qh != text_hash(query):
        return False
    perm = bytes.fromhex(oml["permission"][2:]) if oml.get("permission") else None
    ph = permission_hash(perm)
    if oml.get("permission_hash") != "0x" + ph.hex():
        return False
    signer = attestation_signer or oml["attestation_signer"]
    return verify_attestation(domain, signer, int(oml["model_id"]), oml["host"], qh, rh, ph, int(oml["seq"]),
                              bytes.fromhex(oml["attestation"][2:]))
