"""The `${{ }}` expression engine: typed values, text, undefined values, Backstage's filters."""

from __future__ import annotations

import pytest

from scaffolder.expressions import TemplateError, render

CONTEXT = {
    "parameters": {
        "name": "fraud-model",
        "replicas": 2,
        "ratio": 0.5,
        "public": True,
        "tags": ["ml", "fraud"],
        "owner": "group:default/fraud-detection",
        "repoUrl": "github.com?owner=acme&repo=models",
        "resources": {"cpu": "500m", "memory": "1Gi"},
        "items": "the key, not the dict method",
    },
    "steps": {"publish": {"output": {"pullRequestUrl": "https://example.test/pr/7", "pullRequestNumber": 7}}},
    "user": {"ref": "user:default/dana", "entity": {"metadata": {"name": "dana"}, "spec": {"profile": {"email": "dana@example.test"}}}},
    "secrets": {"token": "s3cr3t-token-value"},
}


def value_of(template, context=CONTEXT, **options):
    return render(template, context, **options).value


# --- Typed values ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("${{ parameters.replicas }}", 2),
        ("${{ parameters.ratio }}", 0.5),
        ("${{ parameters.public }}", True),
        ("${{ parameters.tags }}", ["ml", "fraud"]),
        ("${{ parameters.resources }}", {"cpu": "500m", "memory": "1Gi"}),
        ("${{ parameters.replicas + 1 }}", 3),
        ("${{ parameters.tags | map('upper') | list }}", ["ML", "FRAUD"]),
        ("${{ range(3) }}", [0, 1, 2]),
        ("${{ parameters.name }}", "fraud-model"),
    ],
)
def test_a_whole_expression_keeps_its_type(template, expected):
    assert value_of(template) == expected


def test_text_with_embedded_expressions_renders_to_a_string():
    assert value_of("apps/${{ parameters.name }}/x${{ parameters.replicas }}") == "apps/fraud-model/x2"


def test_an_expression_with_text_around_it_is_text():
    assert value_of(" ${{ parameters.replicas }}") == " 2"
    assert value_of("${{ parameters.replicas }}${{ parameters.replicas }}") == "22"


def test_text_prints_booleans_null_and_lists_as_backstage_does():
    assert value_of("public: ${{ parameters.public }}") == "public: true"
    assert value_of("none: ${{ none }}") == "none: "
    assert value_of("tags: ${{ parameters.tags }}") == "tags: ml,fraud"


def test_as_text_renders_whole_expressions_to_text():
    assert value_of("${{ parameters.replicas }}", as_text=True) == "2"


def test_nested_inputs_render_recursively_and_keep_other_values():
    rendered = value_of(
        {
            "name": "${{ parameters.name }}",
            "labels": [{"team": "${{ parameters.owner | parseEntityRef | pick('name') }}"}, 42, None, False],
            "${{ parameters.name }}": "keys are not rendered",
        }
    )
    assert rendered == {
        "name": "fraud-model",
        "labels": [{"team": "fraud-detection"}, 42, None, False],
        "${{ parameters.name }}": "keys are not rendered",
    }


def test_steps_user_and_secrets_are_available():
    assert value_of("${{ steps['publish'].output.pullRequestUrl }}") == "https://example.test/pr/7"
    assert value_of("${{ steps.publish.output.pullRequestNumber }}") == 7
    assert value_of("${{ user.ref }} ${{ user.entity.spec.profile.email }}") == "user:default/dana dana@example.test"
    assert value_of("Bearer ${{ secrets.token }}") == "Bearer s3cr3t-token-value"


def test_a_key_named_like_a_dict_method_reads_the_key():
    assert value_of("${{ parameters.items }}") == "the key, not the dict method"


def test_block_tags_and_comments_work_in_text():
    template = "{% if parameters.public %}public{% else %}private{% endif %}{# note #}:{% for t in parameters.tags %} {{ t }}{% endfor %}"
    # `{{ }}` is not an expression in this syntax: only `${{ }}` is.
    assert value_of(template) == "public: {{ t }} {{ t }}"
    assert value_of("{% for t in parameters.tags %}[${{ t }}]{% endfor %}") == "[ml][fraud]"


def test_a_trailing_newline_is_kept():
    assert value_of("name: ${{ parameters.name }}\n") == "name: fraud-model\n"


# --- Undefined values --------------------------------------------------------------------


def test_an_undefined_value_inside_text_renders_empty_with_a_warning():
    result = render({"title": "Add ${{ parameters.nmae }} endpoint"}, CONTEXT, label="input")
    assert result.value == {"title": "Add  endpoint"}
    assert result.warnings == [
        "input.title: `Add ${{ parameters.nmae }} endpoint`: 'nmae' is undefined; rendered as empty text"
    ]


def test_an_undefined_whole_expression_becomes_null_with_a_warning():
    result = render({"replicas": "${{ parameters.missing.deeper }}"}, CONTEXT, label="input")
    assert result.value == {"replicas": None}
    assert result.warnings == ["input.replicas: `${{ parameters.missing.deeper }}`: 'missing' is undefined; the value is null"]


def test_an_undefined_variable_is_named_in_the_warning():
    result = render("${{ nothing }}", CONTEXT)
    assert result.value is None
    assert result.warnings == ["value: `${{ nothing }}`: 'nothing' is undefined; the value is null"]


def test_a_warning_names_the_line_of_a_multi_line_text():
    manifest = "kind: X\nmetadata:\n  name: ${{ values.name }}\n  owner: ${{ values.ownr }}\n"
    result = render({"file": {"x.yaml": manifest}}, {"values": {"name": "a", "owner": "b"}}, as_text=True)
    assert result.value["file"]["x.yaml"] == "kind: X\nmetadata:\n  name: a\n  owner: \n"
    assert result.warnings == [
        "file['x.yaml'] line 4: `owner: ${{ values.ownr }}`: 'ownr' is undefined; rendered as empty text"
    ]


def test_default_and_conditions_on_undefined_values_need_no_warning():
    result = render(
        ["${{ parameters.missing | default('fallback') }}", "{% if parameters.missing %}x{% endif %}y"], CONTEXT
    )
    assert result.value == ["fallback", "y"]
    assert result.warnings == []


# --- Backstage's filters -----------------------------------------------------------------


def test_parse_repo_url_splits_host_owner_and_repo():
    assert value_of("${{ parameters.repoUrl | parseRepoUrl }}") == {"host": "github.com", "owner": "acme", "repo": "models"}
    assert value_of("${{ (parameters.repoUrl | parseRepoUrl).repo }}") == "models"


def test_parse_repo_url_accepts_project_style_urls_without_owner():
    url = "dev.azure.com?organization=acme&project=ml&repo=models"
    assert value_of(f"${{{{ '{url}' | parseRepoUrl }}}}") == {
        "host": "dev.azure.com",
        "repo": "models",
        "organization": "acme",
        "project": "ml",
    }


def test_parse_repo_url_names_what_is_missing():
    with pytest.raises(TemplateError, match=r"parseRepoUrl: 'github.com\?repo=models' has no owner"):
        render("${{ 'github.com?repo=models' | parseRepoUrl }}", CONTEXT)


def test_project_slug_is_owner_slash_repo():
    assert value_of("${{ parameters.repoUrl | projectSlug }}") == "acme/models"


def test_parse_entity_ref_with_and_without_defaults():
    assert value_of("${{ parameters.owner | parseEntityRef }}") == {
        "kind": "group",
        "namespace": "default",
        "name": "fraud-detection",
    }
    assert value_of("${{ 'techdocs' | parseEntityRef({'defaultKind': 'group', 'defaultNamespace': 'ops'}) }}") == {
        "kind": "group",
        "namespace": "ops",
        "name": "techdocs",
    }


def test_parse_entity_ref_without_a_kind_is_refused_clearly():
    with pytest.raises(TemplateError, match="parseEntityRef: Entity ref 'techdocs' has no kind"):
        render("${{ 'techdocs' | parseEntityRef }}", CONTEXT)


def test_pick_reads_a_path_and_is_undefined_when_missing():
    assert value_of("${{ parameters | pick('resources.cpu') }}") == "500m"
    assert value_of("${{ parameters | pick('tags[1]') }}") == "fraud"
    result = render("${{ parameters | pick('resources.gpu') }}", CONTEXT)
    assert result.value is None
    assert "'resources.gpu' is undefined" in result.warnings[0]


def test_dump_writes_json_as_nunjucks_does():
    assert value_of("${{ parameters.resources | dump }}") == '{"cpu":"500m","memory":"1Gi"}'
    assert value_of("x: ${{ parameters.tags | dump }}") == 'x: ["ml","fraud"]'
    assert value_of("${{ parameters.resources | dump(2) }}") == '{\n  "cpu": "500m",\n  "memory": "1Gi"\n}'


def test_jinja_builtin_filters_are_available():
    assert value_of("${{ parameters.name | upper | replace('-', '_') }}") == "FRAUD_MODEL"
    assert value_of("${{ parameters.tags | join(', ') }}") == "ml, fraud"
    assert value_of("${{ parameters.tags | length }}") == 2
    assert value_of("${{ parameters.name | truncate(9, True, '', 0) }}") == "fraud-mod"
    assert value_of("${{ '%s-%d' | format(parameters.name, 3) }}") == "fraud-model-3"


# --- Errors --------------------------------------------------------------------------------


def test_a_syntax_error_names_the_place_and_the_expression():
    with pytest.raises(TemplateError) as error:
        render({"name": "${{ parameters.name | }}"}, CONTEXT, label="input")
    assert str(error.value).startswith("input.name: `${{ parameters.name | }}` is not a valid expression:")


def test_calling_an_undefined_function_fails_with_its_name():
    with pytest.raises(TemplateError, match=r"input: `\$\{\{ shout\(parameters.name\) \}\}` failed: 'shout' is undefined"):
        render("${{ shout(parameters.name) }}", CONTEXT, label="input")


def test_secrets_never_appear_in_error_messages():
    with pytest.raises(TemplateError) as error:
        render("${{ secrets.token | parseRepoUrl }}", CONTEXT)
    assert "s3cr3t-token-value" not in str(error.value)
    assert "'***' names no host" in str(error.value) or "'***' has no" in str(error.value)


def test_strings_without_expressions_are_returned_as_they_are():
    value = {"plain": "no expressions here", "n": [1, 2]}
    assert render(value, CONTEXT).value == value
