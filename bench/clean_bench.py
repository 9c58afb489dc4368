"""Cleaning cost per entry, its share of a whole poll, and what a re-poll of
unchanged entries costs.

Run by hand (figures vary with the machine; compare the ratios):

    .venv/bin/python bench/clean_bench.py [--posts 200] [--rounds 3]

It builds a corpus of long posts from the real-shaped samples in
tests/fixtures/html (each post about 2,000 words, with its platform's
debris), writes them as one RSS file, then:

1. cleans every post with `clean_content` and reports µs per entry;
2. polls the feed into a fresh SQLite store with the one poll function,
   timing the cleaning inside it, and reports cleaning's share of the poll;
3. polls the same bytes again (validators forgotten, so the feed is fetched
   and parsed in full) and counts how many entries were cleaned: none,
   because each entry's content hash is unchanged.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from xml.sax.saxutils import escape

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sqlalchemy import update  # noqa: E402

from aggregator import poll as poll_module  # noqa: E402
from aggregator.clean import clean_content  # noqa: E402
from aggregator.config import load_config  # noqa: E402
from aggregator.db import make_engine, migrate, session_factory, transaction  # noqa: E402
from aggregator.models import Feed  # noqa: E402
from aggregator.poll import Poller  # noqa: E402
from aggregator.sync import sync_config  # noqa: E402

SAMPLES = REPO / "tests" / "fixtures" / "html"


def corpus(posts: int) -> list[str]:
    samples = [path.read_text(encoding="utf-8") for path in sorted(SAMPLES.glob("*.html"))]
    bodies = []
    for index in range(posts):
        sample = samples[index % len(samples)]
        # About 2,000 words: the sample's post four or five times, its debris included.
        repeat = max(1, 2000 // max(1, len(sample.split())))
        bodies.append(f"<p>Post {index}.</p>" + sample * repeat)
    return bodies


def write_feed(directory: Path, bodies: list[str]) -> Path:
    items = "".join(
        f"<item><title>Long post {i}</title><link>https://bench.example/posts/{i}/</link><guid>bench-{i}</guid>"
        f"<pubDate>Mon, 02 Nov 2026 10:{i % 60:02d}:00 GMT</pubDate><category>Trauma</category>"
        f"<description>{escape(body)}</description></item>"
        for i, body in enumerate(bodies)
    )
    feed = directory / "long-posts.xml"
    feed.write_text(f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Bench</title>{items}</channel></rss>', encoding="utf-8")
    (directory / "feeds.yaml").write_text("authors:\n  - slug: bench\n    name: Bench\n    feeds:\n      - path: long-posts.xml\n", encoding="utf-8")
    return directory / "feeds.yaml"


class CleanTimer:
    """Wraps clean_content inside the poll path, counting calls and time."""

    def __init__(self) -> None:
        self.calls = 0
        self.seconds = 0.0

    def __call__(self, *args, **kwargs):
        started = time.perf_counter()
        try:
            return clean_content(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - started
            self.calls += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    bodies = corpus(args.posts)
    words = statistics.mean(len(clean_content(b, True, "https://bench.example/").text.split()) for b in bodies[:20])
    print(f"corpus: {len(bodies)} posts, {statistics.mean(len(b) for b in bodies) / 1024:.0f} KiB of HTML and ~{words:.0f} words each after cleaning")

    per_entry = []
    for _ in range(args.rounds):
        for body in bodies:
            started = time.perf_counter()
            clean_content(body, True, "https://bench.example/posts/1/", entry_url="https://bench.example/posts/1/")
            per_entry.append((time.perf_counter() - started) * 1e6)
    per_entry.sort()
    print(
        f"clean_content: median {statistics.median(per_entry):,.0f} µs per entry, "
        f"p95 {per_entry[int(len(per_entry) * 0.95)]:,.0f} µs ({len(per_entry)} cleanings)"
    )
    # For scale: bleach's own Cleaner with the same allowlist, without our
    # tidying (dropped elements, boilerplate, embeds, URL filter).
    import bleach

    from aggregator.clean import ALLOWED_ATTRIBUTES, ALLOWED_PROTOCOLS, ALLOWED_TAGS

    plain = bleach.Cleaner(tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES, protocols=ALLOWED_PROTOCOLS, strip=True)
    bare = []
    for body in bodies:
        started = time.perf_counter()
        plain.clean(body)
        bare.append((time.perf_counter() - started) * 1e6)
    print(
        f"bleach.Cleaner alone, same allowlist: median {statistics.median(bare):,.0f} µs per entry "
        f"(clean_content costs {statistics.median(per_entry) / statistics.median(bare):.2f}x that)"
    )

    with tempfile.TemporaryDirectory() as folder:
        config = load_config(write_feed(Path(folder), bodies))
        engine = make_engine(f"sqlite:///{folder}/bench.sqlite3", writer=True)
        migrate(engine)
        sessions = session_factory(engine)
        with transaction(sessions) as session:
            from datetime import UTC, datetime

            sync_config(session, config, datetime.now(UTC))
        timer = CleanTimer()
        poll_module.clean_content = timer
        try:
            with Poller(sessions) as poller:
                started = time.perf_counter()
                first = poller.poll(1)
                first_seconds = time.perf_counter() - started
            cleaned_first, clean_seconds = timer.calls, timer.seconds
            print(
                f"first poll: {first.new} new entries in {first_seconds * 1000:,.0f} ms; cleaning took "
                f"{clean_seconds * 1000:,.0f} ms ({clean_seconds / first_seconds:.0%} of the poll) for {cleaned_first} entries"
            )
            with transaction(sessions) as session:
                session.execute(update(Feed).values(etag=None, last_modified=None))
            with Poller(sessions) as poller:
                started = time.perf_counter()
                second = poller.poll(1)
                second_seconds = time.perf_counter() - started
            print(
                f"re-poll of the same bytes (fetched and parsed in full): {second.unchanged} unchanged, "
                f"{timer.calls - cleaned_first} cleaned, {second_seconds * 1000:,.0f} ms "
                f"({second_seconds / first_seconds:.0%} of the first poll)"
            )
        finally:
            poll_module.clean_content = clean_content
            engine.dispose()


if __name__ == "__main__":
    main()
