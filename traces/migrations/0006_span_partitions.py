"""The span table becomes range-partitioned by day on PostgreSQL (issue 17), on an existing database with data.

In one transaction: the table and its indexes are renamed aside; a partitioned `traces_span` is created like it
(columns, defaults, identity, checks); its primary key and the idempotence key gain the partition key `start_ns`
(PostgreSQL requires it in every unique index of a partitioned table; an exporter's retry resends a span with its
start, so a retry still hits the key); the other indexes are created again from their definitions; one partition
per day that holds a span, plus today and the days ahead, is created; the rows are moved; the old table dropped.
The reverse moves the rows back into one plain table with the three-column key.

The copy holds the table's lock for its length: on a big database run it in a maintenance window (about the
time of a `CREATE TABLE AS` of the span table). SQLite only changes the unique constraint.
"""

from django.conf import settings
from django.db import migrations, models

from traces.migrations import _partitioning

_OLD_KEY = ("namespace", "trace_id", "span_id")
_NEW_KEY = ("namespace", "trace_id", "span_id", "start_ns")
_NAME = "span_ns_trace_span_uniq"


def _move(cursor, *, partitioned):
    _partitioning.move(
        cursor,
        table="traces_span",
        column="start_ns",
        unique_name=_NAME,
        unique=("namespace_id", "trace_id", "span_id"),
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
    span = apps.get_model("traces", "Span")
    schema_editor.remove_constraint(span, _constraint(_OLD_KEY))
    schema_editor.add_constraint(span, _constraint(_NEW_KEY))


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            _move(cursor, partitioned=False)
        return
    span = apps.get_model("traces", "Span")
    schema_editor.remove_constraint(span, _constraint(_NEW_KEY))
    schema_editor.add_constraint(span, _constraint(_OLD_KEY))


class Migration(migrations.Migration):
    dependencies = [("traces", "0005_logrecord")]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(forward, backward)],
            state_operations=[
                migrations.RemoveConstraint(model_name="span", name=_NAME),
                migrations.AddConstraint(model_name="span", constraint=_constraint(_NEW_KEY)),
            ],
        )
    ]
