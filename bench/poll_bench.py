"""The cost of a poll: ours against the limit of our stack and against reader (issue 12).

Run by hand (several minutes at the default size; figures vary with the
machine, so compare the ratios measured within one run):

    .venv/bin/python bench/poll_bench.py [--feeds 200] [--entries 50] [--repeat 3] [--write]

A quick run: --feeds 20 --entries 20 --repeat 1 (about a minute).

It writes a corpus of N feeds x M long-form entries (about 6 KB of blog HTML
each, from the seed post's paragraphs, with images, links and categories),
serves it on 127.0.0.1 with ETag, Last-Modified and 304 answers, then
measures the CPU (user + sys of the child process and its children) and the
wall time of:

- `aggregator poll --all` into a fresh SQLite database (cold), then again
  with every feed answering 304 (warm);
- bench/stack_limit.py, the same work done with our parts and nothing else;
- the `reader` library from PyPI, in its own virtual environment
  (bench/.venv-reader, created on first use);

alternating, each `--repeat` times, medians reported. Then:

- RQ warm: `aggregator schedule --once` + `aggregator worker --burst` over
  the warm corpus (Redis database 12, flushed before and after);
- RQ cold with 1 and with 2 workers in parallel, wall time;
- peak RSS of one `aggregator poll` of a single 5,000-entry feed.

Every figure includes the start of each process (imports, setup), as a
curator's or a cron job's run would: a small part of a cold run, a large
part of a warm one, the same for every contender.

With --write the figures are appended to bench/RESULTS.md with the command.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import shlex
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from xml.sax.saxutils import escape

REPO = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
PYTHON = REPO / ".venv" / "bin" / "python"
AGGREGATOR = REPO / ".venv" / "bin" / "aggregator"
READER_VENV = BENCH / ".venv-reader"
RESULTS = BENCH / "RESULTS.md"
SEED = REPO.parent / "shared" / "samples" / "seed-post.txt"
REDIS_URL = "redis://127.0.0.1:6379/12"
BIG_FEED_ENTRIES = 5000
# Shorter posts there, so that 5,000 of them stay under the fetch limit of 10 MB.
BIG_FEED_ENTRY_BYTES = 1200
CATEGORIES = ["Trauma", "Attachment", "Grief", "Anxiety", "Couples", "Shame", "Self-care", "Parenting", "Burnout", "Hope"]

# reader as its users run it: add the feeds (once), update them all.
READER_SCRIPT = """
import sys
from reader import make_reader
reader = make_reader(sys.argv[1])
for url in open(sys.argv[2]).read().split():
    reader.add_feed(url, exist_ok=True)
# Every feed, as `poll --all` does, not only those reader would schedule now.
reader.update_feeds(scheduled=False)
reader.close()
"""


def paragraphs() -> list[str]:
    return [escape(block.strip()) for block in SEED.read_text(encoding="utf-8").split("\n\n") if block.strip()]


def entry_html(blocks: list[str], feed: int, entry: int, rng: random.Random, size_goal: int) -> str:
    """About `size_goal` bytes of a long-form post: the seed's paragraphs shuffled, with headings, images, links and a quote."""
    site = f"https://writer{feed}.example"
    parts = [f"<p>Notes from the practice, number {entry}.</p>"]
    size = 0
    while size < size_goal:
        block = rng.choice(blocks)
        choice = rng.random()
        if choice < 0.15:
            parts.append(f"<h2>{block[:60]}</h2>")
        elif choice < 0.3:
            parts.append(
                f'<figure><img src="{site}/wp-content/uploads/{entry}-{size}.jpg" alt="A quiet room" width="800" height="533">'
                f"<figcaption>{block[:80]}</figcaption></figure>"
            )
        elif choice < 0.4:
            parts.append(f"<blockquote><p>{block[:300]}</p></blockquote>")
        words = block.split(" ")
        link_at = rng.randrange(len(words))
        words[link_at] = f'<a href="{site}/{rng.choice(CATEGORIES).lower()}/{entry}/">{words[link_at]}</a>'
        parts.append(f"<p>{' '.join(words)}</p>")
        size = sum(len(part) for part in parts)
    return "".join(parts)


def feed_xml(blocks: list[str], feed: int, entries: int, size_goal: int = 5800) -> bytes:
    rng = random.Random(feed)
    items = []
    for entry in range(entries):
        categories = "".join(f"<category>{name}</category>" for name in rng.sample(CATEGORIES, 3))
        items.append(
            f"<item><title>Post {entry} of writer {feed}</title><link>https://writer{feed}.example/posts/{entry}/</link>"
            f"<guid>https://writer{feed}.example/?p={entry}</guid>"
            f"<pubDate>{format_datetime(datetime(2026, 1 + entry % 11, 1 + entry % 28, 9, entry % 60, tzinfo=UTC), usegmt=True)}</pubDate>"
            f"{categories}<description>{escape(entry_html(blocks, feed, entry, rng, size_goal))}</description></item>"
        )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Writer {feed}</title>'
        f"<link>https://writer{feed}.example/</link><description>A therapist's blog</description>{''.join(items)}</channel></rss>"
    ).encode()


class Corpus:
    """Feed bodies served from memory with validators; counts what it answered."""

    def __init__(self) -> None:
        self.bodies: dict[str, tuple[bytes, str]] = {}
        self.last_modified = format_datetime(datetime(2026, 11, 1, tzinfo=UTC), usegmt=True)
        self.answers = {200: 0, 304: 0, 404: 0}
        self.lock = threading.Lock()

    def add(self, path: str, body: bytes) -> None:
        self.bodies[path] = (body, '"' + hashlib.sha256(body).hexdigest()[:16] + '"')

    def count(self, status: int) -> None:
        with self.lock:
            self.answers[status] += 1

    def take_answers(self) -> dict[int, int]:
        with self.lock:
            answers, self.answers = self.answers, {200: 0, 304: 0, 404: 0}
        return answers


def serve(corpus: Corpus) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            found = corpus.bodies.get(self.path)
            if found is None:
                corpus.count(404)
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body, etag = found
            fresh = self.headers.get("If-None-Match") == etag or (
                self.headers.get("If-None-Match") is None and self.headers.get("If-Modified-Since") == corpus.last_modified
            )
            corpus.count(304 if fresh else 200)
            self.send_response(304 if fresh else 200)
            self.send_header("ETag", etag)
            self.send_header("Last-Modified", corpus.last_modified)
            if fresh:
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_header("Content-Type", "application/rss+xml; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    class Server(ThreadingHTTPServer):
        def handle_error(self, request: object, client_address: object) -> None:
            # A client that hangs up early (a fetch over its size limit) is not the benchmark's error.
            if not isinstance(sys.exc_info()[1], ConnectionError):
                super().handle_error(request, client_address)

    server = Server(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@dataclass
class Run:
    cpu: float  # user + sys seconds of the processes and their reaped children
    wall: float
    max_rss_mb: float


# Starts the measured processes from a small process of its own: a child's
# ru_maxrss counts the memory of the process that forked it (Linux keeps the
# high-water mark across exec), and this one holds the whole corpus.
LAUNCHER_SCRIPT = """
import json, os, subprocess, sys, time
for line in sys.stdin:
    job = json.loads(line)
    with open(job["log"], "ab") as output:
        started = time.perf_counter()
        processes = [subprocess.Popen(command, env=job["env"], stdout=output, stderr=output) for command in job["commands"]]
        results = []
        for process in processes:
            _, status, usage = os.wait4(process.pid, 0)
            results.append([os.waitstatus_to_exitcode(status), usage.ru_utime + usage.ru_stime, usage.ru_maxrss])
    print(json.dumps({"wall": time.perf_counter() - started, "results": results}), flush=True)
"""


class Launcher:
    def __init__(self) -> None:
        self.process = subprocess.Popen([sys.executable, "-c", LAUNCHER_SCRIPT], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def run(self, commands: list[list[str]], env: dict[str, str], log: Path) -> Run:
        """Start the commands together and wait for all; the rusage of wait4 covers each one's children too."""
        self.process.stdin.write(json.dumps({"commands": commands, "env": env, "log": str(log)}) + "\n")
        self.process.stdin.flush()
        answer = json.loads(self.process.stdout.readline())
        for (code, _, _), command in zip(answer["results"], commands):
            if code != 0:
                sys.exit(f"{shlex.join(command)} failed with {code}; see {log}")
        cpu = sum(cpu for _, cpu, _ in answer["results"])
        return Run(cpu, answer["wall"], max(rss for _, _, rss in answer["results"]) / 1024)

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait()


def feeds_yaml(path: Path, urls: list[str]) -> Path:
    lines = ["site:", "  title: Poll bench", "authors:"]
    for number, url in enumerate(urls):
        lines += [f"  - slug: writer-{number}", f"    name: Writer {number}", "    feeds:", f"      - url: {url}"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def flush_redis() -> None:
    subprocess.run([str(PYTHON), "-c", f"import redis; redis.Redis.from_url({REDIS_URL!r}).flushdb()"], check=True)


def ensure_reader() -> Path:
    python = READER_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(READER_VENV)], check=True)
        # reader's own copy of feedparser imports sgmllib, which it does not install.
        subprocess.run([str(python), "-m", "pip", "install", "-q", "reader", "sgmllib3k"], check=True)
    return python


def median(runs: list[Run], field: str) -> float:
    return statistics.median(getattr(one, field) for one in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=200)
    parser.add_argument("--entries", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--write", action="store_true", help="append the figures to bench/RESULTS.md")
    args = parser.parse_args()
    reader_python = ensure_reader()
    launcher = Launcher()
    run = launcher.run
    reader_version = subprocess.run(
        [str(reader_python), "-c", "import reader; print(reader.__version__)"], capture_output=True, text=True, check=True
    ).stdout.strip()

    blocks = paragraphs()
    corpus = Corpus()
    for feed in range(args.feeds):
        corpus.add(f"/feeds/{feed}.xml", feed_xml(blocks, feed, args.entries))
    corpus.add("/big.xml", feed_xml(blocks, 10_000, BIG_FEED_ENTRIES, BIG_FEED_ENTRY_BYTES))
    entry_kb = statistics.mean(len(corpus.bodies[urlpath][0]) for urlpath in corpus.bodies if urlpath.startswith("/feeds/")) / args.entries / 1024
    server = serve(corpus)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    urls = [f"{base}/feeds/{feed}.xml" for feed in range(args.feeds)]
    lines: list[str] = []

    def say(line: str = "") -> None:
        print(line, flush=True)
        lines.append(line)

    say(f"corpus: {args.feeds} feeds x {args.entries} entries, {entry_kb:.1f} KB of escaped HTML per entry in the RSS")
    try:
        with tempfile.TemporaryDirectory() as folder_name:
            folder = Path(folder_name)
            # Outside the folder, so that it outlives a failed run.
            log = Path(tempfile.gettempdir()) / "poll_bench.log"
            log.write_bytes(b"")
            config = feeds_yaml(folder / "feeds.yaml", urls)
            (folder / "urls.txt").write_text("\n".join(urls) + "\n", encoding="utf-8")
            plain_env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "REDIS_URL", "AGGREGATOR_CONFIG")}

            def ours(config_file: Path = config) -> list[str]:
                return [str(AGGREGATOR), "poll", "--all", "--config", str(config_file)]

            def ours_env(database: Path, redis: bool = False) -> dict[str, str]:
                env = {**plain_env, "DATABASE_URL": f"sqlite:///{database}"}
                if redis:
                    env["REDIS_URL"] = REDIS_URL
                return env

            tools = {
                "ours": lambda database: (ours(), ours_env(database)),
                "stack limit": lambda database: ([str(PYTHON), str(BENCH / "stack_limit.py"), str(folder / "urls.txt"), str(database)], plain_env),
                "reader": lambda database: ([str(reader_python), "-c", READER_SCRIPT, str(database), str(folder / "urls.txt")], plain_env),
            }
            results: dict[tuple[str, str], list[Run]] = {}
            answers: dict[tuple[str, str], dict[int, int]] = {}
            warm_database = None
            for round_number in range(args.repeat):
                for name, make in tools.items():
                    database = folder / f"{name.replace(' ', '-')}-{round_number}.sqlite3"
                    for phase in ("cold", "warm"):
                        command, env = make(database)
                        corpus.take_answers()
                        results.setdefault((name, phase), []).append(run([command], env, log))
                        answers[(name, phase)] = corpus.take_answers()
                    if name == "ours":
                        warm_database = database
                print(f"round {round_number + 1} of {args.repeat} done", flush=True)

            # RQ warm: every feed due again, every one answering 304.
            rq_warm: list[Run] = []
            for _ in range(args.repeat):
                with sqlite3.connect(warm_database) as connection:
                    connection.execute("UPDATE feeds SET next_check_at = last_checked_at")
                flush_redis()
                corpus.take_answers()
                env = ours_env(warm_database, redis=True)
                schedule = run([[str(AGGREGATOR), "schedule", "--once", "--config", str(config)]], env, log)
                work = run([[str(AGGREGATOR), "worker", "--burst", "--config", str(config)]], env, log)
                rq_warm.append(Run(schedule.cpu + work.cpu, schedule.wall + work.wall, max(schedule.max_rss_mb, work.max_rss_mb)))
                answers[("rq", "warm")] = corpus.take_answers()
            flush_redis()

            # RQ cold, 1 and 2 workers, alternating.
            rq_cold: dict[int, list[Run]] = {1: [], 2: []}
            for round_number in range(args.repeat):
                for workers in (1, 2):
                    database = folder / f"rq-cold-{workers}-{round_number}.sqlite3"
                    env = ours_env(database, redis=True)
                    flush_redis()
                    corpus.take_answers()
                    schedule = run([[str(AGGREGATOR), "schedule", "--once", "--config", str(config)]], env, log)
                    work = run([[str(AGGREGATOR), "worker", "--burst", "--config", str(config)]] * workers, env, log)
                    rq_cold[workers].append(Run(schedule.cpu + work.cpu, schedule.wall + work.wall, work.max_rss_mb))
                    answers[("rq", f"cold {workers}")] = corpus.take_answers()
            flush_redis()

            big_config = feeds_yaml(folder / "big.yaml", [f"{base}/big.xml"])
            big = run([ours(big_config)], ours_env(folder / "big.sqlite3"), log)
            big_answers = corpus.take_answers()
    finally:
        launcher.close()
        server.shutdown()
        server.server_close()
        try:
            flush_redis()
        except subprocess.CalledProcessError:
            pass

    feeds = args.feeds
    entries = feeds * args.entries
    say(f"medians of {args.repeat} alternating run(s); CPU is user + sys of the process and its children")
    say()
    say(f"{'':<22}{'cold CPU s':>11}{'cold wall s':>12}{'µs CPU/entry':>13}{'warm CPU s':>11}{'warm wall s':>12}{'ms CPU/feed':>12}{'peak MB':>9}")
    for name in tools:
        cold, warm = results[(name, "cold")], results[(name, "warm")]
        say(
            f"{name:<22}{median(cold, 'cpu'):>11.2f}{median(cold, 'wall'):>12.2f}{median(cold, 'cpu') / entries * 1e6:>13,.0f}"
            f"{median(warm, 'cpu'):>11.2f}{median(warm, 'wall'):>12.2f}{median(warm, 'cpu') / feeds * 1000:>12.1f}"
            f"{max(median(cold, 'max_rss_mb'), median(warm, 'max_rss_mb')):>9.0f}"
        )
    say(f"{'RQ warm (sched+work)':<22}{'':>11}{'':>12}{'':>13}{median(rq_warm, 'cpu'):>11.2f}{median(rq_warm, 'wall'):>12.2f}{median(rq_warm, 'cpu') / feeds * 1000:>12.1f}{median(rq_warm, 'max_rss_mb'):>9.0f}")
    for workers in (1, 2):
        runs = rq_cold[workers]
        say(f"{f'RQ cold, {workers} worker(s)':<22}{median(runs, 'cpu'):>11.2f}{median(runs, 'wall'):>12.2f}{median(runs, 'cpu') / entries * 1e6:>13,.0f}{'':>11}{'':>12}{'':>12}{median(runs, 'max_rss_mb'):>9.0f}")
    say()
    say("answers served in the last run of each (200 / 304 / 404): " + "; ".join(
        f"{name} {phase} {found[200]}/{found[304]}/{found[404]}" for (name, phase), found in answers.items()
    ))  # fmt: skip
    say()
    cpu = {key: median(runs, "cpu") for key, runs in results.items()}
    reader_wall = median(results[("reader", "cold")], "wall")
    ratios = [
        ("cold CPU, ours / stack limit", cpu[("ours", "cold")] / cpu[("stack limit", "cold")], "<= 1.15"),
        ("cold CPU, ours / reader", cpu[("ours", "cold")] / cpu[("reader", "cold")], ""),
        ("warm CPU per feed, ours / reader", cpu[("ours", "warm")] / cpu[("reader", "warm")], "<= 1.0"),
        ("warm CPU per feed, RQ / reader", median(rq_warm, "cpu") / cpu[("reader", "warm")], "<= 0.5"),
        ("cold wall, 2 RQ workers / reader", median(rq_cold[2], "wall") / reader_wall, "<= 0.6"),
        ("cold wall, 1 RQ worker / reader", median(rq_cold[1], "wall") / reader_wall, ""),
        ("scaling 1 -> 2 workers (wall 1 / wall 2)", median(rq_cold[1], "wall") / median(rq_cold[2], "wall"), ""),
    ]
    for label, value, target in ratios:
        say(f"{label:<42}{value:>6.2f}x" + (f"   (target {target})" if target else ""))
    say(
        f"{'peak RSS, one poll of a 5,000-entry feed':<42}{big.max_rss_mb:>6.0f} MB   (target < 200; "
        f"{big.cpu:.1f} s CPU, {big_answers[200]} fetch of {len(corpus.bodies['/big.xml'][0]) / 2**20:.1f} MB)"
    )
    say(f"{'peak RSS, cold poll of all feeds':<42}{median(results[('ours', 'cold')], 'max_rss_mb'):>6.0f} MB")

    if args.write:
        command = ".venv/bin/python bench/poll_bench.py " + shlex.join(
            [f"--feeds={args.feeds}", f"--entries={args.entries}", f"--repeat={args.repeat}", "--write"]
        )
        section = (
            f"\n## The cost of a poll (issue 12), {datetime.now(UTC):%Y-%m-%d}\n\n"
            f"Command:\n\n    {command}\n\n"
            f"Run on {datetime.now(UTC):%Y-%m-%d} (Python {platform.python_version()}, reader {reader_version}, "
            f"SQLite, {os.cpu_count()} cores):\n\n```\n" + "\n".join(lines) + "\n```\n"
        )
        with RESULTS.open("a", encoding="utf-8") as results_file:
            results_file.write(section)
        print(f"appended to {RESULTS}")


if __name__ == "__main__":
    main()
