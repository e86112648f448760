"""The catalog list's filters, sorting and facet counts over Entity's indexed columns."""

from __future__ import annotations

from dataclasses import dataclass

import django_filters
from django.db.models import Count, F, Q, QuerySet
from django.db.models.functions import Lower
from django.http import QueryDict

from catalog import facets
from catalog.choices import EntityStatus
from catalog.models import Entity, EntitySearch
from catalog.refs import RefError, ref_string
from portal import identity

#: Special values of the owner filter: the signed-in user's teams, or every owner.
OWNER_MINE = "mine"
OWNER_ANY = "any"

#: Sortable columns: the `sort` value and the model field it orders by.
SORT_FIELDS = {
    "name": "name",
    "kind": "kind",
    "type": "type",
    "owner": "owner_ref",
    "lifecycle": "lifecycle",
    "cost_center": "cost_center",
}
SORT_CHOICES = [(key, key) for key in SORT_FIELDS] + [(f"-{key}", f"-{key}") for key in SORT_FIELDS]

#: The facet of each select filter: the column grouped by (kind ignores case, as refs do).
FACET_COLUMNS = {
    "kind": Lower("kind"),
    "type": F("type"),
    "owner": F("owner_ref"),
    "cost_center": F("cost_center"),
    "lifecycle": F("lifecycle"),
    "status": F("status"),
}
TAG_KEY = "metadata.tags"


@dataclass(frozen=True)
class FacetValue:
    value: str
    count: int


class EntityFilterSet(django_filters.FilterSet):
    """One filter per facet of the catalog list, plus free text, errors and sorting.

    Every select filter matches one indexed column of Entity; tags go through EntitySearch.
    A signed-in user in a team who opens the list with no query at all gets `owner=mine`.
    """

    q = django_filters.CharFilter(method="filter_text", label="Search")
    kind = django_filters.CharFilter(field_name="kind", lookup_expr="iexact", label="Kind")
    type = django_filters.CharFilter(field_name="type", label="Type")
    owner = django_filters.CharFilter(method="filter_owner", label="Owner")
    cost_center = django_filters.CharFilter(field_name="cost_center", label="Cost centre")
    lifecycle = django_filters.CharFilter(field_name="lifecycle", label="Lifecycle")
    tag = django_filters.CharFilter(method="filter_tag", label="Tag")
    status = django_filters.ChoiceFilter(choices=EntityStatus.choices, label="Status")
    errors = django_filters.BooleanFilter(method="filter_errors", label="Has processing errors")
    sort = django_filters.ChoiceFilter(choices=SORT_CHOICES, method="sort_by", label="Sort by")

    class Meta:
        model = Entity
        fields: list[str] = []

    def __init__(self, data: QueryDict | None = None, *args, request=None, **kwargs):
        self.team_refs = identity.team_refs(request.user) if request is not None else []
        if data is not None and not data and self.team_refs:
            data = QueryDict(f"owner={OWNER_MINE}")
        if "queryset" not in kwargs:
            kwargs["queryset"] = Entity.objects.order_by("name", "ref")
        super().__init__(data, *args, request=request, **kwargs)

    # --- filters -------------------------------------------------------------------------

    def filter_text(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        text = value.strip()
        if not text:
            return queryset
        return queryset.filter(
            Q(name__icontains=text) | Q(title__icontains=text) | Q(description__icontains=text)
        )

    def filter_owner(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        value = value.strip()
        if value == OWNER_ANY:
            return queryset
        if value == OWNER_MINE:
            return queryset.filter(owner_ref__in=self.team_refs)
        try:
            owner = ref_string(value, default_kind="Group")
        except RefError:
            return queryset.none()
        return queryset.filter(owner_ref=owner)

    def filter_tag(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        tagged = EntitySearch.objects.filter(key=TAG_KEY, value=value.strip().lower()).values("entity_id")
        return queryset.filter(pk__in=tagged)

    def filter_errors(self, queryset: QuerySet, name: str, value: bool) -> QuerySet:
        return queryset.exclude(errors=[]) if value else queryset.filter(errors=[])

    def sort_by(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        descending = value.startswith("-")
        field = SORT_FIELDS[value.lstrip("-")]
        return queryset.order_by(f"-{field}" if descending else field, "name", "ref")

    # --- what the page shows ---------------------------------------------------------------

    def value(self, name: str) -> str:
        """The cleaned value of a filter as text ('' when unset or invalid)."""
        if not self.is_bound:
            return ""
        self.form.is_valid()
        value = self.form.cleaned_data.get(name)
        if value is None:
            return ""
        return value if isinstance(value, str) else str(value).lower()

    def queryset_without(self, excluded: str) -> QuerySet:
        """The list's entities with every filter applied except `excluded` (and sorting)."""
        queryset = self.queryset.all()
        if not self.is_bound:
            return queryset
        self.form.is_valid()
        for name, value in self.form.cleaned_data.items():
            if name in (excluded, "sort"):
                continue
            queryset = self.filters[name].filter(queryset, value)
        return queryset

    def facets(self) -> dict[str, list[FacetValue]]:
        """Counts beside each filter value: over the other filters' results, as faceted search does.

        One grouped query per facet, whatever the number of entities.
        """
        result: dict[str, list[FacetValue]] = {}
        for name, column in FACET_COLUMNS.items():
            rows = (
                self.queryset_without(name)
                .order_by()
                .values(facet=column)
                .annotate(count=Count("pk"))
                .order_by("-count", "facet")
            )
            result[name] = [FacetValue(row["facet"], row["count"]) for row in rows if row["facet"]]
        tags = facets.facet_counts(self.queryset_without("tag").order_by(), [TAG_KEY])[TAG_KEY]
        result["tag"] = [FacetValue(row["value"], row["count"]) for row in tags]
        return result
