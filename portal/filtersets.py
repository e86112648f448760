import django_filters
from django import forms

from portal.models import AuditEvent


class AuditEventFilterSet(django_filters.FilterSet):
    actor = django_filters.CharFilter(field_name="actor_name", lookup_expr="iexact", label="Actor")
    action = django_filters.CharFilter(field_name="action", lookup_expr="istartswith", label="Action")
    target = django_filters.CharFilter(field_name="target", lookup_expr="icontains", label="Target")
    since = django_filters.DateFilter(
        field_name="created_at", lookup_expr="date__gte", label="Since", widget=forms.DateInput(attrs={"type": "date"})
    )
    until = django_filters.DateFilter(
        field_name="created_at", lookup_expr="date__lte", label="Until", widget=forms.DateInput(attrs={"type": "date"})
    )

    class Meta:
        model = AuditEvent
        fields = ["actor", "action", "target", "since", "until"]
