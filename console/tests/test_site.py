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
