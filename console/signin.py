"""The local admin's sign-in line, which `make run` prints last, just before the console serves (and again on each
autoreload), so it is never lost among the demo's output: where to sign in, as whom, and the password, or where
it is kept."""

from __future__ import annotations

import os
from pathlib import Path

from django.conf import settings


def password_file() -> Path:
    return Path(settings.VAR_DIR) / "admin-password.txt"


def admin_username() -> str:
    return os.environ.get("JOBTRACE_ADMIN_USER", "admin")


def sign_in_line(url: str) -> str:
    """`Sign in at <url> as 'admin' with password '…' (saved in var/admin-password.txt)`, or, without that file,
    how to set a password."""
    username = admin_username()
    path = password_file()
    try:
        saved_user, saved_password = path.read_text().splitlines()[:2]
    except (OSError, ValueError):
        saved_user = saved_password = ""
    if saved_user == username and saved_password:
        return f"Sign in at {url} as {username!r} with password {saved_password!r} (saved in {path})."
    return (
        f"Sign in at {url} as {username!r} (no saved password in {path}; "
        f"set one with: python manage.py changepassword {username})."
    )
