"""`python manage.py demo`: real workloads through the SDK and the real OTLP exporter against the console.

See jobs/demo/runner.py for the scenarios and docs/instrumentation.md for the conventions they follow.
"""
