"""Login throttling (django-axes): after JOBTRACE_LOGIN_FAILURE_LIMIT wrong passwords for one account from one
address, even the right one is refused with 429 + Retry-After until the cool-off ends; other addresses, and the
account's owner elsewhere, are not locked out."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.test import Client

from tests import factories

PASSWORD = "pw-Jobtrace-1"  # tests/factories.user's
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def sign_in(client: Client, username: str, password: str, address: str = "127.0.0.1"):
    return client.post("/accounts/login/", {"username": username, "password": password}, REMOTE_ADDR=address)


def signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def test_wrong_passwords_lock_the_account_at_that_address_even_for_the_right_password(ns, settings):
    settings.AXES_FAILURE_LIMIT = 5
    owner = factories.user(ns, "admin", username="owner")
    attacker = Client()
    for _ in range(4):
        assert sign_in(attacker, owner.username, "guess").status_code == 200  # the form again, with its error
    locked = sign_in(attacker, owner.username, "guess")  # the fifth failure locks
    assert locked.status_code == 429
    refused = sign_in(attacker, owner.username, PASSWORD)
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) == int(settings.AXES_COOLOFF_TIME.total_seconds())
    assert not signed_in(attacker)
    # The owner signing in from elsewhere is not locked out by the attacker.
    elsewhere = Client()
    assert sign_in(elsewhere, owner.username, PASSWORD, address="127.0.0.2").status_code == 302
    assert signed_in(elsewhere)


def test_the_lockout_ends_after_the_cool_off(ns, settings):
    settings.AXES_FAILURE_LIMIT = 2
    settings.AXES_COOLOFF_TIME = timedelta(seconds=1)
    owner = factories.user(ns, "admin", username="owner")
    client = Client()
    for _ in range(2):
        sign_in(client, owner.username, "guess")
    assert sign_in(client, owner.username, PASSWORD).status_code == 429
    time.sleep(1.2)
    assert sign_in(client, owner.username, PASSWORD).status_code == 302
    assert signed_in(client)


def test_a_success_resets_the_count(ns, settings):
    settings.AXES_FAILURE_LIMIT = 3
    owner = factories.user(ns, "admin", username="owner")
    client = Client()
    for _ in range(2):
        sign_in(client, owner.username, "guess")
    assert sign_in(client, owner.username, PASSWORD).status_code == 302
    client.logout()
    for _ in range(2):
        assert sign_in(client, owner.username, "guess").status_code == 200
    assert sign_in(client, owner.username, PASSWORD).status_code == 302
