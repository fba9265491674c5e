"""The overview and job pages' figures, pure: percentiles, success rates, the 24 h / 7 d split, slow runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from jobs.stats import duration_chart, job_figures, percentile, sparkline_points, success_rate


def test_percentiles_and_success_rate():
    assert percentile([5, 1, 3, 2, 4], 50) == 3
    assert percentile(list(range(1, 101)), 95) == 95
    assert percentile([], 50) is None
    assert success_rate(["succeeded", "failed", "running", "succeeded"]) == 2 / 3
    assert success_rate(["running"]) is None


def test_overview_figures_split_24_hours_from_7_days():
    now = datetime(2026, 11, 22, 12, tzinfo=UTC)
    rows = [
        ("running", now - timedelta(minutes=1), None),
        ("failed", now - timedelta(hours=2), 9000),
        ("succeeded", now - timedelta(hours=3), 5000),
        ("succeeded", now - timedelta(days=3), 4000),
    ]
    f = job_figures(rows, now)
    assert (f.day.runs, f.week.runs) == (3, 4)
    assert f.day.success_rate == 0.5
    assert f.week.success_rate == 2 / 3
    assert f.running == 1
    assert f.last_status == "running"
    assert not f.failing_now
    assert f.p50_ms == 5000
    assert f.durations == [4000, 5000, 9000]
    assert len(sparkline_points(f.durations).split()) == 3


def test_a_fifteen_second_run_stands_out_among_five_second_runs():
    runs = [("succeeded", 5000 + i * 10, f"#{i}", f"/r/{i}") for i in range(20)] + [("succeeded", 15000, "#x", "/r/x")]
    chart = duration_chart(runs)
    assert chart.slow_count == 1
    assert chart.bars[-1].slow
    assert not any(b.slow for b in chart.bars[:-1])
    assert chart.bars[-1].height > 2.5 * chart.bars[0].height


def test_every_run_of_a_regression_stands_out_even_when_it_is_half_the_window():
    runs = [("succeeded", 2000, f"#{i}", "") for i in range(3)] + [("succeeded", 16700, f"#s{i}", "") for i in range(3)]
    chart = duration_chart(runs)
    assert [b.slow for b in chart.bars] == [False, False, False, True, True, True]
    assert chart.usual_ms == 2000
