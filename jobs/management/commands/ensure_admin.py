from __future__ import annotations

import os
import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser

from console.signin import admin_username, password_file, sign_in_line


class Command(BaseCommand):
    help = "Make sure a local admin login exists; print how to sign in the first time."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--url", default="http://127.0.0.1:8000/", help="where the console will be served")

    def handle(self, *args: Any, **options: Any) -> None:
        url = options["url"]
        User = get_user_model()
        username = admin_username()
        if User.objects.filter(username=username).exists():
            self.stdout.write(f"Admin login exists. {sign_in_line(url)}")
            return
        password = os.environ.get("JOBTRACE_ADMIN_PASSWORD") or secrets.token_urlsafe(12)
        User.objects.create_superuser(username=username, email="", password=password)
        path = password_file()
        path.parent.mkdir(exist_ok=True)
        path.write_text(f"{username}\n{password}\n")
        path.chmod(0o600)
        self.stdout.write(
            self.style.SUCCESS(
                f"Created the local admin login. Sign in at {url} as {username!r} "
                f"with password {password!r} (also saved in {path})."
            )
        )
