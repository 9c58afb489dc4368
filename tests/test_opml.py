"""OPML: export of the writers, import from readers' exports, and feeds.yaml entries.

Each sample in fixtures/opml imitates one reader's export: Feedly (category
folders), NetNewsWire (a flat list) and an OPML 1.0 file with lower-case
attribute names and folders two deep. The others are broken on purpose.
"""

from __future__ import annotations

import os
import shutil
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from aggregator.config import load_config, parse_config
from aggregator.opml import (
    MAX_OPML_BYTES,
    OpmlError,
    OpmlFeed,
    append_to_feeds_yaml,
    export_opml,
    feeds_yaml_entries,
    parse_opml,
)

SAMPLES = Path(__file__).parent / "fixtures" / "opml"
CONFIGS = Path(__file__).parent / "fixtures" / "config"
REPO = Path(__file__).parent.parent
DOCTYPE_MESSAGE = "OPML with a DOCTYPE is refused: it could expand entities"


def sample(name: str) -> list[OpmlFeed]:
    return parse_opml((SAMPLES / name).read_bytes())


def check_entries(text: str) -> None:
    """Fail unless the entries make a feeds file the project accepts."""
    parse_config("authors:\n" + text, Path("/tmp/x/feeds.yaml"))


# -- export ----------------------------------------------------------------------


def test_export_round_trip_keeps_web_feeds_and_special_characters():
    authors = [
        ("ines-ortega", 'Dr. Inés "Nessa" Ortega & <Partners>', "https://ortega-therapy.example/", [
            ("https://ortega-therapy.example/feed/?cat=grief&lang=es", "Notes from the Couch — ‘grief’ & <loss>", None),
            ("http://ortega-therapy.example/atom.xml", None, "https://ortega-therapy.example/atom/"),
            ("file:///srv/demo/feed.xml", "A local copy", None),
        ]),
        ("demo", "A Demo Writer", None, [("file:///srv/demo/atom.xml", None, None)]),
        ("soren-alund", "Søren Ålund, 心理咨询", None, [("https://alund.example/feed.xml", "Søren's notebook", None)]),
    ]
    document = export_opml(
        title="Therapy Writers", owner_url="http://127.0.0.1:5000/",
        date=datetime(2024, 6, 3, 9, 30, tzinfo=UTC), authors=authors,
    )
    assert document.startswith(b"<?xml version='1.0' encoding='utf-8'?>\n<opml version=\"2.0\">")
    assert b"<dateCreated>Mon, 03 Jun 2024 09:30:00 GMT</dateCreated>" in document
    assert b"<docs>http://opml.org/spec2.opml</docs>" in document
    assert b"<ownerId>http://127.0.0.1:5000/</ownerId>" in document
    assert b"file://" not in document and b"Demo Writer" not in document
    assert parse_opml(document) == [
        OpmlFeed(
            "https://ortega-therapy.example/feed/?cat=grief&lang=es", "Notes from the Couch — ‘grief’ & <loss>",
            "https://ortega-therapy.example/", 'Dr. Inés "Nessa" Ortega & <Partners>',
        ),
        OpmlFeed(
            "http://ortega-therapy.example/atom.xml", 'Dr. Inés "Nessa" Ortega & <Partners>',
            "https://ortega-therapy.example/atom/", 'Dr. Inés "Nessa" Ortega & <Partners>',
        ),
        OpmlFeed("https://alund.example/feed.xml", "Søren's notebook", None, "Søren Ålund, 心理咨询"),
    ]


def test_export_of_a_loaded_config_and_back_into_feeds_yaml():
    config = load_config(CONFIGS / "valid.yaml")
    authors = [
        (a.slug, a.name, a.homepage, [(f.location, None, None) for f in a.feeds]) for a in config.authors
    ]
    document = export_opml(title=config.site.title, owner_url=config.site.base_url, date=datetime(2024, 1, 1), authors=authors)
    feeds = parse_opml(document)
    assert [(f.xml_url, f.group) for f in feeds] == [
        ("https://jane.example/feed/", "Jane Doe, LMFT"),
        ("https://jane.example/api/v2/pages/?type=blog.BlogPage", "Jane Doe, LMFT"),
    ]
    # Importing the site's own export into itself adds nothing.
    text, notes = feeds_yaml_entries(feeds, {a.slug for a in config.authors}, {f.source for _, f in config.feeds})
    assert text == ""
    assert notes == [f"skipped {f.xml_url}: already in feeds.yaml" for f in feeds]


def test_export_drops_characters_xml_cannot_carry():
    document = export_opml(
        title="Bell\x07 and NUL\x00", owner_url="http://127.0.0.1:5000/", date=datetime(2024, 1, 1),
        authors=[("a", "Ann\x0b", None, [("https://ann.example/feed", "Title\x1b", None)])],
    )
    assert parse_opml(document) == [OpmlFeed("https://ann.example/feed", "Title", None, "Ann")]


# -- samples ---------------------------------------------------------------------


def test_feedly_export_with_category_folders():
    assert sample("feedly.opml") == [
        OpmlFeed("https://securebase.example/feed/", "The Secure Base", "https://securebase.example", "Trauma & Attachment"),
        OpmlFeed(
            "https://ortega-therapy.example/blog?format=rss", "Notes from the Couch — Dr. Inés Ortega",
            "https://ortega-therapy.example/blog", "Trauma & Attachment",
        ),
        OpmlFeed("https://afterloss.example/rss.xml", "After the Loss", "https://afterloss.example/", "Grief"),
        OpmlFeed("https://securebase.example/feed/", "The Secure Base", "https://securebase.example", "Grief"),
        OpmlFeed(
            "https://twochairs.example/feed/?cat=couples&lang=en", 'Two Chairs "Counselling" <Blog>',
            "https://twochairs.example/", "Couples",
        ),
    ]


def test_netnewswire_flat_list():
    assert sample("netnewswire.opml") == [
        OpmlFeed("https://alund.example/feed.xml", "Søren Ålund, Psychotherapist", "https://alund.example/", None),
        OpmlFeed("http://mindthegap.example/atom.xml", "Mind the Gap: a counsellor's notebook", "http://mindthegap.example/", None),
        OpmlFeed("HTTPS://AnxiousMind.example/feed/", "The Anxious Mind", "https://anxiousmind.example", None),
        OpmlFeed("https://xinli.example/rss", "心理咨询笔记", "https://xinli.example/", None),
    ]


def test_opml_1_with_lowercase_attributes_and_nested_folders():
    # Unsafe htmlurls become None; file:// and feed:// outlines are skipped; a
    # feed with no text or title is named after its host.
    assert sample("opml1-nested.opml") == [
        OpmlFeed("http://betweenus.example/rss.xml", "Between Us", "http://betweenus.example/", "Couples"),
        OpmlFeed("https://playroom.example/atom.xml", "Play Room Notes", None, "Child & Family"),
        OpmlFeed("https://familysystems.example/feed", "Family Systems Today", None, "Child & Family"),
        OpmlFeed("https://quietroom.example/feed/", "The Quiet Room", "https://quietroom.example/", "Clinicians"),
        OpmlFeed("https://nameless.example/feed", "nameless.example", None, None),
        OpmlFeed("https://mendez.example/feed", "José Méndez, LPC", None, None),
    ]


def test_deep_nesting_does_not_exhaust_the_stack():
    depth = 20_000
    document = (
        b'<opml version="2.0"><body>' + b'<outline text="f">' * depth
        + b'<outline text="Deep" xmlUrl="https://deep.example/feed"/>' + b"</outline>" * depth + b"</body></opml>"
    )
    assert parse_opml(document) == [OpmlFeed("https://deep.example/feed", "Deep", None, "f")]


# -- errors ----------------------------------------------------------------------


def test_broken_xml_names_the_line():
    with pytest.raises(OpmlError) as raised:
        sample("broken.opml")
    assert str(raised.value) == "broken OPML: XML syntax error at line 10, column 5: mismatched tag"
    assert raised.value.line == 10


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "broken OPML: XML syntax error at line 1, column 1: no element found"),
        (b"Jane Doe, https://jane.example/feed/\n", "broken OPML: XML syntax error at line 1, column 1: syntax error"),
        (b'<opml version="2.0">\n<head/>\n</opml>', "broken OPML: the document has no <body>"),
    ],
    ids=["empty", "not-xml", "no-body"],
)
def test_unreadable_documents(data: bytes, message: str):
    with pytest.raises(OpmlError) as raised:
        parse_opml(data)
    assert str(raised.value) == message
    assert isinstance(raised.value, ValueError)


def test_non_opml_xml_is_refused():
    with pytest.raises(OpmlError) as raised:
        sample("not-opml.xml")
    assert str(raised.value) == "not an OPML document: the root element is <rss>, not <opml>"


def test_doctype_and_entities_are_refused_before_parsing():
    with pytest.raises(OpmlError) as raised:
        sample("doctype.opml")
    assert str(raised.value) == DOCTYPE_MESSAGE


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32"])
def test_doctype_is_refused_in_wide_encodings(encoding: str):
    text = '<?xml version="1.0"?><!DOCTYPE opml SYSTEM "file:///etc/passwd"><opml version="2.0"><body/></opml>'
    with pytest.raises(OpmlError) as raised:
        parse_opml(text.encode(encoding))
    assert str(raised.value) == DOCTYPE_MESSAGE


def test_oversized_input_is_refused():
    data = b'<opml version="2.0"><body>' + b" " * MAX_OPML_BYTES + b"</body></opml>"
    with pytest.raises(OpmlError, match=r"too large: .* the limit is 5,242,880"):
        parse_opml(data)


# -- feeds.yaml entries ----------------------------------------------------------


def test_entries_from_folders_with_taken_slugs_and_known_urls():
    text, notes = feeds_yaml_entries(
        sample("feedly.opml"),
        existing_slugs={"grief", "trauma-attachment"},
        existing_urls={"HTTPS://TWOCHAIRS.example/feed/?cat=couples&lang=en"},
    )
    assert text == (
        '  - slug: trauma-attachment-2  # from "Trauma & Attachment" (OPML)\n'
        '    name: "Trauma & Attachment"\n'
        "    homepage: https://securebase.example\n"
        "    feeds:\n"
        '      - url: https://securebase.example/feed/  # "The Secure Base"\n'
        '      - url: https://ortega-therapy.example/blog?format=rss  # "Notes from the Couch — Dr. Inés Ortega"\n'
        "\n"
        '  - slug: grief-2             # from "Grief" (OPML)\n'
        "    name: Grief\n"
        "    homepage: https://afterloss.example/\n"
        "    feeds:\n"
        '      - url: https://afterloss.example/rss.xml  # "After the Loss"\n'
    )
    assert notes == [
        "skipped https://securebase.example/feed/: listed twice in the OPML",
        "skipped https://twochairs.example/feed/?cat=couples&lang=en: already in feeds.yaml",
        'trauma-attachment-2: the group "Trauma & Attachment" holds feeds of 2 sites; split it if they are different writers',
    ]
    check_entries(text)


def test_entries_from_every_sample_pass_the_validator():
    feeds = sample("feedly.opml") + sample("netnewswire.opml") + sample("opml1-nested.opml")
    text, _ = feeds_yaml_entries(feeds, set(), set())
    config = parse_config("authors:\n" + text, Path("/tmp/x/feeds.yaml"))
    assert [a.slug for a in config.authors] == [
        "trauma-attachment", "grief", "couples", "soren-alund-psychotherapist",
        "mind-the-gap-a-counsellor-s-notebook", "the-anxious-mind", "writer", "child-family", "clinicians", "nameless-example", "jose-mendez-lpc",
    ]
    assert [a.name for a in config.authors][3:7] == [
        "Søren Ålund, Psychotherapist", "Mind the Gap: a counsellor's notebook", "The Anxious Mind", "心理咨询笔记",
    ]
    # One author per group name, whichever file it came from.
    assert [f.source for f in config.authors[2].feeds] == [
        "https://twochairs.example/feed/?cat=couples&lang=en", "http://betweenus.example/rss.xml",
    ]
    assert len(config.feeds) == len(feeds) - 1  # the Secure Base is in two folders


def test_entries_quote_hostile_names_and_dedupe_slugs():
    hostile = [
        'Dr. "Quotes" & <Tags>: #1 - yes',
        "null",
        "yes",
        "2024",
        "- dash: [not, a, list] {or: map} *alias &anchor !tag",
        "Line\u2028break\x85and\ttabs",
        "Jane Doe",
        "Jane Döe",
        "🙂",
        "x" * 200,
    ]
    feeds = [OpmlFeed(f"https://w{i}.example/feed", name, None, None) for i, name in enumerate(hostile)]
    feeds.append(OpmlFeed("https://odd.example/a:", "Odd URL", "https://odd.example/#top", "Odd"))
    feeds.append(OpmlFeed("https://w6.example/Feed", "Jane Doe", None, None))  # a path differs: a new feed
    text, notes = feeds_yaml_entries(feeds, existing_slugs={"jane-doe", "writer"}, existing_urls=set())
    assert notes == []
    config = parse_config("authors:\n" + text, Path("/tmp/x/feeds.yaml"))
    assert [a.name for a in config.authors] == [
        'Dr. "Quotes" & <Tags>: #1 - yes', "null", "yes", "2024",
        "- dash: [not, a, list] {or: map} *alias &anchor !tag", "Line break and tabs",
        "Jane Doe", "Jane Döe", "🙂", "x" * 200, "Odd",
    ]
    slugs = [a.slug for a in config.authors]
    assert slugs[:9] == [
        "dr-quotes-tags-1-yes", "null", "yes", "2024", "dash-not-a-list-or-map-alias-anchor-tag",
        "line-break-and-tabs", "jane-doe-2", "jane-doe-3", "writer-2",
    ]
    assert slugs[9] == "x" * 60 and slugs[10] == "odd"
    assert [f.source for f in config.authors[6].feeds] == ["https://w6.example/feed", "https://w6.example/Feed"]
    assert config.authors[10].feeds[0].source == "https://odd.example/a:"
    assert yaml.safe_load("authors:\n" + text)["authors"][1]["name"] == "null"


def test_entries_skip_known_urls_case_blind_on_scheme_and_host_only():
    feeds = [
        OpmlFeed("https://Jane.Example/feed/", "Jane", None, None),
        OpmlFeed("https://jane.example/FEED/", "Jane", None, None),
        OpmlFeed("ftp://jane.example/feed/", "Jane", None, None),
    ]
    text, notes = feeds_yaml_entries(feeds, set(), {"HTTPS://JANE.EXAMPLE/feed/"})
    assert notes == [
        "skipped https://Jane.Example/feed/: already in feeds.yaml",
        "skipped ftp://jane.example/feed/: not an http(s) address",
    ]
    assert text == "  - slug: jane                # from \"Jane\" (OPML)\n    name: Jane\n    feeds:\n      - url: https://jane.example/FEED/\n"


# -- appending to feeds.yaml -----------------------------------------------------


def new_entries() -> str:
    text, _ = feeds_yaml_entries(sample("netnewswire.opml"), set(), set())
    return text


def test_append_to_the_shipped_feeds_yaml_changes_nothing_else(tmp_path: Path):
    shutil.copy(REPO / "feeds.yaml", tmp_path / "feeds.yaml")
    shutil.copytree(REPO / "demo", tmp_path / "demo")
    path = tmp_path / "feeds.yaml"
    before = path.read_bytes()
    old_slugs = [a.slug for a in load_config(path).authors]
    entries = new_entries()

    append_to_feeds_yaml(path, entries)

    after = path.read_bytes()
    inserted = ("\n" + entries).encode()
    assert after.count(inserted) == 1
    at = after.index(inserted)
    assert after[:at] + after[at + len(inserted) :] == before
    # Right after the last author's last line, before the comments that follow it.
    last_line = before[:at].decode().splitlines()[-1].strip()
    assert last_line and not last_line.startswith("#")
    rest = before[at:].decode().splitlines()
    assert all(not line.strip() or line.lstrip().startswith("#") or not line.startswith(" ") for line in rest)
    assert after.endswith(b"\n")
    config = load_config(path)
    assert [a.slug for a in config.authors] == old_slugs + [
        "soren-alund-psychotherapist", "mind-the-gap-a-counsellor-s-notebook", "the-anxious-mind", "writer",
    ]


def test_append_when_authors_is_not_the_last_key(tmp_path: Path):
    path = tmp_path / "feeds.yaml"
    path.write_text(
        "# Writers first in this file.\n"
        "authors:\n"
        "  - slug: jane-doe\n"
        "    name: Jane Doe\n"
        "    feeds:\n"
        "      - url: https://jane.example/feed/\n"
        "        tags: [trauma,\n"
        "               grief]   # a list over two lines\n"
        "    bio: |\n"
        "      Writes about attachment.\n"
        "\n"
        "\n"
        "# Help panels come after the writers.\n"
        "support:\n"
        "  crisis-lines:\n"
        "    title: Help now\n",
        encoding="utf-8",
    )
    entries = '  - slug: ann\n    name: Ann\n    feeds:\n      - url: https://ann.example/feed\n'
    append_to_feeds_yaml(path, entries)
    assert path.read_text(encoding="utf-8") == (
        "# Writers first in this file.\n"
        "authors:\n"
        "  - slug: jane-doe\n"
        "    name: Jane Doe\n"
        "    feeds:\n"
        "      - url: https://jane.example/feed/\n"
        "        tags: [trauma,\n"
        "               grief]   # a list over two lines\n"
        "    bio: |\n"
        "      Writes about attachment.\n"
        "\n"
        "  - slug: ann\n"
        "    name: Ann\n"
        "    feeds:\n"
        "      - url: https://ann.example/feed\n"
        "\n"
        "\n"
        "# Help panels come after the writers.\n"
        "support:\n"
        "  crisis-lines:\n"
        "    title: Help now\n"
    )
    config = load_config(path)
    assert [a.slug for a in config.authors] == ["jane-doe", "ann"]
    assert config.authors[0].bio == "Writes about attachment."


@pytest.mark.parametrize("ending", ["\n", ""], ids=["newline", "no-newline"])
def test_append_to_a_file_without_authors(tmp_path: Path, ending: str):
    path = tmp_path / "feeds.yaml"
    path.write_text("site:\n  title: Test Writers\n# the end" + ending, encoding="utf-8")
    append_to_feeds_yaml(path, new_entries())
    text = path.read_text(encoding="utf-8")
    assert text == "site:\n  title: Test Writers\n# the end\n\nauthors:\n" + new_entries().removesuffix("\n") + ending
    assert len(load_config(path).authors) == 4


def test_append_to_an_unindented_list_with_crlf_line_ends(tmp_path: Path):
    path = tmp_path / "feeds.yaml"
    path.write_bytes(b"authors:\r\n- slug: jane\r\n  name: Jane\r\n  feeds:\r\n  - url: https://jane.example/feed\r\n")
    append_to_feeds_yaml(path, "  - slug: ann\n    name: Ann\n    feeds:\n      - url: https://ann.example/feed\n")
    assert path.read_bytes() == (
        b"authors:\r\n- slug: jane\r\n  name: Jane\r\n  feeds:\r\n  - url: https://jane.example/feed\r\n"
        b"\r\n- slug: ann\r\n  name: Ann\r\n  feeds:\r\n    - url: https://ann.example/feed\r\n"
    )
    assert [a.slug for a in load_config(path).authors] == ["jane", "ann"]


@pytest.mark.parametrize(
    "before, after",
    [
        ("authors: []   # none yet\nsupport: {}\n", "authors:   # none yet\n{new}support: {{}}\n"),
        ("authors:\n\nsupport: {}\n", "authors:\n{new}\nsupport: {{}}\n"),
        ("site: {}\nauthors: ~", "site: {{}}\nauthors:\n{new_unterminated}"),
    ],
    ids=["empty-flow-list", "bare-key", "null-at-end-of-file"],
)
def test_append_to_an_empty_authors_value(tmp_path: Path, before: str, after: str):
    entries = "  - slug: ann\n    name: Ann\n    feeds:\n      - url: https://ann.example/feed\n"
    path = tmp_path / "feeds.yaml"
    path.write_text(before, encoding="utf-8")
    append_to_feeds_yaml(path, entries)
    assert path.read_text(encoding="utf-8") == after.format(new=entries, new_unterminated=entries.removesuffix("\n"))
    assert [a.slug for a in load_config(path).authors] == ["ann"]


def test_append_refuses_a_flow_list_and_leaves_the_file_alone(tmp_path: Path):
    path = tmp_path / "feeds.yaml"
    original = "authors: [{slug: jane, name: Jane, feeds: [{url: 'https://jane.example/feed'}]}]\n"
    path.write_text(original, encoding="utf-8")
    with pytest.raises(ValueError, match="not a block list"):
        append_to_feeds_yaml(path, new_entries())
    assert path.read_text(encoding="utf-8") == original
    assert os.listdir(tmp_path) == ["feeds.yaml"]


def test_append_keeps_the_file_mode_and_leaves_no_temporary_file(tmp_path: Path):
    path = tmp_path / "feeds.yaml"
    path.write_text("authors:\n", encoding="utf-8")
    path.chmod(0o640)
    append_to_feeds_yaml(path, new_entries())
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert os.listdir(tmp_path) == ["feeds.yaml"]
    assert len(load_config(path).authors) == 4
