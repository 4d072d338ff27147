"""The attested OpenAI-compatible host server: real anvil, real permission service, real uvicorn, tiny model."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import openai
import pytest
from permission_world import ThreadServer, make_config
from server_thread import ServerThread

from oml_chain.chain.anvil import free_port
from oml_chain.chain.eip712 import text_hash, verify_attestation, verify_permission
from oml_chain.services.host import HostConfig, uvicorn_config

pytestmark = pytest.mark.services


class HostServer(ServerThread):
    """The host app under uvicorn in a background thread."""

    def __init__(self, config: HostConfig):
        self.config = config
        super().__init__(uvicorn_config(config, log_level="warning"), config.port, "host server",
                         start_timeout=120, poll=0.05)


def _host_config(world, model_dir, tmp_path, permission_url=None, **over) -> HostConfig:
    kw = dict(model_dir=str(model_dir), model_id=world.model_id, host_key="0x" + world.host.signer.private_key.hex(),
              attestation_key="0x" + world.host.attestation_signer.private_key.hex(),
              rpc_url=world.w3.provider.endpoint_uri, oml_address=world.address, permission_url=permission_url,
              no_permission=permission_url is None, state_path=str(tmp_path / "host.db"), port=free_port(),
              max_batch=8, batch_wait_ms=20, torch_threads=1)
    kw.update(over)
    return HostConfig(**kw)


@pytest.fixture()
def served(staked, tiny_base_dir, tmp_path):
    """A permission service and a host server (with permissions) for the staked host of `world`."""
    perm = ThreadServer(make_config(staked, tmp_path / "ledger.db"))
    host = HostServer(_host_config(staked, tiny_base_dir, tmp_path, perm.url))
    yield staked, host, perm
    host.stop()
    perm.stop()


def _oai(host: HostServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=host.url + "/v1", api_key="unused", max_retries=0, timeout=60)


def _check_attested(world, host_url: str, query: str, text: str, oml: dict, with_permission: bool) -> None:
    key = httpx.get(host_url + "/v1/oml/attestation-key").json()
    onchain = world.host.get_stake(world.model_id, world.host.account).attestation_signer
    assert key["attestation_signer"] == onchain == oml["attestation_signer"] and key["matches_chain"]
    qh, rh = text_hash(query), text_hash(text)
    assert oml["query_hash"] == "0x" + qh.hex() and oml["response_hash"] == "0x" + rh.hex()
    assert oml["model_id"] == world.model_id and oml["host"] == world.host.account
    perm = bytes.fromhex(oml["permission"][2:]) if oml["permission"] else None
    assert (perm is not None) == with_permission
    if perm is not None:
        assert verify_permission(world.host.domain, world.signer.account, world.model_id, world.host.account, qh,
                                 oml["seq"], perm)
        assert oml["permission_hash"] == "0x" + text_hash(perm).hex()
    else:
        assert oml["permission_hash"] == "0x" + "00" * 32
    att = bytes.fromhex(oml["attestation"][2:])
    assert verify_attestation(world.host.domain, onchain, world.model_id, world.host.account, qh, rh,
                              bytes.fromhex(oml["permission_hash"][2:]), oml["seq"], att)
    # the contract's own digest agrees with the one the signature covers
    digest = world.host.call("attestationDigest", world.model_id, world.host.account, qh, rh,
                             bytes.fromhex(oml["permission_hash"][2:]), oml["seq"])
    from oml_chain.chain.eip712 import digest_attestation
    assert digest == digest_attestation(world.host.domain, world.model_id, world.host.account, qh, rh,
                                        bytes.fromhex(oml["permission_hash"][2:]), oml["seq"])


def test_openai_client_gets_attested_permitted_text(served):
    world, host, _ = served
    client = _oai(host)
    [m] = client.models.list().data
    prompt = "The king said to the people"
    raw = client.completions.with_raw_response.create(model=m.id, prompt=prompt, max_tokens=12)
    comp = raw.parse()
    text = comp.choices[0].text
    assert text and comp.usage.completion_tokens > 0 and comp.object == "text_completion"
    oml = comp.model_extra["oml"]
    _check_attested(world, host.url, prompt, text, oml, with_permission=True)
    assert raw.headers["x-oml-attestation"] == oml["attestation"] and raw.headers["x-oml-seq"] == str(oml["seq"])
    assert raw.headers["x-oml-permission"] == oml["permission"]
    # greedy is the default: the same prompt gives the same text (and a new seq)
    again = client.completions.create(model=m.id, prompt=prompt, max_tokens=12)
    assert again.choices[0].text == text and again.model_extra["oml"]["seq"] == oml["seq"] + 1

    chat = client.chat.completions.create(model=m.id, max_tokens=10, messages=[
        {"role": "system", "content": "You are a helpful assistant."}, {"role": "user", "content": prompt}])
    answer = chat.choices[0].message.content
    assert answer and chat.object == "chat.completion"
    _check_attested(world, host.url, "You are a helpful assistant.\n\n" + prompt, answer, chat.model_extra["oml"],
                    with_permission=True)
    state = httpx.get(f"{served[2].url}/v1/hosts/{world.model_id}/{world.host.account}").json()
    assert state["issued"] == 3


def test_concurrent_requests_are_batched(served):
    world, host, _ = served
    client = _oai(host)
    prompts = [f"Story number {i}: once upon a time" for i in range(8)]
    before = httpx.get(host.url + "/healthz").json()
    with ThreadPoolExecutor(8) as pool:
        outs = list(pool.map(lambda p: client.completions.create(model="oml-%d" % world.model_id, prompt=p,
                                                                 max_tokens=8), prompts))
    after = httpx.get(host.url + "/healthz").json()
    assert all(o.choices[0].text for o in outs)
    seqs = sorted(o.model_extra["oml"]["seq"] for o in outs)
    assert seqs == list(range(seqs[0], seqs[0] + 8))  # every query has its own permission
    for p, o in zip(prompts, outs):
        assert o.model_extra["oml"]["query_hash"] == "0x" + text_hash(p).hex()
    calls = after["generate_calls"] - before["generate_calls"]
    assert after["requests_served"] - before["requests_served"] == 8 and calls < 8 and after["max_batch_seen"] > 1
    assert after["permit_calls"] - before["permit_calls"] < 8  # permissions were coalesced into batches too


def test_bad_input_gets_4xx_json(served):
    world, host, _ = served
    name = f"oml-{world.model_id}"
    cases = [
        (dict(content=b"{not json", headers={"content-type": "application/json"}), "/v1/completions", 400, "bad_json"),
        (dict(json={"model": name}), "/v1/completions", 400, "missing_prompt"),
        (dict(json={"model": name, "prompt": "hi", "n": 0}), "/v1/completions", 400, "invalid_value"),
        (dict(json={"model": name, "prompt": "hi", "n": 9}), "/v1/completions", 400, "invalid_value"),  # > max_batch
        (dict(json={"model": name, "prompt": "hi", "logprobs": 2}), "/v1/completions", 400, "logprobs_disabled"),
        (dict(json={"model": name, "messages": [{"role": "user", "content": "x"}], "logprobs": True}),
         "/v1/chat/completions", 400, "logprobs_disabled"),
        (dict(json={"model": name, "prompt": "hi", "stream": "yes"}), "/v1/completions", 400, "invalid_value"),
        (dict(json={"model": "gpt-4", "prompt": "hi"}), "/v1/completions", 404, "model_not_found"),
        (dict(json={"prompt": "hi"}), "/v1/completions", 400, "missing_model"),
        (dict(json={"model": name, "prompt": "hi", "max_tokens": 0}), "/v1/completions", 400, "invalid_value"),
        (dict(json={"model": name, "prompt": "hi", "temperature": "hot"}), "/v1/completions", 400, "invalid_value"),
        (dict(json={"model": name, "messages": []}), "/v1/chat/completions", 400, "missing_messages"),
        (dict(json={"model": name, "messages": [{"role": "wizard", "content": "x"}]}), "/v1/chat/completions", 400,
         "invalid_messages"),
        (dict(json={"model": name, "prompt": "hi " * 5000}), "/v1/completions", 400, "context_length_exceeded"),
        (dict(json={}), "/v1/nothing", 404, "not_found"),
    ]
    for kw, path, status, code in cases:
        r = httpx.post(host.url + path, **kw)
        assert r.status_code == status, (code, r.text)
        err = r.json()["error"]
        assert err["code"] == code and err["message"], r.text
    with pytest.raises(openai.BadRequestError):
        _oai(host).completions.create(model=name, prompt="hi", n=0)


def test_escrow_insufficient_is_402_unless_auto_deposit(staked, tiny_base_dir, tmp_path):
    w = staked
    w.host.request_escrow_withdrawal(w.model_id, 10**18)  # all escrow thawing: nothing spendable
    perm = ThreadServer(make_config(w, tmp_path / "ledger.db", escrow_ttl=0))
    host = HostServer(_host_config(w, tiny_base_dir, tmp_path, perm.url))
    try:
        r = httpx.post(host.url + "/v1/completions", json={"model": f"oml-{w.model_id}", "prompt": "hello"})
        assert r.status_code == 402 and r.json()["error"]["code"] == "escrow_insufficient"
        assert "oml" not in r.json()
    finally:
        host.stop()
    host = HostServer(_host_config(w, tiny_base_dir, tmp_path, perm.url, auto_deposit_wei=10**16, port=free_port()))
    try:
        escrow_before = w.host.get_escrow(w.model_id, w.host.account).balance
        r = httpx.post(host.url + "/v1/completions", json={"model": f"oml-{w.model_id}", "prompt": "hello"})
        assert r.status_code == 200 and r.json()["oml"]["permission"]
        assert w.host.get_escrow(w.model_id, w.host.account).balance == escrow_before + 10**16
    finally:
        host.stop()
        perm.stop()


def test_rogue_mode_serves_without_permission(staked, tiny_base_dir, tmp_path):
    host = HostServer(_host_config(staked, tiny_base_dir, tmp_path, None))
    try:
        prompt = "In the beginning"
        comp = _oai(host).completions.create(model=f"oml-{staked.model_id}", prompt=prompt, max_tokens=6)
        oml = comp.model_extra["oml"]
        assert oml["permission"] is None
        _check_attested(staked, host.url, prompt, comp.choices[0].text, oml, with_permission=False)
    finally:
        host.stop()


def _issued(world, perm) -> int:
    return httpx.get(f"{perm.url}/v1/hosts/{world.model_id}/{world.host.account}").json()["issued"]


def test_tiny_temperatures_decode_greedily(served):
    """Temperatures in (0, 1e-5] overflowed the sampler (500, and the permission was already paid for): they
    decode greedily, and each request is charged exactly once, like any served request."""
    world, host, perm = served
    name, prompt = f"oml-{world.model_id}", "The king said to the people"
    greedy = httpx.post(host.url + "/v1/completions", json={"model": name, "prompt": prompt, "max_tokens": 8})
    assert greedy.status_code == 200, greedy.text
    for t in (5e-324, 1e-45, 1e-38, 1e-5):
        before = _issued(world, perm)
        r = httpx.post(host.url + "/v1/completions",
                       json={"model": name, "prompt": prompt, "max_tokens": 8, "temperature": t}, timeout=60)
        assert r.status_code == 200, (t, r.text)
        assert r.json()["choices"][0]["text"] == greedy.json()["choices"][0]["text"], t
        assert r.json()["oml"]["permission"] and _issued(world, perm) == before + 1
    sampled = httpx.post(host.url + "/v1/completions",
                         json={"model": name, "prompt": prompt, "max_tokens": 8, "temperature": 1.0})
    assert sampled.status_code == 200  # real sampling still works


def test_refused_requests_are_never_charged(served):
    """Every check happens before the permission is asked for: a 4xx costs the host nothing."""
    world, host, perm = served
    name = f"oml-{world.model_id}"
    before = _issued(world, perm)
    deep = b"[" * 50_000 + b"]" * 50_000
    cases = [
        (dict(content=deep, headers={"content-type": "application/json"}), 400, "bad_json"),
        (dict(content=b'{"model": ' + b"[" * 100 + b"]" * 100 + b"}", headers={"content-type": "application/json"}),
         400, "bad_json"),
        (dict(json={"model": name, "prompt": "hi", "max_tokens": 100_000}), 400, "context_length_exceeded"),
        (dict(json={"model": name, "prompt": "hi " * 5000}), 400, "context_length_exceeded"),
        (dict(json={"model": name, "prompt": "hi", "temperature": 2.5}), 400, "invalid_value"),
        (dict(json={"model": name, "prompt": "hi", "max_tokens": -1}), 400, "invalid_value"),
    ]
    for kw, status, code in cases:
        for path in ("/v1/completions", "/v1/chat/completions"):
            if path.endswith("chat/completions") and "json" in kw:  # the same request, as chat
                body = dict(kw["json"])
                kw = dict(json=body | {"messages": [{"role": "user", "content": body.pop("prompt")}]})
            r = httpx.post(host.url + path, **kw)
            assert r.status_code == status, (code, r.text[:300])
            err = r.json()["error"]
            assert err["code"] == code and err["message"] and len(r.content) < 2000, r.text[:300]
    assert _issued(world, perm) == before


def test_max_tokens_limit_is_the_context_left_by_the_prompt(served, tiny_base_dir):
    """The limit is the model's context minus the prompt (the old fixed 512 never fit a 512-token model); the
    400 says what the maximum is for this prompt, and that maximum is served."""
    import json

    world, host, _ = served
    context = json.loads((tiny_base_dir / "config.json").read_text())["max_position_embeddings"]
    name, prompt = f"oml-{world.model_id}", "word " * (context - 20)
    probe = httpx.post(host.url + "/v1/completions", json={"model": name, "prompt": prompt, "max_tokens": 1})
    assert probe.status_code == 200, probe.text
    room = context - probe.json()["usage"]["prompt_tokens"]
    assert 1 <= room < 40
    r = httpx.post(host.url + "/v1/completions", json={"model": name, "prompt": prompt, "max_tokens": room + 1})
    assert r.status_code == 400 and r.json()["error"]["code"] == "context_length_exceeded"
    msg = r.json()["error"]["message"]
    assert f"at most {room} for this prompt" in msg and f"context is {context} tokens" in msg, msg
    for body in ({"max_tokens": room}, {}):  # the maximum, and the default (16) shortened to what fits
        r = httpx.post(host.url + "/v1/completions", json={"model": name, "prompt": prompt, **body}, timeout=60)
        assert r.status_code == 200, r.text
        assert 1 <= r.json()["usage"]["completion_tokens"] <= min(room, 16 if not body else room)
    chat = httpx.post(host.url + "/v1/chat/completions", json={
        "model": name, "messages": [{"role": "user", "content": prompt}], "max_tokens": room + 1})
    assert chat.status_code == 400 and f"at most {room} for this prompt" in chat.json()["error"]["message"]
