"""The scaffolder API under /api/scaffolder/v2/, with Backstage's paths (no trailing slashes)."""

from django.urls import path

from scaffolder.api import views

app_name = "scaffolder-api"

urlpatterns = [
    path("tasks", views.TaskListView.as_view(), name="task_list"),
    path("tasks/<str:task_id>", views.TaskDetailView.as_view(), name="task_detail"),
    path("tasks/<str:task_id>/events", views.TaskEventsView.as_view(), name="task_events"),
    path("tasks/<str:task_id>/eventstream", views.TaskEventStreamView.as_view(), name="task_eventstream"),
    path("tasks/<str:task_id>/cancel", views.TaskCancelView.as_view(), name="task_cancel"),
    path("tasks/<str:task_id>/retry", views.TaskRetryView.as_view(), name="task_retry"),
    path("dry-run", views.DryRunView.as_view(), name="dry_run"),
    path(
        "templates/<str:namespace>/<str:kind>/<str:name>/parameter-schema",
        views.ParameterSchemaView.as_view(),
        name="parameter_schema",
    ),
    path("actions", views.ActionListView.as_view(), name="action_list"),
]
