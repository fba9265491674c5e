"""An index on Span.span_id, so a span id pasted into the lookup box finds its trace without reading every span.

The unique (namespace, trace_id, span_id) index cannot serve it: span_id is its last column. A hash index on
PostgreSQL (traces/fields.py `EqualityIndex`: about 3 µs per stored span, a btree 5 to 9). On a large span table,
building it holds writes to the table meanwhile; create it beforehand with
`CREATE INDEX CONCURRENTLY span_span_id_idx ON traces_span USING hash (span_id)` and `migrate --fake` this one.
"""

from django.db import migrations

import traces.fields


class Migration(migrations.Migration):
    dependencies = [
        ("traces", "0003_span_json_text_no_namespace_fk"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="span",
            index=traces.fields.EqualityIndex(fields=["span_id"], name="span_span_id_idx"),
        ),
    ]
