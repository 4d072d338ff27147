"""The explorer's web app (FastAPI): server-rendered pages, usable without JavaScript, and a JSON API that
mirrors every page; optionally the indexer as a background task in the same process.

    from oml_chain.explorer.web import ExplorerConfig, run
    run(ExplorerConfig(db_path="explorer.db", rpc_url="http://127.0.0.1:8545", oml=..., factory=...))

Pages and their API twins (README.md, "Explorer"):
    /                                   /api/overview
    /models, /model/{id}                /api/models, /api/model/{id}
    /hosts, /host/{address}             /api/hosts, /api/host/{address}
    /slashes, /slash/{model}/{host}/{index}   /api/slashes, /api/slash/{model}/{host}/{index}
    /prover/{address}                   /api/prover/{address}
                                        /api/status
Errors: 404 {"error": {"code": "not_found", ...}} for an unknown id or address, 400 {"error": {"code":
"bad_request", ...}} for a malformed one or a bad table parameter (sort, dir, page, per_page); pages answer
the same statuses with an HTML error page.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape
from starlette.exceptions import HTTPException

from ..chain.artifacts import REPO_ROOT
from ..chain.dao import format_shares, format_wei
from ..chain.registration import format_duration
from . import pages
from .pages import fmt_time
from .chainread import ChainReader
from .db import ExplorerDB
from .queries import Queries
from .tables import BadRequest, NotFound, jsonable

log = logging.getLogger("oml.explorer.web")
HERE = Path(__file__).resolve().parent
CHART_JS = REPO_ROOT / "node_modules" / "chart.js" / "dist" / "chart.umd.min.js"


@dataclass
class ExplorerConfig:
    db_path: str = "explorer.db"
    rpc_url: str | None = None  # chain reads (model parameters, slash evidence) and the indexer
    oml: str | None = None  # defaults to what the database indexes
    factory: str | None = None
    index: bool = True  # run the indexer in this process (needs rpc_url and oml)
    confirmations: int = 2
    poll_interval: float = 2.0
    start_block: int | None = None  # where an empty database starts (default: OML's deployment block, searched)
    host: str = "127.0.0.1"
    port: int = 8710
    log_level: str = "warning"


# --- formatting (Jinja globals) -------------------------------------------------------------------------------


def fmt_wei(v: Any) -> str:
    return "—" if v is None else format_wei(int(v))


def fmt_bps(v: Any) -> str:
    return "—" if v is None else f"{int(v) / 100:g}%"


def fmt_duration(v: Any) -> str:
    return "—" if v is None else format_duration(int(v))


def fmt_shares(v: Any) -> str:
    return "—" if v is None else format_shares(int(v))


def split_hex(v: str) -> tuple[str, str, str]:
    """(head, middle, tail) of an address or hash: shown as head…tail, the middle kept in the DOM (copyable)."""
    if not isinstance(v, str) or len(v) <= 14:
        return (str(v or ""), "", "")
    return v[:6], v[6:-4], v[-4:]


def hex_html(v: Any, href: str | None = None) -> Markup:
    """An address or hash: head…tail on screen, the whole value in the DOM text and `title`, a copy button
    (shown when JavaScript runs). The same markup as the `hex` macro of macros.html, built here for speed."""
    if not v:
        return Markup('<span class="muted">—</span>')
    v = escape(str(v))
    head, mid, tail = split_hex(str(v))
    inner = f'{head}<span class="elide">{mid}</span>{tail}' if mid else head
    if href:
        inner = f'<a href="{escape(href)}">{inner}</a>'
    button = (f'<button type="button" class="copy" data-copy="{v}" title="Copy {v}" aria-label="Copy"></button>'
              if mid else "")
    return Markup(f'<span class="hex" title="{v}">{inner}</span>{button}')


def value_html(kind: str, v: Any) -> Markup:
    if v is None:
        return Markup('<span class="muted">—</span>')
    if kind == "wei":
        text = fmt_wei(v)
    elif kind == "time":
        text = fmt_time(v)
    elif kind == "bps":
        text = fmt_bps(v)
    elif kind == "shares":
        text = fmt_shares(v)
    elif kind == "duration":
        text = fmt_duration(v)
    elif kind == "pct":
        text = f"{v:.2f}%"
    elif kind == "bool":
        return Markup('<span class="yes">yes</span>' if v else '<span class="no">no</span>')
    elif kind == "model":
        text = f"#{v}"
    else:
        text = str(v)
    return escape(text)


def cell_html(col, row: dict) -> Markup:
    """One table cell's content by its column's kind, linked when the column links."""
    v = row.get(col.key)
    href = col.link(row) if col.link else None
    if col.kind in ("addr", "hash"):
        return hex_html(v, href)
    inner = value_html(col.kind, v)
    if href and v is not None:
        return Markup(f'<a href="{escape(href)}">{inner}</a>')
    return inner


def url_with(request: Request, **changes: Any) -> str:
    params = dict(request.query_params)
    for k, v in changes.items():
        if v is None:
            params.pop(k, None)
        else:
            params[k] = str(v)
    return request.url.path + ("?" + urlencode(params) if params else "")


def _templates() -> Jinja2Templates:
    t = Jinja2Templates(directory=str(HERE / "templates"))
    t.env.globals.update(fmt_time=fmt_time, fmt_wei=fmt_wei, fmt_bps=fmt_bps, fmt_duration=fmt_duration,
                         fmt_shares=fmt_shares, split_hex=split_hex, url_with=url_with, tojson=_tojson,
                         cell_html=cell_html, hex_html=hex_html)
    return t


def _tojson(v: Any) -> str:
    import json

    # Safe inside <script type="application/json">: no "</" can close the element.
    return json.dumps(jsonable(v)).replace("</", "<\\/")


# --- the app ------------------------------------------------------------------------------------------------


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def create_app(config: ExplorerConfig) -> FastAPI:
    templates = _templates()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        st = app.state
        st.db = ExplorerDB.open(config.db_path)
        st.q = Queries(st.db)
        oml = config.oml or st.db.meta_get("oml")
        st.reader = ChainReader(config.rpc_url, oml)
        task = indexer = None
        if config.index and config.rpc_url and oml:
            from .indexer import Indexer

            st.index_db = ExplorerDB.open(config.db_path)
            indexer = Indexer(config.rpc_url, st.index_db, oml, config.factory or st.db.meta_get("factory"),
                              confirmations=config.confirmations, start_block=config.start_block)
            task = asyncio.create_task(indexer.run_async(config.poll_interval))
        st.indexer = indexer
        try:
            yield
        finally:
            if task is not None:
                indexer.stop()
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                indexer.close()
                st.index_db.close()
            st.db.close()

    app = FastAPI(title="OML Explorer", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/static/vendor/chart.umd.min.js", include_in_schema=False)
    def chart_js():
        local = HERE / "static" / "vendor" / "chart.umd.min.js"
        path = CHART_JS if CHART_JS.is_file() else local
        if not path.is_file():
            return Response("chart.js is not installed (npm ci)", status_code=404, media_type="text/plain")
        return FileResponse(path, media_type="application/javascript",
                            headers={"Cache-Control": "public, max-age=86400"})

    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    def html(request: Request, page: pages.Page) -> HTMLResponse:
        for t in page.tables:
            t.apply(request.query_params)
        return templates.TemplateResponse(request, page.template, {"page": page, "d": page.data, "t": {
            t.id: t for t in page.tables}, "nav": request.url.path})

    def api(request: Request, page: pages.Page) -> JSONResponse:
        for t in page.tables:
            t.apply(request.query_params)
        return JSONResponse(page.to_json())

    def both(path: str, build):
        """Register `build(request, **path_params) -> Page` as the HTML page `path` and its twin /api{path}."""
        api_path = "/api/overview" if path == "/" else "/api" + path

        async def page_route(request: Request):
            return html(request, await asyncio.to_thread(build, request.app.state, **request.path_params))

        async def api_route(request: Request):
            return api(request, await asyncio.to_thread(build, request.app.state, **request.path_params))

        app.add_api_route(path, page_route, methods=["GET"], response_class=HTMLResponse)
        app.add_api_route(api_path, api_route, methods=["GET"])

    both("/", lambda st: pages.overview(st.q))
    both("/models", lambda st: pages.models(st.q))
    both("/model/{model_id}", lambda st, model_id: pages.model(st.q, st.reader, model_id))
    both("/hosts", lambda st: pages.hosts(st.q))
    both("/host/{address}", lambda st, address: pages.host(st.q, address))
    both("/slashes", lambda st: pages.slashes(st.q))
    both("/slash/{model_id}/{host}/{index}", lambda st, model_id, host, index: pages.slash(st.q, st.reader, model_id,
                                                                                             host, index))
    both("/prover/{address}", lambda st, address: pages.prover(st.q, address))

    @app.get("/api/status")
    async def status(request: Request):
        return JSONResponse(jsonable(await asyncio.to_thread(request.app.state.q.status)))

    def error_page(request: Request, status_code: int, code: str, message: str):
        if request.url.path.startswith("/api/") or request.url.path == "/api":
            return _error(status_code, code, message)
        return templates.TemplateResponse(request, "error.html", {"status": status_code, "code": code,
                                                                  "message": message, "nav": ""},
                                          status_code=status_code)

    @app.exception_handler(BadRequest)
    async def bad_request(request: Request, exc: BadRequest):
        return error_page(request, 400, "bad_request", str(exc))

    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound):
        return error_page(request, 404, "not_found", str(exc))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        code = "not_found" if exc.status_code == 404 else "method_not_allowed" if exc.status_code == 405 else "error"
        message = f"no such page: {request.url.path}" if exc.status_code == 404 else str(exc.detail)
        return error_page(request, exc.status_code, code, message)

    return app


def uvicorn_config(config: ExplorerConfig, **overrides):
    import uvicorn

    kw = dict(host=config.host, port=config.port, log_level=config.log_level, access_log=False, lifespan="on",
              timeout_graceful_shutdown=5)
    kw.update(overrides)
    return uvicorn.Config(create_app(config), **kw)


def run(config: ExplorerConfig) -> None:
    """Serve (and index, unless config.index is False) until SIGINT/SIGTERM."""
    import uvicorn

    from ..services.validation import check_port_free

    check_port_free("the explorer", config.host, config.port)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    uvicorn.Server(uvicorn_config(config)).run()
