"""Filters of the Create page (templates) and of the task list."""

from __future__ import annotations

import django_filters
from django.db.models import Q, QuerySet

from catalog.models import Entity, EntitySearch
from portal import identity
from scaffolder.choices import TaskStatus
from scaffolder.models import Task

TAG_KEY = "metadata.tags"
SCOPE_MINE = "mine"
SCOPE_ALL = "all"


class TemplateFilterSet(django_filters.FilterSet):
    """Templates in the catalog, by free text (name, title, description) and tag."""

    q = django_filters.CharFilter(method="filter_text", label="Search")
    tag = django_filters.CharFilter(method="filter_tag", label="Tag")

    class Meta:
        model = Entity
        fields: list[str] = []

    def __init__(self, data=None, *args, **kwargs):
        kwargs.setdefault("queryset", Entity.objects.filter(kind__iexact="template").order_by("title", "name"))
        super().__init__(data, *args, **kwargs)

    def filter_text(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        text = value.strip()
        if not text:
            return queryset
        return queryset.filter(Q(name__icontains=text) | Q(title__icontains=text) | Q(description__icontains=text))

    def filter_tag(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        if not value.strip():
            return queryset
        tagged = EntitySearch.objects.filter(key=TAG_KEY, value=value.strip().lower()).values("entity_id")
        return queryset.filter(pk__in=tagged)


class TaskFilterSet(django_filters.FilterSet):
    """The task list: a user's own tasks; admins may widen it to every task and filter it."""

    status = django_filters.ChoiceFilter(choices=TaskStatus.choices, label="Status", empty_label="Any status")
    template = django_filters.CharFilter(field_name="template_ref", lookup_expr="iexact", label="Template")
    creator = django_filters.CharFilter(field_name="created_by__username", lookup_expr="iexact", label="Created by")

    class Meta:
        model = Task
        fields: list[str] = []

    def __init__(self, data=None, *args, request=None, **kwargs):
        self.is_admin = bool(request and identity.is_admin(request.user))
        kwargs.setdefault("queryset", Task.objects.select_related("created_by").order_by("-created_at", "-id"))
        super().__init__(data, *args, request=request, **kwargs)
        if not self.is_admin:
            for name in ("creator",):
                self.filters.pop(name)

    @property
    def qs(self) -> QuerySet:
        queryset = super().qs
        if self.scope != SCOPE_ALL:
            queryset = queryset.filter(created_by=self.request.user)
        return queryset

    @property
    def scope(self) -> str:
        """`mine` (the default) or, for admins who ask for it, `all`."""
        if self.is_admin and (self.data or {}).get("scope") == SCOPE_ALL:
            return SCOPE_ALL
        return SCOPE_MINE
