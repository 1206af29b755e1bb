"""Default values for every setting, each with the reason it has that value."""

#: Where the embedded default keeps its SQLite database, Redis files and secrets.
DATA_DIR = "./var"
#: Listen on loopback only unless told otherwise: an unconfigured console must not face a network.
HOST = "127.0.0.1"
PORT = 8080
#: RQ worker processes that `tocsin serve` starts and supervises. A worker sends nothing while it
#: claims, composes and records a batch, so on the 2-core reference machine three keep the provider
#: busier than two (100,000 SMS at 100 ms a call: 32 s with two, 27 s with three; ~130 MB each).
WORKERS = 3
#: Recipients per send job. RQ costs 5-10 ms per job, and a worker sends nothing between jobs (it
#: claims, composes and records a batch): with 100 ms provider round trips, batches of 1,000 keep
#: more messages in flight than 250 or 500 did (100,000 SMS on 2 cores: 59 s at 250, 35 s at 500,
#: 27 s at 1,000 with three workers). A killed job's duplicate window is at most this many messages.
#: An alert's first job is smaller (alerting/dispatch.FIRST_BATCH) so its first messages leave at once.
BATCH_SIZE = 1000
#: Provider API calls in flight per worker at most. Providers answer in ~100 ms, so concurrency, not
#: CPU, bounds throughput. When each call in flight held its own connection, 350 beat 250 and 500
#: (every connection costs both ends CPU); since pools hold only the connections a provider's pace is
#: worth (channels/http1_sizing.py), 500 beat 350 on 2 cores with three workers: 100,000 SMS at
#: 100 ms in 25.8 s (27.6-30.0 s), at 0 ms 6,580 msg/s (5,300-5,980), 10,000 at 100 ms in 3.73 s
#: (3.73-4.3 s). Set it to your provider account's concurrency limit if that is lower (Twilio
#: answers 429 beyond it).
SEND_CONCURRENCY = 500
#: Recipients resolved and written per dispatch step: the first batch is enqueued after this many.
RESOLVE_CHUNK = 2000
#: Named in HELP replies and messages until the organisation configures its own.
ORG_NAME = "Tocsin"
ORG_CONTACT = "your emergency management office"
LOG_LEVEL = "INFO"
#: Logs for a person at a terminal; `json` (one object per line) for a log pipeline.
LOG_FORMAT = "text"
#: Retry waits (seconds) for a send job whose provider failed transiently (timeouts, 5xx, 429).
SEND_RETRY_INTERVALS = (2, 5, 15, 30, 60)
#: Largest request body the API accepts (CSV imports included).
MAX_BODY_BYTES = 20 * 1024 * 1024
#: The sender domain used in the sandbox's mail (RFC 2606: reserved, never a real address).
SANDBOX_MAIL_DOMAIN = "tocsin.example.org"
#: How long a signed response link (email, push action) stays valid.
RESPONSE_LINK_MAX_AGE_S = 14 * 24 * 3600

#: Console sign-ins: hours on an ordinary browser; days on a console marked trusted at sign-in
#: (a dispatch desk must never be signed out when an alert has to go).
SESSION_HOURS = 12
TRUSTED_SESSION_DAYS = 30

#: The periodic sweep (ops/sweep.py): how often it looks for messages left behind (a lost job, a
#: dead worker's claim, a lost status callback). Each look is a few indexed queries and a read of RQ.
SWEEP_INTERVAL_S = 30
#: How long an SMS or call may stay `queued`/`sent` after its last news before the sweep asks the
#: provider: callbacks normally come within seconds; ten minutes leaves slow carriers alone.
STATUS_QUERY_AFTER_S = 600
