"""The model endpoints' filters, shared by the Deployments board and GET /api/deployments/endpoints/.

Owner, cost centre and cluster filter the catalog query; state and stale are live-status facts
computed from the poller's rows (deployments.live), so they filter the rows after the one
status query (`filter_rows`).
"""

from __future__ import annotations

from functools import cached_property

import django_filters
from django.db.models import QuerySet
from django.http import QueryDict

from catalog.filtersets import OWNER_ANY, OWNER_MINE
from catalog.models import Entity
from catalog.refs import RefError, ref_string
from deployments import reconcile
from deployments.live import NOT_READY, PROGRESSING, READY, UNKNOWN, LiveStatus
from deployments.models import WorkloadStatus
from portal import identity

STATE_CHOICES = [
    (READY, "Ready"),
    (PROGRESSING, "Progressing"),
    (NOT_READY, "Not ready (failing or progressing)"),
    (UNKNOWN, "Unknown (never seen)"),
]
#: The API has always taken yes/no spellings; the board sends true or false.
YES, NO = ("true", "1", "yes"), ("false", "0", "no")
STALE_CHOICES = [(value, "Stale" if value in YES else "Fresh") for value in (*YES, *NO)]


def endpoints() -> QuerySet:
    """Catalog model endpoints: Components of type model-endpoint, by ref."""
    return Entity.objects.filter(kind__iexact="component", type="model-endpoint").order_by("ref")


class EndpointFilterSet(django_filters.FilterSet):
    """Owner (a group, `mine` or `any`), cost centre, cluster, state and stale.

    With `default_mine`, a user in a team who opens the list with no query at all gets
    `owner=mine`, as the catalog list does; `owner=any` shows everyone's.
    """

    owner = django_filters.CharFilter(method="filter_owner", label="Owner")
    cost_center = django_filters.CharFilter(field_name="cost_center", lookup_expr="iexact", label="Cost centre")
    cluster = django_filters.CharFilter(method="filter_cluster", label="Cluster")
    state = django_filters.ChoiceFilter(choices=STATE_CHOICES, method="filter_later", label="State")
    stale = django_filters.ChoiceFilter(choices=STALE_CHOICES, method="filter_later", label="Stale")
    missing = django_filters.ChoiceFilter(choices=STALE_CHOICES, method="filter_missing", label="Missing")

    class Meta:
        model = Entity
        fields: list[str] = []

    def __init__(self, data: QueryDict | None = None, *args, request=None, default_mine: bool = False, **kwargs):
        self._user = request.user if request is not None else None
        if default_mine and data is not None and not data and self.team_refs:
            data = QueryDict(f"owner={OWNER_MINE}")
        kwargs.setdefault("queryset", endpoints())
        super().__init__(data, *args, request=request, **kwargs)

    @cached_property
    def team_refs(self) -> list[str]:
        """The signed-in user's teams, read only when a filter needs them."""
        return identity.team_refs(self._user) if self._user is not None else []

    def filter_owner(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        refs = self.owner_refs(value)
        return queryset if refs is None else queryset.filter(owner_ref__in=refs)

    def owner_refs(self, value: str) -> list[str] | None:
        """The owner refs a filter value stands for; None for any owner."""
        value = (value or "").strip()
        if value in ("", OWNER_ANY):
            return None
        if value == OWNER_MINE:
            return list(self.team_refs)
        try:
            return [ref_string(value.lower(), default_kind="Group")]
        except RefError:
            return []

    def filter_cluster(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        seen = WorkloadStatus.objects.filter(cluster__name=value.strip(), gone_at__isnull=True, entity__isnull=False)
        return queryset.filter(pk__in=seen.values("entity_id"))

    def filter_missing(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        """Endpoints that should run but do not (deployments.reconcile.missing), or the others."""
        flagged = [item.entity.pk for item in reconcile.missing(queryset)]
        return queryset.filter(pk__in=flagged) if value in YES else queryset.exclude(pk__in=flagged)

    def filter_later(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset  # a live-status fact: see filter_rows

    # --- after the status query --------------------------------------------------------------

    def value(self, name: str) -> str:
        """The cleaned value of a filter as text ('' when unset or invalid)."""
        if not self.is_bound or not self.form.is_valid():
            return ""
        return self.form.cleaned_data.get(name) or ""

    def queryset_without(self, *excluded: str) -> QuerySet:
        """The endpoints with every valid filter applied except `excluded`."""
        queryset = self.queryset.all()
        if not self.is_bound or not self.form.is_valid():
            return queryset
        for name, value in self.form.cleaned_data.items():
            if name not in excluded:
                queryset = self.filters[name].filter(queryset, value)
        return queryset

    def has_live_filters(self) -> bool:
        return bool(self.value("state") or self.value("stale"))

    def filter_rows(self, rows: list[LiveStatus]) -> list[LiveStatus]:
        """Rows whose live state and staleness match the state and stale filters."""
        state, stale = self.value("state"), self.value("stale")
        if state == PROGRESSING:
            rows = [row for row in rows if row.phase == PROGRESSING]
        elif state:
            rows = [row for row in rows if row.state == state]
        if stale:
            rows = [row for row in rows if row.stale == (stale in YES)]
        return rows

    def errors_in_words(self) -> list[str]:
        """Each invalid filter as a sentence naming the field and what it takes."""
        words = []
        for name in self.form.errors:
            given = self.data.get(name, "")
            field = self.filters[name]
            if name in ("stale", "missing"):
                words.append(f"{name} must be true or false, not {given!r}.")
            elif name == "state":
                words.append(f"state must be one of {', '.join(v for v, _ in STATE_CHOICES)}, not {given!r}.")
            else:
                words.append(f"{field.label}: {' '.join(self.form.errors[name])}")
        return words
