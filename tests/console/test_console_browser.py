"""/console in a real headless browser: Debian's Chromium (/usr/bin/chromium, installed
by .ci/run) driven by Playwright, against a service fed a seeded run of 3,000 routed
requests through the fake upstreams.

Never `playwright install`: the system browser is used. LLMTRIAGE_CONSOLE_SCREENSHOT=path
also saves the laptop-sized screenshot there (docs/console.png is made so).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.console.harness import ADMIN, ADMIN_KEY, CLIENT_KEY, Seeded

CHROMIUM = Path(os.environ.get("LLMTRIAGE_CHROMIUM", "/usr/bin/chromium"))
SEEDED_REQUESTS = 3000
CHARTS = (
    "chart-traffic",
    "chart-cost",
    "chart-cascade",
    "chart-scores",
    "chart-latency",
    "chart-fallbacks",
)

# Whether any label of the chart with this id sticks out of its box.
OUTSIDE = """(id) => {
  const svg = document.getElementById(id), box = svg.getBoundingClientRect();
  return Array.from(svg.querySelectorAll("text")).some((t) => {
    const r = t.getBoundingClientRect();
    return r.right > box.right + 1 || r.left < box.left - 1;
  });
}"""

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is in the dev extra")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason=f"no Chromium at {CHROMIUM}: apt-get install chromium chromium-driver (.ci/run)",
    ),
]


@pytest.fixture(scope="module")
def browser() -> Iterator[sync_api.Browser]:
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: sync_api.Browser) -> Iterator[tuple[sync_api.Page, list[str]]]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    yield page, errors
    context.close()


def sign_in(page: sync_api.Page, url: str, key: str) -> None:
    page.goto(url + "/console")
    page.fill("#key", key)
    page.click("#login button[type=submit]")


def figure(page: sync_api.Page, element: str) -> str:
    return page.locator(f"#{element}").inner_text()


def test_the_console_shows_every_chart_and_the_whatif_moves(
    seeded: Seeded, page: tuple[sync_api.Page, list[str]], tmp_path: Path
) -> None:
    tab, errors = page
    sign_in(tab, seeded.url, ADMIN_KEY)
    tab.wait_for_function("document.getElementById('status').textContent === 'live'")
    for chart in CHARTS:
        points = tab.locator(f"#{chart}").get_attribute("data-points")
        assert points is not None and int(points) > 0, chart
        assert tab.locator(f"#{chart} rect").count() > 0, chart
        assert not tab.evaluate(OUTSIDE, chart), chart
    assert tab.locator("#decisions tr").count() > 10
    assert tab.locator("#deployments tr").count() == 4  # header + mini, mini-b, sonnet
    assert "sonnet (baseline)" in tab.locator("#prices").inner_text()

    before = {k: figure(tab, k) for k in ("whatif-share-strong", "whatif-cost", "whatif-quality")}
    assert all(v not in ("", "–") for v in before.values()), before
    tab.locator("#whatif").fill("0.7")  # a range input: sets the value, fires `input`
    after = {k: figure(tab, k) for k in before}
    assert all(after[k] != before[k] for k in before), (before, after)
    assert tab.locator("#whatif-value").inner_text() == "0.700"
    assert "thresholds: {strong: 0.7000}" in tab.locator("#whatif-yaml").inner_text()
    # the page's projection is the API's (the same arithmetic, in JS and in Python)
    router = tab.locator("#scores-router").inner_text().split()[1]
    api = httpx.get(
        f"{seeded.url}/v1/stats/whatif",
        params={"window": "1h", "router": router, "threshold": 0.7},
        headers=ADMIN,
    ).json()
    assert after["whatif-share-strong"] == f"{100 * api['tier_shares']['strong']:.1f} %"
    tab.click("#copy-yaml")
    assert tab.evaluate("navigator.clipboard.readText()") == api["yaml"]

    tab.locator("#window").select_option("15m")
    tab.wait_for_function("document.getElementById('status').textContent === 'live'")
    shot = tmp_path / "console.png"
    tab.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    if target := os.environ.get("LLMTRIAGE_CONSOLE_SCREENSHOT"):
        shutil.copyfile(shot, target)
    assert errors == []


def test_the_console_fits_a_phone(seeded: Seeded, browser: sync_api.Browser) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    tab = context.new_page()
    sign_in(tab, seeded.url, ADMIN_KEY)
    tab.wait_for_function("document.getElementById('status').textContent === 'live'")
    # no sideways scrolling of the page (wide tables scroll inside their own box), and
    # every chart's labels inside its box
    assert tab.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    for chart in CHARTS:
        overflow = tab.evaluate(OUTSIDE, chart)
        assert not overflow, chart
    width = tab.locator("#chart-scores").bounding_box()
    assert width is not None and width["width"] > 300
    context.close()


@pytest.mark.parametrize("key", ["", "not-a-key", CLIENT_KEY])
def test_the_console_needs_the_admin_key(
    seeded: Seeded, page: tuple[sync_api.Page, list[str]], key: str
) -> None:
    tab, _ = page
    tab.goto(seeded.url + "/console")
    assert tab.locator("#login").is_visible() and not tab.locator("#main").is_visible()
    if key:
        sign_in(tab, seeded.url, key)
        tab.wait_for_function("document.getElementById('login-error').textContent !== ''")
        assert tab.locator("#login").is_visible() and not tab.locator("#main").is_visible()
        assert tab.locator("#chart-traffic rect").count() == 0
        assert tab.evaluate("sessionStorage.length") == 0  # a refused key is not kept
    status = tab.evaluate("fetch('/v1/stats/traffic').then(r => r.status)")
    assert status == 401
