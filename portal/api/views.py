from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from portal import identity
from portal.api.serializers import WhoAmISerializer
from portal.models import APIToken


class WhoAmIView(APIView):
    """The caller's identity as the portal sees it: user ref, teams, admin, token scope."""

    @extend_schema(responses=WhoAmISerializer)
    def get(self, request):
        token = request.auth if isinstance(request.auth, APIToken) else None
        data = {
            "username": request.user.get_username(),
            "userEntityRef": identity.user_ref(request.user),
            "teams": identity.team_refs(request.user),
            "admin": identity.is_admin(request.user),
            "tokenScope": token.scope if token else None,
        }
        return Response(WhoAmISerializer(data).data)
