"""Shared by the migrations that range-partition a table by day (0006 spans, 0007 log records), and back.

Not a migration (Django's loader skips modules whose name starts with "_"). In the caller's transaction: the table
and its indexes are renamed aside; the new table is created like it (columns, defaults, identity, checks) and
partitioned by `column` (nanoseconds since the epoch) or not; the primary key and the idempotence key gain the
partition key when partitioned (PostgreSQL requires it in every unique index of a partitioned table); the other
indexes are created again from their definitions; one partition per day that holds a row, plus today and the days
ahead; the rows moved (ids kept, the identity continued); the old table dropped.
"""

from datetime import UTC, datetime, timedelta

DAY_NS = 86_400 * 1_000_000_000


def _indexes(cursor, table):
    """(name, definition) of the table's indexes that back no constraint."""
    cursor.execute(
        "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename = %s AND NOT EXISTS "
        "(SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname) ORDER BY i.indexname",
        [table],
    )
    return cursor.fetchall()


def move(cursor, *, table, column, unique_name, unique, partitioned, ahead_days):
    """Rebuild `table` partitioned by day on `column` (or, `partitioned=False`, as one plain table again).
    Constant identifiers only, from the migrations: nothing from a request is formatted into this DDL."""
    old = f"{table}_old"
    indexes = _indexes(cursor, table)
    cursor.execute(f"ALTER TABLE {table} RENAME TO {old}")
    cursor.execute(f"ALTER TABLE {old} RENAME CONSTRAINT {table}_pkey TO {old}_pkey")
    cursor.execute(f"ALTER TABLE {old} RENAME CONSTRAINT {unique_name} TO {unique_name}_old")
    for name, _ in indexes:
        cursor.execute(f"ALTER INDEX {name} RENAME TO {name}_old")
    tail = f" PARTITION BY RANGE ({column})" if partitioned else ""
    cursor.execute(
        f"CREATE TABLE {table} (LIKE {old} INCLUDING DEFAULTS INCLUDING IDENTITY "
        f"INCLUDING CONSTRAINTS INCLUDING STORAGE){tail}"
    )
    key = f"id, {column}" if partitioned else "id"
    # A partitioned table's unique keys must hold the partition column: added at the end unless the key has it.
    columns = ", ".join([*unique, column] if partitioned and column not in unique else unique)
    cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {table}_pkey PRIMARY KEY ({key})")
    cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {unique_name} UNIQUE ({columns})")
    for _, definition in indexes:
        cursor.execute(definition.replace(f"ON public.{table} ", f"ON {table} ").replace(" ONLY ", " "))
    if partitioned:
        cursor.execute(f"SELECT DISTINCT {column} / {DAY_NS} FROM {old}")
        days = {row[0] for row in cursor.fetchall()}
        today = int(datetime.now(UTC).timestamp()) // 86_400
        days |= {today + i for i in range(ahead_days + 1)}
        for day in sorted(days):
            name = f"{table}_p{(datetime(1970, 1, 1, tzinfo=UTC) + timedelta(days=day)):%Y%m%d}"
            low = day * DAY_NS
            cursor.execute(f"CREATE TABLE {name} PARTITION OF {table} FOR VALUES FROM ({low}) TO ({low + DAY_NS})")
    cursor.execute(
        "SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) FROM pg_attribute "
        "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
        [old],
    )
    names = cursor.fetchone()[0]
    # Back to the narrower key, two copies of one row (sent again with another time) cannot both stay: the first.
    conflict = "" if partitioned else " ON CONFLICT DO NOTHING"
    cursor.execute(
        f"INSERT INTO {table} ({names}) OVERRIDING SYSTEM VALUE SELECT {names} FROM {old} ORDER BY id{conflict}"
    )
    cursor.execute(
        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT COALESCE(max(id), 0) + 1 FROM {old}), false)"
    )
    cursor.execute(f"DROP TABLE {old}")
    cursor.execute(f"SELECT pg_get_serial_sequence('{table}', 'id')")
    sequence = cursor.fetchone()[0]
    if sequence != f"public.{table}_id_seq":  # LIKE named it <table>_id_seq1 beside the old one
        cursor.execute(f"ALTER SEQUENCE {sequence} RENAME TO {table}_id_seq")
