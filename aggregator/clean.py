"""Make feed content safe and readable: one parse and one bleach pass per entry.

Everything a feed sends is hostile, and much of it is debris. Entry HTML is
parsed once, with bleach's html5lib parser, into a tree that is tidied:

1. elements whose contents must never show (scripts, styles, forms, SVG,
   MathML, ...) are cut out whole; video embeds from the allowed hosts are
   rebuilt as sandboxed iframes, other iframes become plain links;
2. boilerplate goes (`boilerplate`: share boxes, sign-ups, "Read More »"
   teasers of other posts, "The post X appeared first on Y"), then tracking
   images and the paragraphs left empty.

Then bleach's sanitizer keeps only the allowlist below, and our URL filter
makes every address absolute, checks its scheme once more, and marks links
`rel="noopener noreferrer"` and images `loading="lazy"`. Titles, names and
tags are plain text (`clean_text`).

The only module that imports bleach.
"""

from __future__ import annotations

import hashlib
import html
import html.entities
import re
import threading
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any
from urllib.parse import SplitResult, parse_qs, quote, unquote, urljoin, urlsplit
from xml.etree import ElementTree

from bleach import html5lib_shim
from bleach.sanitizer import BleachSanitizerFilter

from aggregator.boilerplate import Library, Rule, library, normalise

# What long-form posts use, and nothing that runs or submits. iframe is here
# only for the embeds this module builds itself (see _embed); every iframe
# a feed sends is replaced or removed before the sanitizer sees it.
ALLOWED_TAGS = frozenset({
    "p", "br", "hr", "div", "span",
    "h1", "h2", "h3", "h4", "h5", "h6",
    "em", "i", "strong", "b", "u", "s", "del", "ins", "mark", "small", "sub", "sup",
    "abbr", "cite", "q", "dfn", "kbd", "code", "pre", "samp", "var", "time",
    "blockquote", "ul", "ol", "li", "dl", "dt", "dd",
    "a", "img", "figure", "figcaption", "picture",
    "table", "caption", "thead", "tbody", "tfoot", "tr", "th", "td", "colgroup", "col",
    "details", "summary", "iframe", "video", "audio", "source", "track",
})  # fmt: skip

# No style or class anywhere: a feed must not restyle our pages (fixed
# widths break narrow screens). An id is kept only under the post's own
# prefix (_Tidy.prefix_anchors), so it cannot collide with our anchors.
# width/height stay on images so the browser reserves their space; CSS caps
# them to the column.
ALLOWED_ATTRIBUTES = {
    "*": ["lang", "dir", "title", "id"],
    "a": ["href", "title"],
    "img": ["src", "srcset", "sizes", "alt", "title", "width", "height"],
    "iframe": ["src", "title", "sandbox", "loading", "allow", "allowfullscreen", "referrerpolicy", "width", "height"],
    "blockquote": ["cite"],
    "q": ["cite"],
    "del": ["cite", "datetime"],
    "ins": ["cite", "datetime"],
    "time": ["datetime"],
    "ol": ["start", "reversed", "type"],
    "li": ["value"],
    "td": ["colspan", "rowspan", "headers"],
    "th": ["colspan", "rowspan", "headers", "scope", "abbr"],
    "col": ["span"],
    "colgroup": ["span"],
    "abbr": ["title"],
    "details": ["open"],
    # Native players only: controls and preload="none" are set on every one
    # (_UrlFilter), and nothing plays by itself (no autoplay).
    "video": ["src", "poster", "width", "height"],
    "audio": ["src"],
    "source": ["src", "type", "srcset", "sizes", "media"],
    "track": ["src", "kind", "srclang", "label", "default"],
}

# mailto: for "write to me" links, tel: for the phone numbers of practices
# and crisis lines; nothing that runs (javascript:, vbscript:) or carries its
# own document (data:).
ALLOWED_PROTOCOLS = frozenset({"http", "https", "mailto", "tel"})

# Cut out with everything inside them. bleach's strip=True keeps the text of
# a removed element, which for these would print code, CSS, form labels or
# fallback markup into the post.
DROP_WITH_CONTENTS = frozenset({
    "script", "style", "noscript", "template", "object", "embed", "applet",
    "frame", "frameset", "noframes", "noembed", "iframe", "svg", "math",
    "head", "title", "meta", "link", "base", "form", "button", "select",
    "textarea", "input", "option", "optgroup", "datalist", "output", "dialog",
    "canvas", "param", "xmp", "plaintext",
    "isindex", "keygen", "menu", "portal", "slot",
})  # fmt: skip

# Video hosts whose players may be embedded, as (host, embed URL prefix).
# The embed is always rebuilt on the privacy-friendly host, sandboxed.
EMBED_SANDBOX = "allow-scripts allow-same-origin allow-presentation allow-popups"
YOUTUBE_EMBED = "https://www.youtube-nocookie.com/embed/"
VIMEO_EMBED = "https://player.vimeo.com/video/"
EMBED_HOSTS = ("https://www.youtube-nocookie.com", "https://player.vimeo.com")

URL_ATTRIBUTES = frozenset({"href", "src", "cite", "poster"})
MEDIA_PLAYERS = frozenset({"video", "audio"})
MATHML_ROOT = "{http://www.w3.org/1998/math/mathml}math"  # as lowercased in drop_unsafe
# MathML reaches the tree whole, to be read for its text (_math_as_text).
MATHML_TOKENS = frozenset({"mi", "mn", "mo", "ms", "mtext"})
MATHML_ANNOTATIONS = frozenset({"annotation", "annotation-xml"})
MATHML_TAGS = MATHML_TOKENS | MATHML_ANNOTATIONS | frozenset({
    "math", "mrow", "mfrac", "msqrt", "mroot", "msub", "msup", "msubsup", "munder", "mover", "munderover",
    "mmultiscripts", "mprescripts", "mtable", "mtr", "mtd", "mstyle", "mpadded", "mphantom", "menclose",
    "merror", "mspace", "semantics", "maction",
})  # fmt: skip
MEDIA_ELEMENTS = frozenset({"video", "audio", "source", "track"})
# Where <source> and <track> mean something; elsewhere they go.
MEDIA_PARENTS = {"source": frozenset({"video", "audio", "picture"}), "track": MEDIA_PLAYERS}
XML_BASE = "xml:base"
BLOCK_TAGS = frozenset({
    "p", "div", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "ul", "ol", "li",
    "dl", "dt", "dd", "pre", "figure", "figcaption", "table", "tr", "caption", "details", "summary",
    "section", "article", "aside", "header", "footer", "nav", "center",
})  # fmt: skip
HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
# Elements that say something even without text.
CONTENT_ELEMENTS = frozenset({"img", "iframe", "hr", "table", "picture", "video", "audio"})
# Elements removed when nothing is left in them.
EMPTIABLE = frozenset({
    "p", "div", "span", "section", "article", "aside", "header", "footer", "center", "font",
    "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "figure", "figcaption", "li", "ul", "ol",
    "a", "strong", "em", "b", "i", "u",
})  # fmt: skip
# Elements nested deeper than this are flattened into the one at this depth
# (their tags go, their text stays); those of _NOT_NESTING are not counted,
# and may add a level or three. Real posts nest a few dozen levels;
# pasted documents and hostile feeds thousands, and the HTML parser's cost
# grows with the square of the depth.
MAX_DEPTH = 100
# Elements that hold no others, or that the parser closes by itself when
# the next of their kind opens: they do not deepen a tree (a post of a
# thousand unclosed <p> is flat).
_NOT_NESTING = frozenset({
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
    "track", "wbr", "keygen", "image", "p", "li", "dt", "dd", "option", "optgroup", "tr", "td", "th",
    "thead", "tbody", "tfoot", "colgroup", "caption", "rb", "rt", "rtc", "rp", "html", "head", "body",
})  # fmt: skip
# What one entry may hand the cleaner, in characters of HTML. Real posts,
# long essays with their images and footnotes included, stay well under
# 200,000; past this bound html5lib's costs that grow faster than the length
# (text appended reference by reference, siblings found by search) pass a
# second per entry. A longer entry is cut at a tag and shown as the beginning
# of its post, with the link to the whole of it.
MAX_ENTRY_HTML = 512 * 1024
# Attributes kept on one element, the first ones: the richest real elements
# (an image with srcset, sizes and a dozen data- attributes) hold about
# twenty, and html5lib's cost grows with the square of the count.
MAX_ATTRIBUTES = 64
EXCERPT_WORDS = 60
WORDS_PER_MINUTE = 230
# A post this short that ends in an ellipsis is a teaser of a longer one.
TEASER_MAX_WORDS = 400
# Part of every stored entry's content hash, with the built-in rules'
# fingerprint: raise it when this module's cleaning changes, and the next
# full poll of each feed cleans its entries again.
RULES_VERSION = 4

_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# What browsers take out of a URL before reading it (the URL standard): C0
# controls and spaces at either end, tabs and newlines anywhere. Everything
# else is the writer's: "My Photo.jpg" keeps its space, percent-encoded.
_URL_EDGES = "".join(map(chr, range(0x21)))
_URL_TABS_AND_NEWLINES = re.compile(r"[\t\n\r]")
# Kept as written in a URL; other characters (spaces, quotes, angle
# brackets, controls, non-ASCII) are percent-encoded as UTF-8, and "%" stays
# so that what is already encoded is not encoded twice.
_URL_KEEP = "!#$%&'()*+,-./:;=?@[\\]^_|~"
_BAD_HOST = re.compile(r"[\x00-\x20\x7f<>\"`{}]")
_CHARACTER_REFERENCE = re.compile(r"&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[A-Za-z][A-Za-z0-9]*;?)(=?)")
_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_HTML_SPACE = " \t\n\f\r"
_HIDDEN_STYLE = re.compile(r"(^|;)\s*(display\s*:\s*none|visibility\s*:\s*hidden)\b", re.IGNORECASE)
# Query parameters that say which campaign or click brought a reader, not
# which page: taken off links.
_TRACKING_PARAMETER = re.compile(r"^(utm_[^=]*|fbclid|gclid|mc_cid|mc_eid)(=|$)", re.IGNORECASE)
_VIDEO_TIME = re.compile(r"^(?:(\d{1,3})h)?(?:(\d{1,5})m)?(?:(\d{1,6})s?)?$")
# A width ("800w"), a pixel density ("1.5x") or a height ("600h").
_SRCSET_DESCRIPTOR = re.compile(r"^(\d+w|\d+h|(\d+(\.\d+)?|\.\d+)([eE][+-]?\d+)?x)$")
_ELLIPSIS_END = re.compile(r"(\[\s*(…|\.\.\.)\s*\]|…|\.\.\.)\s*$")


@dataclass(frozen=True)
class CleanContent:
    html: str  # safe to mark |safe in a template
    text: str  # the plain text of the whole post, blocks on their own lines
    excerpt: str  # the first words, for lists
    word_count: int = 0
    truncated: bool = False  # the feed carries a teaser of a longer post

    @property
    def reading_minutes(self) -> int:
        return max(1, round(self.word_count / WORDS_PER_MINUTE))


def clean_content(
    raw: str,
    is_html: bool = True,
    base_url: str | None = None,
    *,
    entry_url: str | None = None,
    extra_rules: Sequence[Rule] = (),
) -> CleanContent:
    """Sanitize one entry's content, cut its boilerplate and make its excerpt.

    `base_url` is what relative URLs are relative to (xml:base or the entry's
    link); `entry_url` is the post's own address, to tell a "Read more" link
    to this post (a teaser) from one to another post (a related-posts strip).
    """
    if not is_html:
        raw = "".join(f"<p>{html.escape(part.strip())}</p>" for part in re.split(r"\n\s*\n", raw) if part.strip())
    return _local_cleaner().clean(raw, base_url, entry_url or base_url, library().with_rules(extra_rules))


def clean_text(raw: str | None, is_html: bool = True) -> str:
    """Return a title, name or tag as plain text: markup dropped, entities decoded once."""
    if not raw:
        return ""
    text = _TextExtractor.extract(raw) if is_html else raw
    text = _CONTROL_CHARS.sub("", unicodedata.normalize("NFC", text))
    return " ".join(text.split())


def safe_url(url: str | None, base: str | None = None) -> str | None:
    """Return `url` made absolute against `base` if its scheme is allowed, else None.

    The URL is read as a browser reads an attribute: character references
    decoded, edges trimmed, tabs and newlines dropped (so "java\tscript:" is
    a javascript: URL and refused). The result is percent-encoded, with an
    international host in its ASCII form.
    """
    if not url:
        return None
    candidate = _URL_TABS_AND_NEWLINES.sub("", _unescape_attribute(url).strip(_URL_EDGES))
    if not candidate:
        return None
    try:
        absolute = urljoin(base, candidate) if base else candidate
        parts = urlsplit(absolute)
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_PROTOCOLS:
        return None
    if scheme in ("http", "https") and not parts.hostname:
        return None
    return _percent_encoded(absolute, parts.netloc)


def _percent_encoded(url: str, netloc: str) -> str | None:
    """`url` with what may not stand in a URL percent-encoded, and its host in ASCII (IDNA)."""
    if netloc.isascii():
        ascii_netloc = netloc
    else:
        userinfo, at, host_port = netloc.rpartition("@")
        host, colon, port = host_port.partition(":")
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            return None
        ascii_netloc = quote(userinfo, safe=_URL_KEEP) + at + host + colon + port
    if _BAD_HOST.search(ascii_netloc.rpartition("@")[2]):
        return None
    scheme, separator, rest = url.partition(netloc) if netloc else ("", "", url)
    return quote(scheme + ascii_netloc * bool(separator) + rest, safe=_URL_KEEP)


def _unescape_attribute(value: str) -> str:
    """Decode character references as a browser does in an attribute value.

    Unlike html.unescape, a reference without its ";" that runs on into
    letters or "=" stays text, so "?a=1&copy=2" keeps its query.
    """

    def decode(match: re.Match[str]) -> str:
        reference, equals = match.group(1), match.group(2)
        complete = reference.endswith(";") or reference.startswith("#")
        if not complete and (equals or reference not in html.entities.html5):
            return match.group(0)
        return html.unescape("&" + reference) + equals

    return _CHARACTER_REFERENCE.sub(decode, value)


def canonical_embed(url: str | None) -> str | None:
    """The embed URL for a YouTube or Vimeo video address, else None."""
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https", ""):
        return None
    host = (parts.hostname or "").lower().removeprefix("www.").removeprefix("m.")
    segments = [s for s in parts.path.split("/") if s]
    video = None
    start = _start_seconds(parts)
    if host in ("youtube.com", "youtube-nocookie.com", "youtu.be"):
        if host == "youtu.be" and segments:
            video = segments[0]
        elif len(segments) >= 2 and segments[0] in ("embed", "shorts", "live", "v"):
            video = segments[1]
        elif segments == ["watch"]:
            video = (parse_qs(parts.query).get("v") or [None])[0]
        if not video or not _ID.match(video):
            return None
        return YOUTUBE_EMBED + video + (f"?start={start}" if start else "")
    if host == "player.vimeo.com" and len(segments) >= 2 and segments[0] == "video":
        video = segments[1]
    elif host == "vimeo.com" and segments:
        video = segments[-1]
    if video and video.isdigit():
        return VIMEO_EMBED + video + (f"#t={start}s" if start else "")
    return None


def _start_seconds(parts: SplitResult) -> int | None:
    """The second a video link starts at: ?start=90, ?t=90 or #t=1m30s."""
    query, fragment = parse_qs(parts.query), parse_qs(parts.fragment)
    for value in [*query.get("start", []), *query.get("t", []), *fragment.get("t", [])]:
        match = _VIDEO_TIME.match(value.strip())
        if match:
            hours, minutes, seconds = (int(group or 0) for group in match.groups())
            return hours * 3600 + minutes * 60 + seconds or None
    return None


def make_excerpt(text: str, words: int = EXCERPT_WORDS) -> str:
    """Return the first `words` words of `text`, cut on a word boundary."""
    parts = text.split()
    if len(parts) <= words:
        return " ".join(parts)
    return " ".join(parts[:words]).rstrip(",;:–—-") + " …"


class _Cleaner:
    # The parser keeps state between calls: one cleaner per thread.

    def __init__(self) -> None:
        self.parser = html5lib_shim.BleachHTMLParser(
            # The elements to drop must reach the tree to be dropped whole;
            # bleach's tokenizer would otherwise turn them into bare text.
            tags=ALLOWED_TAGS | DROP_WITH_CONTENTS | MATHML_TAGS,
            strip=True,
            consume_entities=False,
            namespaceHTMLElements=False,
        )
        self.walker = html5lib_shim.getTreeWalker("etree")
        self.serializer = html5lib_shim.BleachHTMLSerializer(
            quote_attr_values="always",
            omit_optional_tags=False,
            escape_lt_in_attrs=True,
            resolve_entities=False,
            sanitize=False,
            alphabetical_attributes=False,
        )

    def clean(self, raw: str, base_url: str | None, entry_url: str | None, rules: Library) -> CleanContent:
        if not raw.strip():
            return CleanContent(html="", text="", excerpt="")
        raw, cut = _cut_at_tag(raw, MAX_ENTRY_HTML)
        fragment = self.parser.parseFragment(_DepthCap.flatten(raw))
        tidy = _Tidy(fragment, base_url, entry_url, rules)
        tidy.run()
        text = _plain_text(fragment)
        stream = BleachSanitizerFilter(
            source=self.walker(fragment),
            allowed_tags=ALLOWED_TAGS,
            attributes=ALLOWED_ATTRIBUTES,
            allowed_protocols=ALLOWED_PROTOCOLS,
            strip_disallowed_tags=True,
            strip_html_comments=True,
            css_sanitizer=None,
        )
        cleaned = self.serializer.render(_UrlFilter(stream, base_url, tidy.anchors)).strip()
        words = len(text.split())
        truncated = cut or tidy.truncated or (words < TEASER_MAX_WORDS and bool(_ELLIPSIS_END.search(text)))
        return CleanContent(html=cleaned, text=text, excerpt=make_excerpt(text), word_count=words, truncated=truncated)


_local = threading.local()


def _local_cleaner() -> _Cleaner:
    cleaner = getattr(_local, "cleaner", None)
    if cleaner is None:
        cleaner = _local.cleaner = _Cleaner()
    return cleaner


class _Tidy:
    """Tree surgery on one parsed post, before the sanitizer sees it."""

    def __init__(self, root: ElementTree.Element, base_url: str | None, entry_url: str | None, rules: Library):
        self.root = root
        self.base_url = base_url
        self.entry_url = entry_url
        self.rules = rules
        self.truncated = False
        # Per post (its address), and the same each time it is cleaned.
        self.anchor_prefix = "e" + hashlib.blake2s((entry_url or base_url or "").encode(), digest_size=4).hexdigest() + "-"
        self.anchors: set[str] = set()  # the ids kept, prefixed
        self.parents = {child: parent for parent in root.iter() for child in parent}
        self.removed: set[ElementTree.Element] = set()

    def run(self) -> None:
        self.resolve_inner_bases()
        self.open_silent_players()
        self.drop_unsafe()
        self.unnest_links()
        self.drop_selected()
        self.drop_trackers()
        self.drop_boilerplate_blocks()
        self.drop_empty()
        self.prefix_anchors()

    def _elements(self) -> list[ElementTree.Element]:
        return [el for el in self.root.iter() if el is not self.root and isinstance(el.tag, str)]

    def _attached(self, element: ElementTree.Element) -> bool:
        """Whether `element` is still in the tree (no ancestor of it was removed)."""
        while element is not self.root:
            if element in self.removed:
                return False
            element = self.parents[element]
        return True

    def remove(self, element: ElementTree.Element, replacement: ElementTree.Element | None = None) -> None:
        """Take `element` out (or put `replacement` in its place), keeping the text after it."""
        parent = self.parents[element]
        index = next(i for i, child in enumerate(parent) if child is element)
        tail = element.tail
        parent.remove(element)
        self.removed.add(element)
        if replacement is not None:
            replacement.tail = tail
            parent.insert(index, replacement)
            self.parents[replacement] = parent
            self.parents.update({child: node for node in replacement.iter() for child in node})
        elif tail:
            if index > 0:
                previous = parent[index - 1]
                previous.tail = (previous.tail or "") + tail
            else:
                parent.text = (parent.text or "") + tail

    def resolve_inner_bases(self) -> None:
        """Make URLs absolute under the xml:base of an element of the post itself.

        XHTML content may set a base on any element, relative to the one
        around it (ultimately `base_url`); the URLs inside it follow.
        """
        elements = self._elements()
        if not any(XML_BASE in element.attrib for element in elements):
            return
        bases: dict[ElementTree.Element, str | None] = {self.root: self.base_url}
        for element in elements:  # document order: a parent before its children
            inherited = bases[self.parents[element]]
            own = element.attrib.pop(XML_BASE, None)
            base = bases[element] = (safe_url(own, inherited) if own else None) or inherited
            if base == self.base_url:
                continue
            for name in URL_ATTRIBUTES & set(element.keys()):
                absolute = safe_url(element.get(name), base)
                if absolute is None:
                    del element.attrib[name]
                else:
                    # Attribute values here are as written, references undecoded.
                    element.set(name, absolute.replace("&", "&amp;"))

    def open_silent_players(self) -> None:
        """Turn a player with nothing it may play into a plain block of its fallback."""
        for player in self._elements():
            if player.tag not in MEDIA_PLAYERS:
                continue
            sources = [player.get("src"), *(child.get("src") for child in player if child.tag == "source")]
            playable = (safe_url(source, self.base_url) for source in sources if source)
            if not any(url and urlsplit(url).scheme in ("http", "https") for url in playable):
                player.tag = "div"  # its <source> and <track> are then stray, and go
                player.attrib.clear()

    def unnest_links(self) -> None:
        """Make a link inside a link (which a table lets the parser build) plain text.

        A browser would not nest them, and the next reading of our output
        would split the outer link in two.
        """
        for link in self.root.iter("a"):
            for inner in list(link.iter("a"))[1:]:
                inner.tag = "span"
                inner.attrib.clear()

    def drop_unsafe(self) -> None:
        for element in self._elements():
            # SVG and MathML elements carry their namespace ("{...svg}svg"):
            # nothing of theirs is allowed, and their parsing rules differ
            # from HTML's, the stuff of mutation XSS.
            foreign = element.tag.startswith("{")
            tag = element.tag.lower()
            stray = tag in MEDIA_PARENTS and self.parents[element].tag not in MEDIA_PARENTS[tag]
            if not foreign and not stray and not _hidden(element) and tag not in DROP_WITH_CONTENTS:
                continue
            if not self._attached(element):
                continue
            if tag == "iframe":
                self.remove(element, self._embed(element))
            elif tag == MATHML_ROOT:
                self.remove(element, _math_as_text(element))
            else:
                self.remove(element)

    def _embed(self, iframe: ElementTree.Element) -> ElementTree.Element | None:
        """A sandboxed player for an allowed video host, a link for other frames."""
        source = safe_url(iframe.get("src"), self.base_url)
        embed = canonical_embed(source)
        if embed is not None:
            return ElementTree.Element("iframe", {
                "src": embed,
                "title": clean_text(iframe.get("title"), is_html=False) or "Embedded video",
                "sandbox": EMBED_SANDBOX,
                "loading": "lazy",
                "allow": "fullscreen; picture-in-picture",
                "allowfullscreen": "",
                "referrerpolicy": "strict-origin-when-cross-origin",
                "width": "560",
                "height": "315",
            })  # fmt: skip
        if source and urlsplit(source).scheme in ("http", "https"):
            paragraph = ElementTree.Element("p")
            link = ElementTree.SubElement(paragraph, "a", {"href": source})
            link.text = "Open the embedded content: " + (urlsplit(source).hostname or source)
            return paragraph
        return None

    def drop_selected(self) -> None:
        selectors = self.rules.selector_rules
        if not selectors:
            return
        bare_tags = {rule.selector.tag for rule in selectors if not rule.selector.classes}
        for element in self._elements():
            classes = element.get("class")
            if classes is None and element.tag not in bare_tags:
                continue  # the common case: a plain element no selector can match
            if any(rule.selector.matches(element.tag, classes) for rule in selectors) and self._attached(element):
                self.remove(element)

    def drop_trackers(self) -> None:
        for element in self._elements():
            if element.tag != "img" or not self._attached(element):
                continue
            source = safe_url(element.get("src"), self.base_url) or ""
            width, height = _pixels(element.get("width")), _pixels(element.get("height"))
            invisible = width is not None and height is not None and width <= 1 and height <= 1
            if invisible or (source and self.rules.is_tracker(source)):
                self.remove(element)

    def drop_boilerplate_blocks(self) -> None:
        rules = self.rules.text_rules
        for element in self._elements():
            if not self._attached(element):
                continue
            is_block = element.tag in BLOCK_TAGS or self.parents.get(element) is self.root
            if not is_block or element.tag in ("br", "hr"):
                continue
            text = normalise(html.unescape("".join(element.itertext())))
            rule = next((rule for rule in rules if rule.matches_text(text)), None)
            if rule is None:
                continue
            if rule.role == "continue" and not self._links_to_this_post(element):
                self._drop_teaser_above(element)
            elif rule.role in ("continue", "ellipsis"):
                self.truncated = True
            self.remove(element)

    def _links_to_this_post(self, element: ElementTree.Element) -> bool:
        link = element if element.tag == "a" else next((a for a in element.iter("a") if a.get("href")), None)
        target = safe_url(link.get("href"), self.base_url) if link is not None else None
        if target is None or self.entry_url is None:
            return True
        return _same_page(target, self.entry_url)

    def _drop_teaser_above(self, element: ElementTree.Element) -> None:
        # A related-posts strip: heading, teaser text, "Read More »". Take the
        # heading and what lies between it and the link; without a heading
        # close above, the text may be the post's own, so it stays.
        parent = self.parents[element]
        siblings = list(parent)
        index = next(i for i, child in enumerate(siblings) if child is element)
        above = [s for s in siblings[max(0, index - 3) : index] if isinstance(s.tag, str)]
        for position in range(len(above) - 1, -1, -1):
            if above[position].tag in HEADINGS:
                for sibling in above[position:]:
                    self.remove(sibling)
                return

    def drop_empty(self) -> None:
        # Children before parents, so each element is looked at once: it
        # shows something if it has text of its own or a child that shows.
        showing: set[ElementTree.Element] = set()
        empty: set[ElementTree.Element] = set()
        for element in reversed(self._elements()):
            own_text = [element.text or "", *(child.tail or "" for child in element)]
            if (
                element.tag in CONTENT_ELEMENTS
                or any(child in showing for child in element)
                or html.unescape("".join(own_text)).strip(" \t\r\n\u00a0\u200b")
            ):
                showing.add(element)
            elif element.tag in EMPTIABLE:
                empty.add(element)
        self.remove_all([element for element in empty if self.parents[element] not in empty])

    def prefix_anchors(self) -> None:
        """Keep the post's anchors under its prefix and point its "#..." links at them.

        Footnotes and tables of contents then jump within our page; a link
        to an anchor the post does not hold goes to the original page.
        """
        for element in self._elements():
            name = element.attrib.pop("name", None) if element.tag == "a" else None
            anchor = element.attrib.pop("id", None) or name
            if not anchor or element.tag not in ALLOWED_TAGS or any(c in _HTML_SPACE for c in anchor):
                continue
            prefixed = anchor if anchor.startswith(self.anchor_prefix) else self.anchor_prefix + anchor
            element.set("id", prefixed)
            self.anchors.add(prefixed)
        for link in self.root.iter("a"):
            href = (link.get("href") or "").strip(_HTML_SPACE)
            if not href.startswith("#"):
                continue
            for fragment in (href[1:], unquote(href[1:])):
                prefixed = fragment if fragment.startswith(self.anchor_prefix) else self.anchor_prefix + fragment
                if prefixed in self.anchors:
                    link.set("href", "#" + prefixed)
                    break

    def remove_all(self, elements: list[ElementTree.Element]) -> None:
        """Take `elements` out, keeping the text after each, in one pass over each parent."""
        doomed = set(elements)
        for parent in {self.parents[element] for element in elements}:
            kept: list[ElementTree.Element] = []
            for child in parent:
                if child not in doomed:
                    kept.append(child)
                    continue
                self.removed.add(child)
                if not child.tail:
                    pass
                elif kept:
                    kept[-1].tail = (kept[-1].tail or "") + child.tail
                else:
                    parent.text = (parent.text or "") + child.tail
            parent[:] = kept


def _hidden(element: ElementTree.Element) -> bool:
    """Whether the writer marked `element` not to be shown (hidden, display:none)."""
    hidden = element.get("hidden")
    if hidden is not None and hidden.strip().lower() != "until-found":  # found by search, so it is content
        return True
    return bool(_HIDDEN_STYLE.search(element.get("style") or ""))


def _math_as_text(math: ElementTree.Element) -> ElementTree.Element | None:
    """The text of a MathML formula (its alttext, else its characters), in place of its markup.

    MathML's parsing rules differ from HTML's, the stuff of mutation XSS,
    so none of its markup stays; the reader keeps "x = 2".
    """
    for node in math.iter():
        if _local_name(node) in MATHML_ANNOTATIONS:
            node.clear()  # the formula in another notation (TeX, ...), not its text
    tokens = ("".join(node.itertext()) for node in math.iter() if _local_name(node) in MATHML_TOKENS)
    text = " ".join((math.get("alttext") or " ".join(tokens)).split())
    if not text:
        return None
    replacement = ElementTree.Element("div" if math.get("display") == "block" else "span")
    replacement.text = text
    return replacement


def _local_name(element: ElementTree.Element) -> str:
    return str(element.tag).rpartition("}")[2].lower()


def _pixels(value: str | None) -> int | None:
    digits = (value or "").strip().lower().removesuffix("px")
    return int(digits) if digits.isdigit() else None


def _same_page(one: str, other: str) -> bool:
    def key(url: str) -> tuple[str, str]:
        parts = urlsplit(url)
        return ((parts.hostname or "").lower().removeprefix("www."), parts.path.rstrip("/") or "/")

    return key(one) == key(other)


def _plain_text(root: ElementTree.Element) -> str:
    """Return the text of a parsed fragment, blocks separated, entities decoded."""
    pieces: list[str] = []
    # A stack of work instead of recursion: a hostile post may nest
    # thousands deep. A string on the stack is text to add as it comes up.
    stack: list[ElementTree.Element | str] = [root]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            pieces.append(item)
            continue
        if not isinstance(item.tag, str):  # a comment
            pieces.append(item.tail or "")
            continue
        block = "\n" if item.tag.lower() in BLOCK_TAGS else ""
        pieces.append(block)
        stack.append(block + (item.tail or ""))
        if item.tag in MEDIA_PLAYERS or item.tag == "iframe":
            continue  # a player's fallback is for browsers without one, not the post's words
        if item.text:
            pieces.append(item.text)
        stack.extend(reversed(item))
    # The parser left entities as written (consume_entities=False).
    text = html.unescape("".join(pieces))
    lines = (" ".join(line.split()) for line in text.splitlines())
    return "\n".join(line for line in lines if line)


class _UrlFilter(html5lib_shim.Filter):
    """Make URLs absolute and re-check them; mark links, images and embeds."""

    def __init__(self, source: Any, base_url: str | None, anchors: set[str]):
        super().__init__(source)
        self.base_url = base_url
        self.anchors = anchors

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for token in super().__iter__():
            if token["type"] in ("StartTag", "EmptyTag"):
                token["data"] = self._attributes(token["name"], token["data"])
            yield token

    def _attributes(self, tag: str, attributes: dict[tuple[str | None, str], str]) -> dict[tuple[str | None, str], str]:
        result: dict[tuple[str | None, str], str] = {}
        for (namespace, name), value in attributes.items():
            if name == "href" and value.startswith("#") and value[1:] in self.anchors:
                pass  # a jump within the post
            elif name in URL_ATTRIBUTES:
                absolute = safe_url(value, self.base_url)
                if absolute is None:
                    continue
                if name == "href":
                    absolute = _without_tracking(absolute)
                if tag in MEDIA_ELEMENTS and urlsplit(absolute).scheme not in ("http", "https"):
                    continue
                value = absolute
            elif name == "srcset":
                value = self._srcset(value)
                if not value:
                    continue
            result[(namespace, name)] = value
        if tag == "a" and (None, "href") in result:
            result[(None, "rel")] = "noopener noreferrer"
        elif tag == "img" and ((None, "src") in result or (None, "srcset") in result):
            result[(None, "loading")] = "lazy"
            result[(None, "decoding")] = "async"
        elif tag in MEDIA_PLAYERS:
            result[(None, "controls")] = ""
            result[(None, "preload")] = "none"
        elif tag == "iframe":
            # Only the players _embed built pass, and always sandboxed.
            source = result.get((None, "src"), "")
            if not source.startswith(tuple(host + "/" for host in EMBED_HOSTS)) or canonical_embed(source) != source:
                result.pop((None, "src"), None)
            result[(None, "sandbox")] = EMBED_SANDBOX
        return result

    def _srcset(self, value: str) -> str:
        candidates = []
        for address, descriptors in srcset_candidates(value):
            url = safe_url(address, self.base_url)
            if url and urlsplit(url).scheme in ("http", "https"):
                candidates.append(" ".join([url, *filter(_SRCSET_DESCRIPTOR.match, descriptors)]))
        return ", ".join(candidates)


def srcset_candidates(value: str) -> list[tuple[str, list[str]]]:
    """Split a srcset into (URL, descriptors) the way the HTML standard parses it.

    A URL runs to the next whitespace, so it may hold commas (image CDNs put
    their options there); commas at its end end the candidate. Otherwise the
    descriptors run to a comma outside parentheses.
    """
    candidates: list[tuple[str, list[str]]] = []
    position, end = 0, len(value)
    while True:
        while position < end and (value[position] in _HTML_SPACE or value[position] == ","):
            position += 1
        if position >= end:
            return candidates
        start = position
        while position < end and value[position] not in _HTML_SPACE:
            position += 1
        url, descriptors = value[start:position], []
        if url.endswith(","):
            candidates.append((url.rstrip(","), descriptors))
            continue
        token, in_parentheses = "", False
        while position < end:
            character = value[position]
            position += 1
            if in_parentheses:
                token += character
                in_parentheses = character != ")"
            elif character == ",":
                break
            elif character in _HTML_SPACE:
                descriptors.append(token)
                token = ""
            else:
                token += character
                in_parentheses = character == "("
        descriptors.append(token)
        candidates.append((url, [descriptor for descriptor in descriptors if descriptor]))


def _without_tracking(url: str) -> str:
    """`url` without its campaign and click-tracking query parameters (utm_*, fbclid, ...)."""
    before, question, rest = url.partition("?")
    if not question:
        return url
    query, hash_mark, fragment = rest.partition("#")
    kept = [parameter for parameter in query.split("&") if not _TRACKING_PARAMETER.match(parameter)]
    if len(kept) == len(query.split("&")):
        return url
    return before + ("?" + "&".join(kept) if any(kept) else "") + hash_mark + fragment


def _cut_at_tag(raw: str, limit: int) -> tuple[str, bool]:
    """`raw` cut to at most `limit` characters before a tag begins, and whether it was cut.

    Cutting before a "<" leaves no tag or character reference in halves;
    html5lib closes what is left open. Without a tag to cut at, the cut
    falls between words, else at the limit.
    """
    if len(raw) <= limit:
        return raw, False
    head = raw[:limit]
    boundary = head.rfind("<")
    if boundary <= 0:
        boundary = max(head.rfind(" "), head.rfind("\n"))
    return (head[:boundary] if boundary > 0 else head), True


class _DepthCap(HTMLParser):
    """Find the tags that would nest elements deeper than MAX_DEPTH, or hold more than
    MAX_ATTRIBUTES attributes, to take them out or trim them before parsing.

    The standard library's tokenizer reads tags, comments, attribute values
    and raw text the way the HTML parser will, in linear time; nesting is
    counted simply (an end tag closes up to its start tag). Safety never
    rests on this count: what is left still goes through the whole cleaner.
    """

    # Their contents are text, whatever looks like a tag in them.
    CDATA_CONTENT_ELEMENTS = (
        "script", "style", "textarea", "title", "xmp", "iframe", "noembed", "noframes", "noscript", "plaintext",
    )  # fmt: skip

    def __init__(self, raw: str) -> None:
        super().__init__(convert_charrefs=False)
        self.raw = raw
        self.line_starts = [0, *(match.end() for match in re.finditer("\n", raw))]
        self.open: list[str] = []  # the elements kept open, outermost first
        self.open_too_deep: dict[str, int] = {}  # tag: how many of its start tags were taken out
        # (start, end, replacement) in document order
        self.cuts: list[tuple[int, int, str]] = []

    @classmethod
    def flatten(cls, raw: str) -> str:
        if raw.count("<") <= MAX_DEPTH and len(raw) < 2 * MAX_ATTRIBUTES:
            return raw  # too few tags to nest too deep, too short for that many attributes
        cap = cls(raw)
        cap.feed(raw)
        cap.close()
        if not cap.cuts:
            return raw
        kept, start = [], 0
        for cut_start, cut_end, replacement in cap.cuts:
            kept.append(raw[start:cut_start])
            kept.append(replacement)
            start = cut_end
        kept.append(raw[start:])
        return "".join(kept)

    def _offset(self) -> int:
        line, column = self.getpos()
        return self.line_starts[line - 1] + column

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        self._open(tag, attrs, "")

    def handle_startendtag(self, tag: str, attrs: Any) -> None:
        # "<div/>" opens a div all the same; only void elements are empty.
        self._open(tag, attrs, "/")

    def _open(self, tag: str, attrs: list[tuple[str, str | None]], closing: str) -> None:
        nesting = tag not in _NOT_NESTING
        if nesting and len(self.open) < MAX_DEPTH:
            self.open.append(tag)
        elif nesting:
            start = self._offset()
            self.cuts.append((start, start + len(self.get_starttag_text() or ""), ""))
            self.open_too_deep[tag] = self.open_too_deep.get(tag, 0) + 1
            return
        if len(attrs) > MAX_ATTRIBUTES:
            # Written again with its first attributes: the tokenizer has
            # decoded their values, so they are encoded once more.
            start = self._offset()
            kept = "".join(
                f" {name}" if value is None else f' {name}="{html.escape(value)}"' for name, value in attrs[:MAX_ATTRIBUTES]
            )
            self.cuts.append((start, start + len(self.get_starttag_text() or ""), f"<{tag}{kept}{closing}>"))

    def handle_endtag(self, tag: str) -> None:
        if self.open_too_deep.get(tag):
            # The innermost open element of its kind is one taken out.
            self.open_too_deep[tag] -= 1
            start = self._offset()
            end = self.raw.find(">", start)
            self.cuts.append((start, len(self.raw) if end < 0 else end + 1, ""))
        elif tag in self.open:
            del self.open[len(self.open) - 1 - self.open[::-1].index(tag) :]


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip_depth = 0

    @classmethod
    def extract(cls, markup: str) -> str:
        extractor = cls()
        extractor.feed(markup)
        extractor.close()
        return "".join(extractor.parts)

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in ("script", "style", "template"):
            self.skip_depth += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "template") and self.skip_depth:
            self.skip_depth -= 1

    def handle_data(self, data: str) -> None:
        if not self.skip_depth:
            self.parts.append(data)
