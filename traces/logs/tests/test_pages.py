"""The log search page, the execution and shard pages' log panels, a span's logs, and GET /api/v1/logs: filtered,
ordered, paginated by signed cursors, scoped to the reader's namespaces (an outsider gets 404), hostile text inert."""

from __future__ import annotations

import pytest

from tests import factories
from traces.logs.ingest import parse_logs
from traces.logs.store import store_logs
from traces.logs.tests.builders import line, request
from traces.store import store_spans
from traces.tests.builders import otlp_span, parsed, sid, tid

pytestmark = pytest.mark.django_db
T0 = 1_764_000_000_000_000_000
HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def send(ns, *records, resource=None):
    store_logs(ns, parse_logs(request(list(records), resource=resource), json_body=False).records)


@pytest.fixture
def failing(ns):
    t, root, a = tid(), sid(), sid()
    run = factories.execution(factories.job(ns, "nightly"), "run-1", status="failed", trace_id=t)
    shard = factories.shard(run, "shard-3", status="failed", trace_id=t, span_id=a)
    store_spans(ns, parsed(("svc", [otlp_span(t, root), otlp_span(t, a, root)])))
    lines = [line(f"copied row {i}", T0 + i * 1000, 9, trace_id=t, span_id=a) for i in range(120)]
    lines.append(line("connection reset by peer", T0 + 500_000, 17, trace_id=t, span_id=a))
    lines.append(line(HOSTILE, T0 + 600_000, 13, trace_id=t, span_id=a, attributes={"evil": HOSTILE}))
    lines.append(line("root says hello", T0 + 700_000, 9, trace_id=t, span_id=root))
    send(ns, *lines, resource={"service.name": "copier"})
    return {"run": run, "shard": shard, "trace": t, "span": a}


def test_the_failing_shards_page_shows_its_logs_error_lines_first(client, owner, failing):
    client.force_login(owner)
    page = client.get("/jobs/" + failing["run"].job.namespace.name + "/nightly/runs/run-1/shards/shard-3/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "log-errors" in html
    errors_at = html.index("log-errors")
    assert html.index("connection reset by peer") > errors_at
    assert html.index("connection reset by peer") < html.index("copied row 119")
    assert "root says hello" not in html  # the root span is not the shard's subtree
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert "More records matched" in html


def test_the_execution_page_shows_every_log_of_the_run(client, owner, failing):
    client.force_login(owner)
    html = client.get(f"/jobs/{failing['run'].job.namespace.name}/nightly/runs/run-1/").content.decode()
    assert "root says hello" in html
    assert 'id="logs-run"' in html


def test_the_search_page_filters_orders_and_pages(client, owner, ns, failing):
    client.force_login(owner)
    base = f"/logs/?job={ns.name}/nightly&execution=run-1&shard=shard-3"
    html = client.get(base + "&severity=error").content.decode()
    assert "connection reset by peer" in html
    assert "copied row" not in html
    html = client.get(base + "&q=ROW 11").content.decode()  # case-insensitive substring
    assert "copied row 11<" in html.replace("</span>", "<")
    assert "copied row 110" in html
    assert "copied row 20" not in html
    html = client.get(base + "&q=100%25").content.decode()  # `%` is text, not a wildcard
    assert "No log record matches" in html
    oldest = client.get(base + "&order=oldest").content.decode()
    flat = oldest.replace("</span>", "<")
    assert flat.index("copied row 0<") < flat.index("copied row 1<")
    assert "copied row 119" not in oldest  # cut at 100
    first = client.get(base + "&order=oldest")
    next_url = first.context["next_url"]
    second = client.get(next_url).content.decode()
    assert "copied row 119" in second
    assert "copied row 5<" not in second.replace("</span>", "<")
    assert client.get(base + "&since=bogus").status_code == 400


def test_an_outsider_gets_404_for_another_namespaces_logs(client, outsider, ns, failing):
    client.force_login(outsider)
    assert client.get(f"/logs/?job={ns.name}/nightly").status_code == 404
    assert client.get("/logs/?execution=run-1").status_code == 404
    html = client.get("/logs/?q=connection").content.decode()
    assert "connection reset" not in html


def test_the_api_lists_pages_and_scopes(reader, outsider_api, ns, failing):
    base = f"/api/v1/logs?job={ns.name}/nightly&execution=run-1&order=oldest&limit=50"
    first = reader.get(base)
    assert first.status_code == 200, first.content
    body = first.json()
    assert (len(body["results"]), body["cut"], body["limit"]) == (50, True, 50)
    record = body["results"][0]
    assert record["body"] == "copied row 0"
    assert (record["namespace"], record["job"], record["execution_id"], record["shard_id"]) == (
        ns.name,
        "nightly",
        "run-1",
        "shard-3",
    )
    assert record["resource"] == {"service.name": "copier"}
    seen = [r["id"] for r in body["results"]]
    url = body["next"]
    while url:
        page = reader.get(url).json()
        seen += [r["id"] for r in page["results"]]
        url = page["next"]
    assert len(seen) == len(set(seen)) == 123
    assert reader.get(base + "&cursor=forged").status_code == 400
    bad = reader.get(base + "&severity=loud")
    assert bad.status_code == 400
    assert list(bad.json()["errors"]) == ["severity"]
    assert outsider_api.get(base).status_code == 404
    assert outsider_api.get("/api/v1/logs?q=connection").json()["results"] == []


def test_a_spans_detail_lists_its_logs(client, owner, failing):
    client.force_login(owner)
    html = client.get(f"/traces/{failing['trace']}/spans/{failing['span']}/").content.decode()
    assert "copied row 0" in html
    assert "The first 50 records of this span" in html
    assert "root says hello" not in html


def test_the_search_page_reads_in_a_fixed_number_of_queries(client, owner, ns, failing, django_assert_num_queries):
    client.force_login(owner)
    client.get("/logs/")  # warm the session
    with django_assert_num_queries(6):  # session, user, memberships, job, execution, the page of records
        client.get(f"/logs/?job={ns.name}/nightly&execution=run-1")


def test_a_running_executions_panel_polls_for_new_lines_and_a_finished_one_does_not(client, owner, ns):
    client.force_login(owner)
    job = factories.job(ns, "tailing")
    running = factories.execution(job, "run-live", status="running")
    factories.execution(job, "run-done", status="succeeded")
    send(ns, line("first line", T0, attributes={"job.execution.id": "run-live"}), resource={"job.name": "tailing"})
    html = client.get(f"/jobs/{ns.name}/tailing/runs/run-live/").content.decode()
    assert 'hx-trigger="every 5s"' in html
    assert "first line" in html
    done = client.get(f"/jobs/{ns.name}/tailing/runs/run-done/").content.decode()
    assert 'id="logs-run"' in done
    assert "every 5s" not in done
    # the poll itself: the panel's fragment, newest first, with the new line on top
    send(ns, line("second line", T0 + 1, attributes={"job.execution.id": "run-live"}), resource={"job.name": "tailing"})
    poll = client.get(
        f"/logs/?job={ns.name}/tailing&execution=run-live&tail=1", HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "<html" not in poll
    assert poll.index("second line") < poll.index("first line")
    assert running.pk
