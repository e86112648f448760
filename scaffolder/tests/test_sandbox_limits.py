"""A template can never read files, environment variables or Python objects, nor exhaust a worker.

Each named payload is refused with a message that names it; each resource bomb is refused by
a cheap check when one can foresee it, and otherwise by the child process's hard limits.
"""

from __future__ import annotations

import pytest

from scaffolder.expressions import TemplateError, render
from scaffolder.expressions.isolation import IsolationError, run_isolated

CONTEXT = {"parameters": {"name": "fraud-model", "tags": ["a"]}, "secrets": {"token": "s3cr3t-token-value"}}


def refusal(template: str, **options) -> str:
    with pytest.raises(TemplateError) as error:
        render({"field": template}, CONTEXT, label="input", **options)
    return str(error.value)


INJECTIONS = {
    "class of a string": ("${{ ''.__class__.__mro__ }}", "access to attribute '__class__' of a str value is not allowed"),
    "cycler globals": ("${{ cycler.__init__.__globals__ }}", "access to attribute '__init__' of a type value is not allowed"),
    "lipsum globals": ("${{ lipsum.__globals__ }}", "access to attribute '__globals__' of an undefined value is not allowed"),
    "template reference context": (
        "${{ self._TemplateReference__context }}",
        "access to attribute '_TemplateReference__context' of a TemplateReference value is not allowed",
    ),
    "attr filter": ("${{ ()|attr('__class__') }}", "access to attribute '__class__' of a tuple value is not allowed"),
    "attr filter chain": (
        "${{ ()|attr('__class__')|attr('__base__')|attr('__subclasses__')() }}",
        "access to attribute '__class__' of a tuple value is not allowed",
    ),
    "request globals": ("${{ request.application.__globals__ }}", "access to attribute '__globals__' of an undefined value"),
    "range self": ("${{ range.__self__ }}", "access to attribute '__self__' of a function value is not allowed"),
    "format attribute": ("${{ '{0.__class__}'.format(parameters.name) }}", "access to attribute '__class__' of a str value"),
    "format of an object": ("${{ '{0}'.format(parameters) }}", "format() accepts text and numbers, not a dict object"),
    "format_map": ("${{ '{a}'.format_map({'a': cycler}) }}", "format() accepts text and numbers, not a type object"),
    "percent formatting of an object": ("${{ '%s' % cycler }}", "'%' formatting accepts text and numbers, not a type object"),
    "format filter of an object": ("${{ '%s' | format(joiner) }}", "'%' formatting accepts text and numbers, not a type object"),
    "include a file": ("{% include '/etc/passwd' %}", "templates cannot include, import or extend other files"),
    "import a file": ("{% import 'os' as os %}", "templates cannot include, import or extend other files"),
    "mutate a value": ("${{ parameters.tags.append('x') }}", "access to attribute 'append' of a list value is not allowed"),
    "a helper object as a value": ("${{ namespace }}", "it produced a type object, which is not data"),
    "method resolution order": ("${{ dict.mro() }}", "access to attribute 'mro' of a type value is not allowed"),
}


@pytest.mark.parametrize(("template", "message"), list(INJECTIONS.values()), ids=list(INJECTIONS))
def test_injection_payloads_are_refused_with_a_clear_message(template, message):
    text = refusal(template)
    assert text.startswith(f"input.field: `{template}` was refused: ")
    assert message in text


def test_config_style_globals_do_not_exist():
    with pytest.raises(TemplateError, match="'config' is undefined"):
        render("${{ config.items() }}", CONTEXT)
    result = render("${{ request }}", CONTEXT)
    assert result.value is None
    assert result.warnings == ["value: `${{ request }}`: 'request' is undefined; the value is null"]


def test_lipsum_is_not_offered_but_plain_helpers_are():
    assert render("${{ lipsum }}", CONTEXT).value is None
    template = "{% set ns = namespace(n=0) %}{% for t in ['a', 'b'] %}{% set ns.n = ns.n + 1 %}{% endfor %}${{ ns.n }}"
    assert render(template, CONTEXT).value == "2"
    assert render("{% set c = cycler('x', 'y') %}${{ c.next() }}${{ c.next() }}", CONTEXT).value == "xy"
    assert render("${{ dict(a=1) }}", CONTEXT).value == {"a": 1}


BOMBS = {
    "string repetition": ("${{ 'x' * 10**9 }}", "'*' would build 1,000,000,000 characters or items"),
    "list repetition": ("${{ [1] * 10**9 }}", "'*' would build 1,000,000,000 characters or items"),
    "big power": ("${{ 10 ** (10 ** 9) }}", "'**' would build an integer of more than 4,096 bits"),
    "power of two": ("${{ 2 ** 100000 }}", "'**' would build an integer of more than 4,096 bits"),
    "big range": ("${{ range(10**9) | list }}", "range() would produce 1,000,000,000 items (the limit is 10,000)"),
    "huge join": ("${{ (['x' * 1000000] * 1000) | join }}", "join would build 1,000,000,000 characters or items"),
    "huge str.join": ("${{ ''.join(['x' * 1000000] * 1000) }}", "str.join() would build 1,000,000,000 characters"),
    "huge replace": ("${{ ('x' * 1000000) | replace('x', 'yy') }}", "replace would build 2,000,000 characters or items"),
    "huge str.replace": ("${{ ('x' * 1000000).replace('x', 'yy') }}", "str.replace() would build 2,000,000 characters"),
    "huge ljust": ("${{ 'x'.ljust(10**9) }}", "str.ljust() would build 1,000,000,000 characters"),
    "huge center filter": ("${{ 'x' | center(10**9) }}", "center would build 1,000,000,000 characters or items"),
    "huge indent": ("${{ 'a\\nb' | indent(10**8) }}", "indent would build 200,000,003 characters or items"),
    "percent width": ("${{ '%0999999999d' % 1 }}", "'%' formatting width 999,999,999 is above the limit of 10,000"),
    "format width": ("${{ '{:>999999999}'.format(1) }}", "format() width 999,999,999 is above the limit of 10,000"),
    "doubling concatenation": (
        "{% set ns = namespace(s='x' * 1000) %}{% for i in range(30) %}{% set ns.s = ns.s + ns.s %}{% endfor %}",
        "'+' would build 1,024,000 characters or items",
    ),
    "huge output": ("{% for i in range(100) %}${{ 'x' * 1000000 }}{% endfor %}", "the rendered text exceeds 10,000,000 characters"),
    "recursive macro": ("{% macro f(n) %}${{ f(n) }}{% endmacro %}${{ f(1) }}", "it nests too deeply"),
    "batch fill": ("${{ [1] | batch(10**9, 0) | list }}", "batch count 1,000,000,000 is above the limit of 10,000"),
}


@pytest.mark.parametrize(("template", "message"), list(BOMBS.values()), ids=list(BOMBS))
def test_resource_bombs_are_refused_before_they_are_built(template, message):
    text = refusal(template)
    assert text.startswith("input.field: `")
    assert "was refused: " in text
    assert message in text


def test_an_endless_loop_is_stopped_after_two_seconds():
    template = "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}"
    assert refusal(template) == f"input.field: `{template}` took longer than 2 s and was stopped"


def test_memory_beyond_the_limit_stops_the_render_and_names_the_place():
    # Each step passes every cheap check (a 500 kB string, a list one item longer), but
    # the list keeps them all: about 1 GB by the end, stopped at the 100 MB ceiling.
    template = (
        "{% set ns = namespace(kept=[]) %}{% for i in range(2000) %}"
        "{% set ns.kept = ns.kept + [(i|string) * 100000] %}{% endfor %}${{ ns.kept | length }}"
    )
    text = refusal(template)
    assert text.startswith("input.field: `{% set ns = namespace(kept=[]) %}")
    assert text.endswith("…` needed more than 100 MB of memory and was stopped")


def test_the_child_cannot_allocate_past_its_ceiling():
    with pytest.raises(IsolationError, match="needed more than 100 MB of memory"):
        run_isolated(lambda progress: len(bytearray(300 * 2**20)), timeout=2, memory_bytes=100 * 2**20)


def test_a_long_file_names_the_file_when_it_is_stopped():
    files = {"file": {"ok.yaml": "a: ${{ values.a }}", "slow.yaml": "x\n{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}\n"}}
    with pytest.raises(TemplateError) as error:
        render(files, {"values": {"a": 1}}, as_text=True)
    assert str(error.value) == "file['slow.yaml']: took longer than 2 s and was stopped"


def test_the_process_is_usable_after_a_refusal():
    with pytest.raises(TemplateError):
        render("${{ 'x' * 10**9 }}", CONTEXT)
    assert render("${{ parameters.name }}", CONTEXT).value == "fraud-model"


def test_a_refusal_inside_a_file_names_the_file_and_line():
    manifest = "kind: X\nmetadata:\n  name: ${{ values.name.__class__ }}\n"
    with pytest.raises(TemplateError) as error:
        render({"file": {"x.yaml": manifest}}, {"values": {"name": "a"}}, as_text=True)
    assert str(error.value) == (
        "file['x.yaml'] line 3: `name: ${{ values.name.__class__ }}` was refused: "
        "access to attribute '__class__' of a str value is not allowed"
    )
