"""The log record table becomes range-partitioned by day on `time_ns` on PostgreSQL, as the span table did in 0006
(traces/migrations/_partitioning.py: on an existing table with data, in one transaction, and back). The idempotence
key gains the partition key: `record_hash` hashes the record as sent, times included, so a retry still hits it.
SQLite only changes the unique constraint.
"""

from django.conf import settings
from django.db import migrations, models

from traces.migrations import _partitioning

_OLD_KEY = ("namespace", "record_hash")
_NEW_KEY = ("namespace", "record_hash", "time_ns")
_NAME = "logrecord_ns_hash_uniq"


def _move(cursor, *, partitioned):
    _partitioning.move(
        cursor,
        table="traces_logrecord",
        column="time_ns",
        unique_name=_NAME,
        unique=("namespace_id", "record_hash"),
        partitioned=partitioned,
        ahead_days=settings.JOBTRACE_PARTITIONS_AHEAD_DAYS,
    )


def _constraint(fields):
    return models.UniqueConstraint(fields=list(fields), name=_NAME)


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            _move(cursor, partitioned=True)
        return
    record = apps.get_model("traces", "LogRecord")
    schema_editor.remove_constraint(record, _constraint(_OLD_KEY))
    schema_editor.add_constraint(record, _constraint(_NEW_KEY))


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            _move(cursor, partitioned=False)
        return
    record = apps.get_model("traces", "LogRecord")
    schema_editor.remove_constraint(record, _constraint(_NEW_KEY))
    schema_editor.add_constraint(record, _constraint(_OLD_KEY))


class Migration(migrations.Migration):
    dependencies = [("traces", "0006_span_partitions")]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(forward, backward)],
            state_operations=[
                migrations.RemoveConstraint(model_name="logrecord", name=_NAME),
                migrations.AddConstraint(model_name="logrecord", constraint=_constraint(_NEW_KEY)),
            ],
        )
    ]
