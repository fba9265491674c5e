"""The writers' locks (PostgreSQL): a transaction that stores spans, or records that spans may name, first locks the
trace, execution and shard ids it touches, so that two writers of one trace serialise and each recomputation sees the
other's rows (docs/traces.md, "Concurrent writers").

Transaction-level advisory locks, bounded per transaction whatever the request. PostgreSQL's lock table is shared by
the whole cluster and holds about max_locks_per_transaction (64) times max_connections (100) entries: one lock per id
ran out of it from about 13,000 ids in one request ("out of shared memory"), a 503 that every retry repeated. So the
ids of a namespace are hashed into LOCK_BUCKETS buckets and locked in two granularities:

- a write naming at most MAX_ID_LOCKS ids takes its buckets SHARE and then each id EXCLUSIVE: small writes only
  wait for writers of the same ids, as before;
- a larger write takes its buckets EXCLUSIVE and no id locks: at most LOCK_BUCKETS locks. It waits for every writer
  holding one of its buckets (small or large) and they wait for it, so large writes of one namespace mostly run
  one at a time (after parsing, which runs before the locks).

Any two writes touching one id conflict on something: two small ones on the id, any other pair on its bucket (SHARE
against EXCLUSIVE, or EXCLUSIVE against EXCLUSIVE). Every lock of a call is taken in one statement in one order,
buckets before ids, each by key, so calls cannot deadlock against one another. At most MAX_ID_LOCKS + LOCK_BUCKETS
locks per call (384), at most LOCK_BUCKETS for the largest request.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from django.db import connection

LOCK_BUCKETS = 128  # per namespace
MAX_ID_LOCKS = 256  # ids a write may lock one by one; beyond, it locks buckets

# One ordered stream of (kind, key): 0 = bucket SHARE, 1 = bucket EXCLUSIVE, 2 = id EXCLUSIVE; sorted buckets first
# (a call takes its buckets in one mode only), then ids. The keys travel as comma-separated text: psycopg's
# client-side array literal costs ~1 µs per element in Python.
_LOCK = """
SELECT count(CASE WHEN kind = 0 THEN pg_advisory_xact_lock_shared(key) ELSE pg_advisory_xact_lock(key) END)
FROM (
    SELECT %(bucket_kind)s AS kind, unnest(string_to_array(%(buckets)s, ','))::bigint AS key
    UNION ALL
    SELECT 2, unnest(string_to_array(%(ids)s, ','))::bigint
    ORDER BY 1, 2
) AS locks
"""


def lock(namespace_id: int, trace_ids: Iterable[str], execution_ids: Iterable[str], shard_ids: Iterable[str]) -> None:
    """PostgreSQL: serialise, until commit, the transactions that touch the same traces or name the same
    execution/shard ids of a namespace.

    Without it, two exporters sending spans of one trace at the same moment each recompute the summary from a
    snapshot missing the other's spans; and an execution committed while spans naming it are being stored would
    be missed by both sides' linking.
    """
    if connection.vendor != "postgresql":
        return  # SQLite serialises every write transaction anyway
    keys = {_key("t", namespace_id, t) for t in trace_ids}
    keys.update(_key("e", namespace_id, e) for e in execution_ids)
    keys.update(_key("s", namespace_id, s) for s in shard_ids)
    if not keys:
        return
    buckets = sorted({_key("b", namespace_id, str(k % LOCK_BUCKETS)) for k in keys})
    small = len(keys) <= MAX_ID_LOCKS
    with connection.cursor() as cursor:
        cursor.execute(
            _LOCK,
            {
                "bucket_kind": 0 if small else 1,
                "buckets": ",".join(map(str, buckets)),
                "ids": ",".join(map(str, sorted(keys))) if small else "",
            },
        )


def _key(kind: str, namespace_id: int, value: str) -> int:
    digest = hashlib.blake2b(f"jobtrace:{kind}:{namespace_id}:{value}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)
