"""Streaming (`stream: true`) from the host server's built-in engine: real anvil, real permission service, real
uvicorn, the tiny fingerprinted model; the official `openai` client reads the stream."""

from __future__ import annotations

import time

import httpx
import openai
import pytest
from permission_world import ThreadServer, make_config
from test_host_server import HostServer, _check_attested, _host_config, _issued, _oai

from oml_chain.services.host.streaming import DONE, collect, sse_event, verify_streamed

pytestmark = pytest.mark.services


@pytest.fixture()
def served(staked, fingerprinted_tiny, tmp_path):
    perm = ThreadServer(make_config(staked, tmp_path / "ledger.db"))
    host = HostServer(_host_config(staked, fingerprinted_tiny.model_dir, tmp_path, perm.url))
    yield staked, host, perm
    host.stop()
    perm.stop()


def _raw_events(host, path: str, body: dict) -> tuple[int, list, list[float]]:
    """(status, parsed SSE data items — '[DONE]' kept as the string —, arrival times)."""
    events, times = [], []
    with httpx.stream("POST", host.url + path, json=body, timeout=60) as r:
        if r.status_code != 200:
            r.read()
            return r.status_code, [r.json()], []
        assert r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if (e := sse_event(line)) is not None:
                events.append("[DONE]" if e is DONE else e)
                times.append(time.monotonic())
    return 200, events, times


def test_openai_client_streams_attested_completions_and_chat(served):
    world, host, perm = served
    client = _oai(host)
    name, prompt = f"oml-{world.model_id}", "The king said to the people"
    before = _issued(world, perm)
    chunks = list(client.completions.create(model=name, prompt=prompt, max_tokens=12, stream=True,
                                            stream_options={"include_usage": True}))
    assert all(c.object == "text_completion" for c in chunks)
    text, oml = collect(chunks)
    assert text and oml is not None
    assert chunks[-1].model_extra["oml"] == oml and chunks[-1].choices == []  # the oml chunk is last
    usage = chunks[-2].usage
    assert chunks[-2].choices == [] and usage.completion_tokens > 0 and usage.prompt_tokens > 0
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] in ("length", "stop")
    _check_attested(world, host.url, prompt, text, oml, with_permission=True)
    onchain = world.host.get_stake(world.model_id, world.host.account).attestation_signer
    assert verify_streamed(text, oml, world.host.domain, prompt, onchain)
    assert verify_streamed([c.choices[0].text for c in chunks if c.choices], oml, world.host.domain, prompt)
    assert not verify_streamed(text + "x", oml, world.host.domain, prompt, onchain)
    assert not verify_streamed(text, oml, world.host.domain, prompt + "x", onchain)
    assert _issued(world, perm) == before + 1  # exactly one permission per streamed request

    # (b) the streamed text is the non-streamed text of the same greedy request
    plain = client.completions.create(model=name, prompt=prompt, max_tokens=12)
    assert plain.choices[0].text == text and plain.usage.completion_tokens == usage.completion_tokens

    system = "You are a helpful assistant."
    msgs = [{"role": "system", "content": system}, {"role": "user", "content": prompt}]
    chat = list(client.chat.completions.create(model=name, messages=msgs, max_tokens=10, stream=True))
    assert all(c.object == "chat.completion.chunk" for c in chat)
    assert chat[0].choices[0].delta.role == "assistant"
    answer, chat_oml = collect(chat)
    assert answer and chat[-1].model_extra["oml"] == chat_oml
    _check_attested(world, host.url, system + "\n\n" + prompt, answer, chat_oml, with_permission=True)
    assert verify_streamed(answer, chat_oml, world.host.domain, system + "\n\n" + prompt, onchain)
    plain_chat = client.chat.completions.create(model=name, messages=msgs, max_tokens=10)
    assert plain_chat.choices[0].message.content == answer
    assert _issued(world, perm) == before + 4


def test_raw_sse_order_chunks_and_timing(served):
    world, host, perm = served
    name, prompt = f"oml-{world.model_id}", "Once upon a time there was"
    before = _issued(world, perm)
    status, events, times = _raw_events(host, "/v1/completions", {
        "model": name, "prompt": prompt, "max_tokens": 16, "stream": True,
        "stream_options": {"include_usage": True}})
    assert status == 200 and events[-1] == "[DONE]"
    oml_chunk, usage_chunk, finish_chunk = events[-2], events[-3], events[-4]
    assert "oml" in oml_chunk and oml_chunk["choices"] == [] and oml_chunk["oml"]["permission"]
    assert usage_chunk["choices"] == [] and usage_chunk["usage"]["completion_tokens"] == 16
    assert finish_chunk["choices"][0]["finish_reason"] == "length" and finish_chunk["choices"][0]["text"] == ""
    content = [(e, t) for e, t in zip(events, times) if isinstance(e, dict) and e.get("choices")
               and e["choices"][0]["text"]]
    # (d) the text arrives in several chunks, as it is generated, not in one piece at the end
    assert len(content) > 1
    assert content[0][1] < content[-1][1]
    assert len({e["id"] for e in events[:-1]}) == 1
    text = "".join(e["choices"][0]["text"] for e, _ in content)
    _check_attested(world, host.url, prompt, text, oml_chunk["oml"], with_permission=True)
    assert _issued(world, perm) == before + 1


def test_stop_sequence_ends_the_stream_early(served):
    world, host, perm = served
    client = _oai(host)
    name, prompt = f"oml-{world.model_id}", "The king said to the people"
    full = client.completions.create(model=name, prompt=prompt, max_tokens=24)
    assert full.usage.completion_tokens == 24, "the probe must run to max_tokens"
    whole = full.choices[0].text
    at = len(whole) // 2
    stop = whole[at:at + 3]
    cut = whole.find(stop)
    assert cut > 0
    before = _issued(world, perm)
    chunks = list(client.completions.create(model=name, prompt=prompt, max_tokens=24, stop=[stop, "\x00never"],
                                            stream=True, stream_options={"include_usage": True}))
    text, oml = collect(chunks)
    assert text == whole[:cut] and stop not in text
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-2].usage.completion_tokens < 24  # the engine stopped generating at the stop sequence
    _check_attested(world, host.url, prompt, text, oml, with_permission=True)
    # the non-streamed request with the same stop is the same text and stops as early
    same = client.completions.create(model=name, prompt=prompt, max_tokens=24, stop=[stop, "\x00never"])
    assert same.choices[0].text == text and same.usage.completion_tokens == chunks[-2].usage.completion_tokens
    assert _issued(world, perm) == before + 2


def test_refused_permission_streams_no_text(staked, fingerprinted_tiny, tmp_path):
    w = staked
    w.host.request_escrow_withdrawal(w.model_id, 10**18)  # all escrow thawing: nothing spendable
    perm = ThreadServer(make_config(w, tmp_path / "ledger.db", escrow_ttl=0))
    host = HostServer(_host_config(w, fingerprinted_tiny.model_dir, tmp_path, perm.url))
    try:
        name = f"oml-{w.model_id}"
        status, events, _ = _raw_events(host, "/v1/completions",
                                        {"model": name, "prompt": "hello there", "max_tokens": 16, "stream": True})
        assert status == 402 and events[0]["error"]["code"] == "escrow_insufficient"
        with pytest.raises(openai.APIStatusError) as err:
            for _ in _oai(host).chat.completions.create(model=name, stream=True, max_tokens=16,
                                                        messages=[{"role": "user", "content": "hello"}]):
                pytest.fail("a chunk arrived without a permission")
        assert err.value.status_code == 402
        assert _issued(w, perm) == 0
        health = httpx.get(host.url + "/healthz").json()
        assert health["requests_served"] == 2  # both generations were cancelled and ended
    finally:
        host.stop()
        perm.stop()


def test_n_choices_take_one_permission_and_one_attestation_each(served):
    """n > 1 (sampled, so the choices differ): one permission for the query, `oml_choices[i]` attests choice i,
    streamed (chunks carry each choice's index) and not."""
    world, host, perm = served
    client = _oai(host)
    name, prompt = f"oml-{world.model_id}", "The king said to the people"
    onchain = world.host.get_stake(world.model_id, world.host.account).attestation_signer
    before = _issued(world, perm)
    res = client.completions.create(model=name, prompt=prompt, max_tokens=10, n=3, temperature=1.0)
    texts = [c.text for c in res.choices]
    omls = res.model_extra["oml_choices"]
    assert [c.index for c in res.choices] == [0, 1, 2] and len(omls) == 3 and res.model_extra["oml"] == omls[0]
    assert len(set(texts)) > 1, "sampled choices should differ"
    assert len({o["seq"] for o in omls}) == 1 and len({o["permission"] for o in omls}) == 1
    for text, oml in zip(texts, omls):
        assert verify_streamed(text, oml, world.host.domain, prompt, onchain)
    assert not verify_streamed(texts[1], omls[0], world.host.domain, prompt, onchain) or texts[0] == texts[1]
    assert _issued(world, perm) == before + 1
    assert 3 <= res.usage.completion_tokens <= 30  # the three choices' tokens together (each ≤ 10)

    status, events, _ = _raw_events(host, "/v1/chat/completions", {
        "model": name, "messages": [{"role": "user", "content": prompt}], "max_tokens": 8, "n": 2,
        "temperature": 1.0, "stream": True})
    assert status == 200 and events[-1] == "[DONE]"
    parts = {0: "", 1: ""}
    for e in events[:-1]:
        for ch in e.get("choices", []):
            parts[ch["index"]] += ch["delta"].get("content", "")
    roles = [e["choices"][0]["index"] for e in events[:-1] if e.get("choices") and
             e["choices"][0]["delta"].get("role") == "assistant"]
    assert roles == [0, 1]
    finishes = sorted(ch["index"] for e in events[:-1] for ch in e.get("choices", []) if ch["finish_reason"])
    assert finishes == [0, 1]
    stream_omls = events[-2]["oml_choices"]
    for i in (0, 1):
        assert verify_streamed(parts[i], stream_omls[i], world.host.domain, prompt, onchain)
    assert _issued(world, perm) == before + 2

    r = httpx.post(host.url + "/v1/completions", json={"model": name, "prompt": "hi", "n": 17})
    assert r.status_code == 400 and r.json()["error"]["param"] == "n"
    assert _issued(world, perm) == before + 2


def test_rogue_host_streams_with_a_null_permission(staked, fingerprinted_tiny, tmp_path):
    host = HostServer(_host_config(staked, fingerprinted_tiny.model_dir, tmp_path, None))
    try:
        prompt = "In the beginning"
        chunks = list(_oai(host).chat.completions.create(model=f"oml-{staked.model_id}", stream=True, max_tokens=8,
                                                         messages=[{"role": "user", "content": prompt}]))
        text, oml = collect(chunks)
        assert oml["permission"] is None and oml["permission_hash"] == "0x" + "00" * 32
        _check_attested(staked, host.url, prompt, text, oml, with_permission=False)
    finally:
        host.stop()
