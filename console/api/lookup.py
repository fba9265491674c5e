"""GET /api/v1/lookup?id=: any pasted id -> what it names, with its console URL (console/lookup.py resolves)."""

from __future__ import annotations

from typing import ClassVar

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from console.lookup import resolve
from jobs.auth import Access, ReadScope

KINDS = ["trace", "span", "execution", "shard", "message", "correlation", "alert"]


class LookupMatchSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=KINDS)
    ids = serializers.DictField(
        child=serializers.CharField(allow_blank=True),
        help_text="The identifiers of the match, e.g. job and execution_id, or trace_id.",
    )
    url = serializers.CharField(help_text="Console URL of the page for the match.")
    namespace = serializers.CharField(allow_blank=True, help_text="Empty for a correlation (a workflow spans teams).")
    label = serializers.CharField(help_text="A human-readable description.")


class LookupResultSerializer(serializers.Serializer):
    results = LookupMatchSerializer(many=True)


class LookupQuerySerializer(serializers.Serializer):
    id = serializers.CharField(
        max_length=300,
        help_text=(
            "A trace id (or a prefix of 8+ hex digits), span id, W3C traceparent, execution id, shard id, "
            "message id, correlation id or alert fingerprint."
        ),
    )


class LookupView(APIView):
    permission_classes: ClassVar = [ReadScope]

    @extend_schema(
        operation_id="lookup",
        summary="Resolve any id to its matches",
        description="Matches only within the caller's namespaces; an id of another namespace resolves to nothing.",
        parameters=[
            OpenApiParameter(
                "id",
                str,
                required=True,
                description=(
                    "A trace id (or a prefix of 8+ hex digits: several traces that share it are all listed), a "
                    "span id, a W3C traceparent, an execution id, shard id, message id, correlation id or alert "
                    "fingerprint."
                ),
            )
        ],
        responses={
            200: LookupResultSerializer,
            400: OpenApiResponse(description="No id, or one longer than 300 characters."),
        },
        tags=["lookup"],
    )
    def get(self, request: Request) -> Response:
        query = LookupQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        matches = resolve(query.validated_data["id"], Access.of(request).readable)
        data = {
            "results": [
                {"kind": m.kind, "ids": m.ids, "url": m.url, "namespace": m.namespace, "label": m.label}
                for m in matches
            ]
        }
        return Response(LookupResultSerializer(data).data)
