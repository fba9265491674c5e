"""The SDK's logs against a live console with the real OTLP log exporter: Python logging inside an execution and
its shards arrives as log records linked to the execution and to each shard (both shard layouts)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from jobtrace_sdk import Jobtrace

from jobs.demo.server import serve_console
from jobs.models import Execution, Shard
from tests import factories
from traces.logs.models import LogRecord

pytestmark = pytest.mark.django_db(transaction=True)
log = logging.getLogger("tests.sdk.logs")


@pytest.fixture
def jt(ns, transactional_db) -> Iterator[Jobtrace]:
    token = factories.token(ns, ["ingest", "read"])
    with serve_console() as url:
        client = Jobtrace(url=url, token=token, namespace="payments", service_name="migration-worker")
        yield client
        client.shutdown(timeout=5)


def test_logging_inside_an_execution_and_its_shards_arrives_linked(jt):
    log.setLevel(logging.INFO)
    try:
        with jt.execution("account-migration", execution_id="mig-9") as run:
            log.info("migrating 2 accounts")
            with run.shard("acct-1", layout="child"):
                log.info("account 1 migrated")
            with run.shard("acct-2", layout="trace", raise_errors=False):
                log.error("account 2: display_name too long")
                raise ValueError("display_name too long")
        assert jt.shutdown(timeout=20)
    finally:
        log.setLevel(logging.NOTSET)
    execution = Execution.objects.get(execution_id="mig-9")
    rows = {r.body: r for r in LogRecord.objects.filter(namespace=execution.namespace)}
    assert set(rows) == {"migrating 2 accounts", "account 1 migrated", "account 2: display_name too long"}
    assert rows["migrating 2 accounts"].execution_id == execution.pk
    assert rows["migrating 2 accounts"].shard_id is None
    assert rows["migrating 2 accounts"].trace_id == run.trace_id
    assert rows["account 1 migrated"].shard_id == Shard.objects.get(shard_id="acct-1").pk
    failing = rows["account 2: display_name too long"]
    assert failing.shard_id == Shard.objects.get(shard_id="acct-2").pk
    assert failing.execution_id == execution.pk
    assert failing.severity_number == 17
    assert failing.trace_id != run.trace_id  # the trace-per-shard layout: linked by its trace and job attributes
