#!/usr/bin/env python
"""Django's command-line utility for Jobtrace."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")
    # Commands may run long statements (migrate rewrites tables, prune drops partitions, import_traces stores big
    # files): no statement timeout unless one is asked for. The server's requests keep theirs (README).
    os.environ.setdefault("JOBTRACE_DB_STATEMENT_TIMEOUT_SECONDS", "0")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
