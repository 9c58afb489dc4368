"""Tags: PTSD, 'ptsd ' and an alias all land on one tag."""

import pytest

from aggregator.tagging import Tag, entry_tags, resolve_aliases, tag_display_name, tag_slug


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
