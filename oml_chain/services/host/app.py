"""The attested, OpenAI-compatible host server (FastAPI under uvicorn).

    from oml_chain.services.host import HostConfig, create_app, run
    run(HostConfig(model_dir=..., model_id=1, host_key=..., attestation_key=..., rpc_url=..., oml_address=...,
                   permission_url="http://127.0.0.1:8700"))

Per request: parse and validate (body, JSON, fields, prompt length and max_tokens: every refusal happens
here, before anything is charged) → query q → [σ(q) from the permission service ‖ batched generation] →
attestation → response. The permission is requested concurrently with generation (its round trip hides behind the model)
and the response is released only once σ(q) is held; a refused permission discards the generated text and
answers the error (402 escrow_insufficient, …). Endpoints and fields: oml_chain/services/README.md.

`stream: true`: generation starts at once and σ(q) is requested concurrently, but the response (its status
and every chunk) waits for σ(q): a refused permission answers the same error as without streaming and the
generation is cancelled, so no text ever leaves without a permission. Once σ(q) is held, text is sent as the
engine releases it (OpenAI SSE chunks), then the finish chunk, the usage chunk (`stream_options.include_usage`),
and last, before `data: [DONE]`, a chunk whose `oml` field attests the concatenation of all deltas.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import types
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.exceptions import HTTPException
from web3 import Web3

from ...chain.client import OMLContract
from ...chain.eip712 import Signer, text_hash
from ...chain.errors import OMLError
from ...chain.roles import HostClient
from ..limits import BodyLimit, JSONBodyError, parse_json
from ..permission import PermissionClient, PermissionServiceError, chain_price
from ..validation import check_port_free
from .attest import OMLGate
from .backends import BackendError, GenRequest, LocalBackend, UpstreamBackend
from .config import HostConfig
from .guard import ReceiptGuard
from .engine import GenerationEngine
from .openai_api import BadRequest, ChunkShape, parse_chat, parse_completion, resolve_max_tokens, response_body

log = logging.getLogger("oml.host")
MAX_BODY = 1 << 20


def _error(status: int, code: str, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


def create_app(config: HostConfig, started: Any = None) -> FastAPI:
    """The ASGI app; the model loads, and the chain is read, in the lifespan (before serving), unless `started`
    already holds what `_start` sets up (`run()` does that first, so a startup error is one clear exception)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        st = app.state
        st.config = config
        if started is not None:
            for name, value in vars(started).items():
                setattr(st, name, value)
        else:
            await asyncio.to_thread(_start, st, config)
        guard_task = asyncio.create_task(st.guard.run()) if st.guard is not None else None
        try:
            yield
        finally:
            if guard_task is not None:
                guard_task.cancel()
                await asyncio.gather(guard_task, return_exceptions=True)
            await st.backend.aclose()
            if st.permissions is not None:
                await st.permissions.aclose()

    app = FastAPI(title="OML host", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(BodyLimit, max_body=MAX_BODY, render=lambda code, msg: BadRequest(413, code, msg).body())

    @app.exception_handler(BadRequest)
    async def on_bad(request: Request, exc: BadRequest):
        return JSONResponse(exc.body(), status_code=exc.status)

    @app.exception_handler(HTTPException)
    async def on_http(request: Request, exc: HTTPException):
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return _error(exc.status_code, code, f"{request.method} {request.url.path}: {exc.detail}; the host serves "
                      "POST /v1/completions, POST /v1/chat/completions, GET /v1/models")

    @app.exception_handler(Exception)
    async def on_crash(request: Request, exc: Exception):
        log.exception("internal error on %s", request.url.path)
        return _error(500, "internal_error", "the host failed to serve this request; see its log")

    @app.get("/healthz")
    async def healthz(request: Request):
        st = request.app.state
        out = {"ok": True, "model": config.model_name, "model_id": config.model_id, "host": st.host_address,
               "backend": st.backend.kind, "rogue": st.gate is None or st.gate.rogue,
               "permit_calls": st.gate.permit_calls if st.gate is not None else 0}
        engine = getattr(st.backend, "engine", None)
        if engine is not None:
            out.update(generate_calls=engine.generate_calls, requests_served=engine.requests_served,
                       max_batch_seen=engine.max_batch_seen)
            if engine.evade is not None:
                out.update(evade_tau=engine.evade.tau, evade_rank=engine.evade.rank, evade_swapped=engine.evade.swapped)
        else:
            out.update(upstream=st.backend.base_url, upstream_model=st.backend.model,
                       upstream_healthy=st.backend.healthy, upstream_connections=st.backend.pool())
        return out

    @app.get("/v1/models")
    async def models(request: Request):
        return {"object": "list", "data": [{"id": config.model_name, "object": "model", "created": 0,
                                            "owned_by": request.app.state.host_address,
                                            "oml_model_id": config.model_id}]}

    @app.get("/v1/oml/attestation-key")
    async def attestation_key(request: Request):
        st = request.app.state
        if st.gate is None:
            return _error(404, "not_found", "this server runs in plain mode: it attests nothing")
        stake = await asyncio.to_thread(st.chain.get_stake, config.model_id, st.host_address)
        return {"attestation_signer": st.gate.signer.address, "host": st.host_address, "model_id": config.model_id,
                "chain_id": st.domain.chain_id, "oml": st.domain.verifying_contract,
                "onchain_attestation_signer": stake.attestation_signer,
                "matches_chain": stake.attestation_signer.lower() == st.gate.signer.address.lower()}

    @app.post("/v1/completions")
    async def completions(request: Request):
        st = request.app.state
        parsed = parse_completion(await _json(request), config.model_name)
        return await _serve(st, parsed)

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        st = request.app.state
        parsed = parse_chat(await _json(request), config.model_name, st.backend.tokenizer)
        return await _serve(st, parsed)

    return app


def _start(st: Any, config: HostConfig) -> None:
    """Blocking startup: chain reads, the backend (model load, or the upstream's tokenizer), permission client."""
    st.chain = st.domain = st.permissions = st.guard = st.gate = None
    st.host_address = None
    st.backend = _backend(config)
    if config.plain_baseline:
        log.info("serving %s from %s in PLAIN mode: no chain, no permission, no attestation", config.model_name,
                 config.model_dir)
        return
    w3 = Web3(Web3.HTTPProvider(config.rpc_url, request_kwargs={"timeout": 30}))
    st.chain = OMLContract(w3, config.oml_address)
    st.domain = st.chain.domain
    host_signer, att_signer = Signer(config.host_key), Signer(config.attestation_key)
    st.host_address = host_signer.address
    model_info = st.chain.get_model(config.model_id)  # ModelNotFound when the id is wrong
    stake = st.chain.get_stake(config.model_id, st.host_address)
    if stake.attestation_signer.lower() != att_signer.address.lower():
        log.warning("the stake of %s on model %d names attestation signer %s, not this server's key %s: "
                    "attestations will not verify on chain until `oml host stake`/set-attestation-signer",
                    st.host_address, config.model_id, stake.attestation_signer, att_signer.address)
    deposit = None
    if not config.no_permission:
        st.permissions = PermissionClient(config.permission_url, host_signer, config.model_id, st.domain,
                                          model_info.permission_signer, config.state_path,
                                          price=chain_price(st.chain, config.model_id))
        host_client = HostClient(w3, config.oml_address, config.host_key)
        st.guard = ReceiptGuard(host_client, config.model_id, st.permissions, config.receipt_interval)
        if config.auto_deposit_wei:
            deposit = host_client.deposit_escrow
    st.gate = OMLGate(st.domain, config.model_id, st.host_address, att_signer, st.permissions,
                      config.auto_deposit_wei, deposit)
    log.info("serving model %d (%s) %s as host %s, %s", config.model_id, config.model_name,
             f"through the upstream {config.upstream}" if config.upstream else f"from {config.model_dir}",
             st.host_address, "WITHOUT permissions (rogue)" if config.no_permission else "with permissions")


def _backend(config: HostConfig):
    """The built-in engine over the model in `model_dir`, or (gateway) the upstream with the model's tokenizer."""
    from fingerprinting.models import context_length, load_model, load_tokenizer

    if config.upstream:
        tokenizer, _ = load_tokenizer(config.model_dir)
        backend = UpstreamBackend(config.upstream, config.upstream_model or "", tokenizer,
                                  context_length(config.model_dir), timeout=config.upstream_timeout)
        if not config.upstream_model:
            backend.model = _upstream_model(config)
            backend.healthy = True  # it answered: the first permissions may go out with the requests
        return backend
    import torch

    if config.torch_threads:
        torch.set_num_threads(config.torch_threads)
    model, tokenizer = load_model(config.model_dir, device=config.device)
    return LocalBackend(GenerationEngine(model, tokenizer, config.max_batch, config.batch_wait_ms, config.evade_tau,
                                        config.evade_rank))


def _upstream_model(config: HostConfig) -> str:
    """The upstream's model id (its first in GET /v1/models); a clear OMLError when the upstream does not answer."""
    import httpx

    url = config.upstream.rstrip("/") + "/models"
    try:
        r = httpx.get(url, timeout=10)
        r.raise_for_status()
        return r.json()["data"][0]["id"]
    except (httpx.HTTPError, ValueError, KeyError, IndexError, TypeError) as exc:
        raise OMLError(f"cannot read the upstream's model from GET {url} ({exc.__class__.__name__}: {exc}); start "
                       "the upstream first, or pass --upstream-model") from None


async def _json(request: Request) -> Any:
    """The request's JSON (the BodyLimit middleware has already refused a body over MAX_BODY)."""
    try:
        return parse_json(await request.body())
    except JSONBodyError as exc:
        raise BadRequest(400, "bad_json", exc.message) from None


def _permission_error(res: BaseException) -> JSONResponse:
    """The answer for a refused permission (re-raises what is not a permission failure)."""
    if isinstance(res, PermissionServiceError):
        status = res.status if 400 <= res.status < 500 else 503
        return _error(status, res.code, f"the host could not obtain a permission for this query: {res.message}")
    if isinstance(res, OMLError):
        return _error(503, "permission_unavailable", f"the host could not obtain a permission: {res}")
    raise res


def _backend_error(exc: BackendError) -> JSONResponse:
    return _error(exc.status, exc.code, exc.message)


async def _serve(st: Any, parsed):
    backend = st.backend
    gate: OMLGate | None = st.gate
    cfg: HostConfig = st.config
    query_hash = text_hash(parsed.query)  # once: the permission and every attestation sign it
    ids = backend.encode(parsed.query, add_special_tokens=not parsed.templated)
    max_tokens = resolve_max_tokens(parsed.max_tokens, len(ids), backend.context, cfg.max_tokens_limit,
                                    cfg.default_max_tokens)
    if parsed.n > backend.max_n:
        raise BadRequest(400, "invalid_value", f"`n` is at most {backend.max_n} on this host, got {parsed.n}", "n")
    if parsed.logprobs is not None:
        name = "top_logprobs" if parsed.chat else "logprobs"
        if cfg.max_logprobs is None:
            raise BadRequest(400, "logprobs_disabled", "this host does not return logprobs (they reveal how sure the "
                             "model is of each token); send the request without them", "logprobs")
        if not backend.supports_logprobs:
            raise BadRequest(400, "logprobs_unsupported", "this host's built-in engine does not return logprobs; "
                             "send the request without them", "logprobs")
        if parsed.logprobs > cfg.max_logprobs:
            raise BadRequest(400, "invalid_value", f"`{name}` is at most {cfg.max_logprobs} on this host, got "
                             f"{parsed.logprobs}", name)
    req = GenRequest(parsed.query, ids, max_tokens, parsed.temperature, parsed.top_p, parsed.stop, parsed.n,
                     parsed.stream, parsed.templated, parsed.logprobs)
    # every check of ours is behind us: only now is a permission (and so a fee) asked for — at once when the
    # backend is healthy (its round trip hides behind the generation), else once the backend has accepted
    permit = None
    if gate is not None and not gate.rogue and backend.healthy:
        permit = asyncio.ensure_future(gate.permit(query_hash))
    try:
        gen = await backend.start(req)
    except BackendError as exc:
        if permit is None:
            return _error(exc.status, exc.code, exc.message + "; no permission was used for this request")
        spent = await asyncio.gather(permit, return_exceptions=True)
        if isinstance(spent[0], BaseException):
            return _backend_error(exc)
        log.warning("the upstream failed after permission seq %d was requested (spent, nothing attested): %s",
                    spent[0].seq, exc.message)
        return _error(exc.status, exc.code, exc.message + "; the permission obtained for this request was spent "
                      "(the upstream failed while it was requested)")
    permission = None
    if gate is not None and not gate.rogue:
        try:
            permission = await (permit if permit is not None else gate.permit(query_hash))
        except BaseException as exc:
            gen.cancel()  # nothing generated is released: stop the generation
            if isinstance(exc, Exception):
                return _permission_error(exc)
            raise
    if parsed.stream:
        return _stream(st, parsed, gen, query_hash, permission, len(ids))
    try:
        choices = await gen.result()
    except BackendError as exc:
        if permission is not None:
            log.warning("the backend failed after permission seq %d was obtained (spent, nothing attested): %s",
                        permission.seq, exc.message)
        return _backend_error(exc)
    omls = _attest_all(gate, query_hash, [c.text for c in choices], permission)
    body = response_body(cfg.model_name, parsed.chat, choices, len(ids), omls)
    headers = None
    if omls:
        headers = {"X-OML-Attestation": omls[0]["attestation"], "X-OML-Seq": str(omls[0]["seq"]),
                   "X-OML-Permission": omls[0]["permission"] or ""}
    return JSONResponse(body, headers=headers)


def _attest_all(gate: OMLGate | None, query_hash: bytes, texts: list[str], permission) -> list[dict] | None:
    """One attestation per choice, all under the query's one permission (and seq); None in plain mode."""
    if gate is None:
        return None
    seq = permission.seq if permission is not None else gate.next_rogue_seq()
    return [gate.attest(query_hash, t, permission, seq).body() for t in texts]


def _sse(obj: Any) -> bytes:
    return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"


def _stream(st: Any, parsed, gen, query_hash: bytes, permission, prompt_tokens: int) -> StreamingResponse:
    """The SSE response of a generation whose permission is held (module docstring)."""
    gate: OMLGate | None = st.gate
    shape = ChunkShape(st.config.model_name, parsed.chat)
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no",
               "X-OML-Seq": str(permission.seq) if permission is not None else "",
               "X-OML-Permission": "0x" + permission.signature.hex() if permission is not None else ""}

    async def events():
        sent = [""] * parsed.n
        try:
            for i in range(parsed.n):
                first = shape.first(i)
                if first is not None:
                    yield _sse(first)
            try:
                async for index, delta, logprobs in gen.deltas():
                    sent[index] += delta
                    yield _sse(shape.delta(delta, index, logprobs))
                choices = await gen.result()
            except BackendError as exc:
                # the text already sent stays unattested: a client never gets an attestation for a cut response
                log.error("streamed generation failed%s: %s", f" (permission seq {permission.seq} spent)"
                          if permission is not None else "", exc.message)
                yield _sse(shape.error(exc.code, exc.message))
                yield b"data: [DONE]\n\n"
                return
            for i, c in enumerate(choices):
                if sent[i] != c.text:  # the backends guarantee equality; the attestation covers what was sent
                    log.error("streamed deltas of choice %d differ from the final text; attesting the deltas", i)
                yield _sse(shape.finish(c.finish_reason, i))
            if parsed.include_usage:
                yield _sse(shape.usage(prompt_tokens, sum(c.completion_tokens for c in choices)))
            yield _sse(shape.oml(_attest_all(gate, query_hash, sent, permission)))
            yield b"data: [DONE]\n\n"
        finally:
            gen.cancel()  # a client that went away stops the generation (no-op once it has finished)

    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)


def uvicorn_config(config: HostConfig, started: Any = None, **overrides):
    import uvicorn

    kw = dict(host=config.host, port=config.port, log_level=config.log_level, access_log=False, lifespan="on",
              timeout_graceful_shutdown=10)
    kw.update(overrides)
    return uvicorn.Config(create_app(config, started), **kw)


def check_startup(config: HostConfig) -> None:
    """The cheap checks before anything loads, each an OMLError/ModelLoadError of one line: the port is free,
    a local model directory holds a model, the model id is registered on chain."""
    from fingerprinting.modeldir import check_model_dir

    check_port_free("the host server", config.host, config.port)
    if Path(config.model_dir).exists() and not config.upstream:
        check_model_dir(config.model_dir)
    if config.plain_baseline:
        return
    chain = OMLContract(Web3(Web3.HTTPProvider(config.rpc_url, request_kwargs={"timeout": 30})), config.oml_address)
    chain.get_model(config.model_id)  # ModelNotFound (one line, with what to do) for an unknown id


def run(config: HostConfig) -> None:
    """Check, load the model and read the chain, then serve until SIGINT/SIGTERM. A startup failure raises
    here (OMLError / ModelLoadError) before the server starts, never as a traceback from inside uvicorn."""
    import uvicorn

    logging.basicConfig(level=config.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    check_startup(config)
    started = types.SimpleNamespace()
    _start(started, config)
    try:
        uvicorn.Server(uvicorn_config(config, started)).run()
    finally:
        engine = getattr(started.backend, "engine", None)
        if engine is not None:
            engine.close()
