"""The project's own worst-case documents through parse and clean, the slowest first.

Run by hand (figures vary with the machine; the budget is what matters):

    .venv/bin/python bench/worst_cases.py [--budget 3] [--limit 60] [--only NAME ...]

Each document is built here, then, in a child process of its own, parsed
with `parse_feed` and the entries one poll takes (`within_cleaning_budget`,
newest first) cleaned with `clean_content` and their titles with
`clean_text`, as a poll does; the rest are left for the next poll, and the
outcome says how many. The CPU seconds of each are reported,
slowest first; a document the parser refuses counts the time it took to
refuse it. A child that is still busy after --limit seconds is stopped and
reported as such. The exit status is 1 when any document costs more than
--budget CPU seconds (or fails in an unexpected way), so the script can serve
as a check, but it is not a test: timings belong to the machine.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from aggregator.clean import clean_content, clean_text  # noqa: E402
from aggregator.parse import ParseError, parse_feed  # noqa: E402
from aggregator.poll import within_cleaning_budget  # noqa: E402

FEED_URL = "https://bench.example/feed.xml"
PARAGRAPH = (
    "<p>Grief is not a problem to be solved but a weight to be carried, and carrying it "
    'changes shape over time. <a href="/blog/grief/">More on grief</a>, <em>slowly</em>.</p>\n'
)


def rss(items: list[str], *, prolog: str = "", channel_extra: str = "") -> bytes:
    return (
        f'<?xml version="1.0" encoding="utf-8"?>\n{prolog}<rss version="2.0"><channel><title>Worst case</title>'
        f"<link>https://bench.example/</link>{channel_extra}\n" + "".join(items) + "</channel></rss>\n"
    ).encode()


def item(number: int, html: str, title: str | None = None) -> str:
    return (
        f"<item><title>{escape(title or f'Post {number}')}</title><link>https://bench.example/posts/{number}/</link>"
        f"<guid>https://bench.example/posts/{number}/</guid><pubDate>Mon, 02 Nov 2026 10:00:00 GMT</pubDate>"
        f"<description>{escape(html)}</description></item>\n"
    )


# -- the documents -----------------------------------------------------------------


def entity_bomb() -> bytes:
    """The quadratic blowup: a 50,000-character entity referenced 2,000 times (100 MB expanded)."""
    prolog = f'<!DOCTYPE rss [\n<!ENTITY big "{"x" * 50_000}">\n]>\n'
    return rss([item(1, "").replace("<description></description>", "<description>" + "&big;" * 2000 + "</description>")], prolog=prolog)


def billion_laughs() -> bytes:
    """Nested entities, ten levels of ten: 10^10 characters expanded."""
    levels = ['<!ENTITY lol0 "lol">'] + [f'<!ENTITY lol{n} "{f"&lol{n - 1};" * 10}">' for n in range(1, 11)]
    prolog = "<!DOCTYPE rss [\n" + "\n".join(levels) + "\n]>\n"
    return rss([item(1, "").replace("<description></description>", "<description>&lol10;</description>")], prolog=prolog)


def deep_nesting_in_content() -> bytes:
    """One post of 5,000 nested <div>s: the cleaner's tree walk, not the feed's."""
    return rss([item(1, "<div>" * 5000 + "deep" + "</div>" * 5000)])


def deep_nesting_in_document() -> bytes:
    """5,000 nested unknown elements in the feed XML itself, inside one item."""
    nested = "<x:n>" * 5000 + "deep" + "</x:n>" * 5000
    return rss([item(1, "<p>Shallow.</p>").replace("</item>", nested + "</item>")]).replace(
        b'<rss version="2.0">', b'<rss version="2.0" xmlns:x="https://bench.example/x">'
    )


def unclosed_tag_soup() -> bytes:
    """50,000 unclosed <b><i> pairs in one post: what html5lib must close again."""
    return rss([item(1, "<b><i>word " * 50_000)])


def huge_single_entry() -> bytes:
    """One post of about 5 MB of ordinary paragraphs."""
    return rss([item(1, PARAGRAPH * (5 * 1024 * 1024 // len(PARAGRAPH)))])


def thousands_of_entries() -> bytes:
    """10,000 short entries."""
    return rss([item(n, PARAGRAPH * 2) for n in range(10_000)])


def ten_megabyte_feed() -> bytes:
    """A 10 MB feed (the fetch limit) of 500 posts of about 20 kB each."""
    return rss([item(n, PARAGRAPH * (20_000 // len(PARAGRAPH))) for n in range(500)])


def long_attribute_values() -> bytes:
    """Links, images and titles with 1 MB attribute values."""
    long = "a" * (1024 * 1024)
    html = (
        f'<p><a href="https://bench.example/?q={long}" title="{long}">link</a> '
        f'<img src="https://bench.example/{long}.jpg" alt="{long}" srcset="https://bench.example/{long}.jpg 2x"></p>'
    )
    return rss([item(1, html)])


def many_attributes() -> bytes:
    """One element with 20,000 attributes, most of them unknown to the allowlist."""
    attributes = " ".join(f'data-a{n}="{n}"' for n in range(20_000))
    return rss([item(1, f'<p {attributes} class="x">text</p>')])


def one_long_word() -> bytes:
    """A post that is one 2 MB word: excerpt and word count without a space to cut at."""
    return rss([item(1, "<p>" + "w" * (2 * 1024 * 1024) + "</p>")])


def many_character_references() -> bytes:
    """A million character and predefined entity references in one post."""
    return rss([item(1, "<p>" + "&amp;&#8217;&lt;&#x2014;" * 250_000 + "</p>")]).replace(b"&amp;amp;", b"&amp;")


def html_entities_everywhere() -> bytes:
    """200,000 HTML named entities (&nbsp; &eacute;): expat stops, feedparser's loose parser reads on."""
    return rss([item(n, "") .replace("<description></description>", "<description>caf&eacute;&nbsp;" * 1000 + "</description>") for n in range(100)])


def truncated_ten_megabytes() -> bytes:
    """The 10 MB feed cut off in its last entry."""
    whole = ten_megabyte_feed()
    return whole[: len(whole) - 5000]


def blank_lines_before_the_root() -> bytes:
    """100,000 blank lines between the XML declaration and the root (feedparser's DOCTYPE search was quadratic)."""
    return rss([item(1, "<p>Short.</p>")]).replace(b"?>\n", b"?>" + b"\n" * 100_000, 1)


def spaces_before_the_root() -> bytes:
    """8 MB of spaces on eight lines between the XML declaration and the root."""
    return rss([item(1, "<p>Short.</p>")]).replace(b"?>\n", b"?>" + (b" " * 1024 * 1024 + b"\n") * 8, 1)


def huge_title() -> bytes:
    """A 1 MB HTML title."""
    return rss([item(1, "<p>Short.</p>", title="<b>Title</b> " * (1024 * 1024 // 13))])


def many_embeds() -> bytes:
    """A post with 5,000 iframes and 5,000 images."""
    html = '<p><iframe src="https://www.youtube.com/embed/dQw4w9WgXcQ?start=90"></iframe><img src="/i.jpg" width="1" height="1"></p>' * 5000
    return rss([item(1, html)])


CASES: dict[str, Callable[[], bytes]] = {
    case.__name__.replace("_", "-"): case
    for case in (
        entity_bomb,
        billion_laughs,
        deep_nesting_in_content,
        deep_nesting_in_document,
        unclosed_tag_soup,
        huge_single_entry,
        thousands_of_entries,
        ten_megabyte_feed,
        long_attribute_values,
        many_attributes,
        one_long_word,
        many_character_references,
        html_entities_everywhere,
        truncated_ten_megabytes,
        blank_lines_before_the_root,
        spaces_before_the_root,
        huge_title,
        many_embeds,
    )
}


# -- running them ------------------------------------------------------------------


@dataclass(frozen=True)
class Cost:
    name: str
    size: int
    parse_seconds: float = 0.0
    clean_seconds: float = 0.0
    entries: int = 0
    outcome: str = "stored"  # what the poll would do: stored, refused: ..., or failed: ...
    stopped: bool = False  # still busy at the limit: `parse_seconds` holds the limit

    @property
    def seconds(self) -> float:
        return self.parse_seconds + self.clean_seconds


def measure(name: str) -> Cost:
    """Parse and clean one document as a poll does, counting CPU time."""
    body = CASES[name]()
    started = time.process_time()
    try:
        parsed = parse_feed(body, FEED_URL)
    except ParseError as refused:
        return Cost(name, len(body), time.process_time() - started, outcome=f"refused: {refused}")
    parse_seconds = time.process_time() - started
    started = time.process_time()
    taken, left = within_cleaning_budget(list(parsed.entries))
    try:
        for entry in taken:
            clean_text(entry.title, entry.title_is_html)
            clean_content(entry.content, entry.content_is_html, entry.base_url, entry_url=entry.url)
    except Exception as exc:  # noqa: BLE001 - reported: an entry the cleaner cannot take
        return Cost(name, len(body), parse_seconds, time.process_time() - started, len(parsed.entries), f"failed: {type(exc).__name__}")
    outcome = f"stored, {left:,} left for the next poll" if left else "stored"
    return Cost(name, len(body), parse_seconds, time.process_time() - started, len(parsed.entries), outcome)


def _measure_into(name: str, results: multiprocessing.Queue) -> None:
    results.put(measure(name))


def measure_in_child(name: str, limit: float) -> Cost:
    """Measure in a process of its own, so that one runaway document cannot hold the rest."""
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    child = context.Process(target=_measure_into, args=(name, results), daemon=True)
    child.start()
    try:
        return results.get(timeout=limit)
    except Exception:  # noqa: BLE001 - queue.Empty: still busy at the limit
        return Cost(name, len(CASES[name]()), limit, outcome="failed: still busy, stopped", stopped=True)
    finally:
        child.join(1)
        if child.is_alive():
            child.kill()
            child.join()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=3.0, help="CPU seconds one document may cost (default 3)")
    parser.add_argument("--limit", type=float, default=60.0, help="wall seconds before a document is stopped (default 60)")
    parser.add_argument("--only", nargs="*", choices=sorted(CASES), help="run these documents only")
    args = parser.parse_args()
    costs = sorted((measure_in_child(name, args.limit) for name in args.only or CASES), key=lambda c: c.seconds, reverse=True)
    print("| document | size | entries | parse (CPU s) | clean (CPU s) | total (CPU s) | outcome |")
    print("|---|---|---|---|---|---|---|")
    for cost in costs:
        parse, clean = ("?", "?") if cost.stopped else (f"{cost.parse_seconds:.2f}", f"{cost.clean_seconds:.2f}")
        print(
            f"| {cost.name} | {cost.size / 1024 / 1024:.1f} MB | {cost.entries:,} | {parse} | {clean} | "
            f"{'over ' if cost.stopped else ''}{cost.seconds:.2f} | {cost.outcome} |"
        )
    slowest = costs[0]
    over = [c for c in costs if c.seconds > args.budget or c.outcome.startswith("failed")]
    print(f"\nslowest: {slowest.name}, {slowest.seconds:.2f} CPU s (budget {args.budget:g} s per document)")
    for cost in over:
        print(f"over budget or failed: {cost.name}: {cost.seconds:.2f} CPU s, {cost.outcome}")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
