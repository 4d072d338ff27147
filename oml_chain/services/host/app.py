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
import threading
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
from .config import HostConfig
from .guard import ReceiptGuard
from .engine import GenerationEngine, PromptTooLong
from .openai_api import (BadRequest, ChunkShape, chat_body, completion_body, parse_chat, parse_completion,
                         resolve_max_tokens)

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
            st.engine.close()
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
        return {"ok": True, "model": config.model_name, "model_id": config.model_id, "host": st.host_address,
                "rogue": st.gate.rogue, "generate_calls": st.engine.generate_calls,
                "requests_served": st.engine.requests_served, "max_batch_seen": st.engine.max_batch_seen,
                "permit_calls": st.gate.permit_calls}

    @app.get("/v1/models")
    async def models(request: Request):
        return {"object": "list", "data": [{"id": config.model_name, "object": "model", "created": 0,
                                            "owned_by": request.app.state.host_address,
                                            "oml_model_id": config.model_id}]}

    @app.get("/v1/oml/attestation-key")
    async def attestation_key(request: Request):
        st = request.app.state
        stake = await asyncio.to_thread(st.chain.get_stake, config.model_id, st.host_address)
        return {"attestation_signer": st.gate.signer.address, "host": st.host_address, "model_id": config.model_id,
                "chain_id": st.domain.chain_id, "oml": st.domain.verifying_contract,
                "onchain_attestation_signer": stake.attestation_signer,
                "matches_chain": stake.attestation_signer.lower() == st.gate.signer.address.lower()}

    @app.post("/v1/completions")
    async def completions(request: Request):
        st = request.app.state
        parsed = parse_completion(await _json(request), config.model_name)
        return await _serve(st, parsed, completion_body)

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        st = request.app.state
        parsed = parse_chat(await _json(request), config.model_name, st.engine.tokenizer)
        return await _serve(st, parsed, chat_body)

    return app


def _start(st: Any, config: HostConfig) -> None:
    """Blocking startup: chain reads, model load, engine, permission client."""
    import torch

    from fingerprinting.models import load_model

    if config.torch_threads:
        torch.set_num_threads(config.torch_threads)
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
    model, tokenizer = load_model(config.model_dir, device=config.device)
    st.engine = GenerationEngine(model, tokenizer, config.max_batch, config.batch_wait_ms)
    st.permissions = st.guard = None
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
    log.info("serving model %d (%s) from %s as host %s, %s", config.model_id, config.model_name, config.model_dir,
             st.host_address, "WITHOUT permissions (rogue)" if config.no_permission else "with permissions")


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


async def _serve(st: Any, parsed, shape):
    engine: GenerationEngine = st.engine
    gate: OMLGate = st.gate
    query_hash = text_hash(parsed.query)  # once: the permission and the attestation both sign it
    ids = engine.encode(parsed.query, add_special_tokens=not parsed.templated)
    max_tokens = resolve_max_tokens(parsed.max_tokens, len(ids), engine.context, st.config.max_tokens_limit,
                                    st.config.default_max_tokens)
    if parsed.stream:
        return await _serve_stream(st, parsed, ids, max_tokens, query_hash)
    try:
        fut = engine.submit(ids, max_tokens, parsed.temperature, parsed.top_p, parsed.stop)
    except PromptTooLong as exc:
        raise BadRequest(400, "context_length_exceeded", str(exc)) from None
    # every check is behind us: only now is a permission (and so a fee) asked for
    permit = asyncio.ensure_future(gate.permit(query_hash)) if not gate.rogue else None
    try:
        completion = await asyncio.wrap_future(fut)
    finally:
        if permit is not None:
            perm_exc = await asyncio.gather(permit, return_exceptions=True)
    permission = None
    if permit is not None:
        res = perm_exc[0]
        if isinstance(res, BaseException):
            return _permission_error(res)
        permission = res
    if st.config.plain_baseline:  # benchmark baseline: what serving costs without OML
        return JSONResponse(shape(st.config.model_name, completion.text, completion.finish_reason,
                                  completion.prompt_tokens, completion.completion_tokens, None))
    att = gate.attest(query_hash, completion.text, permission)
    body = shape(st.config.model_name, completion.text, completion.finish_reason, completion.prompt_tokens,
                 completion.completion_tokens, att.body())
    return JSONResponse(body, headers=att.headers())


def _sse(obj: Any) -> bytes:
    return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"


async def _serve_stream(st: Any, parsed, ids: list[int], max_tokens: int, query_hash: bytes):
    engine: GenerationEngine = st.engine
    gate: OMLGate = st.gate
    loop = asyncio.get_running_loop()
    deltas: asyncio.Queue = asyncio.Queue()
    cancel = threading.Event()
    try:
        fut = engine.submit(ids, max_tokens, parsed.temperature, parsed.top_p, parsed.stop,
                            on_text=lambda d: loop.call_soon_threadsafe(deltas.put_nowait, d), cancel=cancel)
    except PromptTooLong as exc:
        raise BadRequest(400, "context_length_exceeded", str(exc)) from None
    # the worker calls on_text before it resolves the future: this sentinel comes after the last delta
    fut.add_done_callback(lambda _f: loop.call_soon_threadsafe(deltas.put_nowait, None))
    permission = None
    if not gate.rogue:
        try:
            permission = await gate.permit(query_hash)
        except BaseException as exc:
            cancel.set()  # nothing generated is released: stop the generation at its next token
            if isinstance(exc, Exception):
                return _permission_error(exc)
            raise
    shape = ChunkShape(st.config.model_name, parsed.chat)
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no",
               "X-OML-Seq": str(permission.seq) if permission is not None else "",
               "X-OML-Permission": "0x" + permission.signature.hex() if permission is not None else ""}

    async def events():
        sent: list[str] = []
        try:
            first = shape.first()
            if first is not None:
                yield _sse(first)
            while (d := await deltas.get()) is not None:
                sent.append(d)
                yield _sse(shape.delta(d))
            try:
                completion = fut.result()
            except Exception as exc:
                log.error("streamed generation failed: %s", exc)
                yield _sse(shape.error("internal_error", "the host failed while generating this response; "
                                       "see its log"))
                yield b"data: [DONE]\n\n"
                return
            text = "".join(sent)
            if text != completion.text:  # the engine guarantees equality; the attestation covers what was sent
                log.error("streamed deltas differ from the engine's text; attesting the deltas")
            yield _sse(shape.finish(completion.finish_reason))
            if parsed.include_usage:
                yield _sse(shape.usage(completion.prompt_tokens, completion.completion_tokens))
            oml = None if st.config.plain_baseline else gate.attest(query_hash, text, permission).body()
            yield _sse(shape.oml(oml))
            yield b"data: [DONE]\n\n"
        finally:
            cancel.set()  # a client that went away stops the generation (no-op once it has finished)

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
    if Path(config.model_dir).exists():
        check_model_dir(config.model_dir)
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
        started.engine.close()
