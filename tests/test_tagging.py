"""Tags: PTSD, 'ptsd ' and an alias all land on one tag."""

import pytest

from aggregator.tagging import Tag, entry_tags, resolve_aliases, tag_display_name, tag_slug
from aggregator.topics import KeywordRule, Topic, Vocabulary, check_match, compile_match, vocabulary_from_settings


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("PTSD", "ptsd"),
        ("ptsd ", "ptsd"),
        ("  Childhood   Neglect ", "childhood-neglect"),
        ("Self-care", "self-care"),
        ("self_care", "self-care"),
        ("P.T.S.D.", "p-t-s-d"),
        ("Men's mental health", "men-s-mental-health"),
        ("Trauma-Therapie", "trauma-therapie"),
        ("Séance", "séance"),
        ("ＦＵＬＬＷＩＤＴＨ", "fullwidth"),
        ("!!!", ""),
    ],
)
def test_tag_slug_normalises(name, slug):
    assert tag_slug(name) == slug


def test_display_name_capitalises_only_lower_case_names():
    assert tag_display_name("trauma") == "Trauma"
    assert tag_display_name("CBT") == "CBT"
    assert tag_display_name("  grief   work ") == "Grief work"


def test_aliases_follow_chains_and_normalise_keys():
    assert resolve_aliases({"PTSD": "developmental trauma", "developmental trauma": "Trauma"}) == {
        "ptsd": "trauma",
        "developmental-trauma": "trauma",
    }


def test_alias_loops_are_refused():
    with pytest.raises(ValueError, match="loop"):
        resolve_aliases({"a": "b", "b": "a"})


def test_entry_tags_merge_categories_feed_tags_and_aliases():
    aliases = resolve_aliases({"ptsd": "trauma", "childhood neglect": "neglect"})
    tags = entry_tags(["PTSD", "ptsd ", "Childhood Neglect", "Uncategorized", "Grief"], ["trauma", "Attachment"], aliases)
    assert tags == [
        Tag("trauma", "Trauma"),
        Tag("attachment", "Attachment"),
        Tag("neglect", "Neglect"),
        Tag("grief", "Grief"),
    ]


def test_entry_tags_ignore_empty_and_noise():
    assert entry_tags(["", "   ", "---", "uncategorised", "Blog"], [], {}) == []


# -- topics and keyword rules (aggregator.topics) --------------------------------


@pytest.mark.parametrize(
    ("match", "text", "found"),
    [
        ("polyvagal", "Clients ask about Polyvagal theory.", True),
        ("polyvagal", "the polyvagal-informed approach", True),  # a hyphen ends a word
        ("heart", "There is no thought to correct in heartbreak.", False),
        ("window of tolerance", "inside the window\nof  tolerance", True),
        ("C++", "I learnt C++ before CBT.", True),
        ("/vagal (tone|brake)/", "the Vagal Brake at work", True),
        ("/\\bEMDR\\b/", "an EMDRIA course", False),
    ],
)
def test_rules_match_whole_words_or_patterns_without_case(match, text, found):
    assert (compile_match(match).search(text) is not None) is found


@pytest.mark.parametrize(
    ("match", "problem"),
    [
        ("/(unclosed/", "bad regular expression"),
        ("/a*/", "matches empty text"),
        ("/(a|aa)+$/", "takes too long"),
        ("--", "no letters or digits"),
    ],
)
def test_rules_that_cannot_work_are_refused_with_a_reason(match, problem):
    with pytest.raises(ValueError, match=problem):
        check_match(match)


def test_a_rule_gives_up_on_a_post_that_would_take_it_too_long(caplog):
    rule = KeywordRule("/(a|aa)+$/", "slow")
    assert rule.matches("", "a" * 200 + "!") is False
    assert "gave up on a post" in caplog.text


def test_a_rule_reads_only_where_it_is_told():
    in_title = KeywordRule("grief", "grief", ("title",))
    assert in_title.matches("Learning to Sit With Grief", "")
    assert not in_title.matches("Sitting with it", "grief, mostly")
    assert KeywordRule("grief", "grief").matches("Sitting with it", "grief, mostly")


def test_vocabulary_adds_rule_topics_and_names_topics_by_their_labels():
    vocabulary = Vocabulary(
        topics={"cbt": Topic("cbt", "CBT"), "neuroscience": Topic("neuroscience", "Brain and body")},
        rules=(KeywordRule("polyvagal", "neuroscience"), KeywordRule("thought record", "cbt"), KeywordRule("exhale", "breathing")),
    )
    tags = entry_tags(["cbt", "Mindfulness"], [], {})
    assert vocabulary.tag(tags, "A Slow Exhale", "Polyvagal theory, and a thought record") == (
        Tag("cbt", "CBT"), Tag("mindfulness", "Mindfulness"), Tag("neuroscience", "Brain and body"), Tag("breathing", "Breathing"),
    )
    assert vocabulary.shown(["suicide"]) is None  # without topics_only, every tag is shown
    curated = Vocabulary(topics=vocabulary.topics, topics_only=True)
    assert curated.shown(["suicide"]) == {"cbt", "neuroscience", "suicide"}


def test_vocabulary_survives_its_settings_rows():
    vocabulary = Vocabulary(
        topics={"cbt": Topic("cbt", "CBT", "In practice.", ("cognitive behavioural therapy",))},
        topics_only=True,
        rules=(KeywordRule("/vagal tone/", "neuroscience", ("text",)),),
    )
    assert vocabulary_from_settings(*vocabulary.settings()) == vocabulary
    assert vocabulary_from_settings(None, None) == Vocabulary()
