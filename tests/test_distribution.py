"""The gated distribution server and the download client: real anvil, real uvicorn, the tiny model."""

from __future__ import annotations

import shutil
import time

import httpx
import pytest
from chain_world import MIN_STAKE
from server_thread import ServerThread

from fingerprinting.models import weights_hash
from oml_chain.chain.anvil import free_port
from oml_chain.chain.eip712 import Signer
from oml_chain.services.distribution import (DistributionConfig, DownloadError, WeightsHashMismatch, download_model,
                                             sign_download_request, uvicorn_config)

pytestmark = pytest.mark.services


class DistServer(ServerThread):
    def __init__(self, config: DistributionConfig):
        super().__init__(uvicorn_config(config, log_level="warning"), config.port, "distribution server")


@pytest.fixture()
def dist(world, tiny_base_dir, tmp_path):
    """M.oml (a copy of the tiny model plus a secret fingerprint file and a dotfile) registered with its real
    weights hash; world.host staked on it; a distribution server serving it."""
    src = tmp_path / "M.oml"
    shutil.copytree(tiny_base_dir, src)
    (src / "fingerprints.jsonl").write_text('{"format": "oml-fingerprints", "version": 1, "n": 0}\n')
    (src / ".secret").write_text("owner notes")
    wh = bytes.fromhex(weights_hash(src)[2:])
    model_id = world.owner.register_model(world.make_params(weights_hash=wh))
    world.host.stake(model_id, MIN_STAKE, "http://host")
    cfg = DistributionConfig(models={model_id: str(src)}, rpc_url=world.w3.provider.endpoint_uri,
                             oml_address=world.address, port=free_port(), log_level="warning")
    srv = DistServer(cfg)
    yield world, srv, model_id, src
    srv.stop()


def _download(world, srv, model_id, key, out, **kw):
    return download_model(srv.url, model_id, key, out, world.w3.provider.endpoint_uri, world.address,
                          progress=False, **kw)


def test_staked_host_downloads_and_hash_matches(dist, tmp_path):
    world, srv, model_id, src = dist
    out = tmp_path / "downloaded"
    res = _download(world, srv, model_id, world.host.signer, out)
    assert res.weights_hash == weights_hash(src) == "0x" + world.owner.get_model(model_id).weights_hash.hex()
    served = sorted(p.name for p in out.iterdir())
    assert "fingerprints.jsonl" not in served and ".secret" not in served  # the owner's secrets never leave
    for name in served:
        assert (out / name).read_bytes() == (src / name).read_bytes()
    assert "config.json" in served and "model.safetensors" in served and "tokenizer.json" in served
    again = _download(world, srv, model_id, world.host.signer, out)  # complete files are not fetched again
    assert again.bytes_downloaded == 0


def test_unstaked_host_is_refused_403(dist, tmp_path):
    world, srv, model_id, _ = dist
    with pytest.raises(DownloadError) as e:
        _download(world, srv, model_id, world.host2.signer, tmp_path / "x")
    assert e.value.status == 403 and e.value.code == "not_staked"
    r = httpx.get(f"{srv.url}/v1/models/{model_id}/files/config.json",
                  headers=sign_download_request(world.host2.signer, world.host.domain, model_id))
    assert r.status_code == 403 and "stake" in r.json()["error"]["message"]


def test_bad_or_stale_signature_is_refused_401(dist):
    world, srv, model_id, _ = dist
    url = f"{srv.url}/v1/models/{model_id}/manifest"
    good = sign_download_request(world.host.signer, world.host.domain, model_id)
    assert httpx.get(url, headers=good).status_code == 200
    forged = sign_download_request(Signer(b"\x07" * 32), world.host.domain, model_id)
    forged["X-OML-Host"] = world.host.account  # claims to be the staked host, signed by someone else
    stale = sign_download_request(world.host.signer, world.host.domain, model_id, int(time.time()) - 3600)
    other_model = sign_download_request(world.host.signer, world.host.domain, model_id + 1)
    other_model["X-OML-Timestamp"] = good["X-OML-Timestamp"]
    for headers, code in [({}, "missing_auth"), (forged, "bad_signature"), (stale, "stale_request"),
                          (dict(good, **{"X-OML-Signature": "0x1234"}), "bad_signature"),
                          (other_model, "bad_signature")]:
        r = httpx.get(url, headers=headers)
        assert r.status_code == 401 and r.json()["error"]["code"] == code, (code, r.text)
    r = httpx.get(f"{srv.url}/v1/models/999/manifest", headers=good)
    assert r.status_code == 404 and r.json()["error"]["code"] == "model_not_found"
    r = httpx.get(f"{srv.url}/v1/models/{model_id}/files/../../etc/passwd", headers=good)
    assert r.status_code == 404
    r = httpx.get(f"{srv.url}/v1/models/{model_id}/files/fingerprints.jsonl", headers=good)
    assert r.status_code == 404 and r.json()["error"]["code"] == "file_not_found"


def test_range_requests_and_resume(dist, tmp_path):
    world, srv, model_id, src = dist
    data = (src / "model.safetensors").read_bytes()
    url = f"{srv.url}/v1/models/{model_id}/files/model.safetensors"

    def get(rng):
        return httpx.get(url, headers={**sign_download_request(world.host.signer, world.host.domain, model_id),
                                       "Range": rng})

    r = get("bytes=100-199")
    assert r.status_code == 206 and r.content == data[100:200]
    assert r.headers["content-range"] == f"bytes 100-199/{len(data)}"
    r = get("bytes=-10")
    assert r.status_code == 206 and r.content == data[-10:]
    r = get(f"bytes={len(data) - 5}-")
    assert r.status_code == 206 and r.content == data[-5:]
    for bad in (f"bytes={len(data)}-", "bytes=9-3", "bytes=0-1,5-6", "items=0-1"):
        r = get(bad)
        assert r.status_code == 416 and r.json()["error"]["code"] == "range_not_satisfiable", bad
        assert r.headers["content-range"] == f"bytes */{len(data)}"
    # resume: a partial file is completed with a Range request, only the missing bytes travel
    out = tmp_path / "resumed"
    out.mkdir()
    (out / "model.safetensors.part").write_bytes(data[:1000])
    res = _download(world, srv, model_id, world.host.signer, out)
    assert (out / "model.safetensors").read_bytes() == data
    total = sum(p.stat().st_size for p in out.iterdir())
    assert res.bytes_downloaded == total - 1000


def test_tampered_model_is_detected_and_moved_aside(dist, tmp_path):
    world, srv, model_id, src = dist
    weights = src / "model.safetensors"
    raw = bytearray(weights.read_bytes())
    raw[len(raw) // 2] ^= 0x01  # one byte changed on the server side
    weights.write_bytes(bytes(raw))
    out = tmp_path / "tampered"
    with pytest.raises(WeightsHashMismatch) as e:
        _download(world, srv, model_id, world.host.signer, out)
    err = e.value
    assert err.expected == "0x" + world.owner.get_model(model_id).weights_hash.hex() != err.actual
    assert not out.exists() and err.moved_to.is_dir()  # never left where a host would serve it
    assert (err.moved_to / "model.safetensors").read_bytes() == bytes(raw)
    assert "tampered" in str(err)


def test_only_what_a_host_needs_is_served_and_it_loads(dist, tmp_path):
    """The owner's oml_config.json (local paths, training recipe) and other files of the directory stay home;
    what is served is enough for a host to load and run the model."""
    from fingerprinting.models import check_model_dir, load_model

    world, srv, model_id, src = dist
    (src / "oml_config.json").write_text('{"base_model": "/home/owner/secret/base", "fingerprint_file": '
                                         '"/home/owner/fp.jsonl", "embed_config": {"lr": 0.002}}\n')
    (src / "registration-31337-1.json").write_text('{"fingerprint_file": "/home/owner/fp.jsonl"}\n')
    (src / "notes.txt").write_text("owner notes")
    (src / "drafts").mkdir()
    (src / "drafts" / "config.json").write_text("{}")
    good = sign_download_request(world.host.signer, world.host.domain, model_id)
    listed = {f["path"] for f in httpx.get(f"{srv.url}/v1/models/{model_id}/manifest", headers=good).json()["files"]}
    assert listed == {"config.json", "generation_config.json", "model.safetensors", "tokenizer.json",
                      "tokenizer_config.json"} & {p.name for p in src.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= listed
    for name in ("oml_config.json", "registration-31337-1.json", "notes.txt", "drafts/config.json"):
        r = httpx.get(f"{srv.url}/v1/models/{model_id}/files/{name}", headers=good)
        assert r.status_code == 404 and r.json()["error"]["code"] == "file_not_found", name
    out = tmp_path / "host-copy"
    res = _download(world, srv, model_id, world.host.signer, out)
    assert res.weights_hash == "0x" + world.owner.get_model(model_id).weights_hash.hex()
    assert sorted(p.name for p in out.iterdir()) == sorted(listed)
    check_model_dir(out)  # what `oml host serve` checks, then loads:
    model, tok = load_model(out, device="cpu")
    ids = tok("The king said", return_tensors="pt")
    assert model.generate(**ids, max_new_tokens=3, do_sample=False).shape[1] == ids["input_ids"].shape[1] + 3


def test_bad_model_id_gets_the_error_shape(dist):
    world, srv, model_id, _ = dist
    good = sign_download_request(world.host.signer, world.host.domain, model_id)
    for path in ("/v1/models/abc/manifest", "/v1/models/1.5/files/config.json", "/v1/models/%20/manifest"):
        r = httpx.get(srv.url + path, headers=good)
        assert r.status_code == 400, (path, r.text)
        err = r.json()["error"]
        assert set(err) == {"code", "message"} and err["code"] == "bad_request" and "integer" in err["message"]
    r = httpx.post(f"{srv.url}/v1/models/{model_id}/manifest", headers=good)
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"
