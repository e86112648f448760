from django.urls import path

from scaffolder import views

app_name = "scaffolder"

urlpatterns = [
    path("", views.TemplateListView.as_view(), name="template_list"),
    path("templates/<str:namespace>/<str:name>", views.TemplateFormView.as_view(), name="template_form"),
    path("templates/<str:namespace>/<str:name>/validate", views.validate_field, name="template_validate"),
    path("templates/<str:namespace>/<str:name>/dependents", views.field_dependents, name="template_dependents"),
    path("tasks/", views.TaskListView.as_view(), name="task_list"),
    path("tasks/<uuid:task_uuid>", views.TaskDetailView.as_view(), name="task_detail"),
    path("tasks/<uuid:task_uuid>/cancel", views.cancel_task, name="task_cancel"),
    path("tasks/<uuid:task_uuid>/retry", views.retry_task, name="task_retry"),
    path("actions", views.ActionListView.as_view(), name="action_list"),
]
