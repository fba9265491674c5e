"""The job page's sampling form: POST /jobs/<ns>/<job>/sampling, then back to the job page."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseForbidden, HttpResponseRedirect
from django.views.decorators.http import require_POST

from console import links
from jobs.auth import Access
from jobs.models import Job
from jobs.sampling import InvalidRate, parse_rate, set_sample_rate


@login_required
@require_POST
def update_sampling(request: HttpRequest, namespace: str, job: str) -> HttpResponse:
    if "\x00" in namespace or "\x00" in job:
        raise Http404("No such job.")
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
    except InvalidRate as exc:
        messages.error(request, f"Sampling not changed: {exc}.")
    else:
        set_sample_rate(found, rate)
        messages.success(request, f"Scheduled runs are now sampled at {rate:.0%}; manual runs always are.")
    return HttpResponseRedirect(links.job_url(namespace, job))


def _from_percent(raw: str) -> float | str:
    try:
        return float(raw.strip().rstrip("%")) / 100
    except ValueError:
        return raw
