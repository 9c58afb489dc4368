"""`aggregator fix`: what polls learnt (moved, gone, failing for 30 days) put into feeds.yaml, in place.

The decisions are table-tested as plain data; the command runs against
the fixture server and a real SQLite database filled by `aggregator poll`,
and the file afterwards differs from the curator's only in the fixed lines.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from aggregator.config import AuthorConfig, FeedConfig, load_config
from aggregator.db import database_url, make_engine
from aggregator.fixes import FeedFacts, Fix, plan_fixes
from aggregator.models import Feed
from tests.conftest import write_config
from tests.feedserver import FeedServer

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
# The last error of a feed that answers 500, as polls record it.
FAILING = "the server answered 500 Internal Server Error: a server error; it is usually temporary"


def listed(*sources: str) -> list[tuple[AuthorConfig, FeedConfig]]:
    author = AuthorConfig(slug="maren", name="Maren")
    return [(author, FeedConfig(source=source, location=source)) for source in sources]


A, B = "https://a.example/feed", "https://b.example/feed"


@pytest.mark.parametrize(
    "facts, expected",
    [
        (FeedFacts(A, gone_at=NOW - timedelta(days=1)), Fix("maren", A, retire="gone (410)")),
        (FeedFacts(A, moved_to="https://a.example/new"), Fix("maren", A, move_to="https://a.example/new")),
        (FeedFacts(A, moved_to="HTTPS://B.example/feed"), Fix("maren", A, retire="moved to HTTPS://B.example/feed, which is listed already")),
        (
            FeedFacts(A, error_count=3, created_at=NOW - timedelta(days=40), last_error="the server answered 404 not found"),
            Fix("maren", A, retire="failing for 40 days (the server answered 404 not found)"),
        ),
        (
            FeedFacts(A, error_count=1, last_success_at=NOW - timedelta(days=30), created_at=NOW - timedelta(days=90)),
            Fix("maren", A, retire="failing for 30 days (no answer)"),
        ),
        (FeedFacts(A, error_count=5, last_success_at=NOW - timedelta(days=29), created_at=NOW - timedelta(days=90)), None),
        (FeedFacts(A, error_count=0, last_success_at=NOW - timedelta(days=300), created_at=NOW - timedelta(days=400)), None),
        (FeedFacts(A, error_count=2, created_at=NOW - timedelta(days=3)), None),
        (FeedFacts(A), None),
    ],
    ids=["gone", "moved", "moved-onto-a-listed-feed", "failing-since-listed", "failing-30-days", "failing-29-days",
         "old-but-fine", "new-and-failing", "healthy"],  # fmt: skip
)
def test_what_polls_learnt_decides_the_fix(facts: FeedFacts, expected: Fix | None):
    assert plan_fixes(listed(A, B), {A: facts}, NOW) == ([expected] if expected else [])


def test_gone_wins_over_moved_and_unlisted_feeds_are_left_alone():
    facts = {A: FeedFacts(A, moved_to="https://x.example/", gone_at=NOW), "https://gone.example/": FeedFacts("https://gone.example/", gone_at=NOW)}
    assert plan_fixes(listed(A), facts, NOW) == [Fix("maren", A, retire="gone (410)")]


# -- the command -----------------------------------------------------------------


CURATORS_FILE = """\
# Writers of this reading room. Comments are the curators' own.
site: {{title: Fix Test, base_url: "http://127.0.0.1:5000"}}

authors:
  - slug: maren          # grief and attachment
    name: Maren Holt
    feeds:
      - url: {moving}   # she moved her blog in October
        tags: [grief]
      - url: {ok}
      - url: {duplicate}
  - slug: samuel
    name: Samuel Okafor
    feeds:
      - url: {gone}
        interval: 2h    # slow poster

  - slug: ines
    name: Inés Ortega
    feeds:
      - url: '{failing}'
      - url: {ok2}

# more writers below this line, one day
"""


def test_fix_shows_a_diff_then_writes_only_the_fixed_lines(run_aggregator, feed_server: FeedServer, tmp_path: Path):
    urls = {
        "moving": feed_server.url("old-blog.xml"), "ok": feed_server.url("therapist-rss20.xml"),
        "duplicate": feed_server.url("old-copy.xml"), "gone": feed_server.url("counsellor-atom10.xml"),
        "failing": feed_server.url("jsonfeed10.json"), "ok2": feed_server.url("jsonfeed11.json"),
    }  # fmt: skip
    feed_server.script("old-blog.xml", status=301, headers={"Location": feed_server.url("rss092.xml")})
    feed_server.script("old-copy.xml", status=308, headers={"Location": urls["ok"]})
    feed_server.script("counsellor-atom10.xml", status=410, body=b"gone")
    feed_server.script("jsonfeed10.json", status=500, body=b"broken")
    path = write_config(tmp_path, CURATORS_FILE.format(**urls))
    original = path.read_text(encoding="utf-8")

    assert run_aggregator("fix").stdout == "Nothing to fix: no feed has been polled yet (there is no database).\n"
    assert run_aggregator("poll", check=False).returncode == 1
    engine = make_engine(database_url(path))
    with engine.begin() as connection:
        connection.execute(update(Feed).where(Feed.source == urls["failing"]).values(created_at=datetime.now(UTC) - timedelta(days=31)))
    engine.dispose()

    shown = run_aggregator("fix")
    today = f"{datetime.now(UTC):%Y-%m-%d}"
    assert path.read_text(encoding="utf-8") == original  # a diff, nothing written
    assert shown.stdout.startswith("--- a/feeds.yaml\n+++ b/feeds.yaml\n")
    assert f"-      - url: {urls['moving']}   # she moved her blog in October\n" in shown.stdout
    assert f"+      - url: {feed_server.url('rss092.xml')}   # she moved her blog in October\n" in shown.stdout
    assert shown.stderr.splitlines() == [
        f"maren: {urls['moving']} moved permanently to {feed_server.url('rss092.xml')}: its url is changed",
        f"maren: {urls['duplicate']} moved to {urls['ok']}, which is listed already: commented out",
        f"samuel: {urls['gone']} gone (410): commented out",
        f"ines: {urls['failing']} failing for 31 days ({FAILING}): commented out",
        "Run `aggregator fix --write` to make these changes.",
    ]

    written = run_aggregator("fix", "--write")
    assert written.stdout == "Fixed 4 feeds in feeds.yaml; run `aggregator sync` to apply.\n"
    samuel = f"  # {today} gone (410): "
    pad = "#".ljust(len(samuel) - 2)
    ines = f"      # {today} failing for 31 days ({FAILING}): "
    assert path.read_text(encoding="utf-8") == original.replace(
        f"      - url: {urls['moving']}   #", f"      - url: {feed_server.url('rss092.xml')}   #"
    ).replace(
        f"      - url: {urls['duplicate']}\n",
        f"      # {today} moved to {urls['ok']}, which is listed already: - url: {urls['duplicate']}\n",
    ).replace(
        f"  - slug: samuel\n    name: Samuel Okafor\n    feeds:\n      - url: {urls['gone']}\n        interval: 2h    # slow poster\n",
        f"{samuel}- slug: samuel\n  {pad}  name: Samuel Okafor\n  {pad}  feeds:\n  {pad}    - url: {urls['gone']}\n"
        f"  {pad}      interval: 2h    # slow poster\n",
    ).replace(f"      - url: '{urls['failing']}'\n", f"{ines}- url: '{urls['failing']}'\n")
    config = load_config(path)
    assert [a.slug for a in config.authors] == ["maren", "ines"]
    assert [f.source for _, f in config.feeds] == [feed_server.url("rss092.xml"), urls["ok"], urls["ok2"]]
    assert run_aggregator("fix").stdout.startswith("Nothing to fix")
