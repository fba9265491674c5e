"""Jobtrace settings: one module, read from the environment (see README "Configuration")."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from console.env import (
    SQLITE_OPTIONS,
    database_from_url,
    env_bool,
    env_choice,
    env_float,
    env_int,
    env_list,
    env_rate,
    env_str,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
_LOCAL_HOSTS = {"127.0.0.1", "localhost", "[::1]", "testserver"}
_DEV_SECRET = "jobtrace-insecure-local-development-key-change-me-in-production"  # noqa: S105
SECRET_KEY = env_str("SECRET_KEY", _DEV_SECRET)
if SECRET_KEY == _DEV_SECRET and set(ALLOWED_HOSTS) - _LOCAL_HOSTS:
    # Serving any host but this machine with the public development key would let anyone forge sessions.
    raise ImproperlyConfigured("SECRET_KEY must be set when ALLOWED_HOSTS names a host other than this machine")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# Production hardening, on whenever DEBUG is off (`manage.py check --deploy` reports nothing with real values).
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
_SERVED_OVER_TLS = SECURE_SSL_REDIRECT or env_bool("BEHIND_TLS_PROXY", False)
# Secure cookies whenever the console is served over HTTPS; `make run` on plain http://127.0.0.1 must still log in.
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", _SERVED_OVER_TLS)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", _SERVED_OVER_TLS)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("BEHIND_TLS_PROXY", False) else None
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SILENCED_SYSTEM_CHECKS = env_list("SILENCED_SYSTEM_CHECKS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "console",  # before whitenoise's runserver: console's own runserver (chunked bodies) wraps it
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "axes",
    "jobs",
    "traces",
]

MIDDLEWARE = [
    "console.chunked.ChunkedBodyGuard",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "console.limits.RateLimitMiddleware",  # 429 before any database work
    "console.limits.IngestConcurrencyMiddleware",  # 503 when the receivers are full
    "console.middleware.DatabaseUnavailableMiddleware",
    "console.middleware.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",  # login lockout (django-axes), last as its documentation asks
]

ROOT_URLCONF = "console.urls"
WSGI_APPLICATION = "console.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
            # Template tags of jobs' feature packages, which are not apps (so not discovered): {% load alert_tags %}.
            "libraries": {
                "alert_tags": "jobs.alerts.tags",
                "causality_tags": "jobs.causality.tags",
                "compare_tags": "jobs.compare.tags",
                "log_tags": "traces.logs.tags",
                "sampling_tags": "jobs.sampling.tags",
                "retention_tags": "jobs.retention.tags",
                "schedule_tags": "jobs.schedules.tags",
            },
        },
    },
]

# DATABASE_URL picks PostgreSQL (production, CI); without it, an embedded SQLite file in var/.
_database_url = env_str("DATABASE_URL", "")
if _database_url:
    # A stalled or frozen PostgreSQL must give a 503 within seconds, not hang requests (console/db/base.py).
    DATABASES = {
        "default": database_from_url(
            _database_url,
            connect_timeout=env_int("JOBTRACE_DB_CONNECT_TIMEOUT_SECONDS", 3, minimum=1),
            # manage.py sets 0 (off) for commands; a request's statement past this is cancelled (-> 503)
            statement_timeout=env_float("JOBTRACE_DB_STATEMENT_TIMEOUT_SECONDS", 5.0),
            idle_in_transaction_timeout=env_int("JOBTRACE_DB_IDLE_IN_TRANSACTION_TIMEOUT_SECONDS", 60, minimum=0),
            keepalive=env_int("JOBTRACE_DB_KEEPALIVE_SECONDS", 10, minimum=0),
            # console/gunicorn.conf.py sets 8 for the server: under gevent a connection per greenlet would open one
            # PostgreSQL connection per client connection.
            pool_size=env_int("JOBTRACE_DB_POOL_SIZE", 0, minimum=0),
        )
    }
else:
    VAR_DIR.mkdir(exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "jobtrace.sqlite3",
            "OPTIONS": dict(SQLITE_OPTIONS),
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
# Login throttling: django-axes counts failed logins in the database (shared by every worker and replica) and locks
# out the (username, address) pair for a while; the right password is refused too until then.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env_int("JOBTRACE_LOGIN_FAILURE_LIMIT", 10, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_float("JOBTRACE_LOGIN_COOLOFF_MINUTES", 15.0))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "console.limits.client_address_of"
AXES_LOCKOUT_CALLABLE = "console.limits.login_locked_out"
AXES_ENABLED = env_bool("JOBTRACE_LOGIN_THROTTLING", True)
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Compressed copies are made by collectstatic (`make run`, `make serve`); whitenoise serves them.
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "jobs.auth.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["jobs.auth.ReadScope"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["jobs.api.parsers.SafeJSONParser"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "jobs.api.pagination.NewestFirstCursorPagination",
    "PAGE_SIZE": 100,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "jobs.api.errors.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Jobtrace API",
    "DESCRIPTION": "Job executions, shards, traces, messages and alerts. See docs/api.md.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "RunStatusEnum": "jobs.choices.RunStatus",
        "JobKindEnum": "jobs.choices.JobKind",
        "AlertStatusEnum": "jobs.alerts.choices.AlertStatus",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "console.api.schema.add_error_responses",  # 400/401/403/404/503 on every operation
    ],
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}, "axes": {"level": "WARNING"}},
}

# --- Jobtrace's own knobs -----------------------------------------------------------------------------------

# Largest number of records one ingest request may carry (executions, shards, messages).
JOBTRACE_MAX_BATCH = env_int("JOBTRACE_MAX_BATCH", 1000, minimum=1)
# Largest JSON body of a REST request (1,000 records with large params or errors need more than Django's 2.5 MB).
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("JOBTRACE_MAX_REQUEST_BYTES", 10 * 1024 * 1024, minimum=1024)
# An alert that names only a job links the runs that were running or failed from this long before it started.
JOBTRACE_ALERT_WINDOW_MARGIN_SECONDS = env_int("JOBTRACE_ALERT_WINDOW_MARGIN_SECONDS", 900, minimum=0)
# OTLP/HTTP receiver: largest body, compressed or not (the decompressed stream is held to the same limit).
OTLP_MAX_BODY_BYTES = env_int("OTLP_MAX_BODY_BYTES", 20 * 1024 * 1024, minimum=1024)
# OTLP/JSON decodes to ~10-15x its size in Python objects (up to ~40x for hostile shapes): its own, lower limit.
OTLP_MAX_JSON_BODY_BYTES = env_int("OTLP_MAX_JSON_BODY_BYTES", 4 * 1024 * 1024, minimum=1024)
# Seconds a client is told to wait when the database is unavailable or the console is overloaded.
JOBTRACE_RETRY_AFTER_SECONDS = env_int("JOBTRACE_RETRY_AFTER_SECONDS", 5, minimum=1)
# A Jaeger query service to fetch traces the console does not have (query-through), e.g. http://jaeger:16686.
# The schedule monitor (manage.py monitor, jobs/schedules/): where missed and stuck runs are sent, how often it
# checks and re-sends, and its own statement timeout (a check over 10,000 jobs takes well under a second).
JOBTRACE_ALERTMANAGER_URL = env_str("JOBTRACE_ALERTMANAGER_URL", "").rstrip("/")
JOBTRACE_SCHEDULE_WEBHOOK_URL = env_str("JOBTRACE_SCHEDULE_WEBHOOK_URL", "")
JOBTRACE_PUBLIC_URL = env_str("JOBTRACE_PUBLIC_URL", "").rstrip("/")  # links in notifications; relative without
JOBTRACE_MONITOR_INTERVAL_SECONDS = env_float("JOBTRACE_MONITOR_INTERVAL_SECONDS", 5.0)
JOBTRACE_MONITOR_RESEND_SECONDS = env_int("JOBTRACE_MONITOR_RESEND_SECONDS", 60, minimum=1)
JOBTRACE_MONITOR_STATEMENT_TIMEOUT_SECONDS = env_float("JOBTRACE_MONITOR_STATEMENT_TIMEOUT_SECONDS", 30.0)
JAEGER_QUERY_URL = env_str("JAEGER_QUERY_URL", "")
JAEGER_TIMEOUT_SECONDS = env_float("JAEGER_TIMEOUT_SECONDS", 3.0)
# A Grafana Tempo to fetch traces from the same way (its HTTP API, e.g. http://tempo:3200), with its own deadline.
TEMPO_QUERY_URL = env_str("TEMPO_QUERY_URL", "")
TEMPO_TIMEOUT_SECONDS = env_float("TEMPO_TIMEOUT_SECONDS", 3.0)
# Retention (manage.py prune; per namespace, its admin may change them): days spans and logs are kept, and days
# executions, shards, messages, alerts and trace summaries are kept.
JOBTRACE_SPAN_RETENTION_DAYS = env_int("JOBTRACE_SPAN_RETENTION_DAYS", 7, minimum=1)
JOBTRACE_RECORD_RETENTION_DAYS = env_int("JOBTRACE_RECORD_RETENTION_DAYS", 90, minimum=1)
# "all": every span is stored. "summaries": per trace its summary, its links to executions and shards, and the
# spans of failed traces whole; of the other traces' spans only what the summary and linking are computed from
# (ids, names, times, status, job and message columns); opening such a trace fetches it from the tracing backend.
JOBTRACE_SPAN_STORAGE = env_choice("JOBTRACE_SPAN_STORAGE", "all", ("all", "summaries"))
# Daily span partitions created ahead of today (PostgreSQL) by manage.py prune and the monitor loop.
JOBTRACE_PARTITIONS_AHEAD_DAYS = env_int("JOBTRACE_PARTITIONS_AHEAD_DAYS", 3, minimum=1)
# Extra span attribute names read as job attributes, "alias=canonical" pairs, e.g.
# "xxl.job.id=job.name,xxl.job.log_id=job.execution.id".
JOBTRACE_ATTRIBUTE_ALIASES = env_list("JOBTRACE_ATTRIBUTE_ALIASES", [])
# Extra alert label names, "label=role" pairs, e.g. "task=job,run=execution_id".
JOBTRACE_ALERT_LABEL_ALIASES = env_list("JOBTRACE_ALERT_LABEL_ALIASES", [])
# Largest number of traces a search returns before it says it cut the results.
JOBTRACE_SEARCH_LIMIT = env_int("JOBTRACE_SEARCH_LIMIT", 200, minimum=1)

# --- Serving under load and abuse (docs/serving.md) -----------------------------------------------------------

# A request body must arrive whole within this many seconds (a deadline over the whole body): else 408.
JOBTRACE_REQUEST_READ_TIMEOUT_SECONDS = env_float("JOBTRACE_REQUEST_READ_TIMEOUT_SECONDS", 30.0)
# Load shedding: requests that send data (POST/PUT/PATCH/DELETE) under these path prefixes being handled at once
# in one server process; one more is answered 503 + Retry-After at once (0: no cap).
JOBTRACE_INGEST_CONCURRENCY = env_int("JOBTRACE_INGEST_CONCURRENCY", 4, minimum=0)
JOBTRACE_INGEST_PATHS = env_list("JOBTRACE_INGEST_PATHS", ["/v1/", "/api/v1/"])
# Rate limits (429 + Retry-After) on these path prefixes, counted in each server process ("N/s", "N/m", "N/h", off).
JOBTRACE_RATE_LIMIT_PATHS = env_list("JOBTRACE_RATE_LIMIT_PATHS", ["/v1/", "/api/"])
JOBTRACE_RATE_LIMIT_PER_ADDRESS = env_rate("JOBTRACE_RATE_LIMIT_PER_ADDRESS", "6000/m")
JOBTRACE_RATE_LIMIT_PER_TOKEN = env_rate("JOBTRACE_RATE_LIMIT_PER_TOKEN", "6000/m")
# Requests answered 401 (no or a wrong token) from one address; past it the address is refused for a while.
JOBTRACE_RATE_LIMIT_AUTH_FAILURES = env_rate("JOBTRACE_RATE_LIMIT_AUTH_FAILURES", "60/m")
# Reverse proxies in front of the console (nginx: 1): the client's address is read from X-Forwarded-For.
JOBTRACE_TRUSTED_PROXY_COUNT = env_int("JOBTRACE_TRUSTED_PROXY_COUNT", 0, minimum=0)
