"""The HTML pages (the governors' report, the channel page) from the Jinja2 templates in `templates/`.

What the register holds is input too, so a template never sees a raw value: `render` first passes
every string in what it is given (dict keys too) through `safetext.escape_cell`, which shows
control, bidi and zero-width characters as visible escapes (`\\u202e`), and the environment
autoescapes every template (`<>&"'`). Together that is `safetext.html_text`, whatever the template
does with a value: no filter, concatenation or macro can bring an invisible character back.
`StrictUndefined` makes a missing value an error rather than an empty cell.

Links: a template makes one only from `|web_link` (an http(s) address, `safetext.web_link`) or
`|mail_address` (a valid email address, for `mailto:`), and both refuse a value that had to be shown
escaped: it was not printable as stored, so it is no link. The filters that would print a value as
HTML unescaped or make a link no check saw (`safe`, `urlize`, `xmlattr`) are not there.
tests/test_pages.py checks the templates and renders both pages with a hostile value in every field.

Imported only by `report` and `publish` when they write a page: importing jinja2 costs tens of
milliseconds, which no other command pays.
"""

from __future__ import annotations

import gc

import jinja2

from accountctl import safetext

# Jinja2's filters that would get a value past the checks: `safe` prints it unescaped, `urlize` and
# `xmlattr` make links and attributes no check saw. Gone from the environment, so a template that
# uses one fails to load.
UNSAFE_FILTERS = ("safe", "urlize", "xmlattr")


class Shown(str):
    """A register value that held control, bidi or zero-width characters, as `escape_cell` shows it."""


def shown(value: object) -> object:
    """`value` with every string in it (dict keys too) as `escape_cell` shows it; the rest as it is.

    A string that changes becomes a `Shown`, in a copy of each dict or list that holds one; the rest
    is given back as it is (almost every register holds no such character, and a report of 10,000
    accounts holds some 100,000 values: copying them all costs more than the page's own work).
    """
    done: dict[int, object] = {}  # each dict and list once, however often it is reached

    def text(s: str) -> str:
        escaped = safetext.escape_cell(s)
        return s if escaped == s else Shown(escaped)  # a tab is kept as it is

    def walk(value: object) -> object:
        if type(value) is str:
            return value if value.isprintable() else text(value)
        if not isinstance(value, (dict, list, tuple)):
            return value
        if id(value) in done:
            return done[id(value)]
        out = value
        # The loops test each value themselves rather than call walk: almost every value is a string
        # or a number that needs nothing.
        is_dict = isinstance(value, dict)
        for k, v in value.items() if is_dict else enumerate(value):
            if is_dict and type(k) is str and not k.isprintable() and text(k) is not k:
                out = {walk(k): walk(v) for k, v in value.items()}  # in the same order
                break
            if type(v) is str:
                if v.isprintable():
                    continue
                new = text(v)
            elif isinstance(v, (dict, list, tuple)):
                new = walk(v)
            else:
                continue
            if new is not v:
                if out is value:
                    out = dict(value) if is_dict else list(value)
                out[k] = new
        done[id(value)] = out
        return out

    return walk(value)


def web_link(value: object) -> str | None:
    """The value when a page may link to it (`safetext.web_link`); None for anything else."""
    return None if isinstance(value, Shown) else safetext.web_link(value)


def mail_address(value: object) -> str | None:
    """The value as an email address a page may write a `mailto:` link to (`safetext.mail_address`), else None."""
    return None if isinstance(value, Shown) else safetext.mail_address(value)


def _none_as_empty(value: object) -> object:
    return "" if value is None else value


_environment: jinja2.Environment | None = None


def environment() -> jinja2.Environment:
    """The one Jinja2 environment of the pages, made the first time a page is rendered."""
    global _environment
    if _environment is None:
        env = jinja2.Environment(
            loader=jinja2.PackageLoader("accountctl", "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            finalize=_none_as_empty,  # what html_text did with None: an empty cell
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
        for name in UNSAFE_FILTERS:
            del env.filters[name]
        env.filters.update(web_link=web_link, mail_address=mail_address)
        _environment = env
    return _environment


def render(template: str, **context: object) -> str:
    """The page `template` makes of `context`, every string in it shown as `escape_cell` shows it."""
    page, values = environment().get_template(template), shown(context)
    # A page is made of as many Markup strings as it prints values (some 50,000 at 10,000 accounts),
    # and the cyclic garbage collector tracks each: in a process that holds a large register they
    # set off a full collection (40-50 ms, measured) that finds nothing, as reference counting frees
    # them all. So it waits while the page is made.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return page.render(values)
    finally:
        if collecting:
            gc.enable()
