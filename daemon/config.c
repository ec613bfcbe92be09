/* config — see include/engwatch/config.h.
 *
 * One option table per section below; the sections follow the data flow.
 * Adding a setting = one row here + one documented line in
 * conf/engwatchd.conf (a unit test checks the two agree).
 */
#include "engwatch/config.h"
#include "engwatch/log.h"

#include <ctype.h>
#include <errno.h>
#include <libconfig.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define OFF(field) offsetof(struct ew_config, field)
#define NOLIM 0, 0

static const char *const log_levels[] = {"error", "warn", "notice", "info", "debug", NULL};
static const char *const log_prefixes[] = {"auto", "always", "never", NULL};

/* log_levels[i] is level EW_ERROR + i (see struct ew_config.log). */

static int check_resolutions(const void *value, char *why, size_t whylen)
{
    struct ew_resolution r[EW_MAX_RES];
    size_t n;
    return ew_parse_resolutions(value, r, &n, why, whylen);
}

static const struct ew_option options[] = {
    /* kafka: input (source_kafka) */
    {"kafka.brokers", EW_OPT_STRING, "127.0.0.1:9092", 1, 0, OFF(kafka.brokers), NULL, EW_OPT_RESTART,
     "bootstrap servers, host:port[,host:port...]", NULL},
    {"kafka.topics", EW_OPT_STRLIST, "events", 1, 0, OFF(kafka.topics), NULL, EW_OPT_RESTART,
     "topics to consume (message key should be the account)", NULL},
    {"kafka.group", EW_OPT_STRING, "engwatchd", 1, 0, OFF(kafka.group), NULL, EW_OPT_RESTART,
     "consumer group id; daemons in one group split the partitions", NULL},
    {"kafka.client_id", EW_OPT_STRING, "engwatchd", 1, 0, OFF(kafka.client_id), NULL,
     EW_OPT_RESTART, "client.id reported to the brokers", NULL},
    {"kafka.dead_letter_topic", EW_OPT_STRING, "", 0, 0, OFF(kafka.dead_letter_topic), NULL, 0,
     "topic for rejected messages with reason headers; \"\" = count and log only", NULL},
    {"kafka.shutdown_timeout", EW_OPT_DURATION, "10s", 100, 600000, OFF(kafka.shutdown_timeout_ms),
     NULL, 0, "bound on a clean shutdown (finish batch, commit, leave group)", NULL},
    {"kafka.max_buffered_bytes", EW_OPT_SIZE, "16MiB", 1048576, 17179869184.0,
     OFF(kafka.max_buffered_bytes), NULL, EW_OPT_RESTART,
     "input held in memory before partitions are paused (back-pressure)", NULL},
    {"kafka.properties", EW_OPT_PROPS, "", NOLIM, OFF(kafka.properties), NULL, EW_OPT_RESTART,
     "librdkafka properties passed verbatim to rd_kafka_conf_set", NULL},

    /* redis: window store */
    {"redis.host", EW_OPT_STRING, "127.0.0.1", 1, 0, OFF(redis.host), NULL, EW_OPT_RESTART,
     "Redis host", NULL},
    {"redis.port", EW_OPT_INT, "6379", 1, 65535, OFF(redis.port), NULL, EW_OPT_RESTART,
     "Redis TCP port", NULL},
    {"redis.unix_socket", EW_OPT_STRING, "", 0, 0, OFF(redis.unix_socket), NULL, EW_OPT_RESTART,
     "Unix socket path; when set, used instead of host:port", NULL},
    {"redis.user", EW_OPT_STRING, "", 0, 0, OFF(redis.user), NULL, EW_OPT_RESTART,
     "ACL user (\"\" = default user)", NULL},
    {"redis.password", EW_OPT_STRING, "", 0, 0, OFF(redis.password), NULL,
     EW_OPT_RESTART | EW_OPT_SECRET, "password (\"\" = no AUTH)", NULL},
    {"redis.db", EW_OPT_INT, "0", 0, 15, OFF(redis.db), NULL, EW_OPT_RESTART, "database number", NULL},
    {"redis.connect_timeout", EW_OPT_DURATION, "2s", 10, 60000, OFF(redis.connect_timeout_ms), NULL,
     0, "TCP connect timeout", NULL},
    {"redis.command_timeout", EW_OPT_DURATION, "5s", 10, 600000, OFF(redis.command_timeout_ms), NULL,
     0, "timeout for one reply", NULL},
    {"redis.retry_max_backoff", EW_OPT_DURATION, "5s", 10, 600000, OFF(redis.retry_max_backoff_ms),
     NULL, 0, "cap of the exponential reconnect backoff", NULL},
    {"redis.prefix", EW_OPT_STRING, "ew:", 0, 0, OFF(redis.prefix), NULL, EW_OPT_RESTART,
     "key namespace prefix", NULL},

    /* event: decoder bounds */
    {"event.max_message", EW_OPT_SIZE, "64KiB", 64, 16777216, OFF(event.max_message), NULL, 0,
     "largest accepted message (bytes)", NULL},
    {"event.max_id", EW_OPT_SIZE, "256", 8, 65536, OFF(event.max_id), NULL, 0,
     "longest accepted event id (bytes)", NULL},
    {"event.max_text", EW_OPT_SIZE, "8KiB", 16, 1048576, OFF(event.max_text), NULL, 0,
     "longest accepted comment text (bytes)", NULL},
    {"event.max_name", EW_OPT_SIZE, "256", 8, 512, OFF(event.max_name), NULL, 0,
     "longest accepted account, actor or post id (bytes)", NULL},

    /* batch: micro-batches */
    {"batch.max_events", EW_OPT_INT, "5000", 1, 1000000, OFF(batch.max_events), NULL, 0,
     "events per micro-batch at most", NULL},
    {"batch.max_wait", EW_OPT_DURATION, "100ms", 1, 60000, OFF(batch.max_wait_ms), NULL, 0,
     "a batch is applied at the latest this long after its first event", NULL},

    /* windows: event-time buckets */
    {"windows.allowed_lateness", EW_OPT_DURATION, "5m", 0, 86400000,
     OFF(windows.allowed_lateness_ms), NULL, EW_OPT_RESTART,
     "events older than the account's newest event minus this are counted and dropped", NULL},
    {"windows.resolutions", EW_OPT_STRLIST, "10s:30m,5m:1d,1h:8d", 1, 0, OFF(windows.resolutions),
     NULL, EW_OPT_RESTART, "bucket:retention per resolution, finest first", check_resolutions},
    {"windows.new_actor_age", EW_OPT_DURATION, "30d", 0, 3650LL * 86400000,
     OFF(windows.new_actor_age_ms), NULL, 0,
     "a follow counts as from a new actor when actor_created is this recent", NULL},
    {"windows.state_cache", EW_OPT_SIZE, "48MiB", 0, 17179869184.0, OFF(windows.state_cache_bytes),
     NULL, EW_OPT_RESTART, "memory for the parsed state of recently active accounts (0: none)",
     NULL},
    {"windows.actor_slot", EW_OPT_DURATION, "12h", 60000, 7 * 86400000LL, OFF(windows.actor_slot_ms),
     NULL, EW_OPT_RESTART, "actor activity is counted per slot of event time this long", NULL},
    {"windows.actor_history", EW_OPT_DURATION, "48h", 0, 30 * 86400000LL,
     OFF(windows.actor_history_ms), NULL, EW_OPT_RESTART,
     "an actor's activity: its actions in the whole slots this long before its own (0: off)",
     NULL},
    {"windows.actor_cells", EW_OPT_INT, "2097152", 1024, 268435456, OFF(windows.actor_cells), NULL,
     EW_OPT_RESTART, "4-bit counters per activity slot (Redis: cells / 2 bytes a slot)", NULL},
    {"windows.rare_actor_max", EW_OPT_INT, "2", 0, 14, OFF(windows.rare_actor_max), NULL,
     EW_OPT_RESTART, "a like is from a rare actor when the actor has at most this activity", NULL},

    /* detectors */
    {"detectors.lexicon_dir", EW_OPT_STRING, "lexicon", 1, 0, OFF(detectors.lexicon_dir), NULL, 0,
     "directory of hollow-comment lexicons (*.txt); relative to this file's directory", NULL},

    {"detectors.short_max_chars", EW_OPT_INT, "1", 0, 16, OFF(detectors.short_max_chars), NULL, 0,
     "a comment of at most this many letters/digits (and not generic) counts as hollow", NULL},

    /* detectors.burst: comment bursts (detect_burst.c) */
    {"detectors.burst.window", EW_OPT_DURATION, "2m", 10000, 3600000,
     OFF(detectors.burst.window_ms), NULL, 0, "short test window of comment bursts", NULL},
    {"detectors.burst.long_window", EW_OPT_DURATION, "10m", 10000, 6 * 3600000LL,
     OFF(detectors.burst.long_window_ms), NULL, 0,
     "long test window (sparser bursts); at least window", NULL},
    {"detectors.burst.trailing", EW_OPT_DURATION, "30m", 300000, 6 * 3600000LL,
     OFF(detectors.burst.trailing_ms), NULL, 0,
     "the post's own rate is measured over this much time before the window", NULL},
    {"detectors.burst.min_comments", EW_OPT_INT, "8", 2, 1000000,
     OFF(detectors.burst.min_comments), NULL, 0, "comments in the window at least", NULL},
    {"detectors.burst.min_commenters", EW_OPT_INT, "6", 1, 1000000,
     OFF(detectors.burst.min_commenters), NULL, 0, "distinct new commenters in the window at least",
     NULL},
    {"detectors.burst.min_ratio", EW_OPT_DOUBLE, "3", 1, 1000, OFF(detectors.burst.min_ratio), NULL,
     0, "comments / expected comments at least", NULL},
    {"detectors.burst.surprise", EW_OPT_DOUBLE, "6", 1, 300, OFF(detectors.burst.surprise), NULL, 0,
     "-log10 of the Poisson tail probability at least (6 = p <= 1e-6)", NULL},
    {"detectors.burst.comments_per_like", EW_OPT_DOUBLE, "0.12", 0, 10,
     OFF(detectors.burst.comments_per_like), NULL, 0,
     "comments an honest audience writes per like, before the account has history", NULL},
    {"detectors.burst.account_level", EW_OPT_BOOL, "true", NOLIM,
     OFF(detectors.burst.account_level), NULL, 0,
     "also test the account's comments over all posts", NULL},

    /* detectors.hollow: hollow and copy-paste comments (detect_hollow.c) */
    {"detectors.hollow.window", EW_OPT_DURATION, "1h", 300000, 86400000,
     OFF(detectors.hollow.window_ms), NULL, 0, "short test window", NULL},
    {"detectors.hollow.long_window", EW_OPT_DURATION, "3h", 300000, 86400000,
     OFF(detectors.hollow.long_window_ms), NULL, 0,
     "long test window (slow drips); at least window", NULL},
    {"detectors.hollow.history", EW_OPT_DURATION, "2d", 3600000, 8 * 86400000LL,
     OFF(detectors.hollow.history_ms), NULL, 0,
     "the account's usual ratios are measured over this much time before the window", NULL},
    {"detectors.hollow.min_comments", EW_OPT_INT, "15", 2, 1000000,
     OFF(detectors.hollow.min_comments), NULL, 0, "comments in the window at least", NULL},
    {"detectors.hollow.min_flagged", EW_OPT_INT, "10", 1, 1000000,
     OFF(detectors.hollow.min_flagged), NULL, 0,
     "hollow (or duplicate) comments in the window at least", NULL},
    {"detectors.hollow.min_excess", EW_OPT_DOUBLE, "0.25", 0, 1, OFF(detectors.hollow.min_excess),
     NULL, 0, "ratio in the window minus the account's usual ratio at least", NULL},
    {"detectors.hollow.prior_ratio", EW_OPT_DOUBLE, "0.5", 0, 1, OFF(detectors.hollow.prior_ratio),
     NULL, 0, "hollow ratio assumed for an account without history", NULL},
    {"detectors.hollow.prior_dup_ratio", EW_OPT_DOUBLE, "0.1", 0, 1,
     OFF(detectors.hollow.prior_dup_ratio), NULL, 0,
     "duplicate ratio assumed for an account without history", NULL},
    {"detectors.hollow.prior_weight", EW_OPT_DOUBLE, "30", 0, 100000,
     OFF(detectors.hollow.prior_weight), NULL, 0,
     "how many comments of history the assumed ratios are worth", NULL},
    {"detectors.hollow.surprise", EW_OPT_DOUBLE, "6", 1, 300, OFF(detectors.hollow.surprise), NULL,
     0, "-log10 of the binomial tail probability at least", NULL},

    /* detectors.growth: follower spikes (detect_growth.c) */
    {"detectors.growth.window", EW_OPT_DURATION, "1h", 300000, 86400000,
     OFF(detectors.growth.window_ms), NULL, 0, "test window", NULL},
    {"detectors.growth.history", EW_OPT_DURATION, "2d", 3600000, 8 * 86400000LL,
     OFF(detectors.growth.history_ms), NULL, 0,
     "the account's usual follows are measured over this much time before the window", NULL},
    {"detectors.growth.min_follows", EW_OPT_INT, "20", 1, 100000000,
     OFF(detectors.growth.min_follows), NULL, 0, "follows in the window at least", NULL},
    {"detectors.growth.min_growth", EW_OPT_DOUBLE, "0.01", 0, 100, OFF(detectors.growth.min_growth),
     NULL, 0, "unexplained follows in the window / followers at least", NULL},
    {"detectors.growth.daily_rate", EW_OPT_DOUBLE, "0.01", 0, 10, OFF(detectors.growth.daily_rate),
     NULL, 0, "follows per day / followers assumed for an account without history", NULL},
    {"detectors.growth.follows_per_like", EW_OPT_DOUBLE, "0.08", 0, 10,
     OFF(detectors.growth.follows_per_like), NULL, 0,
     "follows an honest surge brings per like of the account (upper)", NULL},
    {"detectors.growth.surprise", EW_OPT_DOUBLE, "6", 1, 300, OFF(detectors.growth.surprise), NULL,
     0, "-log10 of the Poisson tail probability at least", NULL},
    {"detectors.growth.snapshot_min_growth", EW_OPT_DOUBLE, "0.05", 0, 100,
     OFF(detectors.growth.snapshot_min_growth), NULL, 0,
     "profile-snapshot growth not seen as follow events / followers at least", NULL},

    /* detectors.engage: engagement against follower count (detect_engage.c) */
    {"detectors.engage.maturity", EW_OPT_DURATION, "12h", 3600000, 8 * 86400000LL,
     OFF(detectors.engage.maturity_ms), NULL, 0,
     "a post's engagement is judged once it is this old", NULL},
    {"detectors.engage.min_followers", EW_OPT_INT, "10000", 0, 1000000000,
     OFF(detectors.engage.min_followers), NULL, 0, "low engagement is judged from this size up",
     NULL},
    {"detectors.engage.small_max", EW_OPT_INT, "10000", 1, 1000000000,
     OFF(detectors.engage.small_max), NULL, 0, "followers of the small tier at most", NULL},
    {"detectors.engage.medium_max", EW_OPT_INT, "100000", 1, 1000000000,
     OFF(detectors.engage.medium_max), NULL, 0, "followers of the medium tier at most", NULL},
    {"detectors.engage.large_max", EW_OPT_INT, "1000000", 1, 1000000000,
     OFF(detectors.engage.large_max), NULL, 0,
     "followers of the large tier at most (above: huge)", NULL},
    {"detectors.engage.low_small", EW_OPT_DOUBLE, "0.004", 0, 10, OFF(detectors.engage.low_small),
     NULL, 0, "a matured post's engagement / followers below this is low (small tier)", NULL},
    {"detectors.engage.low_medium", EW_OPT_DOUBLE, "0.0015", 0, 10,
     OFF(detectors.engage.low_medium), NULL, 0, "the same, medium tier", NULL},
    {"detectors.engage.low_large", EW_OPT_DOUBLE, "0.0015", 0, 10, OFF(detectors.engage.low_large),
     NULL, 0, "the same, large tier", NULL},
    {"detectors.engage.low_huge", EW_OPT_DOUBLE, "0.001", 0, 10, OFF(detectors.engage.low_huge),
     NULL, 0, "the same, huge tier", NULL},
    {"detectors.engage.high_small", EW_OPT_DOUBLE, "0.05", 0, 100, OFF(detectors.engage.high_small),
     NULL, 0, "a post's likes in likes_window / followers above this is high (small tier)", NULL},
    {"detectors.engage.high_medium", EW_OPT_DOUBLE, "0.03", 0, 100,
     OFF(detectors.engage.high_medium), NULL, 0, "the same, medium tier", NULL},
    {"detectors.engage.high_large", EW_OPT_DOUBLE, "0.015", 0, 100,
     OFF(detectors.engage.high_large), NULL, 0, "the same, large tier", NULL},
    {"detectors.engage.high_huge", EW_OPT_DOUBLE, "0.01", 0, 100, OFF(detectors.engage.high_huge),
     NULL, 0, "the same, huge tier", NULL},
    {"detectors.engage.likes_window", EW_OPT_DURATION, "6h", 600000, 2 * 86400000LL,
     OFF(detectors.engage.likes_window_ms), NULL, 0, "window of the bought-likes test", NULL},
    {"detectors.engage.min_likes", EW_OPT_INT, "60", 1, 1000000000,
     OFF(detectors.engage.min_likes), NULL, 0, "likes on the post in likes_window at least", NULL},
    {"detectors.engage.companions_per_like", EW_OPT_DOUBLE, "0.05", 0, 10,
     OFF(detectors.engage.companions_per_like), NULL, 0,
     "comments + shares an honest audience gives per like at least", NULL},
    {"detectors.engage.surprise", EW_OPT_DOUBLE, "3", 1, 300, OFF(detectors.engage.surprise), NULL,
     0, "-log10 of the tail probability at least (both directions)", NULL},
    {"detectors.engage.rare_lift", EW_OPT_DOUBLE, "0.3", 0, 1, OFF(detectors.engage.rare_lift),
     NULL, 0, "rare likers' share above the reference, as a part of the room above it, at least",
     NULL},
    {"detectors.engage.rare_companions", EW_OPT_DOUBLE, "1", 0, 300,
     OFF(detectors.engage.rare_companions), NULL, 0,
     "companions surprise that suffices when the likers are rare beyond chance", NULL},
    {"detectors.engage.rare_min_reference", EW_OPT_INT, "1000", 1, 1000000000,
     OFF(detectors.engage.rare_min_reference), NULL, 0,
     "likes in the reference slot at least for the rare-liker test", NULL},
    {"detectors.engage.rolling_interval", EW_OPT_DURATION, "6h", 3600000, 8 * 86400000LL,
     OFF(detectors.engage.rolling_interval_ms), NULL, 0,
     "the account-level check runs at the first profile snapshot of each interval", NULL},
    {"detectors.engage.rolling_window", EW_OPT_DURATION, "2d", 3600000, 8 * 86400000LL,
     OFF(detectors.engage.rolling_window_ms), NULL, 0, "window of the account-level check", NULL},
    {"detectors.engage.min_unfollows", EW_OPT_INT, "10", 1, 1000000000,
     OFF(detectors.engage.min_unfollows), NULL, 0,
     "unfollows in rolling_window at least for the attrition evidence", NULL},
    {"detectors.engage.attrition", EW_OPT_DOUBLE, "0.35", 0, 100, OFF(detectors.engage.attrition),
     NULL, 0, "unfollows per follow honest churn explains; more (tail test) is attrition", NULL},

    /* risk: signals -> per-account risk, incidents and alerts */
    {"risk.half_life", EW_OPT_DURATION, "6h", 60000, 30LL * 86400000, OFF(risk.half_life_ms), NULL,
     0, "account risk halves after this much event time without new signals", NULL},
    {"risk.info", EW_OPT_DOUBLE, "20", 0, 100, OFF(risk.info), NULL, 0,
     "risk at which an incident opens (level info)", NULL},
    {"risk.warning", EW_OPT_DOUBLE, "50", 0, 100, OFF(risk.warning), NULL, 0,
     "risk of level warning", NULL},
    {"risk.critical", EW_OPT_DOUBLE, "80", 0, 100, OFF(risk.critical), NULL, 0,
     "risk of level critical", NULL},
    {"risk.weight_comment_burst", EW_OPT_DOUBLE, "60", 0, 100, OFF(risk.weight[0]), NULL, 0,
     "risk added by a comment_burst signal of score 1", NULL},
    {"risk.weight_hollow_comments", EW_OPT_DOUBLE, "50", 0, 100, OFF(risk.weight[1]), NULL, 0,
     "risk added by a hollow_comments signal of score 1", NULL},
    {"risk.weight_follower_spike", EW_OPT_DOUBLE, "60", 0, 100, OFF(risk.weight[2]), NULL, 0,
     "risk added by a follower_spike signal of score 1", NULL},
    {"risk.weight_engagement_mismatch", EW_OPT_DOUBLE, "50", 0, 100, OFF(risk.weight[3]), NULL, 0,
     "risk added by an engagement_mismatch signal of score 1", NULL},
    {"risk.resolve_after", EW_OPT_DURATION, "12h", 60000, 30LL * 86400000,
     OFF(risk.resolve_after_ms), NULL, 0,
     "an incident resolves after this much event time without signals", NULL},
    {"risk.realert_after", EW_OPT_DURATION, "1h", 0, 30LL * 86400000, OFF(risk.realert_after_ms),
     NULL, 0, "within an open incident, the same signal alerts again at most this often", NULL},
    {"risk.outbox_maxlen", EW_OPT_INT, "100000", 100, 100000000, OFF(risk.outbox_maxlen), NULL, 0,
     "alerts kept in the Redis outbox stream (XADD MAXLEN ~)", NULL},

    /* sinks: alert outputs, each forwarding from the Redis outbox */
    {"sinks.kafka.enabled", EW_OPT_BOOL, "false", NOLIM, OFF(sinks.kafka.enabled), NULL, 0,
     "produce alerts to a Kafka topic (key = account, idempotent producer)", NULL},
    {"sinks.kafka.brokers", EW_OPT_STRING, "", 0, 0, OFF(sinks.kafka.brokers), NULL, 0,
     "bootstrap servers of the alerts topic; \"\" = kafka.brokers", NULL},
    {"sinks.kafka.topic", EW_OPT_STRING, "alerts", 1, 0, OFF(sinks.kafka.topic), NULL, 0,
     "alerts topic", NULL},
    {"sinks.kafka.properties", EW_OPT_PROPS, "", NOLIM, OFF(sinks.kafka.properties), NULL, 0,
     "librdkafka producer properties passed verbatim", NULL},
    {"sinks.redis.enabled", EW_OPT_BOOL, "true", NOLIM, OFF(sinks.redis.enabled), NULL, 0,
     "alerts stream, risk sorted set and per-account latest alert (the API and dashboard read "
     "them)", NULL},
    {"sinks.redis.stream", EW_OPT_STRING, "alerts", 1, 0, OFF(sinks.redis.stream), NULL, 0,
     "stream name under redis.prefix", NULL},
    {"sinks.redis.maxlen", EW_OPT_INT, "100000", 100, 100000000, OFF(sinks.redis.maxlen), NULL, 0,
     "alerts kept in the stream (XADD MAXLEN ~)", NULL},
    {"sinks.webhook.enabled", EW_OPT_BOOL, "false", NOLIM, OFF(sinks.webhook.enabled), NULL, 0,
     "POST each alert as JSON to a URL", NULL},
    {"sinks.webhook.url", EW_OPT_STRING, "", 0, 0, OFF(sinks.webhook.url), NULL, 0,
     "http(s) URL", NULL},
    {"sinks.webhook.token", EW_OPT_STRING, "", 0, 0, OFF(sinks.webhook.token), NULL, EW_OPT_SECRET,
     "bearer token sent as Authorization; \"\" = none", NULL},
    {"sinks.webhook.timeout", EW_OPT_DURATION, "5s", 100, 300000, OFF(sinks.webhook.timeout_ms),
     NULL, 0, "timeout of one POST", NULL},
    {"sinks.webhook.max_retries", EW_OPT_INT, "8", 0, 1000, OFF(sinks.webhook.max_retries), NULL, 0,
     "retries of a failing alert before it is counted as an error and skipped", NULL},
    {"sinks.file.enabled", EW_OPT_BOOL, "false", NOLIM, OFF(sinks.file.enabled), NULL, 0,
     "append alerts as JSON lines to a file", NULL},
    {"sinks.file.path", EW_OPT_STRING, "-", 1, 0, OFF(sinks.file.path), NULL, 0,
     "file path; \"-\" = stdout", NULL},
    {"sinks.retry_backoff_max", EW_OPT_DURATION, "30s", 10, 3600000,
     OFF(sinks.retry_backoff_max_ms), NULL, 0, "cap of a sink's exponential retry backoff", NULL},

    /* http: metrics, health, API, dashboard */
    {"http.enabled", EW_OPT_BOOL, "true", NOLIM, OFF(http.enabled), NULL, EW_OPT_RESTART,
     "serve /metrics, /healthz, /readyz, /api/* and the dashboard", NULL},
    {"http.listen", EW_OPT_STRING, "127.0.0.1:9308", 1, 0, OFF(http.listen), NULL, EW_OPT_RESTART,
     "address:port to listen on", NULL},
    {"http.token", EW_OPT_STRING, "", 0, 0, OFF(http.token), NULL, EW_OPT_SECRET,
     "bearer token required on every path but /healthz; \"\" = none", NULL},

    /* replay */
    {"replay.namespace", EW_OPT_STRING, "", 0, 0, OFF(replay.ns), NULL, 0,
     "Redis key namespace of a replay; \"\" = \"replay:<run id>:\"", NULL},
    {"replay.batch_events", EW_OPT_INT, "50000", 1, 1000000, OFF(replay.batch_events), NULL, 0,
     "events per batch in a replay (live uses batch.max_events)", NULL},
    {"replay.progress_interval", EW_OPT_DURATION, "1s", 100, 3600000,
     OFF(replay.progress_interval_ms), NULL, 0,
     "progress line interval (on a terminal; every 10 intervals otherwise)", NULL},

    /* log */
    {"log.level", EW_OPT_ENUM, "info", NOLIM, OFF(log.level), log_levels, 0,
     "error, warn, notice, info or debug", NULL},
    {"log.syslog_prefix", EW_OPT_ENUM, "auto", NOLIM, OFF(log.prefix), log_prefixes, 0,
     "\"<N>\" priority prefixes: auto (when stderr is the journal), always, never", NULL},
    {"log.rate_limit_burst", EW_OPT_INT, "10", 1, 100000, OFF(log.rate_limit_burst), NULL, 0,
     "repeated messages let through per interval and call site", NULL},
    {"log.rate_limit_interval", EW_OPT_DURATION, "10s", 1, 3600000,
     OFF(log.rate_limit_interval_ms), NULL, 0, "rate-limit interval", NULL},
};

/* Sections that exist in the file layout before they have settings. */
static const char *const empty_sections[] = {NULL};

const struct ew_option *ew_config_options(size_t *n)
{
    *n = sizeof options / sizeof options[0];
    return options;
}

/* ---- errors ------------------------------------------------------------ */

void ew_cfg_errors_add(struct ew_cfg_errors *e, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    size_t len = strlen(line);
    if (e->len + len + 2 > e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 256;
        while (cap < e->len + len + 2)
            cap *= 2;
        char *b = realloc(e->buf, cap);
        if (!b)
            return;
        e->buf = b;
        e->cap = cap;
    }
    memcpy(e->buf + e->len, line, len);
    e->len += len;
    e->buf[e->len++] = '\n';
    e->buf[e->len] = '\0';
    e->count++;
}

void ew_cfg_errors_free(struct ew_cfg_errors *e)
{
    free(e->buf);
    memset(e, 0, sizeof *e);
}

/* ---- value parsing ------------------------------------------------------ */

static void *slot(struct ew_config *cfg, const struct ew_option *o) { return (char *)cfg + o->off; }
static const void *cslot(const struct ew_config *cfg, const struct ew_option *o)
{
    return (const char *)cfg + o->off;
}

static void strlist_free(struct ew_strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

static int strlist_push(struct ew_strlist *l, const char *s, size_t len)
{
    char **v = realloc(l->v, (l->n + 1) * sizeof *v);
    if (!v)
        return -1;
    l->v = v;
    if (!(l->v[l->n] = strndup(s, len)))
        return -1;
    l->n++;
    return 0;
}

static void props_free(struct ew_props *p)
{
    for (size_t i = 0; i < p->n; i++) {
        free(p->key[i]);
        free(p->val[i]);
    }
    free(p->key);
    free(p->val);
    memset(p, 0, sizeof *p);
}

const char *ew_props_get(const struct ew_props *p, const char *key)
{
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->key[i], key) == 0)
            return p->val[i];
    return NULL;
}

/* Set or replace key. */
static int props_set(struct ew_props *p, const char *key, const char *val)
{
    for (size_t i = 0; i < p->n; i++) {
        if (strcmp(p->key[i], key) == 0) {
            char *v = strdup(val);
            if (!v)
                return -1;
            free(p->val[i]);
            p->val[i] = v;
            return 0;
        }
    }
    char **k = realloc(p->key, (p->n + 1) * sizeof *k);
    if (!k)
        return -1;
    p->key = k;
    char **v = realloc(p->val, (p->n + 1) * sizeof *v);
    if (!v)
        return -1;
    p->val = v;
    p->key[p->n] = strdup(key);
    p->val[p->n] = strdup(val);
    if (!p->key[p->n] || !p->val[p->n]) {
        free(p->key[p->n]);
        free(p->val[p->n]);
        return -1;
    }
    p->n++;
    return 0;
}

static int parse_int64(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || isspace((unsigned char)*s))
        return -1;
    *out = v;
    return 0;
}

/* "1h30m", "250ms", "10s", "2d", or a bare integer (milliseconds). */
int ew_parse_duration(const char *s, int64_t *ms)
{
    static const struct {
        const char *unit;
        int64_t ms;
    } units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}};
    if (parse_int64(s, ms) == 0)
        return *ms >= 0 ? 0 : -1;
    int64_t total = 0;
    const char *p = s;
    if (!*p)
        return -1;
    while (*p) {
        if (!isdigit((unsigned char)*p))
            return -1;
        char *end;
        errno = 0;
        long long v = strtoll(p, &end, 10);
        if (errno)
            return -1;
        size_t ul = 0;
        while (isalpha((unsigned char)end[ul]))
            ul++;
        int64_t mult = -1;
        for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
            if (strlen(units[i].unit) == ul && strncmp(end, units[i].unit, ul) == 0)
                mult = units[i].ms;
        if (mult < 0 || v > INT64_MAX / mult || total > INT64_MAX - v * mult)
            return -1;
        total += v * mult;
        p = end + ul;
    }
    *ms = total;
    return 0;
}

int ew_parse_resolutions(const struct ew_strlist *l, struct ew_resolution *out, size_t *n,
                         char *why, size_t whylen)
{
    if (l->n > EW_MAX_RES) {
        snprintf(why, whylen, "at most %d resolutions", EW_MAX_RES);
        return -1;
    }
    for (size_t i = 0; i < l->n; i++) {
        char buf[64];
        const char *colon = strchr(l->v[i], ':');
        if (!colon || (size_t)(colon - l->v[i]) >= sizeof buf) {
            snprintf(why, whylen, "entry %zu: expected BUCKET:RETENTION like \"10s:30m\" (got %s)",
                     i + 1, l->v[i]);
            return -1;
        }
        snprintf(buf, sizeof buf, "%.*s", (int)(colon - l->v[i]), l->v[i]);
        struct ew_resolution r;
        if (ew_parse_duration(buf, &r.bucket_ms) < 0 ||
            ew_parse_duration(colon + 1, &r.retention_ms) < 0 || r.bucket_ms < 1000 ||
            r.retention_ms < r.bucket_ms) {
            snprintf(why, whylen,
                     "entry %zu: bucket >= 1s and retention >= bucket, as durations (got %s)",
                     i + 1, l->v[i]);
            return -1;
        }
        if (i > 0 && (r.bucket_ms <= out[i - 1].bucket_ms || r.bucket_ms % out[i - 1].bucket_ms)) {
            snprintf(why, whylen,
                     "entry %zu: each bucket must be a larger multiple of the previous (got %s)",
                     i + 1, l->v[i]);
            return -1;
        }
        out[i] = r;
    }
    *n = l->n;
    return 0;
}

/* "65536", "64KiB", "8MiB", "1GiB" (also "KB"/"k" style, all binary). */
int ew_parse_size(const char *s, int64_t *bytes)
{
    static const struct {
        const char *unit;
        int64_t mult;
    } units[] = {{"", 1},           {"B", 1},           {"K", 1024},     {"KB", 1024},
                 {"KiB", 1024},     {"k", 1024},        {"M", 1 << 20},  {"MB", 1 << 20},
                 {"MiB", 1 << 20},  {"G", 1 << 30},     {"GB", 1 << 30}, {"GiB", 1 << 30}};
    if (!isdigit((unsigned char)*s))
        return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno)
        return -1;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(end, units[i].unit) == 0) {
            if (v > INT64_MAX / units[i].mult)
                return -1;
            *bytes = v * units[i].mult;
            return 0;
        }
    }
    return -1;
}

static int parse_bool(const char *s, bool *out)
{
    static const char *const t[] = {"true", "yes", "on", "1"}, *const f[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, t[i]) == 0)
            return *out = true, 0;
        if (strcasecmp(s, f[i]) == 0)
            return *out = false, 0;
    }
    return -1;
}

/* "10m", "1500ms": the largest unit that divides ms exactly. */
static void fmt_duration(char *buf, size_t len, int64_t ms)
{
    static const struct {
        const char *u;
        int64_t ms;
    } units[] = {{"d", 86400000}, {"h", 3600000}, {"m", 60000}, {"s", 1000}};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (ms > 0 && ms % units[i].ms == 0) {
            snprintf(buf, len, "%lld%s", (long long)(ms / units[i].ms), units[i].u);
            return;
        }
    }
    snprintf(buf, len, "%lldms", (long long)ms);
}

/* Range check for numeric types; min == max == 0 means unbounded. */
static int check_range(const struct ew_option *o, double v, char *why, size_t whylen)
{
    if (o->min == 0 && o->max == 0)
        return 0;
    if (v < o->min || (o->max > o->min && v > o->max)) {
        if (o->type == EW_OPT_DURATION) {
            char lo[32], hi[32];
            fmt_duration(lo, sizeof lo, (int64_t)o->min);
            fmt_duration(hi, sizeof hi, (int64_t)o->max);
            snprintf(why, whylen, "out of range %s..%s", lo, hi);
        }
        else
            snprintf(why, whylen, "out of range %g..%g", o->min, o->max);
        return -1;
    }
    return 0;
}

static int set_string(char **dst, const char *s)
{
    char *c = strdup(s);
    if (!c)
        return -1;
    free(*dst);
    *dst = c;
    return 0;
}

static void choices_text(const struct ew_option *o, char *buf, size_t len)
{
    size_t n = 0;
    buf[0] = '\0';
    for (const char *const *c = o->choices; *c && n < len; c++)
        n += (size_t)snprintf(buf + n, len - n, "%s%s", n ? ", " : "", *c);
}

/* Parse the text form of a value (defaults and --set use it) into cfg.
 * On failure writes the reason to why and returns -1. */
static int set_from_text(struct ew_config *cfg, const struct ew_option *o, const char *text,
                         char *why, size_t whylen)
{
    void *dst = slot(cfg, o);
    switch (o->type) {
    case EW_OPT_INT: {
        int64_t v;
        if (parse_int64(text, &v) < 0)
            return snprintf(why, whylen, "expected an integer"), -1;
        if (check_range(o, (double)v, why, whylen) < 0)
            return -1;
        *(int64_t *)dst = v;
        return 0;
    }
    case EW_OPT_DURATION:
    case EW_OPT_SIZE: {
        int64_t v;
        int r = o->type == EW_OPT_DURATION ? ew_parse_duration(text, &v) : ew_parse_size(text, &v);
        if (r < 0)
            return snprintf(why, whylen, o->type == EW_OPT_DURATION
                                             ? "expected a duration like 500ms, 10s, 5m, 2h, 1d"
                                             : "expected a size like 65536, 64KiB, 8MiB"),
                   -1;
        if (check_range(o, (double)v, why, whylen) < 0)
            return -1;
        *(int64_t *)dst = v;
        return 0;
    }
    case EW_OPT_DOUBLE: {
        char *end;
        errno = 0;
        double v = strtod(text, &end);
        if (errno || end == text || *end || !isfinite(v))
            return snprintf(why, whylen, "expected a number"), -1;
        if (check_range(o, v, why, whylen) < 0)
            return -1;
        *(double *)dst = v;
        return 0;
    }
    case EW_OPT_BOOL:
        if (parse_bool(text, (bool *)dst) < 0)
            return snprintf(why, whylen, "expected true or false"), -1;
        return 0;
    case EW_OPT_STRING:
        if (o->min > 0 && strlen(text) < (size_t)o->min)
            return snprintf(why, whylen, "must not be empty"), -1;
        if (set_string(dst, text) < 0)
            return snprintf(why, whylen, "out of memory"), -1;
        return 0;
    case EW_OPT_ENUM:
        for (int i = 0; o->choices[i]; i++) {
            if (strcmp(o->choices[i], text) == 0) {
                *(int *)dst = i;
                return 0;
            }
        }
        {
            char c[256];
            choices_text(o, c, sizeof c);
            snprintf(why, whylen, "expected one of %s", c);
        }
        return -1;
    case EW_OPT_STRLIST: {
        struct ew_strlist l = {0};
        const char *p = text;
        while (*p) {
            const char *comma = strchr(p, ',');
            size_t len = comma ? (size_t)(comma - p) : strlen(p);
            const char *s = p, *e = p + len;
            while (s < e && isspace((unsigned char)*s))
                s++;
            while (e > s && isspace((unsigned char)e[-1]))
                e--;
            if (e == s) {
                strlist_free(&l);
                return snprintf(why, whylen, "empty list element"), -1;
            }
            if (strlist_push(&l, s, (size_t)(e - s)) < 0) {
                strlist_free(&l);
                return snprintf(why, whylen, "out of memory"), -1;
            }
            p = comma ? comma + 1 : e;
        }
        if (o->min > 0 && l.n < (size_t)o->min) {
            strlist_free(&l);
            return snprintf(why, whylen, "needs at least %.0f element(s)", o->min), -1;
        }
        if (o->check && o->check(&l, why, whylen) < 0) {
            strlist_free(&l);
            return -1;
        }
        strlist_free(dst);
        *(struct ew_strlist *)dst = l;
        return 0;
    }
    case EW_OPT_PROPS:
        /* Only "path.key=value" sets a property; the bare path takes "" (no properties). */
        if (*text)
            return snprintf(why, whylen, "set properties one by one: %s.NAME=VALUE", o->path), -1;
        props_free(dst);
        return 0;
    }
    return -1;
}

static const struct ew_option *find_option(const char *path)
{
    for (size_t i = 0; i < sizeof options / sizeof options[0]; i++)
        if (strcmp(options[i].path, path) == 0)
            return &options[i];
    return NULL;
}

/* The PROPS option that path is a child of ("kafka.properties.acks"), or NULL. */
static const struct ew_option *props_parent(const char *path, const char **key)
{
    for (size_t i = 0; i < sizeof options / sizeof options[0]; i++) {
        size_t l = strlen(options[i].path);
        if (options[i].type == EW_OPT_PROPS && strncmp(path, options[i].path, l) == 0 &&
            path[l] == '.' && path[l + 1]) {
            *key = path + l + 1;
            return &options[i];
        }
    }
    return NULL;
}

/* Is path a section (a prefix of some option path, or a known empty section)? */
static int is_group(const char *path)
{
    size_t l = strlen(path);
    for (size_t i = 0; i < sizeof options / sizeof options[0]; i++)
        if (strncmp(options[i].path, path, l) == 0 && options[i].path[l] == '.')
            return 1;
    for (const char *const *s = empty_sections; *s; s++)
        if (strcmp(*s, path) == 0)
            return 1;
    return 0;
}

/* ---- defaults, free ----------------------------------------------------- */

void ew_config_free(struct ew_config *cfg)
{
    for (size_t i = 0; i < sizeof options / sizeof options[0]; i++) {
        const struct ew_option *o = &options[i];
        void *dst = slot(cfg, o);
        if (o->type == EW_OPT_STRING) {
            free(*(char **)dst);
            *(char **)dst = NULL;
        } else if (o->type == EW_OPT_STRLIST) {
            strlist_free(dst);
        } else if (o->type == EW_OPT_PROPS) {
            props_free(dst);
        }
    }
    free(cfg->path);
    cfg->path = NULL;
}

int ew_config_defaults(struct ew_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    for (size_t i = 0; i < sizeof options / sizeof options[0]; i++) {
        char why[256];
        if (set_from_text(cfg, &options[i], options[i].def, why, sizeof why) < 0) {
            /* A bad default is a programming error; the unit tests catch it. */
            EW_LOG(EW_ERROR, "config", "default of %s: %s", options[i].path, why);
            return -1;
        }
    }
    return 0;
}

/* ---- the file ----------------------------------------------------------- */

static const char *type_name(int t)
{
    switch (t) {
    case CONFIG_TYPE_GROUP: return "a group";
    case CONFIG_TYPE_INT:
    case CONFIG_TYPE_INT64: return "an integer";
    case CONFIG_TYPE_FLOAT: return "a float";
    case CONFIG_TYPE_STRING: return "a string";
    case CONFIG_TYPE_BOOL: return "a boolean";
    case CONFIG_TYPE_ARRAY: return "an array";
    case CONFIG_TYPE_LIST: return "a list";
    default: return "nothing";
    }
}

/* Render a scalar setting's value for messages and props ("got X"). */
static void scalar_text(const config_setting_t *s, char *buf, size_t len)
{
    switch (config_setting_type(s)) {
    case CONFIG_TYPE_INT:
    case CONFIG_TYPE_INT64:
        snprintf(buf, len, "%lld", config_setting_get_int64(s));
        break;
    case CONFIG_TYPE_FLOAT:
        snprintf(buf, len, "%.17g", config_setting_get_float(s));
        break;
    case CONFIG_TYPE_BOOL:
        snprintf(buf, len, "%s", config_setting_get_bool(s) ? "true" : "false");
        break;
    case CONFIG_TYPE_STRING:
        snprintf(buf, len, "%s", config_setting_get_string(s));
        break;
    default:
        snprintf(buf, len, "%s", type_name(config_setting_type(s)));
    }
}

struct walk {
    struct ew_config *cfg;
    struct ew_cfg_errors *errs;
    const char *file;
};

/* Report "FILE:LINE: path: message" for setting s. */
static void __attribute__((format(printf, 4, 5)))
ferr(struct walk *w, const config_setting_t *s, const char *path, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const char *file = config_setting_source_file(s);
    ew_cfg_errors_add(w->errs, "%s:%u: %s: %s", file ? file : w->file,
                      config_setting_source_line(s), path, msg);
}
#define FERR ferr

static void apply_setting(struct walk *w, const struct ew_option *o, config_setting_t *s,
                          const char *path)
{
    int t = config_setting_type(s);
    char got[256], why[300];
    scalar_text(s, got, sizeof got);

    switch (o->type) {
    case EW_OPT_INT:
        if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64) {
            FERR(w, s, path, "expected an integer (got %s %s)", type_name(t), got);
            return;
        }
        break;
    case EW_OPT_DOUBLE:
        if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64 && t != CONFIG_TYPE_FLOAT) {
            FERR(w, s, path, "expected a number (got %s %s)", type_name(t), got);
            return;
        }
        break;
    case EW_OPT_BOOL:
        if (t != CONFIG_TYPE_BOOL) {
            FERR(w, s, path, "expected true or false (got %s %s)", type_name(t), got);
            return;
        }
        break;
    case EW_OPT_STRING:
    case EW_OPT_ENUM:
        if (t != CONFIG_TYPE_STRING) {
            FERR(w, s, path, "expected a string (got %s %s)", type_name(t), got);
            return;
        }
        break;
    case EW_OPT_DURATION:
    case EW_OPT_SIZE:
        if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64 && t != CONFIG_TYPE_STRING) {
            FERR(w, s, path, "expected %s (got %s %s)",
                 o->type == EW_OPT_DURATION ? "a duration" : "a size", type_name(t), got);
            return;
        }
        break;
    case EW_OPT_STRLIST: {
        if (t != CONFIG_TYPE_ARRAY && t != CONFIG_TYPE_LIST) {
            FERR(w, s, path, "expected a list of strings like [\"a\", \"b\"] (got %s %s)",
                 type_name(t), got);
            return;
        }
        struct ew_strlist l = {0};
        int n = config_setting_length(s);
        for (int i = 0; i < n; i++) {
            config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
            if (config_setting_type(e) != CONFIG_TYPE_STRING ||
                !*config_setting_get_string(e)) {
                scalar_text(e, got, sizeof got);
                FERR(w, s, path, "element %d must be a non-empty string (got %s)", i + 1, got);
                strlist_free(&l);
                return;
            }
            const char *v = config_setting_get_string(e);
            if (strlist_push(&l, v, strlen(v)) < 0) {
                strlist_free(&l);
                FERR(w, s, path, "out of memory");
                return;
            }
        }
        if (o->min > 0 && l.n < (size_t)o->min) {
            FERR(w, s, path, "needs at least %.0f element(s) (got %zu)", o->min, l.n);
            strlist_free(&l);
            return;
        }
        if (o->check && o->check(&l, why, sizeof why) < 0) {
            FERR(w, s, path, "%s", why);
            strlist_free(&l);
            return;
        }
        strlist_free(slot(w->cfg, o));
        *(struct ew_strlist *)slot(w->cfg, o) = l;
        return;
    }
    case EW_OPT_PROPS: {
        if (t != CONFIG_TYPE_GROUP) {
            FERR(w, s, path, "expected a group of name = value settings (got %s %s)",
                 type_name(t), got);
            return;
        }
        int n = config_setting_length(s);
        for (int i = 0; i < n; i++) {
            config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
            int et = config_setting_type(e);
            /* libconfig names cannot contain '.', and librdkafka property
             * names use '.' and never '_': write session_timeout_ms = "6000"
             * in the file for session.timeout.ms. */
            char key[256];
            snprintf(key, sizeof key, "%s", config_setting_name(e));
            for (char *k = key; *k; k++)
                if (*k == '_')
                    *k = '.';
            if (et == CONFIG_TYPE_GROUP || et == CONFIG_TYPE_ARRAY || et == CONFIG_TYPE_LIST) {
                FERR(w, e, path, "property %s: expected a string, number or boolean (got %s)",
                     key, type_name(et));
                continue;
            }
            scalar_text(e, got, sizeof got);
            if (props_set(slot(w->cfg, o), key, got) < 0)
                FERR(w, e, path, "out of memory");
        }
        return;
    }
    }
    if (set_from_text(w->cfg, o, got, why, sizeof why) < 0)
        FERR(w, s, path, "%s (got %s)", why, got);
}

static void walk_group(struct walk *w, config_setting_t *g, const char *prefix)
{
    int n = config_setting_length(g);
    for (int i = 0; i < n; i++) {
        config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
        const char *name = config_setting_name(s);
        char path[512];
        snprintf(path, sizeof path, "%s%s%s", prefix, *prefix ? "." : "", name ? name : "?");
        const struct ew_option *o = find_option(path);
        if (o) {
            apply_setting(w, o, s, path);
        } else if (is_group(path)) {
            if (config_setting_type(s) != CONFIG_TYPE_GROUP)
                FERR(w, s, path, "expected a group { ... } (got %s)",
                     type_name(config_setting_type(s)));
            else
                walk_group(w, s, path);
        } else {
            FERR(w, s, path, "unknown setting");
        }
    }
}

int ew_config_set(struct ew_config *cfg, const char *assignment, struct ew_cfg_errors *errs)
{
    const char *eq = strchr(assignment, '=');
    if (!eq || eq == assignment) {
        ew_cfg_errors_add(errs, "--set %s: expected path=value", assignment);
        return -1;
    }
    char path[512];
    snprintf(path, sizeof path, "%.*s", (int)(eq - assignment), assignment);
    const char *value = eq + 1;
    const struct ew_option *o = find_option(path);
    const char *key;
    char why[300];
    if (o) {
        if (set_from_text(cfg, o, value, why, sizeof why) < 0) {
            ew_cfg_errors_add(errs, "--set %s: %s (got \"%s\")", path, why, value);
            return -1;
        }
        return 0;
    }
    if ((o = props_parent(path, &key))) {
        if (props_set(slot(cfg, o), key, value) < 0) {
            ew_cfg_errors_add(errs, "--set %s: out of memory", path);
            return -1;
        }
        return 0;
    }
    ew_cfg_errors_add(errs, "--set %s: unknown setting", path);
    return -1;
}

int ew_config_load(struct ew_config *cfg, const char *file, const char *const *sets, size_t nsets,
                   struct ew_cfg_errors *errs)
{
    int before = errs->count;
    if (ew_config_defaults(cfg) < 0) {
        ew_cfg_errors_add(errs, "built-in defaults: invalid (see log)");
        return -1;
    }
    if (file) {
        config_t lc;
        config_init(&lc);
        /* @include paths are relative to the including file's directory. */
        char *dir = strdup(file), *slash = dir ? strrchr(dir, '/') : NULL;
        if (slash) {
            *slash = '\0';
            config_set_include_dir(&lc, dir);
        }
        if (!config_read_file(&lc, file)) {
            if (config_error_type(&lc) == CONFIG_ERR_FILE_IO)
                ew_cfg_errors_add(errs, "%s: cannot read: %s", file, strerror(errno));
            else
                ew_cfg_errors_add(errs, "%s:%d: syntax error: %s",
                                  config_error_file(&lc) ? config_error_file(&lc) : file,
                                  config_error_line(&lc), config_error_text(&lc));
        } else {
            struct walk w = {cfg, errs, file};
            walk_group(&w, config_root_setting(&lc), "");
        }
        config_destroy(&lc);
        free(dir);
        cfg->path = strdup(file);
    }
    for (size_t i = 0; i < nsets; i++)
        ew_config_set(cfg, sets[i], errs);
    return errs->count > before ? -1 : 0;
}

const char *ew_config_path(const struct ew_config *cfg, const char *path, char *buf, size_t len)
{
    const char *slash = cfg->path ? strrchr(cfg->path, '/') : NULL;
    if (path[0] == '/' || !slash)
        snprintf(buf, len, "%s", path);
    else
        snprintf(buf, len, "%.*s/%s", (int)(slash - cfg->path), cfg->path, path);
    return buf;
}

/* ---- printing ----------------------------------------------------------- */

static void print_quoted(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fputc('\\', out);
        fputc(*s, out);
    }
    fputc('"', out);
}

static void print_duration(FILE *out, int64_t ms)
{
    char buf[32];
    fmt_duration(buf, sizeof buf, ms);
    fprintf(out, "\"%s\"", buf);
}

static void print_value(FILE *out, const struct ew_config *cfg, const struct ew_option *o,
                        int indent)
{
    const void *v = cslot(cfg, o);
    switch (o->type) {
    case EW_OPT_INT:
    case EW_OPT_SIZE:
        fprintf(out, "%lld", (long long)*(const int64_t *)v);
        break;
    case EW_OPT_DURATION:
        print_duration(out, *(const int64_t *)v);
        break;
    case EW_OPT_DOUBLE:
        fprintf(out, "%.17g", *(const double *)v);
        break;
    case EW_OPT_BOOL:
        fputs(*(const bool *)v ? "true" : "false", out);
        break;
    case EW_OPT_STRING:
        if ((o->flags & EW_OPT_SECRET) && **(char *const *)v)
            fputs("\"(set)\"", out);
        else
            print_quoted(out, *(char *const *)v);
        break;
    case EW_OPT_ENUM:
        print_quoted(out, o->choices[*(const int *)v]);
        break;
    case EW_OPT_STRLIST: {
        const struct ew_strlist *l = v;
        fputc('[', out);
        for (size_t i = 0; i < l->n; i++) {
            if (i)
                fputs(", ", out);
            print_quoted(out, l->v[i]);
        }
        fputc(']', out);
        break;
    }
    case EW_OPT_PROPS: {
        const struct ew_props *p = v;
        fputs("{\n", out);
        for (size_t i = 0; i < p->n; i++) {
            fprintf(out, "%*s", indent + 2, "");
            for (const char *k = p->key[i]; *k; k++)
                fputc(*k == '.' ? '_' : *k, out);
            fputs(" = ", out);
            print_quoted(out, p->val[i]);
            fputs(";\n", out);
        }
        fprintf(out, "%*s}", indent, "");
        break;
    }
    }
}

/* Number of '.'-separated components two group paths share ("a.b" and
 * "a.c" share 1); len_a/len_b are the lengths of the group paths. */
static int shared_components(const char *a, size_t la, const char *b, size_t lb)
{
    int n = 0;
    size_t i = 0;
    for (;; i++) {
        int end_a = i == la || a[i] == '.', end_b = i == lb || b[i] == '.';
        if (end_a || end_b) {
            if (end_a && end_b && la && lb)
                n++;
            if (end_a != end_b || i == la || i == lb)
                return n;
            continue;
        }
        if (a[i] != b[i])
            return n;
    }
}

static int components(size_t len, const char *p)
{
    int n = len ? 1 : 0;
    for (size_t i = 0; i < len; i++)
        n += p[i] == '.';
    return n;
}

void ew_config_print(const struct ew_config *cfg, FILE *out)
{
    size_t n = sizeof options / sizeof options[0];
    fprintf(out, "# effective configuration (%s)\n", cfg->path ? cfg->path : "built-in defaults");
    const char *open = "";
    size_t openlen = 0;
    for (size_t i = 0; i <= n; i++) {
        const struct ew_option *o = i < n ? &options[i] : NULL;
        const char *dot = o ? strrchr(o->path, '.') : NULL;
        size_t glen = dot ? (size_t)(dot - o->path) : 0;
        const char *group = o ? o->path : "";
        int keep = o ? shared_components(open, openlen, group, glen) : 0;
        int depth = components(openlen, open);
        /* close the groups that end here, innermost first */
        for (int d = depth; d > keep; d--)
            fprintf(out, "%*s};\n", (d - 1) * 2, "");
        if (!o)
            break;
        /* open the new ones, outermost first */
        int c = 0;
        size_t start = 0;
        for (size_t j = 0; j <= glen; j++) {
            if (j < glen && group[j] != '.')
                continue;
            if (c >= keep)
                fprintf(out, "%*s%.*s = {\n", c * 2, "", (int)(j - start), group + start);
            c++;
            start = j + 1;
        }
        open = group;
        openlen = glen;
        int ind = components(glen, group) * 2;
        fprintf(out, "%*s%s = ", ind, "", dot ? dot + 1 : o->path);
        print_value(out, cfg, o, ind);
        fputs(";\n", out);
    }
}

/* ---- reload support ----------------------------------------------------- */

static int same_value(const struct ew_config *a, const struct ew_config *b,
                      const struct ew_option *o)
{
    const void *x = cslot(a, o), *y = cslot(b, o);
    switch (o->type) {
    case EW_OPT_INT:
    case EW_OPT_DURATION:
    case EW_OPT_SIZE:
        return *(const int64_t *)x == *(const int64_t *)y;
    case EW_OPT_DOUBLE:
        return *(const double *)x == *(const double *)y;
    case EW_OPT_BOOL:
        return *(const bool *)x == *(const bool *)y;
    case EW_OPT_ENUM:
        return *(const int *)x == *(const int *)y;
    case EW_OPT_STRING:
        return strcmp(*(char *const *)x, *(char *const *)y) == 0;
    case EW_OPT_STRLIST: {
        const struct ew_strlist *l = x, *m = y;
        if (l->n != m->n)
            return 0;
        for (size_t i = 0; i < l->n; i++)
            if (strcmp(l->v[i], m->v[i]) != 0)
                return 0;
        return 1;
    }
    case EW_OPT_PROPS: {
        const struct ew_props *p = x, *q = y;
        if (p->n != q->n)
            return 0;
        for (size_t i = 0; i < p->n; i++) {
            const char *v = ew_props_get(q, p->key[i]);
            if (!v || strcmp(v, p->val[i]) != 0)
                return 0;
        }
        return 1;
    }
    }
    return 0;
}

int ew_config_restart_diff(const struct ew_config *a, const struct ew_config *b,
                           struct ew_cfg_errors *out)
{
    int n = 0;
    for (size_t i = 0; i < sizeof options / sizeof options[0]; i++) {
        if ((options[i].flags & EW_OPT_RESTART) && !same_value(a, b, &options[i])) {
            ew_cfg_errors_add(out, "%s", options[i].path);
            n++;
        }
    }
    return n;
}

/* Copy option o's value from src into dst (deep). */
static int copy_value(struct ew_config *dst, const struct ew_config *src, const struct ew_option *o)
{
    void *d = slot(dst, o);
    const void *v = cslot(src, o);
    switch (o->type) {
    case EW_OPT_STRING:
        return set_string(d, *(char *const *)v);
    case EW_OPT_STRLIST: {
        struct ew_strlist l = {0};
        const struct ew_strlist *sl = v;
        for (size_t i = 0; i < sl->n; i++)
            if (strlist_push(&l, sl->v[i], strlen(sl->v[i])) < 0) {
                strlist_free(&l);
                return -1;
            }
        strlist_free(d);
        *(struct ew_strlist *)d = l;
        return 0;
    }
    case EW_OPT_PROPS: {
        struct ew_props p = {0};
        const struct ew_props *sp = v;
        for (size_t i = 0; i < sp->n; i++)
            if (props_set(&p, sp->key[i], sp->val[i]) < 0) {
                props_free(&p);
                return -1;
            }
        props_free(d);
        *(struct ew_props *)d = p;
        return 0;
    }
    case EW_OPT_INT:
    case EW_OPT_DURATION:
    case EW_OPT_SIZE: *(int64_t *)d = *(const int64_t *)v; return 0;
    case EW_OPT_DOUBLE: *(double *)d = *(const double *)v; return 0;
    case EW_OPT_BOOL: *(bool *)d = *(const bool *)v; return 0;
    case EW_OPT_ENUM: *(int *)d = *(const int *)v; return 0;
    }
    return -1;
}

int ew_config_keep_restart(struct ew_config *dst, const struct ew_config *src,
                           struct ew_cfg_errors *changed)
{
    int n = 0;
    for (size_t i = 0; i < sizeof options / sizeof options[0]; i++) {
        const struct ew_option *o = &options[i];
        if (!(o->flags & EW_OPT_RESTART) || same_value(dst, src, o))
            continue;
        if (changed)
            ew_cfg_errors_add(changed, "%s", o->path);
        if (copy_value(dst, src, o) < 0)
            return -1;
        n++;
    }
    return n;
}
