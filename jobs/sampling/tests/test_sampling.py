"""The sampling policy: the decision (manual always, rate 0 never, rate 0.3 within tolerance), the SDK's cached
fetch, and the policy over the API and the job page's form (editor role; outsiders get 404)."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator

import pytest
from django.template import Context, Template
from django.test import RequestFactory
from jobtrace_sdk import Jobtrace, SamplingPolicy, decide
from jobtrace_sdk.config import Config
from jobtrace_sdk.sampling import PolicyCache
from jobtrace_sdk.testing import CaptureConsole

from jobs.choices import Role
from jobs.models import Job
from tests import factories


@pytest.fixture(autouse=True)
def fast_password_hashing(settings) -> None:
    """The personas' passwords are hashed at creation; the default hasher costs ~0.5 s each on a busy machine."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


# --- the decision ---------------------------------------------------------------------------------------------


def test_manual_runs_are_always_sampled_even_at_rate_zero():
    rng = random.Random(1)
    assert all(decide("manual", SamplingPolicy(0.0), rng) for _ in range(1000))


def test_rate_zero_never_samples_a_scheduled_run_and_rate_one_always_does():
    rng = random.Random(2)
    assert not any(decide(trigger, SamplingPolicy(0.0), rng) for trigger in ("scheduled", "retry", "api", "event"))
    assert not any(decide("scheduled", SamplingPolicy(0.0), rng) for _ in range(1000))
    assert all(decide("scheduled", SamplingPolicy(1.0), rng) for _ in range(1000))


@pytest.mark.parametrize("seed", [3, 4, 5])
def test_rate_point_three_samples_within_five_sigma_of_three_in_ten(seed):
    n, p = 1000, 0.3
    rng = random.Random(seed)
    sampled = sum(decide("scheduled", SamplingPolicy(p), rng) for _ in range(n))
    sigma = math.sqrt(n * p * (1 - p))  # binomial: ~14.5
    assert abs(sampled - n * p) <= 5 * sigma


# --- the SDK's cached fetch -------------------------------------------------------------------------------------


@pytest.fixture
def console() -> Iterator[CaptureConsole]:
    with CaptureConsole(policies={("shop", "nightly"): 0.3}) as c:
        yield c


def test_the_policy_is_fetched_once_and_cached(console):
    jt = Jobtrace(url=console.url, token="jt_t", namespace="shop")
    assert jt.sampling_policy("nightly") == SamplingPolicy(0.3, "console")
    assert jt.sampling_policy("nightly").rate == 0.3
    gets = [r for r in console.requests if r.method == "GET"]
    assert [r.path for r in gets] == ["/api/v1/jobs/shop/nightly/sampling"]
    assert gets[0].headers["authorization"] == "Bearer jt_t"
    jt.shutdown(timeout=2)


def test_an_unreachable_policy_falls_back_to_the_last_known_rate_then_the_default(console):
    jt = Jobtrace(url=console.url, token="t", namespace="shop", policy_ttl=0.0)
    assert jt.sampling_policy("nightly").rate == 0.3
    console.policies.clear()  # now 404
    assert jt.sampling_policy("nightly") == SamplingPolicy(0.3, "stale")
    assert jt.sampling_policy("never-seen") == SamplingPolicy(1.0, "default")
    jt.shutdown(timeout=2)


def test_every_decision_is_recorded_on_the_execution_and_unsampled_runs_export_no_spans(console):
    console.policies[("shop", "cache-warmup")] = 0.0
    jt = Jobtrace(url=console.url, token="t", namespace="shop", seed=7)
    with jt.execution("cache-warmup", execution_id="sched", trigger="scheduled"), jt.span("warm"):
        pass
    with jt.execution("cache-warmup", execution_id="manual", trigger="manual"), jt.span("warm"):
        pass
    jt.shutdown(timeout=10)
    records = console.latest("executions")
    assert records["sched"]["sampled"] is False
    assert records["manual"]["sampled"] is True
    assert records["sched"]["trace_id"]  # the trace id is still known: "not sampled" is told from "spans lost"
    exported = {s["attributes"].get("job.execution.id") for s in console.spans()}
    assert exported == {"manual"}


def test_policy_cache_without_a_namespace_uses_the_default(console):
    cache = PolicyCache(Config(url=console.url, token="t"))
    assert cache.get("", "nightly") == SamplingPolicy(1.0, "default")


# --- the API ---------------------------------------------------------------------------------------------------


def _url(ns: str, job: str) -> str:
    return f"/api/v1/jobs/{ns}/{job}/sampling"


@pytest.fixture
def job(ns) -> Job:
    return factories.job(ns, "nightly-export", sample_rate=0.25)


@pytest.mark.django_db
def test_get_answers_the_jobs_rate_to_a_token_of_either_scope(job, reader, ingester):
    for client in (reader, ingester):
        body = client.get(_url("payments", "nightly-export")).json()
        assert body["rate"] == 0.25
        assert body["default"] is False
        assert (body["namespace"], body["job"]) == ("payments", "nightly-export")


@pytest.mark.django_db
def test_get_of_a_job_not_yet_seen_answers_the_default_policy(ns, reader):
    response = reader.get(_url("payments", "brand-new"))
    assert response.status_code == 200
    assert response.json()["rate"] == 1.0
    assert response.json()["default"] is True


@pytest.mark.django_db
def test_an_outsider_gets_404_for_a_job_and_for_an_unseen_job_alike(job, outsider_api, anonymous_api):
    assert outsider_api.get(_url("payments", "nightly-export")).status_code == 404
    assert outsider_api.get(_url("payments", "brand-new")).status_code == 404
    assert outsider_api.put(_url("payments", "nightly-export"), {"rate": 0}, format="json").status_code == 404
    assert Job.objects.get(pk=job.pk).sample_rate == 0.25
    assert anonymous_api.get(_url("payments", "nightly-export")).status_code in (401, 403)


@pytest.mark.django_db
def test_put_with_an_ingest_token_changes_the_rate(job, ingester):
    response = ingester.put(_url("payments", "nightly-export"), {"rate": 0.3}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["rate"] == 0.3
    job.refresh_from_db()
    assert job.sample_rate == 0.3
    assert job.sampling_updated_at is not None


@pytest.mark.django_db
def test_put_with_a_read_only_token_is_refused(job, reader):
    assert reader.put(_url("payments", "nightly-export"), {"rate": 0.3}, format="json").status_code == 403
    assert Job.objects.get(pk=job.pk).sample_rate == 0.25


@pytest.mark.django_db
@pytest.mark.parametrize("body", [{"rate": 1.5}, {"rate": -0.1}, {"rate": "lots"}, {"rate": True}, {}, {"rat": 1}])
def test_put_refuses_a_rate_outside_zero_to_one_naming_the_field(job, api, body):
    response = api.put(_url("payments", "nightly-export"), body, format="json")
    assert response.status_code == 400
    assert set(response.json()) & {"rate", "rat"}
    assert Job.objects.get(pk=job.pk).sample_rate == 0.25


@pytest.mark.django_db
def test_put_of_an_unknown_job_is_404(ns, api):
    assert api.put(_url("payments", "nope"), {"rate": 0.5}, format="json").status_code == 404


@pytest.mark.django_db
def test_a_name_with_a_nul_byte_is_404_not_a_database_error(ns, api, owner, client):
    assert api.get(_url("payments", "bad%00name")).status_code == 404
    assert api.put(_url("pay%00ments", "x"), {"rate": 0.5}, format="json").status_code == 404
    client.force_login(owner)
    assert client.post(_form_url("payments", "bad%00name"), {"rate": "0.5"}).status_code == 404


@pytest.mark.django_db
def test_an_editor_session_may_put_and_a_viewer_session_may_not(job, ns, client):
    from rest_framework.test import APIClient

    editor = factories.user(ns, Role.EDITOR)
    viewer = factories.user(ns, Role.VIEWER)
    as_editor, as_viewer = APIClient(), APIClient()
    as_editor.force_authenticate(editor)
    as_viewer.force_authenticate(viewer)
    assert as_viewer.get(_url("payments", "nightly-export")).json()["rate"] == 0.25
    assert as_viewer.put(_url("payments", "nightly-export"), {"rate": 0}, format="json").status_code == 403
    assert as_editor.put(_url("payments", "nightly-export"), {"rate": 0}, format="json").status_code == 200
    assert Job.objects.get(pk=job.pk).sample_rate == 0.0


# --- the job page's form ----------------------------------------------------------------------------------------


def _form_url(ns: str, job: str) -> str:
    return f"/jobs/{ns}/{job}/sampling"


@pytest.mark.django_db
def test_an_editor_changes_the_rate_with_the_form_and_returns_to_the_job_page(job, ns, client):
    client.force_login(factories.user(ns, Role.EDITOR))
    response = client.post(_form_url("payments", "nightly-export"), {"rate": "30", "unit": "percent"})
    assert response.status_code == 302
    assert response["Location"] == "/jobs/payments/nightly-export/?sampling=saved#sampling"
    assert Job.objects.get(pk=job.pk).sample_rate == pytest.approx(0.3)


@pytest.mark.django_db
def test_the_form_refuses_a_bad_rate_and_keeps_the_old_one(job, owner, client):
    client.force_login(owner)
    response = client.post(_form_url("payments", "nightly-export"), {"rate": "150", "unit": "percent"})
    assert response.status_code == 302
    assert response["Location"] == "/jobs/payments/nightly-export/?sampling=invalid#sampling"
    assert Job.objects.get(pk=job.pk).sample_rate == 0.25


@pytest.mark.django_db
def test_the_form_is_refused_to_a_viewer_hidden_from_an_outsider_and_needs_csrf(job, teammate, outsider, client):
    client.force_login(teammate)
    assert client.post(_form_url("payments", "nightly-export"), {"rate": "0.5"}).status_code == 403
    client.force_login(outsider)
    assert client.post(_form_url("payments", "nightly-export"), {"rate": "0.5"}).status_code == 404
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(factories.user(job.namespace, Role.ADMIN))
    assert strict.post(_form_url("payments", "nightly-export"), {"rate": "0.5"}).status_code == 403
    assert Job.objects.get(pk=job.pk).sample_rate == 0.25


@pytest.mark.django_db
def test_the_template_tag_shows_the_rate_to_everyone_and_the_form_to_editors_only(job, owner, teammate, outsider):
    template = Template("{% load sampling_tags %}{% sampling_policy job %}")

    def render(user, query: str = "") -> str:
        request = RequestFactory().get("/jobs/payments/nightly-export/" + query)
        request.user = user
        return template.render(Context({"request": request, "job": job}))

    as_owner, as_teammate = render(owner), render(teammate)
    assert "25%" in as_owner
    assert "25%" in as_teammate
    assert 'action="/jobs/payments/nightly-export/sampling"' in as_owner
    assert "csrfmiddlewaretoken" in as_owner
    assert "<form" not in as_teammate
    assert "<form" not in render(outsider)
    assert "between 0 and 100" in render(owner, "?sampling=invalid")
    assert "Saved." in render(owner, "?sampling=saved")
    assert "&lt;b&gt;" not in render(owner, "?sampling=<b>")  # only fixed messages, never the query's text
    assert "<b>" not in render(owner, "?sampling=<b>")
