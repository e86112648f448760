"""`manage.py catalog import`: entity files from disk, for migrations from Backstage and scripts."""

import textwrap
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from catalog import ingestion
from catalog.choices import EntityStatus
from catalog.models import Entity, Location

pytestmark = pytest.mark.django_db

TEAM = """
    apiVersion: backstage.io/v1alpha1
    kind: Group
    metadata:
      name: data-science
      labels:
        cost-center: cc-data
    spec:
      type: team
      children: []
    ---
    apiVersion: backstage.io/v1alpha1
    kind: Component
    metadata:
      name: churn-model
    spec:
      type: model-endpoint
      lifecycle: production
      owner: data-science
      definition:
        $text: ./notes.txt
"""


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "backstage").mkdir()
    (tmp_path / "backstage" / "team.yaml").write_text(textwrap.dedent(TEAM))
    (tmp_path / "backstage" / "notes.txt").write_text("notes")
    (tmp_path / "secret.txt").write_text("secret")
    return tmp_path / "backstage"


def run(*args) -> str:
    out, err = StringIO(), StringIO()
    try:
        call_command("catalog", "import", *map(str, args), stdout=out, stderr=err)
    finally:
        run.stderr = err.getvalue()
    return out.getvalue()


def test_importing_a_folder_loads_its_entities_under_a_file_location(folder):
    output = run(folder)
    assert output.strip() == f"{folder}: 2 added, 0 updated, 0 unchanged, 0 orphaned, 0 errors"
    model = Entity.objects.get(ref="component:default/churn-model")
    assert model.cost_center == "cc-data"
    assert model.spec["definition"] == "notes"
    assert model.location == Location.objects.get(type="file", target=str(folder))


def test_reimporting_is_idempotent(folder):
    run(folder)
    uids = dict(Entity.objects.values_list("ref", "uid"))
    etags = dict(Entity.objects.values_list("ref", "etag"))
    assert "0 added, 0 updated, 2 unchanged" in run(folder)
    assert dict(Entity.objects.values_list("ref", "uid")) == uids
    assert dict(Entity.objects.values_list("ref", "etag")) == etags


def test_refreshing_the_repository_leaves_imported_entities_alone(folder, gitops_repo):
    run(folder)
    ingestion.refresh_all()
    assert Entity.objects.get(ref="component:default/churn-model").status == EntityStatus.ACTIVE


def test_invalid_documents_fail_the_command_naming_file_document_and_field(folder):
    (folder / "broken.yaml").write_text("apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata:\n  name: Bad Name\nspec:\n  type: team\n  children: []\n")
    with pytest.raises(CommandError, match=r"1 error\(s\)"):
        run(folder)
    assert f"{folder}/broken.yaml document 1 (group:default/bad name) metadata.name: 'Bad Name' is not a valid name." in run.stderr
    assert Entity.objects.filter(name="churn-model").exists()


def test_placeholders_cannot_leave_the_imported_folder(folder):
    (folder / "team.yaml").write_text(textwrap.dedent(TEAM).replace("./notes.txt", "../secret.txt"))
    with pytest.raises(CommandError):
        run(folder / "team.yaml")
    assert "points outside the imported folder" in run.stderr
    assert not Entity.objects.filter(name="churn-model").exists()


def test_a_missing_path_is_refused(tmp_path):
    with pytest.raises(CommandError, match="no such file or folder"):
        run(tmp_path / "nope.yaml")
