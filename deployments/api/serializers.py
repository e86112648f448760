"""The endpoints API's shapes: a model endpoint's live status, read from the database only."""

from __future__ import annotations

from rest_framework import serializers

from deployments.live import condition_words


class ConditionSerializer(serializers.Serializer):
    type = serializers.CharField()
    status = serializers.CharField(allow_blank=True)
    reason = serializers.CharField(allow_blank=True)
    message = serializers.CharField(allow_blank=True)
    words = serializers.CharField(help_text='The condition as a sentence, e.g. "Ready False: ModelLoadFailed (…)"')

    def to_representation(self, instance: dict) -> dict:
        return {
            "type": instance.get("type") or "",
            "status": instance.get("status") or "",
            "reason": instance.get("reason") or "",
            "message": instance.get("message") or "",
            "words": condition_words(instance),
        }


class WorkloadSerializer(serializers.Serializer):
    """What an Application and an InferenceService share: where it runs and its state in words."""

    cluster = serializers.CharField(source="cluster.name")
    namespace = serializers.CharField()
    name = serializers.CharField()
    summary = serializers.CharField(help_text="The state in words, with the fix where known")
    conditions = ConditionSerializer(many=True)
    last_seen_at = serializers.DateTimeField()


class ApplicationSerializer(WorkloadSerializer):
    sync_status = serializers.CharField()
    revision = serializers.CharField()
    health_status = serializers.CharField()
    operation_phase = serializers.CharField()


class InferenceServiceSerializer(WorkloadSerializer):
    ready = serializers.CharField(help_text="The Ready condition: True, False, Unknown or empty")
    url = serializers.CharField()
    latest_ready_revision = serializers.CharField()


class StageSerializer(serializers.Serializer):
    label = serializers.CharField()
    at = serializers.DateTimeField()
    detail = serializers.CharField()
    took_seconds = serializers.SerializerMethodField(help_text="Seconds since the stage before; null for the first")

    def get_took_seconds(self, stage) -> float | None:
        return stage.took.total_seconds() if stage.took is not None else None


class EndpointSerializer(serializers.Serializer):
    """One model endpoint in the list: who owns it and where it stands."""

    uid = serializers.UUIDField(source="entity.uid")
    ref = serializers.CharField(source="entity.ref")
    name = serializers.CharField(source="entity.name")
    owner = serializers.CharField(source="entity.owner_ref")
    cost_center = serializers.CharField(source="entity.cost_center")
    state = serializers.ChoiceField(choices=["ready", "not-ready", "unknown"])
    phase = serializers.ChoiceField(
        choices=["ready", "progressing", "not-ready", "unknown"],
        help_text="The state as the Deployments board shows it: not-ready split into progressing (nothing failed yet) and not-ready (failing)",
    )
    cluster = serializers.CharField(help_text="The cluster it runs on; empty before it is seen")
    url = serializers.CharField(help_text="The InferenceService's URL once it is ready; empty before")
    stale = serializers.BooleanField(help_text="The cluster's last poll failed (or none happened): the last known state")
    stale_reason = serializers.CharField()
    confirmed_at = serializers.DateTimeField(allow_null=True, help_text="When a successful poll last confirmed it")
    settled = serializers.BooleanField(help_text="Ready and synced with nothing in flight")


class EndpointDetailSerializer(EndpointSerializer):
    """One model endpoint with its workloads, its failures in words and its timeline."""

    missing = serializers.SerializerMethodField(
        help_text="Why the endpoint counts as missing (its workloads went from the cluster, or never appeared "
                  "long after its merge); empty when it does not"
    )

    def get_missing(self, live) -> str:
        return self.context.get("missing", "")

    application = ApplicationSerializer(allow_null=True)
    inference_service = InferenceServiceSerializer(allow_null=True)
    failures = serializers.ListField(child=serializers.CharField(), help_text="What is wrong, in words, with the fix where known")
    timeline = StageSerializer(many=True)


class UnregisteredSerializer(serializers.Serializer):
    """Something running on a cluster that no catalog entry claims."""

    cluster = serializers.CharField()
    name = serializers.CharField()
    application = serializers.CharField(source="app_name", help_text="The ArgoCD Application's name; empty when none")
    inference_service = serializers.CharField(source="isvc_key", help_text="namespace/name; empty when none")
    owner = serializers.CharField(help_text="The `owner` label")
    cost_center = serializers.CharField(help_text="The `cost-center` label")
    summary = serializers.CharField(help_text="Its state in words")
