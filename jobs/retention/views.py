"""The retention form on the job page: POST /jobs/<ns>/retention (the namespace's admin), then back to the page."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseForbidden, HttpResponseRedirect
from django.views.decorators.http import require_POST

from console import links
from jobs.auth import Access
from jobs.models import Job, Namespace
from jobs.retention.ingest import InvalidRetention, parse_retention
from jobs.retention.queries import is_admin
from jobs.retention.store import set_retention


@login_required
@require_POST
def update_retention(request: HttpRequest, namespace: str) -> HttpResponse:
    access = Access.of(request)
    found = Namespace.objects.filter(id__in=access.readable, name=namespace).first()
    if found is None:
        raise Http404("No such namespace.")
    if not is_admin(request, found):
        return HttpResponseForbidden("Changing the retention needs the namespace's admin role.")
    job = Job.objects.filter(namespace=found, name=request.POST.get("job", "")).first()
    try:
        retention = parse_retention(request.POST.get("span_days", ""), request.POST.get("record_days", ""))
    except InvalidRetention as bad:
        outcome = f"invalid-{bad.field}"
        status = 400
    else:
        set_retention(found, retention)
        outcome, status = "saved", 303
    back = links.job_url(found.name, job.name) if job is not None else "/"
    if status == 400 and job is None:
        return HttpResponse(f"Not changed: {outcome.removeprefix('invalid-')} is not valid.", status=400)
    # The outcome travels as a fixed code (never as text from the request) and the tag shows its message.
    return HttpResponseRedirect(f"{back}?retention={outcome}#retention")
