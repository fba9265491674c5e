"""Retention: how long each namespace keeps spans (and logs) and records, and `manage.py prune`, which applies it."""
