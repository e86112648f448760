"""Validation as Backstage does it: each kind accepted, each broken rule named by its field."""

import copy
from pathlib import Path

import pytest

from catalog.validation import validate_entity
from portal import yamlsafe

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "gitops"

VALID = {
    "Component": {"spec": {"type": "model-endpoint", "lifecycle": "production", "owner": "fraud-detection", "providesApis": ["scoring"]}},
    "API": {"spec": {"type": "openapi", "lifecycle": "production", "owner": "fraud-detection", "definition": "openapi: 3.0.3"}},
    "Resource": {"spec": {"type": "bucket", "owner": "platform-team", "dependsOn": ["resource:models"]}},
    "System": {"spec": {"owner": "platform-team", "domain": "machine-learning"}},
    "Domain": {"spec": {"owner": "ml-org"}},
    "Group": {"spec": {"type": "team", "children": [], "parent": "ml-org", "profile": {"displayName": "Fraud"}}},
    "User": {"spec": {"memberOf": ["fraud-detection"], "profile": {"email": "dana@example.com"}}},
    "Location": {"spec": {"targets": ["./apps/*/catalog-info.yaml"]}},
    "Template": {
        "apiVersion": "scaffolder.backstage.io/v1beta3",
        "spec": {"type": "service", "parameters": [{"properties": {}}], "steps": [{"id": "a", "action": "fetch:template"}]},
    },
}


def entity(kind: str = "Component", **overrides) -> dict:
    base = copy.deepcopy(VALID[kind])
    document = {
        "apiVersion": base.pop("apiVersion", "backstage.io/v1alpha1"),
        "kind": kind,
        "metadata": {
            "name": "fraud-model",
            "namespace": "default",
            "labels": {"cost-center": "cc-fraud", "app.kubernetes.io/name": "fraud"},
            "annotations": {"neuroscale.io/gitops-path": "apps/fraud-model"},
            "tags": ["sklearn", "c++", "fraud-scoring"],
            "links": [{"url": "https://example.com/runbook", "title": "Runbook"}],
        },
        **base,
    }
    document.update(overrides)
    return document


@pytest.mark.parametrize("kind", list(VALID))
def test_every_kind_validates(kind):
    assert validate_entity(entity(kind)) == []


def test_every_document_of_the_demo_repository_validates():
    files = [*EXAMPLES.glob("org/*.yaml"), *EXAMPLES.glob("apps/*/catalog-info.yaml"),
             EXAMPLES / "catalog-info.yaml", EXAMPLES / "templates/model-endpoint/template.yaml"]
    documents = [doc for path in files for doc in yamlsafe.load_all(path.read_bytes(), source=str(path))]
    assert {doc["kind"] for doc in documents} >= {"Component", "Group", "User", "Location", "Template"}
    for document in documents:
        assert validate_entity(document) == [], document["metadata"]["name"]


def fields(document) -> set[str]:
    return {issue.field for issue in validate_entity(document)}


def with_metadata(**changes) -> dict:
    document = entity()
    document["metadata"].update(changes)
    return document


def with_spec(kind="Component", drop=(), **changes) -> dict:
    document = entity(kind)
    document["spec"].update(changes)
    for key in drop:
        document["spec"].pop(key)
    return document


@pytest.mark.parametrize(
    ("document", "field"),
    [
        (entity(apiVersion="backstage.io/v2 beta"), "apiVersion"),
        (entity(apiVersion="scaffolder.backstage.io/v1beta3"), "apiVersion"),
        (entity("Template", apiVersion="backstage.io/v1alpha1"), "apiVersion"),
        ({**entity(), "kind": "Widget"}, "kind"),
        (with_metadata(name="Fraud Model!"), "metadata.name"),
        (with_metadata(name="-fraud"), "metadata.name"),
        (with_metadata(name="a" * 64), "metadata.name"),
        (with_metadata(name=""), "metadata.name"),
        (with_metadata(namespace="Team_A"), "metadata.namespace"),
        (with_metadata(labels={"bad key!": "x"}), "metadata.labels.bad key!"),
        (with_metadata(labels={"cost-center": "cc fraud"}), "metadata.labels.cost-center"),
        (with_metadata(annotations={"-nope/x": "1"}), "metadata.annotations.-nope/x"),
        (with_metadata(annotations={"neuroscale.io/replicas": 3}), "metadata.annotations.neuroscale.io/replicas"),
        (with_metadata(tags=["Fraud"]), "metadata.tags[0]"),
        (with_metadata(tags=["ok", "two words"]), "metadata.tags[1]"),
        (with_metadata(links=[{"title": "no url"}]), "metadata.links[0].url"),
        (with_metadata(links=[{"url": "not a url"}]), "metadata.links[0].url"),
        (with_metadata(title=["list"]), "metadata.title"),
        (with_spec(drop=["type"]), "spec.type"),
        (with_spec(drop=["lifecycle"]), "spec.lifecycle"),
        (with_spec(owner=""), "spec.owner"),
        (with_spec(providesApis="scoring"), "spec.providesApis"),
        (with_spec("API", drop=["definition"]), "spec.definition"),
        (with_spec("Resource", drop=["owner"]), "spec.owner"),
        (with_spec("System", drop=["owner"]), "spec.owner"),
        (with_spec("Domain", drop=["owner"]), "spec.owner"),
        (with_spec("Group", drop=["type"]), "spec.type"),
        (with_spec("Group", drop=["children"]), "spec.children"),
        (with_spec("Group", children="fraud"), "spec.children"),
        (with_spec("User", memberOf="fraud-detection"), "spec.memberOf"),
        (with_spec("User", profile={"email": 42}), "spec.profile.email"),
        (with_spec("Location", drop=["targets"]), "spec.target"),
        (with_spec("Template", drop=["steps"]), "spec.steps"),
        (with_spec("Template", steps=[{"id": "x"}]), "spec.steps[0].action"),
        (with_spec("Template", parameters="name"), "spec.parameters"),
        (entity("Component", spec=None), "spec"),
    ],
)
def test_each_broken_rule_names_its_field(document, field):
    issues = validate_entity(document)
    assert field in {issue.field for issue in issues}, issues
    issue = next(issue for issue in issues if issue.field == field)
    assert issue.message and issue.rule


def test_the_rule_is_said_in_words():
    (issue,) = validate_entity(with_spec(drop=["owner"]))
    assert issue.field == "spec.owner"
    assert "Component needs spec.owner" in issue.rule


def test_a_document_that_is_not_a_mapping_is_refused():
    assert fields(["a", "list"]) == {""}


def test_a_missing_metadata_and_kind_are_both_reported():
    assert fields({"apiVersion": "backstage.io/v1alpha1"}) >= {"kind", "metadata"}


def test_label_keys_may_carry_a_dns_prefix_and_values_may_be_empty():
    assert fields(with_metadata(labels={"neuroscale.io/team": "", "a.b-c/d_e.f": "x.y"})) == set()


class TestYAML:
    def test_duplicate_keys_are_refused_with_both_lines(self):
        with pytest.raises(yamlsafe.YAMLError) as error:
            yamlsafe.load_all("kind: Component\nmetadata:\n  name: a\n  name: b\n", source="apps/x/catalog-info.yaml")
        message = str(error.value)
        assert message.startswith("apps/x/catalog-info.yaml: line 4")
        assert "duplicate key 'name'" in message and "line 3" in message

    def test_a_file_over_the_size_limit_is_refused_naming_the_setting(self, settings):
        settings.PORTAL_YAML_MAX_BYTES = 1024
        with pytest.raises(yamlsafe.YAMLError) as error:
            yamlsafe.load_all("a: " + "x" * 2000, source="big.yaml")
        assert str(error.value) == "big.yaml: file is 2003 bytes, over the limit of 1024 (PORTAL_YAML_MAX_BYTES)"

    def test_text_that_is_not_yaml_says_where(self):
        with pytest.raises(yamlsafe.YAMLError) as error:
            yamlsafe.load_all("kind: [Component\nspec: {", source="broken.yaml")
        assert str(error.value).startswith("broken.yaml: line ")

    def test_python_tags_are_not_constructed(self):
        with pytest.raises(yamlsafe.YAMLError):
            yamlsafe.load_all("!!python/object/apply:os.system ['true']")
