"""The skeleton itself: settings from the environment, tokens, namespaces, constraints."""

from __future__ import annotations

import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import IntegrityError, transaction

from console.env import database_from_url, env_bool, env_int
from jobs.models import ApiToken, Job, Namespace
from tests import factories

ROOT = Path(__file__).resolve().parent.parent


def test_database_url_picks_postgresql_with_its_parts():
    db = database_from_url("postgres://app:s%40cret@db.example:6543/jobtrace?sslmode=require")
    assert db["ENGINE"] == "console.db"  # Django's PostgreSQL backend plus a deadline (console/db/base.py)
    assert (db["NAME"], db["USER"], db["PASSWORD"], db["HOST"], db["PORT"]) == (
        "jobtrace",
        "app",
        "s@cret",
        "db.example",
        "6543",
    )
    assert db["OPTIONS"]["sslmode"] == "require"


def test_database_url_with_an_unknown_scheme_fails_loudly():
    with pytest.raises(ImproperlyConfigured, match="mysql"):
        database_from_url("mysql://root@localhost/x")


def test_typed_helpers_refuse_bad_values(monkeypatch):
    monkeypatch.setenv("X_BOOL", "maybe")
    monkeypatch.setenv("X_INT", "ten")
    with pytest.raises(ImproperlyConfigured, match="X_BOOL"):
        env_bool("X_BOOL", False)
    with pytest.raises(ImproperlyConfigured, match="X_INT"):
        env_int("X_INT", 1)


def test_check_deploy_is_clean_with_production_values():
    # The browser tests' Playwright loop sets DJANGO_ALLOW_ASYNC_UNSAFE for this process; a deployment never does.
    inherited = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env = {
        **inherited,
        "DEBUG": "false",
        "SECRET_KEY": "a" * 20 + "-production-secret-with-enough-entropy-9f8e7d6c5b4a",
        "ALLOWED_HOSTS": "jobtrace.example.com",
        "SECURE_SSL_REDIRECT": "true",
        "SECURE_HSTS_SECONDS": "31536000",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
        "SECURE_HSTS_PRELOAD": "true",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.django_db
def test_tokens_are_stored_hashed_and_resolve_by_digest(ns):
    token, raw = ApiToken.issue(ns, ["read"])
    assert raw.startswith("jt_")
    assert raw not in token.digest
    assert ApiToken.objects.get(digest=ApiToken.digest_of(raw)) == token
    assert token.has_scope("read")
    assert not token.has_scope("ingest")


@pytest.mark.django_db
def test_create_token_prints_the_token_alone_on_its_last_line(ns):
    out = StringIO()
    call_command("create_token", ns.name, "--scopes", "ingest,read", stdout=out)
    raw = out.getvalue().strip().splitlines()[-1]
    assert raw.startswith("jt_")
    assert " " not in raw
    assert ApiToken.objects.get(digest=ApiToken.digest_of(raw)).scopes == ["ingest", "read"]


@pytest.mark.django_db
def test_create_namespace_is_idempotent():
    call_command("create_namespace", "billing", stdout=StringIO())
    call_command("create_namespace", "billing", stdout=StringIO())
    assert Namespace.objects.filter(name="billing").count() == 1


@pytest.mark.django_db
def test_a_job_name_is_unique_within_a_namespace_only(ns, other_ns):
    factories.job(ns, "nightly-export")
    factories.job(other_ns, "nightly-export")
    with pytest.raises(IntegrityError), transaction.atomic():
        Job.objects.create(namespace=ns, name="nightly-export")


@pytest.mark.django_db
def test_execution_and_shard_ids_are_unique_within_their_parent(ns):
    job = factories.job(ns)
    run = factories.execution(job, "42")
    factories.execution(factories.job(ns), "42")  # same id, other job: fine
    factories.shard(run, "0")
    with pytest.raises(IntegrityError), transaction.atomic():
        factories.execution(job, "42")
    with pytest.raises(IntegrityError), transaction.atomic():
        factories.shard(run, "0")


@pytest.mark.django_db
def test_sample_rate_is_held_between_zero_and_one(ns):
    with pytest.raises(IntegrityError), transaction.atomic():
        factories.job(ns, sample_rate=1.5)


def test_the_development_secret_key_is_refused_for_a_public_host():
    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DJANGO_ALLOW_ASYNC_UNSAFE"}}
    env["ALLOWED_HOSTS"] = "jobtrace.example.com"
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_cookies_are_secure_when_served_over_tls_and_plain_for_local_http():
    code = "from django.conf import settings; print(settings.SESSION_COOKIE_SECURE, settings.CSRF_COOKIE_SECURE)"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SESSION_COOKIE", "CSRF_COOKIE", "SECURE_SSL"))}
    local = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    tls = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env={**env, "BEHIND_TLS_PROXY": "true"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert local.stdout.splitlines()[-1].split() == ["False", "False"]
    assert tls.stdout.splitlines()[-1].split() == ["True", "True"]


def test_the_wsgi_application_tunes_the_garbage_collector_for_big_request_documents():
    """console/runtime.py: young-generation passes every 50,000 allocations, the loaded application frozen."""
    code = "import gc, console.wsgi; print(gc.get_threshold(), gc.get_freeze_count() > 10_000)"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=dict(os.environ), capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["(50000,", "20,", "20)", "True"]


@pytest.mark.django_db
def test_ensure_admin_creates_the_login_once_and_names_the_address_the_console_is_served_at(tmp_path, settings):
    settings.VAR_DIR = tmp_path
    first, again = StringIO(), StringIO()
    call_command("ensure_admin", "--url", "http://127.0.0.1:8799/", stdout=first)
    call_command("ensure_admin", "--url", "http://127.0.0.1:8799/", stdout=again)
    assert "Sign in at http://127.0.0.1:8799/ as 'admin'" in first.getvalue()
    assert "Admin login exists. Sign in at http://127.0.0.1:8799/ as 'admin' with password" in again.getvalue()
    username, password = (tmp_path / "admin-password.txt").read_text().split()
    assert get_user_model().objects.get(username=username).check_password(password)
