"""The explorer in a real headless Chromium (`/usr/bin/chromium`, installed by `make setup` → `make browser`): the
overview, a model page and a slash page of the demo world, indexed by the real indexer and served over
loopback. The DOM Chromium ends with (after the page's JavaScript ran: chart.js from the app's own /static,
the copy buttons) holds the chain's figures; with JavaScript off the same figures, the full addresses and
the chart's data table are there. Screenshots go to out/explorer-<page>.png."""

from __future__ import annotations

import re
import struct
import subprocess
from pathlib import Path

import pytest
from server_thread import ServerThread
from web3 import Web3

from oml_chain.chain.anvil import free_port, start_anvil
from oml_chain.chain.client import OMLContract
from oml_chain.chain.dao import format_wei
from oml_chain.explorer.db import ExplorerDB
from oml_chain.explorer.indexer import Indexer
from oml_chain.explorer.web import ExplorerConfig, uvicorn_config
from oml_chain.explorer.world import build_world

pytestmark = pytest.mark.chain

CHROMIUM = "/usr/bin/chromium"
OUT = Path(__file__).resolve().parents[1] / "out"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium(profile: Path, *args: str, timeout: float = 90) -> str:
    assert Path(CHROMIUM).is_file(), "no /usr/bin/chromium: run `make setup` (its `browser` step installs it)"
    out = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True, text=True,
                         timeout=timeout)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    node = start_anvil()
    server = None
    try:
        w3 = Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 30}))
        world = build_world(w3)
        tmp = tmp_path_factory.mktemp("explorer-browser")
        db = ExplorerDB.open(tmp / "explorer.db")
        indexer = Indexer(node.url, db, world.oml, world.factory, confirmations=0)
        indexer.sync_once()
        indexer.close()
        db.close()
        port = free_port()
        server = ServerThread(uvicorn_config(ExplorerConfig(db_path=str(tmp / "explorer.db"), rpc_url=node.url,
                                                            oml=world.oml, factory=world.factory, index=False,
                                                            port=port)), port, "explorer")
        yield {"url": server.url, "world": world, "oml": OMLContract(w3, world.oml), "profile": tmp / "chromium"}
    finally:
        if server is not None:
            server.stop()
        node.stop()


def dom(site, path: str) -> str:
    return chromium(site["profile"], "--dump-dom", site["url"] + path)


def screenshot(site, name: str, path: str, height: int = 1600) -> Path:
    OUT.mkdir(exist_ok=True)
    png = OUT / f"explorer-{name}.png"
    png.unlink(missing_ok=True)
    chromium(site["profile"], "--hide-scrollbars", f"--screenshot={png}", f"--window-size=1280,{height}",
             site["url"] + path)
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", data[16:24]) == (1280, height)
    assert len(data) > 40_000, "the screenshot is (nearly) blank"
    return png


def text(html: str) -> str:
    """The visible-ish text of a DOM dump: tags dropped, whitespace collapsed."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_overview_in_chromium(site):
    world, oml = site["world"], site["oml"]
    html = dom(site, "/")
    assert '<html lang="en" class="js">' in html  # explorer.js ran
    # chart.js (served from /static/vendor) drew into the canvas: it sizes the element itself
    assert re.search(r'<canvas data-chart="settlements"[^>]*style="[^"]*(width|height)', html)
    assert "<details class=\"card chart-table\">" in html  # the JS closed the data table under the chart
    pairs = sorted(world.settled)
    total_stake = sum(oml.get_stake(m, h).amount for m, h in pairs)
    fees = sum(oml.settled_amount(m, h) for m, h in pairs)
    t = text(html)
    assert f"Total stake {format_wei(total_stake)}" in t.replace("TOTAL STAKE", "Total stake")
    assert format_wei(fees) in t and format_wei(sum(oml.get_escrow(m, h).balance for m, h in pairs)) in t
    assert "RPC ok" in t and "Latest events" in t and "VoucherSettled" in t and "HostSlashed" in t
    screenshot(site, "overview", "/")


def test_model_page_in_chromium(site):
    world, oml = site["world"], site["oml"]
    gamma = world.models["gamma"]
    html = dom(site, f"/model/{gamma}")
    t = text(html)
    chain = oml.get_model(gamma)
    assert f"Model #{gamma}" in t and chain.metadata_uri in t and "community-owned" in t
    assert re.search(r'id="param-price">\s*' + re.escape(format_wei(chain.price_per_query)), html)
    assert re.search(r'id="param-min-stake">\s*' + re.escape(format_wei(chain.min_host_stake)), html)
    for h in {h for m, h in world.settled if m == gamma}:
        assert format_wei(oml.get_stake(gamma, h).amount) in t
    assert "Executed" in t and "Defeated" in t and "Shareholders" in t
    assert re.search(r'<canvas data-chart="settlements"[^>]*style=', html)
    screenshot(site, "model", f"/model/{gamma}", height=2400)


def test_slash_page_in_chromium(site):
    world = site["world"]
    s = world.slashes[0]
    html = dom(site, f"/slash/{s.model_id}/{s.host}/{s.index}")
    t = text(html)
    assert f"fingerprint #{s.index}" in t and format_wei(s.slashed) in t and format_wei(s.reward) in t
    assert format_wei(s.slashed - s.reward) in t
    assert s.reveal_tx in html and s.host in t and s.prover in t
    assert "valid against the model's fingerprint root" in t and "served without a permission" in t
    assert "starts with the fingerprint response" in t and "the host's attestation signer" in t
    screenshot(site, "slash", f"/slash/{s.model_id}/{s.host}/{s.index}")


def test_pages_work_without_javascript(site):
    """The HTML as served, before any script runs (what a browser without JavaScript shows; headless Chromium's
    command line cannot switch scripts off for --dump-dom or --screenshot): figures, the full addresses
    (shortened on screen, whole in the DOM text) and the chart's data as an open table."""
    import requests

    world = site["world"]
    html = requests.get(site["url"] + "/", timeout=30).text
    assert "<details class=\"card chart-table\" open>" in html and "Bucket start (UTC)" in text(html)
    host_html = requests.get(f"{site['url']}/host/{world.hosts[0]}", timeout=30).text
    assert world.hosts[0] in text(host_html) and "Attestation signer history" in text(host_html)
    model = text(requests.get(f"{site['url']}/model/{world.models['alpha']}", timeout=30).text)
    assert world.owners["alpha"] in model.replace(" ", "")
