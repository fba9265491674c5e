"""Who may change a namespace's retention: its admins (and the superuser), as `Access` says."""

from __future__ import annotations

from django.http import HttpRequest

from jobs.auth import Access
from jobs.models import Namespace


def is_admin(request: HttpRequest, namespace: Namespace) -> bool:
    return namespace.pk in Access.of(request).administered
