"""Reading settings: text size, line spacing and typeface, kept in a cookie.

No account and no JavaScript: the settings page is a plain form, and every
page's <html> element carries classes that the stylesheet turns into the
reader's choices. Unknown values in the cookie are ignored.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

from flask import request

COOKIE = "reading"
CHOICES: dict[str, dict[str, str]] = {
    "size": {"normal": "Normal", "small": "Smaller", "large": "Larger", "x-large": "Largest"},
    "spacing": {"normal": "Normal", "relaxed": "More space between lines", "loose": "Most space between lines"},
    "face": {
        "serif": "Book serif (Charter, Georgia)",
        "sans": "Plain sans-serif (your system's)",
        "legible": "Highly legible (Atkinson Hyperlegible, Verdana)",
    },
}
DEFAULTS = {name: next(iter(values)) for name, values in CHOICES.items()}
# The longest cookie from_form() writes is under 60 characters; a longer one
# is read only this far, so a forged giant costs nothing to parse.
MAX_COOKIE_LENGTH = 200


def current() -> dict[str, str]:
    """The reader's settings, defaults where the cookie says nothing valid."""
    chosen = dict(parse_qsl(request.cookies.get(COOKIE, "")[:MAX_COOKIE_LENGTH])) if request else {}
    return {name: chosen.get(name) if chosen.get(name) in CHOICES[name] else DEFAULTS[name] for name in CHOICES}


def html_classes() -> str:
    return " ".join(f"{name}-{value}" for name, value in current().items() if value != DEFAULTS[name])


def from_form(form) -> str:
    """The cookie value for what the settings form sent (valid values only)."""
    chosen = {name: form.get(name) for name in CHOICES if form.get(name) in CHOICES[name]}
    return urlencode({name: value for name, value in chosen.items() if value != DEFAULTS[name]})
