"""The sanitizer, proven in a real browser.

Every payload of tests/fixtures/xss/payloads.txt becomes a post (its content,
its title and a category) of a feed served on 127.0.0.1, which is polled
into the store. Then Chromium opens each post's page and every list page,
with the Content-Security-Policy switched off so that the sanitizer alone
must hold, pokes every element of the post (hover, focus, click), and
watches for a dialog, a navigation, or a request to anything but
127.0.0.1. Any of those is a failure.

The same run with the sanitizer replaced by the identity function must
catch most payloads: that proves the harness can see an exploit at all.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

import pytest

from aggregator import poll as poll_module
from aggregator.clean import CleanContent
from aggregator.db import make_engine, session_factory
from aggregator.web import create_app
from tests.browser import CHROMIUM, CHROMIUM_ARGS, served
from tests.conftest import require_chromium
from tests.helpers import feeds_yaml, poll_all, write_and_sync

CORPUS = Path(__file__).parent / "fixtures" / "xss" / "payloads.txt"
HEADER = re.compile(r"^### (\d{3}) (\w+) — (.*)$")
CONCURRENT_PAGES = 10
# Embeds that clean.py builds itself are the one allowed way off 127.0.0.1.
ALLOWED_OFFSITE = ("https://www.youtube-nocookie.com/embed/", "https://player.vimeo.com/video/")

# Runs in the page after load: hover, focus and click everything in the post,
# but follow no ordinary link (those are the reader's to click) and submit
# none of the site's own forms.
POKE = """
() => {
  const events = ['mouseover', 'mouseenter', 'mousemove', 'mousedown', 'mouseup', 'pointerover',
                  'pointerdown', 'pointerup', 'focus', 'focusin', 'blur', 'keydown', 'input', 'change', 'wheel'];
  for (const el of document.querySelectorAll('main *')) {
    if (el.closest('form.filter-form, form.search-form, form.settings')) continue;  // the site's own forms
    for (const name of events) {
      try { el.dispatchEvent(new Event(name, {bubbles: true})); } catch (e) {}
    }
    try { el.focus(); } catch (e) {}
    const link = el.closest('a[href]');
    const ordinaryLink = link && /^(https?:|mailto:|#|\\/)/i.test(link.getAttribute('href').trim());
    if (!ordinaryLink) {
      // SVG and MathML elements have no click(); a dispatched click still follows their links.
      try { typeof el.click === 'function' ? el.click() : el.dispatchEvent(new MouseEvent('click', {bubbles: true})); } catch (e) {}
    }
  }
}
"""


@dataclass(frozen=True)
class Payload:
    id: str
    category: str
    description: str
    html: str


def load_corpus() -> list[Payload]:
    payloads: list[Payload] = []
    current: tuple[str, str, str] | None = None
    lines: list[str] = []

    def close() -> None:
        if current is not None:
            payloads.append(Payload(*current, html="\n".join(lines).strip("\n")))

    # Split on newlines only: some payloads hold control characters on purpose.
    for line in CORPUS.read_text(encoding="utf-8").split("\n"):
        header = HEADER.match(line)
        if header:
            close()
            current, lines = (header.group(1), header.group(2), header.group(3)), []
        elif line.startswith("#") and current is None:
            continue
        elif current is not None:
            lines.append(line)
    close()
    return payloads


def xss_feed(payloads: list[Payload], base: str) -> str:
    items = []
    for payload in payloads:
        items.append(
            "<item>"
            f"<title>{escape('Payload ' + payload.id + ' ' + payload.html[:120])}</title>"
            f"<link>{base}/posts/{payload.id}/</link><guid>xss-{payload.id}</guid>"
            f"<category>{escape(payload.html[:60])}</category>"
            f"<description>{escape(payload.html)}</description>"
            "</item>"
        )
    return f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>XSS corpus</title><link>{base}/</link>{"".join(items)}</channel></rss>'


def identity_clean(raw, is_html=True, base_url=None, **_):
    """The sanitizer replaced by nothing at all, to test the test."""
    return CleanContent(html=raw, text=raw, excerpt=raw[:200], word_count=len(raw.split()))


async def probe(context, url: str) -> list[str]:
    """Open one page, poke it, and return every sign of an exploit."""
    page = await context.new_page()
    signs: list[str] = []

    async def on_dialog(dialog) -> None:
        signs.append(f"dialog {dialog.type}: {dialog.message[:60]}")
        await dialog.dismiss()

    async def on_route(route) -> None:
        request = route.request
        target = request.url
        if request.is_navigation_request() and request.frame == page.main_frame and target != url:
            signs.append(f"navigation to {target[:80]}")
            await route.abort()
        elif urlsplit(target).hostname == "127.0.0.1" or target.startswith(ALLOWED_OFFSITE):
            await route.continue_()
        else:
            signs.append(f"request to {target[:80]}")
            await route.abort()

    def on_request(request) -> None:
        # Some navigations (vbscript:, a form's target) never reach the router.
        try:
            main = request.frame == page.main_frame
        except Exception:  # noqa: BLE001 - a popup's frame that does not exist yet
            main = False
        target = request.url
        if request.is_navigation_request() and main and target != url and urlsplit(target).hostname != "127.0.0.1":
            signs.append(f"navigation to {target[:80]}")

    page.on("dialog", lambda dialog: asyncio.ensure_future(on_dialog(dialog)))
    page.on("request", on_request)
    await page.route("**/*", on_route)
    try:
        await page.goto(url, wait_until="load", timeout=15_000)
        await page.wait_for_timeout(100)
        await page.evaluate(POKE)
        await page.wait_for_timeout(200)
    except Exception as exc:  # noqa: BLE001 - a page that breaks the browser is a sign too
        if "navigation" not in " ".join(signs):
            signs.append(f"page error: {type(exc).__name__}: {str(exc)[:80]}")
    finally:
        await page.close()
    return signs


async def probe_all(urls: dict[str, str]) -> dict[str, list[str]]:
    from playwright.async_api import async_playwright

    limit = asyncio.Semaphore(CONCURRENT_PAGES)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = await browser.new_context(bypass_csp=True, java_script_enabled=True)

        async def one(name: str, url: str) -> tuple[str, list[str]]:
            async with limit:
                return name, await probe(context, url)

        results = await asyncio.gather(*(one(name, url) for name, url in urls.items()))
        await context.close()
        await browser.close()
    return {name: signs for name, signs in results if signs}


@pytest.fixture
def browser_available():
    require_chromium()


def site_with_corpus(sqlite_url: str, tmp_path: Path, feed_server) -> tuple[list[Payload], object]:
    """The corpus as a feed, polled into a fresh store; the site on top of it."""
    payloads = load_corpus()
    (feed_server.root / "xss.xml").write_text(xss_feed(payloads, feed_server.base_url), encoding="utf-8")
    engine = make_engine(sqlite_url, writer=True)
    sessions = session_factory(engine)
    write_and_sync(sessions, tmp_path, feeds_yaml({"corpus": [feed_server.url("xss.xml")]}))
    [outcome] = poll_all(sessions)
    engine.dispose()
    assert outcome.result == "ok" and outcome.new == len(payloads), outcome
    return payloads, create_app(sqlite_url)


def entry_urls(base: str, app) -> dict[str, str]:
    from sqlalchemy import select

    from aggregator.models import Entry

    with app.extensions["aggregator.sessions"]() as session:
        rows = session.execute(select(Entry.guid, Entry.id)).all()
    return {guid.removeprefix("xss-"): f"{base}/entry/{entry_id}" for guid, entry_id in rows}


def test_the_corpus_is_large_and_varied():
    payloads = load_corpus()
    assert len(payloads) >= 150
    assert len({p.id for p in payloads}) == len(payloads)
    assert len({p.category for p in payloads}) >= 10
    assert all(p.html.strip() for p in payloads)


def test_no_payload_runs_navigates_or_reaches_out(browser_available, sqlite_url, tmp_path, feed_server):
    payloads, app = site_with_corpus(sqlite_url, tmp_path, feed_server)
    with served(app) as base:
        urls = entry_urls(base, app)
        assert len(urls) == len(payloads)
        # Every list page too: titles and tags carry the payloads as text.
        list_pages = {"/": f"{base}/", "/tags": f"{base}/tags", "/author/corpus": f"{base}/author/corpus"}
        html = app.test_client().get("/").get_data(as_text=True)
        while (cursor := re.search(r'<a rel="next" href="/\?before=([0-9-]+)"', html)) is not None:
            list_pages[f"/?before={cursor.group(1)}"] = f"{base}/?before={cursor.group(1)}"
            html = app.test_client().get(f"/?before={cursor.group(1)}").get_data(as_text=True)
        assert len(list_pages) >= 6
        exploited = asyncio.run(probe_all({**urls, **list_pages}))
    described = {name: (next((f"{p.category}: {p.description}" for p in payloads if p.id == name), name), signs) for name, signs in exploited.items()}
    assert described == {}


def test_the_harness_catches_payloads_when_nothing_sanitizes(browser_available, sqlite_url, tmp_path, feed_server, monkeypatch):
    monkeypatch.setattr(poll_module, "clean_content", identity_clean)
    payloads, app = site_with_corpus(sqlite_url, tmp_path, feed_server)
    with served(app) as base:
        exploited = asyncio.run(probe_all(entry_urls(base, app)))
    share = len(exploited) / len(payloads)
    assert share >= 0.75, f"only {len(exploited)} of {len(payloads)} payloads were caught without the sanitizer"
