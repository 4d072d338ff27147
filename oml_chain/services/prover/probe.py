"""One probe: send a fingerprint key to a host as an ordinary user and check the attested answer.

The request is a plain OpenAI-style `/v1/completions` call (greedy, n = 1), by default not streamed; with
`stream=True` (`oml prove --stream`) it is streamed, the deltas are concatenated and the attestation comes from
the last chunk before `data: [DONE]` — a rogue host may treat the two kinds of request differently. The
answer's `oml` block (services/README.md) must be an attestation by the host's
on-chain attestation signer over exactly the query we sent and the text we got
back; only then can it serve as slash evidence. `classify_permission` then
sorts the permission the host attached the way the contract's `reveal` will:
none or not by any signer of the model (slash), by the current permission
signer (valid: no slash), or by a retired signer (reveal anyway: the contract
opens a dispute the host can only win with a receipt recorded in time).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import httpx

from ...chain.eip712 import Domain, digest_permission, recover, text_hash, verify_attestation
from ...chain.eip712 import permission_hash as perm_hash
from ...chain.errors import OMLError, SignatureError


class HostUnreachable(OMLError, ConnectionError):
    """The host's endpoint did not answer (connection refused, timeout, 5xx)."""


class HostAnswerInvalid(OMLError, ValueError):
    """The host answered, but not with a usable attested completion (the message says what is wrong)."""


@dataclass(frozen=True)
class AttestedAnswer:
    """A verified answer: the text and everything the attestation signs."""

    text: str
    seq: int
    permission: bytes  # b"" when the host served without one
    attestation: bytes
    attestation_signer: str


def _hex_bytes(value: Any, name: str) -> bytes:
    if value is None:
        return b""
    if not isinstance(value, str) or not value.startswith("0x"):
        raise HostAnswerInvalid(f"oml.{name} must be a 0x-hex string, got {value!r:.80}")
    try:
        return bytes.fromhex(value[2:])
    except ValueError as exc:
        raise HostAnswerInvalid(f"oml.{name} is not hex: {value!r:.80}") from exc


def served_model_name(http: httpx.Client, endpoint: str, model_id: int) -> str:
    """The model name to put in a request: the first id of GET /v1/models, else str(model_id)."""
    try:
        r = http.get(endpoint.rstrip("/") + "/v1/models")
        data = r.json().get("data") if r.status_code == 200 else None
        if data and isinstance(data[0], dict) and data[0].get("id"):
            return str(data[0]["id"])
    except (httpx.HTTPError, ValueError, AttributeError):
        pass
    return str(model_id)


def send_probe(http: httpx.Client, endpoint: str, model_name: str, key: str, max_tokens: int,
               stream: bool = False) -> dict:
    """POST the key as an ordinary greedy completion; returns the JSON body (raises HostUnreachable/…Invalid).
    Streamed, the body is rebuilt from the chunks: `choices[0].text` the concatenated deltas, `oml` the last
    chunk's attestation (None when the stream carried none)."""
    url = endpoint.rstrip("/") + "/v1/completions"
    body = {"model": model_name, "prompt": key, "max_tokens": max_tokens, "temperature": 0}
    if stream:
        body["stream"] = True
    try:
        if not stream:
            r = http.post(url, json=body)
            _check_status(url, r)
            try:
                return r.json()
            except ValueError as exc:
                raise HostAnswerInvalid(f"host endpoint {url} answered with non-JSON: {r.text[:200]!r}") from exc
        with http.stream("POST", url, json=body) as r:
            if r.status_code != 200:
                r.read()
                _check_status(url, r)
            return _read_stream(url, r.iter_lines())
    except httpx.HTTPError as exc:
        raise HostUnreachable(f"host endpoint {url} did not answer ({exc.__class__.__name__}: {exc})") from exc


def _check_status(url: str, r: httpx.Response) -> None:
    if r.status_code >= 500:
        raise HostUnreachable(f"host endpoint {url} failed with HTTP {r.status_code}: {r.text[:200]}")
    if r.status_code != 200:
        raise HostAnswerInvalid(f"host endpoint {url} refused the query with HTTP {r.status_code}: {r.text[:200]}")


def _read_stream(url: str, lines) -> dict:
    """The non-streamed shape of a streamed completion: its choice-0 text and its `oml` chunk."""
    from ..host.streaming import DONE, collect, sse_event

    chunks, done = [], False
    for line in lines:
        try:
            chunk = sse_event(line)
        except ValueError as exc:
            raise HostAnswerInvalid(f"host endpoint {url} streamed a chunk that is not JSON: {line[:200]!r}") from exc
        if chunk is None:
            continue
        if chunk is DONE:
            done = True
            break
        if isinstance(chunk, dict) and chunk.get("error"):
            raise HostUnreachable(f"host endpoint {url} failed mid-stream: {str(chunk['error'])[:200]}")
        chunks.append({**chunk, "choices": [c for c in chunk.get("choices") or [] if c.get("index", 0) == 0]})
    if not done:
        raise HostUnreachable(f"host endpoint {url} closed the stream before data: [DONE]")
    text, oml = collect(chunks)
    return {"choices": [{"index": 0, "text": text}], "oml": oml}


def verify_answer(body: dict, domain: Domain, model_id: int, host: str, key: str,
                  signers: list[str]) -> AttestedAnswer:
    """Check that `body` is a completion of `key` attested by one of `signers` for (model_id, host)."""
    try:
        text = body["choices"][0]["text"]
        oml = body["oml"]
    except (KeyError, IndexError, TypeError) as exc:
        raise HostAnswerInvalid(f"answer lacks choices[0].text or the oml block ({exc!r})") from exc
    if not isinstance(text, str) or not isinstance(oml, dict):
        raise HostAnswerInvalid("choices[0].text must be a string and oml an object")
    if int(oml.get("model_id", -1)) != model_id:
        raise HostAnswerInvalid(f"oml.model_id is {oml.get('model_id')!r}, expected {model_id}")
    if str(oml.get("host", "")).lower() != host.lower():
        raise HostAnswerInvalid(f"oml.host is {oml.get('host')!r}, expected the staked host {host}")
    qh, rh = text_hash(key), text_hash(text)
    if _hex_bytes(oml.get("query_hash"), "query_hash") != qh:
        raise HostAnswerInvalid("oml.query_hash is not keccak256 of the prompt we sent")
    if _hex_bytes(oml.get("response_hash"), "response_hash") != rh:
        raise HostAnswerInvalid("oml.response_hash is not keccak256 of the text we received")
    seq = oml.get("seq")
    if not isinstance(seq, int) or seq < 0:
        raise HostAnswerInvalid(f"oml.seq must be a non-negative integer, got {seq!r}")
    permission = _hex_bytes(oml.get("permission"), "permission")
    attestation = _hex_bytes(oml.get("attestation"), "attestation")
    ph = perm_hash(permission or None)
    for signer in signers:
        if verify_attestation(domain, signer, model_id, host, qh, rh, ph, seq, attestation):
            return AttestedAnswer(text, seq, permission, attestation, signer)
    raise HostAnswerInvalid(f"the attestation is not signed by the host's on-chain attestation signer "
                            f"({', '.join(signers)}) over this query, response, permission and seq")


@dataclass(frozen=True)
class PermissionVerdict:
    """What `reveal` will make of the attached permission.

    kind: "none" (no permission), "invalid" (malformed, or recovers to an address that never was the model's
    signer) → slash; "current" (the current signer) → valid, no slash; "retired" (a signer retired at
    `retired_at`) → the reveal opens a dispute.
    """

    kind: str
    signer: str | None = None
    retired_at: int = 0

    @property
    def slashable(self) -> bool:
        return self.kind in ("none", "invalid")

    def describe(self) -> str:
        if self.kind == "none":
            return "no permission"
        if self.kind == "invalid":
            return f"a permission not signed by any permission signer of the model ({self.signer or 'malformed'})"
        if self.kind == "current":
            return f"a valid permission of the current signer {self.signer}"
        return f"a permission of {self.signer}, a permission signer retired at {self.retired_at}"


def recover_permission_signer(domain: Domain, model_id: int, host: str, key: str, answer: AttestedAnswer) -> str | None:
    """The address that signed the attached permission over (model, host, keccak(key), seq); None if malformed."""
    if not answer.permission:
        return None
    try:
        return recover(digest_permission(domain, model_id, host, text_hash(key), answer.seq), answer.permission)
    except SignatureError:
        return None


def classify_permission(domain: Domain, model_id: int, host: str, key: str, answer: AttestedAnswer,
                        current_signer: str, retired_at: Callable[[str], int]) -> PermissionVerdict:
    """Sort the attached permission as `reveal` does; `retired_at(signer)` is `permissionSignerRetiredAt`."""
    if not answer.permission:
        return PermissionVerdict("none")
    who = recover_permission_signer(domain, model_id, host, key, answer)
    if who is None:
        return PermissionVerdict("invalid")
    if who.lower() == current_signer.lower():
        return PermissionVerdict("current", who)
    when = int(retired_at(who))
    return PermissionVerdict("retired", who, when) if when else PermissionVerdict("invalid", who)


def permission_is_valid(domain: Domain, model_id: int, host: str, key: str, answer: AttestedAnswer,
                        current_signer: str, retired_at: Callable[[str], int] | None = None) -> bool:
    """Is the attached permission signed by the current permission signer (so no slash is possible)?"""
    return classify_permission(domain, model_id, host, key, answer, current_signer,
                               retired_at or (lambda _who: 0)).kind == "current"
