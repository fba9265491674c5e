"""gunicorn's settings for `make serve`, the benchmarks and the tests' live console (command-line flags and
GUNICORN_CMD_ARGS override them; WEB_CONCURRENCY sets the number of workers). docs/serving.md explains them.

Nothing from the project is imported here: gunicorn loads this file in the master, before the gevent worker
monkey-patches the standard library; psycopg imported earlier would wait for PostgreSQL without yielding.
"""

import os

# Django's database connections are per greenlet under gevent: without a pool each client connection that reaches
# the database would hold a PostgreSQL connection of its own (256 senders, 256 connections). A pool per worker
# instead (console/env.py database_from_url); waiting for a free connection ends in a 503.
os.environ.setdefault("JOBTRACE_DB_POOL_SIZE", "8")

wsgi_app = "console.wsgi:application"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# gevent: a connection is a greenlet, so clients that send slowly (or keep idle connections open) cost memory,
# not a worker. Each request body is read whole, within JOBTRACE_REQUEST_READ_TIMEOUT_SECONDS, before Django sees
# it (console/bodies.py). Measured against sync and gthread on bench/serving.py.
worker_class = "gevent"
worker_connections = int(os.environ.get("GUNICORN_WORKER_CONNECTIONS", "1000"))
# Seconds a kept-alive connection may idle, and (gevent worker) the time a client has to send a request's line
# and headers; a client that takes longer is disconnected.
keepalive = 5
# A worker whose event loop has not come back for this long (a CPU-bound request holding it) is restarted.
timeout = 60
graceful_timeout = 30
