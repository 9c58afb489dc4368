"""Bad input gets a 4xx in the site's own error page, never a 5xx.

Named cases for each kind of hostile request (Host headers, page cursors,
NUL bytes and invalid UTF-8, huge and repeated parameters, every method on
every route, cookies), through Flask's test client on both databases, and
the same kinds as raw bytes sent to a real `aggregator serve`, since
waitress and Werkzeug read a request line differently from the test
client. tests/test_fuzz_routes.py generates many more.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.routing import Rule

from aggregator.reading import MAX_ID, Cursor
from tests.helpers import free_port
from tests.seeded_site import SeededSite, seeded_site

ERROR_PAGE = 'class="page-intro error-page"'
BROKEN_CURSOR = "That page link is broken"
BAD_HOST = "The Host header of this request is not a valid host name."


@pytest.fixture
def site(database_url: str, tmp_path: Path) -> Iterator[SeededSite]:
    with seeded_site(database_url, tmp_path) as seeded:
        yield seeded


@pytest.fixture
def client(site: SeededSite):
    # Without a cookie jar, so that the Cookie headers written here are sent.
    return site.app.test_client(use_cookies=False)


def route_paths(site: SeededSite) -> list[tuple[Rule, str]]:
    """Every route of the site with a path of it that exists."""
    adapter = site.app.url_map.bind("localhost")
    paths = []
    for rule in site.app.url_map.iter_rules():
        slug = site.tag_slugs[0] if rule.rule.startswith("/tag/") else site.author_slugs[0]
        known = {"slug": slug, "kind": "atom", "entry_id": site.entry_ids[0], "filename": "style.css"}
        paths.append((rule, adapter.build(rule.endpoint, {name: known[name] for name in rule.arguments})))
    return paths


def page_text(response) -> str:
    return response.get_data(as_text=True)


def answer(client, path: str, method: str = "GET", **request):
    """The response to a request, read whole and closed (a static file is a file)."""
    response = client.open(path, method=method, **request)
    response.get_data()
    response.close()
    return response


# -- Host headers ---------------------------------------------------------------

BAD_HOSTS = {
    "a label over 63 characters": "a" * 64 + ".example",
    "over-long": "a" * 300,
    "an empty label": "a..b",
    "a space": "bad host",
    "a raw non-ASCII byte": "\u00e9.example",
    "a control character": "host\x7f",
    "two Host headers joined": "a, b",
    "an unclosed IPv6 literal": "[::1",
}
GOOD_HOSTS = ["127.0.0.1:5000", "[::1]:8080", "example.org.", "localhost", "my_host.internal", "xn--caf-dma.example"]


def test_a_host_header_that_is_no_host_name_is_a_400_page_on_every_route(client, site):
    for _, path in route_paths(site):
        for case, host in BAD_HOSTS.items():
            response = answer(client, path, headers={"Host": host})
            assert response.status_code == 400, (path, case)
            assert ERROR_PAGE in page_text(response) and BAD_HOST in page_text(response), (path, case)


def test_ordinary_host_headers_are_served(client):
    for host in GOOD_HOSTS:
        assert client.get("/", headers={"Host": host}).status_code == 200, host


# -- page cursors ---------------------------------------------------------------

OVERFLOWING_CURSORS = {
    "an id past PostgreSQL's integer": f"20261101000000000000-{MAX_ID + 1}",
    "an id past a 64-bit integer": "20261101000000000000-9223372036854775808",
    "the largest 18-digit id": "20261101000000000000-999999999999999999",
    "a date past the calendar": "99999999999999999999-1",
    "a 13th month": "20261301000000000000-5",
    "the 30th of February": "20260230000000000000-5",
    "year zero": "00000000000000000000-1",
    "a negative id": "20261101000000000000--1",
    "other digits than ASCII": "\u0662\u0660\u0662\u0666" + "1101000000000000" + "-\u0661",
}


@pytest.mark.parametrize("text", OVERFLOWING_CURSORS.values(), ids=OVERFLOWING_CURSORS.keys())
def test_cursors_the_database_cannot_hold_do_not_decode(text):
    assert Cursor.decode(text) is None


def test_overflowing_cursors_are_a_400_page_on_every_list(client, site):
    for path in ("/", f"/tag/{site.tag_slugs[0]}", f"/author/{site.author_slugs[0]}"):
        for case, cursor in OVERFLOWING_CURSORS.items():
            response = client.get(path, query_string={"before": cursor})
            assert response.status_code == 400, (path, case)
            assert BROKEN_CURSOR in page_text(response), (path, case)


def test_cursors_at_the_ends_of_the_calendar_are_ordinary_pages(client):
    assert "card__title" not in page_text(client.get("/?before=00010101000000000000-1"))
    assert "card__title" in page_text(client.get(f"/?before=99991231235959999999-{MAX_ID}"))


# -- NUL bytes and invalid UTF-8 ------------------------------------------------

NUL_ADDRESSES = [
    "/%00", "/tag/a%00b", "/tag/%00/feed.atom", "/author/%00", "/author/a%00/feed.rss", "/entry/1%00",
    "/search?q=a%00b", "/?tag=%00", "/?not=grief%00", "/feed.json?tag=a%00", "/?before=%00", "/status?%00=1",
]  # fmt: skip


@pytest.mark.parametrize("address", NUL_ADDRESSES)
def test_a_nul_byte_anywhere_in_the_address_is_a_400_page(client, address):
    path, _, query = address.partition("?")
    response = client.get(path, query_string=query)
    assert response.status_code == 400
    assert ERROR_PAGE in page_text(response)


INVALID_UTF8 = {
    "/tag/%ff": 404, "/tag/%c0%af": 404, "/author/%ed%a0%80": 404, "/author/%ff/feed.atom": 404,
    "/entry/%ff": 404, "/%fe%ff": 404, "/static/%ff.css": 404,
    "/search?q=%ff%fe": 200, "/?tag=%c0%af": 200, "/?not=%ff": 200, "/feed.rss?tag=%ff": 200, "/settings?saved=%ff": 200,
}  # fmt: skip


@pytest.mark.parametrize("address,status", INVALID_UTF8.items())
def test_invalid_utf8_is_an_unknown_name_not_an_error(client, address, status):
    path, _, query = address.partition("?")
    response = client.get(path, query_string=query)
    assert response.status_code == status
    if status == 404:
        assert ERROR_PAGE in page_text(response)


# -- huge and repeated parameters -----------------------------------------------


def test_thousands_of_the_same_tag_filter_once(client, site):
    tag = site.tag_slugs[0]
    assert page_text(client.get("/", query_string=[("tag", tag)] * 3000)) == page_text(client.get(f"/?tag={tag}"))


def test_thousands_of_different_tags_are_a_400_page(client):
    response = client.get("/", query_string=[("tag", f"topic-{i}") for i in range(3000)])
    assert response.status_code == 400
    assert "Choose at most 5 tags at once." in page_text(response)


def test_a_100_kb_search_is_cut_to_the_longest_query(client):
    response = client.get("/search", query_string={"q": "grief " * 17000})
    assert response.status_code == 200
    assert "grief " * 20 in page_text(response)


def test_a_100_kb_name_is_a_404_that_does_not_repeat_it(client):
    for path in ("/tag/", "/author/"):
        response = client.get(path + "x" * 100_000)
        assert response.status_code == 404
        assert len(response.data) < 20_000


def test_repeated_cursors_and_many_unknown_parameters_are_ignored(client):
    response = client.get("/", query_string=[("before", "garbage")] + [("before", "20261101000000000000-1")] * 1000)
    assert response.status_code == 400  # the first one counts
    assert client.get("/", query_string=[(f"k{i}", "v") for i in range(5000)]).status_code == 200


# -- every method on every route ------------------------------------------------

METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT", "PROPFIND", "BREW"]


def test_every_method_on_every_route(client, site):
    for rule, path in route_paths(site):
        allowed = rule.methods or set()
        get = answer(client, path)
        for method in METHODS:
            response = answer(client, path, method)
            where = f"{method} {path}"
            if method == "OPTIONS":
                assert response.status_code == 200, where
                assert set(response.headers["Allow"].split(", ")) == allowed, where
            elif method == "HEAD":
                assert (response.status_code, response.data) == (get.status_code, b""), where
            elif method in allowed:
                assert response.status_code < 400, where
            else:
                assert response.status_code == 405, where
                assert set(response.headers["Allow"].split(", ")) == allowed, where
                assert ERROR_PAGE in page_text(response), where


# -- cookies --------------------------------------------------------------------

BAD_COOKIES = {
    "an oversized reading cookie": "reading=" + "face=comic-sans&" * 400,
    "a reading cookie of 8 KB of one value": "reading=size%3D" + "x" * 8000,
    "invalid UTF-8": "reading=%ff%fe; hide_topics=%c0%af",
    "raw bytes": "reading=\u00ff\u00fe; hide_topics=\u00ff",
    "a NUL": "reading=size%3Dlarge%00; hide_topics=grief%00,a\x00b",
    "no value": "reading; hide_topics",
    "only separators": ";;;;=;=",
    "thousands of hidden topics": "hide_topics=" + ",".join(f"t{i}" for i in range(3000)),
    "a thousand cookies": "; ".join(f"c{i}=v" for i in range(1000)),
    "quotes and escapes": 'reading="size=large\\"; hide_topics="\\\\"',
}


@pytest.mark.parametrize("cookie", BAD_COOKIES.values(), ids=BAD_COOKIES.keys())
def test_oversized_and_malformed_cookies_leave_the_default_settings(client, site, cookie):
    for path in ("/", "/settings", f"/tag/{site.tag_slugs[0]}", f"/author/{site.author_slugs[0]}", "/feed.atom"):
        response = client.get(path, headers={"Cookie": cookie})
        assert response.status_code == 200, path
        assert "<html lang=\"en\">" in page_text(response) or path == "/feed.atom", path


def test_a_valid_reading_cookie_applies_beside_garbage(client):
    html = page_text(client.get("/", headers={"Cookie": ';;=; reading="size=large"; hide_topics=%ff'}))
    assert '<html lang="en" class="size-large">' in html


# -- a real server: raw bytes to waitress ----------------------------------------

CLOSE = b"Connection: close\r\n\r\n"
# (name, raw request, (who answers, status)): "site" is the site's own error
# page, "page" one of its pages, "server" waitress refusing the request itself.
RAW_REQUESTS = [
    ("a Host label over 63 characters", b"GET / HTTP/1.1\r\nHost: " + b"a" * 300 + b"\r\n" + CLOSE, ("site", 400)),
    ("a Host of raw bytes", b"GET / HTTP/1.1\r\nHost: \xff\xfe\r\n" + CLOSE, ("site", 400)),
    ("two Host headers", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n" + CLOSE, ("site", 400)),
    ("no Host at all, HTTP/1.0", b"GET /tags HTTP/1.0\r\n\r\n", ("page", 200)),
    ("a raw NUL in the path", b"GET /tag/a\x00b HTTP/1.1\r\nHost: x\r\n" + CLOSE, ("site", 400)),
    ("a NUL in the query", b"GET /search?q=a%00b HTTP/1.1\r\nHost: x\r\n" + CLOSE, ("site", 400)),
    ("raw invalid UTF-8 in the path", b"GET /author/\xc0\xaf HTTP/1.1\r\nHost: x\r\n" + CLOSE, ("server", 400)),
    ("percent-encoded invalid UTF-8", b"GET /author/%c0%af HTTP/1.1\r\nHost: x\r\n" + CLOSE, ("site", 404)),
    ("a cursor past the id column", b"GET /?before=20261101000000000000-2147483648 HTTP/1.1\r\nHost: x\r\n" + CLOSE, ("site", 400)),
    ("a 100 KB search", b"GET /search?q=" + b"grief+" * 17000 + b" HTTP/1.1\r\nHost: x\r\n" + CLOSE, ("page", 200)),
    ("a 300 KB header", b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 300_000 + b"\r\n" + CLOSE, ("server", 431)),
    ("a junk method", b"BREW / HTTP/1.1\r\nHost: x\r\n" + CLOSE, ("site", 405)),
    ("TRACE", b"TRACE /settings HTTP/1.1\r\nHost: x\r\n" + CLOSE, ("site", 405)),
    ("a lower-case method", b"get / HTTP/1.1\r\nHost: x\r\n" + CLOSE, ("server", 400)),
    ("a NUL in the method", b"G\x00T / HTTP/1.1\r\nHost: x\r\n" + CLOSE, ("server", 400)),
    ("OPTIONS *", b"OPTIONS * HTTP/1.1\r\nHost: x\r\n" + CLOSE, ("site", 404)),
    ("spaces in the path", b"GET /a b c HTTP/1.1\r\nHost: x\r\n" + CLOSE, ("server", 400)),
    ("raw bytes in a cookie", b"GET / HTTP/1.1\r\nHost: x\r\nCookie: reading=\xff\xfe\r\n" + CLOSE, ("page", 200)),
    ("a raw NUL in a cookie", b"GET / HTTP/1.1\r\nHost: x\r\nCookie: hide_topics=a\x00b\r\n" + CLOSE, ("server", 400)),
    ("an 8 KB cookie", b"GET / HTTP/1.1\r\nHost: x\r\nCookie: reading=" + b"size=large&" * 800 + b"\r\n" + CLOSE, ("page", 200)),
    ("a negative Content-Length", b"POST /settings HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n" + CLOSE, ("server", 400)),
    ("a huge Content-Length", b"POST /settings HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n" + CLOSE, ("server", 413)),
    ("broken chunks", b"POST /settings HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n" + CLOSE + b"zz\r\n", ("server", 400)),
    ("a form of junk bytes", b"POST /settings HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=z\r\n"
     b"Content-Length: 16\r\n" + CLOSE + b"--z\r\n\xff\x00garbage\r\n", ("page", 303)),
    ("a TLS greeting", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(256)) + b"\r\n\r\n", ("server", 400)),
]  # fmt: skip



def exchange(port: int, raw: bytes, timeout: float = 10) -> bytes:
    """Send `raw` on a new connection; return the answer (b"" for none)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as connection:
        connection.sendall(raw)
        answer = b""
        while True:
            try:
                chunk = connection.recv(65536)
            except (ConnectionResetError, TimeoutError):
                return answer
            answer += chunk
            head, _, body = answer.partition(b"\r\n\r\n")
            length = re.search(rb"(?im)^content-length: *(\d+)", head)
            if not chunk or (length and len(body) >= int(length.group(1))):
                return answer


@pytest.fixture
def served_site(site: SeededSite, run_aggregator, database_url: str) -> Iterator[tuple[int, Path]]:
    """`aggregator serve --no-scheduler` over the seeded site: its port and its log."""
    port = free_port()
    log = site.folder / "serve.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "aggregator", "serve", "--no-scheduler", "--port", str(port)],
            cwd=site.folder, env=dict(run_aggregator.env, DATABASE_URL=database_url), stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not exchange_or_none(port, b"GET /tags HTTP/1.0\r\n\r\n"):
            assert process.poll() is None and time.monotonic() < deadline, log.read_text(errors="replace")
            time.sleep(0.2)
        yield port, log
    finally:
        process.terminate()
        process.wait(timeout=15)


def exchange_or_none(port: int, raw: bytes) -> bytes | None:
    try:
        return exchange(port, raw, timeout=2)
    except OSError:
        return None


def test_waitress_answers_raw_hostile_requests_without_a_server_error(served_site):
    port, log = served_site
    wrong = []
    for name, raw, (origin, status) in RAW_REQUESTS:
        answer = exchange(port, raw)
        status_line = answer.split(b"\r\n", 1)[0].decode("latin-1")
        got = int(status_line.split()[1]) if status_line.startswith("HTTP/") else None
        if b"Traceback" in answer or b"Exception" in answer or (got is not None and got >= 500):
            wrong.append(f"{name}: {status_line!r} with a traceback or a server error")
        elif got != status:
            wrong.append(f"{name}: {status_line!r}, expected {status}")
        elif origin == "site" and ERROR_PAGE.encode() not in answer:
            wrong.append(f"{name}: {status_line!r} without the site's error page")
    assert not wrong, "\n".join(wrong)
    assert exchange(port, b"GET /tags HTTP/1.1\r\nHost: x\r\n" + CLOSE).startswith(b"HTTP/1.1 200")
    served = log.read_text(errors="replace")
    assert "Traceback" not in served and "Exception" not in served, served[-3000:]
