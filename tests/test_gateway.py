"""Gateway mode (`oml host serve --upstream URL`): the attested host in front of a real OpenAI-compatible server.

The upstream is the project's own host server in plain mode (no chain, no permission, no attestation) on loopback:
a real HTTP server generating with the tiny model. Faults are real too: a port where nothing listens, a TCP server
that never answers, an HTTP server that answers 503, and a TCP proxy cut in the middle of a stream.
"""

from __future__ import annotations

import socket
import threading
import time

import httpx
import pytest
from netproxy import TcpProxy
from permission_world import ThreadServer, make_config
from server_thread import ServerThread
from test_host_server import HostServer, _check_attested, _host_config, _oai
from test_host_streaming import _issued

from oml_chain.chain.anvil import free_port
from oml_chain.services.host import HostConfig
from oml_chain.services.host.streaming import DONE, collect, sse_event, verify_streamed

pytestmark = pytest.mark.services


@pytest.fixture(scope="module")
def upstream(tiny_base_dir):
    """A plain OpenAI-compatible server (the built-in engine, no OML) for the whole module."""
    cfg = HostConfig(model_dir=str(tiny_base_dir), plain_baseline=True, port=free_port(), served_model_name="tiny",
                     max_batch=8, batch_wait_ms=5, torch_threads=1)
    server = HostServer(cfg)
    yield server
    server.stop()


def _gateway(world, model_dir, tmp_path, upstream_url: str, permission_url, **over) -> HostServer:
    over.setdefault("upstream_model", "tiny")
    return HostServer(_host_config(world, model_dir, tmp_path, permission_url, upstream=upstream_url + "/v1",
                                   **over))


@pytest.fixture()
def gated(staked, tiny_base_dir, tmp_path, upstream):
    perm = ThreadServer(make_config(staked, tmp_path / "ledger.db"))
    gw = _gateway(staked, tiny_base_dir, tmp_path, upstream.url, perm.url, upstream_model=None)
    yield staked, gw, perm, upstream
    gw.stop()
    perm.stop()


def test_gateway_attests_exactly_the_upstreams_text(gated, tiny_base_dir):
    world, gw, perm, up = gated
    name = f"oml-{world.model_id}"
    health = httpx.get(gw.url + "/healthz").json()
    assert health["backend"] == "upstream" and health["upstream_model"] == "tiny"  # read from GET /v1/models
    prompt = "The king said to the people"
    before = _issued(world, perm)
    direct = _oai(up).completions.create(model="tiny", prompt=prompt, max_tokens=12)
    assert direct.model_extra.get("oml") is None  # the upstream attests nothing
    res = _oai(gw).completions.create(model=name, prompt=prompt, max_tokens=12)
    text = res.choices[0].text
    assert text == direct.choices[0].text and text
    _check_attested(world, gw.url, prompt, text, res.model_extra["oml"], with_permission=True)
    from fingerprinting.models import load_tokenizer
    tok, _ = load_tokenizer(tiny_base_dir)
    # token counts come from the model's tokenizer, not from the upstream
    assert res.usage.prompt_tokens == len(tok(prompt)["input_ids"])
    assert res.usage.completion_tokens == len(tok(text, add_special_tokens=False)["input_ids"])
    assert _issued(world, perm) == before + 1

    # chat: q is the rendered prompt (no chat template here: contents joined by a blank line), which is exactly
    # what the gateway forwards to the upstream's /v1/completions
    system = "You are a helpful assistant."
    msgs = [{"role": "system", "content": system}, {"role": "user", "content": prompt}]
    chat = _oai(gw).chat.completions.create(model=name, messages=msgs, max_tokens=10)
    same = _oai(up).completions.create(model="tiny", prompt=system + "\n\n" + prompt, max_tokens=10)
    assert chat.choices[0].message.content == same.choices[0].text
    _check_attested(world, gw.url, system + "\n\n" + prompt, same.choices[0].text, chat.model_extra["oml"],
                    with_permission=True)

    # streaming through the official client, usage included, attestation verified from the deltas
    chunks = list(_oai(gw).chat.completions.create(model=name, messages=msgs, max_tokens=10, stream=True,
                                                   stream_options={"include_usage": True}))
    streamed, oml = collect(chunks)
    assert streamed == same.choices[0].text and chunks[-2].usage.completion_tokens == chat.usage.completion_tokens
    onchain = world.host.get_stake(world.model_id, world.host.account).attestation_signer
    assert verify_streamed(streamed, oml, world.host.domain, system + "\n\n" + prompt, onchain)

    # n > 1 through the gateway: one permission, one attestation per choice
    many = _oai(gw).completions.create(model=name, prompt=prompt, max_tokens=8, n=2, temperature=1.0)
    assert len(many.model_extra["oml_choices"]) == 2
    for c, att in zip(many.choices, many.model_extra["oml_choices"]):
        assert verify_streamed(c.text, att, world.host.domain, prompt, onchain)
    assert _issued(world, perm) == before + 4

    # every finished request (streamed or not) gave its upstream connection back to the pool, kept alive
    for i in range(6):
        if i % 2:
            list(_oai(gw).completions.create(model=name, prompt=prompt, max_tokens=6, stream=True))
        else:
            _oai(gw).completions.create(model=name, prompt=prompt, max_tokens=6)
    pool = httpx.get(gw.url + "/healthz").json()["upstream_connections"]
    assert pool["in_use"] == 0 and 1 <= pool["idle"] <= 2, pool


def test_stop_sequences_and_limits_reach_the_upstream(gated):
    world, gw, perm, up = gated
    name, prompt = f"oml-{world.model_id}", "Once upon a time there was"
    whole = _oai(up).completions.create(model="tiny", prompt=prompt, max_tokens=20).choices[0].text
    stop = whole[len(whole) // 2:len(whole) // 2 + 3]
    res = _oai(gw).completions.create(model=name, prompt=prompt, max_tokens=20, stop=[stop])
    assert res.choices[0].text == whole[:whole.find(stop)] and res.choices[0].finish_reason == "stop"
    before = _issued(world, perm)
    r = httpx.post(gw.url + "/v1/completions", json={"model": name, "prompt": "hi " * 5000})
    assert r.status_code == 400 and r.json()["error"]["code"] == "context_length_exceeded"  # counted here
    r = httpx.post(gw.url + "/v1/completions", json={"model": name, "prompt": "hi", "logprobs": 3})
    assert r.status_code == 400 and r.json()["error"]["code"] == "logprobs_disabled"
    assert _issued(world, perm) == before


class _Silent:
    """A TCP server that accepts connections and never answers."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)

    def close(self):
        for c in self.conns:
            c.close()
        self.sock.close()


def _failing_app(status: int):
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse

    app = FastAPI()

    @app.post("/v1/completions")
    async def completions():
        return JSONResponse({"error": {"message": "engine overloaded", "code": "overloaded"}}, status_code=status)

    return app


def test_upstream_faults_are_clear_errors_and_cost_no_permission_before_text(staked, tiny_base_dir, tmp_path,
                                                                             upstream):
    import uvicorn

    w = staked
    perm = ThreadServer(make_config(w, tmp_path / "ledger.db"))
    name = f"oml-{w.model_id}"
    body = {"model": name, "prompt": "hello there", "max_tokens": 8}
    silent = _Silent()
    port = free_port()
    broken = ServerThread(uvicorn.Config(_failing_app(503), port=port, log_level="warning"), port, "503 server")
    cases = [(f"http://127.0.0.1:{free_port()}", 502, "upstream_unavailable", {}),
             (f"http://127.0.0.1:{silent.port}", 504, "upstream_timeout", {"upstream_timeout": 1.0}),
             (broken.url, 502, "upstream_error", {}),
             (upstream.url, 400, "upstream_rejected", {"max_logprobs": 5})]  # the plain engine has no logprobs
    try:
        for url, status, code, over in cases:
            gw = _gateway(w, tiny_base_dir, tmp_path, url, perm.url, port=free_port(), **over)
            try:
                req = dict(body, logprobs=2) if code == "upstream_rejected" else body
                r = httpx.post(gw.url + "/v1/completions", json=req, timeout=30)
                assert r.status_code == status, r.text
                err = r.json()["error"]
                assert err["code"] == code and "no permission was used" in err["message"].lower(), err
                s = httpx.post(gw.url + "/v1/completions", json=dict(req, stream=True), timeout=30)
                assert s.status_code == status and s.json()["error"]["code"] == code
                assert _issued(w, perm) == 0  # refused before any permission was asked for
            finally:
                gw.stop()
    finally:
        silent.close()
        broken.stop()
        perm.stop()


def test_a_stream_cut_midway_is_an_error_and_is_never_attested(staked, tiny_base_dir, tmp_path, upstream):
    w = staked
    perm = ThreadServer(make_config(w, tmp_path / "ledger.db"))
    proxy = TcpProxy(int(upstream.url.rsplit(":", 1)[1])).start()
    gw = _gateway(w, tiny_base_dir, tmp_path, proxy.url, perm.url)
    name = f"oml-{w.model_id}"
    try:
        events = []
        with httpx.stream("POST", gw.url + "/v1/completions", timeout=60,
                          json={"model": name, "prompt": "Once upon a time", "max_tokens": 200, "stream": True}) as r:
            assert r.status_code == 200
            for line in r.iter_lines():
                if (e := sse_event(line)) is None:
                    continue
                events.append("[DONE]" if e is DONE else e)
                if len(events) == 2:
                    proxy.stop()  # the upstream connection dies mid-stream
        assert events[-1] == "[DONE]"
        err = events[-2]["error"]
        assert err["code"] == "upstream_interrupted", err
        assert not any(isinstance(e, dict) and e.get("oml") for e in events)  # no attestation for a cut text
        assert _issued(w, perm) == 1  # the permission was spent: the README says so

        # non-streamed: the gateway answers 502 and attests nothing
        proxy.start()
        done = {}

        def call():
            done["r"] = httpx.post(gw.url + "/v1/completions", timeout=60,
                                   json={"model": name, "prompt": "Once upon a time", "max_tokens": 200})

        t = threading.Thread(target=call)
        t.start()
        deadline = time.monotonic() + 30
        while _issued(w, perm) < 2 and time.monotonic() < deadline:  # the permission is held: text is flowing
            time.sleep(0.01)
        proxy.stop()
        t.join(60)
        r = done["r"]
        assert r.status_code == 502 and r.json()["error"]["code"] == "upstream_interrupted", r.text
        assert "oml" not in r.json()
    finally:
        gw.stop()
        proxy.stop()
        perm.stop()


def test_an_outage_costs_at_most_the_permissions_in_flight_when_it_begins(staked, tiny_base_dir, tmp_path, upstream):
    """A healthy upstream gets the permission request at the same time as the query; once it fails, the gateway
    waits for the upstream's answer before asking, until a request succeeds again."""
    w = staked
    perm = ThreadServer(make_config(w, tmp_path / "ledger.db"))
    proxy = TcpProxy(int(upstream.url.rsplit(":", 1)[1])).start()
    gw = _gateway(w, tiny_base_dir, tmp_path, proxy.url, perm.url, upstream_model=None)  # probed: healthy
    body = {"model": f"oml-{w.model_id}", "prompt": "hello there", "max_tokens": 4}
    try:
        assert httpx.post(gw.url + "/v1/completions", json=body, timeout=30).status_code == 200
        assert _issued(w, perm) == 1
        proxy.stop()
        r = httpx.post(gw.url + "/v1/completions", json=body, timeout=30)
        assert r.status_code == 502 and r.json()["error"]["code"] == "upstream_unavailable"
        assert "was spent" in r.json()["error"]["message"] and _issued(w, perm) == 2  # in flight when it failed
        for stream in (False, True, False):
            r = httpx.post(gw.url + "/v1/completions", json=dict(body, stream=stream), timeout=30)
            assert r.status_code == 502 and "no permission was used" in r.json()["error"]["message"]
        assert _issued(w, perm) == 2  # nothing more while the outage lasts
        proxy.start()
        for _ in range(2):  # the first asks after the upstream answered, the next at once again
            res = httpx.post(gw.url + "/v1/completions", json=body, timeout=30)
            assert res.status_code == 200 and res.json()["oml"]["permission"]
        assert _issued(w, perm) == 4
    finally:
        gw.stop()
        proxy.stop()
        perm.stop()
