"""Logs beside the trace: OTLP log records (POST /v1/logs), linked to executions and shards by the linking contract.

models.py (LogRecord), ingest.py (OTLP logs parsed into ParsedLog, pure), store.py (the one write path),
linking.py (the owner of each record: its span's, its trace's, or its job.* attributes'), queries.py, views.py +
urls.py (the /logs/ page and the receiver), api.py + api_urls.py, tags.py (logs on other pages), tests/.
"""
