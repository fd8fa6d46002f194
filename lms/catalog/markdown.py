"""Course and lesson text: Markdown rendered by markdown-it-py, then sanitised by nh3.

Instructors may type raw HTML (for <sup>, <br>, <figure> ...), so the renderer lets
it through and nh3 is the single gate: only the tags, attributes and URL schemes
listed here reach a trainee's page. No script, event handler, style attribute or
javascript:/data: URL survives, whatever the Markdown looks like.
"""

from __future__ import annotations

import re

import nh3
from markdown_it import MarkdownIt
from markdown_it.rules_core import StateCore
from markupsafe import Markup

ALLOWED_TAGS = frozenset(
    {
        "p", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "a", "em", "strong",
        "code", "pre", "blockquote", "hr", "br", "img", "figure", "figcaption",
        "del", "sup", "sub",
        "table", "thead", "tbody", "tfoot", "tr", "th", "td", "caption",
    }
)  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": frozenset({"href", "title"}),
    "img": frozenset({"src", "alt", "title", "width", "height"}),
    "th": frozenset({"align", "colspan", "rowspan"}),
    "td": frozenset({"align", "colspan", "rowspan"}),
    "ol": frozenset({"start"}),  # Markdown writes it for a list that starts at 3.
}
# Relative URLs (a lesson linking to another) pass too; every absolute URL must
# use one of these schemes, which rules out javascript:, vbscript: and data:.
URL_SCHEMES = frozenset({"http", "https", "mailto"})

# Removed with everything inside them, not just unwrapped: their content is code,
# markup or a plug-in, never text meant for the reader.
_DROPPED_WITH_CONTENT = frozenset(
    {
        "script", "style", "iframe", "object", "embed", "applet", "frame", "frameset",
        "noscript", "noembed", "noframes", "template", "svg", "math", "textarea",
        "select", "title", "xmp",
    }
)  # fmt: skip

_TEXT_ALIGN = re.compile(r"text-align:\s*(left|right|center)")

_cleaner = nh3.Cleaner(
    tags=set(ALLOWED_TAGS),
    clean_content_tags=set(_DROPPED_WITH_CONTENT),
    attributes={tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
    url_schemes=set(URL_SCHEMES),
    url_relative="pass_through",
    link_rel="noopener noreferrer",
    strip_comments=True,
)


def _html_friendly_tokens(state: StateCore) -> None:
    """Say with allowed markup what markdown-it says otherwise.

    Table alignment comes as style="text-align:..." (style is never allowed), so it
    becomes align=; strikethrough comes as <s>, which becomes <del>.
    """
    for token in state.tokens:
        for child in [token, *(token.children or [])]:
            if child.type in ("th_open", "td_open"):
                match = _TEXT_ALIGN.fullmatch(str(child.attrs.pop("style", "")))
                if match:
                    child.attrSet("align", match.group(1))
            elif child.type in ("s_open", "s_close"):
                child.tag = "del"


def _build_renderer() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
    # markdown-it leaves a link it thinks unsafe as literal "[x](javascript:...)"
    # text; letting it through turns it into a plain <a> once nh3 has dropped the
    # href, and keeps one place (nh3) deciding which URLs are allowed.
    md.validateLink = lambda url: True
    md.core.ruler.push("kenshu_html_friendly", _html_friendly_tokens)
    return md


_md = _build_renderer()


def render_markdown(text: str) -> Markup:
    """Markdown to HTML that is safe to insert into a page as it is."""
    return Markup(_cleaner.clean(_md.render(text)))  # noqa: S704 - sanitised by nh3 just now
