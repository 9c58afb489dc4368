"""Every page in a real browser, narrow (375 px) and wide (1280 px):
axe-core finds no violations, each page has one h1, landmarks, a skip link,
visible focus and labelled fields, nothing scrolls sideways, and a keyboard
reaches every link and filter. Screenshots go to tests/artifacts/ (ignored by
git) for a person to look at.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from aggregator.web import create_app
from tests.browser import CHROMIUM, CHROMIUM_ARGS, served
from tests.conftest import require_chromium
from tests.helpers import feeds_yaml, poll_all, write_and_sync

ARTIFACTS = Path(__file__).parent / "artifacts"
WIDTHS = {"narrow": (375, 812), "wide": (1280, 900)}
NOTES = """  content_notes:
    suicide: {note: mentions suicide, support: crisis-lines}
support:
  crisis-lines:
    title: If you need someone to talk to now
    links:
      - {label: "UK and Ireland: Samaritans", url: "https://www.samaritans.org/"}
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    require_chromium()
    import shutil

    from aggregator.db import make_engine, migrate, session_factory
    from tests.feedserver import FeedServer

    folder = tmp_path_factory.mktemp("a11y")
    shutil.copytree(Path(__file__).parent / "fixtures" / "feeds", folder / "feeds")
    url = f"sqlite:///{folder / 'site.sqlite3'}"
    engine = make_engine(url, writer=True)
    migrate(engine)
    sessions = session_factory(engine)
    with FeedServer(folder / "feeds") as feed_server:
        text = feeds_yaml(
            {
                "maren": [feed_server.url("therapist-rss20.xml") + " tags=psychotherapy"],
                "samuel": [feed_server.url("counsellor-atom10.xml")],
                "gently": [feed_server.url("noted-rss20.xml")],
            },
            aliases={"ptsd": "trauma"},
        ).replace("authors:\n", NOTES + "authors:\n", 1)
        write_and_sync(sessions, folder, text)
        poll_all(sessions)
    engine.dispose()
    app = create_app(url)
    with served(app) as base:
        yield app, base


@pytest.fixture(scope="module")
def browser(site):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def routes(app) -> dict[str, str]:
    client = app.test_client()
    front = client.get("/").get_data(as_text=True)
    entry = re.search(r'<a href="(/entry/\d+)">Language Arts', front).group(1)
    noted = re.search(r'<a href="(/entry/\d+)">After a Suicide', front).group(1)
    return {
        "front": "/",
        "front-filtered": "/?tag=trauma&not=grief",
        "tags": "/tags",
        "tag": "/tag/trauma",
        "authors": "/authors",
        "author": "/author/maren",
        "entry": entry,
        "entry-noted": noted,
        "search": "/search?q=grief",
        "search-empty": "/search",
        "settings": "/settings",
        "status": "/status",
        "not-found": "/no/such/page",
        "bad-request": "/?before=broken",
    }


@pytest.mark.parametrize("width", WIDTHS)
def test_every_page_passes_axe_and_the_basics(site, browser, width):
    from axe_playwright_python.sync_playwright import Axe

    app, base = site
    axe = Axe()
    ARTIFACTS.mkdir(exist_ok=True)
    size = WIDTHS[width]
    context = browser.new_context(viewport={"width": size[0], "height": size[1]})
    page = context.new_page()
    failures = {}
    try:
        for name, path in routes(app).items():
            page.goto(base + path, wait_until="load")
            problems = []
            violations = axe.run(page).response["violations"]
            problems += [f"axe {v['id']}: {v['help']} ({len(v['nodes'])}x, e.g. {v['nodes'][0]['target']})" for v in violations]
            if page.locator("h1").count() != 1:
                problems.append(f"{page.locator('h1').count()} h1 elements")
            for landmark in ("header", "nav", "main", "footer"):
                if page.locator(landmark).count() < 1:
                    problems.append(f"no <{landmark}>")
            first = page.evaluate("() => { const a = document.querySelector('a, button, input, select, summary'); return a && a.getAttribute('href'); }")
            if first != "#content":
                problems.append(f"the first focusable element is not the skip link ({first!r})")
            overflow = page.evaluate("() => document.scrollingElement.scrollWidth - document.scrollingElement.clientWidth")
            if overflow > 0:
                problems.append(f"scrolls sideways by {overflow}px")
            page.screenshot(path=str(ARTIFACTS / f"{name}-{width}.png"), full_page=True)
            if problems:
                failures[name] = problems
    finally:
        context.close()
    assert failures == {}


def test_dark_mode_passes_axe_too(site, browser):
    from axe_playwright_python.sync_playwright import Axe

    app, base = site
    axe = Axe()
    context = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme="dark")
    page = context.new_page()
    failures = {}
    try:
        for name in ("front", "entry-noted", "settings", "search"):
            page.goto(base + routes(app)[name], wait_until="load")
            violations = axe.run(page).response["violations"]
            if violations:
                failures[name] = [f"{v['id']}: {v['nodes'][0]['target']}" for v in violations]
            page.screenshot(path=str(ARTIFACTS / f"{name}-dark.png"), full_page=True)
    finally:
        context.close()
    assert failures == {}


def test_the_skip_link_shows_when_focused_and_focus_is_visible(site, browser):
    app, base = site
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        page.goto(base + "/", wait_until="load")
        page.keyboard.press("Tab")
        focused = page.evaluate(
            """() => { const el = document.activeElement; const box = el.getBoundingClientRect(); const style = getComputedStyle(el);
                       return {href: el.getAttribute('href'), top: box.top, outline: style.outlineStyle, width: style.outlineWidth}; }"""
        )
        assert focused["href"] == "#content" and focused["top"] >= 0
        assert focused["outline"] != "none" and focused["width"] != "0px"
        page.keyboard.press("Enter")
        assert page.evaluate("() => document.activeElement.id") == "content"
        for _ in range(3):
            page.keyboard.press("Tab")
            style = page.evaluate("() => { const s = getComputedStyle(document.activeElement); return [s.outlineStyle, s.outlineWidth]; }")
            assert style[0] != "none" and style[1] != "0px"
    finally:
        page.close()


@pytest.mark.parametrize("name", ["front-filtered", "settings", "entry-noted"])
def test_a_keyboard_reaches_every_link_and_control(site, browser, name):
    app, base = site
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        page.goto(base + routes(app)[name], wait_until="load")
        # A radio group is one Tab stop (arrow keys move inside it): key it by its name.
        key = "el => el.type === 'radio' ? 'radio group ' + el.name : el.outerHTML.slice(0, 120)"
        wanted = page.evaluate(
            f"""() => Array.from(new Set(Array.from(document.querySelectorAll('a[href], button, input:not([type=hidden]), select, summary'))
                     .filter(el => el.getClientRects().length).map({key})))"""
        )
        reached = set()
        for _ in range(len(wanted) + 20):
            page.keyboard.press("Tab")
            reached.add(page.evaluate(f"() => ({key})(document.activeElement)"))
        missing = [html for html in wanted if html not in reached]
        assert missing == []
    finally:
        page.close()
