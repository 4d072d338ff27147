"""Download M.oml from a distribution server and check it against the model's registered weights hash.

    from oml_chain.services.distribution import download_model
    result = download_model("http://dist:8800", model_id=1, host_key="0x…", out_dir="models/1",
                            rpc_url="http://127.0.0.1:8545", oml_address="0x…")

Every request is freshly signed (a DownloadRequest with the current time). A file already complete with the
manifest's sha256 is kept; a shorter one is resumed with `Range: bytes=<size>-` and written to
`<path>.part` until complete. After all files are in place the directory's `weights_hash` (fingerprinting.models)
is compared with the model's `weightsHash` on chain — never with what the server claims. On a mismatch the
directory is moved aside to `<out_dir>.rejected-<unix time>` (kept for inspection, never served) and
`WeightsHashMismatch` is raised.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import httpx
from web3 import Web3

from ...chain.client import OMLContract
from ...chain.eip712 import Signer
from ...chain.errors import OMLError
from .auth import sign_download_request

CHUNK = 1 << 20


class DownloadError(OMLError, RuntimeError):
    """The download failed or the server refused it; the message says why and what to do."""

    def __init__(self, message: str, status: int | None = None, code: str | None = None):
        super().__init__(message)
        self.status, self.code = status, code


class WeightsHashMismatch(DownloadError):
    """The downloaded weights do not hash to the model's registered weightsHash: a tampered or wrong model."""

    def __init__(self, message: str, expected: str, actual: str, moved_to: Path):
        super().__init__(message, code="weights_hash_mismatch")
        self.expected, self.actual, self.moved_to = expected, actual, moved_to


@dataclass(frozen=True)
class DownloadResult:
    model_dir: Path
    weights_hash: str  # equals the on-chain weightsHash
    files: int
    bytes_downloaded: int  # bytes fetched in this call (resumed files count only the missing part)


def _raise_for(r: httpx.Response, what: str) -> None:
    if r.status_code < 400:
        return
    try:
        err = r.json()["error"]
        code, msg = err.get("code"), err.get("message")
    except (ValueError, KeyError, TypeError):
        code, msg = None, r.text[:200]
    raise DownloadError(f"the distribution server refused {what} (HTTP {r.status_code} {code}): {msg}",
                        r.status_code, code)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def _safe_path(root: Path, rel: str) -> Path:
    pp = PurePosixPath(rel)
    if pp.is_absolute() or ".." in pp.parts or not pp.parts:
        raise DownloadError(f"the manifest names an unsafe path {rel!r}; refusing to write outside {root}")
    return root.joinpath(*pp.parts)


def download_model(server_url: str, model_id: int, host_key: str | bytes | Signer, out_dir: str | Path,
                   rpc_url: str, oml_address: str, *, progress: bool = True, timeout: float = 60.0) -> DownloadResult:
    """Fetch the model's files into `out_dir` (resuming partial files) and verify the on-chain weights hash."""
    from tqdm import tqdm

    from fingerprinting.models import weights_hash

    signer = host_key if isinstance(host_key, Signer) else Signer(host_key)
    chain = OMLContract(Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": 30})), oml_address)
    domain = chain.domain
    expected = "0x" + bytes(chain.get_model(model_id).weights_hash).hex()
    base = server_url.rstrip("/") + f"/v1/models/{model_id}"
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    fetched = 0
    with httpx.Client(timeout=timeout) as http:
        try:
            r = http.get(base + "/manifest", headers=sign_download_request(signer, domain, model_id))
        except httpx.TransportError as exc:
            raise DownloadError(f"cannot reach the distribution server at {server_url} ({exc}); check the URL") from exc
        _raise_for(r, "the manifest")
        manifest = r.json()
        total = int(manifest["total_size"])
        bar = tqdm(total=total, unit="B", unit_scale=True, desc=f"model {model_id}", disable=not progress)
        try:
            for entry in manifest["files"]:
                path, size, sha = entry["path"], int(entry["size"]), entry["sha256"]
                dest = _safe_path(out, path)
                if dest.is_file() and dest.stat().st_size == size and _sha256(dest) == sha:
                    bar.update(size)
                    continue
                dest.parent.mkdir(parents=True, exist_ok=True)
                part = dest.with_name(dest.name + ".part")
                have = part.stat().st_size if part.is_file() else 0
                if have > size:
                    part.unlink()
                    have = 0
                bar.update(have)
                if have < size:
                    headers = sign_download_request(signer, domain, model_id)
                    if have:
                        headers["Range"] = f"bytes={have}-"
                    with http.stream("GET", f"{base}/files/{path}", headers=headers) as resp:
                        if resp.status_code >= 400:
                            resp.read()
                        _raise_for(resp, f"file {path}")
                        if have and resp.status_code != 206:
                            have = 0  # the server ignored the range: start over
                        with part.open("ab" if have else "wb") as f:
                            for chunk in resp.iter_bytes(CHUNK):
                                f.write(chunk)
                                fetched += len(chunk)
                                bar.update(len(chunk))
                got = _sha256(part)
                if got != sha:
                    part.unlink()
                    raise DownloadError(f"{path} has sha256 {got} but the manifest says {sha}; the partial file "
                                        "was removed, run the download again")
                part.replace(dest)
        finally:
            bar.close()
    actual = weights_hash(out)
    if actual != expected:
        moved = out.with_name(f"{out.name}.rejected-{int(time.time())}")
        out.rename(moved)
        raise WeightsHashMismatch(
            f"the downloaded weights hash to {actual} but model {model_id} is registered with {expected}: the "
            f"server sent a different or tampered model. Nothing will serve it: the files were moved to {moved}; "
            "ask the model owner for a trustworthy distribution server", expected, actual, moved)
    return DownloadResult(out, actual, len(manifest["files"]), fetched)
