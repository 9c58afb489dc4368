"""Page latency at 1,000 and 100,000 entries, on SQLite and PostgreSQL.

Run by hand (it takes several minutes; needs Debian's `wrk` and, for
PostgreSQL, the server on 127.0.0.1:5432):

    .venv/bin/python bench/web_bench.py [--sizes 1000 100000] [--databases sqlite postgresql]
        [--seconds 10] [--connections 2] [--write-results]

For each database and size it loads that many entries from 300 writers with
50 topics into a fresh database, serves the site with gunicorn (2 workers,
this machine's cores) on 127.0.0.1, and loads each route with wrk, reading
p50 and p95 latency. The figure that matters is the ratio 100k/1k per
route (goal: under 1.5), and p50 at 100,000 entries on SQLite for / and
/tag/<slug> (goal: under 20 ms). With --write-results the table goes into
bench/RESULTS.md, replacing the previous run's.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from html import escape
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sqlalchemy import create_engine, insert, text  # noqa: E402

from aggregator.db import make_engine, migrate  # noqa: E402
from aggregator.models import Author, Entry, EntryTag, Feed, Setting, Tag  # noqa: E402

AUTHORS = 300
TAGS = 50
TAGS_PER_ENTRY = 3
WORDS_PER_ENTRY = 160
POSTGRES_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
LUA = Path(__file__).with_name("percentiles.lua")
RESULTS = Path(__file__).with_name("RESULTS.md")
SECTION = "## Pages at 100,000 entries (issue 5)"
TOPICS = [
    "trauma", "attachment", "grief", "anxiety", "depression", "neglect", "shame", "couples", "parenting", "self-care",
    "boundaries", "burnout", "dissociation", "ptsd", "sleep", "adolescence", "loneliness", "mindfulness", "somatic",
    "emdr", "cbt", "family", "work", "men", "women", "identity", "addiction", "recovery", "eating", "body-image",
    "perfectionism", "anger", "forgiveness", "loss", "divorce", "friendship", "aging", "chronic-illness", "neurodiversity",
    "adhd", "autism", "supervision", "training", "ethics", "creativity", "nature", "spirituality", "culture", "trust", "hope",
]  # fmt: skip


VOCABULARY = 20_000  # word types, as in a large body of English prose


def vocabulary() -> list[str]:
    """Real words from the project's sample posts, then made-up rarer ones."""
    words: list[str] = []
    for path in sorted((REPO / "tests" / "fixtures" / "html").glob("*.html")):
        words += re.findall(r"[a-z]{3,}", re.sub(r"<[^>]+>", " ", path.read_text(encoding="utf-8")).lower())
    words = list(dict.fromkeys(words))
    syllables = ["ba", "ce", "di", "fo", "gu", "ha", "ke", "li", "mo", "nu", "pa", "re", "si", "to", "vu", "wa"]
    number = 0
    while len(words) < VOCABULARY:
        number += 1
        made, rest = "", number
        while rest:
            rest, digit = divmod(rest, len(syllables))
            made += syllables[digit]
        words.append(made + "n")
    return words


def zipf(count: int) -> list[float]:
    return [1 / (rank + 1) for rank in range(count)]


def load(url: str, entries: int, seed: int = 7) -> dict[str, str]:
    """Fill a migrated database; return the names the routes use.

    Words, writers and topics all follow Zipf's law, as on a real planet: a
    few prolific writers and common topics, many occasional ones.
    """
    random.seed(seed)
    words = vocabulary()
    weights = zipf(len(words))
    author_weights = zipf(AUTHORS)
    tag_weights = zipf(TAGS)
    now = datetime.now(UTC)
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(insert(Setting), [{"key": "site", "value": {"title": "Bench", "base_url": "http://127.0.0.1:5000"}}])
        connection.execute(insert(Tag), [{"id": i + 1, "slug": slug, "name": slug.replace("-", " ").capitalize()} for i, slug in enumerate(TOPICS)])
        connection.execute(insert(Author), [
            {"id": a + 1, "slug": f"writer-{a:03d}", "name": f"Writer {a:03d}", "bio": "", "created_at": now, "links": []}
            for a in range(AUTHORS)
        ])  # fmt: skip
        connection.execute(insert(Feed), [
            {"id": a + 1, "author_id": a + 1, "source": f"https://w{a}.example/feed", "location": f"https://w{a}.example/feed",
             "tags": [], "boilerplate": [], "interval_seconds": 1800, "interval_fixed": False, "error_count": 0, "created_at": now}
            for a in range(AUTHORS)
        ])  # fmt: skip
        batch: list[dict] = []
        tag_rows: list[dict] = []
        for number in range(1, entries + 1):
            body = random.choices(words, weights, k=WORDS_PER_ENTRY)
            when = now - timedelta(minutes=random.randrange(3 * 365 * 24 * 60))
            author = random.choices(range(1, AUTHORS + 1), author_weights)[0]
            title = " ".join(random.choices(words, weights, k=6)).capitalize()
            plain = " ".join(body)
            batch.append({
                "id": number, "feed_id": author, "author_id": author, "key_hash": uuid.uuid4().hex, "guid": f"bench-{number}",
                "url": f"https://w{author}.example/p/{number}/", "title": title, "author_name": None,
                "content_html": "<p>" + escape(plain) + "</p>", "summary_text": " ".join(body[:60]) + " …",
                "content_text": plain, "word_count": WORDS_PER_ENTRY, "is_teaser": False, "content_notes": [],
                "content_hash": "x", "published_at": when, "updated_at": None, "first_seen_at": when,
                "last_changed_at": when, "sort_time": when,
            })  # fmt: skip
            chosen: set[int] = set()
            while len(chosen) < TAGS_PER_ENTRY:
                chosen.add(random.choices(range(1, TAGS + 1), tag_weights)[0])
            tag_rows += [{"entry_id": number, "tag_id": tag} for tag in sorted(chosen)]
            if len(batch) == 2000 or number == entries:
                connection.execute(insert(Entry), batch)
                connection.execute(insert(EntryTag), tag_rows)
                batch, tag_rows = [], []
    # Fresh statistics, as autovacuum (PostgreSQL) or a periodic ANALYZE (SQLite)
    # would leave after a site grew to this size; committed, or they are lost.
    with engine.begin() as connection:
        connection.execute(text("ANALYZE"))
    engine.dispose()
    return names_of(url)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def serve(url: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = dict(os.environ, DATABASE_URL=url, PYTHONPATH=str(REPO))
    env.pop("REDIS_URL", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--workers", "2", "--bind", f"127.0.0.1:{port}", "--log-level", "warning",
         "aggregator.web:create_app()"],
        env=env, cwd=REPO,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            urllib.request.urlopen(base + "/healthz", timeout=2).read()
            return process, base
        except OSError:
            time.sleep(0.2)
    process.terminate()
    raise RuntimeError("gunicorn did not start")


def measure(url: str, seconds: int, connections: int) -> tuple[float, float, int]:
    for _ in range(20):  # warm caches and the per-process summaries
        urllib.request.urlopen(url, timeout=30).read()
    output = subprocess.run(
        ["wrk", "-t", str(min(connections, 2)), "-c", str(connections), "-d", f"{seconds}s", "-s", str(LUA), url],
        capture_output=True, text=True, check=True,
    ).stdout
    found = re.search(r"RESULT p50=([\d.]+) p95=([\d.]+) requests=(\d+) errors=(\d+)", output)
    if not found or int(found.group(4)):
        raise RuntimeError(f"wrk failed for {url}:\n{output}")
    return float(found.group(1)), float(found.group(2)), int(found.group(3))


def size_of(url: str) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return connection.execute(text("SELECT count(*) FROM entries")).scalar()
    finally:
        engine.dispose()


def names_of(url: str) -> dict[str, str]:
    """What the routes ask for: a topic and a writer of middling size, the two
    most common topics together, and a word about one post in twenty holds."""
    words = vocabulary()
    return {"tag": TOPICS[5], "tag_a": TOPICS[0], "tag_b": TOPICS[1], "author": "writer-005", "word": words[300]}


def database(kind: str, folder: Path, size: int) -> tuple[str, object]:
    if kind == "sqlite":
        # A kept data folder (--data-dir) reuses a database of the same size.
        return f"sqlite:///{folder / f'bench-{size}.sqlite3'}", None
    name = f"aggregator_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return POSTGRES_ADMIN.rsplit("/", 1)[0] + "/" + name, drop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 100_000])
    parser.add_argument("--databases", nargs="+", default=["sqlite", "postgresql"], choices=["sqlite", "postgresql"])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=2)
    parser.add_argument("--write-results", action="store_true")
    parser.add_argument("--data-dir", help="keep the SQLite databases here and reuse them (for repeated runs)")
    args = parser.parse_args()
    results: dict[tuple[str, str, int], tuple[float, float, int]] = {}
    notes: list[str] = []
    with tempfile.TemporaryDirectory() as folder:
        for kind in args.databases:
            for size in args.sizes:
                url, cleanup = database(kind, Path(args.data_dir or folder), size)
                try:
                    migrate(make_engine(url))
                    started = time.monotonic()
                    if args.data_dir and kind == "sqlite" and size_of(url) == size:
                        names = names_of(url)
                    else:
                        names = load(url, size)
                        notes.append(f"{kind}, {size:,} entries: loaded in {time.monotonic() - started:.0f} s")
                    routes = {
                        "/": "/",
                        "/tag/<slug>": f"/tag/{names['tag']}",
                        "/?tag=a&tag=b": f"/?tag={names['tag_a']}&tag={names['tag_b']}",
                        "/author/<slug>": f"/author/{names['author']}",
                        "/search?q=": f"/search?q={names['word']}",
                        "/feed.atom": "/feed.atom",
                    }
                    process, base = serve(url)
                    try:
                        for label, path in routes.items():
                            results[(kind, label, size)] = measure(base + path, args.seconds, args.connections)
                            p50, p95, count = results[(kind, label, size)]
                            print(f"{kind:10} {size:>7,} {label:16} p50 {p50:7.2f} ms  p95 {p95:7.2f} ms  ({count} requests)", flush=True)
                    finally:
                        process.terminate()
                        process.wait(30)
                finally:
                    if cleanup:
                        cleanup()
    table = report(results, args.sizes, args.databases)
    print(table)
    if args.write_results:
        write_results(table, notes, args)


def report(results, sizes: list[int], kinds: list[str]) -> str:
    small, large = min(sizes), max(sizes)
    lines = [
        f"| database | route | p50 {small:,} | p95 {small:,} | p50 {large:,} | p95 {large:,} | p50 ratio | p95 ratio |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for kind in kinds:
        for label in ("/", "/tag/<slug>", "/?tag=a&tag=b", "/author/<slug>", "/search?q=", "/feed.atom"):
            a, b = results.get((kind, label, small)), results.get((kind, label, large))
            if not a or not b:
                continue
            lines.append(
                f"| {kind} | `{label}` | {a[0]:.1f} ms | {a[1]:.1f} ms | {b[0]:.1f} ms | {b[1]:.1f} ms | "
                f"{b[0] / a[0]:.2f} | {b[1] / a[1]:.2f} |"
            )
    return "\n".join(lines)


def write_results(table: str, notes: list[str], args) -> None:
    command = (
        f".venv/bin/python bench/web_bench.py --sizes {' '.join(map(str, args.sizes))} --databases {' '.join(args.databases)} "
        f"--seconds {args.seconds} --connections {args.connections} --write-results"
    )
    section = "\n".join([
        SECTION, "", "Command:", "", f"    {command}", "",
        f"Run on {datetime.now(UTC):%Y-%m-%d} on the 2-core development machine: gunicorn with 2 workers on 127.0.0.1, "
        f"wrk with {args.connections} connections for {args.seconds} s per route after 20 warm-up requests. "
        "300 writers, 50 topics, 3 topics and 160 words per entry (Zipf-distributed words from the sample posts).", "",
        table, "", *[f"- {note}" for note in notes], "",
    ])  # fmt: skip
    current = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else "# Benchmark results\n"
    if SECTION in current:
        start = current.index(SECTION)
        following = current.find("\n## ", start + len(SECTION))
        current = current[:start] + section + (current[following + 1 :] if following != -1 else "")
    else:
        current = current.rstrip("\n") + "\n\n" + section
    RESULTS.write_text(current, encoding="utf-8")


if __name__ == "__main__":
    main()
