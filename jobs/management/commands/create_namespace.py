from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.validators import validate_slug

from jobs.models import Namespace


class Command(BaseCommand):
    help = "Create a namespace (the tenant boundary). Does nothing if it exists."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument("--description", default="")

    def handle(self, *args: Any, **options: Any) -> None:
        name = options["name"]
        try:
            validate_slug(name)
        except ValidationError:
            raise CommandError(f"{name!r} is not a valid namespace name (letters, digits, - and _)") from None
        namespace, created = Namespace.objects.get_or_create(
            name=name, defaults={"description": options["description"]}
        )
        self.stdout.write(f"{'created' if created else 'exists'}: namespace {namespace.name}")
