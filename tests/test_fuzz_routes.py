"""Every route under generated hostile requests: none may be a 5xx.

For each rule of the site's URL map (so a route added later is fuzzed too),
a few hundred requests from a seeded generator: known and hostile path
values (NUL, invalid UTF-8, huge), query strings (overflowing cursors,
thousands of tags, a 100 KB search), every method and some junk ones,
broken Host headers, cookies and conditional headers, odd bodies. Each
answer must be below 500, show no traceback or exception text, keep Allow
on a 405, and be the site's own error page when it is an HTML error; and
nothing may be logged as a warning or an error (the site turns a value the
database refused into a 400, but logs it: the checks before the query
should have caught it).
"""

from __future__ import annotations

import logging
import random
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import quote

from werkzeug.routing import Rule

from tests.seeded_site import SeededSite, seeded_site

SEED = 8
REQUESTS_PER_ROUTE = 250
TRACE_MARKERS = ("Traceback", 'File "/', "sqlalchemy", "psycopg", "werkzeug.", "jinja2", "Exception", "Error:")
ERROR_PAGE_MARKER = 'class="page-intro error-page"'
METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT", "PROPFIND", "FOO", "get", "G_T"]

# Path values, already percent-encoded as they travel in a request line.
HOSTILE_SEGMENTS = [
    "%00", "a%00b", "%ff", "%ff%fe", "%c0%af", "%ed%a0%80", "%e2%80%ae", "%f0%9f%98%80", "%c3%a9", "..", "%2e%2e",
    "%2f", "a%2fb", "%25", "%", "%zz", "%0a", "%0d%0a", "%09", "%7f", "%20", "+", "~", "*", "-1", "0", "1.5",
    "2147483648", "9223372036854775808", "99999999999999999999999999", "%d9%a1%d9%a2", "<script>", "%22", "'",
    "x" * 5000, "trauma" * 500,
]  # fmt: skip
CURSORS = [
    "99999999999999999999-999999999999999999", "20261101000000000000-2147483648",
    "20261101000000000000-9223372036854775807", "20261101000000000000-9223372036854775808",
    "00010101000000000000-1", "99991231235959999999-1", "00000000000000000000-0", "20261301000000000000-5",
    "20260230000000000000-5", "20261101000000000000-0", "20261101000000000000--1", "20261101000000000000-1e9",
    "2026110100000000000-1", "-1", "", "%00", "20261101000000000000-1%00",
    # Arabic-Indic digits: Python's \\d matches them, int() reads them.
    "%d9%a2%d9%a0%d9%a2%d9%a6" + "0" * 16 + "-%d9%a1",
]  # fmt: skip
QUERY_KEYS = ["tag", "not", "before", "q"] * 3 + ["saved", "v", "page", "offset", "", "%00", "a[b]", "%ff", "tag%00"]
HOSTS = [
    "a" * 300, "a" * 64 + ".example", "a..b", "%C3%A9.example", "\u00e9.example", "bad host", "x:99999", "[::1", "",
    ".", "localhost:0", "host\x7f", "a,b", "127.0.0.1:5000", "[::1]:80", "example.org.", "my_host",
]  # fmt: skip
COOKIES = [
    "reading=size%3Dlarge%26face%3Dsans", "reading=" + "size=large&" * 2000, "reading=%ff%fe", "reading=size%3D%00",
    "reading=\u00ff\u00fe", "reading===&&&", "hide_topics=" + ",".join(["trauma"] * 3000), "hide_topics=%00,a%00b",
    "hide_topics=\u00ff", ";;;;", "=", "a=b; " * 500, "reading", '"', "reading=" + "x" * 8000,
]  # fmt: skip
CONDITIONAL_HEADERS = [
    {"If-None-Match": "garbage"}, {"If-None-Match": '"'}, {"If-None-Match": "*"}, {"If-None-Match": 'W/"' + "x" * 5000},
    {"If-Modified-Since": "Mon, 01 Jan 99999 00:00:00 GMT"}, {"If-Modified-Since": "garbage"},
    {"If-Modified-Since": "Thu, 01 Jan 1970 00:00:00 GMT"}, {"If-Modified-Since": "Fri, 31 Dec 9999 23:59:59 GMT"},
    {"Range": "bytes=99999999999999999999-"}, {"Range": "bytes=5-1"}, {"Range": "bytes=-0"}, {"If-Range": "garbage"},
    {"Accept": "\u00ff/*;q=abc"}, {"Accept-Encoding": "gzip;q=nan"}, {"Accept-Language": "x" * 3000},
]  # fmt: skip


@dataclass
class FuzzRequest:
    method: str
    path: str
    query_string: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    data: bytes | dict | None = None
    content_type: str | None = None

    def __str__(self) -> str:
        query = "?" + self.query_string if self.query_string else ""
        return f"{self.method} {self.path[:120]}{query[:120]} headers={str(self.headers)[:120]}"


class RequestMaker:
    """Generates hostile requests for one URL rule, from a seeded random."""

    def __init__(self, rng: random.Random, site: SeededSite):
        self.rng = rng
        self.site = site

    def request(self, rule: Rule) -> FuzzRequest:
        rng = self.rng
        allowed = sorted(rule.methods or {"GET"})
        method = rng.choice(allowed) if rng.random() < 0.6 else rng.choice(METHODS)
        request = FuzzRequest(method, self.path(rule), self.query_string())
        for chance, add in ((0.1, self.host), (0.3, self.cookie), (0.15, self.conditional)):
            if rng.random() < chance:
                add(request.headers)
        if method in ("POST", "PUT", "PATCH") and rng.random() < 0.8:
            self.body(request)
        return request

    def path(self, rule: Rule) -> str:
        def value(match: re.Match[str]) -> str:
            if self.rng.random() < 0.45:
                return self.known(match.group(1))
            return self.rng.choice([self.rng.choice(HOSTILE_SEGMENTS), self.random_bytes()])

        return re.sub(r"<(?:[^<>]*:)?(\w+)>", value, rule.rule)

    def known(self, argument: str) -> str:
        site, rng = self.site, self.rng
        choices: dict[str, Callable[[], str]] = {
            "slug": lambda: rng.choice(site.author_slugs + site.tag_slugs + ("ptsd", "nobody")),
            "kind": lambda: rng.choice(["atom", "rss", "json"]),
            "entry_id": lambda: str(rng.choice(site.entry_ids)),
            "filename": lambda: rng.choice(["style.css", "style.css%00", "../feeds.yaml", "%2e%2e/feeds.yaml"]),
        }
        return choices.get(argument, lambda: "x")()

    def random_bytes(self) -> str:
        return quote(bytes(self.rng.randrange(256) for _ in range(self.rng.randrange(1, 40))), safe="")

    def query_string(self) -> str:
        rng = self.rng
        roll = rng.random()
        if roll < 0.03:
            return "&".join([f"tag={rng.choice(self.site.tag_slugs)}"] * 3000)
        if roll < 0.06:
            return "&".join(f"tag=t{i}" for i in range(3000))
        if roll < 0.08:
            return "q=" + "grief%20" * 14000
        if roll < 0.10:
            return "&".join(f"k{i}=v" for i in range(2000))
        pairs = []
        for _ in range(rng.randrange(0, 5)):
            key = rng.choice(QUERY_KEYS)
            value = {
                "before": lambda: rng.choice(CURSORS),
                "tag": lambda: rng.choice(self.site.tag_slugs + tuple(HOSTILE_SEGMENTS[:20])),
                "not": lambda: rng.choice(self.site.tag_slugs + tuple(HOSTILE_SEGMENTS[:20])),
            }.get(key, lambda: rng.choice([rng.choice(HOSTILE_SEGMENTS), self.random_bytes(), "grief"]))()
            pairs.append(f"{key}={value}")
        return "&".join(pairs)

    def host(self, headers: dict[str, str]) -> None:
        headers["Host"] = self.rng.choice(HOSTS)

    def cookie(self, headers: dict[str, str]) -> None:
        headers["Cookie"] = self.rng.choice(COOKIES)

    def conditional(self, headers: dict[str, str]) -> None:
        headers.update(self.rng.choice(CONDITIONAL_HEADERS))

    def body(self, request: FuzzRequest) -> None:
        rng = self.rng
        kind = rng.randrange(5)
        if kind == 0:
            request.data = {rng.choice(["size", "face", "spacing", "hide", "x"]): rng.choice(HOSTILE_SEGMENTS) for _ in range(3)}
        elif kind == 1:
            request.data, request.content_type = b"--x\r\ngarbage", "multipart/form-data"
        elif kind == 2:
            request.data = b"--x\r\nContent-Disposition: form-data\r\n\r\n" * 50
            request.content_type = "multipart/form-data; boundary=x"
        elif kind == 3:
            request.data, request.content_type = b"size=large&" * 60_000, "application/x-www-form-urlencoded"
        else:
            request.data, request.content_type = bytes(rng.randrange(256) for _ in range(500)), rng.choice(
                ["application/json", "text/plain", "application/x-www-form-urlencoded", "\u00ff/\u00ff"]
            )


def problems_with(response, request: FuzzRequest) -> list[str]:
    """What is wrong with an answer to a hostile request, if anything."""
    body = response.get_data(as_text=True)
    found = []
    if response.status_code >= 500:
        found.append(f"status {response.status_code}")
    found += [f"{marker!r} in the body" for marker in TRACE_MARKERS if marker in body and marker not in request.path]
    if response.status_code == 405 and "Allow" not in response.headers:
        found.append("405 without Allow")
    html_error = response.status_code >= 400 and response.mimetype == "text/html" and request.method != "HEAD"
    if html_error and ERROR_PAGE_MARKER not in body:
        found.append(f"{response.status_code} without the site's error page")
    return found


def test_no_route_answers_hostile_requests_with_a_server_error(database_url, tmp_path, caplog):
    with seeded_site(database_url, tmp_path) as site:
        rules = sorted(site.app.url_map.iter_rules(), key=lambda rule: rule.rule)
        maker = RequestMaker(random.Random(SEED), site)
        client = site.app.test_client(use_cookies=False)  # so that the Cookie headers made here are sent
        failures: dict[str, list[FuzzRequest]] = defaultdict(list)  # problem -> requests that showed it
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            for rule in rules:
                for _ in range(REQUESTS_PER_ROUTE):
                    request = maker.request(rule)
                    try:
                        response = client.open(
                            request.path, method=request.method, query_string=request.query_string,
                            headers=request.headers, data=request.data, content_type=request.content_type,
                        )  # fmt: skip
                    except Exception as exc:  # noqa: BLE001 - even the error page failed: a 500 from the server
                        failures[f"raised {type(exc).__name__}: {exc}"].append(request)
                        continue
                    for problem in problems_with(response, request):
                        failures[f"{rule.rule}: {problem}"].append(request)
                    response.close()
        logged = [
            f"{record.name} {record.levelname}: {record.getMessage()[:200]}"
            for record in caplog.records
            if record.levelno >= logging.WARNING
        ]
    assert len(rules) >= 16
    assert not failures, "\n".join(
        f"{problem} ({len(requests)} times), e.g.\n" + "\n".join(f"    {request}" for request in requests[:3])
        for problem, requests in failures.items()
    )
    assert not logged, "\n".join(logged[:10])
