"""Log records (traces/logs/models.py), and on PostgreSQL the trigram index text search reads.

Text search is `body_text ILIKE '%term%'` (traces/logs/queries.py): log lines are identifiers, paths, error codes
and ids (`ERR_CONN_RESET`, `account_name`, `/var/spool/x`, `run-7`) that people search for by substring, which a
trigram GIN index (pg_trgm) answers and a tsvector does not (it splits on its parser's word rules, stems words
and drops stop words, so `account_na` or `_CONN_` find nothing). The GIN index keeps `fastupdate` on (its
default): inserts go to a pending list merged in bulk, which keeps ingest cheap. SQLite (`make run`) has no such
index and reads `LIKE` by scanning the scope's records.
"""


import django.db.models.deletion
import django.utils.timezone
import traces.fields
from django.db import migrations, models


def _trigram_extension(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")


def _trigram_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "CREATE INDEX IF NOT EXISTS logrecord_body_trgm_idx ON traces_logrecord USING gin (body_text gin_trgm_ops)"
        )


def _drop_trigram_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS logrecord_body_trgm_idx")


class Migration(migrations.Migration):

    dependencies = [
        ('jobs', '0002_message_messaging_operation'),
        ('traces', '0004_span_span_id_index'),
    ]

    operations = [
        migrations.RunPython(_trigram_extension, migrations.RunPython.noop, elidable=False),
        migrations.CreateModel(
            name='LogRecord',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('record_hash', models.CharField(max_length=32)),
                ('time_ns', models.BigIntegerField()),
                ('time_unix_nano', models.BigIntegerField(default=0)),
                ('observed_time_unix_nano', models.BigIntegerField(default=0)),
                ('severity_number', models.SmallIntegerField(default=0)),
                ('severity_text', models.CharField(blank=True, max_length=64)),
                ('body', traces.fields.AnyValueField(blank=True, null=True)),
                ('body_text', models.TextField(blank=True)),
                ('attributes', traces.fields.JSONTextField(default=dict)),
                ('resource', traces.fields.JSONTextField(default=dict)),
                ('scope', traces.fields.JSONTextField(default=dict)),
                ('service', models.CharField(max_length=255)),
                ('trace_id', models.CharField(blank=True, max_length=32)),
                ('span_id', models.CharField(blank=True, max_length=16)),
                ('flags', models.PositiveIntegerField(default=0)),
                ('event_name', models.TextField(blank=True)),
                ('dropped_attributes_count', models.PositiveIntegerField(default=0)),
                ('job_namespace', models.CharField(blank=True, max_length=200)),
                ('job_name', models.CharField(blank=True, max_length=200)),
                ('job_execution_id', models.CharField(blank=True, max_length=128)),
                ('job_shard_id', models.CharField(blank=True, max_length=128)),
                ('received_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('execution', models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='log_records', to='jobs.execution')),
                ('job', models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='log_records', to='jobs.job')),
                ('namespace', models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='log_records', to='jobs.namespace')),
                ('shard', models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='log_records', to='jobs.shard')),
            ],
            options={
                'ordering': ['time_ns', 'id'],
                'indexes': [models.Index(condition=models.Q(('job__isnull', False)), fields=['job', 'time_ns'], name='logrecord_job_time_idx'), models.Index(condition=models.Q(('execution__isnull', False)), fields=['execution', 'time_ns'], name='logrecord_exec_time_idx'), models.Index(condition=models.Q(('shard__isnull', False)), fields=['shard', 'time_ns'], name='logrecord_shard_time_idx'), models.Index(condition=models.Q(('trace_id', ''), _negated=True), fields=['namespace', 'trace_id', 'span_id'], name='logrecord_trace_idx'), models.Index(condition=models.Q(('job_execution_id', ''), _negated=True), fields=['namespace', 'job_execution_id'], name='logrecord_job_exec_idx'), models.Index(condition=models.Q(('job_shard_id', ''), _negated=True), fields=['namespace', 'job_shard_id'], name='logrecord_job_shard_idx')],
                'constraints': [models.UniqueConstraint(fields=('namespace', 'time_ns', 'record_hash'), name='logrecord_ns_time_hash_uniq')],
            },
        ),
        migrations.RunPython(_trigram_index, _drop_trigram_index, elidable=False),
    ]
