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

from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import migrations, models

_OLD_KEY = ("namespace", "trace_id", "span_id")
_NEW_KEY = ("namespace", "trace_id", "span_id", "start_ns")
_NAME = "span_ns_trace_span_uniq"
_DAY_NS = 86_400 * 1_000_000_000


def _indexes(cursor, table):
    """(name, definition) of the table's indexes that back no constraint."""
    cursor.execute(
        "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename = %s AND NOT EXISTS "
        "(SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname) ORDER BY i.indexname",
        [table],
    )
    return cursor.fetchall()


def _move(cursor, *, partitioned):
    """Rebuild traces_span from traces_span_old, partitioned or not."""
    indexes = _indexes(cursor, "traces_span")
    cursor.execute("ALTER TABLE traces_span RENAME TO traces_span_old")
    cursor.execute("ALTER TABLE traces_span_old RENAME CONSTRAINT traces_span_pkey TO traces_span_old_pkey")
    cursor.execute(f"ALTER TABLE traces_span_old RENAME CONSTRAINT {_NAME} TO {_NAME}_old")
    for name, _ in indexes:
        cursor.execute(f"ALTER INDEX {name} RENAME TO {name}_old")
    tail = " PARTITION BY RANGE (start_ns)" if partitioned else ""
    cursor.execute(
        "CREATE TABLE traces_span (LIKE traces_span_old INCLUDING DEFAULTS INCLUDING IDENTITY "
        f"INCLUDING CONSTRAINTS INCLUDING STORAGE){tail}"
    )
    key = "id, start_ns" if partitioned else "id"
    unique = "namespace_id, trace_id, span_id, start_ns" if partitioned else "namespace_id, trace_id, span_id"
    cursor.execute(f"ALTER TABLE traces_span ADD CONSTRAINT traces_span_pkey PRIMARY KEY ({key})")
    cursor.execute(f"ALTER TABLE traces_span ADD CONSTRAINT {_NAME} UNIQUE ({unique})")
    for _, definition in indexes:
        cursor.execute(definition.replace("ON public.traces_span ", "ON traces_span ").replace(" ONLY ", " "))
    if partitioned:
        cursor.execute(f"SELECT DISTINCT start_ns / {_DAY_NS} FROM traces_span_old")
        days = {row[0] for row in cursor.fetchall()}
        today = int(datetime.now(UTC).timestamp()) // 86_400
        days |= {today + i for i in range(settings.JOBTRACE_PARTITIONS_AHEAD_DAYS + 1)}
        for day in sorted(days):
            name = f"traces_span_p{(datetime(1970, 1, 1, tzinfo=UTC) + timedelta(days=day)):%Y%m%d}"
            low = day * _DAY_NS
            cursor.execute(f"CREATE TABLE {name} PARTITION OF traces_span FOR VALUES FROM ({low}) TO ({low + _DAY_NS})")
    cursor.execute(
        "SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) FROM pg_attribute "
        "WHERE attrelid = 'traces_span_old'::regclass AND attnum > 0 AND NOT attisdropped"
    )
    columns = cursor.fetchone()[0]
    # Back to three columns, two copies of one span (sent again with another start) cannot both stay: the first.
    conflict = "" if partitioned else " ON CONFLICT DO NOTHING"
    cursor.execute(
        f"INSERT INTO traces_span ({columns}) OVERRIDING SYSTEM VALUE "
        f"SELECT {columns} FROM traces_span_old ORDER BY id{conflict}"
    )
    cursor.execute(
        "SELECT setval(pg_get_serial_sequence('traces_span', 'id'), "
        "(SELECT COALESCE(max(id), 0) + 1 FROM traces_span_old), false)"
    )
    cursor.execute("DROP TABLE traces_span_old")
    cursor.execute("SELECT pg_get_serial_sequence('traces_span', 'id')")
    sequence = cursor.fetchone()[0]
    if sequence != "public.traces_span_id_seq":  # LIKE named it traces_span_id_seq1 beside the old one
        cursor.execute(f"ALTER SEQUENCE {sequence} RENAME TO traces_span_id_seq")


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
