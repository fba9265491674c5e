"""The demo's workloads: real code, the real SDK and the real OTLP exporter, on simulated clocks.

Scenarios (DESIGN.md "Scenarios the product must reproduce"):
- shop/nightly-export: under 5 s every night until ServiceApplication's `userInfoSave` gets slow, then over 15 s.
- payments/account-migration: a MapReduce batch (one trace per shard, linked to the execution span); the shard
  for account 1000002 fails with a field-length validation error raised in account-service.
- shop/inventory-sync: an HTTP-triggered task against inventory-service, a local HTTP service with no SDK whose
  spans join the trace; its customer traffic is told apart by baggage.
- shop/order-fulfilment and shop/send-order-confirmation: POST /orders publishes `order.created`; a worker
  consumes it later and runs a job, which publishes `order.fulfilled`, which runs another job.
- healthy background jobs around them: cache-warmup (sampled at 10 %), search-reindex, ledger-reconcile (with a
  timed-out attempt and its successful retry).

Everything is deterministic for a seed and a scale; only "now" (the end of the history) moves.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import requests
from jobtrace_sdk import HttpTaskRunner, Jobtrace, SimClock, inject_headers, new_envelope
from jobtrace_sdk.clock import rfc3339, to_ns
from opentelemetry.trace import SpanKind, Status, StatusCode

from jobs.demo.http_service import serve_inventory

logger = logging.getLogger("jobtrace.demo")

SHOP, PAYMENTS = "shop", "payments"
FAILING_ACCOUNT = 1000002


@dataclass(frozen=True)
class Scale:
    days: int
    regression_days: int  # the last nights on which userInfoSave is slow
    migration_shards: int  # shards of the failing run
    migration_history: tuple[int, ...]  # shards of earlier, healthy runs
    orders_per_day: int
    inventory_every_hours: int
    cache_every_hours: int
    reindex_every_hours: int
    user_requests_per_day: int


SCALES = {
    "small": Scale(
        days=4,
        regression_days=2,
        migration_shards=24,
        migration_history=(8,),
        orders_per_day=1,
        inventory_every_hours=24,
        cache_every_hours=12,
        reindex_every_hours=24,
        user_requests_per_day=1,
    ),
    "full": Scale(
        days=28,
        regression_days=4,
        migration_shards=2500,
        migration_history=(100, 100, 100),
        orders_per_day=4,
        inventory_every_hours=6,
        cache_every_hours=1,
        reindex_every_hours=4,
        user_requests_per_day=6,
    ),
}


@dataclass(frozen=True)
class JobSpec:
    namespace: str
    name: str
    kind: str
    schedule: str
    owner: str
    description: str
    sample_rate: float = 1.0


JOBS = [
    JobSpec(SHOP, "nightly-export", "standalone", "0 2 * * *", "team-shop",
            "Exports yesterday's orders and refreshes customer profiles in ServiceApplication."),
    JobSpec(PAYMENTS, "account-migration", "sharded", "0 3 * * 1", "team-payments",
            "MapReduce migration of legacy accounts to the new ledger: one shard per account."),
    JobSpec(SHOP, "inventory-sync", "http", "0 */6 * * *", "team-inventory",
            "Calls inventory-service's /tasks/inventory-sync (a C++ service without the SDK)."),
    JobSpec(SHOP, "order-fulfilment", "standalone", "on order.created", "team-shop",
            "Runs when an order.created message is consumed; publishes order.fulfilled."),
    JobSpec(SHOP, "send-order-confirmation", "standalone", "on order.fulfilled", "team-shop",
            "Sends the confirmation e-mail for a fulfilled order."),
    JobSpec(SHOP, "cache-warmup", "broadcast", "0 * * * *", "team-shop",
            "Warms the product page cache every hour. Sampled at 10 %.", sample_rate=0.1),
    JobSpec(SHOP, "search-reindex", "standalone", "0 */4 * * *", "team-search",
            "Rebuilds the product search index."),
    JobSpec(PAYMENTS, "ledger-reconcile", "sharded", "0 1 * * *", "team-payments",
            "Reconciles the ledger against the bank statements, one shard per currency."),
]  # fmt: skip


class FieldLengthValidationError(ValueError):
    """Raised by account-service when a field does not fit its column."""


class RemoteCallError(RuntimeError):
    """What a caller raises when a downstream service answered with an error."""


def validate_account_fields(account: dict[str, str]) -> None:
    limits = {"display_name": 64, "email": 254, "iban": 34}
    for name, limit in limits.items():
        if len(account.get(name, "")) > limit:
            raise FieldLengthValidationError(
                f"field '{name}' is {len(account[name])} characters long; "
                f"column accounts.{name} allows at most {limit} (account {account['id']})"
            )


@dataclass
class DemoResult:
    executions: int = 0
    shards: int = 0
    messages: int = 0
    urls: dict[str, str] = field(default_factory=dict)
    dropped_records: int = 0


class Demo:
    def __init__(
        self,
        base_url: str,
        tokens: dict[str, str],
        *,
        seed: int = 42,
        scale: str = "full",
        end: datetime | None = None,
        log: Callable[[str], None] = logger.info,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.tokens = tokens
        self.seed = seed
        self.scale = SCALES[scale]
        now = end or datetime.now(UTC)
        self.end = now.replace(minute=0, second=0, microsecond=0)
        self.start = (self.end - timedelta(days=self.scale.days)).replace(hour=0)
        self.log = log
        self.result = DemoResult()
        self._clients: list[Jobtrace] = []

    # --- plumbing -------------------------------------------------------------------------------------------

    def _rng(self, name: str) -> random.Random:
        return random.Random(f"{self.seed}:{name}")

    def _client(self, namespace: str, service: str, clock: SimClock) -> Jobtrace:
        jt = Jobtrace(
            url=self.base_url,
            token=self.tokens[namespace],
            namespace=namespace,
            service_name=service,
            worker=f"{service}-{1 + len(self._clients) % 3}",
            clock=clock,
            seed=self._rng(f"ids:{namespace}:{service}").getrandbits(64),
            resource_attributes={"deployment.environment.name": "demo"},
            record_timeout=60.0,
            policy_timeout=60.0,
            policy_ttl=1e9,
            export_timeout=60.0,
            max_queue_size=1_000_000,
            max_export_batch_size=1000,
            compress_spans=False,
        )
        self._clients.append(jt)
        return jt

    def _finish(self) -> None:
        for jt in self._clients:
            if not jt.flush(timeout=300):
                logger.warning("demo: %s did not flush within 300 s", jt.name)
            self.result.dropped_records += jt.records.stats.dropped
            jt.shutdown(timeout=5)
        self._clients.clear()

    def _days(self) -> Iterator[datetime]:
        day = self.start
        while day < self.end:
            yield day
            day += timedelta(days=1)

    def _every(self, hours: int, offset: timedelta = timedelta()) -> Iterator[datetime]:
        at = self.start + offset
        while at < self.end:
            yield at
            at += timedelta(hours=hours)

    def _uuid(self, rng: random.Random) -> str:
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))

    def _count(self, executions: int = 0, shards: int = 0, messages: int = 0) -> None:
        self.result.executions += executions
        self.result.shards += shards
        self.result.messages += messages

    # --- the run --------------------------------------------------------------------------------------------

    def run(self) -> DemoResult:
        for scenario in (
            self.nightly_export,
            self.account_migration,
            self.inventory_sync,
            self.order_workflow,
            self.background_jobs,
        ):
            began = time.monotonic()
            try:
                scenario()
            finally:
                self._finish()
            self.log(f"demo: {scenario.__name__.replace('_', ' ')} ({time.monotonic() - began:.1f} s)")
        return self.result

    # --- 1. latency regression ----------------------------------------------------------------------------------

    def nightly_export(self) -> None:
        rng = self._rng("nightly")
        clock = SimClock(self.start)
        jt = self._client(SHOP, "export-worker", clock)
        app = jt.service("ServiceApplication")
        slow_from = self.end - timedelta(days=self.scale.regression_days)
        runs: list[tuple[datetime, str]] = [(day + timedelta(hours=2), "scheduled") for day in self._days()]
        # On the first slow morning someone re-runs it by hand to see whether it was a fluke.
        first_slow = next((at for at, _ in runs if at >= slow_from), None)
        if first_slow is not None:
            runs.append((first_slow + timedelta(hours=7, minutes=31), "manual"))
            runs.sort()
        for at, trigger in runs:
            if at >= self.end:
                continue
            clock.set(at + timedelta(seconds=rng.randrange(2, 40)))
            slow = at >= slow_from
            suffix = "-manual" if trigger == "manual" else ""
            execution_id = f"nightly-export-{at:%Y%m%d}{suffix}"
            with jt.execution(
                "nightly-export",
                execution_id=execution_id,
                trigger=trigger,
                scheduled_at=to_ns(at) if trigger == "scheduled" else None,
                params={"date": f"{at - timedelta(days=1):%Y-%m-%d}", "format": "parquet"},
            ) as run:
                clock.advance(0.03)
                with jt.span("load orders"), jt.span("SELECT orders", kind=SpanKind.CLIENT, attributes=_db("SELECT")):
                    clock.advance(rng.uniform(0.25, 0.7))
                for n in range(3):
                    user_id = 40_000 + rng.randrange(9_000)
                    with jt.span(
                        "POST /users/save", kind=SpanKind.CLIENT, attributes=_http("POST", "service-application")
                    ):
                        headers = inject_headers()
                        clock.advance(0.004)
                        with app.server_span(
                            "POST /users/save", headers, attributes={"http.route": "/users/save"}
                        ) as server:
                            with app.span(
                                "userInfoSave",
                                attributes={
                                    "code.function": "UserService.userInfoSave",
                                    "user.id": user_id,
                                    "batch.position": n,
                                },
                            ):
                                clock.advance(0.01)
                                with app.span("INSERT user_info", kind=SpanKind.CLIENT, attributes=_db("INSERT")):
                                    clock.advance(rng.uniform(0.02, 0.06))
                                # The regression: profile merging in userInfoSave itself, after the insert.
                                clock.advance(rng.uniform(4.9, 5.6) if slow else rng.uniform(0.15, 0.35))
                            server.set_attribute("http.response.status_code", 200)
                            clock.advance(0.002)
                        clock.advance(0.003)
                with jt.span("write export file", attributes={"file.size": rng.randrange(2, 9) * 1_000_000}):
                    clock.advance(rng.uniform(0.3, 0.8))
            self._count(executions=1)
            if slow and trigger == "scheduled":
                self.result.urls.setdefault("slow_execution", f"/jobs/{SHOP}/nightly-export/runs/{run.execution_id}/")

    # --- 2. failing shard ----------------------------------------------------------------------------------------

    def account_migration(self) -> None:
        rng = self._rng("migration")
        clock = SimClock(self.start)
        jt = self._client(PAYMENTS, "migration-worker", clock)
        accounts = jt.service("account-service")
        # The worker's own log lines, exported as the shard's logs (the failing shard's last lines say why).
        worker_log = logging.getLogger("jobtrace.demo.account-migration")
        worker_log.propagate = False
        worker_log.setLevel(logging.INFO)
        if jt.log_handler is not None and jt.log_handler not in worker_log.handlers:
            worker_log.addHandler(jt.log_handler)
        runs: list[tuple[datetime, int, bool]] = []
        history = self.scale.migration_history
        for k, shards in enumerate(history):
            at = self.end - timedelta(days=7 * (len(history) - k), hours=self.end.hour) + timedelta(hours=3)
            runs.append((max(at, self.start + timedelta(hours=3)), shards, False))
        runs.append(
            (self.end - timedelta(days=1, hours=self.end.hour) + timedelta(hours=3), self.scale.migration_shards, True)
        )
        for number, (at, shards, incident) in enumerate(runs, start=1):
            clock.set(at)
            layout = "trace" if incident else "child"
            batch = "legacy-eu" if incident else f"pilot-{number}"
            with jt.execution(
                "account-migration",
                execution_id=f"account-migration-{at:%Y%m%d}",
                scheduled_at=to_ns(at),
                params={"batch": batch, "accounts": shards, "layout": layout},
            ) as run:
                first = 1_000_000 if incident else 2_000_000 + number * 10_000
                for i in range(shards):
                    account = first + i
                    record = {
                        "id": str(account),
                        "display_name": "x" * (72 if account == FAILING_ACCOUNT else rng.randrange(8, 40)),
                        "email": f"holder{account}@example.com",
                    }
                    with run.shard(
                        f"acct-{account}",
                        labels={"account": str(account), "region": ("eu-west", "eu-central")[i % 2]},
                        index=i,
                        layout=layout,
                        raise_errors=False,
                        span_name="migrate account",
                    ):
                        clock.advance(rng.uniform(0.01, 0.05))
                        worker_log.info("migrating account %s (batch %s)", account, batch)
                        try:
                            self._migrate_one(jt, accounts, clock, rng, record)
                        except Exception:
                            worker_log.exception(
                                "account %s: display_name has %d characters, the column holds 64; the account"
                                " service refused the row and the shard stops here",
                                account,
                                len(record["display_name"]),
                            )
                            raise
                        worker_log.info("account %s migrated", account)
                self._count(executions=1, shards=shards)
            if incident:
                self.result.urls["failing_execution"] = f"/jobs/{PAYMENTS}/account-migration/runs/{run.execution_id}/"
                self.result.urls["failing_shard"] = (
                    f"/jobs/{PAYMENTS}/account-migration/runs/{run.execution_id}/shards/acct-{FAILING_ACCOUNT}/"
                )

    def _migrate_one(self, jt: Jobtrace, accounts, clock: SimClock, rng: random.Random, record: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
        account = record["id"]
        with jt.span(
            f"PUT /accounts/{account}", kind=SpanKind.CLIENT, attributes=_http("PUT", "account-service")
        ) as client:
            headers = inject_headers()
            clock.advance(0.002)
            status, problem = 200, ""
            with accounts.server_span(
                f"PUT /accounts/{account}", headers, attributes={"http.route": "/accounts/{id}"}
            ) as server:
                try:
                    with accounts.span("AccountValidator.validate", attributes={"account.id": account}):
                        clock.advance(rng.uniform(0.002, 0.01))
                        validate_account_fields(record)
                except FieldLengthValidationError as exc:
                    status, problem = 422, f"FieldLengthValidationError: {exc}"
                    server.set_status(Status(StatusCode.ERROR, problem))
                else:
                    with accounts.span("UPDATE accounts", kind=SpanKind.CLIENT, attributes=_db("UPDATE")):
                        clock.advance(rng.uniform(0.005, 0.03))
                server.set_attribute("http.response.status_code", status)
                clock.advance(0.001)
            client.set_attribute("http.response.status_code", status)
            clock.advance(0.002)
            if status != 200:
                raise RemoteCallError(f"account-service answered {status} for account {account}: {problem}")

    # --- 3. HTTP-triggered task against a service without the SDK -----------------------------------------------

    def inventory_sync(self) -> None:
        rng = self._rng("inventory")
        clock = SimClock(self.start)
        jt = self._client(SHOP, "scheduler", clock)
        runner = HttpTaskRunner(jt, timeout=60)
        slots = list(self._every(self.scale.inventory_every_hours, timedelta(minutes=15)))
        failing = {len(slots) // 2} if slots else set()

        def advance_by_service(response: requests.Response) -> None:
            clock.advance(int(response.headers.get("X-Demo-Elapsed-Ns", "0")) / 1e9 + 0.002)

        with serve_inventory(f"{self.base_url}/v1/traces", self.tokens[SHOP]) as (service_url, service):
            for n, at in enumerate(slots):
                clock.set(at + timedelta(seconds=rng.randrange(1, 20)))
                headers = {"X-Demo-Clock-Ns": str(clock.now_ns() + 1_000_000)}
                if n in failing:
                    headers["X-Demo-Fail"] = "warehouse-timeout"
                runner.run(
                    "inventory-sync",
                    f"{service_url}/tasks/inventory-sync",
                    json={"warehouse": "eu-1"},
                    headers=headers,
                    on_response=advance_by_service,
                    execution_id=f"inventory-sync-{at:%Y%m%d-%H%M}",
                    scheduled_at=to_ns(at),
                )
                self._count(executions=1)
            # Customers hit the same service all day: no baggage, so it is user traffic.
            for day in self._days():
                for _ in range(self.scale.user_requests_per_day):
                    at = day + timedelta(minutes=rng.randrange(8 * 60, 22 * 60))
                    if at >= self.end:
                        continue
                    sku = f"sku-{rng.randrange(1000, 9999)}"
                    requests.get(f"{service_url}/stock/{sku}", headers={"X-Demo-Clock-Ns": str(to_ns(at))}, timeout=60)
        self.result.urls["http_task"] = f"/jobs/{SHOP}/inventory-sync/"
        logger.info(
            "inventory-service saw %d scheduler calls and %d user calls", service.scheduler_calls, service.user_calls
        )

    # --- 4. asynchronous cause -----------------------------------------------------------------------------------

    def order_workflow(self) -> None:
        rng = self._rng("orders")
        clock = SimClock(self.start)
        fulfilment = self._client(SHOP, "fulfilment-worker", clock)
        notifications = self._client(SHOP, "notification-worker", clock)
        storefront = fulfilment.service("storefront")
        orders: list[datetime] = []
        for day in self._days():
            for _ in range(self.scale.orders_per_day):
                orders.append(day + timedelta(minutes=rng.randrange(9 * 60, 21 * 60)))
        for at in sorted(orders):
            if at >= self.end:
                continue
            clock.set(at)
            order_id = rng.randrange(500_000, 999_999)
            request_id = f"req-{rng.getrandbits(48):012x}"
            tenant = rng.choice(["acme-store", "globex-outlet"])
            with storefront.span(
                "POST /orders",
                kind=SpanKind.SERVER,
                attributes={
                    "http.route": "/orders",
                    "request.id": request_id,
                    "tenant.id": tenant,
                    "order.id": order_id,
                },
            ):
                with storefront.span("INSERT orders", kind=SpanKind.CLIENT, attributes=_db("INSERT")):
                    clock.advance(rng.uniform(0.005, 0.02))
                with storefront.span("orders publish", kind=SpanKind.PRODUCER, attributes=_queue("orders")) as producer:
                    created = new_envelope(
                        "order.created",
                        cause=request_id,
                        tenant_id=tenant,
                        payload={"order_id": order_id},
                        published_at=rfc3339(clock.now_ns()),
                        producer_service="storefront",
                        message_id=self._uuid(rng),
                    )
                    producer.set_attributes(created.span_attributes())
                    clock.advance(0.003)
            fulfilment.publish(created)
            clock.advance(rng.uniform(20, 240))  # waiting in the queue
            created_consumed_at = rfc3339(clock.now_ns())
            with fulfilment.execution(
                "order-fulfilment",
                execution_id=f"fulfil-{order_id}",
                trigger="event",
                envelope=created,
                params={"order_id": order_id},
            ):
                with fulfilment.span("reserve stock", attributes={"order.id": order_id}):
                    clock.advance(rng.uniform(0.05, 0.2))
                with fulfilment.span(
                    "POST /charges", kind=SpanKind.CLIENT, attributes=_http("POST", "payments-gateway")
                ):
                    clock.advance(rng.uniform(0.3, 0.9))
                with fulfilment.span("orders publish", kind=SpanKind.PRODUCER, attributes=_queue("orders")) as producer:
                    fulfilled = new_envelope(
                        "order.fulfilled",
                        cause=created,
                        payload={"order_id": order_id},
                        published_at=rfc3339(clock.now_ns()),
                        producer_service="fulfilment-worker",
                        message_id=self._uuid(rng),
                    )
                    producer.set_attributes(fulfilled.span_attributes())
                    clock.advance(0.002)
            fulfilment.publish(created.consumed(created_consumed_at, "fulfilment-worker"))
            fulfilment.publish(fulfilled)
            clock.advance(rng.uniform(2, 30))
            fulfilled_consumed_at = rfc3339(clock.now_ns())
            with notifications.execution(
                "send-order-confirmation",
                execution_id=f"confirm-{order_id}",
                trigger="event",
                envelope=fulfilled,
                params={"order_id": order_id},
            ):
                with notifications.span("render confirmation e-mail"):
                    clock.advance(rng.uniform(0.02, 0.08))
                with notifications.span(
                    "POST smtp-relay /send", kind=SpanKind.CLIENT, attributes=_http("POST", "smtp-relay")
                ):
                    clock.advance(rng.uniform(0.1, 0.4))
            notifications.publish(fulfilled.consumed(fulfilled_consumed_at, "notification-worker"))
            self._count(executions=2, messages=2)
            self.result.urls.setdefault("correlation", f"/correlations/{request_id}/")

    # --- 5. the healthy background ---------------------------------------------------------------------------------

    def background_jobs(self) -> None:
        rng = self._rng("background")
        clock = SimClock(self.start)
        shop = self._client(SHOP, "batch-worker", clock)
        payments = self._client(PAYMENTS, "ledger-worker", clock)
        slots = list(self._every(self.scale.cache_every_hours, timedelta(minutes=5)))
        for n, at in enumerate(slots):
            clock.set(at + timedelta(seconds=rng.randrange(0, 10)))
            manual = n == len(slots) // 3
            with shop.execution(
                "cache-warmup",
                execution_id=f"cache-warmup-{at:%Y%m%d-%H%M}",
                trigger="manual" if manual else "scheduled",
                scheduled_at=None if manual else to_ns(at),
            ):
                with shop.span("render product pages", attributes={"pages": 200}):
                    clock.advance(rng.uniform(3, 9))
                with shop.span("MSET product:*", kind=SpanKind.CLIENT, attributes={"db.system": "redis"}):
                    clock.advance(rng.uniform(0.1, 0.4))
            self._count(executions=1)
        for at in self._every(self.scale.reindex_every_hours, timedelta(minutes=30)):
            clock.set(at + timedelta(seconds=rng.randrange(0, 10)))
            with shop.execution(
                "search-reindex", execution_id=f"search-reindex-{at:%Y%m%d-%H%M}", scheduled_at=to_ns(at)
            ):
                with shop.span("read catalog", attributes=_db("SELECT")):
                    clock.advance(rng.uniform(1, 3))
                with shop.span("POST /_bulk", kind=SpanKind.CLIENT, attributes=_http("POST", "elasticsearch")):
                    clock.advance(rng.uniform(4, 12))
            self._count(executions=1)
        days = list(self._days())
        flaky_day = days[len(days) // 2] if days else None
        for day in days:
            at = day + timedelta(hours=1)
            if at >= self.end:
                continue
            attempts = 2 if day == flaky_day else 1
            for attempt in range(1, attempts + 1):
                if attempt == 2:
                    clock.advance(600)
                else:
                    clock.set(at)
                failing_attempt = attempts == 2 and attempt == 1
                with payments.execution(
                    "ledger-reconcile",
                    execution_id=f"ledger-reconcile-{day:%Y%m%d}" + (f"-a{attempt}" if attempt > 1 else ""),
                    trigger="retry" if attempt > 1 else "scheduled",
                    attempt=attempt,
                    scheduled_at=to_ns(at),
                    params={"date": f"{day - timedelta(days=1):%Y-%m-%d}"},
                ) as run:
                    for index, currency in enumerate(("EUR", "USD", "GBP")):
                        with run.shard(
                            f"{currency.lower()}", labels={"currency": currency}, index=index, raise_errors=False
                        ):
                            with payments.span(
                                "download statement", kind=SpanKind.CLIENT, attributes=_http("GET", "bank-gateway")
                            ):
                                if failing_attempt and currency == "USD":
                                    clock.advance(30)
                                    raise TimeoutError("bank-gateway statement download timed out after 30 s")
                                clock.advance(rng.uniform(0.5, 2))
                            with payments.span("match entries", attributes={"currency": currency}):
                                clock.advance(rng.uniform(1, 4))
                self._count(executions=1, shards=3)


def _db(operation: str) -> dict[str, str]:
    return {"db.system": "postgresql", "db.operation.name": operation}


def _http(method: str, host: str) -> dict[str, str]:
    return {"http.request.method": method, "server.address": host}


def _queue(name: str) -> dict[str, str]:
    return {"messaging.system": "rabbitmq", "messaging.destination.name": name, "messaging.operation.type": "publish"}
