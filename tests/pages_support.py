"""Shared by the console page tests: a signed-in client and a switch that stubs other features' template tags.

The job, execution, shard and trace pages include template tags owned by other features (sampling, alerts,
causality).
Their queries are theirs to pin; `own_queries_only` swaps those tags for empty ones so the counts pinned here are
the page's own.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from django import template
from django.template import engines

FEATURE_TAGS = {
    "jobs.sampling.tags": ["sampling_policy"],
    "jobs.alerts.tags": ["execution_alerts"],
    "jobs.causality.tags": ["causality_panel", "propagation_health", "trace_causality"],
    "jobs.compare.tags": ["run_against_usual", "usual_of_jobs", "slower_than_usual"],
}
# Every signed-in page request costs: the session, the user, and the caller's memberships (Access.of).
AUTH = 3


def _reset_template_caches() -> None:
    for loader in engines["django"].engine.template_loaders:
        if hasattr(loader, "reset"):
            loader.reset()


class _Empty(template.Node):
    def render(self, context: template.Context) -> str:
        return ""


def _empty_tag(parser: template.base.Parser, token: template.base.Token) -> template.Node:
    return _Empty()


@pytest.fixture
def own_queries_only(monkeypatch) -> Iterator[None]:
    import importlib

    for module_name, names in FEATURE_TAGS.items():
        library = importlib.import_module(module_name).register
        for name in names:
            monkeypatch.setitem(library.tags, name, _empty_tag)
    _reset_template_caches()
    yield
    monkeypatch.undo()
    _reset_template_caches()


def text_of(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


@pytest.fixture(autouse=False)
def fast_passwords(settings) -> None:
    """Personas are created with a password; a cheap hasher keeps the page tests fast on a busy machine."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
