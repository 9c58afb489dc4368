"""feeds.yaml edited through aggregator.feeds_file: only the block that changes differs, byte for byte.

`hand-formatted.yaml` is the file a curator keeps by hand: comments at every
indentation, odd spacing, single, double and no quotes, a list over two
lines, a block scalar, keys after the feeds, a section after the writers.
Each test edits a copy and proves that everything outside the changed lines
is the same bytes as before.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest
import yaml

from aggregator.config import load_config
from aggregator.feeds_file import FeedsFile, FeedsFileError, NewAuthor, NewFeed, render_authors
from aggregator.identity import feed_identity, slugify, unique_slug
from aggregator.tagging import tag_slug

HERE = Path(__file__).parent
HAND_FORMATTED = HERE / "fixtures" / "feeds-file" / "hand-formatted.yaml"
REPO = HERE.parent

ANN = NewAuthor(slug="ann", name="Ann Lee", feeds=(NewFeed("https://ann.example/feed"),))


@pytest.fixture
def hand_file(tmp_path: Path) -> Path:
    path = tmp_path / "feeds.yaml"
    shutil.copy(HAND_FORMATTED, path)
    return path


def changed_block(before: bytes, after: bytes) -> tuple[list[str], list[str]]:
    """The lines of the one block that differs, (old, new); everything around it is proved the same bytes."""
    old, new = before.splitlines(keepends=True), after.splitlines(keepends=True)
    head = 0
    while head < min(len(old), len(new)) and old[head] == new[head]:
        head += 1
    tail = 0
    while tail < min(len(old), len(new)) - head and old[len(old) - 1 - tail] == new[len(new) - 1 - tail]:
        tail += 1
    assert b"".join(new[:head]) == b"".join(old[:head])
    assert b"".join(new[len(new) - tail :]) == b"".join(old[len(old) - tail :])
    return [line.decode() for line in old[head : len(old) - tail]], [line.decode() for line in new[head : len(new) - tail]]


def assert_inserted(before: bytes, after: bytes, inserted: str) -> None:
    """`after` is `before` with `inserted` put in at one place, and nothing else changed."""
    block = inserted.encode()
    assert after.count(block) == 1
    at = after.index(block)
    assert after[:at] + after[at + len(block) :] == before


def edit(path: Path, *changes) -> tuple[list[str], list[str]]:
    before = path.read_bytes()
    feeds_file = FeedsFile(path)
    for change in changes:
        change(feeds_file)
    feeds_file.save()
    return changed_block(before, path.read_bytes())


# -- the hand-formatted file -----------------------------------------------------


def test_a_new_writer_goes_after_the_last_one_and_nothing_else_moves(hand_file: Path):
    old, new = edit(hand_file, lambda f: f.add_authors([ANN]))
    assert old == []
    assert new == ["\n", "- slug: ann\n", "  name: Ann Lee\n", "  feeds:\n", "    - url: https://ann.example/feed\n"]
    text = hand_file.read_text(encoding="utf-8")
    # Right after Samuel's last line, before the comment that closes the list.
    assert "        - Book a session\n\n- slug: ann\n" in text
    assert text.index("- slug: ann") < text.index("# trailing comment of the list")
    assert [a.slug for a in load_config(hand_file).authors] == ["jane-doe", "samuel-okafor", "ann"]


def test_a_feed_joins_its_writer_before_the_keys_that_follow_the_feeds(hand_file: Path):
    feed = NewFeed("https://jane.example/newsletter/rss", tags=("grief", "Trauma & Attachment"), comment='"Jane\'s newsletter"')
    old, new = edit(hand_file, lambda f: f.add_feeds("jane-doe", [feed]))
    assert old == []
    assert new == [
        "  - url: https://jane.example/newsletter/rss # \"Jane's newsletter\"\n",
        "    tags: [grief, Trauma & Attachment]\n",
    ]
    assert "    interval: 2h\n  - url: https://jane.example/newsletter/rss" in hand_file.read_text(encoding="utf-8")
    jane = load_config(hand_file).authors[0]
    assert [f.source for f in jane.feeds][-1] == "https://jane.example/newsletter/rss"
    assert jane.homepage == "https://jane.example" and jane.bio == "Writes about attachment.\n\nAnd about repair."


@pytest.mark.parametrize(
    "source, new_url, line_before, line_after",
    [
        (
            "https://jane.example/blog/feed/", "https://jane.example/journal/feed/",
            "  - url: 'https://jane.example/blog/feed/'   # quoted, single\n",
            "  - url: 'https://jane.example/journal/feed/'   # quoted, single\n",
        ),
        (
            "https://jane.example/podcast.xml", "https://podcasts.example/jane?id=7&format=rss",
            "  - url: https://jane.example/podcast.xml\n", "  - url: https://podcasts.example/jane?id=7&format=rss\n",
        ),
        (
            "HTTPS://OKAFOR.example/atom.xml", "https://okafor.example/feed/#new",
            '    - url: "https://okafor.example/atom.xml"\n', '    - url: "https://okafor.example/feed/#new"\n',
        ),
    ],
    ids=["single-quoted", "plain", "double-quoted-found-case-blind"],
)
def test_a_move_changes_one_url_in_the_quoting_it_had(hand_file: Path, source, new_url, line_before, line_after):
    assert edit(hand_file, lambda f: f.move_feed(source, new_url)) == ([line_before], [line_after])
    assert new_url in {feed.source for _, feed in load_config(hand_file).feeds}


def test_a_feed_is_commented_out_in_place_with_its_reason(hand_file: Path):
    old, new = edit(hand_file, lambda f: f.comment_out_feed("https://jane.example/podcast.xml", "2026-11-30 gone (410)"))
    assert old == ["  - url: https://jane.example/podcast.xml\n", "    interval: 2h\n"]
    assert new == [
        "  # 2026-11-30 gone (410): - url: https://jane.example/podcast.xml\n",
        "  #                          interval: 2h\n",
    ]
    config = load_config(hand_file)
    assert [f.source for _, f in config.feeds] == ["https://jane.example/blog/feed/", "https://okafor.example/atom.xml"]
    assert config.authors[0].homepage == "https://jane.example"


def test_a_writers_last_feed_takes_the_writer_with_it(hand_file: Path):
    feeds_file = FeedsFile(hand_file)
    assert feeds_file.comment_out_feed("https://okafor.example/atom.xml", "2026-11-30 failing for 31 days (not found)")
    feeds_file.save()
    old, new = changed_block(HAND_FORMATTED.read_bytes(), hand_file.read_bytes())
    prefix = "# 2026-11-30 failing for 31 days (not found): "
    assert new == [
        f"{prefix}- slug: samuel-okafor\n",
        f"#{' ' * (len(prefix) - 1)}  name: Samuel Okafor\n",
        f"#{' ' * (len(prefix) - 1)}  feeds:\n",
        f'#{" " * (len(prefix) - 1)}    - url: "https://okafor.example/atom.xml"\n',
        f"#{' ' * (len(prefix) - 1)}      boilerplate:\n",
        f"#{' ' * (len(prefix) - 1)}        - Book a session\n",
    ]
    assert [line.split("#", 1)[-1].strip() for line in old] == [line.split(":", 1)[-1].strip() if i == 0 else line[len(prefix):].strip() for i, line in enumerate(new)]  # noqa: E501
    assert [a.slug for a in load_config(hand_file).authors] == ["jane-doe"]


def test_edits_add_up_and_the_diff_shows_them_before_anything_is_written(hand_file: Path):
    before = hand_file.read_bytes()
    feeds_file = FeedsFile(hand_file)
    feeds_file.move_feed("https://jane.example/blog/feed/", "https://jane.example/journal/feed/")
    feeds_file.comment_out_feed("https://okafor.example/atom.xml", "2026-11-30 gone (410)")
    feeds_file.add_authors([ANN])
    diff = feeds_file.diff()
    assert hand_file.read_bytes() == before  # nothing written yet
    assert f"--- a/{hand_file}\n+++ b/{hand_file}\n" in diff
    assert "-  - url: 'https://jane.example/blog/feed/'   # quoted, single\n" in diff
    assert "+  - url: 'https://jane.example/journal/feed/'   # quoted, single\n" in diff
    assert "+# 2026-11-30 gone (410): - slug: samuel-okafor\n" in diff
    assert "+- slug: ann\n" in diff
    feeds_file.save()
    assert [a.slug for a in load_config(hand_file).authors] == ["jane-doe", "ann"]
    assert hand_file.read_text(encoding="utf-8").startswith(HAND_FORMATTED.read_text(encoding="utf-8").split("- slug: jane-doe")[0])


# -- refusals --------------------------------------------------------------------


def test_a_result_that_check_would_refuse_is_not_written(hand_file: Path):
    before = hand_file.read_bytes()
    feeds_file = FeedsFile(hand_file)
    feeds_file.add_authors([NewAuthor(slug="jane-doe", name="Another Jane", feeds=(NewFeed("https://other.example/feed"),))])
    with pytest.raises(FeedsFileError) as raised:
        feeds_file.save()
    assert "would not pass check" in str(raised.value) and "duplicate author slug 'jane-doe'" in str(raised.value)
    assert hand_file.read_bytes() == before
    assert os.listdir(hand_file.parent) == ["feeds.yaml"]


def test_a_file_changed_by_someone_else_meanwhile_is_not_overwritten(hand_file: Path):
    feeds_file = FeedsFile(hand_file)
    feeds_file.add_authors([ANN])
    hand_file.write_text(HAND_FORMATTED.read_text(encoding="utf-8") + "# a curator's edit\n", encoding="utf-8")
    with pytest.raises(FeedsFileError, match="changed by someone else meanwhile"):
        feeds_file.save()
    assert hand_file.read_text(encoding="utf-8").endswith("# a curator's edit\n")


def test_unknown_writers_and_feeds_and_flow_lists_are_refused(tmp_path: Path, hand_file: Path):
    feeds_file = FeedsFile(hand_file)
    with pytest.raises(FeedsFileError, match="no writer 'nobody' is listed"):
        feeds_file.add_feeds("nobody", [NewFeed("https://x.example/feed")])
    with pytest.raises(FeedsFileError, match="no feed https://x.example/feed is listed"):
        feeds_file.move_feed("https://x.example/feed", "https://y.example/feed")
    path = tmp_path / "flow.yaml"
    original = "authors: [{slug: jane, name: Jane, feeds: [{url: 'https://jane.example/feed'}]}]\n"
    path.write_text(original, encoding="utf-8")
    flow = FeedsFile(path)
    with pytest.raises(FeedsFileError, match="not a block list"):
        flow.add_authors([ANN])
    with pytest.raises(FeedsFileError, match="not a block list"):
        flow.add_feeds("jane", [NewFeed("https://jane.example/other")])
    with pytest.raises(FeedsFileError, match="flow list"):
        flow.comment_out_feed("https://jane.example/feed", "gone")
    assert path.read_text(encoding="utf-8") == original and not flow.changed


def test_the_file_keeps_its_mode_and_leaves_no_temporary_file(tmp_path: Path):
    path = tmp_path / "feeds.yaml"
    path.write_text("authors:\n", encoding="utf-8")
    path.chmod(0o640)
    feeds_file = FeedsFile(path)
    feeds_file.add_authors([ANN])
    feeds_file.save()
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert os.listdir(tmp_path) == ["feeds.yaml"]
    assert path.read_text(encoding="utf-8") == "authors:\n  - slug: ann\n    name: Ann Lee\n    feeds:\n      - url: https://ann.example/feed\n"


# -- the shapes an authors list takes --------------------------------------------


def test_appending_to_the_shipped_feeds_yaml_changes_nothing_else(tmp_path: Path):
    shutil.copy(REPO / "feeds.yaml", tmp_path / "feeds.yaml")
    shutil.copytree(REPO / "demo", tmp_path / "demo")
    path = tmp_path / "feeds.yaml"
    old_slugs = [a.slug for a in load_config(path).authors]
    before = path.read_bytes()
    edit(path, lambda f: f.add_authors([ANN]))
    assert_inserted(before, path.read_bytes(), "\n" + render_authors([ANN]))
    assert [a.slug for a in load_config(path).authors] == [*old_slugs, "ann"]


def test_appending_when_authors_is_not_the_last_key(tmp_path: Path):
    path = tmp_path / "feeds.yaml"
    path.write_text(
        "# Writers first in this file.\nauthors:\n  - slug: jane-doe\n    name: Jane Doe\n    feeds:\n"
        "      - url: https://jane.example/feed/\n    bio: |\n      Writes about attachment.\n\n\n"
        "# Help panels come after the writers.\nsupport:\n  crisis-lines:\n    title: Help now\n",
        encoding="utf-8",
    )
    before = path.read_bytes()
    edit(path, lambda f: f.add_authors([ANN]))
    assert_inserted(before, path.read_bytes(), "\n  - slug: ann\n    name: Ann Lee\n    feeds:\n      - url: https://ann.example/feed\n")
    assert "      Writes about attachment.\n\n  - slug: ann\n" in path.read_text(encoding="utf-8")
    assert load_config(path).authors[0].bio == "Writes about attachment."


@pytest.mark.parametrize("ending", ["\n", ""], ids=["newline", "no-newline"])
def test_appending_to_a_file_without_authors(tmp_path: Path, ending: str):
    path = tmp_path / "feeds.yaml"
    path.write_text("site:\n  title: Test Writers\n# the end" + ending, encoding="utf-8")
    edit(path, lambda f: f.add_authors([ANN]))
    block = render_authors([ANN])
    assert path.read_text(encoding="utf-8") == "site:\n  title: Test Writers\n# the end\n\nauthors:\n" + block.removesuffix("\n") + ending


def test_appending_to_an_unindented_list_with_crlf_line_ends(tmp_path: Path):
    path = tmp_path / "feeds.yaml"
    path.write_bytes(b"authors:\r\n- slug: jane\r\n  name: Jane\r\n  feeds:\r\n  - url: https://jane.example/feed\r\n")
    edit(path, lambda f: f.add_authors([ANN]), lambda f: f.add_feeds("jane", [NewFeed("https://jane.example/b")]))
    assert path.read_bytes() == (
        b"authors:\r\n- slug: jane\r\n  name: Jane\r\n  feeds:\r\n  - url: https://jane.example/feed\r\n"
        b"  - url: https://jane.example/b\r\n"
        b"\r\n- slug: ann\r\n  name: Ann Lee\r\n  feeds:\r\n    - url: https://ann.example/feed\r\n"
    )


@pytest.mark.parametrize(
    "before, after",
    [
        ("authors: []   # none yet\nsupport: {}\n", "authors:   # none yet\n{new}support: {{}}\n"),
        ("authors:\n\nsupport: {}\n", "authors:\n{new}\nsupport: {{}}\n"),
        ("site: {}\nauthors: ~", "site: {{}}\nauthors:\n{new_unterminated}"),
    ],
    ids=["empty-flow-list", "bare-key", "null-at-end-of-file"],
)
def test_appending_to_an_empty_authors_value(tmp_path: Path, before: str, after: str):
    path = tmp_path / "feeds.yaml"
    path.write_text(before, encoding="utf-8")
    edit(path, lambda f: f.add_authors([ANN]))
    block = render_authors([ANN])
    assert path.read_text(encoding="utf-8") == after.format(new=block, new_unterminated=block.removesuffix("\n"))


def test_hostile_names_are_written_so_that_they_read_back_as_themselves(tmp_path: Path):
    names = [
        'Dr. "Quotes" & <Tags>: #1 - yes', "null", "yes", "on", "2024", "2024-01-01", "- dash: [x] {a: b} *al &an !t",
        "Line\u2028break\x85and\ttabs", "Søren Ålund, 心理咨询", "🙂", "x" * 200, "it's", "~",
    ]
    authors = [NewAuthor(slug=f"w{i}", name=name, feeds=(NewFeed(f"https://w{i}.example/feed"),)) for i, name in enumerate(names)]
    path = tmp_path / "feeds.yaml"
    path.write_text("authors:\n", encoding="utf-8")
    edit(path, lambda f: f.add_authors(authors))
    # PyYAML, as check reads it, and YAML 1.1 rules: "yes" and "on" stay text.
    assert [a["name"] for a in yaml.safe_load(path.read_text(encoding="utf-8"))["authors"]] == names
    assert [a.name for a in load_config(path).authors][:3] == names[:3]


# -- one identity, one slug ------------------------------------------------------


@pytest.mark.parametrize(
    "a, b, same",
    [
        ("HTTPS://Jane.Example/feed/", "https://jane.example/feed/", True),
        ("  https://jane.example/feed/ ", "https://jane.example/feed/", True),
        ("https://jane.example/FEED/", "https://jane.example/feed/", False),
        ("https://jane.example/feed/?a=B", "https://jane.example/feed/?a=b", False),
        ("path:demo/feed.xml", "path:demo/feed.xml", True),
        ("http://[::1", "http://[::1", True),
    ],
)
def test_feed_identity(a: str, b: str, same: bool):
    assert (feed_identity(a) == feed_identity(b)) is same


@pytest.mark.parametrize(
    "name, tag, author",
    [
        ("Søren Ålund, Psychotherapist", "søren-ålund-psychotherapist", "soren-alund-psychotherapist"),
        ("PTSD ", "ptsd", "ptsd"),
        ("Trauma & Attachment", "trauma-attachment", "trauma-attachment"),
        ("心理咨询", "心理咨询", ""),
        ("Straße_Œuvre", "strasse-œuvre", "strasse-oeuvre"),
        ("x" * 70, "x" * 60, "x" * 60),
    ],
)
def test_one_slug_function_for_tags_and_writers(name: str, tag: str, author: str):
    assert slugify(name) == tag_slug(name) == tag
    assert slugify(name, ascii_only=True) == author


def test_unique_slug():
    assert unique_slug("jane", {"jane", "jane-2"}) == "jane-3"
    assert unique_slug("ann", set()) == "ann"


def test_check_and_import_agree_on_what_a_duplicate_feed_is(tmp_path: Path):
    path = tmp_path / "feeds.yaml"
    path.write_text(
        "authors:\n  - slug: a\n    name: A\n    feeds:\n      - url: https://A.example/feed\n"
        "      - url: HTTPS://a.EXAMPLE/feed\n",
        encoding="utf-8",
    )
    with pytest.raises(Exception, match="duplicate feed HTTPS://a.EXAMPLE/feed"):
        load_config(path)
