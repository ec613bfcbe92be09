/* http — libmicrohttpd server: Prometheus metrics, health, the JSON API over
 * what the Redis sink wrote, and the embedded dashboard.
 *
 * Threads.  libmicrohttpd runs a listening thread and one thread per
 * connection (at most MAX_CONNECTIONS).  A request reads the metrics hub with
 * ew_hub_snapshot (a copy: the hub lock is never held while formatting) and
 * Redis through this module's own struct ew_store, which is not thread-safe:
 * every use of it — command buffer, round trip, and the parsing of its
 * replies, which the store owns until the next call — happens under
 * h->store_lock.  What a reload may change (the token, the stream name, the
 * risk half-life) lives under h->cfg_lock and is copied out by each request.
 *
 * Access.  With http.token set, every path but /healthz and the dashboard's
 * static files needs "Authorization: Bearer <token>" (401 with a
 * WWW-Authenticate challenge otherwise).  The static files hold no data — the
 * same bytes ship in every binary — and the page cannot ask for the token
 * before it is loaded; everything it shows comes from the API, which checks
 * the token.
 *
 * Redis keys read (written by the Redis sink and the window module; never
 * written here), P = redis.prefix:
 *   P<sinks.redis.stream>  stream of alerts, field "alert" = alert JSON
 *   Prisk                  sorted set: account -> risk at its latest alert
 *   Palert:{A}             hash: latest incident level risk ts signal signals
 *   P{A}                   the account's window hash (see window.h): wm, bucket
 *                          counters R:I packed "c,h,d,..." (the earlier one-field-a-
 *                          metric layout M@R:I is read too), R* risk state
 *
 * JSON shapes (every body is one JSON value; errors are {"error": "..."}):
 *   GET /readyz             {"ready", "kafka_assigned", "redis_up", "reason"?}
 *   GET /api/accounts       [{"account", "risk", "level", "signal", "signals",
 *                             "last_alert_ts", "incident"}, ...] by risk, highest first
 *   GET /api/accounts/{id}  {"account", "risk", "risk_basis" ("last_update": risk x 1000
 *                            in Rs as of Rt, event time; else "latest_alert": the sorted
 *                            set), "risk_updated_ts", "risk_at_watermark" (decayed by the
 *                            half-life to wm), "level", "incident", "incident_opened_ts",
 *                            "incident_alerts", "signal", "signals", "last_alert_ts",
 *                            "latest_alert", "recent_alerts": [{"id", "alert"}] (newest
 *                            first, <= 20 of the stream's last 500 entries),
 *                            "series": {"resolution", "bucket_ms", "anchor", "watermark",
 *                            "bucket_start": [ms...], "comments", "hollow", "follows",
 *                            "unfollows", "likes": [counts aligned with bucket_start]}}
 *   GET /api/alerts         {"alerts": [{"id", "alert"}] oldest first, "last_id"}
 *                            (?since=ID: after ID, exclusive; else the newest ?limit=N)
 */
#include "engwatch/http.h"
#include "engwatch/detect.h"
#include "engwatch/event.h"
#include "engwatch/log.h"
#include "engwatch/risk.h"
#include "engwatch/store.h"
#include "engwatch/window.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "web_embed.h" /* generated from daemon/web/ by tools/embed_web.sh */

#define MAX_CONNECTIONS    64
#define CONNECTION_TIMEOUT 30 /* seconds of inactivity */
#define DEFAULT_LIMIT      50
#define MAX_LIMIT          1000
#define SCAN_ALERTS        500 /* stream entries scanned for one account's alerts */
#define RECENT_ALERTS      20
#define SERIES_SPAN_MS     (24 * 3600 * 1000LL)
#define MAX_SERIES_BUCKETS 4096
#define MAX_ACCOUNT_ID     4096

struct ew_http {
    struct MHD_Daemon *mhd;
    struct ew_metrics_hub *hub; /* borrowed; outlives us */

    pthread_mutex_t store_lock; /* store, cmd and the store's replies */
    struct ew_store *store;
    struct ew_cmdbuf *cmd;

    pthread_mutex_t cfg_lock; /* what a reload may change */
    char *token;              /* "" = no token */
    char *stream;             /* full key: prefix + sinks.redis.stream */
    int64_t half_life_ms;

    /* fixed for the life of the server (restart-only settings) */
    char *prefix;
    int series_res; /* resolution index of the series */
    int64_t series_bucket_ms;
    int nseries; /* buckets in SERIES_SPAN_MS */
};

/* ---- small helpers ------------------------------------------------------------ */

/* A growable string; on allocation failure it records oom and stops growing. */
struct sbuf {
    char *p;
    size_t len, cap;
    int oom;
};

static void sb_add(struct sbuf *b, const char *s, size_t n)
{
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_str(struct sbuf *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

static void sb_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->oom = 1;
        return;
    }
    if ((size_t)n < sizeof tmp) {
        sb_add(b, tmp, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        b->oom = 1;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    sb_add(b, big, (size_t)n);
    free(big);
}

/* Parse all of s as a decimal integer in [min, max].  0 / -1. */
static int parse_i64(const char *s, size_t n, int64_t min, int64_t max, int64_t *out)
{
    char buf[32];
    if (n == 0 || n >= sizeof buf) return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    char *end;
    errno = 0;
    long long v = strtoll(buf, &end, 10);
    if (errno || *end || end == buf || v < min || v > max) return -1;
    *out = v;
    return 0;
}

/* A JSON string from bytes that should be UTF-8; invalid bytes become '?'
 * rather than failing the whole response. */
static json_t *jstr(const char *p, size_t n)
{
    json_t *s = json_stringn(p, n);
    if (s) return s;
    char *c = malloc(n + 1);
    if (!c) return NULL;
    for (size_t i = 0; i < n; i++)
        c[i] = (p[i] > 0 && (unsigned char)p[i] < 0x80) ? p[i] : '?';
    s = json_stringn(c, n);
    free(c);
    return s;
}

/* ---- Redis reply helpers (the replies are borrowed from the store) ------------ */

static int is_str(const redisReply *r)
{
    return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS);
}

static int is_array(const redisReply *r)
{
    return r && r->type == REDIS_REPLY_ARRAY; /* RESP2 (hiredis 0.14) */
}

/* The value of field in an HGETALL reply (alternating field, value), or NULL. */
static const redisReply *hash_get(const redisReply *r, const char *field)
{
    size_t fl = strlen(field);
    if (!is_array(r)) return NULL;
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const redisReply *f = r->element[i];
        if (is_str(f) && f->len == fl && memcmp(f->str, field, fl) == 0) return r->element[i + 1];
    }
    return NULL;
}

static int reply_i64(const redisReply *r, int64_t *out)
{
    if (!r) return -1;
    if (r->type == REDIS_REPLY_INTEGER) {
        *out = r->integer;
        return 0;
    }
    return is_str(r) ? parse_i64(r->str, r->len, INT64_MIN, INT64_MAX, out) : -1;
}

static int reply_double(const redisReply *r, double *out)
{
    if (!r) return -1;
    if (r->type == REDIS_REPLY_INTEGER) {
        *out = (double)r->integer;
        return 0;
    }
    if (!is_str(r) || r->len == 0 || r->len >= 64) return -1;
    char buf[64], *end;
    memcpy(buf, r->str, r->len);
    buf[r->len] = '\0';
    errno = 0;
    double v = strtod(buf, &end);
    if (errno || *end || !isfinite(v)) return -1;
    *out = v;
    return 0;
}

/* A string reply as a JSON string, or null. */
static json_t *reply_jstr(const redisReply *r)
{
    return is_str(r) ? jstr(r->str, r->len) : json_null();
}

static json_t *reply_jint(const redisReply *r)
{
    int64_t v;
    return reply_i64(r, &v) == 0 ? json_integer((json_int_t)v) : json_null();
}

/* Parse JSON text from a reply; on invalid JSON the text itself as a string. */
static json_t *reply_json(const redisReply *r)
{
    if (!is_str(r)) return json_null();
    json_t *j = json_loadb(r->str, r->len, JSON_DECODE_ANY, NULL);
    return j ? j : jstr(r->str, r->len);
}

/* The alert hash's "signals": a JSON array as written, or a comma/space
 * separated list; always returned as an array of strings. */
static json_t *signals_json(const redisReply *r)
{
    json_t *a = json_array();
    if (!a || !is_str(r)) return a;
    json_t *j = json_loadb(r->str, r->len, 0, NULL);
    if (json_is_array(j)) {
        json_decref(a);
        return j;
    }
    json_decref(j);
    size_t i = 0;
    while (i < r->len) {
        while (i < r->len && strchr(", ", r->str[i]))
            i++;
        size_t s = i;
        while (i < r->len && !strchr(", ", r->str[i]))
            i++;
        if (i > s) json_array_append_new(a, jstr(r->str + s, i - s));
    }
    return a;
}

/* ---- responses ------------------------------------------------------------------ */

static enum MHD_Result send_buf(struct MHD_Connection *c, unsigned status, const char *type,
                                void *body, size_t len, enum MHD_ResponseMemoryMode mode,
                                const char *const *headers)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, mode);
    if (!r) {
        if (mode == MHD_RESPMEM_MUST_FREE) free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    for (size_t i = 0; headers && headers[i]; i += 2)
        MHD_add_response_header(r, headers[i], headers[i + 1]);
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static const char *const no_store[] = {MHD_HTTP_HEADER_CACHE_CONTROL, "no-store", NULL};

/* Send j (stolen) as the JSON body. */
static enum MHD_Result send_json(struct MHD_Connection *c, unsigned status, json_t *j)
{
    char *s = j ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(12)) : NULL;
    json_decref(j);
    if (!s) {
        static const char oom[] = "{\"error\":\"out of memory\"}";
        return send_buf(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "application/json", (void *)oom,
                        sizeof oom - 1, MHD_RESPMEM_PERSISTENT, no_store);
    }
    return send_buf(c, status, "application/json", s, strlen(s), MHD_RESPMEM_MUST_FREE, no_store);
}

static enum MHD_Result send_error(struct MHD_Connection *c, unsigned status, const char *msg)
{
    return send_json(c, status, json_pack("{s:s}", "error", msg));
}

static enum MHD_Result send_text(struct MHD_Connection *c, unsigned status, const char *text)
{
    return send_buf(c, status, "text/plain; charset=utf-8", (void *)text, strlen(text),
                    MHD_RESPMEM_PERSISTENT, no_store);
}

/* ---- /metrics -------------------------------------------------------------------- */

/* Prometheus text format 0.0.4: label values escape \ " and newline. */
static void m_label_value(struct sbuf *b, const char *v)
{
    for (const char *p = v; *p; p++) {
        if (*p == '\\')
            sb_add(b, "\\\\", 2);
        else if (*p == '"')
            sb_add(b, "\\\"", 2);
        else if (*p == '\n')
            sb_add(b, "\\n", 2);
        else
            sb_add(b, p, 1);
    }
}

static void m_family(struct sbuf *b, const char *name, const char *type, const char *help)
{
    sb_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One sample: name{k1="v1",k2="v2"} value; labels are (key, value) pairs,
 * NULL-terminated (or NULL for none). */
static void m_sample(struct sbuf *b, const char *name, const char *const *labels, const char *value)
{
    sb_str(b, name);
    if (labels && labels[0]) {
        sb_add(b, "{", 1);
        for (size_t i = 0; labels[i]; i += 2) {
            if (i) sb_add(b, ",", 1);
            sb_str(b, labels[i]);
            sb_add(b, "=\"", 2);
            m_label_value(b, labels[i + 1]);
            sb_add(b, "\"", 1);
        }
        sb_add(b, "}", 1);
    }
    sb_add(b, " ", 1);
    sb_str(b, value);
    sb_add(b, "\n", 1);
}

static void m_u64(struct sbuf *b, const char *name, const char *const *labels, uint64_t v)
{
    char val[32];
    snprintf(val, sizeof val, "%" PRIu64, v);
    m_sample(b, name, labels, val);
}

static void m_i64(struct sbuf *b, const char *name, const char *const *labels, int64_t v)
{
    char val[32];
    snprintf(val, sizeof val, "%" PRId64, v);
    m_sample(b, name, labels, val);
}

static void m_double(struct sbuf *b, const char *name, const char *const *labels, double v)
{
    char val[40];
    if (isnan(v))
        snprintf(val, sizeof val, "NaN");
    else if (isinf(v))
        snprintf(val, sizeof val, "%sInf", v > 0 ? "+" : "-");
    else
        snprintf(val, sizeof val, "%.17g", v);
    m_sample(b, name, labels, val);
}

/* A whole counter family with one unlabelled sample. */
static void m_counter(struct sbuf *b, const char *name, const char *help, uint64_t v)
{
    m_family(b, name, "counter", help);
    m_u64(b, name, NULL, v);
}

static void m_gauge(struct sbuf *b, const char *name, const char *help, int64_t v)
{
    m_family(b, name, "gauge", help);
    m_i64(b, name, NULL, v);
}

static void m_hist(struct sbuf *b, const char *name, const char *help, const struct ew_hist *h)
{
    char n[128], le[32];
    m_family(b, name, "histogram", help);
    snprintf(n, sizeof n, "%s_bucket", name);
    for (int i = 0; i < EW_HIST_BUCKETS; i++) {
        snprintf(le, sizeof le, "%g", ew_hist_bounds[i]);
        const char *const l[] = {"le", le, NULL};
        /* never above the count, whatever a racing writer did */
        m_u64(b, n, l, h->le[i] < h->count ? h->le[i] : h->count);
    }
    const char *const inf[] = {"le", "+Inf", NULL};
    m_u64(b, n, inf, h->count);
    snprintf(n, sizeof n, "%s_sum", name);
    m_double(b, n, NULL, h->sum);
    snprintf(n, sizeof n, "%s_count", name);
    m_u64(b, n, NULL, h->count);
}

/* Per-sink family: one sample per registered sink. */
static void m_sinks(struct sbuf *b, const struct ew_metrics_hub *s, const char *name,
                    const char *type, const char *help, int which)
{
    m_family(b, name, type, help);
    for (size_t i = 0; i < s->nsinks && i < EW_HUB_MAX_SINKS; i++) {
        const struct ew_sink_metrics *k = &s->sinks[i];
        char nm[sizeof k->name + 1];
        snprintf(nm, sizeof nm, "%s", k->name); /* NUL-terminated whatever the slot holds */
        const char *const l[] = {"sink", nm, NULL};
        switch (which) {
        case 0:
            m_u64(b, name, l, k->delivered);
            break;
        case 1:
            m_u64(b, name, l, k->errors);
            break;
        case 2:
            m_u64(b, name, l, k->retries);
            break;
        case 3:
            m_u64(b, name, l, k->lost);
            break;
        case 4:
            if (k->lag >= 0) m_i64(b, name, l, k->lag);
            break;
        default:
            m_i64(b, name, l, k->up ? 1 : 0);
            break;
        }
    }
}

/* Render the exposition text of snapshot s into b. */
static void render_metrics(struct sbuf *b, const struct ew_metrics_hub *s)
{
    const struct ew_metrics *m = &s->m;

    m_counter(b, "engwatch_messages_total", "Messages read from the source.", m->messages);
    m_family(b, "engwatch_events_total", "counter", "Events decoded and accepted, by type.");
    for (int t = 0; t < EW_EV__COUNT; t++) {
        const char *const l[] = {"type", ew_event_type_name((enum ew_event_type)t), NULL};
        m_u64(b, "engwatch_events_total", l, m->events[t]);
    }
    m_family(b, "engwatch_rejects_total", "counter",
             "Messages rejected by the decoder, by reason.");
    for (int r = 1; r < EW_REJ__COUNT; r++) {
        const char *const l[] = {"reason", ew_reject_name((enum ew_reject)r), NULL};
        m_u64(b, "engwatch_rejects_total", l, m->rejects[r]);
    }
    m_counter(b, "engwatch_dead_letters_total",
              "Rejected messages produced to the dead-letter topic.", m->dead_letters);
    m_counter(b, "engwatch_dead_letter_errors_total",
              "Rejected messages that could not be produced to the dead-letter topic.",
              m->dead_letter_errors);
    m_counter(b, "engwatch_skipped_total",
              "Messages at or below the stored source position (already applied).", m->skipped);
    m_counter(b, "engwatch_late_events_total",
              "Events later than windows.allowed_lateness, counted and dropped.", m->late_dropped);
    m_counter(b, "engwatch_batches_total", "Micro-batches applied to Redis.", m->batches);
    m_counter(b, "engwatch_state_cache_hits_total",
              "Account folds that used the state cache instead of reading Redis.", m->cache_hits);
    m_counter(b, "engwatch_state_cache_misses_total",
              "Account folds that read the account's state from Redis.", m->cache_misses);
    m_gauge(b, "engwatch_state_cache_bytes", "Memory held by the state cache.",
            (int64_t)m->cache_bytes);
    m_counter(b, "engwatch_kafka_commits_total", "Kafka offset commits.", m->commits);
    m_counter(b, "engwatch_kafka_commit_errors_total", "Kafka offset commits that failed.",
              m->commit_errors);
    m_counter(b, "engwatch_kafka_fetch_nudges_total",
              "Requests sent to wake fetching after the consumer queue drained (librdkafka 2.0).",
              m->fetch_nudges);
    m_counter(b, "engwatch_backpressure_pauses_total",
              "Times partitions were paused for back-pressure.", m->pauses);
    m_hist(b, "engwatch_batch_duration_ms", "Time to apply one micro-batch, in milliseconds.",
           &s->batch_ms);
    m_hist(b, "engwatch_batch_events", "Events per micro-batch.", &s->batch_size);
    m_hist(b, "engwatch_redis_roundtrip_ms", "Redis round trip of the pipeline, in milliseconds.",
           &s->redis_rtt_ms);
    m_hist(b, "engwatch_apply_delay_ms",
           "Delay from an event's Kafka message timestamp (produce time) to its batch applied in "
           "Redis, in milliseconds.",
           &s->apply_delay_ms);
    m_gauge(b, "engwatch_redis_up", "1 when the pipeline's Redis connection is up.",
            s->redis_up ? 1 : 0);
    m_gauge(b, "engwatch_kafka_assigned_partitions", "Kafka partitions assigned to this member.",
            s->kafka_assigned);

    m_family(b, "engwatch_consumer_lag", "gauge",
             "Messages behind the partition's high watermark (partitions with a known lag).");
    for (size_t i = 0; i < s->nparts && i < EW_HUB_MAX_PARTS; i++) {
        if (s->parts[i].lag < 0) continue;
        char nm[sizeof s->parts[i].name + 1];
        snprintf(nm, sizeof nm, "%s", s->parts[i].name);
        const char *const l[] = {"partition", nm, NULL};
        m_i64(b, "engwatch_consumer_lag", l, s->parts[i].lag);
    }

    m_family(b, "engwatch_alerts_total", "counter", "Alerts raised, by signal and level.");
    for (int k = 0; k < EW_SIG__COUNT && k < 4; k++)
        for (int lv = 0; lv < 4; lv++) {
            if (lv == EW_LEVEL_NONE && s->alerts[k][lv] == 0)
                continue; /* alerts carry a level; "none" only if one ever did not */
            const char *const l[] = {"signal", ew_signal_name((enum ew_signal_kind)k), "level",
                                     ew_level_name((enum ew_level)lv), NULL};
            m_u64(b, "engwatch_alerts_total", l, s->alerts[k][lv]);
        }

    m_sinks(b, s, "engwatch_sink_delivered_total", "counter", "Alerts delivered by the sink.", 0);
    m_sinks(b, s, "engwatch_sink_errors_total", "counter", "Alerts the sink gave up on.", 1);
    m_sinks(b, s, "engwatch_sink_retries_total", "counter", "Delivery retries of the sink.", 2);
    m_sinks(b, s, "engwatch_sink_lost_total", "counter",
            "Alerts trimmed from the outbox before the sink read them.", 3);
    m_sinks(b, s, "engwatch_sink_lag", "gauge",
            "Outbox entries the sink has not delivered yet (sinks with a known lag).", 4);
    m_sinks(b, s, "engwatch_sink_up", "gauge", "1 when the sink's last delivery attempt succeeded.",
            5);

    int64_t rss = ew_process_rss();
    m_family(b, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
    if (rss >= 0) m_i64(b, "process_resident_memory_bytes", NULL, rss);
    m_family(b, "process_start_time_seconds", "gauge",
             "Start time of the process since the Unix epoch in seconds.");
    m_i64(b, "process_start_time_seconds", NULL, s->started_unix);
}

static enum MHD_Result handle_metrics(struct ew_http *h, struct MHD_Connection *c)
{
    struct ew_metrics_hub *snap = malloc(sizeof *snap);
    if (!snap) return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    ew_hub_snapshot(h->hub, snap);
    struct sbuf b = {0};
    render_metrics(&b, snap);
    free(snap);
    if (b.oom || !b.p) {
        free(b.p);
        return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    }
    return send_buf(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", b.p, b.len,
                    MHD_RESPMEM_MUST_FREE, no_store);
}

/* ---- /readyz ---------------------------------------------------------------------- */

static enum MHD_Result handle_readyz(struct ew_http *h, struct MHD_Connection *c)
{
    struct ew_metrics_hub *snap = malloc(sizeof *snap);
    if (!snap) return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    ew_hub_snapshot(h->hub, snap);
    int assigned = snap->kafka_assigned, redis_up = snap->redis_up;
    free(snap);
    int ready = assigned > 0 && redis_up;
    json_t *j = json_pack("{s:b,s:i,s:b}", "ready", ready, "kafka_assigned", assigned, "redis_up",
                          redis_up != 0);
    if (j && !ready)
        json_object_set_new(j, "reason",
                            json_string(assigned <= 0 && !redis_up
                                            ? "no Kafka partitions assigned; Redis unavailable"
                                        : assigned <= 0 ? "no Kafka partitions assigned"
                                                        : "Redis unavailable"));
    return send_json(c, ready ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, j);
}

/* ---- the API ---------------------------------------------------------------------- */

/* A request's view of the reloadable settings (copies). */
struct req_cfg {
    char *stream;
    int64_t half_life_ms;
};

static int req_cfg_get(struct ew_http *h, struct req_cfg *rc)
{
    pthread_mutex_lock(&h->cfg_lock);
    rc->stream = strdup(h->stream);
    rc->half_life_ms = h->half_life_ms;
    pthread_mutex_unlock(&h->cfg_lock);
    return rc->stream ? 0 : -1;
}

/* Run the commands in h->cmd in one round trip; the caller holds
 * store_lock.  0 with *replies (owned by the store until its next call), or
 * -1 with the reason in err: Redis unavailable, or its first error reply. */
static int run_cmds(struct ew_http *h, redisReply ***replies, char *err, size_t errlen)
{
    if (ew_store_read(h->store, h->cmd, replies) < 0) {
        snprintf(err, errlen, "redis unavailable");
        return -1;
    }
    for (size_t i = 0; i < ew_cmdbuf_count(h->cmd); i++) {
        const redisReply *r = (*replies)[i];
        if (!r || r->type == REDIS_REPLY_ERROR) {
            snprintf(err, errlen, "redis: %s", r && r->str ? r->str : "no reply");
            return -1;
        }
    }
    return 0;
}

/* Append XREVRANGE stream + - COUNT n: the stream's newest n entries. */
static void cmd_newest(struct ew_cmdbuf *b, const char *stream, int64_t n)
{
    ew_cmd_begin(b, "XREVRANGE");
    ew_cmd_str(b, stream);
    ew_cmd_str(b, "+");
    ew_cmd_str(b, "-");
    ew_cmd_str(b, "COUNT");
    ew_cmd_int(b, n);
}

/* "limit" query argument: default DEFAULT_LIMIT, 1..MAX_LIMIT.  0 / -1. */
static int get_limit(struct MHD_Connection *c, int64_t *limit)
{
    const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "limit");
    *limit = DEFAULT_LIMIT;
    return v ? parse_i64(v, strlen(v), 1, MAX_LIMIT, limit) : 0;
}

/* A summary of one account from its alert hash (borrowed reply) and its
 * risk score. */
static json_t *account_summary(const char *acct, size_t len, double risk, const redisReply *ah)
{
    json_t *o = json_object();
    if (!o) return NULL;
    const redisReply *lvl = hash_get(ah, "level");
    json_object_set_new(o, "account", jstr(acct, len));
    json_object_set_new(o, "risk", json_real(risk));
    json_object_set_new(o, "level", is_str(lvl) ? jstr(lvl->str, lvl->len) : json_string("none"));
    json_object_set_new(o, "signal", reply_jstr(hash_get(ah, "signal")));
    json_object_set_new(o, "signals", signals_json(hash_get(ah, "signals")));
    json_object_set_new(o, "last_alert_ts", reply_jint(hash_get(ah, "ts")));
    json_object_set_new(o, "incident", reply_jstr(hash_get(ah, "incident")));
    return o;
}

static enum MHD_Result handle_accounts(struct ew_http *h, struct MHD_Connection *c)
{
    int64_t limit;
    if (get_limit(c, &limit) < 0)
        return send_error(c, MHD_HTTP_BAD_REQUEST, "limit: an integer 1..1000");

    json_t *out = NULL;
    const char *err = NULL;
    char errbuf[256];
    redisReply **rep;
    pthread_mutex_lock(&h->store_lock);
    const char *prefix = h->prefix;
    size_t n = 0;
    char **acct = NULL;
    size_t *alen = NULL;
    double *score = NULL;
    ew_cmdbuf_reset(h->cmd);
    ew_cmd_begin(h->cmd, "ZREVRANGE");
    ew_cmd_argf(h->cmd, "%srisk", prefix);
    ew_cmd_str(h->cmd, "0");
    ew_cmd_int(h->cmd, limit - 1);
    ew_cmd_str(h->cmd, "WITHSCORES");
    if (run_cmds(h, &rep, errbuf, sizeof errbuf) < 0) {
        err = errbuf;
        goto done;
    }
    /* Copy the members and scores out: the next read frees these replies. */
    const redisReply *z = rep[0];
    n = is_array(z) ? z->elements / 2 : 0;
    acct = calloc(n + 1, sizeof *acct);
    alen = calloc(n + 1, sizeof *alen);
    score = calloc(n + 1, sizeof *score);
    if (!acct || !alen || !score) {
        err = "out of memory";
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        const redisReply *m = z->element[2 * i], *s = z->element[2 * i + 1];
        if (!is_str(m) || reply_double(s, &score[i]) < 0) {
            err = "redis: malformed ZREVRANGE reply";
            goto done;
        }
        if (!(acct[i] = malloc(m->len + 1))) {
            err = "out of memory";
            goto done;
        }
        memcpy(acct[i], m->str, m->len);
        acct[i][m->len] = '\0';
        alen[i] = m->len;
    }
    ew_cmdbuf_reset(h->cmd);
    for (size_t i = 0; i < n; i++) {
        ew_cmd_begin(h->cmd, "HGETALL");
        ew_cmd_argf(h->cmd, "%salert:{%.*s}", prefix, (int)alen[i], acct[i]);
    }
    if (n && run_cmds(h, &rep, errbuf, sizeof errbuf) < 0) {
        err = errbuf;
        goto done;
    }
    if (!(out = json_array())) {
        err = "out of memory";
        goto done;
    }
    for (size_t i = 0; i < n; i++)
        json_array_append_new(out, account_summary(acct[i], alen[i], score[i], rep[i]));
done:
    pthread_mutex_unlock(&h->store_lock);
    for (size_t i = 0; acct && i < n; i++)
        free(acct[i]);
    free(acct);
    free(alen);
    free(score);
    if (err) {
        json_decref(out);
        return send_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, err);
    }
    return send_json(c, MHD_HTTP_OK, out);
}

/* Stream entries [id, [field, value, ...]] → {"id", "alert"}; NULL when the
 * entry has no "alert" field. */
static json_t *stream_entry(const redisReply *e)
{
    if (!is_array(e) || e->elements < 2 || !is_str(e->element[0])) return NULL;
    const redisReply *alert = hash_get(e->element[1], "alert");
    if (!alert) return NULL;
    return json_pack("{s:o,s:o}", "id", jstr(e->element[0]->str, e->element[0]->len), "alert",
                     reply_json(alert));
}

/* The metrics of the series, in output order. */
static const struct {
    enum ew_metric m;
    const char *name;
} series_metrics[] = {{EW_M_COMMENTS, "comments"},
                      {EW_M_HOLLOW, "hollow"},
                      {EW_M_FOLLOWS, "follows"},
                      {EW_M_UNFOLLOWS, "unfollows"},
                      {EW_M_LIKES, "likes"}};
#define NSERIES (sizeof series_metrics / sizeof series_metrics[0])

/* An account-level bucket field of the window hash (see window.h):
 *   "R:I"    all metrics of bucket I of resolution R, packed "c,h,d,..." in
 *            enum ew_metric order (the current layout): *metric = -1;
 *   "M@R:I"  one metric M (the earlier layout): *metric = its enum value.
 * Fields with a post suffix ("R:I:POST") and anything else return -1. */
static int bucket_field(const char *f, size_t n, int64_t *res, int64_t *idx, int *metric)
{
    *metric = -1;
    if (n >= 2 && f[1] == '@') {
        const char *l = memchr(ew_metric_letter, f[0], EW_M__COUNT);
        if (!l) return -1;
        *metric = (int)(l - ew_metric_letter);
        f += 2;
        n -= 2;
    }
    const char *colon = memchr(f, ':', n);
    if (!colon || colon == f) return -1;
    size_t rl = (size_t)(colon - f);
    if (parse_i64(f, rl, 0, EW_MAX_RES, res) < 0 ||
        parse_i64(colon + 1, n - rl - 1, 0, INT64_MAX, idx) < 0) /* a post suffix fails here */
        return -1;
    return 0;
}

/* Counter number i (0-based) of a packed bucket value "3,0,1"; 0 when absent. */
static int64_t packed_get(const char *p, size_t n, int i)
{
    const char *end = p + n;
    for (; i > 0 && p < end; i--) {
        const char *c = memchr(p, ',', (size_t)(end - p));
        if (!c) return 0;
        p = c + 1;
    }
    const char *c = memchr(p, ',', (size_t)(end - p));
    int64_t v;
    return parse_i64(p, c ? (size_t)(c - p) : (size_t)(end - p), INT64_MIN, INT64_MAX, &v) == 0 ? v
                                                                                                : 0;
}

/* The account's state (the reply to GET P{A}) as an HGETALL-like array of
 * its fields and their values in text, built here (free with free_state);
 * NULL when there is none or it is not a state this version reads. */
static int state_field(void *ctx, const char *f, size_t flen, const char *v, size_t vlen)
{
    redisReply *a = ctx;
    if (a->elements % 64 == 0) {
        redisReply **e = realloc(a->element, (a->elements + 64) * sizeof *e);
        if (!e) return -1;
        a->element = e;
    }
    for (int i = 0; i < 2; i++) {
        redisReply *x = calloc(1, sizeof *x);
        char *str = x ? malloc((i ? vlen : flen) + 1) : NULL;
        if (!str) {
            free(x);
            return -1;
        }
        memcpy(str, i ? v : f, i ? vlen : flen);
        str[i ? vlen : flen] = '\0';
        x->type = REDIS_REPLY_STRING;
        x->str = str;
        x->len = i ? vlen : flen;
        a->element[a->elements++] = x;
    }
    return 0;
}

static void free_state(redisReply *a)
{
    for (size_t i = 0; a && i < a->elements; i++) {
        free(a->element[i]->str);
        free(a->element[i]);
    }
    if (a) free(a->element);
    free(a);
}

static redisReply *state_as_hash(const redisReply *r)
{
    if (!r || r->type != REDIS_REPLY_STRING) return NULL;
    redisReply *a = calloc(1, sizeof *a);
    if (!a) return NULL;
    a->type = REDIS_REPLY_ARRAY;
    if (ew_state_each(r->str, r->len, state_field, a) < 0 || a->elements % 2) {
        free_state(a);
        return NULL;
    }
    return a;
}

/* The series object from the window hash reply wh (borrowed): nseries buckets
 * of resolution series_res ending with the watermark's bucket.  *wm_out is
 * the watermark, -1 when there is none. */
static json_t *series_json(const struct ew_http *h, const redisReply *wh, int64_t *wm_out)
{
    const int64_t bms = h->series_bucket_ms;
    const int nb = h->nseries;
    int64_t wm = -1, res, idx;
    int metric;

    if (reply_i64(hash_get(wh, "wm"), &wm) < 0) {
        /* no watermark (not expected): anchor at the newest bucket seen */
        wm = -1;
        for (size_t i = 0; is_array(wh) && i + 1 < wh->elements; i += 2) {
            const redisReply *f = wh->element[i];
            if (is_str(f) && bucket_field(f->str, f->len, &res, &idx, &metric) == 0 &&
                res == h->series_res && idx < INT64_MAX / bms && (idx + 1) * bms - 1 > wm)
                wm = (idx + 1) * bms - 1;
        }
    }
    *wm_out = wm;

    json_t *s = json_object();
    json_t *starts = json_array();
    json_t *arr[NSERIES];
    int64_t *cnt = calloc((size_t)nb * NSERIES, sizeof *cnt);
    int ok = s && starts && cnt;
    for (size_t m = 0; m < NSERIES; m++)
        ok = (arr[m] = json_array()) && ok;
    if (!ok) goto fail;

    int64_t last = wm >= 0 ? wm / bms : -1, first = last - nb + 1;
    if (wm >= 0 && is_array(wh)) {
        for (size_t i = 0; i + 1 < wh->elements; i += 2) {
            const redisReply *f = wh->element[i], *v = wh->element[i + 1];
            if (!is_str(f) || !is_str(v) || bucket_field(f->str, f->len, &res, &idx, &metric) < 0 ||
                res != h->series_res || idx < first || idx > last)
                continue;
            int64_t *row = &cnt[(size_t)(idx - first) * NSERIES];
            for (size_t m = 0; m < NSERIES; m++) {
                if (metric < 0)
                    row[m] += packed_get(v->str, v->len, (int)series_metrics[m].m);
                else if (metric == (int)series_metrics[m].m)
                    row[m] += packed_get(v->str, v->len, 0);
            }
        }
        for (int k = 0; k < nb; k++) {
            json_array_append_new(starts, json_integer((json_int_t)((first + k) * bms)));
            for (size_t m = 0; m < NSERIES; m++)
                json_array_append_new(arr[m],
                                      json_integer((json_int_t)cnt[(size_t)k * NSERIES + m]));
        }
    }
    free(cnt);
    json_object_set_new(s, "resolution", json_integer(h->series_res));
    json_object_set_new(s, "bucket_ms", json_integer((json_int_t)bms));
    json_object_set_new(s, "anchor", json_string("watermark"));
    json_object_set_new(s, "watermark", wm >= 0 ? json_integer((json_int_t)wm) : json_null());
    json_object_set_new(s, "bucket_start", starts);
    for (size_t m = 0; m < NSERIES; m++)
        json_object_set_new(s, series_metrics[m].name, arr[m]);
    return s;
fail:
    free(cnt);
    json_decref(s);
    json_decref(starts);
    for (size_t m = 0; m < NSERIES; m++)
        json_decref(arr[m]);
    return NULL;
}

/* GET /api/accounts/{id}: the caller holds nothing; id is URL-decoded. */
static enum MHD_Result handle_account(struct ew_http *h, struct MHD_Connection *c, const char *id)
{
    size_t idlen = strlen(id);
    if (idlen == 0) return send_error(c, MHD_HTTP_NOT_FOUND, "unknown account");
    if (idlen > MAX_ACCOUNT_ID) return send_error(c, MHD_HTTP_BAD_REQUEST, "account id too long");
    struct req_cfg rc;
    if (req_cfg_get(h, &rc) < 0)
        return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");

    json_t *o = NULL;
    redisReply *wstate = NULL; /* the account's state as fields (state_as_hash) */
    const char *err = NULL;
    char errbuf[256];
    unsigned status = MHD_HTTP_SERVICE_UNAVAILABLE;
    redisReply **rep;

    pthread_mutex_lock(&h->store_lock);
    const char *p = h->prefix;
    ew_cmdbuf_reset(h->cmd);
    ew_cmd_begin(h->cmd, "ZSCORE");
    ew_cmd_argf(h->cmd, "%srisk", p);
    ew_cmd_arg(h->cmd, id, idlen);
    ew_cmd_begin(h->cmd, "HGETALL");
    ew_cmd_argf(h->cmd, "%salert:{%s}", p, id);
    ew_cmd_begin(h->cmd, "GET");
    ew_cmd_argf(h->cmd, "%s{%s}", p, id);
    cmd_newest(h->cmd, rc.stream, SCAN_ALERTS);
    if (run_cmds(h, &rep, errbuf, sizeof errbuf) < 0) {
        err = errbuf;
        goto unlock;
    }
    const redisReply *zs = rep[0], *ah = rep[1], *xs = rep[3];
    wstate = state_as_hash(rep[2]);
    const redisReply *wh = wstate;
    double zrisk = 0;
    int have_z = reply_double(zs, &zrisk) == 0;
    int have_ah = is_array(ah) && ah->elements > 0;
    int have_wh = is_array(wh) && wh->elements > 0;
    if (!have_z && !have_ah && !have_wh) {
        err = "unknown account";
        status = MHD_HTTP_NOT_FOUND;
        goto unlock;
    }

    /* recent alerts of this account, newest first */
    json_t *recent = json_array();
    for (size_t i = 0;
         recent && is_array(xs) && i < xs->elements && json_array_size(recent) < RECENT_ALERTS;
         i++) {
        const redisReply *e = xs->element[i];
        const redisReply *a =
            is_array(e) && e->elements >= 2 ? hash_get(e->element[1], "alert") : NULL;
        if (!is_str(a) || !memmem(a->str, a->len, id, idlen))
            continue; /* cheap filter before parsing */
        json_t *ent = stream_entry(e);
        json_t *acc = ent ? json_object_get(json_object_get(ent, "alert"), "account") : NULL;
        if (json_is_string(acc) && strcmp(json_string_value(acc), id) == 0)
            json_array_append_new(recent, ent);
        else
            json_decref(ent);
    }

    int64_t rs, rt, ri, rl, rn, wm;
    int have_rs = reply_i64(hash_get(wh, "Rs"), &rs) == 0;
    if (reply_i64(hash_get(wh, "Rt"), &rt) < 0) rt = -1;
    if (reply_i64(hash_get(wh, "Ri"), &ri) < 0) ri = 0;
    if (reply_i64(hash_get(wh, "Rl"), &rl) < 0) rl = 0;
    if (reply_i64(hash_get(wh, "Rn"), &rn) < 0) rn = 0;
    json_t *series = series_json(h, wh, &wm);

    o = json_object();
    if (!o || !recent || !series) {
        json_decref(o);
        json_decref(recent);
        json_decref(series);
        o = NULL;
        err = "out of memory";
        status = MHD_HTTP_INTERNAL_SERVER_ERROR;
        goto unlock;
    }
    json_object_set_new(o, "account", jstr(id, idlen));
    /* Risk: the account's own state in its window hash (risk as of its last
     * update, in event time), else the sorted set (risk at its latest alert). */
    if (have_rs) {
        double r = (double)rs / 1000.0;
        json_object_set_new(o, "risk", json_real(r));
        json_object_set_new(o, "risk_basis", json_string("last_update"));
        json_object_set_new(o, "risk_updated_ts", rt >= 0 ? json_integer(rt) : json_null());
        double at_wm = r;
        if (wm > rt && rt >= 0 && rc.half_life_ms > 0)
            at_wm = r * exp2(-(double)(wm - rt) / (double)rc.half_life_ms);
        json_object_set_new(o, "risk_at_watermark", json_real(round(at_wm * 1000.0) / 1000.0));
    } else {
        json_object_set_new(o, "risk", have_z ? json_real(zrisk) : json_real(0));
        json_object_set_new(o, "risk_basis", json_string(have_z ? "latest_alert" : "none"));
        json_object_set_new(o, "risk_updated_ts", reply_jint(hash_get(ah, "ts")));
        json_object_set_new(o, "risk_at_watermark", json_null());
    }
    /* Level: the open incident's (window hash), else the latest alert's. */
    const redisReply *alvl = hash_get(ah, "level");
    if (ri > 0 && rl > 0)
        json_object_set_new(o, "level", json_string(ew_level_name((enum ew_level)rl)));
    else
        json_object_set_new(o, "level",
                            is_str(alvl) ? jstr(alvl->str, alvl->len) : json_string("none"));
    json_object_set_new(o, "incident", reply_jstr(hash_get(ah, "incident")));
    json_object_set_new(o, "incident_opened_ts", ri > 0 ? json_integer(ri) : json_null());
    json_object_set_new(o, "incident_alerts", json_integer(rn));
    json_object_set_new(o, "signal", reply_jstr(hash_get(ah, "signal")));
    json_object_set_new(o, "signals", signals_json(hash_get(ah, "signals")));
    json_object_set_new(o, "last_alert_ts", reply_jint(hash_get(ah, "ts")));
    json_t *latest = reply_json(hash_get(ah, "latest"));
    if (!json_is_object(latest) && json_array_size(recent) > 0) {
        json_decref(latest);
        latest = json_incref(json_object_get(json_array_get(recent, 0), "alert"));
    }
    json_object_set_new(o, "latest_alert", latest ? latest : json_null());
    json_object_set_new(o, "recent_alerts", recent);
    json_object_set_new(o, "series", series);
    err = NULL;
unlock:
    pthread_mutex_unlock(&h->store_lock);
    free(rc.stream);
    free_state(wstate);
    if (err) return send_error(c, status, err);
    return send_json(c, MHD_HTTP_OK, o);
}

/* A stream id as Redis accepts it: MS or MS-SEQ, decimal. */
static int valid_stream_id(const char *s)
{
    size_t n = strspn(s, "0123456789");
    if (n == 0 || n > 20) return 0;
    if (s[n] == '\0') return 1;
    if (s[n] != '-') return 0;
    size_t m = strspn(s + n + 1, "0123456789");
    return m > 0 && m <= 20 && s[n + 1 + m] == '\0';
}

static enum MHD_Result handle_alerts(struct ew_http *h, struct MHD_Connection *c)
{
    int64_t limit;
    if (get_limit(c, &limit) < 0)
        return send_error(c, MHD_HTTP_BAD_REQUEST, "limit: an integer 1..1000");
    const char *since = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "since");
    if (since && !*since) since = NULL;
    if (since && !valid_stream_id(since))
        return send_error(c, MHD_HTTP_BAD_REQUEST, "since: a stream id (MS or MS-SEQ)");
    struct req_cfg rc;
    if (req_cfg_get(h, &rc) < 0)
        return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");

    json_t *alerts = NULL, *o = NULL;
    const char *err = NULL;
    char errbuf[256];
    redisReply **rep;
    pthread_mutex_lock(&h->store_lock);
    ew_cmdbuf_reset(h->cmd);
    if (since) {
        /* after since, oldest first (exclusive range, Redis >= 6.2) */
        ew_cmd_begin(h->cmd, "XRANGE");
        ew_cmd_str(h->cmd, rc.stream);
        ew_cmd_argf(h->cmd, "(%s", since);
        ew_cmd_str(h->cmd, "+");
        ew_cmd_str(h->cmd, "COUNT");
        ew_cmd_int(h->cmd, limit);
    } else {
        cmd_newest(h->cmd, rc.stream, limit); /* returned oldest first below */
    }
    if (run_cmds(h, &rep, errbuf, sizeof errbuf) < 0) {
        err = errbuf;
        goto unlock;
    }
    const redisReply *xs = rep[0];
    size_t n = is_array(xs) ? xs->elements : 0;
    json_t *last = since ? json_string(since) : json_string("0-0");
    if (!(alerts = json_array()) || !last) {
        json_decref(last);
        err = "out of memory";
        goto unlock;
    }
    for (size_t k = 0; k < n; k++) {
        const redisReply *e = xs->element[since ? k : n - 1 - k];
        json_t *ent = stream_entry(e);
        if (is_array(e) && e->elements > 0 && is_str(e->element[0])) {
            json_decref(last);
            last = jstr(e->element[0]->str, e->element[0]->len);
        }
        if (ent) json_array_append_new(alerts, ent);
    }
    o = json_pack("{s:o,s:o}", "alerts", alerts, "last_id", last ? last : json_null());
    alerts = NULL;
    if (!o) err = "out of memory";
unlock:
    pthread_mutex_unlock(&h->store_lock);
    free(rc.stream);
    json_decref(alerts);
    if (err) return send_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, err);
    return send_json(c, MHD_HTTP_OK, o);
}

/* ---- static files (the dashboard) ------------------------------------------------- */

static const struct ew_web_file *web_find(const char *path)
{
    if (strcmp(path, "/") == 0) path = "/index.html";
    if (path[0] != '/') return NULL;
    for (size_t i = 0; i < sizeof ew_web_files / sizeof ew_web_files[0]; i++)
        if (ew_web_files[i].name && strcmp(ew_web_files[i].name, path + 1) == 0)
            return &ew_web_files[i];
    return NULL;
}

static enum MHD_Result send_web(struct MHD_Connection *c, const struct ew_web_file *f)
{
    static const char *const hdrs[] = {
        MHD_HTTP_HEADER_CACHE_CONTROL,
        "no-cache",
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; connect-src 'self'; style-src 'self'; "
        "script-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'",
        "Referrer-Policy",
        "no-referrer",
        NULL};
    return send_buf(c, MHD_HTTP_OK, f->type, (void *)f->data, f->len, MHD_RESPMEM_PERSISTENT, hdrs);
}

/* ---- dispatch ------------------------------------------------------------------------- */

/* Constant-time comparison of the presented token with ours. */
static int token_ok(struct ew_http *h, struct MHD_Connection *c)
{
    const char *auth =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    int ok;
    pthread_mutex_lock(&h->cfg_lock);
    size_t tl = strlen(h->token);
    if (tl == 0) {
        ok = 1;
    } else if (!auth || strncasecmp(auth, "Bearer ", 7) != 0) {
        ok = 0;
    } else {
        const char *p = auth + 7;
        while (*p == ' ')
            p++;
        size_t pl = strlen(p);
        unsigned char diff = pl != tl;
        for (size_t i = 0; i < tl; i++)
            diff |= (unsigned char)(h->token[i] ^ (i < pl ? p[i] : 0));
        ok = diff == 0;
    }
    pthread_mutex_unlock(&h->cfg_lock);
    return ok;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct ew_http *h = cls;
    static int seen; /* only its address is used: marks a request's first call */
    (void)version, (void)upload_data;

    /* Other methods are refused at once, before any body is read (the
     * connection is then closed). */
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
        static const char *const allow[] = {MHD_HTTP_HEADER_ALLOW, "GET, HEAD", NULL};
        static const char body[] = "{\"error\":\"method not allowed\"}";
        return send_buf(c, MHD_HTTP_METHOD_NOT_ALLOWED, "application/json", (void *)body,
                        sizeof body - 1, MHD_RESPMEM_PERSISTENT, allow);
    }
    /* The first call only announces the request; answering on the next one
     * lets libmicrohttpd keep the connection alive.  A body sent with a GET
     * is read and ignored. */
    if (*con_cls == NULL) {
        *con_cls = &seen;
        return MHD_YES;
    }
    if (*upload_data_size) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (strcmp(url, "/healthz") == 0) return send_text(c, MHD_HTTP_OK, "ok");
    const struct ew_web_file *f = web_find(url);
    if (f) return send_web(c, f);
    if (!token_ok(h, c)) {
        static const char *const chal[] = {MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                                           "Bearer realm=\"engwatch\"", NULL};
        static const char body[] = "{\"error\":\"missing or wrong bearer token\"}";
        return send_buf(c, MHD_HTTP_UNAUTHORIZED, "application/json", (void *)body, sizeof body - 1,
                        MHD_RESPMEM_PERSISTENT, chal);
    }
    if (strcmp(url, "/metrics") == 0) return handle_metrics(h, c);
    if (strcmp(url, "/readyz") == 0) return handle_readyz(h, c);
    if (strcmp(url, "/api/accounts") == 0 || strcmp(url, "/api/accounts/") == 0)
        return handle_accounts(h, c);
    if (strncmp(url, "/api/accounts/", 14) == 0)
        return handle_account(h, c, url + 14); /* libmicrohttpd has URL-decoded the path */
    if (strcmp(url, "/api/alerts") == 0) return handle_alerts(h, c);
    return send_error(c, MHD_HTTP_NOT_FOUND, "not found");
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char buf[512];
    vsnprintf(buf, sizeof buf, fmt, ap);
    size_t n = strlen(buf);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    EW_LOG(EW_WARN, "http", "libmicrohttpd: %s", buf);
}

/* ---- listening socket --------------------------------------------------------------- */

/* Split "host:port", "[v6]:port", ":port" or "*:port".  host is "" for any
 * address.  0 / -1 with err. */
static int split_listen(const char *spec, char *host, size_t hostlen, char *port, size_t portlen,
                        char *err, size_t errlen)
{
    const char *listen = spec; /* (shadows listen(2) only in here) */
    const char *colon;
    size_t hl;
    const char *hs = listen;
    if (listen[0] == '[') {
        const char *rb = strchr(listen, ']');
        if (!rb || rb[1] != ':') {
            snprintf(err, errlen, "http.listen \"%s\": expected [ADDRESS]:PORT", listen);
            return -1;
        }
        hs = listen + 1;
        hl = (size_t)(rb - hs);
        colon = rb + 1;
    } else {
        colon = strrchr(listen, ':');
        if (!colon || memchr(listen, ':', (size_t)(colon - listen))) {
            snprintf(err, errlen, "http.listen \"%s\": expected HOST:PORT (IPv6 as [ADDRESS]:PORT)",
                     listen);
            return -1;
        }
        hl = (size_t)(colon - listen);
    }
    if (hl >= hostlen) {
        snprintf(err, errlen, "http.listen \"%s\": host too long", listen);
        return -1;
    }
    memcpy(host, hs, hl);
    host[hl] = '\0';
    if (strcmp(host, "*") == 0) host[0] = '\0';
    int64_t pv;
    const char *ps = colon + 1;
    if (parse_i64(ps, strlen(ps), 0, 65535, &pv) < 0) {
        snprintf(err, errlen, "http.listen \"%s\": port must be 0..65535", listen);
        return -1;
    }
    snprintf(port, portlen, "%" PRId64, pv);
    return 0;
}

/* A bound, listening socket for cfg->http.listen.  fd, or -1 with err. */
static int open_listener(const char *spec, char *err, size_t errlen)
{
    char host[256], port[16];
    if (split_listen(spec, host, sizeof host, port, sizeof port, err, errlen) < 0) return -1;
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV | AI_ADDRCONFIG};
    struct addrinfo *res = NULL;
    int gai = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
    if (gai != 0) {
        snprintf(err, errlen, "http.listen \"%s\": %s", spec, gai_strerror(gai));
        return -1;
    }
    int fd = -1, saved = 0;
    for (struct addrinfo *a = res; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) {
            saved = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, a->ai_addr, a->ai_addrlen) < 0 || listen(fd, 64) < 0) {
            saved = errno;
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0)
        snprintf(err, errlen, "cannot listen on %s: %s%s", spec, strerror(saved),
                 saved == EADDRINUSE ? " (another process holds the port; change http.listen)"
                                     : "");
    return fd;
}

/* ---- lifecycle ------------------------------------------------------------------------ */

/* prefix + sinks.redis.stream (caller frees), or NULL. */
static char *stream_key(const struct ew_config *cfg)
{
    char *k = NULL;
    if (asprintf(&k, "%s%s", cfg->redis.prefix ? cfg->redis.prefix : "",
                 cfg->sinks.redis.stream ? cfg->sinks.redis.stream : "alerts") < 0)
        return NULL;
    return k;
}

/* The series' resolution: the finest that keeps 24 h (5-minute buckets,
 * index 1, with the default windows.resolutions), else the coarsest. */
static void pick_series_res(struct ew_http *h, const struct ew_config *cfg)
{
    struct ew_resolution r[EW_MAX_RES];
    size_t n = 0;
    char why[256];
    h->series_res = 1;
    h->series_bucket_ms = 300000;
    if (ew_parse_resolutions(&cfg->windows.resolutions, r, &n, why, sizeof why) == 0 && n > 0) {
        size_t i;
        for (i = 0; i < n && r[i].retention_ms < SERIES_SPAN_MS; i++)
            ;
        if (i == n) i = n - 1;
        h->series_res = (int)i;
        h->series_bucket_ms = r[i].bucket_ms > 0 ? r[i].bucket_ms : 300000;
    }
    int64_t nb = SERIES_SPAN_MS / h->series_bucket_ms;
    h->nseries = (int)(nb < 1 ? 1 : nb > MAX_SERIES_BUCKETS ? MAX_SERIES_BUCKETS : nb);
}

static void http_free(struct ew_http *h)
{
    if (!h) return;
    ew_cmdbuf_free(h->cmd);
    ew_store_free(h->store);
    if (h->token) explicit_bzero(h->token, strlen(h->token));
    free(h->token);
    free(h->stream);
    free(h->prefix);
    pthread_mutex_destroy(&h->store_lock);
    pthread_mutex_destroy(&h->cfg_lock);
    free(h);
}

int ew_http_start(struct ew_http **out, const struct ew_config *cfg, struct ew_metrics_hub *hub,
                  char *err, size_t errlen)
{
    int fd = -1;
    *out = NULL;
    if (!hub) {
        snprintf(err, errlen, "no metrics hub");
        return -1;
    }
    struct ew_http *h = calloc(1, sizeof *h);
    if (!h) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    pthread_mutex_init(&h->store_lock, NULL);
    pthread_mutex_init(&h->cfg_lock, NULL);
    h->hub = hub;
    h->token = strdup(cfg->http.token ? cfg->http.token : "");
    h->stream = stream_key(cfg);
    h->prefix = strdup(cfg->redis.prefix ? cfg->redis.prefix : "");
    h->half_life_ms = cfg->risk.half_life_ms;
    h->cmd = ew_cmdbuf_new();
    if (!h->token || !h->stream || !h->prefix || !h->cmd || ew_store_new(&h->store, cfg) < 0) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    pick_series_res(h, cfg);

    const char *spec = cfg->http.listen ? cfg->http.listen : "";
    if ((fd = open_listener(spec, err, errlen)) < 0) goto fail;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    char addr[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET6) {
            const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)&ss;
            inet_ntop(AF_INET6, &a6->sin6_addr, addr, sizeof addr);
            port = ntohs(a6->sin6_port);
        } else {
            const struct sockaddr_in *a4 = (const struct sockaddr_in *)&ss;
            inet_ntop(AF_INET, &a4->sin_addr, addr, sizeof addr);
            port = ntohs(a4->sin_port);
        }
    }
    /* A thread per connection: a slow Redis read holds up only its own
     * request (the store itself is serialised by store_lock). */
    h->mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                                  MHD_USE_POLL | MHD_USE_ITC | MHD_USE_ERROR_LOG,
                              0, NULL, NULL, on_request, h, MHD_OPTION_EXTERNAL_LOGGER, mhd_log,
                              (void *)h, MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_LIMIT,
                              (unsigned)MAX_CONNECTIONS, MHD_OPTION_CONNECTION_TIMEOUT,
                              (unsigned)CONNECTION_TIMEOUT, MHD_OPTION_END);
    if (!h->mhd) {
        snprintf(err, errlen, "cannot start the HTTP server on %s", spec);
        goto fail;
    }
    fd = -1; /* libmicrohttpd closes it at stop */
    EW_LOG(EW_NOTICE, "http", "listening on %s%s%s:%d%s", ss.ss_family == AF_INET6 ? "[" : "", addr,
           ss.ss_family == AF_INET6 ? "]" : "", port,
           h->token[0] ? " (bearer token required)" : "");
    *out = h;
    return 0;
fail:
    if (fd >= 0) close(fd);
    http_free(h);
    return -1;
}

void ew_http_reload(struct ew_http *h, const struct ew_config *cfg)
{
    if (!h) return;
    char *token = strdup(cfg->http.token ? cfg->http.token : "");
    char *stream = stream_key(cfg);
    if (!token || !stream) {
        EW_LOG(EW_ERROR, "http", "reload: out of memory; keeping the previous token");
        free(token);
        free(stream);
        return;
    }
    pthread_mutex_lock(&h->cfg_lock);
    int changed = strcmp(token, h->token) != 0, set = token[0] != '\0';
    explicit_bzero(h->token, strlen(h->token));
    free(h->token);
    h->token = token;
    free(h->stream);
    h->stream = stream;
    h->half_life_ms = cfg->risk.half_life_ms;
    pthread_mutex_unlock(&h->cfg_lock);
    if (changed) EW_LOG(EW_NOTICE, "http", "reload: bearer token %s", set ? "changed" : "removed");
}

void ew_http_stop(struct ew_http *h)
{
    if (!h) return;
    MHD_stop_daemon(h->mhd); /* joins every connection thread */
    http_free(h);
}
