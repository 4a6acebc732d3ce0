"""Settings, read from the environment (12-factor). See .env.example for every variable.

No environment at all gives the embedded default: an SQLite file, Celery tasks run
in-process (eager), DEBUG on and a development-only secret key. Setting
``DATABASE_URL`` (the production shape) turns DEBUG off by default, and then the
process refuses to start without a real ``SECRET_KEY``.

One section per concern, each setting declared once with its default (several defaults
follow DEBUG: the embedded demo on one side, production on the other). Add a setting to
the section of its concern, never by re-assigning one further down.
"""

import ipaddress
from pathlib import Path
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured

from testbed.celery import QUEUE_NAMES, is_amqp, task_queues

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DATABASE_URL = env.str("DATABASE_URL", default="")
REDIS_URL = env.str("REDIS_URL", default="")

# --- Core (Django) -----------------------------------------------------------------------
DEBUG = env.bool("DEBUG", default=not DATABASE_URL)

INSECURE_SECRET_KEY = "django-insecure-testbed-development-only"
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set when DEBUG is off (production refuses the insecure default)."
        )
    SECRET_KEY = INSECURE_SECRET_KEY
elif SECRET_KEY == INSECURE_SECRET_KEY and not DEBUG:
    raise ImproperlyConfigured("SECRET_KEY is the insecure development key; set a real one.")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# The site's public address (https://testbed.example.com): e-mails sent without a request
# (booking changes, results, statements, claims) link to their page under it. Unset: they
# name the page in words only.
SITE_URL = env.str("SITE_URL", default="").strip().rstrip("/")
_site = urlsplit(SITE_URL)
if SITE_URL and (_site.scheme not in ("http", "https") or not _site.hostname
                 or _site.path or _site.query or _site.fragment):
    raise ImproperlyConfigured(
        f"SITE_URL must be the site's address, like https://testbed.example.com (no path), "
        f"not {SITE_URL!r}.")

INSTALLED_APPS = [
    "modeltranslation",  # before the admin: catalogue fields in English and Chinese
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "rest_framework_api_key",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "allauth",
    "allauth.account",
    "core",
    "organizations",
    "equipment",
    "pricing",  # rate cards, quotes, innovation vouchers (below bookings)
    "bookings",
    "trials",
    "billing",  # service requests, statements, settlement claims (above trials)
    "console",  # the portal's pages for hub operators (flagship members)
    "testbed",  # the wiring layer: cross-app management commands (seed_demo)
    "django_htmx",  # the portal's partial updates
    "csp",  # Content-Security-Policy header (security section)
    "allauth.mfa",  # second factors (auth section)
]

MIDDLEWARE = [
    "core.observability.RequestLogMiddleware",
    # The portal's own 404/500 pages in the embedded demo too (DEBUG on; STYLED_ERROR_PAGES).
    "core.views.StyledErrorPagesMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # core.middleware.*: Django's and django-htmx's middleware for the portal only; API
    # requests (/api/, key in the Authorization header) skip them, keeping only the
    # language from Accept-Language (docs/architecture.md, "API request path"). CSRF
    # stays Django's own entry: `check --deploy` looks for it.
    "core.middleware.SessionMiddleware",
    "core.middleware.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "core.middleware.AuthenticationMiddleware",
    "core.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "core.api.DatabaseUnavailableMiddleware",
    "core.middleware.HtmxMiddleware",
    "csp.middleware.CSPMiddleware",
    # Suspended organisations: their members' portal sessions see a page saying so (their
    # API keys are refused in organizations.auth); staff MFA enrolment is enforced for
    # /admin/ (MFA_REQUIRED_FOR_STAFF).
    "organizations.middleware.SuspendedOrganizationMiddleware",
    "organizations.middleware.StaffMFAMiddleware",
]

# DEBUG shows Django's technical 404 and 500 pages; the embedded demo shows visitors the
# portal's own pages instead (core.views.StyledErrorPagesMiddleware; tracebacks are still
# logged). Set it to False here to see the technical pages while debugging.
STYLED_ERROR_PAGES = True

ROOT_URLCONF = "testbed.urls"
WSGI_APPLICATION = "testbed.wsgi.application"

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
                "django.template.context_processors.i18n",
                "organizations.context_processors.portal",
            ],
        },
    },
]

# --- Database ----------------------------------------------------------------------------
DATABASES = {
    "default": env.db_url_config(DATABASE_URL or f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Serialise writers: a write transaction takes the database lock at BEGIN, so two
    # bookings can never interleave their check-then-insert (invariant 1 on SQLite).
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"transaction_mode": "IMMEDIATE", "timeout": 20}
    )
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        # The same backend, with a health check that skips the round trip when the
        # socket shows the connection is fine (core/backends/postgresql).
        DATABASES["default"]["ENGINE"] = "core.backends.postgresql"
        # The hot path's statements (core.db.cursor) are prepared on a connection's
        # DB_PREPARE_THRESHOLD-th run of each; "" turns preparing off (e.g. behind a
        # connection pooler in transaction mode that cannot keep prepared statements).
        threshold = env.str("DB_PREPARE_THRESHOLD", default="2")
        DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = (
            int(threshold) if threshold else None)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# How long a request waits for a row lock (the equipment lock of bookings, maintenance and
# status changes; every other request-path lock) before answering 503 "busy" with
# Retry-After. Set per lock acquisition, in the locking statement itself
# (core.db.lock_timeout_clause, used by lock_equipment and core.db.locked), never
# connection-wide.
DB_LOCK_TIMEOUT_MS = env.int("DB_LOCK_TIMEOUT_MS", default=5000)

# --- Cache -------------------------------------------------------------------------------
if REDIS_URL:
    # Django's Redis cache, keeping its redis-py client (core/backends/redis.py): every API
    # request reads its key and counts its rate there.
    CACHES = {"default": {"BACKEND": "core.backends.redis.RedisCache",
                          "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Authentication, accounts (django-allauth) and MFA -----------------------------------
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_REDIRECT_URL = "/catalog/"
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = env.str("ACCOUNT_EMAIL_VERIFICATION", default="mandatory")
ACCOUNT_FORMS = {"signup": "organizations.forms.SignupForm"}
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[Testbed] "  # as core.notify's subjects: once
# People are named by their e-mail address (they log in with it), never the username.
ACCOUNT_USER_DISPLAY = "organizations.auth.user_display"
# Operators land on the console, universities on their datasets (an explicit next wins).
ACCOUNT_ADAPTER = "organizations.auth.AccountAdapter"
ACCOUNT_RATE_LIMITS = {"login_failed": "10/m/ip,5/5m/key", "login": "30/m/ip",
                       "signup": "20/m/ip"}

# Client addresses behind the TLS proxy: how many proxies in front of the app append to
# X-Forwarded-For (0: trust none, use the socket's address). allauth's login rate limits and
# the API's anonymous throttle (REST_FRAMEWORK["NUM_PROXIES"]) both count per real client
# address with it. Production already assumes the TLS proxy (SECURE_PROXY_SSL_HEADER), so it
# defaults to that one proxy; without it every client would share the proxy's address (and
# its rate limits).
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0 if DEBUG else 1)
ALLAUTH_TRUSTED_PROXY_COUNT = TRUSTED_PROXY_COUNT

# Multi-factor authentication (allauth.mfa): TOTP with recovery codes for every account
# (staff and operators enrol under /accounts/2fa/), WebAuthn security keys where the
# browser has one. MFA_REQUIRED_FOR_STAFF sends staff without MFA to enrol before the admin
# console; off in the embedded demo so its printed logins keep working.
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes", "webauthn"]
MFA_TOTP_ISSUER = "Testbed"
MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN = DEBUG  # the demo runs on http://127.0.0.1
MFA_REQUIRED_FOR_STAFF = env.bool("MFA_REQUIRED_FOR_STAFF", default=not DEBUG)

# --- Internationalisation ----------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
TIME_ZONE = env.str("TIME_ZONE", default="Asia/Shanghai")
USE_I18N = True
USE_TZ = True
# The project's catalogue, then wording fixes for the libraries' own strings (allauth).
LOCALE_PATHS = [BASE_DIR / "locale", BASE_DIR / "locale" / "vendor"]
# One date and time format per language (testbed/formats/en, zh_Hans): "1 Dec 2026, 14:30"
# and "2026年12月1日 14:30"; templates use the named formats (DATE_FORMAT,
# DATETIME_FORMAT, SHORT_DATE_FORMAT, TIME_FORMAT …), never a pattern of their own.
FORMAT_MODULE_PATH = ["testbed.formats"]
# Catalogue data (hubs, equipment, categories, capabilities, spec labels, metric names) in
# both languages (django-modeltranslation: a ``name_en`` and a ``name_zh_hans`` column per
# translated field). English is the base and every reader's fallback; a value given without
# a language (the API, a factory) is also kept as the English one.
MODELTRANSLATION_DEFAULT_LANGUAGE = "en"
MODELTRANSLATION_FALLBACK_LANGUAGES = ("en",)
MODELTRANSLATION_AUTO_POPULATE = "default"

# --- Static files, media, request bodies and uploads -------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")  # collectstatic's output
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "media/"
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "media")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# Every request body (JSON, form fields; multipart file parts are streamed to disk and not
# counted) is refused above this size with a 413: no API document or portal form needs
# more. The results upload takes a raw CSV/JSON body up to TRIAL_RESULT_MAX_BODY_BYTES and
# files up to TRIAL_RESULT_MAX_BYTES instead (trials section).
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=2 * 1024 * 1024)
# Uploads: files above this size are spooled to disk while a request is parsed.
FILE_UPLOAD_MAX_MEMORY_SIZE = env.int("FILE_UPLOAD_MAX_MEMORY_SIZE", default=2 * 1024 * 1024)

# --- E-mail ------------------------------------------------------------------------------
# The embedded demo prints mail to the console; production sends it (SMTP by default) and
# refuses a backend that would write password-reset, invitation and confirmation links to
# the process log or a file, as it refuses to start without a secret key.
EMAIL_BACKEND = env.str(
    "EMAIL_BACKEND",
    default="django.core.mail.backends.console.EmailBackend" if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
NON_DELIVERING_EMAIL_BACKENDS = {
    "django.core.mail.backends.console.EmailBackend",
    "django.core.mail.backends.filebased.EmailBackend",
    "django.core.mail.backends.locmem.EmailBackend",
}
if not DEBUG and EMAIL_BACKEND in NON_DELIVERING_EMAIL_BACKENDS:
    raise ImproperlyConfigured(
        f"EMAIL_BACKEND={EMAIL_BACKEND} would write mail (with its sign-in and invitation "
        "links) to the log or a file; set a delivering backend (SMTP) when DEBUG is off."
    )
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Testbed <noreply@testbed.local>")

# --- API (Django REST framework, drf-spectacular) ----------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["organizations.auth.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # Page numbers (with a count) for the small lists; the lists that grow without bound
    # set core.pagination.CursorPage (keyset cursors, no count) on their views.
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    # Parsers refuse text with NUL characters (PostgreSQL cannot store them) with a 400.
    "DEFAULT_PARSER_CLASSES": [
        "core.parsers.JSONParser",
        "core.parsers.FormParser",
        "core.parsers.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "core.api.problem_exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["organizations.auth.ApiKeyRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"api_key": env.str("API_THROTTLE_RATE", default="6000/min")},
    "NUM_PROXIES": TRUSTED_PROXY_COUNT,  # auth section
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Testbed API",
    "DESCRIPTION": "Shared smart-manufacturing testbeds: equipment, bookings, trial results, "
    "consented data sharing. Every request carries an organisation's API key "
    "(`Authorization: Bearer <key>`); errors are RFC 9457 problem documents "
    "(`application/problem+json`) with a stable `code`; times are ISO 8601 with an offset "
    "(the hub's, for everything about a hub); CSV downloads are UTF-8 with a byte order mark.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI served from our own static files (drf-spectacular-sidecar), no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Choice lists whose names would clash in the schema get their own names.
    "ENUM_NAME_OVERRIDES": {
        "QuoteKindEnum": "pricing.models.Quote.Kind",
        "QuoteStatusEnum": "pricing.models.Quote.Status",
        "QuoteLineKindEnum": "pricing.models.QuoteLine.Kind",
        "ShortfallEnum": "pricing.models.Quote.Shortfall",
        "ResultSourceKindEnum": "equipment.models.Equipment.ResultSourceKind",
        "ClaimStatusEnum": "billing.models.SettlementClaim.Status",
        "StatementLineKindEnum": "billing.models.StatementLine.Kind",
        # A booking's status (and an event's to_status) keeps the name it always had.
        "StatusEnum": "bookings.models.Booking.Status",
        "DeliveryStatusEnum": "core.models.OutboxMessage.Status",
    },
    # The schema documents the problem+json errors of every operation (so clients and the
    # Schemathesis run can hold the API to them).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "core.schema.add_problem_responses",
        "core.schema.document_operations",  # a tag per resource, texts for integrators
    ],
}

# --- Celery and periodic schedules -------------------------------------------------------
# The broker: CELERY_BROKER_URL (amqp://… for RabbitMQ, the production choice: a killed
# worker's task is redelivered at once) or else REDIS_URL (the simple option: a killed
# worker's task waits for the visibility timeout, an hour, or the sweeps); neither: tasks
# run in-process (eager), the embedded demo. README "Production shape" says which to pick.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="") or REDIS_URL or "memory://"
CELERY_BROKER_IS_AMQP = is_amqp(CELERY_BROKER_URL)
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = CELERY_BROKER_URL == "memory://"
CELERY_TASK_EAGER_PROPAGATES = False
# A task is acknowledged when it has finished, and given back when its worker dies, so a
# killed worker's task runs again elsewhere (tasks are idempotent); one message at a time.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Quick connect (Redis), publisher confirms (RabbitMQ: a message the broker did not take
# is an error the caller logs, and the sweep covers it), one quick retry; each transport
# reads its own options.
CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_connect_timeout": 2, "confirm_publish": True,
                                   "max_retries": 1}
# Three queues (testbed/celery.py says how each broker declares them), so production runs
# a worker per kind of work and a backlog of deliveries never delays a collection. Tasks
# are routed by name here, in one place; `make worker` consumes all three.
CELERY_QUEUE_NAMES = QUEUE_NAMES
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {
    "trials.collect_trial_results": {"queue": "collection"},
    "trials.collect_due_trials": {"queue": "collection"},
    "core.deliver_outbox_message": {"queue": "deliveries"},
    "core.deliver_due_outbox": {"queue": "deliveries"},
    "trials.release_due_datasets": {"queue": "deliveries"},
}
# RabbitMQ: deliveries of one message (given back by dying workers) before it is dropped.
CELERY_QUEUE_DELIVERY_LIMIT = env.int("CELERY_QUEUE_DELIVERY_LIMIT", default=10)
CELERY_TASK_QUEUES = task_queues(CELERY_BROKER_URL, delivery_limit=CELERY_QUEUE_DELIVERY_LIMIT)
# RabbitMQ's consumer_timeout (30 minutes by default) bounds one task's run: a task still
# running past it would be redelivered while the first run goes on. So on RabbitMQ a task
# is stopped five minutes before the broker's timeout (CELERY_BROKER_CONSUMER_TIMEOUT:
# the broker's setting, in seconds; raise both together) and left to the sweeps, which
# find it due again. Our tasks are far shorter: each network call has its own timeout.
CELERY_BROKER_CONSUMER_TIMEOUT = env.int("CELERY_BROKER_CONSUMER_TIMEOUT", default=1800)
CELERY_TASK_TIME_LIMIT = (max(CELERY_BROKER_CONSUMER_TIMEOUT - 300, 60)
                          if CELERY_BROKER_IS_AMQP else None)
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Periodic sweeps; django-celery-beat copies these into the database, where staff can
# edit them in the admin console. Each sweep selects what is due, so a missed run only
# delays work.
CELERY_BEAT_SCHEDULE = {
    "collect-due-trials": {"task": "trials.collect_due_trials", "schedule": 300.0},
    "release-due-datasets": {"task": "trials.release_due_datasets", "schedule": 600.0},
    "deliver-due-outbox": {"task": "core.deliver_due_outbox", "schedule": 60.0},
    "dispatch-pending-booking-events": {"task": "bookings.dispatch_pending_events",
                                        "schedule": 120.0},
    "mark-no-shows": {"task": "bookings.mark_no_shows", "schedule": 300.0},
    "expire-requests": {"task": "bookings.expire_requests", "schedule": 300.0},
    "send-reminders": {"task": "bookings.send_reminders", "schedule": 900.0},
    "purge-idempotency-keys": {"task": "core.purge_idempotency_keys", "schedule": 3600.0},
    "purge-delivery-logs": {"task": "core.purge_delivery_logs", "schedule": 86400.0},
    "purge-observations": {"task": "trials.purge_observations", "schedule": 86400.0},
    "expire-service-requests": {"task": "billing.expire_service_requests", "schedule": 300.0},
    # Last month's statements, once the month is over (a second run issues nothing twice).
    "issue-due-statements": {"task": "billing.issue_due_statements", "schedule": 86400.0},
}
# Retention (purged by the two sweeps above, or `manage.py purge_records`): outbox
# delivery-log rows (every attempt to send an e-mail or webhook) are kept this many days.
OUTBOX_LOG_RETENTION_DAYS = env.int("OUTBOX_LOG_RETENTION_DAYS", default=90)

# --- Domain: bookings --------------------------------------------------------------------
# Check-in opens this many minutes before the start (DESIGN.md); a booking not checked in
# this long after its start is a no-show; reminders go this many hours ahead.
BOOKING_CHECK_IN_OPENS_MINUTES = env.int("BOOKING_CHECK_IN_OPENS_MINUTES", default=30)
BOOKING_NO_SHOW_GRACE_MINUTES = env.int("BOOKING_NO_SHOW_GRACE_MINUTES", default=15)
BOOKING_REMINDER_HOURS = env.int("BOOKING_REMINDER_HOURS", default=24)
# Files an SME attaches to a booking request (drawings, plans): size and count limits.
BOOKING_ATTACHMENT_MAX_BYTES = env.int("BOOKING_ATTACHMENT_MAX_BYTES", default=20 * 1024 * 1024)
BOOKING_ATTACHMENT_MAX_COUNT = env.int("BOOKING_ATTACHMENT_MAX_COUNT", default=10)

# --- Domain: money -----------------------------------------------------------------------
# An estimate (a quote asked for before booking) holds its prices this many days.
QUOTE_VALIDITY_DAYS = env.int("QUOTE_VALIDITY_DAYS", default=14)

# --- Domain: trial results ---------------------------------------------------------------
# Largest result file (bytes; multipart or collected from a source), gateway timeout (s),
# collection attempts, and the results upload's own limit for a raw CSV/JSON body.
TRIAL_RESULT_MAX_BYTES = env.int("TRIAL_RESULT_MAX_BYTES", default=256 * 1024 * 1024)
TRIAL_SOURCE_TIMEOUT = env.int("TRIAL_SOURCE_TIMEOUT", default=30)
TRIAL_COLLECT_MAX_ATTEMPTS = env.int("TRIAL_COLLECT_MAX_ATTEMPTS", default=5)
TRIAL_RESULT_MAX_BODY_BYTES = env.int("TRIAL_RESULT_MAX_BODY_BYTES", default=64 * 1024 * 1024)

# --- Domain: the collector (manage.py run_collector; trials/collector/) ------------------
# It holds equipment whose booking is checked in, or starts within COLLECTOR_LEAD_MINUTES,
# until COLLECTOR_TAIL_MINUTES after its end; looks for work every COLLECTOR_INTERVAL
# seconds (also its heartbeat); a heartbeat older than COLLECTOR_STALE_SECONDS means the
# collector is gone. Raw observations are kept OBSERVATION_RETENTION_DAYS days (the trial's
# measurements are kept as long as the trial). The collection task waits up to
# COLLECTOR_SETTLE_SECONDS after a booking's end for the collector to store its last
# readings. OPC UA client certificate and key (DER or PEM files) for secured servers:
# generated under MEDIA_ROOT/opcua/ when not given.
COLLECTOR_LEAD_MINUTES = env.int("COLLECTOR_LEAD_MINUTES", default=5)
COLLECTOR_TAIL_MINUTES = env.int("COLLECTOR_TAIL_MINUTES", default=5)
COLLECTOR_INTERVAL = env.float("COLLECTOR_INTERVAL", default=5.0)
COLLECTOR_STALE_SECONDS = env.int("COLLECTOR_STALE_SECONDS", default=30)
COLLECTOR_SETTLE_SECONDS = env.int("COLLECTOR_SETTLE_SECONDS", default=60)
OBSERVATION_RETENTION_DAYS = env.int("OBSERVATION_RETENTION_DAYS", default=90)
# "Test connection" waits at most this long for an MQTT message or an OPC UA answer (s).
RESULT_SOURCE_TEST_TIMEOUT = env.int("RESULT_SOURCE_TEST_TIMEOUT", default=10)
OPCUA_CLIENT_CERT = env.str("OPCUA_CLIENT_CERT", default="")
OPCUA_CLIENT_KEY = env.str("OPCUA_CLIENT_KEY", default="")

# --- Domain: outbound requests (core/outbound.py, invariant 8) ---------------------------
# Every request Testbed makes (result sources, webhooks, agreement endpoints) goes to https
# only, or also plain http when OUTBOUND_ALLOW_HTTP is on (default: on in the embedded
# demo, off in production). Addresses that are not public (loopback, private, link-local,
# reserved …) are refused unless inside OUTBOUND_ALLOWED_NETWORKS (comma-separated CIDRs;
# default: loopback in the embedded demo, so its demo gateway and demo university work;
# nothing in production) or inside the networks platform staff allowed for the hub.
OUTBOUND_ALLOW_HTTP = env.bool("OUTBOUND_ALLOW_HTTP", default=DEBUG)
OUTBOUND_ALLOWED_NETWORKS = env.list(
    "OUTBOUND_ALLOWED_NETWORKS", default=["127.0.0.0/8", "::1/128"] if DEBUG else [])
for _network in filter(None, (entry.strip() for entry in OUTBOUND_ALLOWED_NETWORKS)):
    try:
        ipaddress.ip_network(_network, strict=True)
    except ValueError:
        raise ImproperlyConfigured(
            f"OUTBOUND_ALLOWED_NETWORKS: {_network!r} is not a network in CIDR notation "
            "(e.g. 10.20.0.0/16, no host bits set).") from None
# Certificates of outbound https destinations are checked against the system's CA store
# (certifi); a hub's gateway behind an internal CA needs that CA's bundle file here.
OUTBOUND_CA_BUNDLE = env.str("OUTBOUND_CA_BUNDLE", default="")

# --- Domain: demo ------------------------------------------------------------------------
# Demo endpoints (synthetic equipment gateway, demo university receiver) and the address
# the demo data uses to reach them.
DEMO_ENDPOINTS = env.bool("DEMO_ENDPOINTS", default=DEBUG)
DEMO_BASE_URL = env.str("DEMO_BASE_URL", default="http://127.0.0.1:8000")

# --- Security headers, cookies and HTTPS -------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = env.str("SECURE_REFERRER_POLICY", default="same-origin")
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
if not DEBUG:
    # Production sits behind a TLS-terminating proxy that sends X-Forwarded-Proto: plain
    # HTTP is redirected, browsers are told to stay on HTTPS (HSTS), cookies are secure.
    # The health probes answer on plain HTTP for the load balancer. `manage.py check
    # --deploy` is clean with these defaults; each can be overridden from the environment
    # (a loopback harness without the proxy sets SECURE_SSL_REDIRECT=0). The embedded demo
    # (DEBUG on, plain http://127.0.0.1) keeps Django's defaults: none of this.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=True)
    CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=True)
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
    # The preload directive only consents to the browsers' preload lists; nothing is
    # submitted. Turn it off for a host that must stay reachable over plain HTTP.
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)

# Content Security Policy for the portal (django-csp): scripts only from our own static
# files; inline styles stay allowed (a few templates and htmx's indicator styles use
# them); no framing. API docs run under it too (their init script is a separate file).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    },
}

# --- Logging -----------------------------------------------------------------------------
# One JSON line per request and per task (request id / task id on every line); plain
# text for the embedded demo. LOG_FORMAT=json|text overrides.
LOG_FORMAT = env.str("LOG_FORMAT", default="text" if DEBUG else "json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "core.observability.ContextFilter"}},
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(task_id)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
        "text": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT,
                             "filters": ["context"]}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # The request line below replaces Django's own 4xx/5xx request warnings.
        "django.request": {"level": "ERROR"},
        "django.server": {"level": "WARNING"},
        # Our own line per task (core.observability) replaces Celery's.
        "celery.app.trace": {"level": "WARNING"},
        # asyncua logs every publish and request at INFO (the collector's OPC UA client,
        # the demo plant's server): its warnings and errors are what matter.
        "asyncua": {"level": "WARNING"},
        # WeasyPrint (core/pdf.py) logs each layout step, and fontTools each font subset, at INFO.
        "weasyprint.progress": {"level": "WARNING"},
        "fontTools": {"level": "WARNING"},
    },
}
