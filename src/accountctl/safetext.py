"""What text from the register may do once rendered, decided in one place for every output.

Every key holder can write anything into the decrypted database with their own code, past every
check the CLI makes on input, so what the database holds is checked again when it is rendered:
only an http(s) address becomes a link (`web_link`), and control, bidi and zero-width characters
are shown escaped (`\\x1b`, `\\u202e`) in every format: terminal text (`escape`), CSV (`escape_cell`),
JSON (`json_text`) and HTML (`html_text`; the HTML pages get the same from `pages.render`). The same
invisible characters are refused on input (`model.plain_text`). An email address becomes a
`mailto:` link only if it is one (`mail_address`). docs/output.md says what each format does.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit  # already loaded with click: no cost at start-up

# Characters that reorder or hide the text around them while showing nothing themselves: the bidi
# embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069) and marks (U+200E, U+200F, U+061C),
# which make "txt.exe" of "exe.txt" or reverse a name in a table; and the zero-width spaces and
# joiners (U+200B-U+200D), word joiner and invisible operators (U+2060-U+2064), the byte order mark
# (U+FEFF) and the Mongolian vowel separator (U+180E), which make two different values look the same.
# As the inside of a regular expression's character class.
INVISIBLE = "\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff"
_LINE_BREAKS = "\u2028\u2029"  # Unicode's line and paragraph separators: a line end to some readers
# The expressions are compiled (and cached by `re`) the first time a value needs one, not when every
# command starts: almost no value does.
# What a terminal acts on: C0 controls (ESC starts the sequences that retitle the window or clear the
# screen; a carriage return overwrites the line), DEL and C1 controls (U+009B is a one-byte ESC [).
_TERMINAL = f"[\x00-\x1f\x7f-\x9f{_LINE_BREAKS}{INVISIBLE}]"
# In a CSV cell or on an HTML page a tab is ordinary white space.
_KEEP_TAB = f"[\x00-\x08\x0a-\x1f\x7f-\x9f{_LINE_BREAKS}{INVISIBLE}]"
# In JSON text: the encoder already writes C0 controls as escapes, but not these.
_JSON = f"[\x7f-\x9f{_LINE_BREAKS}{INVISIBLE}]"
_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _shown(match: re.Match) -> str:
    ch = match.group()
    return _NAMED.get(ch) or (f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}")


def escape(text: str) -> str:
    """`text` with every control, bidi and zero-width character shown escaped (`\\x1b`, `\\r`, `\\u202e`)."""
    # Every character escaped is one `isprintable` is False for, so it answers for almost every value
    # without the regular expression (it is False for spaces other than " " too: those pass unchanged).
    return text if text.isprintable() else re.sub(_TERMINAL, _shown, text)


def escape_cell(text: str) -> str:
    """`escape` for a CSV cell or HTML text, where a tab is ordinary white space and is kept."""
    return text if text.isprintable() else re.sub(_KEEP_TAB, _shown, text)


def _json_escape(match: re.Match) -> str:
    return f"\\u{ord(match.group()):04x}"


def json_text(text: str) -> str:
    """JSON text with DEL, C1, line-separator, bidi and zero-width characters written as `\\u` escapes.

    `text` is what the JSON encoder wrote: those characters can only be inside its strings, where a
    `\\u` escape is the same character to a parser, so every value is given back exactly as stored.
    """
    if text.isascii():  # known without reading the text: then only DEL can be here
        return text.replace("\x7f", "\\u007f") if "\x7f" in text else text
    return re.sub(_JSON, _json_escape, text)


def html_text(value: object) -> str:
    """`value` as HTML text or a quoted attribute's value, with `escape_cell`'s characters shown escaped.

    HTML-escaping alone is not enough: a U+202E written as `&#x202e;` still reverses the text after
    it in a browser, so it is written as the visible text `\\u202e`.
    """
    text = escape_cell("" if value is None else str(value))
    # html.escape(text, quote=True), written out: importing `html` costs every command a millisecond
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace('"', "&quot;").replace("'", "&#x27;")


def web_link(url: object) -> str | None:
    """`url` itself when a page may link to it (an http or https address with a host), else None.

    Browsers drop leading spaces and control characters and remove tabs and line ends inside a URL
    (so " java\\tscript:" runs as "javascript:"): any space, control or invisible character refuses it.
    """
    if type(url) is not str or not url.isprintable() or " " in url:
        return None
    if not url[:8].lower().startswith(("https://", "http://")):
        return None
    try:
        host = urlsplit(url).netloc
    except ValueError:  # an unclosed IPv6 bracket
        return None
    return url if host else None


def mail_address(value: object) -> str | None:
    """`value` as an email address a page may write a `mailto:` link to, else None."""
    from accountctl.errors import InputError
    from accountctl.model import email  # model imports this module

    try:
        return email(value) if type(value) is str else None
    except InputError:
        return None
