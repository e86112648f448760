"""Pull-request text renders as Markdown, safely."""

from portal.templatetags.portal_markdown import markdown


def test_tables_render_and_markers_disappear():
    html = markdown("<!-- portal-delta -->\n### Cost\n\n| a | b |\n|---|---|\n| 1 | 2 |\n")
    assert "<table>" in html and "<td>1</td>" in html
    assert "portal-delta" not in html


def test_scripts_and_event_handlers_are_removed():
    html = markdown('<script>alert(1)</script><img src="x" onerror="alert(2)"> [x](javascript:alert(3))')
    assert "<script" not in html and "onerror" not in html and "href=\"javascript" not in html
