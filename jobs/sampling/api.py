"""GET/PUT /api/v1/jobs/<ns>/<job>/sampling: the job's sampling policy.

GET: a token of the namespace (either scope: instrumented jobs hold ingest tokens) or a member. An unknown job
in a namespace the caller may read answers the default policy (rate 1.0, "default": true), so a job's first run
can ask before its first record exists. PUT {"rate": 0..1}: an ingest token of the namespace, or an editor/admin
member; the job must exist. A namespace the caller cannot see answers 404, never a hint.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample, extend_schema, inline_serializer
from rest_framework import permissions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from jobs.auth import Access
from jobs.models import ApiToken, Job, Namespace
from jobs.sampling.ingest import InvalidRate, parse_rate
from jobs.sampling.queries import Policy
from jobs.sampling.store import set_sample_rate

_POLICY = inline_serializer(
    "SamplingPolicy",
    fields={
        "namespace": serializers.CharField(),
        "job": serializers.CharField(),
        "rate": serializers.FloatField(min_value=0, max_value=1),
        "manual_runs": serializers.CharField(),
        "updated_at": serializers.DateTimeField(allow_null=True),
        "default": serializers.BooleanField(),
    },
)
_PUT = inline_serializer("SamplingPolicyUpdate", fields={"rate": serializers.FloatField(min_value=0, max_value=1)})


class AnyTokenOrMember(permissions.BasePermission):
    """A live token (read or ingest) or a signed-in user; what they see is scoped below."""

    def has_permission(self, request: Request, view: Any) -> bool:
        if isinstance(request.auth, ApiToken):
            return request.auth.revoked_at is None
        return bool(request.user and request.user.is_authenticated)


def _visible(access: Access) -> frozenset[int]:
    """Namespaces whose policy the caller may read: readable ones, plus a token's own namespace (any scope)."""
    if access.token is not None:
        return frozenset({access.token.namespace_id})
    return access.readable


def _not_found() -> Response:
    return Response({"detail": "No such job."}, status=status.HTTP_404_NOT_FOUND)


class SamplingPolicyView(APIView):
    permission_classes = [AnyTokenOrMember]

    @extend_schema(responses={200: _POLICY}, summary="The job's sampling policy")
    def get(self, request: Request, namespace: str, job: str) -> Response:
        access = Access.of(request)
        found = Job.objects.in_namespaces(_visible(access)).named(namespace, job).select_related("namespace").first()
        if found is not None:
            return Response(Policy.of(found, found.namespace.name).as_dict())
        ns = Namespace.objects.filter(id__in=_visible(access), name=namespace).first()
        if ns is None:
            return _not_found()
        return Response(Policy.default_for(ns, job).as_dict())

    @extend_schema(
        request=_PUT,
        responses={200: _POLICY},
        summary="Change the job's sampling rate (manual runs stay always sampled)",
        examples=[OpenApiExample("Keep three runs in ten", value={"rate": 0.3}, request_only=True)],
    )
    def put(self, request: Request, namespace: str, job: str) -> Response:
        access = Access.of(request)
        found = Job.objects.in_namespaces(_visible(access)).named(namespace, job).select_related("namespace").first()
        if found is None:
            return _not_found()
        if found.namespace_id not in access.writable:
            who = "This token lacks the 'ingest' scope." if access.token else "Changing it needs an editor role."
            return Response({"detail": who}, status=status.HTTP_403_FORBIDDEN)
        body = request.data
        if not isinstance(body, dict) or "rate" not in body:
            return Response({"rate": ["This field is required (a number between 0 and 1)."]}, status=400)
        unknown = sorted(set(body) - {"rate"})
        if unknown:
            return Response({name: ["Unknown field."] for name in unknown}, status=400)
        try:
            rate = parse_rate(body["rate"])
        except InvalidRate as exc:
            return Response({"rate": [str(exc)]}, status=400)
        set_sample_rate(found, rate)
        return Response(Policy.of(found, found.namespace.name).as_dict())
