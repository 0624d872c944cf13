"""Every default value leadgate uses, in one place, each with the reason it is what it is."""

CONFIG_PATH = "./leadgate.yaml"
"""Where the config file is read from when ``LEADGATE_CONFIG`` is not set."""

DEV_CONFIG_PATH = "./var/leadgate.dev.yaml"
"""The starter config ``leadgate dev`` writes when there is no ``leadgate.yaml``; other commands fall back to it."""

DATA_DIR = "./var"
"""Where the embedded Redis keeps its database and append-only file."""

MAX_ATTEMPTS = 8
"""Total delivery tries, the first one included."""

BACKOFF_SECONDS = (30, 120, 600, 1800, 3600, 7200, 14400)
"""Wait before try 2, 3, ...; the last value repeats. Spans about 7 hours for 8 tries."""

BACKOFF_JITTER = 0.2
"""Each wait is stretched or shrunk by up to this fraction so retries after an outage spread out."""

TIMEOUT_SECONDS = 10.0
"""httpx timeout for one ConnectGain call (connect, write and read each)."""

RETRY_AFTER_CAP_SECONDS = 6 * 3600
"""A ``Retry-After`` longer than this is clamped: a bogus header must not park a lead for days."""

LEASE_GRACE_SECONDS = 30
"""Added to the longest a delivery can take before another worker may take the event over.

A worker killed mid-delivery leaves its lease behind; the event becomes due again when
the lease runs out, so a killed worker costs at most one lease, not RQ's ten-minute
abandoned-job sweep.
"""

DISPATCH_GRACE_SECONDS = 60
"""How long a dispatched-but-not-started job may sit in the queue before it is dispatched again."""

DISPATCH_INTERVAL_SECONDS = 1.0
"""How often each worker looks for events whose retry time (or lease) has come."""

DEDUPE_WINDOW_SECONDS = 600
"""An identical body posted to the same source within this window is a duplicate."""

PLATFORM_DEDUPE_SECONDS = 90 * 86400
"""How long a platform id (leadgen_id, lead_id, event_id) is remembered: Meta keeps leads 90 days."""

RETENTION_DAYS = 30
"""How long finished events (delivered, spam, duplicate, ignored, rejected) stay in history."""

PAYLOAD_RETENTION_DAYS = 7
"""How long a finished event keeps its payloads (raw, lead, request, attempts); its summary stays ``RETENTION_DAYS``."""

LANGUAGE = "en"
"""The language of the page a visitor's refused form post shows, unless the source sets ``language``."""

MAX_BODY_BYTES = 1024 * 1024
"""Largest request body a hook accepts; larger ones get 413 (chunked bodies are counted as they stream)."""

MAX_FIELDS = 1000
"""Most fields one request may carry (413 beyond): form fields or multipart parts, or a JSON body's values.

Flask's own cap on multipart parts, now applied to urlencoded and JSON bodies too: a 100-question
survey fits, a 100,000-field flood is refused before it is stored. A JSON body counts its scalar
values (and empty objects or arrays); kinds whose platforms batch (``facebook``) set a higher one.
"""

MAX_NAME_LENGTH = 200
"""Longest field name (a form field's name, a JSON object's key) a request may carry; longer ones get 400."""

MAX_VALUE_LENGTH = 20_000
"""Longest field value in characters (413 beyond): a long message fits, a megabyte in one field does not."""

MAX_DEPTH = 32
"""Deepest a JSON body may nest objects and arrays (400 beyond); real payloads nest fewer than 10."""

QUEUE_NAME = "leadgate"
"""The RQ queue the delivery jobs go through."""

DURABILITY = "master"
"""A 2xx goes out once the master has the lead (on disk as ``appendfsync`` says); ``replicated`` waits for replicas."""

MIN_REPLICAS = 1
"""With ``durability: replicated``, how many replicas must have a lead before it is acknowledged."""

REPLICA_TIMEOUT_MS = 500
"""With ``durability: replicated``, how long intake waits for them (Redis ``WAIT``) before answering 503."""

KEY_PREFIX = "lg:"
"""Prefix of every Redis key leadgate owns (RQ keeps its own ``rq:`` keys)."""

CLUSTER_KEY_PREFIX = "{lg}:"
"""The event store's prefix on a Redis Cluster: a hash tag, so its scripts and transactions stay in one slot."""

ADMIN_TOKEN_MIN_LENGTH = 32
"""Shortest ``admin_token`` start-up accepts: too long to guess online, or offline from a cookie's signature."""

ADMIN_TOKEN_FAILURES = "5/minute"
"""Wrong admin tokens (dashboard log-ins and API bearer tokens) one client address may send; then 429 until it ages."""

BATCH_SIZE = 100
"""Most leads one worker sends in one ``create-leads-bulk`` call (ConnectGain's limit); 1 turns coalescing off."""

CALLS_IN_FLIGHT = 4
"""ConnectGain calls one worker process keeps open at once, so a lead that arrives while a call is out
leaves in the next one without waiting for it: the CRM's latency is paid once, not once per call ahead."""

MAX_CALLS_IN_FLIGHT = 16
"""Below the pooled client's 20 connections per peer, which the dispatcher and backfill share."""

DISPLAY_VALUE_CHARS = 4096
"""The admin API and dashboard cut a longer value here, marked with its full size; the raw download has it all."""

DISPLAY_ITEMS = 200
"""The admin API and dashboard show this many items of a longer list (or keys of an object), then a marker."""

DEAL_TITLE = "{company_name} {first_name} {last_name} inquiry"
"""A deal's title when its ``deal:`` sets none; with neither company nor name known: ``Lead from <source id>``."""

FOLLOW_WINDOW = 200
"""``leadgate events --follow`` watches this many newest events for arrivals and status changes."""

OPERATOR_LOG_ENTRIES = 50
"""Replays and edits kept in one event's operator log (the oldest drop off first)."""

CSV_EXPORT_MAX_ROWS = 10_000
"""Most events one CSV export of the dashboard's event list holds (``X-Leadgate-Export-Complete: false`` when cut)."""

RECORD_TRIES = 130
"""How often a worker tries to record a delivery ConnectGain accepted when Redis refuses (about 10 minutes)."""
RECORD_BACKOFF_SECONDS = (0.25, 5.0)
"""First wait between those tries, and the longest (each wait doubles)."""
RECORD_WINDOW_SECONDS = sum(
    min(RECORD_BACKOFF_SECONDS[0] * 2**n, RECORD_BACKOFF_SECONDS[1]) for n in range(RECORD_TRIES - 1)
)
"""How long those tries wait in all (about ten minutes): a delivery job's RQ time limit covers it."""

ALERT_REPEAT_SECONDS = 4 * 3600
"""A condition still active is reminded of at most this often: often enough to be seen, rarely enough to be read."""

ALERT_EVALUATE_SECONDS = 30.0
"""How often one worker evaluates the alert conditions; an alert fires and resolves within about this much."""

ALERT_SEND_TIMEOUT_SECONDS = 10.0
"""Timeout of one alert post or SMTP session."""

ALERT_SEND_TRIES = 4
"""How often one alert is tried on one channel (waits of 1, 2, 4 s between) before the next evaluation tries again."""

ALERT_LOG_SIZE = 500
"""How many sent alerts ``lg:alerts:sent`` keeps for the dashboard's alerts page."""

SMTP_PORT = 587
"""The submission port, where servers offer STARTTLS."""

DEAD_LETTER_WINDOW_SECONDS = 600
"""Dead letters of one source are reported together: one message per window, not one per lead."""

BACKLOG_ALERT_SECONDS = 1800
"""The oldest undelivered lead older than this fires the backlog alert (retries after an outage included)."""

SILENCE_FACTOR = 4.0
"""A source is silent when no lead came for this many times its median gap between leads over 7 days."""

SILENCE_MINIMUM_SECONDS = 3600
"""The learned silence bound is never shorter than this: a busy source's 2-minute gaps do not page at 8 minutes."""

SILENCE_LEARN_MIN_LEADS = 10
"""A source needs this many leads in 7 days before its gaps teach a silence bound."""

REJECTION_MINIMUM = 10
"""Rejections in the last hour below this never fire the rejection alert, however sharp the rise."""

REJECTION_FACTOR = 3.0
"""The last hour's rejections must exceed this many times the hourly mean of the 7 days before."""

TOKEN_EXPIRY_WARNING_SECONDS = 7 * 86400
"""A Facebook page token expiring within this is warned about (Meta's long-lived tokens last about 60 days)."""

FACEBOOK_CHECK_SECONDS = 3600.0
"""How often each Facebook page's token (``debug_token``) and subscription (``subscribed_apps``) are checked."""
