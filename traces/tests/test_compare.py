"""The trace comparison, pure: spans matched by service, grouped name and path from the root; deltas by impact;
spans only on one side; error differences."""

from __future__ import annotations

from traces import waterfall
from traces.compare import compare
from traces.names import operation_name

MS = 1_000_000


def s(span_id, parent, start_ms, dur_ms, *, service="svc", name=None, error=False):
    return (span_id, parent, name or span_id, service, 1, start_ms * MS, dur_ms * MS, 2 if error else 0)


def nightly(save_ms: float, *, prefix: str, extra: bool = False, fail_check: bool = False):
    """The demo's regression shape: an order export whose downstream ServiceApplication spends the time in
    userInfoSave; the caller only waits for it."""
    p = prefix
    spans = [
        s(f"{p}root", "", 0, 100 + save_ms, service="shop", name="nightly export"),
        s(f"{p}load", f"{p}root", 1, 40, service="shop", name="SELECT orders"),
        s(f"{p}call", f"{p}root", 50, save_ms + 10, service="shop", name="POST /users/1000042"),
        s(f"{p}save", f"{p}call", 52, save_ms, service="ServiceApplication", name="userInfoSave"),
        s(f"{p}check", f"{p}root", 60 + save_ms, 5, service="shop", name="check", error=fail_check),
    ]
    if extra:
        spans.append(s(f"{p}cache", f"{p}root", 2, 3, service="shop", name="cache warm"))
    return waterfall.build(spans)


def test_the_operation_that_got_slower_comes_first_not_the_parents_that_waited_for_it():
    result = compare(nightly(4_000, prefix="a"), nightly(16_000, prefix="b"))
    top = result.operations[0]
    assert (top.service, top.name) == ("ServiceApplication", "userInfoSave")
    assert top.self_delta == 12_000 * MS
    assert top.path == ("shop: nightly export", "shop: POST /users/{id}")
    assert (top.span_a, top.span_b) == ("asave", "bsave")  # each row links both traces' spans
    assert result.duration_delta == 12_000 * MS
    assert result.biggest is top
    parent = next(op for op in result.operations if op.name == "POST /users/{id}")
    assert parent.duration_delta == 12_000 * MS
    assert parent.self_delta == 0


def test_repeated_calls_pair_up_by_path_and_grouped_name_whatever_their_ids_and_number():
    def run(prefix, n, slow_ms):
        spans = [s(f"{prefix}r", "", 0, 10_000, name="migrate")]
        for i in range(n):
            spans.append(s(f"{prefix}{i}", f"{prefix}r", i, slow_ms, name=f"PUT /accounts/{2010000 + i + n}"))
        return waterfall.build(spans)

    result = compare(run("a", 3, 10), run("b", 5, 20))
    put = next(op for op in result.operations if op.name == "PUT /accounts/{id}")
    assert (put.count_a, put.count_b) == (3, 5)
    assert (put.duration_a, put.duration_b) == (30 * MS, 100 * MS)
    assert not put.only_in
    assert len(result.operations) == 2


def test_the_same_name_under_different_parents_is_a_different_operation():
    a = waterfall.build([s("r", "", 0, 100), s("x", "r", 0, 50, name="q"), s("y", "x", 0, 10, name="q")])
    result = compare(a, a)
    assert sorted(op.depth for op in result.operations if op.name == "q") == [1, 2]
    assert all(op.self_delta == 0 and op.duration_delta == 0 for op in result.operations)
    assert result.biggest is None


def test_spans_only_in_one_trace_and_error_differences_are_listed():
    result = compare(nightly(4_000, prefix="a", extra=True), nightly(4_000, prefix="b", fail_check=True))
    assert [op.name for op in result.only_in_a] == ["cache warm"]
    assert result.only_in_b == []
    assert [(op.name, op.errors_a, op.errors_b) for op in result.error_changes] == [("check", 0, 1)]
    assert (result.a.errors, result.b.errors) == (0, 1)
    doc = result.as_dict()
    assert doc["only_in_a"][0]["only_in"] == "a"
    assert doc["only_in_a"][0]["b"]["span_id"] is None
    assert doc["error_changes"][0]["b"]["errors"] == 1


def test_an_empty_trace_compares_without_error():
    result = compare(waterfall.build([]), nightly(10, prefix="b"))
    assert len(result.only_in_b) == 5
    assert result.a.spans == 0


def test_ids_in_operation_names_are_grouped_but_versions_and_short_numbers_are_not():
    assert operation_name("PUT /accounts/2010042") == "PUT /accounts/{id}"
    assert operation_name("migrate account 1000002") == "migrate account {id}"
    assert operation_name("GET /orders/3f2a9c1e77b04d1a/items") == "GET /orders/{id}/items"
    assert operation_name("x 123e4567-e89b-12d3-a456-426614174000") == "x {id}"
    assert operation_name("GET /v2/accounts") == "GET /v2/accounts"
    assert operation_name("op-7") == "op-7"
    assert operation_name("userInfoSave") == "userInfoSave"
