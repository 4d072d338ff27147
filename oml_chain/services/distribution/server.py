"""The distribution server (`oml distribute serve`): hands M.oml only to hosts with an active stake.

    from oml_chain.services.distribution import DistributionConfig, create_app, run
    run(DistributionConfig(models={1: "path/to/M.oml"}, rpc_url=..., oml_address=...))

Every request carries a signed, timestamped DownloadRequest (auth.py); the signer must be an active host of
the model on chain (`isActiveHost`, cached `active_cache_s`). `GET /v1/models/{id}/manifest` lists the files
(path, size, sha256) and the model's registered weights hash; `GET /v1/models/{id}/files/{path}` streams one
file in 1 MiB chunks (constant memory), honouring a single `Range` (206 / 416).

Only what a host needs to load the model is listed and served (`HOST_FILES`): the weight files that the
weights hash covers (fingerprinting.models.weight_files), `config.json`, `generation_config.json` and the
tokenizer files. Everything else in the directory stays with the owner: `oml_config.json` (the owner's local
paths and training recipe), registration JSON, notes, and above all the fingerprint file (also refused by
content: `oml-fingerprints` JSON Lines) and dotfiles. Errors are `{"error": {"code", "message"}}` like every
OML service (a non-integer model id is 400 `bad_request`, never FastAPI's 422).
"""

from __future__ import annotations

import fnmatch
import hashlib
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.exceptions import HTTPException
from web3 import Web3

from ...chain.client import OMLContract
from ...chain.errors import ConfigError, ContractLookupError, RPCUnavailable
from ..limits import BodyLimit
from ..validation import check_address, check_port, check_port_free, check_rpc_url
from .auth import MAX_SKEW_S, DownloadAuthError, verify_download_request

log = logging.getLogger("oml.distribution")
CHUNK = 1 << 20
MAX_BODY = 16 << 10  # every route is a GET: a request body is never read, and a large one is refused (413)

# Besides the weight files: the top-level files `transformers` reads to load a causal LM and its tokenizer.
HOST_FILES = ("config.json", "generation_config.json", "*.safetensors.index.json", "pytorch_model*.bin.index.json",
              "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
              "vocab.json", "vocab.txt", "merges.txt", "tokenizer.model", "spiece.model", "*.tiktoken",
              "chat_template.jinja", "chat_template.json")


@dataclass
class DistributionConfig:
    """What the distribution server serves and where it checks stakes; fields validated in __post_init__."""

    models: dict[int, str] = field(metadata={"help": "model id -> M.oml directory (weights, config, tokenizer)"})
    rpc_url: str = field(metadata={"help": "JSON-RPC URL of the chain"})
    oml_address: str = field(metadata={"help": "address of the deployed OML contract"})
    active_cache_s: float = field(default=5.0, metadata={"help": "seconds an isActiveHost answer is reused"})
    max_skew_s: int = field(default=MAX_SKEW_S, metadata={"help": "largest accepted |now − request timestamp|"})
    host: str = field(default="127.0.0.1", metadata={"help": "interface to listen on"})
    port: int = field(default=8800, metadata={"help": "TCP port to listen on"})
    log_level: str = field(default="info", metadata={"help": "log level"})

    def __post_init__(self) -> None:
        if not self.models:
            raise ConfigError("DistributionConfig.models must map at least one model id to its M.oml directory")
        clean = {}
        for mid, d in self.models.items():
            if not isinstance(mid, int) or mid < 1:
                raise ConfigError(f"DistributionConfig.models: model id must be a positive integer, got {mid!r}")
            if not (Path(d) / "config.json").is_file():
                raise ConfigError(f"DistributionConfig.models[{mid}]: {d} is not a model directory (no config.json)")
            clean[mid] = str(Path(d).resolve())
        self.models = clean
        check_rpc_url("DistributionConfig", self.rpc_url)
        self.oml_address = check_address("DistributionConfig", "oml_address", self.oml_address)
        if self.active_cache_s < 0 or self.max_skew_s < 1:
            raise ConfigError("DistributionConfig.active_cache_s must be ≥ 0 and max_skew_s ≥ 1")
        check_port("DistributionConfig", self.port)


class Refused(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers


def _is_secret(rel: Path) -> bool:
    """Dotfiles and dot-directories are never served."""
    return any(part.startswith(".") for part in rel.parts)


def _is_fingerprint_file(p: Path) -> bool:
    """The owner's private fingerprint file (JSON Lines with an `oml-fingerprints` header) must never leak."""
    if p.suffix not in (".jsonl", ".json", ".txt"):
        return False
    with p.open("rb") as f:
        return b"oml-fingerprints" in f.read(512)


def _is_host_file(root: Path, p: Path, weights: set[Path]) -> bool:
    """A file a host needs to load the model: a weight file, or a top-level config/tokenizer file."""
    if p in weights:
        return True
    return p.parent == root and any(fnmatch.fnmatchcase(p.name, pat) for pat in HOST_FILES)


class ModelFiles:
    """The servable files of one model directory (see the module docstring), with sha256 cached by (size, mtime)."""

    def __init__(self, root: str):
        self.root = Path(root)
        self._sha: dict[str, tuple[tuple[int, int], str]] = {}
        self._lock = threading.Lock()

    def _weights(self) -> set[Path]:
        from fingerprinting.errors import ModelLoadError
        from fingerprinting.models import weight_files

        try:
            return set(weight_files(self.root))
        except ModelLoadError:
            return set()

    def _servable(self, p: Path, weights: set[Path]) -> bool:
        return (p.is_file() and not p.is_symlink() and not _is_secret(p.relative_to(self.root))
                and _is_host_file(self.root, p, weights) and not _is_fingerprint_file(p))

    def listing(self) -> list[Path]:
        weights = self._weights()
        return sorted((p for p in self.root.rglob("*") if self._servable(p, weights)),
                      key=lambda p: p.relative_to(self.root).as_posix())

    def resolve(self, rel: str) -> Path:
        """The file for a manifest path, or 404 (no traversal, no secrets, nothing outside the listing)."""
        p = (self.root / rel).resolve()
        if self.root not in p.parents or not self._servable(p, self._weights()):
            raise Refused(404, "file_not_found", f"no file {rel!r} in this model; see the manifest for the paths")
        return p

    def sha256(self, p: Path) -> str:
        st = p.stat()
        key = (st.st_size, st.st_mtime_ns)
        rel = p.relative_to(self.root).as_posix()
        with self._lock:
            hit = self._sha.get(rel)
        if hit and hit[0] == key:
            return hit[1]
        h = hashlib.sha256()
        with p.open("rb") as f:
            for chunk in iter(lambda: f.read(CHUNK), b""):
                h.update(chunk)
        with self._lock:
            self._sha[rel] = (key, h.hexdigest())
        return h.hexdigest()


def parse_range(header: str, size: int) -> tuple[int, int]:
    """(start, end inclusive) of a single `bytes=` range, or Refused 416."""
    unit, _, spec = header.partition("=")
    bad = Refused(416, "range_not_satisfiable", f"Range {header!r} does not fit a file of {size} bytes; send one "
                  "range `bytes=START-[END]` or `bytes=-SUFFIX` inside the file", {"Content-Range": f"bytes */{size}"})
    if unit.strip().lower() != "bytes" or "," in spec or "-" not in spec:
        raise bad
    a, _, b = spec.strip().partition("-")
    try:
        if a == "":
            n = int(b)
            if n <= 0:
                raise bad
            return max(0, size - n), size - 1
        start = int(a)
        end = int(b) if b else size - 1
    except ValueError:
        raise bad from None
    if start < 0 or start >= size or end < start:
        raise bad
    return start, min(end, size - 1)


def _stream(path: Path, start: int, length: int) -> Iterator[bytes]:
    with path.open("rb") as f:
        f.seek(start)
        left = length
        while left > 0:
            chunk = f.read(min(CHUNK, left))
            if not chunk:
                break
            left -= len(chunk)
            yield chunk


def create_app(config: DistributionConfig) -> FastAPI:
    app = FastAPI(title="OML distribution", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(BodyLimit, max_body=MAX_BODY)
    chain = OMLContract(Web3(Web3.HTTPProvider(config.rpc_url, request_kwargs={"timeout": 30})), config.oml_address)
    files = {mid: ModelFiles(d) for mid, d in config.models.items()}
    active: dict[tuple[int, str], tuple[bool, float]] = {}
    app.state.config, app.state.chain, app.state.active_checks = config, chain, 0

    @app.exception_handler(Refused)
    async def on_refused(request: Request, exc: Refused):
        return JSONResponse({"error": {"code": exc.code, "message": exc.message}}, exc.status, headers=exc.headers)

    @app.exception_handler(HTTPException)
    async def on_http(request: Request, exc: HTTPException):
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse({"error": {"code": code,
                                       "message": f"{request.method} {request.url.path}: {exc.detail}; see "
                                                  "GET /v1/models/{id}/manifest"}}, exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, exc: RequestValidationError):
        where = ", ".join(".".join(str(x) for x in e.get("loc", ())[1:]) or "request" for e in exc.errors())
        return JSONResponse({"error": {"code": "bad_request",
                                       "message": f"{request.method} {request.url.path}: invalid {where}; the model "
                                                  "id is a positive integer, e.g. GET /v1/models/1/manifest"}}, 400)

    @app.exception_handler(Exception)
    async def on_crash(request: Request, exc: Exception):
        log.error("internal error on %s %s", request.method, request.url.path, exc_info=exc)
        return JSONResponse({"error": {"code": "internal_error", "message": "the distribution server failed on "
                                       "this request; see its log and retry"}}, 500)

    def authorize(model_id: int, request: Request) -> ModelFiles:
        if model_id not in files:
            raise Refused(404, "model_not_found", f"this server distributes models {sorted(files)}, not {model_id}")
        try:
            host = verify_download_request(chain.domain, model_id, request.headers, max_skew=config.max_skew_s)
        except DownloadAuthError as exc:
            raise Refused(401, exc.code, str(exc)) from None
        key, now = (model_id, host), time.monotonic()
        hit = active.get(key)
        if hit is None or hit[1] < now:
            try:
                ok = chain.is_active_host(model_id, host)
            except RPCUnavailable as exc:
                raise Refused(503, "chain_unavailable", f"cannot check the stake on chain: {exc}") from None
            except ContractLookupError as exc:
                raise Refused(404, "model_not_found", str(exc)) from None
            app.state.active_checks += 1
            active[key] = (ok, now + (config.active_cache_s if ok else min(1.0, config.active_cache_s)))
        else:
            ok = hit[0]
        if not ok:
            raise Refused(403, "not_staked", f"{host} has no active stake on model {model_id}; stake at least the "
                          "model's minimum with `oml host stake` (not unbonding) and ask again")
        return files[model_id]

    @app.get("/healthz")
    def healthz():
        return {"ok": True, "models": sorted(files), "chain_id": chain.chain_id, "oml": config.oml_address}

    @app.get("/v1/models/{model_id}/manifest")
    def manifest(model_id: int, request: Request):
        mf = authorize(model_id, request)
        entries = [{"path": p.relative_to(mf.root).as_posix(), "size": p.stat().st_size, "sha256": mf.sha256(p)}
                   for p in mf.listing()]
        registered = chain.get_model(model_id).weights_hash
        return {"model_id": model_id, "weights_hash": "0x" + bytes(registered).hex(), "files": entries,
                "total_size": sum(e["size"] for e in entries)}

    @app.get("/v1/models/{model_id}/files/{path:path}")
    def file(model_id: int, path: str, request: Request):
        mf = authorize(model_id, request)
        p = mf.resolve(path)
        size = p.stat().st_size
        headers = {"Accept-Ranges": "bytes"}
        rng = request.headers.get("range")
        if rng:
            if size == 0:
                raise Refused(416, "range_not_satisfiable", "the file is empty", {"Content-Range": "bytes */0"})
            start, end = parse_range(rng, size)
            headers.update({"Content-Range": f"bytes {start}-{end}/{size}", "Content-Length": str(end - start + 1)})
            return StreamingResponse(_stream(p, start, end - start + 1), 206, headers,
                                     media_type="application/octet-stream")
        headers["Content-Length"] = str(size)
        return StreamingResponse(_stream(p, 0, size), 200, headers, media_type="application/octet-stream")

    return app


def uvicorn_config(config: DistributionConfig, **overrides):
    import uvicorn

    kw = dict(host=config.host, port=config.port, log_level=config.log_level, access_log=False)
    kw.update(overrides)
    return uvicorn.Config(create_app(config), **kw)


def run(config: DistributionConfig) -> None:
    import uvicorn

    logging.basicConfig(level=config.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    check_port_free("the distribution server", config.host, config.port)
    uvicorn.Server(uvicorn_config(config)).run()
