"""The `aggregator` command: check, sync, poll, serve, worker, schedule."""

from __future__ import annotations

import errno
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from typing import NoReturn
from pathlib import Path

import click
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from aggregator import __version__, reading, store, topics
from aggregator.config import Config, ConfigError, base_url_from_environment, default_config_path, load_config
from aggregator.db import (
    database_url, describe_database_error, is_missing_database, make_engine, migrate, session_factory, sqlite_file, transaction,
)
from aggregator.logs import LOG_FORMATS, setup_logging
from aggregator.poll import PollOutcome, is_infrastructure_failure, poll_feeds, utcnow
from aggregator.resilience import Backoff, Outage, describe
from aggregator.settings import ConfigState, load_settings
from aggregator.sync import SyncReport, plan_sync, read_current, sync_config
from aggregator.web.dates import ago
from aggregator.writers import plan_writers

config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The feeds file (default: $AGGREGATOR_CONFIG, else ./feeds.yaml).",
)
LOG_FORMAT_KEY = "aggregator.log_format"


def _remember_log_format(ctx: click.Context, param: click.Parameter, value: str) -> str:
    ctx.meta[LOG_FORMAT_KEY] = value
    return value


# Read by _setup_logging, so that a command takes the option without a parameter of its own.
log_format_option = click.option(
    "--log-format",
    type=click.Choice(LOG_FORMATS),
    default="text",
    show_default=True,
    envvar="AGGREGATOR_LOG_FORMAT",
    expose_value=False,
    callback=_remember_log_format,
    help="Log lines as text, or as one JSON object per line for log shippers ($AGGREGATOR_LOG_FORMAT).",
)


class OperatorError(click.ClickException):
    """A reason the command cannot run, said in one line with what to do; exit 2."""

    exit_code = 2

    def show(self, file=None) -> None:
        click.echo(f"aggregator: {self.format_message()}", file=file, err=True)


def main() -> None:
    cli(prog_name="aggregator")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="aggregator")
def cli() -> None:
    """A reading room for therapy writers: gather their feeds, serve them as one site."""
    try:
        base_url_from_environment()
    except ValueError as exc:
        raise OperatorError(str(exc)) from None


# -- helpers -------------------------------------------------------------------


def _config_path(path: Path | None) -> Path:
    return path or default_config_path()


def _load_config_or_exit(path: Path) -> Config:
    try:
        return load_config(path)
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        count = len(exc.problems)
        click.echo(f"{path}: {count} problem{'s' if count != 1 else ''}; nothing was changed.", err=True)
        sys.exit(1)


def _open_database(config_path: Path | None = None, *, patient: bool = False) -> sessionmaker[Session]:
    """Open and migrate the database of `config_path`; say where when this creates its SQLite file.

    `patient` (the long-running commands) waits for a database server that
    does not answer yet, as for one that goes away later; a database that
    does not exist is reported at once.
    """
    url = database_url(config_path)
    new_file = (file := sqlite_file(url)) is not None and not file.exists()
    outage = Outage(logging.getLogger("aggregator.cli"), "the database")
    backoff = Backoff()
    engine = make_engine(url, writer=True)
    while True:
        try:
            migrate(engine)
            break
        except SQLAlchemyError as exc:
            if not patient or is_missing_database(exc) or not is_infrastructure_failure(exc):
                raise OperatorError(describe_database_error(url, exc)) from None
            outage.begin(exc, retrying=f"waiting for it ({describe_database_error(url, exc)})")
            time.sleep(backoff.next_delay())
    outage.end()
    if new_file:
        click.echo(f"aggregator: created the SQLite database {file} (DATABASE_URL chooses another)", err=True)
    return session_factory(engine)


def _sync(sessions: sessionmaker[Session], config: Config) -> SyncReport:
    with transaction(sessions) as session:
        return sync_config(session, config, utcnow())


def _setup_logging(level: int) -> None:
    context = click.get_current_context(silent=True)
    setup_logging(level, context.meta.get(LOG_FORMAT_KEY, "text") if context else "text")


# -- commands ------------------------------------------------------------------


@cli.command()
@click.option("--online", is_flag=True, help="Also read the feeds (those named, else all) once from their servers.")
@click.argument("feeds", nargs=-1)
@config_option
def check(online: bool, feeds: tuple[str, ...], config_path: Path | None) -> None:
    """Validate the feeds file; print every problem as FILE:LINE: message.

    When the database is there, also warn (on stderr) about feeds that
    moved permanently or are gone, so the curator can update the file.
    With --online, read each feed (FEEDS: sources or writers' slugs) once;
    for a Wagtail source, list the fields its API offers and which of them
    the field map finds. Exit 1 if a feed cannot be read.
    """
    path = _config_path(config_path)
    config = _load_config_or_exit(path)
    click.echo(config.summary())
    for line in _feed_warnings(path, config):
        click.echo(line, err=True)
    if feeds and not online:
        raise click.UsageError("name feeds with --online (check reads them only then)")
    if online:
        from aggregator.online import check_online

        chosen = [(a, f) for a, f in config.feeds if not feeds or f.source in feeds or a.slug in feeds]
        if feeds and not chosen:
            raise click.ClickException(f"no feed or writer {', '.join(feeds)} in {path}")
        lines, broken = check_online(chosen)
        for line in lines:
            click.echo(line)
        sys.exit(1 if broken else 0)


def _feed_warnings(path: Path, config: Config) -> list[str]:
    url = database_url(path)
    if (file := sqlite_file(url)) is not None and not file.exists():
        return []  # no database yet: nothing polled, nothing to say (and none is made)
    try:
        engine = make_engine(url)
        try:
            with session_factory(engine)() as session:
                notices = reading.feed_notices(session)
        finally:
            engine.dispose()
    except SQLAlchemyError:
        return []
    warnings = []
    for _, feed in config.feeds:
        kind, since = notices.get(feed.source, ("", None))
        if kind.startswith("moved:"):
            new = kind.removeprefix("moved:")
            warnings.append(f"{path}:{feed.line}: warning: {feed.source} moved permanently to {new}; put the new address in feeds.yaml")
        elif kind == "gone":
            when = f" since {since:%Y-%m-%d}" if since else ""
            warnings.append(f"{path}:{feed.line}: warning: {feed.source} is gone (410){when}; remove it from feeds.yaml")
    return warnings


@cli.command()
@click.option("--dry-run", is_flag=True, help="Print what the sync would do, and change nothing.")
@config_option
def sync(dry_run: bool, config_path: Path | None) -> None:
    """Apply the feeds file to the database; print what was added, changed, retired."""
    config = _load_config_or_exit(_config_path(config_path))
    sessions = _open_database(config.path)
    if dry_run:
        with sessions() as session:
            plan = plan_sync(config, read_current(session))
            wishes = plan_writers(session, config)
            stored_topics = {key: store.load_setting(session, key) for key in (store.TOPICS_KEY, store.RULES_KEY)}
        lines = [f"would {change.describe()}" for change in plan.changes]
        lines += [f"would change {line}" for line in wishes.lines]
        lines += [f"would update the {line}" for line in topics.topic_changes({k: v for k, v in stored_topics.items() if v is not None}, config.topics)]
        for line in lines:
            click.echo(line)
        if not lines:
            click.echo("The database already matches the feeds file; a sync would do nothing.")
        else:
            leaving = plan.leaving + wishes.taken_down
            said = f"; {leaving} stored post{'s' if leaving != 1 else ''} would leave the pages" if leaving else ""
            click.echo(f"Dry run: {len(lines)} change{'s' if len(lines) != 1 else ''}{said}. Nothing was changed.")
        return
    report = _sync(sessions, config)
    for line in report.lines():
        click.echo(line)
    click.echo(report.summary())


@cli.command()
@click.argument("feeds", nargs=-1)
@click.option("--all", "poll_all", is_flag=True, help="Poll every feed now, whatever its schedule.")
@click.option("-v", "--verbose", is_flag=True, help="Log one line per poll.")
@log_format_option
@config_option
def poll(feeds: Sequence[str], poll_all: bool, verbose: bool, config_path: Path | None) -> None:
    """Sync, then poll due feeds (or FEEDS: author slugs or feed URLs) inline."""
    _setup_logging(logging.INFO if verbose else logging.ERROR)
    config = _load_config_or_exit(_config_path(config_path))
    try:
        sessions = _open_database(config.path)
        report = _sync(sessions, config)
        with sessions() as session:
            if feeds:
                feed_ids, unknown = store.find_feed_ids(session, feeds)
            elif poll_all:
                feed_ids, unknown = store.active_feed_ids(session), []
            else:
                feed_ids, unknown = store.due_feed_ids(session, utcnow()), []
    except (click.ClickException, SQLAlchemyError) as exc:
        _exit_database_unreachable(exc)
    if not report.unchanged:
        click.echo(report.summary())
    if unknown:
        raise click.UsageError(
            f"no feed matches {', '.join(repr(u) for u in unknown)}; name an author slug or a feed URL from feeds.yaml"
        )
    if not feed_ids:
        click.echo("No feed is due; use --all to poll every feed now.")
        return
    started = time.monotonic()
    try:
        # A feed named on the command line is polled even if it answered 410.
        outcomes = _poll_with_progress(sessions, feed_ids, force=bool(feeds))
    except SQLAlchemyError as exc:
        _exit_database_unreachable(exc)
    click.echo(_poll_summary(outcomes, time.monotonic() - started))
    sys.exit(_poll_exit_code(outcomes))


def _exit_database_unreachable(exc: Exception) -> NoReturn:
    """Exit 2: nothing could be polled without the database."""
    message = exc.format_message() if isinstance(exc, click.ClickException) else f"the database went away: {describe(exc)}"
    click.echo(f"aggregator: {message}", err=True)
    click.echo("Nothing was polled: the database could not be reached (exit 2).", err=True)
    sys.exit(2)


def _poll_exit_code(outcomes: list[PollOutcome]) -> int:
    """0 when every feed polled (or was not modified), 1 when some failed, 2 when all did or the database was away."""
    broken = [outcome for outcome in outcomes if outcome.failed or outcome.unavailable]
    if any(outcome.unavailable for outcome in outcomes) or (broken and len(broken) == len(outcomes)):
        return 2
    return 1 if broken else 0


def _poll_with_progress(sessions: sessionmaker[Session], feed_ids: list[int], force: bool) -> list[PollOutcome]:
    if sys.stdout.isatty():
        lock = threading.Lock()
        with click.progressbar(
            length=len(feed_ids),
            label=f"Polling {len(feed_ids)} feed{'s' if len(feed_ids) != 1 else ''}",
            show_pos=True,
            item_show_func=lambda outcome: outcome.author_slug if outcome else None,
        ) as bar:

            def advance(outcome: PollOutcome) -> None:
                with lock:
                    bar.update(1, outcome)

            return poll_feeds(sessions, feed_ids, on_done=advance, force=force)

    def line(outcome: PollOutcome) -> None:
        click.echo(f"{outcome.result:<12} {outcome.author_slug}: {outcome.source}" + _counts(outcome))

    return poll_feeds(sessions, feed_ids, on_done=line, force=force)


def _counts(outcome: PollOutcome) -> str:
    if outcome.failed:
        return f" ({outcome.error})"
    # A Wagtail source reads several pages of its API: what that cost is shown.
    requests = f", {outcome.requests} requests" if outcome.requests != 1 else ""
    if outcome.result == "ok":
        withdrawn = f", {outcome.withdrawn} withdrawn" if outcome.withdrawn else ""
        return f" ({outcome.new} new, {outcome.updated} updated{withdrawn}{requests})"
    return f" ({requests[2:]})" if requests else ""


def _poll_summary(outcomes: list[PollOutcome], seconds: float) -> str:
    results = Counter(outcome.result for outcome in outcomes)
    new = sum(outcome.new for outcome in outcomes)
    updated = sum(outcome.updated for outcome in outcomes)
    withdrawn = sum(outcome.withdrawn for outcome in outcomes)
    requests = sum(outcome.requests for outcome in outcomes if outcome.result in ("ok", "not-modified", "failed"))
    labels = (
        ("ok", "ok"), ("not-modified", "not modified"), ("failed", "failed"), ("deferred", "deferred"),
        ("skipped", "skipped"), ("unavailable", "not polled: database away"),
    )  # fmt: skip
    parts = [f"{results[name]} {label}" for name, label in labels if results[name]]
    lines = [
        f"Polled {len(outcomes)} feed{'s' if len(outcomes) != 1 else ''} in {seconds:.1f} s: {', '.join(parts)}; "
        f"{new} new entr{'ies' if new != 1 else 'y'}, {updated} updated"
        + (f", {withdrawn} withdrawn by their source" if withdrawn else "")
        + f". {requests} HTTP request{'s' if requests != 1 else ''}."
    ]
    failed = [outcome for outcome in outcomes if outcome.failed]
    if failed:
        lines.append(f"Failed ({len(failed)}): their stored entries are kept; fix the feed or its entry in feeds.yaml.")
        lines += [f"  {o.author_slug}  {o.source}\n    {o.error}" for o in failed]
    unavailable = [outcome for outcome in outcomes if outcome.unavailable]
    if unavailable:
        lines.append(
            f"Not polled ({len(unavailable)}): the database went away during the run; those feeds are not blamed "
            "and stay due for the next poll."
        )
    if unavailable:
        lines.append("The database was away (exit 2).")
    elif code := _poll_exit_code(outcomes):
        lines.append("Every feed failed (exit 2)." if code == 2 else "Some feeds failed (exit 1).")
    warned = [outcome for outcome in outcomes if outcome.warnings]
    if warned:
        lines.append("Warnings:")
        lines += [f"  {o.author_slug}  {o.source}: {warning}" for o in warned for warning in o.warnings]
    return "\n".join(lines)


@cli.command("import-opml")
@click.argument("opml_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--write", is_flag=True, help="Append the new writers to the feeds file (its comments are kept).")
@click.option(
    "--folders", type=click.Choice(["tags", "ignore"]), default="tags", show_default=True,
    help="What a reader's folders become: tags of the feeds inside them, or nothing.",
)
@config_option
def import_opml(opml_file: Path, write: bool, folders: str, config_path: Path | None) -> None:
    """Turn an OPML subscription list into feeds.yaml writers for the curator.

    Each feed becomes a writer named by its title (feeds of one site, one
    writer); folders become tags. What was mapped is said on stderr.
    """
    from aggregator.feeds_file import FeedsFile, FeedsFileError, render_authors
    from aggregator.opml import OpmlError, parse_opml, plan_import

    path = _config_path(config_path)
    config = _load_config_or_exit(path)
    try:
        feeds = parse_opml(opml_file.read_bytes())
    except OpmlError as exc:
        raise click.ClickException(f"{opml_file}: {exc}") from None
    plan = plan_import(feeds, {author.slug for author in config.authors}, {feed.source for _, feed in config.feeds}, folders)
    for note in plan.notes:
        click.echo(note, err=True)
    if not plan.authors:
        click.echo("Nothing new to import.")
        return
    for line in plan.report():
        click.echo(line, err=True)
    if not write:
        click.echo("# Paste under 'authors:' in feeds.yaml, and check the names and slugs:")
        click.echo(render_authors(plan.authors).rstrip("\n"))
        return
    try:
        edit = FeedsFile(path)
        edit.add_authors(plan.authors)
        edit.save()
    except FeedsFileError as exc:
        raise click.ClickException(f"nothing was written: {exc}") from None
    added = len(plan.authors)
    click.echo(f"Added {added} writer{'s' if added != 1 else ''} to {path}; run `aggregator sync` to apply.")


@cli.command()
@click.argument("url")
@click.option("--author", "author_slug", help="The writer's slug: an existing writer gets the feed, else a new one is made.")
@click.option("--name", help="A new writer's name (default: the feed's title).")
@click.option("--tag", "tags", multiple=True, help="A tag for every post of the feed; repeat for more.")
@click.option("--write", is_flag=True, help="Append the block to the feeds file (its comments are kept).")
@config_option
def add(url: str, author_slug: str | None, name: str | None, tags: tuple[str, ...], write: bool, config_path: Path | None) -> None:
    """Find the feeds of a writer's site (or take a feed's URL) and print its feeds.yaml block.

    Reads each feed found once and shows its title, posts, newest post and
    categories. With --write, appends the block to the feeds file.
    """
    from aggregator.discover import DiscoveryError, discover, new_feed, new_writer
    from aggregator.feeds_file import FeedsFile, FeedsFileError, render_authors, render_feeds
    from aggregator.fetch import Fetcher
    from aggregator.identity import AUTHOR_SLUG, feed_identity

    path = _config_path(config_path)
    config = _load_config_or_exit(path)
    existing = next((author for author in config.authors if author.slug == author_slug), None)
    if author_slug and not AUTHOR_SLUG.fullmatch(author_slug):
        raise click.UsageError(f"--author {author_slug!r}: a slug is lower-case letters, digits and hyphens, like jane-doe")
    if existing is not None and name:
        raise click.UsageError(f"'{author_slug}' is listed already, with the name {existing.name!r}; leave --name out")
    try:
        with Fetcher(site_url=config.site.base_url) as fetcher:
            found = discover(url, fetcher)
    except DiscoveryError as exc:
        raise click.ClickException(str(exc)) from None
    best = found.best()
    click.echo(f"{len(found.feeds)} feed{'s' if len(found.feeds) != 1 else ''} at {url}" + (f" ({found.page_title})" if found.page_title else "") + ":")
    for feed in found.feeds:
        click.echo(f"  {'*' if feed is best else ' '} {feed.url}")
        for line in feed.describe():
            click.echo(f"      {line}")
    if found.tried:
        click.echo(f"  Not feeds ({len(found.tried)}): " + "; ".join(f"{address} ({why})" for address, why in found.tried))
    if best is None:
        click.echo("No feed found; ask the writer for their feed's address and run `aggregator add` with it.", err=True)
        sys.exit(1)
    listed = {feed_identity(feed.source): author.slug for author, feed in config.feeds}
    already = listed.get(feed_identity(best.url)) or listed.get(feed_identity(url))
    if already:
        click.echo(f"{best.url} is listed already, under '{already}' in {path}; nothing to add.", err=True)
        sys.exit(1)
    if existing is not None:
        click.echo(f"\n# Under '{existing.slug}', in its 'feeds:' list:")
        block = render_feeds([new_feed(best, tags)])
    else:
        writer = new_writer(found, best, {a.slug for a in config.authors}, slug=author_slug, name=name, tags=tags)
        click.echo("\n# Paste under 'authors:' in feeds.yaml, and check the name and slug:")
        block = render_authors([writer])
    click.echo(block.rstrip("\n"))
    if not write:
        return
    try:
        edit = FeedsFile(path)
        if existing is not None:
            edit.add_feeds(existing.slug, [new_feed(best, tags)])
        else:
            edit.add_authors([writer])
        edit.save()
    except FeedsFileError as exc:
        raise click.ClickException(f"nothing was written: {exc}") from None
    who = f"the writer '{existing.slug}'" if existing is not None else f"a new writer '{writer.slug}'"
    click.echo(f"\nAdded {best.url} for {who} to {path}; run `aggregator sync` to apply.")


@cli.command()
@click.option("--write", is_flag=True, help="Make the changes in the feeds file (its comments are kept).")
@config_option
def fix(write: bool, config_path: Path | None) -> None:
    """Apply what polling learnt to the feeds file: moved feeds get their new url, gone ones are commented out.

    A feed gone (410) or failing for 30 days is commented out in place, with
    the date and the reason. Without --write, prints the change as a diff.
    """
    from aggregator.feeds_file import FeedsFile, FeedsFileError
    from aggregator.fixes import apply_fixes, load_facts, plan_fixes

    path = _config_path(config_path)
    config = _load_config_or_exit(path)
    url = database_url(path)
    if (file := sqlite_file(url)) is not None and not file.exists():
        click.echo("Nothing to fix: no feed has been polled yet (there is no database).")
        return
    engine = make_engine(url)
    try:
        with session_factory(engine)() as session:
            facts = load_facts(session)
    except SQLAlchemyError as exc:
        raise OperatorError(describe_database_error(url, exc)) from None
    finally:
        engine.dispose()
    now = utcnow()
    fixes = plan_fixes(config.feeds, facts, now)
    if not fixes:
        click.echo("Nothing to fix: no listed feed moved, went away or has failed for 30 days.")
        return
    try:
        edit = FeedsFile(path)
        apply_fixes(edit, fixes, now)
        if write:
            edit.save()
    except FeedsFileError as exc:
        raise click.ClickException(f"nothing was written: {exc}") from None
    for item in fixes:
        click.echo(item.describe(), err=True)
    if write:
        click.echo(f"Fixed {len(fixes)} feed{'s' if len(fixes) != 1 else ''} in {path}; run `aggregator sync` to apply.")
    else:
        click.echo(edit.diff(), nl=False)
        click.echo("Run `aggregator fix --write` to make these changes.", err=True)


@cli.command()
@click.option("--unmapped", is_flag=True, help="List the categories of stored posts that map to no topic, with their posts.")
@config_option
def tags(unmapped: bool, config_path: Path | None) -> None:
    """List the topics of feeds.yaml with their posts; --unmapped, the categories that map to none."""
    path = _config_path(config_path)
    config = _load_config_or_exit(path)
    with _open_database(path)() as session:
        lines = topics.unmapped_lines(session, config) if unmapped else topics.topic_lines(session, config)
    for line in lines:
        click.echo(line)


@cli.command()
@click.option("--author", "author_slug", required=True, metavar="SLUG", help="The writer, listed in feeds.yaml or no longer.")
@click.option("--yes", is_flag=True, help="Delete without asking first.")
@config_option
def purge(author_slug: str, yes: bool, config_path: Path | None) -> None:
    """Delete a writer's stored posts for good, when they withdraw their consent.

    Their posts go with their topics, files and search rows; the pages of
    those posts answer 410 Gone. Asks before it deletes, unless --yes.
    """
    from aggregator.purge import purge_author, purge_target

    sessions = _open_database(_config_path(config_path))
    with sessions() as session:
        target = purge_target(session, author_slug)
    if target is None:
        raise click.ClickException(f"no writer '{author_slug}' was ever synced here; check the slug in feeds.yaml or in /authors")
    posts = f"{target.posts} stored post{'s' if target.posts != 1 else ''}"
    click.echo(f"{target.name} ({target.slug}): {posts}.")
    if not target.posts:
        click.echo("Nothing to delete.")
        return
    if not yes:
        try:
            confirmed = click.confirm(f"Delete the {posts} of {target.slug} for good?", default=False)
        except click.Abort:
            confirmed = False
        if not confirmed:
            click.echo("Nothing was deleted.")
            sys.exit(1)
    with transaction(sessions) as session:
        deleted = purge_author(session, target.author_id, utcnow())
    click.echo(f"Deleted {deleted} post{'s' if deleted != 1 else ''} of {target.slug}; their pages answer 410 Gone.")
    if target.listed:
        click.echo(
            f"aggregator: {target.slug} is still listed in feeds.yaml, so their feeds will be read again at the next poll: "
            "take them out of feeds.yaml to keep their posts away.",
            err=True,
        )


@cli.command()
@config_option
def status(config_path: Path | None) -> None:
    """Print every feed's health, sick feeds first (as /status shows it).

    Exits 1 when the feeds file is refused (the site runs on the last good one).
    """
    path = _config_path(config_path)
    sessions = _open_database(path)
    with sessions() as session:
        feeds = reading.feed_health(session)
        notices = reading.feed_notices(session)
        config_state = load_settings(session).config_state
    refused = _refused_config(path, config_state)
    for line in refused:
        click.echo(line)
    if not feeds:
        click.echo("No feeds yet: list them in feeds.yaml and run `aggregator sync`.")
        sys.exit(1 if refused else 0)
    now = utcnow()
    rows = [("feed", "last check", "last ok", "http", "entries", "next check", "errors", "problem")]
    for health in feeds:
        feed = health.feed
        kind, _ = notices.get(feed.source, ("", None))
        problem = feed.last_error or ""
        if kind.startswith("moved:"):
            problem = f"moved permanently to {kind.removeprefix('moved:')}; update feeds.yaml" + (f" / {problem}" if problem else "")
        if feed.last_warnings:
            count = len(feed.last_warnings)
            problem += f"{' / ' if problem else ''}{count} warning{'s' if count != 1 else ''} at the last read: {feed.last_warnings[0]}"
        rows.append((
            f"{health.author.slug}: {feed.source}",
            ago(feed.last_checked_at, now) or "never",
            ago(feed.last_success_at, now) or "never",
            str(feed.last_status or "-"),
            str(health.entries) + _wagtail_read(feed),
            "gone" if feed.gone_at else (_until(feed.next_check_at, now) if feed.next_check_at else "-"),
            str(feed.error_count),
            problem,
        ))  # fmt: skip
    widths = [min(60, max(len(row[i]) for row in rows)) for i in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [cell[:width].ljust(width) for cell, width in zip(row, widths, strict=False)]
        click.echo("  ".join([*cells, row[-1]]).rstrip())
    sick = sum(1 for health in feeds if health.sick)
    click.echo(f"{len(feeds)} feed{'s' if len(feeds) != 1 else ''}, {sick} sick.")
    if refused:
        sys.exit(1)


def _refused_config(path: Path, stored: ConfigState) -> list[str]:
    """What is wrong with the feeds file, as /status shows it; nothing when it is good.

    The file itself is read when it is here; a web or worker machine without
    it relies on what the last sync recorded.
    """
    problems = list(stored.problems) if stored.rejected else []
    if path.exists():
        try:
            load_config(path)
            problems = []
        except ConfigError as exc:
            problems = [str(problem) for problem in exc.problems]
    if not problems:
        return []
    since = f"; the site runs on the last good version, synced {stored.last_good_at} UTC" if stored.last_good_at else ""
    return [f"The feeds file is refused{since}. Fix:", *(f"  {problem}" for problem in problems)]


def _wagtail_read(feed) -> str:
    """For a Wagtail source: how many posts the site lists, and what its last poll asked."""
    state = (feed.source_state or {}) if feed.type == "wagtail" else {}
    if state.get("total") is None:
        return ""
    return f" (site lists {state['total']}; {state.get('requests', 0)} requests)"


def _until(moment, now) -> str:
    seconds = (moment - now).total_seconds()
    if seconds <= 0:
        return "due now"
    minutes = round(seconds / 60)
    return f"in {minutes} min" if minutes < 120 else f"in {round(minutes / 60)} h"


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--no-scheduler", is_flag=True, help="Do not poll in this process.")
@click.option("--threads", default=8, show_default=True, type=int, help="Request threads.")
@click.option("--every", default=30.0, show_default=True, type=float, help="Seconds between in-process polling rounds.")
@log_format_option
@config_option
def serve(host: str, port: int, no_scheduler: bool, threads: int, every: float, config_path: Path | None) -> None:
    """Serve the site; without REDIS_URL, also poll feeds.yaml on schedule.

    Logs one line per request (method, path, status, duration_ms).
    """
    from aggregator.embedded import InProcessScheduler
    from aggregator.logs import AccessLog
    from aggregator.web import create_app

    _setup_logging(logging.INFO)
    path = _config_path(config_path)
    app = create_app(engine=make_engine(database_url(path)))
    # Listening first makes a taken port one line at once, not a traceback
    # after the first round; requests that come meanwhile wait their turn.
    server = _listen(AccessLog(app), host, port, threads)
    sessions = _open_database(path, patient=True)
    scheduler = None
    if not no_scheduler and not os.environ.get("REDIS_URL"):
        scheduler = InProcessScheduler(sessions, path, tick_seconds=every)
        # The first round runs before requests are answered, so a new site
        # shows its posts at once; slow feeds are bounded by the fetch timeouts.
        scheduler.first_round()
        scheduler.start()
    elif path.exists():
        try:
            _sync(sessions, load_config(path))
        except ConfigError as exc:
            for problem in exc.problems:
                click.echo(str(problem), err=True)
    polling = "polling in-process" if scheduler else ("polling through RQ" if os.environ.get("REDIS_URL") else "not polling")
    click.echo(f"Serving {path} on http://{host}:{port}/ ({polling}). Press Ctrl+C to stop.")
    # systemd and honcho stop with SIGTERM: finish the requests under way, as on Ctrl+C.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        server.run()
    finally:
        if scheduler is not None:
            scheduler.stop()


def _listen(app, host: str, port: int, threads: int):
    """Bind the site's socket and return the waitress server that will answer on it."""
    from waitress.server import create_server

    try:
        return create_server(app, host=host, port=port, threads=threads, ident="aggregator")
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            other = _free_port_after(host, port)
            raise OperatorError(
                f"port {port} on {host} is in use; choose another with --port {other} (or PORT={other} make run)"
            ) from None
        raise OperatorError(f"cannot listen on {host} port {port}: {exc.strerror or exc}; choose another --host or --port") from None
    except ValueError:  # waitress's word for a host name that does not resolve
        raise OperatorError(f"cannot listen on {host} port {port}: no such address; try --host 127.0.0.1") from None


def _free_port_after(host: str, port: int, tries: int = 50) -> int:
    """The first port after `port` that `host` can listen on (to suggest one that works)."""
    for candidate in range(port + 1, min(port + 1 + tries, 65536)):
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, candidate))
            except OSError:
                continue
            return candidate
    return 5050


@cli.command()
@click.option("--burst", is_flag=True, help="Work until the queue is empty, then stop.")
@log_format_option
@config_option
def worker(burst: bool, config_path: Path | None) -> None:
    """Run an RQ worker for poll jobs (needs REDIS_URL).

    Workers read feeds from the database, which `aggregator schedule`
    keeps in step with the feeds file; --config is accepted like everywhere.
    """
    from workers.queue import RedisUnavailable, connect, run_worker

    _setup_logging(logging.INFO)
    try:
        # A Redis that is down now is waited for, like one that goes away later.
        connection = connect(check=False)
    except RedisUnavailable as exc:
        raise click.ClickException(str(exc)) from None
    path = _config_path(config_path)
    _open_database(path, patient=True)  # the schema must exist before the first job
    # Jobs open the database themselves: the same file as this command's.
    os.environ.setdefault("DATABASE_URL", database_url(path))
    run_worker(connection, burst=burst)


@cli.command()
@click.option("--once", is_flag=True, help="Enqueue what is due now, then stop.")
@click.option("--every", default=30.0, show_default=True, type=float, help="Seconds between rounds.")
@log_format_option
@config_option
def schedule(once: bool, every: float, config_path: Path | None) -> None:
    """Sync feeds.yaml and enqueue due polls into RQ, one job per feed at a time."""
    from redis.exceptions import RedisError

    from workers.queue import RedisUnavailable, connect, run_scheduler

    _setup_logging(logging.INFO)
    try:
        # The loop waits for a Redis that is down; one round needs it now.
        connection = connect(check=once)
    except RedisUnavailable as exc:
        raise click.ClickException(str(exc)) from None
    path = _config_path(config_path)
    sessions = _open_database(path, patient=not once)
    if once:
        config = _load_config_or_exit(path)
        _sync(sessions, config)
        try:
            report = run_scheduler(sessions, connection, None, utcnow, once=True, tick_seconds=every)
        except (RedisError, SQLAlchemyError) as exc:
            raise click.ClickException(f"the round could not be completed: {type(exc).__name__}: {exc}") from None
        click.echo(report.summary())
        return
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    click.echo(f"Scheduling polls of {path} every {every:g} s; stop with Ctrl+C.", err=True)
    run_scheduler(sessions, connection, path, utcnow, tick_seconds=every, stop=stop)
    click.echo("Scheduler stopped.", err=True)
