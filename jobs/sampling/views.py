"""The job page's sampling form: POST /jobs/<ns>/<job>/sampling, then back to the job page."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseForbidden, HttpResponseRedirect
from django.views.decorators.http import require_POST

from console import links
from jobs.auth import Access
from jobs.models import Job
from jobs.sampling.ingest import InvalidRate, parse_rate
from jobs.sampling.store import set_sample_rate


@login_required
@require_POST
def update_sampling(request: HttpRequest, namespace: str, job: str) -> HttpResponse:
    access = Access.of(request)
    found = Job.objects.in_namespaces(access.readable).named(namespace, job).first()
    if found is None:
        raise Http404("No such job.")
    if found.namespace_id not in access.writable:
        return HttpResponseForbidden("Changing the sampling policy needs an editor or admin role.")
    raw = request.POST.get("rate", "")
    try:
        # The form shows a percentage; "rate" may also be given as a fraction by scripts ("0.3").
        rate = parse_rate(_from_percent(raw)) if request.POST.get("unit") == "percent" else parse_rate(raw)
    except InvalidRate:
        outcome = "invalid"
    else:
        set_sample_rate(found, rate)
        outcome = "saved"
    # The outcome travels as a fixed code (never as text from the request) and the tag shows its message.
    return HttpResponseRedirect(f"{links.job_url(namespace, job)}?sampling={outcome}#sampling")


def _from_percent(raw: str) -> float | str:
    try:
        return float(raw.strip().rstrip("%")) / 100
    except ValueError:
        return raw
