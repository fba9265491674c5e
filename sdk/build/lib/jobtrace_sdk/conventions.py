"""Names the SDK writes: span attributes, baggage keys and envelope fields (docs/instrumentation.md)."""

from __future__ import annotations

# Span attributes (and resource attributes) that the console links by (DESIGN.md "Linking contract").
JOB_NAMESPACE = "job.namespace"
JOB_NAME = "job.name"
JOB_EXECUTION_ID = "job.execution.id"
JOB_SHARD_ID = "job.shard.id"
JOB_TRIGGER = "job.trigger"
JOB_ATTEMPT = "job.attempt"
# Business labels of a shard, one attribute per label: job.shard.label.account = "1000002".
JOB_SHARD_LABEL_PREFIX = "job.shard.label."
# Set on spans of calls that a scheduler originated ("scheduler") as opposed to user traffic ("user").
TRAFFIC_ORIGIN = "traffic.origin"
ORIGIN_SCHEDULER = "scheduler"
ORIGIN_USER = "user"

# The job attributes that also travel as W3C baggage, so downstream services can tell scheduler traffic apart.
BAGGAGE_KEYS = (JOB_NAMESPACE, JOB_NAME, JOB_EXECUTION_ID, JOB_SHARD_ID, JOB_TRIGGER, JOB_ATTEMPT)

# Messaging attributes the console reads from spans (DESIGN.md).
MESSAGE_ID = "messaging.message.id"
CORRELATION_ID = "messaging.message.conversation_id"
CAUSATION_ID = "causation_id"
TENANT_ID = "tenant.id"
EVENT_TYPE = "messaging.event_type"
MESSAGING_OPERATION = "messaging.operation.type"

# Whether the execution was sampled, on the (possibly non-recording) root span's record only.
SAMPLED = "job.sampled"

# The fields of an envelope that an execution record carries (DESIGN.md "Record fields").
ENVELOPE_RECORD_FIELDS = (
    "message_id",
    "correlation_id",
    "causation_id",
    "trace_id",
    "tenant_id",
    "event_type",
    "operation",
)
