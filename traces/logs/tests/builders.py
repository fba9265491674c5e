"""ExportLogsServiceRequest bodies for the tests, built with the OpenTelemetry protobuf classes, and the OTLP/JSON
example of the opentelemetry-proto repository (examples/logs.json), as the specification writes it."""

from __future__ import annotations

from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

TRACE = "5b8efff798038103d269b633813fc60c"
SPAN = "eee19b7ec3c1b174"

# opentelemetry-proto/examples/logs.json (v1.5.0), one record whose body and attributes use every AnyValue kind.
SPEC_EXAMPLE: dict[str, Any] = {
    "resourceLogs": [
        {
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "my.service"}}]},
            "scopeLogs": [
                {
                    "scope": {
                        "name": "my.library",
                        "version": "1.0.0",
                        "attributes": [{"key": "my.scope.attribute", "value": {"stringValue": "some scope attribute"}}],
                    },
                    "logRecords": [
                        {
                            "timeUnixNano": "1544712660300000000",
                            "observedTimeUnixNano": "1544712660300000000",
                            "severityNumber": 10,
                            "severityText": "Information",
                            "traceId": TRACE,
                            "spanId": SPAN,
                            "body": {"stringValue": "Example log record"},
                            "attributes": [
                                {"key": "string.attribute", "value": {"stringValue": "some string"}},
                                {"key": "boolean.attribute", "value": {"boolValue": True}},
                                {"key": "int.attribute", "value": {"intValue": "10"}},
                                {"key": "double.attribute", "value": {"doubleValue": 637.704}},
                                {
                                    "key": "array.attribute",
                                    "value": {
                                        "arrayValue": {"values": [{"stringValue": "many"}, {"stringValue": "values"}]}
                                    },
                                },
                                {
                                    "key": "map.attribute",
                                    "value": {
                                        "kvlistValue": {
                                            "values": [{"key": "some.map.key", "value": {"stringValue": "some value"}}]
                                        }
                                    },
                                },
                            ],
                        }
                    ],
                }
            ],
        }
    ]
}


def kv(key: str, value: Any) -> KeyValue:
    return KeyValue(key=key, value=any_value(value))


def any_value(value: Any) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, bytes):
        return AnyValue(bytes_value=value)
    if isinstance(value, list):
        out = AnyValue()
        out.array_value.values.extend(any_value(v) for v in value)
        return out
    if isinstance(value, dict):
        out = AnyValue()
        out.kvlist_value.values.extend(kv(k, v) for k, v in value.items())
        return out
    return AnyValue(string_value=str(value))


def request(records: list[dict[str, Any]], service: str = "billing", resource: dict[str, Any] | None = None) -> bytes:
    """One resource and scope holding `records`: dicts of LogRecord fields (body/attributes as Python values)."""
    req = ExportLogsServiceRequest()
    rl = req.resource_logs.add()
    rl.resource.attributes.extend(kv(k, v) for k, v in {"service.name": service, **(resource or {})}.items())
    sl = rl.scope_logs.add()
    sl.scope.name = "jobtrace.tests"
    sl.scope.version = "1.0"
    for fields in records:
        r = sl.log_records.add()
        for name, value in fields.items():
            if name == "body":
                r.body.CopyFrom(any_value(value))
            elif name == "attributes":
                r.attributes.extend(kv(k, v) for k, v in value.items())
            elif name in ("trace_id", "span_id"):
                setattr(r, name, bytes.fromhex(value))
            else:
                setattr(r, name, value)
    return req.SerializeToString()


def line(text: str, time_ns: int, severity: int = 9, **fields: Any) -> dict[str, Any]:
    return {"body": text, "time_unix_nano": time_ns, "severity_number": severity, **fields}
