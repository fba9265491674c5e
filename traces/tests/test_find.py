"""Finding one's way through a big trace: the find (pure and on the page), expand modes, the statistics table,
the time axis; a 2,500-shard migration's repeated operations grouped by their ids."""

from __future__ import annotations

import re

import pytest
from django.utils import timezone

from console import links
from tests import factories, pages_support
from tests import factories_traces as ft
from tests.pages_support import AUTH, text_of
from traces import find, waterfall
from traces.models import Span, StatusCode

fast_passwords = pages_support.fast_passwords
own_queries_only = pages_support.own_queries_only
MS = 1_000_000


def s(span_id, parent, start_ms, dur_ms, *, service="svc", name=None, error=False):
    return (span_id, parent, name or span_id, service, 1, start_ms * MS, dur_ms * MS, 2 if error else 0)


def migration(n=30, failing=(7,)):
    spans = [s("root", "", 0, 1000, service="migrator", name="migrate accounts")]
    for i in range(n):
        spans.append(s(f"a{i}", "root", i, 20 + i, service="migrator", name=f"migrate account {1000000 + i}",
                       error=i in failing))  # fmt: skip
        spans.append(s(f"p{i}", f"a{i}", i, 10, service="accounts", name=f"PUT /accounts/{2010000 + i}"))
    return waterfall.build(spans)


def test_a_find_matches_text_errors_a_duration_threshold_and_one_operation_together():
    wf = migration()
    ids = lambda found: [wf.rows[i].span_id for i in found]  # noqa: E731
    assert len(find.matches(wf, find.Find(text="PUT /ACCOUNTS"))) == 30  # any case
    assert ids(find.matches(wf, find.Find(errors=True))) == ["a7"]
    assert ids(find.matches(wf, find.Find(text="1000007"))) == ["a7"]
    assert ids(find.matches(wf, find.Find(min_duration_ns=48 * MS, text="migrate account "))) == ["a28", "a29"]
    assert len(find.matches(wf, find.Find(service="accounts", operation="PUT /accounts/{id}"))) == 30
    assert ids(find.matches(wf, find.Find(text="needle"), text_in_attributes=["p3"])) == ["p3"]
    assert find.matches(wf, find.Find()) == []


def test_expand_modes_and_the_ancestors_a_match_needs_open():
    wf = migration()
    root = wf.index_of["root"]
    assert find.expanded(wf, "all") == {i for i, r in enumerate(wf.rows) if r.children}
    assert find.expanded(wf, "errors") == {root}
    assert find.expanded(wf, "none") == set()
    assert find.expanded(wf, "") is None
    assert find.ancestors_of(wf, [wf.index_of["p3"]]) == {root, wf.index_of["a3"]}


def test_statistics_group_ids_in_names_and_sort_by_any_column():
    wf = migration()
    stats = find.statistics(wf, "count")
    top = stats[0]
    assert (top.service, top.name, top.count) in {("migrator", "migrate account {id}", 30),
                                                    ("accounts", "PUT /accounts/{id}", 30)}  # fmt: skip
    by_name = {(st.service, st.name): st for st in stats}
    acct = by_name[("migrator", "migrate account {id}")]
    assert (acct.errors, acct.max_ns, acct.slowest_span) == (1, 49 * MS, "a29")
    assert acct.total_ns == sum(20 + i for i in range(30)) * MS
    assert acct.avg_ns == acct.total_ns // 30
    assert find.statistics(wf, "errors")[0].name == "migrate account {id}"
    assert find.statistics(wf, "max")[0].name == "migrate accounts"
    assert len(stats) == 3


def test_the_time_axis_has_five_ticks_from_zero_to_the_trace_duration():
    assert migration().ticks == ["0", "250.0 ms", "500.0 ms", "750.0 ms", "1.00 s"]


# --- on the page ------------------------------------------------------------------------------------------------


@pytest.fixture
def owner_client(client, owner):
    client.force_login(owner)
    return client


def _big_migration(ns, n=600):
    """A migration trace: one root, n accounts below it (more than the 100 children a big trace shows), one failing,
    each with its account id and region as attributes."""
    tid = factories.trace_id()
    t0 = ft.ns_of(timezone.now())
    root = f"{1:016x}"
    rows = [
        Span(namespace=ns, trace_id=tid, span_id=root, parent_span_id="", name="migrate accounts", service="migrator",
             kind=1, start_ns=t0, duration_ns=10_000 * MS, attributes={}, resource={})
    ]  # fmt: skip
    for i in range(n):
        attributes = {"account.id": str(1000000 + i), "region": "eu-west" if i % 2 else "eu-central"}
        status = StatusCode.ERROR if i == 555 else StatusCode.UNSET
        rows.append(
            Span(namespace=ns, trace_id=tid, span_id=f"{i + 2:016x}", parent_span_id=root, kind=1, resource={},
                 name=f"migrate account {1000000 + i}", service="migrator", start_ns=t0 + i * MS,
                 duration_ns=(5 + i % 7) * MS, status_code=status, attributes=attributes)
        )  # fmt: skip
    Span.objects.bulk_create(rows)
    ft.summarise(ns, tid)
    return tid


@pytest.mark.django_db
@pytest.mark.usefixtures("fast_passwords", "own_queries_only")
def test_the_page_finds_by_attribute_value_opens_the_matches_and_counts_them(
    owner_client, ns, django_assert_num_queries
):
    tid = _big_migration(ns)
    url = links.trace_url(tid)
    # summary, waterfall, the find's attribute match, selected span and its logs, links here
    with django_assert_num_queries(AUTH + 6):
        body = text_of(owner_client.get(url, {"find": "1000450"}))
    assert "<strong>1</strong> match" in body
    matched = re.findall(r'class="wf-row[^"]*\bmatch\b[^"]*" id="span-([0-9a-f]+)"', body)
    assert matched == [f"{452:016x}"]  # beyond the first 100 children a big trace shows: opened for the match
    body = text_of(owner_client.get(url, {"find": "EU-WEST", "min": "10ms"}))
    expected = sum(1 for i in range(600) if i % 2 and 5 + i % 7 >= 10)  # eu-west, 10 ms or longer
    assert f"<strong>{expected}</strong> matches" in body
    body = text_of(owner_client.get(url, {"min": "soon"}))
    assert 'id="find-problem"' in body


@pytest.mark.django_db
@pytest.mark.usefixtures("fast_passwords")
def test_the_statistics_table_groups_the_600_accounts_and_a_row_filters_the_waterfall(owner_client, ns):
    tid = _big_migration(ns)
    body = text_of(owner_client.get(links.trace_url(tid), {"stats": "count"}))
    stats = body[body.index('id="stats"') :]
    first = re.search(
        r'<tbody><tr class=""><td><a href="([^"]+)" class="stats-op"><span class="svc-name">migrator</span> '
        r'migrate account \{id\}</a></td><td class="num">600</td><td class="num bad">1</td>',
        stats,
    )
    assert first
    url = first.group(1).replace("&amp;", "&")
    body = text_of(owner_client.get(url))
    assert "<strong>600</strong> matches" in body
    assert body.count('class="wf-row d1 ') + body.count('class="wf-row d1"') >= 500  # the matches are opened


@pytest.mark.django_db
@pytest.mark.usefixtures("fast_passwords")
def test_expand_all_collapse_all_and_expand_to_errors(owner_client, ns):
    tid = _big_migration(ns)
    url = links.trace_url(tid)
    default = text_of(owner_client.get(url)).count('class="wf-row')
    everything = text_of(owner_client.get(url, {"expand": "all"})).count('class="wf-row')
    collapsed = text_of(owner_client.get(url, {"expand": "none"}))
    errors = text_of(owner_client.get(url, {"expand": "errors"}))
    assert default < everything == 601
    assert errors.count('class="wf-row') < everything
    assert f'id="span-{557:016x}"' in errors  # the error span (account 1000555) is shown
    # collapse all keeps the selected (failing) span's ancestors open, nothing else
    assert collapsed.count('class="wf-row') <= errors.count('class="wf-row')
    assert 'id="expand-all"' in collapsed


def test_repeated_operations_are_told_apart_by_shard_and_grouped_under_their_parent():
    rows = [("root", "", "migrate accounts", "migrator", 1, 0, 1000 * MS, 0, None, None)]
    for i in range(12):
        rows.append((f"a{i}", "root", "migrate account", "migrator", 1, i * MS, 10 * MS, 2 if i in (3, 9) else 0,
                     "scheduler", f"acct-{1000000 + i}"))  # fmt: skip
        rows.append(
            (f"c{i}", f"a{i}", "UPDATE accounts", "migrator", 3, i * MS, 5 * MS, 0, None, f"acct-{1000000 + i}")
        )
    wf = waterfall.build(rows)
    html = waterfall.render_rows(wf, range(len(wf.rows)), set(range(len(wf.rows))), trace_url="/traces/t/")
    row = re.search(r'id="span-a2".*?</div><svg', html).group(0)
    assert '<span class="wf-tell" title="job.shard.id">shard acct-1000002</span>' in row
    child = re.search(r'id="span-c2".*?</div><svg', html).group(0)
    assert "wf-tell" not in child  # the same shard as its parent: nothing new to tell
    root = re.search(r'id="span-root".*?</div><svg', html).group(0)
    assert '<a class="wf-group err" href="/traces/t/?svc=migrator&amp;op=migrate+account">' in root
    assert "migrate account \N{MULTIPLICATION SIGN} 12, 2 failed</a>" in root


def test_the_minimap_draws_span_starts_over_the_whole_trace_and_marks_errors():
    wf = migration(n=30, failing=(7,))
    bars = wf.minimap(bins=100)
    assert bars[0][0] == 0.0  # the root and the first accounts start at once
    assert max(h for _, _, h, _ in bars) == 20
    assert all(round(y + h, 1) == 22 for _, y, h, _ in bars)
    assert [x for x, _, _, err in bars if err] == [0.0]  # account 7 starts at 7 ms of 1 s: the first column
    assert waterfall.build([]).minimap() == []
