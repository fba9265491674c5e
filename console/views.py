"""Cross-cutting pages: the lookup box's results (`/search?q=`), a health check, and /favicon.ico."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, HttpResponsePermanentRedirect, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.templatetags.static import static
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from console.lookup import resolve
from jobs.auth import Access


@login_required
@require_GET
def search(request: HttpRequest) -> HttpResponse:
    """One match goes straight to its page; several are listed; none says so (the same for a foreign id)."""
    query = request.GET.get("q", "").strip()
    matches = resolve(query, Access.of(request).readable) if query else []
    if len(matches) == 1:
        return HttpResponseRedirect(matches[0].url)
    return render(
        request,
        "console/search.html",
        {"query": query, "lookup_query": query, "matches": matches},
        status=200 if matches or not query else 404,
    )


@never_cache
@require_GET
def healthz(request: HttpRequest) -> HttpResponse:
    """Liveness and database reachability for a load balancer (no login, no data)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


@require_GET
def favicon(request: HttpRequest) -> HttpResponse:
    """Clients that ask for /favicon.ico (pages name theirs in a <link rel="icon">) get the console's icon."""
    return HttpResponsePermanentRedirect(static("console/favicon.svg"))
