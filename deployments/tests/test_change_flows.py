"""Change flows on a model endpoint: change resources, decommission, roll back.

Each flow runs as a scaffolder task against a real git repository (examples/gitops) and must
leave the right files on its pull request's branch.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import yaml
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from catalog.models import Entity
from deployments import change_views, changes
from deployments.choices import PullRequestState
from deployments.models import PullRequest
from deployments.pullrequests import merge
from scaffolder import runner
from scaffolder.choices import TaskStatus
from scaffolder.models import Task
from scaffolder.services import ParameterError
from scaffolder.tests.task_helpers import changed_paths, git, messages, show

pytestmark = pytest.mark.django_db

FRAUD = "component:default/fraud-scorer"
MANIFEST = "apps/fraud-scorer/inference-service.yaml"
BIGGER = {"minReplicas": 2, "maxReplicas": 4, "cpuRequest": "500m", "cpuLimit": "1",
          "memoryRequest": "1Gi", "memoryLimit": "2Gi", "gpu": 1}


@pytest.fixture
def repo(gitops_repo, dana, priya, outsider):
    """The demo repository in the snapshot and the catalog; the personas exist before ingestion
    rebuilds their memberships."""
    from catalog import ingestion
    from portal import snapshot

    snapshot.refresh()
    ingestion.refresh_all()
    return gitops_repo


def push_to_main(repo_path, files: dict[str, str], message: str) -> None:
    """Commit straight to the default branch (a change made outside the portal), then refresh the snapshot."""
    import tempfile
    from pathlib import Path

    import git as gitpython

    from portal import snapshot

    with tempfile.TemporaryDirectory() as tmp:
        clone = gitpython.Repo.clone_from(str(repo_path), tmp, branch="main")
        for path, text in files.items():
            (Path(tmp) / path).write_text(text)
        clone.git.add(A=True)
        clone.git.commit("-m", message, env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"})
        clone.remote().push("main:main")
    snapshot.refresh()


def endpoint(ref: str = FRAUD) -> Entity:
    return Entity.objects.get(ref=ref)


def run(task: Task) -> PullRequest:
    assert runner.run(task.pk) == TaskStatus.COMPLETED, messages(task)
    return PullRequest.objects.get(task=task.uuid)


def change_url(flow: str, name: str = "fraud-scorer") -> str:
    return reverse("deployments:endpoint_change", kwargs={"namespace": "default", "kind": "component", "name": name, "flow": flow})


# --- the three flows, end to end --------------------------------------------------------------------


def test_change_resources_opens_a_pull_request_with_the_new_values(repo, dana):
    pr = run(changes.start_change(endpoint(), "resources", BIGGER, dana))

    assert changed_paths(repo, pr.branch) == [MANIFEST]
    manifest = yaml.safe_load(show(repo, pr.branch, MANIFEST))
    predictor = manifest["spec"]["predictor"]
    assert (predictor["minReplicas"], predictor["maxReplicas"]) == (2, 4)
    assert predictor["model"]["resources"] == {
        "requests": {"cpu": "500m", "memory": "1Gi", "nvidia.com/gpu": "1"},
        "limits": {"cpu": "1", "memory": "2Gi", "nvidia.com/gpu": "1"},
    }
    # Everything else in the manifest is kept.
    assert manifest["metadata"]["labels"] == {"owner": "fraud-detection", "cost-center": "cc-fraud"}
    assert predictor["model"]["storageUri"] == "gs://kfserving-examples/models/sklearn/1.0/model"
    assert pr.entity_ref == FRAUD
    assert pr.title == "Change resources of fraud-scorer"
    assert "Guardrails" in pr.body


def test_change_resources_to_no_gpu_removes_the_gpu_keys(repo, dana, priya):
    merge(run(changes.start_change(endpoint(), "resources", BIGGER, dana)), priya)
    pr = run(changes.start_change(endpoint(), "resources", {**BIGGER, "gpu": 0}, dana))

    resources = yaml.safe_load(show(repo, pr.branch, MANIFEST))["spec"]["predictor"]["model"]["resources"]
    assert resources == {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "2Gi"}}


def test_the_form_starts_from_the_manifest_in_the_repository(repo, dana, priya):
    merge(run(changes.start_change(endpoint(), "resources", BIGGER, dana)), priya)

    assert changes.initial_values(endpoint(), "resources") == {
        "minReplicas": 2, "maxReplicas": 4, "cpuRequest": "500m", "cpuLimit": "1",
        "memoryRequest": "1Gi", "memoryLimit": "2Gi", "gpu": 1,
    }


def test_decommission_deletes_the_app_folder(repo, dana):
    pr = run(changes.start_change(endpoint(), "decommission", {"confirm": "fraud-scorer"}, dana))

    assert changed_paths(repo, pr.branch) == ["apps/fraud-scorer/catalog-info.yaml", MANIFEST]
    assert git(repo, "ls-tree", "-r", "--name-only", pr.branch, "apps/fraud-scorer/") == ""
    assert "apps/search-ranker/inference-service.yaml" in git(repo, "ls-tree", "-r", "--name-only", pr.branch)
    assert pr.title == "Decommission model endpoint fraud-scorer"
    assert pr.entity_ref == FRAUD


@pytest.mark.parametrize("typed", ["", "fraud", "Fraud-Scorer", "search-ranker"])
def test_decommission_needs_the_endpoint_name_typed_exactly(repo, dana, typed):
    with pytest.raises(ParameterError) as refused:
        changes.start_change(endpoint(), "decommission", {"confirm": typed}, dana)

    assert "type the endpoint's name, fraud-scorer, exactly" in str(refused.value)
    assert not Task.objects.exists()


def test_decommission_page_refuses_a_wrong_name_beside_the_field(repo, dana, client):
    client.force_login(dana)
    response = client.post(change_url("decommission"), {"confirm": "fraud", "action": "create"})

    assert response.status_code == 400
    assert "type the endpoint&#x27;s name, fraud-scorer, exactly to confirm" in response.content.decode()
    assert 'value="fraud"' in response.content.decode()  # what was typed is kept
    assert not Task.objects.exists()


def test_roll_back_restores_the_app_as_it_was_before_its_last_merged_change(repo, dana, priya):
    original = show(repo, "main", MANIFEST)
    merge(run(changes.start_change(endpoint(), "resources", BIGGER, dana)), priya)
    assert show(repo, "main", MANIFEST) != original

    pr = run(changes.start_change(endpoint(), "rollback", {}, dana))

    assert show(repo, pr.branch, MANIFEST) == original
    assert changed_paths(repo, pr.branch) == [MANIFEST]
    assert pr.title == "Roll back model endpoint fraud-scorer"


def test_roll_back_deletes_files_the_last_change_added(repo, dana, priya):
    merge(run(changes.start_change(endpoint(), "resources", BIGGER, dana)), priya)
    push_to_main(repo, {"apps/fraud-scorer/extra.yaml": "kind: ConfigMap\n"}, "Add a ConfigMap to fraud-scorer")

    pr = run(changes.start_change(endpoint(), "rollback", {}, dana))

    assert changed_paths(repo, pr.branch) == ["apps/fraud-scorer/extra.yaml"]
    assert "apps/fraud-scorer/extra.yaml" not in git(repo, "ls-tree", "-r", "--name-only", pr.branch)


def test_roll_back_with_no_change_since_the_repository_began_fails_in_words(repo, dana):
    task = changes.start_change(endpoint(), "rollback", {}, dana)

    assert runner.run(task.pk) == TaskStatus.FAILED
    assert any("apps/fraud-scorer/ has had no change since the repository began" in line for line in messages(task))
    assert not PullRequest.objects.exists()


def test_roll_back_on_github_opens_one_pull_request_restoring_the_previous_manifest(repo, dana, settings):
    from deployments.tests.github_fake import serve
    from portal.repository import get_provider

    local = get_provider()
    seed = {path: blob for path, blob in zip(*_files_of(local), strict=True)}
    original = seed[MANIFEST]
    with serve(settings) as github:
        github.seed(seed)
        bigger = original.replace(b"name: sklearn", b"name: xgboost")
        assert bigger != original
        github.push({MANIFEST: bigger}, "Scale fraud-scorer to 3 replicas")
        github.push({"apps/search-ranker/inference-service.yaml": b"kind: InferenceService\n"}, "Another app")

        pr = run(changes.start_change(endpoint(), "rollback", {}, dana))

        assert pr.provider == "github" and len(github.pulls) == 1
        pull = github.pulls[pr.number]
        assert pull.title == "Roll back model endpoint fraud-scorer"
        assert github.files_at(pull.head)[MANIFEST] == original
        assert len(github.commits_between("main", pull.head)) == 1
        assert {p for p, c in github.files_at(pull.head).items() if github.files_at("main").get(p) != c} == {MANIFEST}


def test_roll_back_on_github_deletes_files_the_last_change_added_and_refuses_without_history(repo, dana, settings):
    from deployments.tests.github_fake import serve
    from portal.repository import get_provider

    seed = {path: blob for path, blob in zip(*_files_of(get_provider()), strict=True)}
    with serve(settings) as github:
        github.seed(seed)
        with pytest.raises(changes.ChangeRefused, match="has had no change since the repository began"):
            changes.rollback_plan(get_provider(), "fraud-scorer")

        github.push({"apps/fraud-scorer/extra.yaml": b"kind: ConfigMap\n"}, "Add a ConfigMap to fraud-scorer")
        plan = changes.rollback_plan(get_provider(), "fraud-scorer")

        assert plan.files_to_delete == ["apps/fraud-scorer/extra.yaml"]
        assert plan.files[MANIFEST] == seed[MANIFEST] and plan.summary == "Add a ConfigMap to fraud-scorer"
        assert plan.commit == github.head("main")


def _files_of(provider) -> tuple[list[str], list[bytes]]:
    """Every file on the local repository's main branch: (paths, contents)."""
    tree = provider.read_tree(provider.head("main"))
    blobs = provider.read_blobs(set(tree.values()))
    return list(tree), [blobs[sha] for sha in tree.values()]


def test_preview_shows_the_edited_manifest_and_writes_nothing(repo, dana, client):
    client.force_login(dana)
    response = client.post(change_url("resources"), {**{k: str(v) for k, v in BIGGER.items()}, "action": "preview"})

    assert response.status_code == 200
    page = response.content.decode()
    assert "nothing has been written yet" in page
    assert MANIFEST in page and "minReplicas" in page
    assert not Task.objects.exists() and not PullRequest.objects.exists()


def test_the_page_starts_the_task_and_lands_on_it(repo, dana, client):
    client.force_login(dana)
    response = client.post(change_url("resources"), {**{k: str(v) for k, v in BIGGER.items()}, "action": "create"})

    task = Task.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/create/tasks/{task.uuid}"
    assert task.values["entityRef"] == FRAUD and task.values["minReplicas"] == 2


# --- who may ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("persona, allowed", [("dana", True), ("priya", True), ("outsider", False)])
def test_only_the_owning_group_and_admins_see_and_start_changes(repo, request, client, persona, allowed):
    user = request.getfixturevalue(persona)
    client.force_login(user)
    page_request = SimpleNamespace(user=user)

    assert bool(changes.offered_flows(endpoint(), user)) is allowed
    assert (change_views.entity_actions_panel(endpoint(), page_request) is not None) is allowed
    for flow in changes.FLOWS:
        assert client.get(change_url(flow)).status_code == (200 if allowed else 403)
    assert client.post(change_url("decommission"), {"confirm": "fraud-scorer", "action": "create"}).status_code == (
        302 if allowed else 403
    )
    if not allowed:
        with pytest.raises(PermissionDenied):
            changes.start_change(endpoint(), "rollback", {}, user)
        assert not Task.objects.exists()


def test_the_entity_page_shows_the_changes_to_the_owners_only(repo, dana, outsider, client):
    client.force_login(dana)
    page = client.get("/catalog/default/component/fraud-scorer").content.decode()
    assert "Change this endpoint" in page
    for flow in changes.FLOWS:
        assert f'href="{change_url(flow)}"' in page
    client.force_login(outsider)
    assert "Change this endpoint" not in client.get("/catalog/default/component/fraud-scorer").content.decode()


def test_the_entity_page_links_the_open_change_instead_of_the_buttons(repo, dana, client):
    pr = run(changes.start_change(endpoint(), "resources", BIGGER, dana))
    client.force_login(dana)
    page = client.get("/catalog/default/component/fraud-scorer").content.decode()
    assert f'href="{reverse("deployments:pullrequest_detail", kwargs={"pr_uuid": pr.uuid})}"' in page
    assert 'id="change-decommission"' not in page


def test_entities_that_are_not_endpoints_offer_no_change(repo, dana, client):
    group = Entity.objects.get(ref="group:default/fraud-detection")
    client.force_login(dana)

    assert changes.offered_flows(group, dana) == []
    url = reverse("deployments:endpoint_change",
                  kwargs={"namespace": "default", "kind": "group", "name": "fraud-detection", "flow": "decommission"})
    assert client.get(url).status_code == 404


# --- one change at a time -----------------------------------------------------------------------------------


def test_a_second_change_is_refused_with_a_link_to_the_open_pull_request(repo, dana, priya, client):
    pr = run(changes.start_change(endpoint(), "resources", BIGGER, dana))
    pr_url = reverse("deployments:pullrequest_detail", kwargs={"pr_uuid": pr.uuid})

    with pytest.raises(changes.ChangeRefused) as refused:
        changes.start_change(endpoint(), "decommission", {"confirm": "fraud-scorer"}, priya)
    assert refused.value.url == pr_url
    assert f"pull request #{pr.number}" in str(refused.value)

    client.force_login(dana)
    response = client.get(change_url("rollback"))
    assert response.status_code == 409
    assert f'href="{pr_url}"' in response.content.decode()
    assert 'id="change-form"' not in response.content.decode()
    response = client.post(change_url("decommission"), {"confirm": "fraud-scorer", "action": "create"})
    assert response.status_code == 409 and f'href="{pr_url}"' in response.content.decode()
    assert Task.objects.count() == 1


def test_a_change_is_refused_while_the_first_has_not_opened_its_pull_request(repo, dana):
    first = changes.start_change(endpoint(), "resources", BIGGER, dana)

    with pytest.raises(changes.ChangeRefused) as refused:
        changes.start_change(endpoint(), "rollback", {}, dana)
    assert refused.value.url == f"/create/tasks/{first.uuid}"


def test_an_open_pull_request_touching_the_app_blocks_even_without_a_link(repo, dana):
    pr = run(changes.start_change(endpoint(), "resources", BIGGER, dana))
    PullRequest.objects.filter(pk=pr.pk).update(entity_ref="")

    assert changes.open_change(endpoint()) is not None
    assert changes.open_change(endpoint("component:default/search-ranker")) is None


def test_after_the_merge_a_new_change_may_start(repo, dana, priya):
    merge(run(changes.start_change(endpoint(), "resources", BIGGER, dana)), priya)

    assert PullRequest.objects.get().state == PullRequestState.MERGED
    assert changes.open_change(endpoint()) is None
    run(changes.start_change(endpoint(), "decommission", {"confirm": "fraud-scorer"}, dana))


def test_of_two_changes_started_at_once_the_first_goes_ahead(repo, dana, priya):
    from scaffolder import services

    first = changes.start_change(endpoint(), "resources", BIGGER, dana)
    # A second start that raced past the page's check, as two clicks at the same instant would.
    second = services.create_task(changes.flow_template(endpoint(), "decommission", "race"),
                                  {"confirm": "fraud-scorer", "entityRef": FRAUD}, user=priya)

    assert runner.run(second.pk) == TaskStatus.FAILED
    assert any("already has an open change: the task" in line and str(first.uuid) in line for line in messages(second))
    run(first)
    assert PullRequest.objects.count() == 1


@pytest.mark.worker
def test_a_real_worker_runs_a_decommission_to_its_pull_request(transactional_db, celery_worker_process, worker_repo, dana):
    from catalog import ingestion
    from portal import snapshot
    from portal.testing import wait_for
    from scaffolder.choices import TASK_TERMINAL

    snapshot.refresh()
    ingestion.refresh_all()
    task = changes.start_change(endpoint(), "decommission", {"confirm": "fraud-scorer"}, dana)

    def finished():
        row = Task.objects.get(pk=task.pk)
        return row if row.status in TASK_TERMINAL else None

    row = wait_for(finished, timeout=90, message=f"the worker to finish the task; worker log:\n{celery_worker_process.log()}")
    assert row.status == TaskStatus.COMPLETED, f"{row.error}\n{celery_worker_process.log()}"
    pr = PullRequest.objects.get(task=task.uuid)
    assert changed_paths(worker_repo, pr.branch) == ["apps/fraud-scorer/catalog-info.yaml", MANIFEST]
    assert git(worker_repo, "ls-tree", "-r", "--name-only", pr.branch, "apps/fraud-scorer/") == ""
    assert pr.entity_ref == FRAUD and row.output["links"][0]["url"] == pr.url


def test_a_field_says_what_is_wrong_as_the_user_types(repo, dana, outsider, client):
    client.force_login(dana)
    url = change_url("resources") + "/validate?field=cpuRequest"

    wrong = client.post(url, {**{k: str(v) for k, v in BIGGER.items()}, "cpuRequest": "lots"}).content.decode()
    right = client.post(url, {k: str(v) for k, v in BIGGER.items()}).content.decode()

    assert 'data-invalid="true"' in wrong and "Error:" in wrong
    assert 'data-invalid="false"' in right
    client.force_login(outsider)
    assert client.post(url, {"cpuRequest": "1"}).status_code == 403
