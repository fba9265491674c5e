"""Span payload columns become `json` (traces/fields.py) and Span.namespace loses its database constraint.

The five column types change in one ALTER TABLE on PostgreSQL: one rewrite of the span table, not five (Django
would emit one statement per field). SQLite keeps its text columns: only the migration state changes there.
"""

import django.db.models.deletion
from django.db import migrations, models

import traces.fields

_PAYLOAD = ("attributes", "resource", "scope", "events", "links")


def _retype(to: str):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        clauses = ", ".join(f"ALTER COLUMN {column} TYPE {to} USING {column}::{to}" for column in _PAYLOAD)
        schema_editor.execute(f"ALTER TABLE traces_span {clauses}")

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("jobs", "0001_initial"),
        ("traces", "0002_span_indexes_for_linking"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(_retype("json"), _retype("jsonb"))],
            state_operations=[
                migrations.AlterField(
                    model_name="span",
                    name=name,
                    field=traces.fields.JSONTextField(default=list if name in ("events", "links") else dict),
                )
                for name in _PAYLOAD
            ],
        ),
        migrations.AlterField(
            model_name="span",
            name="namespace",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="spans",
                to="jobs.namespace",
            ),
        ),
    ]
