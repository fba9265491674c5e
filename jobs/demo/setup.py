"""The demo's database side: namespaces, jobs (with their kind, schedule, owner and sampling rate) and tokens."""

from __future__ import annotations

from django.db import transaction

from jobs.demo.runner import JOBS
from jobs.models import ApiToken, Job, Namespace

NAMESPACES = {
    "shop": "The web shop: storefront, exports, inventory and order workers.",
    "payments": "Payments and ledger: migrations and reconciliation.",
}


def has_data() -> bool:
    return Job.objects.exists()


@transaction.atomic
def prepare() -> dict[str, str]:
    """Create (or update) the demo's namespaces and jobs; issue one ingest+read token per namespace."""
    namespaces = {}
    for name, description in NAMESPACES.items():
        namespaces[name], _ = Namespace.objects.get_or_create(name=name, defaults={"description": description})
    for spec in JOBS:
        Job.objects.update_or_create(
            namespace=namespaces[spec.namespace],
            name=spec.name,
            defaults={
                "kind": spec.kind,
                "schedule": spec.schedule,
                "owner": spec.owner,
                "description": spec.description,
                "sample_rate": spec.sample_rate,
            },
        )
    return {name: ApiToken.issue(ns, ["ingest", "read"], name="demo")[1] for name, ns in namespaces.items()}
