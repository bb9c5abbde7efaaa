"""What text from the register may do once rendered, decided in one place for every output.

Every key holder can write anything into the decrypted database with their own code, past every
check the CLI makes on input, so what the database holds is checked again when it is rendered:
only an http(s) address becomes a link (`web_link`).
"""

from __future__ import annotations

import html
from urllib.parse import urlsplit


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


def html_link(url: object, text: str, rel: str = "noopener") -> str:
    """An `<a>` to `url` showing `text` (already HTML) when `url` is a `web_link`; otherwise `text` alone."""
    link = web_link(url)
    if link is None:
        return text
    return f'<a href="{html.escape(link, quote=True)}" rel="{rel}">{text}</a>'
