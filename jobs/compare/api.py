"""GET /api/v1/jobs/<ns>/<job>/executions/<a>/compare/<b>: two runs of a job compared (docs/api.md).

The same comparison as the page (jobs/compare/queries.py over traces/compare.py): every operation, by impact, with
both runs' spans; operations only in one run; error changes; shard counts and the shard ids failing in one run
only. A read token of the namespace or a member; a run the caller cannot see is a 404, like one that does not exist.
"""

from __future__ import annotations

from typing import Any

from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from jobs.auth import Access
from jobs.compare import queries
from jobs.models import Execution

DEFAULT_LIMIT = 200
MAX_LIMIT = 10_000


class RunCompare(APIView):
    @extend_schema(
        summary="Compare two runs of a job",
        description=(
            "The runs' traces matched operation by operation (service, span name with ids grouped, path from the "
            "root); per operation the span counts, durations, self times and errors of run `a` (the baseline) and "
            "run `b`, and the deltas (b - a), sorted by the change of self time. `only_in_a`, `only_in_b`, "
            "`error_changes`; shard counts per run and the shard ids failing in one run only. See docs/api.md."
        ),
        parameters=[
            OpenApiParameter(
                "limit",
                int,
                description=f"Operations listed per list (by impact), 1..{MAX_LIMIT}; default {DEFAULT_LIMIT}. "
                "`operation_count` says how many there are.",
            )
        ],
        responses={
            400: OpenApiResponse(description="`limit` is not a whole number in range."),
            200: OpenApiResponse(OpenApiTypes.OBJECT, description="The comparison."),
            404: OpenApiResponse(description="No such job or run in a namespace the caller may read."),
        },
    )
    def get(self, request: Request, namespace: str, job: str, a: str, b: str) -> Response:
        raw = request.query_params.get("limit", "")
        try:
            limit = int(raw) if raw else DEFAULT_LIMIT
        except ValueError:
            limit = 0
        if not 1 <= limit <= MAX_LIMIT:
            return Response(
                {"limit": [f"must be a whole number from 1 to {MAX_LIMIT}"]}, status=status.HTTP_400_BAD_REQUEST
            )
        runs = {
            e.execution_id: e
            for e in Execution.objects.in_namespaces(Access.of(request).readable)
            .filter(job__namespace__name=namespace, job__name=job, execution_id__in=[a, b])
            .select_related("job__namespace")
        }
        if a not in runs or b not in runs:
            raise Http404("No such run.")
        doc: dict[str, Any] = queries.compare_runs(runs[a], runs[b]).as_dict(limit)
        return Response(doc)
