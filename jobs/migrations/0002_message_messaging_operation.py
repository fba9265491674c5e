"""Message.operation becomes free text (the business operation, as in an execution's envelope) and the messaging
operation type gets its own column, `messaging_operation` (OpenTelemetry's messaging.operation.type).

Until now `operation` only ever held a messaging type (publish, receive, process, request: the parser refused
anything else). Those values are copied into `messaging_operation` in OpenTelemetry's names (publish and request
-> send) and left in `operation` as they were: nothing stored is lost or rewritten, and a client that reads
`operation` sees what it saw before. One UPDATE per value, whatever the number of rows.
"""

from django.db import migrations, models

# The only values the old parser let into Message.operation, and their messaging.operation.type.
_COPIED = {"publish": "send", "request": "send", "receive": "receive", "process": "process"}


def copy_messaging_types(apps, schema_editor):
    Message = apps.get_model("jobs", "Message")
    for operation, messaging in _COPIED.items():
        Message.objects.filter(operation=operation, messaging_operation="").update(messaging_operation=messaging)


class Migration(migrations.Migration):
    dependencies = [
        ("jobs", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="message",
            name="messaging_operation",
            field=models.CharField(
                blank=True,
                choices=[
                    ("create", "Create"),
                    ("send", "Send"),
                    ("receive", "Receive"),
                    ("process", "Process"),
                    ("settle", "Settle"),
                ],
                max_length=16,
            ),
        ),
        migrations.AlterField(
            model_name="message",
            name="operation",
            field=models.CharField(blank=True, max_length=100),
        ),
        migrations.RunPython(copy_messaging_types, migrations.RunPython.noop, elidable=True),
    ]
