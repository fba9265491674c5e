from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from jobs.choices import Scope
from jobs.models import ApiToken, Namespace


class Command(BaseCommand):
    help = "Create an API token for a namespace. The token is printed once, alone on the last line."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("namespace")
        parser.add_argument("--scopes", default="ingest,read", help="comma-separated: ingest, read")
        parser.add_argument("--name", default="", help="a label to recognise the token by")

    def handle(self, *args: Any, **options: Any) -> None:
        namespace = Namespace.objects.filter(name=options["namespace"]).first()
        if namespace is None:
            raise CommandError(
                f"namespace {options['namespace']!r} does not exist; create it with create_namespace first"
            )
        scopes = [s.strip() for s in options["scopes"].split(",") if s.strip()]
        unknown = sorted(set(scopes) - set(Scope.values))
        if unknown or not scopes:
            raise CommandError(f"unknown scopes {unknown or scopes}; choose from {', '.join(Scope.values)}")
        token, raw = ApiToken.issue(namespace, scopes, name=options["name"])
        self.stdout.write(
            f"token {token.hint}… for namespace {namespace.name} with scopes {','.join(token.scopes)} "
            "(shown once; store it now):"
        )
        self.stdout.write(raw)
