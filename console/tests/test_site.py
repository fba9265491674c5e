"""What every page shares that is not a page: the favicon, the API docs in the navigation, the schema in a browser."""

from __future__ import annotations

import pytest
from django.contrib.staticfiles import finders

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def test_the_favicon_answers_and_every_page_names_it(client, owner):
    """/favicon.ico was a 404 on every page."""
    response = client.get("/favicon.ico")
    assert response.status_code == 301
    assert response["Location"] == "/static/console/favicon.svg"
    icon = finders.find("console/favicon.svg")
    assert icon
    with open(icon, encoding="utf-8") as f:
        assert f.read().startswith("<svg")
    client.force_login(owner)
    for page in ("/", "/traces/", "/alerts/", "/accounts/login/"):
        assert (
            '<link rel="icon" href="/static/console/favicon.svg" type="image/svg+xml">'
            in client.get(page).content.decode()
        )


def test_the_navigation_links_the_api_docs(client, owner):
    client.force_login(owner)
    page = client.get("/").content.decode()
    assert '<a href="/api/v1/docs"' in page
    assert client.get("/api/v1/docs").status_code == 200


def test_the_schema_opened_in_a_browser_is_shown_not_downloaded(client):
    browser = client.get("/api/v1/schema", HTTP_ACCEPT="text/html,application/xhtml+xml,*/*;q=0.8")
    assert browser.status_code == 200
    assert browser["Content-Type"] == "text/yaml; charset=utf-8"
    assert browser.content.startswith(b"openapi: 3")
    # API clients get what they got before; JSON on request.
    assert client.get("/api/v1/schema", HTTP_ACCEPT="*/*")["Content-Type"].startswith("application/vnd.oai.openapi")
    assert client.get("/api/v1/schema?format=json").json()["openapi"].startswith("3")


def test_ensure_admin_points_at_the_saved_password_on_every_run(settings, tmp_path, monkeypatch):
    """The second `make run` said only "Admin login exists"; it now says how to sign in."""
    import io

    from django.core.management import call_command

    settings.VAR_DIR = tmp_path
    monkeypatch.setenv("JOBTRACE_ADMIN_PASSWORD", "pw-local-admin-1")
    first, again = io.StringIO(), io.StringIO()
    call_command("ensure_admin", "--url", "http://127.0.0.1:8000/", stdout=first)
    call_command("ensure_admin", "--url", "http://127.0.0.1:8000/", stdout=again)
    assert "pw-local-admin-1" in first.getvalue()
    line = again.getvalue().strip()
    assert line.startswith("Admin login exists. Sign in at http://127.0.0.1:8000/ as 'admin'")
    assert "'pw-local-admin-1'" in line
    assert str(tmp_path / "admin-password.txt") in line


def test_make_run_prints_the_sign_in_line_last_once_the_server_listens(settings, tmp_path):
    """`runserver --sign-in` (what `make run` calls last) ends its start-up output with the sign-in line."""
    import io
    from pathlib import Path

    from console.management.commands.runserver import Command

    settings.VAR_DIR = tmp_path
    (tmp_path / "admin-password.txt").write_text("admin\npw-saved-1\n")
    out = io.StringIO()
    command = Command(stdout=out)
    command.addr, command.port, command._raw_ipv6, command.protocol = "127.0.0.1", "8000", False, "http"
    command.sign_in = True
    command.on_bind(8000)
    lines = [line for line in out.getvalue().splitlines() if line.strip()]
    assert "Starting development server at http://127.0.0.1:8000/" in out.getvalue()
    assert lines[-1].endswith(f"Sign in at http://127.0.0.1:8000/ as 'admin' with password 'pw-saved-1' (saved in "
                              f"{tmp_path / 'admin-password.txt'}).")  # fmt: skip
    makefile = (Path(__file__).resolve().parents[2] / "Makefile").read_text()
    run = makefile[makefile.index("\nrun:") :].split("\n\n")[0]
    assert run.strip().splitlines()[-1].strip().startswith("$(PY) manage.py runserver --sign-in")
