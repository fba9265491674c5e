"""The webhook parsers: real Alertmanager and Grafana payloads in, plain dataclasses out (no database)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from jobs.alerts.ingest import PayloadError, label_fingerprint, parse_alertmanager, parse_grafana, parse_time


def _load(fixtures_dir, name: str) -> bytes:
    folder = "grafana_alerting" if name.startswith("grafana") else "alertmanager"
    return (fixtures_dir / folder / name).read_bytes()


def _minimal(**overrides) -> dict:
    alert = {"labels": {"alertname": "JobFailed", "job": "nightly"}, "startsAt": "2024-05-01T12:00:00Z"}
    alert.update(overrides.pop("alert", {}))
    payload = {"version": "4", "status": "firing", "alerts": [alert]}
    payload.update(overrides)
    return payload


def test_every_alertmanager_fixture_parses(fixtures_dir):
    files = sorted((fixtures_dir / "alertmanager").glob("*.json"))
    assert len(files) == 5
    for path in files:
        notification = parse_alertmanager(path.read_bytes())
        assert notification.alerts, path.name
        for alert in notification.alerts:
            assert alert.starts_at.tzinfo is not None
            assert len(alert.fingerprint) == 16


def test_every_grafana_fixture_parses_with_its_extra_fields(fixtures_dir):
    files = sorted((fixtures_dir / "grafana_alerting").glob("*.json"))
    assert len(files) == 2
    for path in files:
        notification = parse_grafana(path.read_bytes())
        assert notification.source == "grafana"
        assert notification.extra["org_id"] == 1
        assert notification.extra["state"] == "alerting"
        assert notification.extra["title"].startswith("[FIRING:")
        assert all("values" in alert.extra for alert in notification.alerts)


def test_the_fingerprint_computed_from_labels_is_alertmanagers_own(fixtures_dir):
    # The real capture carries Alertmanager's fingerprints: the label fingerprint reproduces every one.
    notification = parse_alertmanager(_load(fixtures_dir, "alertmanager_webhook_v4_firing_10_alerts.json"))
    for alert in notification.alerts:
        assert not alert.fingerprint_computed
        assert label_fingerprint(alert.labels) == alert.fingerprint


def test_a_legacy_payload_gets_the_group_status_and_a_stable_fingerprint(fixtures_dir):
    raw = _load(fixtures_dir, "alertmanager_webhook_v4_minimal_legacy_2018.json")
    first, second = parse_alertmanager(raw), parse_alertmanager(raw)
    alert = first.alerts[0]
    assert alert.status == "firing"
    assert alert.fingerprint_computed
    assert alert.fingerprint == second.alerts[0].fingerprint == label_fingerprint(alert.labels)
    assert first.truncated_alerts == 0  # absent in 2018 payloads


def test_label_order_does_not_change_the_fingerprint():
    assert label_fingerprint({"a": "1", "b": "2"}) == label_fingerprint({"b": "2", "a": "1"})
    assert label_fingerprint({"a": "1", "b": "2"}) != label_fingerprint({"a": "1", "b": "3"})
    # The separator keeps {"ab": ""} and {"a": "b"} apart.
    assert label_fingerprint({"ab": ""}) != label_fingerprint({"a": "b"})


def test_nanoseconds_and_offsets_become_aware_utc_times(fixtures_dir):
    alert = parse_alertmanager(_load(fixtures_dir, "alertmanager_webhook_v4_minimal_legacy_2018.json")).alerts[0]
    assert alert.starts_at == datetime(2018, 3, 7, 11, 33, 21, 873077, tzinfo=UTC)
    assert parse_time("2021-03-30T20:17:50.814674209+08:00") == datetime(2021, 3, 30, 12, 17, 50, 814674, tzinfo=UTC)
    assert parse_time("2023-03-29T09:41:10Z") == datetime(2023, 3, 29, 9, 41, 10, tzinfo=UTC)


def test_the_zero_end_time_means_still_firing(fixtures_dir):
    notification = parse_alertmanager(_load(fixtures_dir, "alertmanager_webhook_v4_firing_10_alerts.json"))
    assert all(alert.ends_at is None for alert in notification.alerts)
    assert parse_time("0001-01-01T00:00:00Z") is None


def test_a_resolved_alert_keeps_its_end_time(fixtures_dir):
    notification = parse_alertmanager(_load(fixtures_dir, "alertmanager_webhook_v4_resolved_2_alerts.json"))
    assert notification.status == "resolved"
    assert all(a.status == "resolved" for a in notification.alerts)
    assert all(a.ends_at == datetime(2021, 3, 30, 13, 17, 50, 814674, tzinfo=UTC) for a in notification.alerts)


def test_per_alert_status_wins_over_the_group_status(fixtures_dir):
    notification = parse_alertmanager(_load(fixtures_dir, "alertmanager_webhook_v4_mixed_firing_and_resolved.json"))
    assert notification.status == "firing"
    assert [a.status for a in notification.alerts] == ["firing", "resolved", "firing", "firing"]


def test_one_fingerprint_sent_for_different_labels_is_replaced_so_no_alert_swallows_another(fixtures_dir):
    notification = parse_alertmanager(_load(fixtures_dir, "alertmanager_webhook_v4_mixed_firing_and_resolved.json"))
    fingerprints = [a.fingerprint for a in notification.alerts]
    assert len(set(fingerprints)) == 4
    assert all(a.fingerprint == label_fingerprint(a.labels) and a.fingerprint_computed for a in notification.alerts)


def test_go_escaped_ampersands_are_read(fixtures_dir):
    alert = parse_grafana(_load(fixtures_dir, "grafana_webhook_real_capture_single_alert.json")).alerts[0]
    assert "&matcher=alertname%3DCPU+Usage+High" in alert.extra["silence_url"]
    assert alert.extra["panel_url"].endswith("?orgId=1&viewPanel=1")
    assert alert.extra["value_string"].startswith("[ var='D'")


def test_truncated_alerts_are_reported():
    notification = parse_alertmanager(_minimal(truncatedAlerts=7))
    assert notification.truncated_alerts == 7


@pytest.mark.parametrize(
    ("payload", "path", "words"),
    [
        (_minimal(alert={"startsAt": "yesterday"}), "alerts[0].startsAt", "RFC 3339"),
        (_minimal(alert={"startsAt": "2024-05-01T12:00:00"}), "alerts[0].startsAt", "RFC 3339"),
        ({"status": "firing"}, "alerts", "required"),
        (_minimal(alerts=[]), "alerts", "empty"),
        (_minimal(status="pending"), "status", "firing"),
        (_minimal(alert={"status": "acknowledged"}), "alerts[0].status", "firing"),
        (_minimal(alert={"labels": {"job": 5}}), "alerts[0].labels.job", "string"),
        (_minimal(alert={"labels": {}}), "alerts[0].labels", "empty"),
        (_minimal(alert={"labels": {"a": "x\x00y"}}), "alerts[0].labels.a", "NUL"),
        (_minimal(alert={"fingerprint": "f" * 65}), "alerts[0].fingerprint", "64"),
        (_minimal(alert={"endsAt": "2024-04-01T00:00:00Z", "status": "resolved"}), "alerts[0].endsAt", "before"),
        (_minimal(truncatedAlerts=-1), "truncatedAlerts", "non-negative"),
        (_minimal(receiver=None), "receiver", "null"),
        ([1, 2], "body", "object"),
    ],
)
def test_bad_payloads_say_which_field_is_wrong(payload, path, words):
    with pytest.raises(PayloadError) as caught:
        parse_alertmanager(payload)
    assert path in caught.value.errors, caught.value.errors
    assert words in caught.value.errors[path]


def test_a_body_that_is_not_json_is_refused():
    with pytest.raises(PayloadError, match="not JSON"):
        parse_alertmanager(b"{not json")


def test_grafana_org_id_must_be_an_integer():
    with pytest.raises(PayloadError) as caught:
        parse_grafana(json.dumps(_minimal(orgId="one")))
    assert "orgId" in caught.value.errors


def test_a_time_that_overflows_when_moved_to_utc_is_refused_not_crashed():
    with pytest.raises(PayloadError) as caught:
        parse_alertmanager(_minimal(alert={"startsAt": "9999-12-31T23:00:00-05:00"}))
    assert "out of range" in caught.value.errors["alerts[0].startsAt"]
    assert parse_time("2000-01-01T00:00:00-22:39") == datetime(2000, 1, 1, 22, 39, tzinfo=UTC)
