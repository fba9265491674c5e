"""The OpenAPI schema's own pieces: how Jobtrace's bearer tokens authenticate, the errors every endpoint can answer,
the schema's view (/api/v1/schema, readable in a browser) and the interactive docs page (/api/v1/docs)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.request import Request
from rest_framework.response import Response


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "jobs.auth.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A namespace token from `manage.py create_token <namespace> --scopes ingest,read`.",
        }


_PROBLEM = {
    "type": "object",
    "description": "What went wrong: `detail`, or per field a list of messages (DRF validation errors).",
    "properties": {"detail": {"type": "string"}},
    "additionalProperties": True,
}
_JSON_PROBLEM = {"application/json": {"schema": {"$ref": "#/components/schemas/ApiError"}}}


def add_error_responses(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """Document the errors every endpoint can answer, so clients (and schemathesis) know them:
    401/403 (token or scope), 503 + Retry-After (database unavailable), 400 where a request carries parameters or
    a body (a forged list cursor included), 413 where it carries a body, 404 where the path names an object (an
    unmatched path gets Django's plain 404 page)."""
    result.setdefault("components", {}).setdefault("schemas", {}).setdefault("ApiError", _PROBLEM)
    retry_after = {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait before retrying."}}
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            responses = operation.setdefault("responses", {})
            defaults = {
                "401": "No credentials, or an unknown or revoked token.",
                "403": "The token lacks the scope, or the namespace is not the caller's.",
                "503": "The database is unavailable; nothing was stored. Retry after Retry-After seconds.",
            }
            if operation.get("parameters") or operation.get("requestBody"):
                defaults["400"] = "A parameter or the body is invalid; the message names it."
            if operation.get("requestBody"):
                defaults["413"] = "The body is over DATA_UPLOAD_MAX_MEMORY_SIZE; nothing was stored. Split it."
            if "{" in path:
                defaults["404"] = "No such object, or not in the caller's namespaces."
            for code, description in defaults.items():
                if code in responses:
                    continue
                responses[code] = {"description": description, "content": dict(_JSON_PROBLEM)}
                if code == "503":
                    responses[code]["headers"] = retry_after
            if "{" in path and "content" in responses.get("404", {}):
                responses["404"]["content"].setdefault("text/html", {"schema": {"type": "string"}})
    return result


class SchemaView(SpectacularAPIView):
    """The schema as YAML (`?format=json` for JSON). YAML goes out as `application/vnd.oai.openapi`, which a browser
    downloads instead of showing; a request that accepts HTML (a person opening the URL) gets the same YAML as
    `text/yaml`, which browsers display. API clients see no change."""

    def finalize_response(self, request: Request, response: Response, *args: Any, **kwargs: Any) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)
        renderer = getattr(response, "accepted_renderer", None)
        browser = "text/html" in request.META.get("HTTP_ACCEPT", "")
        if browser and renderer is not None and renderer.media_type == "application/vnd.oai.openapi":
            response.content_type = "text/yaml; charset=utf-8"
        return response


class ApiDocsView(SpectacularSwaggerSplitView):
    """Swagger UI from drf-spectacular-sidecar's static files; its init script is a separate same-origin file,
    and the page has no inline style, so it runs under the console's `script-src 'self'; style-src 'self'`."""

    template_name = "api/docs.html"
    url_name = "api-schema"
