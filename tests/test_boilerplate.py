"""Boilerplate: the built-in rules, curators' rules, real platform samples,
and the detector of repeated endings."""

from __future__ import annotations

import html
from pathlib import Path

import pytest
import yaml

from aggregator.boilerplate import LIBRARY, curator_rule, library, load_library, repeated_endings
from aggregator.clean import clean_content

SAMPLES = Path(__file__).parent / "fixtures" / "html"
PLATFORMS = sorted(SAMPLES.glob("*.html"))
POST = "https://writer.example/blog/this-post/"
BEFORE = "<p>The first paragraph of the real post, which must stay.</p>"
AFTER = "<p>The last paragraph of the real post, which must stay too.</p>"


@pytest.mark.parametrize("name", sorted(library().samples), ids=str)
def test_every_built_in_rule_removes_its_sample(name):
    sample = library().samples[name]
    cleaned = clean_content(BEFORE + sample + AFTER, True, POST, entry_url=POST)
    assert cleaned.html == BEFORE + AFTER
    assert cleaned.text.splitlines() == [
        "The first paragraph of the real post, which must stay.",
        "The last paragraph of the real post, which must stay too.",
    ]


def test_every_built_in_rule_has_a_comment():
    # The library documents itself: a comment right under every rule's name.
    lines = LIBRARY.read_text(encoding="utf-8").splitlines()
    names = [i for i, line in enumerate(lines) if line.startswith("  - name: ")]
    assert len(names) == len(library().rules)
    for index in names:
        assert lines[index + 1].strip().startswith("#"), lines[index]


def test_a_library_rule_without_a_kind_is_refused(tmp_path):
    broken = tmp_path / "rules.yaml"
    broken.write_text("rules:\n  - name: nothing\n    sample: '<p>x</p>'\n")
    with pytest.raises(ValueError, match="exactly one of text, pattern, selector"):
        load_library(broken)


@pytest.mark.parametrize("sample", PLATFORMS, ids=lambda p: p.stem)
def test_real_platform_samples_keep_the_post_and_lose_the_debris(sample: Path):
    expect = yaml.safe_load(sample.with_suffix(".expect.yaml").read_text(encoding="utf-8"))
    cleaned = clean_content(sample.read_text(encoding="utf-8"), True, POST, entry_url=POST)
    readable = html.unescape(cleaned.html)
    for phrase in expect.get("keep_text") or []:
        assert phrase in cleaned.text, f"lost: {phrase}"
    for phrase in expect.get("drop_text") or []:
        assert phrase not in cleaned.text and phrase not in readable, f"kept: {phrase}"
    for markup in expect.get("keep_html") or []:
        assert markup in cleaned.html, f"lost markup: {markup}"
    for markup in expect.get("drop_html") or []:
        assert markup not in cleaned.html, f"kept markup: {markup}"
    assert cleaned.truncated == expect["teaser"]
    assert "<p></p>" not in cleaned.html and "<p> </p>" not in cleaned.html


def test_the_seed_post_loses_other_posts_teasers_and_the_signup():
    seed = (Path(__file__).parent / "fixtures" / "feeds" / "therapist-rss20.xml").read_text(encoding="utf-8")
    start = seed.index("<![CDATA[", seed.index("Life, Love and Healing")) + len("<![CDATA[")
    content = seed[start : seed.index("]]>", start)]
    entry = "https://demo.invalid/maren/blog/life-love-and-healing-oxytocin/"
    cleaned = clean_content(content, True, entry, entry_url=entry)
    assert "Read More" not in cleaned.text and "Signup to my Mailing List" not in cleaned.text
    assert "Language Arts" not in cleaned.text and "Giving Thanks" not in cleaned.text
    assert cleaned.text.endswith("a practical roadmap for facilitating survivors’ healing.")
    assert not cleaned.truncated


def test_read_more_to_the_post_itself_marks_a_teaser():
    cleaned = clean_content(
        '<p>The opening lines of a longer essay about grief and its seasons.</p><p><a href="/blog/this-post/">Read more »</a></p>',
        True, POST, entry_url=POST,
    )
    assert cleaned.html == "<p>The opening lines of a longer essay about grief and its seasons.</p>"
    assert cleaned.truncated


def test_read_more_without_a_heading_above_keeps_the_text_above():
    cleaned = clean_content("<p>Real text.</p><p>More real text.</p><p><a href='/elsewhere/'>Read More »</a></p>", True, POST, entry_url=POST)
    assert cleaned.html == "<p>Real text.</p><p>More real text.</p>"


def test_an_ellipsis_ending_marks_a_short_post_as_a_teaser():
    assert clean_content("<p>" + "word " * 50 + "and then it stops […]</p>", True, POST).truncated
    assert not clean_content("<p>" + "word " * 500 + "[…]</p>", True, POST).truncated
    assert not clean_content("<p>A whole short post.</p>", True, POST).truncated


def test_tracking_images_and_empty_paragraphs_go():
    cleaned = clean_content(
        '<p>Text.</p><p>&nbsp;</p><p><br></p><p><img src="https://pixel.wp.com/b.gif?x=1" alt=""></p>'
        '<img src="https://img.example/spacer.gif" width="1" height="1"><div><span> </span></div>'
        '<p><img src="https://img.example/photo.jpg" alt="A photo" width="800" height="600"></p>',
        True, POST,
    )
    assert cleaned.html == (
        '<p>Text.</p><p><img src="https://img.example/photo.jpg" alt="A photo" width="800" height="600" '
        'loading="lazy" decoding="async"></p>'
    )


def test_phrases_inside_real_paragraphs_stay():
    text = "<p>If you want to read more about grief, subscribe to my newsletter or continue reading below.</p>"
    assert clean_content(text, True, POST).html == text


@pytest.mark.parametrize(
    ("rule", "block", "removed"),
    [
        ("Book a free consultation", "<p>Book a FREE   consultation</p>", True),
        ("Book a free consultation", "<p>Book a free consultation today, it helps.</p>", False),
        ("/follow me on (instagram|facebook).*/", "<p>Follow me on Instagram @quietroom</p>", True),
        ("/follow me on (instagram|facebook).*/", "<p>I will not follow me on anything.</p>", False),
    ],
)
def test_curator_rules(rule, block, removed):
    cleaned = clean_content(BEFORE + block, True, POST, extra_rules=[curator_rule(rule)])
    assert (cleaned.html == BEFORE) is removed


@pytest.mark.parametrize("bad", ["/(unclosed/", "/.*/", "   ", "/a|/"])
def test_bad_curator_rules_are_refused(bad):
    with pytest.raises(ValueError):
        curator_rule(bad)


def test_repeated_endings_are_found_but_not_removed():
    posts = [
        f"Post {i} begins.\nIt says something of its own, number {i}.\nBook a session: call 555-0100.\nSign up for my letters"
        for i in range(6)
    ] + ["A post without the footer.\nIts own last line."]
    found = repeated_endings(posts)
    assert [line for line, _ in found] == ["Book a session: call 555-0100.", "Sign up for my letters"]
    assert found[0][1] == 6
    assert repeated_endings(posts[:2]) == []  # too few posts to say
