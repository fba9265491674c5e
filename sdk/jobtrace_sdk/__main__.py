"""`python -m jobtrace_sdk run ...`: the same as the `jobtrace` command."""

from jobtrace_sdk.cli import run

run()
