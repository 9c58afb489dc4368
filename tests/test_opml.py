"""OPML: export of what the public can subscribe to, import from readers' exports into feeds.yaml writers.

Each sample in fixtures/opml imitates one reader's export: Feedly (category
folders), NetNewsWire (a flat list), Inoreader (folders two deep, one site
with a blog and a podcast, a feed filed twice) and an OPML 1.0 file with
lower-case attribute names. The others are broken on purpose.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from aggregator.config import load_config, parse_config
from aggregator.feeds_file import render_authors
from aggregator.opml import (
    MAX_FOLDER_DEPTH,
    MAX_OPML_BYTES,
    NOT_FOR_READERS,
    ExportFeed,
    ExportWriter,
    OpmlError,
    OpmlFeed,
    export_opml,
    parse_opml,
    plan_import,
)

SAMPLES = Path(__file__).parent / "fixtures" / "opml"
CONFIGS = Path(__file__).parent / "fixtures" / "config"
DOCTYPE_MESSAGE = "OPML with a DOCTYPE is refused: it could expand entities"
PUBLIC = "https://therapywriters.example"


def sample(name: str) -> list[OpmlFeed]:
    return parse_opml((SAMPLES / name).read_bytes())


def as_config(plan) -> object:
    """Fail unless the planned writers make a feeds file the project accepts."""
    return parse_config("authors:\n" + render_authors(plan.authors), Path("/tmp/x/feeds.yaml"))


def export(writers: list[ExportWriter], owner_url: str = PUBLIC) -> bytes:
    return export_opml(title="Therapy Writers", owner_url=owner_url, date=datetime(2024, 6, 3, 9, 30, tzinfo=UTC), writers=writers)


# -- export ----------------------------------------------------------------------


def web(url: str, title: str | None = None, html_url: str | None = None, type: str | None = None) -> ExportFeed:
    return ExportFeed(source=url, url=url, title=title, html_url=html_url, type=type)


def test_export_round_trip_keeps_web_feeds_and_special_characters():
    writers = [
        ExportWriter("ines-ortega", 'Dr. Inés "Nessa" Ortega & <Partners>', "https://ortega-therapy.example/", (
            web("https://ortega-therapy.example/feed/?cat=grief&lang=es", "Notes from the Couch — ‘grief’ & <loss>"),
            web("http://ortega-therapy.example/atom.xml", None, "https://ortega-therapy.example/atom/"),
        )),
        ExportWriter("soren-alund", "Søren Ålund, 心理咨询", None, (web("https://alund.example/feed.xml", "Søren's notebook"),)),
    ]  # fmt: skip
    document = export(writers)
    assert document.startswith(b"<?xml version='1.0' encoding='utf-8'?>\n<opml version=\"2.0\">")
    assert b"<dateCreated>Mon, 03 Jun 2024 09:30:00 GMT</dateCreated>" in document
    assert b"<docs>http://opml.org/spec2.opml</docs>" in document
    assert f"<ownerId>{PUBLIC}</ownerId>".encode() in document
    name = 'Dr. Inés "Nessa" Ortega & <Partners>'
    assert parse_opml(document) == [
        OpmlFeed(
            "https://ortega-therapy.example/feed/?cat=grief&lang=es", "Notes from the Couch — ‘grief’ & <loss>",
            "https://ortega-therapy.example/", (name,),
        ),
        OpmlFeed("http://ortega-therapy.example/atom.xml", name, "https://ortega-therapy.example/atom/", (name,)),
        OpmlFeed("https://alund.example/feed.xml", "Søren's notebook", None, ("Søren Ålund, 心理咨询",)),
    ]


def test_a_file_feed_is_listed_as_the_writers_feed_here_when_the_site_is_public():
    writers = [ExportWriter("demo", "A Demo Writer", None, (ExportFeed("path:demo/feed.xml", "file:///srv/demo/feed.xml", "Demo"),))]
    public = export(writers)
    assert parse_opml(public) == [OpmlFeed(f"{PUBLIC}/author/demo/feed.atom", "Demo", None, ("A Demo Writer",))]
    assert b"file://" not in public


def test_a_file_feed_of_a_site_with_no_public_address_is_left_out_with_the_reason():
    writers = [ExportWriter("demo", "A Demo Writer", None, (ExportFeed("path:demo/feed.xml", "file:///srv/demo/feed.xml", "Demo"),))]
    document = export(writers, owner_url="http://127.0.0.1:5000")
    assert parse_opml(document) == []
    assert b"file://" not in document
    text = document.decode()
    assert "<!-- demo/feed.xml is read from a file beside feeds.yaml and has no public address;" in text
    assert "set site.base_url (or AGGREGATOR_BASE_URL)" in text
    # Nothing to subscribe to: the document says so rather than showing an empty body.
    assert '<outline text="No feed of this reading room can be subscribed to yet: no writer has a web feed listed." />' in text


def test_a_wagtail_api_source_is_kept_out_of_readers_way():
    api = "https://wagtailtherapy.example/api/v2/pages/?type=blog.BlogPage"
    writers = [ExportWriter("wag", "Wagtail Writer", "https://wagtailtherapy.example/", (web(api, None, None, "wagtail"),))]
    text = export(writers).decode()
    assert f'type="wagtail" text="Wagtail Writer" title="Wagtail Writer" url="{api.replace("&", "&amp;")}" category="{NOT_FOR_READERS}"' in text
    assert "xmlUrl" not in text
    assert parse_opml(text.encode()) == []  # what a reader takes: nothing
    assert "No feed of this reading room can be subscribed to yet" in text


def test_an_empty_reading_room_says_why_its_list_is_empty():
    document = export([])
    assert b"<body/>" not in document and b"<body />" not in document
    assert b"No feed of this reading room can be subscribed to yet" in document
    assert parse_opml(document) == []


def test_export_of_a_loaded_config_and_back_into_feeds_yaml():
    config = load_config(CONFIGS / "valid.yaml")
    writers = [
        ExportWriter(a.slug, a.name, a.homepage, tuple(ExportFeed(f.source, f.location, type=f.type) for f in a.feeds))
        for a in config.authors
    ]
    feeds = parse_opml(export(writers))
    # The demo writer's file is stood for by its feed on this site; the Wagtail API is no reader's.
    assert [(f.xml_url, f.group) for f in feeds] == [
        ("https://jane.example/feed/", "Jane Doe, LMFT"),
        (f"{PUBLIC}/author/demo/feed.atom", "A Demo Writer"),
    ]
    # Importing the site's own export into itself adds nothing.
    plan = plan_import(feeds[:1], {a.slug for a in config.authors}, {f.source for _, f in config.feeds})
    assert plan.authors == []
    assert plan.notes == ["skipped https://jane.example/feed/: already in feeds.yaml"]


def test_export_drops_characters_xml_cannot_carry():
    document = export([ExportWriter("a", "Ann\x0b", None, (web("https://ann.example/feed", "Title\x1b"),))], owner_url="http://x\x00.example")
    assert parse_opml(document) == [OpmlFeed("https://ann.example/feed", "Title", None, ("Ann",))]


# -- samples ---------------------------------------------------------------------


def test_feedly_export_with_category_folders():
    assert sample("feedly.opml") == [
        OpmlFeed("https://securebase.example/feed/", "The Secure Base", "https://securebase.example", ("Trauma & Attachment",)),
        OpmlFeed(
            "https://ortega-therapy.example/blog?format=rss", "Notes from the Couch — Dr. Inés Ortega",
            "https://ortega-therapy.example/blog", ("Trauma & Attachment",),
        ),
        OpmlFeed("https://afterloss.example/rss.xml", "After the Loss", "https://afterloss.example/", ("Grief",)),
        OpmlFeed("https://securebase.example/feed/", "The Secure Base", "https://securebase.example", ("Grief",)),
        OpmlFeed(
            "https://twochairs.example/feed/?cat=couples&lang=en", 'Two Chairs "Counselling" <Blog>',
            "https://twochairs.example/", ("Couples",),
        ),
    ]


def test_netnewswire_flat_list():
    assert sample("netnewswire.opml") == [
        OpmlFeed("https://alund.example/feed.xml", "Søren Ålund, Psychotherapist", "https://alund.example/"),
        OpmlFeed("http://mindthegap.example/atom.xml", "Mind the Gap: a counsellor's notebook", "http://mindthegap.example/"),
        OpmlFeed("HTTPS://AnxiousMind.example/feed/", "The Anxious Mind", "https://anxiousmind.example"),
        OpmlFeed("https://xinli.example/rss", "心理咨询笔记", "https://xinli.example/"),
    ]


def test_opml_1_with_lowercase_attributes_and_nested_folders():
    # Unsafe htmlurls become None; file:// and feed:// outlines are skipped; a
    # feed with no text or title is named after its host.
    assert sample("opml1-nested.opml") == [
        OpmlFeed("http://betweenus.example/rss.xml", "Between Us", "http://betweenus.example/", ("Clinicians", "Couples")),
        OpmlFeed("https://playroom.example/atom.xml", "Play Room Notes", None, ("Clinicians", "Child & Family")),
        OpmlFeed("https://familysystems.example/feed", "Family Systems Today", None, ("Clinicians", "Child & Family")),
        OpmlFeed("https://quietroom.example/feed/", "The Quiet Room", "https://quietroom.example/", ("Clinicians",)),
        OpmlFeed("https://nameless.example/feed", "nameless.example", None),
        OpmlFeed("https://mendez.example/feed", "José Méndez, LPC", None),
    ]


def test_deep_nesting_does_not_exhaust_the_stack():
    depth = 20_000
    document = (
        b'<opml version="2.0"><body>' + b'<outline text="f">' * depth
        + b'<outline text="Deep" xmlUrl="https://deep.example/feed"/>' + b"</outline>" * depth + b"</body></opml>"
    )
    [feed] = parse_opml(document)
    assert feed.xml_url == "https://deep.example/feed" and feed.folders == ("f",) * MAX_FOLDER_DEPTH


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




# -- into feeds.yaml: what each outline becomes ----------------------------------


def test_a_real_world_export_with_nested_folders_maps_feeds_to_writers_and_folders_to_tags():
    plan = plan_import(sample("inoreader-nested.opml"), existing_slugs={"after-the-loss"}, existing_sources={"HTTPS://TWOCHAIRS.example/feed/"})
    config = as_config(plan)
    by_slug = {author.slug: author for author in config.authors}
    assert list(by_slug) == [
        "the-secure-base", "notes-from-the-couch-dr-ines-ortega", "after-the-loss-2", "quiet-mind-letters",
        "mind-the-gap-a-counsellor-s-notebook",
    ]
    # One site (www. or not), a blog and a podcast: one writer with two feeds, named by the first.
    secure = by_slug["the-secure-base"]
    assert secure.name == "The Secure Base" and secure.homepage == "https://www.securebase.example/"
    assert [(f.source, f.tags) for f in secure.feeds] == [
        # Filed in two folders: one feed with the tags of both; each level of nesting gives its tag.
        ("https://securebase.example/feed/", ("Clinical reading", "Trauma", "Grief & Loss")),
        ("https://securebase.example/podcast/feed/", ("Clinical reading", "Trauma")),
    ]
    # A folder whose title makes no tag (an emoji) gives none; a feed outside folders has no tags.
    assert by_slug["quiet-mind-letters"].feeds[0].tags == ("Clinical reading",)
    assert by_slug["mind-the-gap-a-counsellor-s-notebook"].feeds[0].tags == ()
    assert by_slug["notes-from-the-couch-dr-ines-ortega"].name == "Notes from the Couch — Dr. Inés Ortega"
    # No folder became a writer.
    assert not {"clinical-reading", "trauma", "grief-loss", "couples", "to-sort-later"} & set(by_slug)
    assert plan.notes == [
        "https://securebase.example/feed/ is in more than one folder: one feed, with the tags of each",
        "skipped https://twochairs.example/feed/: already in feeds.yaml",
        "the-secure-base: 2 feeds of securebase.example make one writer; split them if they are different writers",
    ]
    report = "\n".join(plan.report())
    assert report.startswith("6 new feeds for 5 writers:\n  the-secure-base: The Secure Base\n")
    assert "    https://securebase.example/feed/  (tags: Clinical reading, Trauma, Grief & Loss)" in report


def test_folders_can_be_ignored():
    plan = plan_import(sample("inoreader-nested.opml"), set(), set(), folders="ignore")
    assert all(not feed.tags for author in plan.authors for feed in author.feeds)
    assert len(plan.authors) == 6


def test_the_written_block_names_where_each_writer_came_from():
    plan = plan_import(sample("inoreader-nested.opml")[:2], set(), set())
    assert render_authors(plan.authors) == (
        "  - slug: the-secure-base     # from OPML\n"
        "    name: The Secure Base\n"
        "    homepage: https://www.securebase.example/\n"
        "    feeds:\n"
        "      - url: https://securebase.example/feed/\n"
        "        tags: [Clinical reading, Trauma]\n"
        '      - url: https://securebase.example/podcast/feed/ # "The Secure Base Podcast"\n'
        "        tags: [Clinical reading, Trauma]\n"
    )


def test_every_sample_maps_to_writers_the_validator_accepts():
    feeds = sample("feedly.opml") + sample("netnewswire.opml") + sample("opml1-nested.opml") + sample("inoreader-nested.opml")
    config = as_config(plan_import(feeds, set(), set()))
    slugs = [a.slug for a in config.authors]
    assert len(slugs) == len(set(slugs))
    # A name with no Latin letters takes its slug from its site.
    assert next(a for a in config.authors if a.name == "心理咨询笔记").slug == "xinli-example"
    assert next(a for a in config.authors if a.slug == "between-us").feeds[0].tags == ("Clinicians", "Couples")


def test_hostile_titles_become_names_that_read_back_as_themselves():
    hostile = [
        'Dr. "Quotes" & <Tags>: #1 - yes', "null", "yes", "2024", "- dash: [not, a, list] {or: map} *alias &anchor !tag",
        "Line\u2028break\x85and\ttabs", "Jane Doe", "Jane Döe", "🙂", "x" * 200,
    ]
    feeds = [OpmlFeed(f"https://w{i}.example/feed", name, None) for i, name in enumerate(hostile)]
    feeds.append(OpmlFeed("https://w6.example/Feed", "Jane Doe", None))  # another path: another feed
    plan = plan_import(feeds, existing_slugs={"jane-doe"}, existing_sources=set())
    config = as_config(plan)
    assert [a.name for a in config.authors] == [
        'Dr. "Quotes" & <Tags>: #1 - yes', "null", "yes", "2024", "- dash: [not, a, list] {or: map} *alias &anchor !tag",
        "Line break and tabs", "Jane Doe", "Jane Döe", "🙂", "x" * 200, "Jane Doe",
    ]
    assert [a.slug for a in config.authors] == [
        "dr-quotes-tags-1-yes", "null", "yes", "2024", "dash-not-a-list-or-map-alias-anchor-tag",
        "line-break-and-tabs", "jane-doe-2", "jane-doe-3", "w8-example", "x" * 60, "jane-doe-4",
    ]
    assert yaml.safe_load("authors:\n" + render_authors(plan.authors))["authors"][2]["name"] == "yes"


def test_known_feeds_are_skipped_case_blind_on_scheme_and_host_only():
    feeds = [OpmlFeed("https://Jane.Example/feed/", "Jane", None), OpmlFeed("https://jane.example/FEED/", "Jane", None)]
    plan = plan_import(feeds, set(), {"HTTPS://JANE.EXAMPLE/feed/"})
    assert plan.notes == ["skipped https://Jane.Example/feed/: already in feeds.yaml"]
    assert [feed.url for author in plan.authors for feed in author.feeds] == ["https://jane.example/FEED/"]


def test_an_unknown_folders_choice_is_refused():
    with pytest.raises(ValueError, match="folders must be one of tags, ignore"):
        plan_import([], set(), set(), folders="writers")


# -- the command -----------------------------------------------------------------


def test_import_opml_reports_what_it_mapped_and_writes_only_the_new_writers(run_aggregator, tmp_path: Path):
    hand = Path(__file__).parent / "fixtures" / "feeds-file" / "hand-formatted.yaml"
    path = tmp_path / "feeds.yaml"
    path.write_bytes(hand.read_bytes())
    opml = str(SAMPLES / "inoreader-nested.opml")

    shown = run_aggregator("import-opml", opml)
    assert shown.stdout.startswith("# Paste under 'authors:' in feeds.yaml, and check the names and slugs:\n  - slug: the-secure-base")
    assert "7 new feeds for 6 writers:" in shown.stderr
    assert "  the-secure-base: The Secure Base" in shown.stderr
    assert path.read_bytes() == hand.read_bytes()

    written = run_aggregator("import-opml", opml, "--write", "--folders", "ignore")
    assert written.stdout == f"Added 6 writers to {path.name}; run `aggregator sync` to apply.\n"
    before, after = hand.read_bytes(), path.read_bytes()
    # The writers went in as one block after the last writer's last line; not one byte else moved.
    at = before.index(b"# trailing comment of the list")
    assert after.startswith(before[:at].rstrip(b"\n")) and after.endswith(before[at:])
    assert b"tags:" not in after[len(before[:at]) : -len(before[at:])]
    assert len(load_config(path).authors) == 8
    assert run_aggregator("import-opml", opml, "--write").stdout == "Nothing new to import.\n"
