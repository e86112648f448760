"""`{{ text|markdown }}`: Markdown (GitHub's tables included) as sanitised HTML."""

import nh3
from django import template
from django.utils.safestring import mark_safe
from markdown_it import MarkdownIt

register = template.Library()

# HTML in the source is allowed through the parser and then cleaned by the sanitiser, which
# also drops comments such as the portal's own `<!-- portal-task:... -->` markers.
_parser = MarkdownIt("commonmark", {"html": True, "linkify": False}).enable("table")


@register.filter(name="markdown")
def markdown(text: str | None) -> str:
    if not text:
        return ""
    return mark_safe(nh3.clean(_parser.render(str(text)), link_rel="noopener noreferrer"))  # noqa: S308 - sanitised
