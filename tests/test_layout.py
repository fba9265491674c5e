"""The layout's rules (docs/architecture.md): module size, the direction of imports, and routes in one list."""

from __future__ import annotations

import ast
from pathlib import Path

from django.urls import URLPattern, URLResolver, get_resolver

ROOT = Path(__file__).resolve().parent.parent
APPS = ("console", "jobs", "traces")
MAX_LINES = 600
# Packages of jobs/ that belong to its core; every other package in jobs/ is a feature (jobs/alerts/, ...).
JOBS_CORE_PACKAGES = {"api", "demo", "management", "migrations", "tests"}
# Core modules allowed to name a feature: the app's wiring (post-store steps), model registration, admin.
# Wiring: what Django only finds in the app itself (its config, models, admin, and its management commands, which
# Django looks up in <app>/management/commands/ only: architecture.md names monitor.py as the schedules' command).
WIRING = {"jobs/apps.py", "jobs/models.py", "jobs/admin.py", "jobs/management/commands/monitor.py"}


def _modules(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py") if "migrations" not in p.parts)


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def _features() -> list[str]:
    return sorted(
        p.name
        for p in (ROOT / "jobs").iterdir()
        if p.is_dir() and (p / "__init__.py").exists() and p.name not in JOBS_CORE_PACKAGES
    )


def _names_a_feature(module: str) -> str | None:
    return next((f for f in _features() if module == f"jobs.{f}" or module.startswith(f"jobs.{f}.")), None)


def test_the_features_are_the_packages_of_jobs_outside_its_core():
    assert {"alerts", "causality", "sampling"} <= set(_features())
    assert not JOBS_CORE_PACKAGES & set(_features())


def test_no_module_passes_six_hundred_lines():
    sizes = {str(p.relative_to(ROOT)): len(p.read_text().splitlines()) for p in _modules(*APPS)}
    assert {path: n for path, n in sizes.items() if n > MAX_LINES} == {}, "split these by resource"


def test_traces_never_imports_a_feature_of_jobs():
    found = {
        str(p.relative_to(ROOT)): sorted(m for m in _imports(p) if _names_a_feature(m))
        for p in _modules("traces")
        if "tests" not in p.parts
    }
    assert {path: names for path, names in found.items() if names} == {}


def test_the_core_of_jobs_never_imports_its_features_but_to_wire_them():
    found = {}
    for p in _modules("jobs"):
        relative = p.relative_to(ROOT)
        # Management commands only call a feature (docs/architecture.md): `manage.py prune` calls jobs.retention.
        commands = relative.parts[1] == "management"
        if relative.parts[1] in _features() or "tests" in relative.parts or str(relative) in WIRING or commands:
            continue
        names = sorted(m for m in _imports(p) if _names_a_feature(m))
        if names:
            found[str(relative)] = names
    assert found == {}


def _own_url_module(resolver: URLResolver) -> bool:
    return getattr(resolver.urlconf_module, "__name__", "").split(".")[0] in APPS


def test_only_the_root_url_module_includes_and_every_module_it_includes_lists_paths_only():
    root = get_resolver()
    assert root.urlconf_name == "console.urls"
    included = [p for p in root.url_patterns if isinstance(p, URLResolver) and _own_url_module(p)]
    assert included, "console/urls.py mounts the apps' route modules"
    for resolver in included:
        nested = [p for p in resolver.url_patterns if not isinstance(p, URLPattern)]
        assert nested == [], f"{resolver.urlconf_module.__name__} includes {nested}: only console/urls.py includes"
        assert len(resolver.url_patterns) >= 1
