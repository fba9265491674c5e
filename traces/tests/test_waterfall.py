"""The waterfall, pure: tree order, critical path, self time, warnings, what a big trace opens with, escaping."""

from __future__ import annotations

from traces import waterfall
from traces.critical import critical_steps

MS = 1_000_000


def s(span_id, parent, start_ms, dur_ms, *, service="svc", name=None, error=False):
    return (span_id, parent, name or span_id, service, 1, start_ms * MS, dur_ms * MS, 2 if error else 0)


def test_rows_come_in_tree_order_with_children_by_start_time_and_depth():
    wf = waterfall.build([s("c2", "root", 50, 10), s("root", "", 0, 100), s("c1", "root", 10, 20), s("g", "c1", 12, 5)])
    assert [(r.span_id, r.depth) for r in wf.rows] == [("root", 0), ("c1", 1), ("g", 2), ("c2", 1)]
    assert wf.rows[0].descendants == 3
    assert list(wf.subtree(1)) == [1, 2]


def test_critical_path_follows_the_last_finishing_child_then_what_finished_before_it_started():
    # root 0..100; a 0..40 then b 45..95 run in sequence; c 10..30 runs in parallel with a and ends earlier.
    wf = waterfall.build(
        [
            s("root", "", 0, 100),
            s("a", "root", 0, 40),
            s("c", "root", 10, 20),
            s("b", "root", 45, 50),
            s("b1", "b", 50, 40),
        ]
    )
    on_path = {r.span_id for r in wf.rows if r.on_critical_path}
    assert on_path == {"root", "a", "b", "b1"}


def test_self_time_subtracts_the_union_of_children_per_service_and_operation():
    wf = waterfall.build(
        [
            s("root", "", 0, 100, service="api"),
            s("a", "root", 10, 30, service="db", name="query"),
            s("b", "root", 20, 30, service="db", name="query"),  # overlaps a: union 10..50 = 40
        ]
    )
    root = wf.rows[0]
    assert root.self_ns == 60 * MS
    by_service = {t.key: t.self_ns for t in wf.self_by_service}
    assert by_service == {"api": 60 * MS, "db": 40 * MS}  # the two queries overlap: their wall-clock time, once
    assert wf.self_by_operation[0].key in {"api: root", "db: query"}
    assert {t.key: t.spans for t in wf.self_by_operation}["db: query"] == 2


def test_self_time_by_service_never_exceeds_the_trace_when_sibling_spans_overlap():
    # The demo's inventory-sync trace: a service without an SDK reports its run and the run's two steps as siblings.
    wf = waterfall.build(
        [
            s("job", "", 0, 614, service="scheduler", name="inventory-sync"),
            s("call", "job", 0, 614, service="scheduler", name="POST /tasks/inventory-sync"),
            s("server", "call", 1, 612, service="inventory-service", name="POST /tasks/inventory-sync"),
            s("run", "server", 1, 611, service="inventory-service", name="InventorySync::run"),
            s("get", "server", 1, 388, service="inventory-service", name="GET warehouse-api /stock"),
            s("update", "server", 389, 223, service="inventory-service", name="UPDATE stock_levels"),
        ]
    )
    by_service = {t.key: t.self_ns for t in wf.self_by_service}
    assert by_service == {"inventory-service": 612 * MS, "scheduler": 2 * MS}
    assert sum(by_service.values()) <= wf.duration_ns
    assert wf.rows[wf.index_of["run"]].self_ns == 611 * MS  # a span's own self time is still its own


def test_orphans_clock_skew_and_truncation_are_reported():
    wf = waterfall.build(
        [s("root", "", 10, 100), s("early", "root", 0, 5), s("lost", "missing-parent", 20, 5)], truncated_at=3
    )
    text = " ".join(wf.warnings)
    assert "orphans" in text
    assert "clock skew" in text
    assert "truncated" in text
    assert wf.rows[wf.index_of["lost"]].orphan


def test_a_ten_thousand_deep_chain_does_not_hit_the_recursion_limit():
    spans = [s(f"{i}", f"{i - 1}" if i else "", i, 20000 - i) for i in range(10_000)]
    wf = waterfall.build(spans)
    assert wf.rows[-1].depth == 9_999
    assert len(wf.critical_path) == 10_000


def test_a_big_trace_opens_only_the_ancestors_of_errors_and_the_critical_path():
    spans = [s("root", "", 0, 1000)]
    for i in range(600):
        spans.append(s(f"c{i}", "root", 1, 100))  # all in parallel: one of them is on the critical path
        spans.append(s(f"g{i}", f"c{i}", 2, 50, error=(i == 300)))
    wf = waterfall.build(spans)
    opened = waterfall.open_set(wf)
    visible = waterfall.visible_rows(wf, opened)
    ids = {wf.rows[i].span_id for i in visible}
    assert "g300" in ids  # the error is shown
    assert "g1" not in ids  # other subtrees stay collapsed
    # root, 100 of its 600 children (the two that lead somewhere among them), the error's and the critical
    # path's grandchild
    assert len(visible) == 1 + waterfall.MAX_CHILDREN + 2
    html = waterfall.render_rows(wf, visible, opened, trace_url="/traces/t/")
    assert 'data-unloaded="1"' in html  # collapsed rows say how much is behind them
    assert 'data-unloaded="1000"' in html  # and the root: 500 children and their 500 children are not shown
    assert html.count('class="wf-row') == len(visible)


def test_the_failing_span_is_the_deepest_error():
    wf = waterfall.build(
        [s("root", "", 0, 100, error=True), s("a", "root", 0, 50, error=True), s("b", "a", 0, 5, error=True)]
    )
    assert wf.rows[wf.failing_span()].span_id == "b"


def test_rendered_rows_escape_names_and_services():
    wf = waterfall.build(
        [s("root", "", 0, 10, name="<script>alert(1)</script>", service='"><img src=x onerror=alert(1)>')]
    )
    html = waterfall.render_rows(wf, [0], {0}, trace_url="/traces/t/")
    assert "<script>" not in html
    assert "<img" not in html
    assert "&lt;script&gt;" in html


def test_a_span_with_thousands_of_children_shows_a_hundred_plus_what_matters():
    spans = [s("root", "", 0, 100_000)] + [s(f"c{i}", "root", i * 10, 5, error=(i == 4321)) for i in range(5000)]
    wf = waterfall.build(spans)  # 5,000 sequential children: all on the critical path
    opened = waterfall.open_set(wf)
    visible = waterfall.visible_rows(wf, opened, keep=opened | waterfall.important(wf))
    ids = {wf.rows[i].span_id for i in visible}
    assert "c4321" in ids  # the error is kept
    assert len(visible) <= 1 + waterfall.MAX_CHILDREN + waterfall.MAX_CRITICAL + 1
    html = waterfall.render_rows(wf, visible, opened, trace_url="/traces/t/")
    assert 'class="wf-more"' in html  # the root says how many children are not shown
    everything = waterfall.visible_rows(wf, opened, max_children=None)
    assert len(everything) == 5001


def test_the_critical_path_lists_only_spans_with_time_of_their_own_on_it():
    # root waits for call, which waits for save: only save (and the root's own 10 ms before the call) are on it.
    wf = waterfall.build(
        [
            s("root", "", 0, 1000, name="nightly-export"),
            s("call", "root", 10, 990, name="POST /users"),
            s("save", "call", 10, 990, service="ServiceApplication", name="userInfoSave"),
            s("side", "root", 20, 5, name="log"),
        ]
    )
    steps = critical_steps(wf)
    assert [(wf.rows[st.index].span_id, st.own_ns) for st in steps] == [("root", 10 * MS), ("save", 990 * MS)]
    assert len(wf.critical_path) == 3  # call is on the path, with no time of its own there
    assert steps[1].share == 0.99


def test_the_outline_pass_a_subtree_needs_draws_the_same_tree_without_the_self_time_tables():
    spans = [s("root", "", 0, 100)] + [s(f"c{i}", "root", i * 5, 20, error=i == 7) for i in range(15)]
    spans += [s(f"g{i}", f"c{i % 15}", i * 5 + 1, 3, service="db") for i in range(30)]
    full, outline = waterfall.build(spans), waterfall.build(spans, outline=True)
    columns = ("span_id", "depth", "parent_index", "children", "descendants", "on_critical_path", "is_error")
    assert [[getattr(r, c) for c in columns] for r in outline.rows] == [
        [getattr(r, c) for c in columns] for r in full.rows
    ]
    assert (outline.start_ns, outline.end_ns, outline.services) == (full.start_ns, full.end_ns, full.services)
    assert outline.critical_path == full.critical_path
    assert full.self_by_service
    assert full.slowest
    assert outline.self_by_service == outline.self_by_operation == outline.slowest == []


def test_a_shard_row_is_told_apart_by_the_business_label_its_name_says():
    assert waterfall.business_label({"region": "eu-west", "account": "1000002"}, "migrate account") == (
        "account 1000002",
        "account=1000002, region=eu-west",
    )
    assert waterfall.business_label({"region": "eu", "tenant": "t1"}, "process")[0] == "region eu"
    wf = waterfall.build(
        [
            ("root", "", "run", "svc", 1, 0, 100, 0, None, ""),
            ("a", "root", "migrate account", "svc", 1, 1, 10, 0, None, "acct-1"),
            ("a1", "a", "PUT", "svc", 1, 2, 5, 0, None, "acct-1"),  # the same shard as its parent: not repeated
        ]
    )
    assert waterfall.tell_rows(wf, range(3)) == ["a"]
    html = waterfall.render_rows(
        wf, range(3), set(range(3)), trace_url="/t/", labels={"a": {"account": "<1>", "region": "eu"}}
    )
    assert html.count("wf-business") == 1
    assert '<span class="wf-tell wf-business" title="account=&lt;1&gt;, region=eu">account &lt;1&gt;</span>' in html
