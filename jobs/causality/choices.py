"""What was done with a message: OpenTelemetry's `messaging.operation.type` values, and the older or other names
clients send for them."""

from __future__ import annotations

from django.db import models


class MessagingOperation(models.TextChoices):
    """OpenTelemetry semantic conventions, `messaging.operation.type` (its well-known values)."""

    CREATE = "create", "Create"
    SEND = "send", "Send"
    RECEIVE = "receive", "Receive"
    PROCESS = "process", "Process"
    SETTLE = "settle", "Settle"


# Names read as one of the values above: OpenTelemetry's deprecated ones (`publish` became `send`, `deliver`
# became `process`), what brokers and libraries say, and this console's own values before `messaging_operation`
# existed (`publish`, `request`).
MESSAGING_OPERATION_ALIASES = {
    "publish": MessagingOperation.SEND,
    "produce": MessagingOperation.SEND,
    "request": MessagingOperation.SEND,
    "deliver": MessagingOperation.PROCESS,
    "consume": MessagingOperation.PROCESS,
}


def messaging_operation_of(value: str) -> str:
    """The `messaging.operation.type` a name stands for, or "" when it names none (e.g. a business operation)."""
    text = value.strip().lower()
    if text in MessagingOperation.values:
        return text
    alias = MESSAGING_OPERATION_ALIASES.get(text)
    return str(alias) if alias else ""
