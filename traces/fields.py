"""`JSONTextField`: a JSONField stored as PostgreSQL `json` (the text as written) rather than `jsonb`.

Span payloads (attributes, resource, scope, events, links) are written once at ingest and read back whole; nothing
indexes into them. `json` only validates the text on input, while `jsonb` parses it into its binary form: measured
on the span COPY path, 3.5 µs of PostgreSQL CPU per span less (of ~23), and the value reads back byte for byte,
with the attribute order the exporter sent. `->`/`->>` (the attribute filter's KeyTextTransform) work on both.
SQLite is unchanged (JSONField's text column).
"""

from __future__ import annotations

import json
from typing import Any

from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper


class JSONTextField(models.JSONField):
    def db_type(self, connection: BaseDatabaseWrapper) -> str | None:
        if connection.vendor == "postgresql":
            return "json"
        return super().db_type(connection)

    def from_db_value(self, value: Any, expression: Any, connection: BaseDatabaseWrapper) -> Any:
        # Django registers a text loader for jsonb only; psycopg already decodes `json` columns into Python values.
        if value is None or not isinstance(value, str | bytes):
            return value
        return json.loads(value, cls=self.decoder)


class EqualityIndex(models.Index):
    """An index for equality lookups only: `USING hash` on PostgreSQL, a plain index elsewhere (SQLite has no hash).

    For Span.span_id (the lookup box's span ids), measured on this machine: a hash index costs PostgreSQL ~3 µs per
    inserted row, a btree 5 to 9 µs (random 16-hex keys compared through the database collation), against a span's
    ~23 µs COPY. A hash index answers `=` and nothing else, which is all a pasted id needs.
    """

    def create_sql(self, model: Any, schema_editor: Any, using: str = "", **kwargs: Any) -> Any:
        if schema_editor.connection.vendor == "postgresql":
            using = " USING hash"
        return super().create_sql(model, schema_editor, using=using, **kwargs)


class AnyValueField(JSONTextField):
    """A JSONTextField whose value may be any JSON value, a bare string included (a log record's body).

    On PostgreSQL psycopg already decodes `json`, so a string read back is the value, not JSON text to decode
    again (JSONTextField cannot tell the two apart); SQLite hands back the text, decoded as usual."""

    def from_db_value(self, value: Any, expression: Any, connection: BaseDatabaseWrapper) -> Any:
        if connection.vendor == "postgresql":
            return value
        return super().from_db_value(value, expression, connection)
