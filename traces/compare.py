"""Two traces compared operation by operation (pure: two `waterfall.build` results in, plain dataclasses out).

A span's *operation* is its service, its name with ids grouped (`PUT /accounts/{id}`, traces/names.py) and the
same for every ancestor up to the root: the path from the root. Spans of one operation are the repeated calls of
that step (2,500 shards' `migrate account {id}`), so they pair up however many there are and whatever ids they
carry. Per operation: how many spans each side has, their total duration and self time, their errors, and the
deltas; operations are sorted by their impact on the total, the absolute change of their self time (a parent that
only waited for a slower child changes its duration, not its self time, so the step that got slower comes first).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from traces.names import operation_name
from traces.waterfall import Waterfall


@dataclass
class Operation:
    """One operation (a path from the root) on both sides. `*_a` is the first trace (the baseline), `*_b` the
    second. `span_a`/`span_b`: the slowest span of the operation on that side (what a row links to)."""

    service: str
    name: str
    path: tuple[str, ...]  # the ancestors' "service: name", root first
    count_a: int = 0
    count_b: int = 0
    duration_a: int = 0
    duration_b: int = 0
    self_a: int = 0
    self_b: int = 0
    errors_a: int = 0
    errors_b: int = 0
    span_a: str = ""
    span_b: str = ""
    _slowest_a: int = -1
    _slowest_b: int = -1

    @property
    def label(self) -> str:
        return f"{self.service}: {self.name}"

    @property
    def depth(self) -> int:
        return len(self.path)

    @property
    def duration_delta(self) -> int:
        return self.duration_b - self.duration_a

    @property
    def self_delta(self) -> int:
        return self.self_b - self.self_a

    @property
    def only_in(self) -> str:
        """ "a" or "b" when only one side has spans of this operation, else ""."""
        if not self.count_a:
            return "b"
        if not self.count_b:
            return "a"
        return ""

    @property
    def errors_changed(self) -> bool:
        return self.errors_a != self.errors_b

    @property
    def impact(self) -> tuple[int, int]:
        return (abs(self.self_delta), abs(self.duration_delta))

    def as_dict(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "name": self.name,
            "path": list(self.path),
            "only_in": self.only_in or None,
            "a": {"count": self.count_a, "duration_ns": self.duration_a, "self_ns": self.self_a,
                  "errors": self.errors_a, "span_id": self.span_a or None},
            "b": {"count": self.count_b, "duration_ns": self.duration_b, "self_ns": self.self_b,
                  "errors": self.errors_b, "span_id": self.span_b or None},
            "duration_delta_ns": self.duration_delta,
            "self_delta_ns": self.self_delta,
        }  # fmt: skip


@dataclass(frozen=True)
class Side:
    spans: int
    errors: int
    duration_ns: int
    root: str  # "service: name" of the root span

    def as_dict(self) -> dict[str, Any]:
        return {"spans": self.spans, "errors": self.errors, "duration_ns": self.duration_ns, "root": self.root}


@dataclass
class Comparison:
    a: Side
    b: Side
    operations: list[Operation] = field(default_factory=list)  # by impact, largest first

    @property
    def duration_delta(self) -> int:
        return self.b.duration_ns - self.a.duration_ns

    @property
    def matched(self) -> list[Operation]:
        return [op for op in self.operations if not op.only_in]

    @property
    def only_in_a(self) -> list[Operation]:
        return [op for op in self.operations if op.only_in == "a"]

    @property
    def only_in_b(self) -> list[Operation]:
        return [op for op in self.operations if op.only_in == "b"]

    @property
    def error_changes(self) -> list[Operation]:
        return sorted(
            (op for op in self.operations if op.errors_changed),
            key=lambda op: (-abs(op.errors_b - op.errors_a), op.path, op.label),
        )

    @property
    def biggest(self) -> Operation | None:
        """The operation that changed the total most (the headline of a regression)."""
        return self.operations[0] if self.operations and any(self.operations[0].impact) else None

    def as_dict(self, limit: int | None = None) -> dict[str, Any]:
        ops = self.operations if limit is None else self.operations[:limit]
        return {
            "a": self.a.as_dict(),
            "b": self.b.as_dict(),
            "duration_delta_ns": self.duration_delta,
            "operation_count": len(self.operations),
            "operations": [op.as_dict() for op in ops],
            "only_in_a_count": len(self.only_in_a),
            "only_in_a": [op.as_dict() for op in self.only_in_a[:limit]],
            "only_in_b_count": len(self.only_in_b),
            "only_in_b": [op.as_dict() for op in self.only_in_b[:limit]],
            "error_change_count": len(self.error_changes),
            "error_changes": [op.as_dict() for op in self.error_changes[:limit]],
        }


def _side(wf: Waterfall) -> Side:
    root = wf.rows[0] if wf.rows else None
    return Side(
        spans=len(wf.rows),
        errors=sum(1 for r in wf.rows if r.is_error),
        duration_ns=wf.duration_ns if wf.rows else 0,
        root=f"{root.service}: {root.name}" if root is not None else "",
    )


def compare(a: Waterfall, b: Waterfall) -> Comparison:
    """Match the two traces' spans by operation (service, grouped name, path from the root) and sum each side."""
    keys: dict[tuple[int, str, str], int] = {}  # (parent operation id, service, grouped name) -> operation id
    ops: list[Operation] = []  # by operation id
    for side, wf in (("a", a), ("b", b)):
        op_of_row: list[int] = [0] * len(wf.rows)
        for i, r in enumerate(wf.rows):  # tree order: a parent's operation is known before its children's
            parent_op = op_of_row[r.parent_index] if r.parent_index is not None else -1
            name = operation_name(r.name)
            key = (parent_op, r.service, name)
            op_id = keys.get(key)
            if op_id is None:
                op_id = keys[key] = len(ops)
                parent = ops[parent_op] if parent_op >= 0 else None
                ops.append(Operation(r.service, name, (*parent.path, parent.label) if parent is not None else ()))
            op_of_row[i] = op_id
            op = ops[op_id]
            if side == "a":
                op.count_a += 1
                op.duration_a += r.duration_ns
                op.self_a += r.self_ns
                op.errors_a += r.is_error
                if r.duration_ns > op._slowest_a:
                    op._slowest_a, op.span_a = r.duration_ns, r.span_id
            else:
                op.count_b += 1
                op.duration_b += r.duration_ns
                op.self_b += r.self_ns
                op.errors_b += r.is_error
                if r.duration_ns > op._slowest_b:
                    op._slowest_b, op.span_b = r.duration_ns, r.span_id
    ordered = sorted(ops, key=lambda op: (-abs(op.self_delta), -abs(op.duration_delta), op.path, op.label))
    return Comparison(_side(a), _side(b), ordered)
