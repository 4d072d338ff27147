"""The permission service as an ASGI app (Starlette), served by uvicorn; settlement runs in its lifespan.

    from oml_chain.services.permission import PermissionConfig, create_app, run
    run(PermissionConfig(rpc_url=..., oml_address=..., signer_key=..., db_path="permission.db"))

Every error is JSON `{"error": {"code", "message", ...}}` (services/README.md); a fault of ours is a 500 with a
generic message, its traceback only in the server log.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from web3 import Web3

from ...chain.eip712 import Domain, Signer
from ...chain.errors import RPCUnavailable
from ...chain.roles import PermissionSignerClient
from ..limits import BodyLimit, JSONBodyError, parse_json
from ..validation import check_port_free
from .chain import ChainView, settle_all
from .config import PermissionConfig
from .errors import ModelUnknown, PermissionRequestInvalid, PermissionServiceError, PermissionServiceUnavailable
from .ledger import Ledger
from .service import PermissionService, _address, _int, parse_request

log = logging.getLogger("oml.permission")

MAX_BODY = 1 << 20  # 1 MiB: a full batch of 1000 items is ~120 kB


class _Json(JSONResponse):
    def render(self, content: Any) -> bytes:
        return json.dumps(content, separators=(",", ":")).encode()


def _error(exc: PermissionServiceError) -> Response:
    return _Json(exc.body(), status_code=exc.status)


async def _json_body(request: Request) -> Any:
    """The request's JSON (the BodyLimit middleware has already refused a body over MAX_BODY)."""
    try:
        return parse_json(await request.body())
    except JSONBodyError as exc:
        raise PermissionRequestInvalid("bad_json", exc.message) from None


class _Settler:
    """Settles every `interval` seconds in a worker thread, and once more on shutdown."""

    def __init__(self, ledger: Ledger, client: PermissionSignerClient, chain: ChainView, interval: float):
        self.ledger, self.client, self.chain, self.interval = ledger, client, chain, interval
        self._lock = asyncio.Lock()

    async def round(self) -> None:
        async with self._lock:  # a shutdown round waits for a periodic one in flight
            try:
                results = await asyncio.to_thread(settle_all, self.ledger, self.client)
            except Exception:  # noqa: BLE001 - never let settlement kill the service
                log.exception("settlement round failed; retrying next round")
                return
            for r in results:
                self.chain.invalidate(r.model_id, r.host)

    async def loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self.round()


def create_app(config: PermissionConfig) -> Starlette:
    """The ASGI app: opens the ledger and chain clients at startup, settles periodically and on shutdown."""
    signer = Signer(config.signer_key)
    state: dict[str, Any] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        reader_w3 = Web3(Web3.HTTPProvider(config.rpc_url, request_kwargs={"timeout": 10}))
        reader = PermissionSignerClient(reader_w3, config.oml_address, signer)
        try:
            chain_id = await asyncio.to_thread(lambda: reader.chain_id)
        except RPCUnavailable:
            log.error("cannot reach the chain at %s; start it or fix --rpc-url", config.rpc_url)
            raise
        domain = Domain(chain_id, config.oml_address)
        ledger = Ledger(config.db_path, config.durability)
        chain = ChainView(reader, config.escrow_ttl)
        settle_w3 = Web3(Web3.HTTPProvider(config.rpc_url, request_kwargs={"timeout": 30}))
        settler = _Settler(ledger, PermissionSignerClient(settle_w3, config.oml_address, config.settlement_key,
                                                          abi=reader.abi), chain, config.settle_interval)
        state["service"] = PermissionService(signer, domain, chain, ledger)
        state["health"] = {"ok": True, "signer": signer.address, "chain_id": chain_id, "oml": config.oml_address}
        task = asyncio.create_task(settler.loop()) if config.settle_interval > 0 else None
        log.info("permission service for signer %s on chain %s, OML %s, ledger %s", signer.address, chain_id,
                 config.oml_address, config.db_path)
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await settler.round()
            ledger.close()

    async def healthz(request: Request) -> Response:
        return _Json(state["health"])

    async def permission(request: Request) -> Response:
        return await _issue(request, batch=False)

    async def permission_batch(request: Request) -> Response:
        return await _issue(request, batch=True)

    async def _issue(request: Request, batch: bool) -> Response:
        service: PermissionService = state["service"]
        req = parse_request(await _json_body(request), batch, config.max_batch)
        issued, count = await service.issue(req)
        return _Json(service.answer(req, issued, count))

    async def host_state(request: Request) -> Response:
        service: PermissionService = state["service"]
        raw_id, raw_host = request.path_params["model_id"], request.path_params["host"]
        try:
            model_id = _int({"model_id": int(raw_id)}, "model_id", lo=1)
        except ValueError:
            raise PermissionRequestInvalid("bad_request", f"model_id in the path must be an integer, got "
                                           f"{raw_id[:40]!r}") from None
        host = _address({"host": raw_host}, "host")
        return _Json(await service.host_state(model_id, host))

    async def on_service_error(request: Request, exc: Exception) -> Response:
        return _error(exc)  # type: ignore[arg-type]

    async def on_rpc_down(request: Request, exc: Exception) -> Response:
        log.warning("chain RPC unavailable: %s", exc)
        return _error(PermissionServiceUnavailable("chain_unavailable", "the service cannot reach its chain RPC "
                                                   "right now; retry shortly"))

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 404:
            return _error(ModelUnknown("not_found", f"no route {request.method} {request.url.path}; see "
                                       "oml_chain/services/README.md"))
        if exc.status_code == 405:
            return _error(ModelUnknown("method_not_allowed", f"{request.method} is not allowed on "
                                       f"{request.url.path}", 405))
        return _error(PermissionRequestInvalid("bad_request", str(exc.detail), exc.status_code))

    async def on_crash(request: Request, exc: Exception) -> Response:
        log.error("internal error on %s %s", request.method, request.url.path, exc_info=exc)
        return _error(PermissionServiceUnavailable("internal_error", "internal error in the permission service; "
                                                   "nothing was charged unless a permission was returned; retry "
                                                   "the same request", 500))

    routes = [Route("/healthz", healthz, methods=["GET"]),
              Route("/v1/permissions", permission, methods=["POST"]),
              Route("/v1/permissions/batch", permission_batch, methods=["POST"]),
              Route("/v1/hosts/{model_id}/{host}", host_state, methods=["GET"])]
    handlers = {PermissionServiceError: on_service_error, RPCUnavailable: on_rpc_down, HTTPException: on_http,
                Exception: on_crash}
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers=handlers)
    app.add_middleware(BodyLimit, max_body=MAX_BODY)
    app.state.oml = state
    return app


def uvicorn_config(config: PermissionConfig, **overrides):
    import uvicorn

    kw = dict(host=config.host, port=config.port, loop="uvloop", http="httptools", log_level=config.log_level,
              access_log=False, lifespan="on", timeout_graceful_shutdown=10)
    kw.update(overrides)
    return uvicorn.Config(create_app(config), **kw)


def run(config: PermissionConfig) -> None:
    """Serve until SIGINT/SIGTERM; the shutdown settles the newest vouchers before exiting."""
    import uvicorn

    logging.basicConfig(level=config.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    check_port_free("the permission service", config.host, config.port)
    uvicorn.Server(uvicorn_config(config)).run()
