from rest_framework import serializers


class WhoAmISerializer(serializers.Serializer):
    username = serializers.CharField()
    userEntityRef = serializers.CharField()
    teams = serializers.ListField(child=serializers.CharField())
    admin = serializers.BooleanField()
    tokenScope = serializers.CharField(allow_null=True)
