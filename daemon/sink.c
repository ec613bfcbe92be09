/* sink — the forwarders: from the Redis outbox to each enabled sink.
 *
 * The registry.  Every sink is a const vtable (sink_<name>.c) and one row of
 * `registry` below; its settings are the sinks.<name>.* rows of the option
 * table in config.c, which is also what a reload compares (so adding a sink
 * is a file, a row here and its config rows).
 *
 * One forwarder per enabled sink: a thread with its own Redis connection (a
 * struct ew_store, reconnecting with the store's backoff) reading the outbox
 * <redis.prefix>outbox as consumer "engwatchd" of the consumer group
 * "engwatch-<sink>".  Its loop:
 *   1. after (re)connecting, the group's own pending entries first
 *      (XREADGROUP ... STREAMS outbox 0, then onwards from the last id seen):
 *      alerts read before a crash, a lost reply or a stop, never acknowledged;
 *   2. then new entries: XREADGROUP ... COUNT 100 BLOCK b STREAMS outbox >,
 *      with b = min(1 s, redis.command_timeout / 2) so a blocked read never
 *      trips the command timeout;
 *   3. each entry is handed to the sink's send in order: ok -> acknowledge;
 *      retry -> wait (100 ms doubling up to sinks.retry_backoff_max; the wait
 *      ends at once on stop) and send the same alert again, so one failing
 *      alert holds back the ones behind it (order is kept); error -> count,
 *      log (rate-limited) and acknowledge: the alert is skipped.
 *      Acknowledgements are batched: one XACK per batch, and before any wait.
 * Delivery is at least once: an alert is acknowledged only after the sink
 * took it; a crash between the two delivers it again.
 *
 * Where a new sink starts.  A group that exists resumes where it was (also
 * after a sink was disabled and enabled again: it then catches up on what it
 * missed, or counts it as lost).  A group that vanishes under a running
 * forwarder (XGROUP DESTROY, Redis restarted without its data) is created
 * again after the last entry the forwarder handled.  A group that does not
 * exist yet is created
 *   - at 0 (every alert still in the outbox) when no engwatch sink has a group
 *     on the outbox: the first start, or the first start of a version with
 *     sinks on an outbox that filled up without them — the alerts raised so
 *     far are what the user wants to see;
 *   - at the end ($) when other sinks already forward from the outbox: a sink
 *     added to a running deployment (say a webhook enabled today) gets the
 *     alerts raised from then on, not up to risk.outbox_maxlen historical ones.
 *     To backfill it anyway: XGROUP SETID <prefix>outbox engwatch-<sink> 0.
 * The groups are created by ew_sinks_start / ew_sinks_reload on the calling
 * thread — the pipeline's, which writes the outbox — before the forwarder
 * starts, so "$" is exactly "after the sink was enabled".  When Redis is
 * unreachable at that moment the forwarder creates the group when it gets
 * through, at the stream id of the moment the sink was enabled (the daemon's
 * wall clock in ms; Redis stamps stream ids with its own, so hosts should
 * agree on the time), and the decision counts sinks enabled together with
 * this one as absent (they may just have created their groups): in that rare
 * case a newly added sink may get retained alerts (at least once, never less).
 *
 * Lost alerts.  The outbox is capped (XADD MAXLEN ~): a sink that stays
 * behind long enough loses the oldest alerts it had not read.  Before every
 * read of new entries (and every second while retrying) the forwarder reads
 * XINFO STREAM and XINFO GROUPS (Redis >= 7.0 reports entries-added and the
 * group's entries-read and lag).  When the group's last-delivered-id is older
 * than the stream's first entry, the entries trimmed past it were never read:
 * lost = (entries-added - length) - entries-read.  They are counted, logged,
 * and the group's read counter is brought forward (XGROUP SETID <same id>
 * ENTRIESREAD <entries-added - length>), because Redis would otherwise keep
 * the trimmed entries in the group's lag for good and the next check would
 * count them again.  Pending entries that were trimmed before they were
 * delivered come back without fields: counted as lost and acknowledged.
 * Best effort: with an unknown entries-read (nil: a group created on a
 * trimmed stream, or entries removed with XDEL), or on Redis < 7.0, nothing
 * is counted; trimming between the check and the read is missed.
 *
 * Metrics.  Each forwarder adds its counts (delivered, retries, errors, lost)
 * to its sink's hub slot and sets lag (the group's lag plus its pending
 * entries, -1 when Redis cannot tell) and up (1 when the last send succeeded).
 * A reloaded sink keeps its slot and its counters.
 *
 * Stopping.  ew_sinks_stop sets every forwarder's stop flag (under its mutex;
 * waits are condition-variable waits that end on it) and waits for them with
 * one deadline.  The thread finishes the send in progress, acknowledges what
 * it delivered, closes its sink with the time left and exits; what it read
 * but did not send stays pending (the replacement of a reloaded sink starts
 * with it, so nothing goes out with the old settings after a reload).  A
 * forwarder that does not exit in time (a send blocked in I/O) is detached —
 * "orphaned" — and frees its own resources when it ends; it no longer touches
 * the hub, which may be gone.  What it had not acknowledged is delivered
 * again by the next start (or by its replacement: at least once).
 *
 * libcurl: curl_global_init runs in ew_sinks_start, on the thread that starts
 * the daemon, before any forwarder exists (it is not thread-safe everywhere);
 * curl_global_cleanup in ew_sinks_stop, unless a forwarder was orphaned.
 * That is the only global state here.
 */
#include "engwatch/sink.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engwatch/log.h"
#include "engwatch/store.h"
#include "sink_priv.h"

/* ---- the registry ------------------------------------------------------------- */

static const struct ew_sink *const registry[] = {
    &ew_sink_redis,
    &ew_sink_kafka,
    &ew_sink_webhook,
    &ew_sink_file,
};
#define NSINKS (sizeof registry / sizeof registry[0])

#define BATCH           100 /* entries per XREADGROUP */
#define CONSUMER        "engwatchd"
#define GROUP_PREFIX    "engwatch-"
#define OBSERVE_MS      1000 /* XINFO at most this often while retrying */
#define BACKOFF_BASE_MS 100
#define ID_MAX          48   /* "18446744073709551615-18446744073709551615" */
#define RELOAD_STOP_MS  3000 /* bound on stopping replaced forwarders on reload */

/* ---- pure helpers (sink_priv.h) ---------------------------------------------------- */

int64_t ew_sink_backoff_ms(unsigned attempt, int64_t max_ms)
{
    int64_t d = BACKOFF_BASE_MS;
    for (unsigned k = 1; k < attempt && d < max_ms; k++)
        d *= 2;
    return d < max_ms ? d : max_ms;
}

static int parse_u64(const char *s, size_t len, uint64_t *out)
{
    uint64_t v = 0;
    if (len == 0 || len > 20) return -1;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10) return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

int ew_stream_id_parse(const char *s, size_t len, struct ew_stream_id *id)
{
    const char *dash = memchr(s, '-', len);
    id->seq = 0;
    if (!dash) return parse_u64(s, len, &id->ms);
    if (parse_u64(s, (size_t)(dash - s), &id->ms) < 0 ||
        parse_u64(dash + 1, len - (size_t)(dash - s) - 1, &id->seq) < 0)
        return -1;
    return 0;
}

int ew_stream_id_cmp(const struct ew_stream_id *a, const struct ew_stream_id *b)
{
    if (a->ms != b->ms) return a->ms < b->ms ? -1 : 1;
    if (a->seq != b->seq) return a->seq < b->seq ? -1 : 1;
    return 0;
}

int64_t ew_outbox_lost(int64_t entries_added, int64_t length, int64_t entries_read,
                       int behind_first)
{
    if (!behind_first || length <= 0) return 0;
    if (entries_added < 0 || entries_read < 0 || entries_added < length) return -1;
    int64_t before_first = entries_added - length; /* entries ever trimmed */
    return before_first > entries_read ? before_first - entries_read : 0;
}

const char *ew_group_start(int others_exist, int sync, int64_t enable_ms, char *out, size_t outlen)
{
    if (!others_exist)
        snprintf(out, outlen, "0");
    else if (sync)
        snprintf(out, outlen, "$");
    else
        snprintf(out, outlen, "%" PRId64 "-0", enable_ms > 0 ? enable_ms : 0);
    return out;
}

static int option_equal(const struct ew_option *o, const struct ew_config *a,
                        const struct ew_config *b)
{
    const char *pa = (const char *)a + o->off, *pb = (const char *)b + o->off;
    switch (o->type) {
    case EW_OPT_INT:
    case EW_OPT_DURATION:
    case EW_OPT_SIZE:
        return *(const int64_t *)pa == *(const int64_t *)pb;
    case EW_OPT_BOOL:
        return *(const bool *)pa == *(const bool *)pb;
    case EW_OPT_DOUBLE:
        return *(const double *)pa == *(const double *)pb;
    case EW_OPT_ENUM:
        return *(const int *)pa == *(const int *)pb;
    case EW_OPT_STRING: {
        const char *sa = *(char *const *)pa, *sb = *(char *const *)pb;
        return strcmp(sa ? sa : "", sb ? sb : "") == 0;
    }
    case EW_OPT_STRLIST: {
        const struct ew_strlist *la = (const void *)pa, *lb = (const void *)pb;
        if (la->n != lb->n) return 0;
        for (size_t i = 0; i < la->n; i++)
            if (strcmp(la->v[i], lb->v[i]) != 0) return 0;
        return 1;
    }
    case EW_OPT_PROPS: {
        const struct ew_props *qa = (const void *)pa, *qb = (const void *)pb;
        if (qa->n != qb->n) return 0;
        for (size_t i = 0; i < qa->n; i++)
            if (strcmp(qa->key[i], qb->key[i]) != 0 || strcmp(qa->val[i], qb->val[i]) != 0)
                return 0;
        return 1;
    }
    }
    return 0;
}

int ew_sink_settings_equal(const char *name, const struct ew_config *a, const struct ew_config *b)
{
    char pre[64];
    size_t n, pl = (size_t)snprintf(pre, sizeof pre, "sinks.%s.", name);
    const struct ew_option *opt = ew_config_options(&n);
    for (size_t i = 0; i < n; i++) {
        const char *p = opt[i].path;
        if ((strncmp(p, pre, pl) == 0 || strcmp(p, "sinks.retry_backoff_max") == 0) &&
            !option_equal(&opt[i], a, b))
            return 0;
    }
    return 1;
}

int ew_alert_parse(struct ew_alert_info *a, const char *json, size_t len, char *why, size_t whylen)
{
    json_error_t jerr;
    memset(a, 0, sizeof *a);
    json_t *root = json_loadb(json, len, 0, &jerr);
    if (!root) {
        snprintf(why, whylen, "not JSON: %s", jerr.text);
        return -1;
    }
    if (!json_is_object(root)) {
        snprintf(why, whylen, "not a JSON object");
        goto fail;
    }
    json_t *id = json_object_get(root, "alert_id"), *acct = json_object_get(root, "account");
    if (!json_is_string(id) || json_string_length(id) == 0) {
        snprintf(why, whylen, "no alert_id");
        goto fail;
    }
    if (!json_is_string(acct) || json_string_length(acct) == 0) {
        snprintf(why, whylen, "no account");
        goto fail;
    }
    a->root = root;
    a->alert_id = json_string_value(id);
    a->account = json_string_value(acct);
    a->account_len = json_string_length(acct);
    json_t *v = json_object_get(root, "signal");
    a->signal = json_is_string(v) ? json_string_value(v) : "";
    v = json_object_get(root, "level");
    a->level = json_is_string(v) ? json_string_value(v) : "";
    v = json_object_get(json_object_get(root, "evidence"), "incident");
    a->incident = json_is_string(v) ? json_string_value(v) : "";
    v = json_object_get(root, "risk");
    a->risk = json_is_number(v) ? json_number_value(v) : 0.0;
    v = json_object_get(root, "ts");
    a->ts = json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
    return 0;
fail:
    json_decref(root);
    return -1;
}

void ew_alert_info_free(struct ew_alert_info *a)
{
    json_decref(a->root);
    memset(a, 0, sizeof *a);
}

/* ---- the forwarder ----------------------------------------------------------------- */

enum entry_kind { E_ALERT, E_TRIMMED, E_MALFORMED };

struct entry {
    char id[ID_MAX];
    char *json; /* owned, NUL-terminated */
    size_t len;
    enum entry_kind kind;
};

struct fwd {
    const struct ew_sink *sink;
    unsigned idx;          /* in registry */
    void *state;           /* the sink's, owned */
    struct ew_store *st;   /* own Redis connection, owned */
    struct ew_cmdbuf *cmd; /* scratch */
    char *key, *group;     /* "<prefix>outbox", "engwatch-<name>" */
    char tag[32];          /* "sink:<name>" for log lines */
    int64_t backoff_max_ms, block_ms;

    /* the group */
    int group_ok;
    unsigned siblings; /* registry bits of the sinks enabled together with this one */
    int64_t enable_ms; /* wall clock ms when enabled */

    /* reading */
    int pending; /* re-deliver our own pending entries first */
    char cursor[ID_MAX];
    char last_id[ID_MAX]; /* the last entry handled, "" before the first */
    struct entry batch[BATCH];
    size_t nbatch;
    char acks[BATCH][ID_MAX];
    size_t nacks;

    /* lost accounting: the gap behind last-delivered-id gap_id is counted up
     * to gap_upto (entries-added - length at that check) */
    struct ew_stream_id gap_id;
    int64_t gap_upto;
    int64_t last_observe;

    /* counters, thread-local; pub_* = the part already added to the hub */
    uint64_t delivered, retries, errors, lost;
    uint64_t pub_delivered, pub_retries, pub_errors, pub_lost;
    int64_t lag;
    int up;
    struct ew_ratelimit rl_send, rl_redis, rl_lost;

    /* lifecycle, under mu */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int sync_ok; /* mu and cv initialised */
    pthread_t th;
    int running;
    int stop, done, orphaned;
    int64_t deadline;           /* monotonic ms: when the stopper stops waiting */
    struct ew_metrics_hub *hub; /* borrowed; NULL when none */
    int slot;
};

struct ew_sinks {
    struct ew_metrics_hub *hub;
    const struct ew_config *cfg; /* the running configuration (borrowed) */
    struct fwd *f[NSINKS];
    int orphans; /* forwarders ever left running: no curl_global_cleanup */
};

/* Rate-limited log line of one forwarder (its own limiters: no shared state). */
#define FLOG_RL(f, rl, level, ...) EW_LOG_RLS(&(f)->rl, level, (f)->tag, __VA_ARGS__)

static int stopping(struct fwd *f)
{
    pthread_mutex_lock(&f->mu);
    int s = f->stop;
    pthread_mutex_unlock(&f->mu);
    return s;
}

/* Wait ms, ending early on stop.  Returns 1 when stopping. */
static int wait_stop(struct fwd *f, int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&f->mu);
    while (!f->stop && pthread_cond_timedwait(&f->cv, &f->mu, &ts) != ETIMEDOUT)
        ;
    int s = f->stop;
    pthread_mutex_unlock(&f->mu);
    return s;
}

static void free_batch(struct fwd *f)
{
    for (size_t i = 0; i < f->nbatch; i++)
        free(f->batch[i].json);
    f->nbatch = 0;
}

static void fwd_free(struct fwd *f)
{
    if (!f) return;
    free_batch(f);
    ew_cmdbuf_free(f->cmd);
    ew_store_free(f->st);
    free(f->key);
    free(f->group);
    if (f->sync_ok) {
        pthread_cond_destroy(&f->cv);
        pthread_mutex_destroy(&f->mu);
    }
    free(f);
}

/* ---- metrics ------------------------------------------------------------------------ */

struct pub {
    uint64_t delivered, retries, errors, lost;
    int64_t lag;
    int up;
};

static void pub_apply(struct ew_sink_metrics *m, void *arg)
{
    const struct pub *p = arg;
    m->delivered += p->delivered;
    m->retries += p->retries;
    m->errors += p->errors;
    m->lost += p->lost;
    m->lag = p->lag;
    m->up = p->up;
}

static void publish(struct fwd *f)
{
    struct pub p = {f->delivered - f->pub_delivered,
                    f->retries - f->pub_retries,
                    f->errors - f->pub_errors,
                    f->lost - f->pub_lost,
                    f->lag,
                    f->up};
    pthread_mutex_lock(&f->mu);
    if (f->hub && !f->orphaned) ew_hub_sink_update(f->hub, f->slot, pub_apply, &p);
    pthread_mutex_unlock(&f->mu);
    f->pub_delivered = f->delivered;
    f->pub_retries = f->retries;
    f->pub_errors = f->errors;
    f->pub_lost = f->lost;
}

/* ---- Redis replies -------------------------------------------------------------------- */

static int is_str(const redisReply *r)
{
    return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS);
}

/* Value of key k in a flat [k, v, k, v ...] reply, or NULL. */
static const redisReply *map_get(const redisReply *r, const char *k)
{
    if (!r || r->type != REDIS_REPLY_ARRAY) return NULL;
    size_t kl = strlen(k);
    for (size_t i = 0; i + 1 < r->elements; i += 2)
        if (is_str(r->element[i]) && r->element[i]->len == kl &&
            memcmp(r->element[i]->str, k, kl) == 0)
            return r->element[i + 1];
    return NULL;
}

/* An integer field: its value, or -1 when absent, nil or not a number. */
static int64_t int_of(const redisReply *r)
{
    if (r && r->type == REDIS_REPLY_INTEGER) return r->integer >= 0 ? r->integer : -1;
    uint64_t v;
    if (is_str(r) && parse_u64(r->str, r->len, &v) == 0 && v <= INT64_MAX) return (int64_t)v;
    return -1;
}

static int id_of(const redisReply *r, struct ew_stream_id *id)
{
    return is_str(r) ? ew_stream_id_parse(r->str, r->len, id) : -1;
}

static int is_error(const redisReply *r, const char *code)
{
    return r && r->type == REDIS_REPLY_ERROR && strncmp(r->str, code, strlen(code)) == 0;
}

/* Run f->cmd; NULL when Redis is unreachable (then re-read pending later). */
static redisReply **run(struct fwd *f)
{
    redisReply **rep = NULL;
    if (ew_store_read(f->st, f->cmd, &rep) < 0) {
        f->pending = 1;
        snprintf(f->cursor, sizeof f->cursor, "0");
        return NULL;
    }
    return rep;
}

/* ---- the group ---------------------------------------------------------------------- */

/* Registry bits of the sinks that have a group on the outbox (*have) and
 * whether there are engwatch groups of sinks this build does not know
 * (*foreign).  0, or -1 when Redis failed. */
static int list_groups(struct fwd *f, unsigned *have, int *foreign)
{
    *have = 0;
    *foreign = 0;
    ew_cmdbuf_reset(f->cmd);
    if (ew_cmd_begin(f->cmd, "XINFO") < 0 || ew_cmd_str(f->cmd, "GROUPS") < 0 ||
        ew_cmd_str(f->cmd, f->key) < 0)
        return -1;
    redisReply **rep = run(f);
    if (!rep) return -1;
    const redisReply *r = rep[0];
    if (r->type == REDIS_REPLY_ERROR) return 0; /* no such key: no groups */
    if (r->type != REDIS_REPLY_ARRAY) return -1;
    size_t gl = strlen(GROUP_PREFIX);
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *name = map_get(r->element[i], "name");
        if (!is_str(name) || name->len < gl || memcmp(name->str, GROUP_PREFIX, gl) != 0) continue;
        int known = 0;
        for (unsigned k = 0; k < NSINKS; k++) {
            size_t nl = strlen(registry[k]->name);
            if (name->len == gl + nl && memcmp(name->str + gl, registry[k]->name, nl) == 0) {
                *have |= 1u << k;
                known = 1;
            }
        }
        if (!known) *foreign = 1;
    }
    return 0;
}

/* Create the group unless it exists.  sync: on the enabling thread, with
 * have/foreign from a snapshot taken before any group of this start was
 * created; else in the forwarder, which looks for itself.  0 / -1. */
static int create_group(struct fwd *f, int sync, unsigned have, int foreign)
{
    char start[ID_MAX];
    unsigned self = 1u << f->idx;
    if (!sync && list_groups(f, &have, &foreign) < 0) return -1;
    if (have & self) {
        f->group_ok = 1;
        return 0;
    }
    unsigned ignore = sync ? self : self | f->siblings;
    if (f->last_id[0]) /* our group vanished under us (XGROUP DESTROY, Redis lost its data) */
        snprintf(start, sizeof start, "%s", f->last_id);
    else
        ew_group_start((have & ~ignore) != 0 || foreign, sync, f->enable_ms, start, sizeof start);
    ew_cmdbuf_reset(f->cmd);
    if (ew_cmd_begin(f->cmd, "XGROUP") < 0 || ew_cmd_str(f->cmd, "CREATE") < 0 ||
        ew_cmd_str(f->cmd, f->key) < 0 || ew_cmd_str(f->cmd, f->group) < 0 ||
        ew_cmd_str(f->cmd, start) < 0 || ew_cmd_str(f->cmd, "MKSTREAM") < 0)
        return -1;
    redisReply **rep = run(f);
    if (!rep) return -1;
    if (rep[0]->type == REDIS_REPLY_ERROR && !is_error(rep[0], "BUSYGROUP")) {
        FLOG_RL(f, rl_redis, EW_ERROR, "creating consumer group %s on %s: %s", f->group, f->key,
                rep[0]->str);
        return -1;
    }
    if (rep[0]->type != REDIS_REPLY_ERROR)
        EW_LOG(EW_NOTICE, f->tag, "created consumer group %s on %s at %s (%s)", f->group, f->key,
               start,
               f->last_id[0]                  ? "after the last alert it handled"
               : start[0] == '0' && !start[1] ? "every alert still in the outbox"
                                              : "alerts raised from now on");
    f->group_ok = 1;
    return 0;
}

/* ---- lag and lost alerts --------------------------------------------------------------- */

/* XINFO STREAM + GROUPS: count alerts trimmed before the group read them,
 * refresh the lag.  0, or -1 when Redis failed. */
static int observe(struct fwd *f)
{
    f->last_observe = ew_mono_ms();
    ew_cmdbuf_reset(f->cmd);
    if (ew_cmd_begin(f->cmd, "XINFO") < 0 || ew_cmd_str(f->cmd, "STREAM") < 0 ||
        ew_cmd_str(f->cmd, f->key) < 0 || ew_cmd_begin(f->cmd, "XINFO") < 0 ||
        ew_cmd_str(f->cmd, "GROUPS") < 0 || ew_cmd_str(f->cmd, f->key) < 0)
        return -1;
    redisReply **rep = run(f);
    if (!rep) return -1;
    const redisReply *s = rep[0], *gs = rep[1], *g = NULL;
    if (s->type != REDIS_REPLY_ARRAY || gs->type != REDIS_REPLY_ARRAY) {
        f->group_ok = 0; /* the outbox is gone (Redis restarted empty?): recreate */
        return 0;
    }
    for (size_t i = 0; i < gs->elements && !g; i++) {
        const redisReply *n = map_get(gs->element[i], "name");
        if (is_str(n) && n->len == strlen(f->group) && memcmp(n->str, f->group, n->len) == 0)
            g = gs->element[i];
    }
    if (!g) {
        f->group_ok = 0;
        return 0;
    }
    int64_t length = int_of(map_get(s, "length"));
    int64_t added = int_of(map_get(s, "entries-added"));
    int64_t read = int_of(map_get(g, "entries-read"));
    int64_t lag = int_of(map_get(g, "lag"));
    int64_t pending = int_of(map_get(g, "pending"));
    const redisReply *first = map_get(s, "first-entry");
    struct ew_stream_id last, fid;
    int behind = 0;
    if (id_of(map_get(g, "last-delivered-id"), &last) == 0 && first &&
        first->type == REDIS_REPLY_ARRAY && first->elements >= 1 &&
        id_of(first->element[0], &fid) == 0)
        behind = ew_stream_id_cmp(&last, &fid) < 0;
    int64_t base = read;
    if (behind && ew_stream_id_cmp(&last, &f->gap_id) == 0 && f->gap_upto > base)
        base = f->gap_upto; /* this gap was counted up to there already */
    int64_t lost = ew_outbox_lost(added, length, base, behind);
    if (lost > 0) {
        f->lost += (uint64_t)lost;
        f->gap_id = last;
        f->gap_upto = added - length;
        FLOG_RL(f, rl_lost, EW_WARN,
                "%" PRId64 " alert(s) were trimmed from %s before this sink read them "
                "(lost; the sink is behind: raise risk.outbox_maxlen or fix the sink)",
                lost, f->key);
        /* Bring the group's read counter forward (see the top of the file). */
        ew_cmdbuf_reset(f->cmd);
        char lid[ID_MAX];
        snprintf(lid, sizeof lid, "%" PRIu64 "-%" PRIu64, last.ms, last.seq);
        if (ew_cmd_begin(f->cmd, "XGROUP") == 0 && ew_cmd_str(f->cmd, "SETID") == 0 &&
            ew_cmd_str(f->cmd, f->key) == 0 && ew_cmd_str(f->cmd, f->group) == 0 &&
            ew_cmd_str(f->cmd, lid) == 0 && ew_cmd_str(f->cmd, "ENTRIESREAD") == 0 &&
            ew_cmd_int(f->cmd, f->gap_upto) == 0)
            run(f); /* best effort: without it gap_upto keeps the count right */
        if (lag >= 0) lag = lag > lost ? lag - lost : 0;
    }
    f->lag = lag >= 0 ? lag + (pending > 0 ? pending : 0) : -1;
    return 0;
}

/* ---- reading ---------------------------------------------------------------------- */

/* Copy an XREADGROUP reply into f->batch.  Returns the number of entries. */
static size_t take_entries(struct fwd *f, const redisReply *r)
{
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 1) return 0;
    const redisReply *st = r->element[0];
    if (st->type != REDIS_REPLY_ARRAY || st->elements < 2 ||
        st->element[1]->type != REDIS_REPLY_ARRAY)
        return 0;
    const redisReply *es = st->element[1];
    for (size_t i = 0; i < es->elements && f->nbatch < BATCH; i++) {
        const redisReply *e = es->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements < 1 || !is_str(e->element[0]) ||
            e->element[0]->len >= ID_MAX)
            continue;
        struct entry *x = &f->batch[f->nbatch];
        memcpy(x->id, e->element[0]->str, e->element[0]->len);
        x->id[e->element[0]->len] = '\0';
        x->json = NULL;
        x->len = 0;
        const redisReply *fields = e->elements >= 2 ? e->element[1] : NULL;
        if (!fields || fields->type != REDIS_REPLY_ARRAY || fields->elements == 0) {
            x->kind = E_TRIMMED; /* a pending entry whose data was trimmed */
        } else {
            const redisReply *a = map_get(fields, "alert");
            x->kind = E_MALFORMED;
            if (is_str(a) && (x->json = malloc(a->len + 1))) {
                memcpy(x->json, a->str, a->len);
                x->json[a->len] = '\0';
                x->len = a->len;
                x->kind = E_ALERT;
            }
        }
        f->nbatch++;
    }
    return f->nbatch;
}

/* XREADGROUP from id ("0"-onwards for our pending entries, ">" for new
 * ones).  Returns the number of entries read, -1 on failure. */
static int read_batch(struct fwd *f, const char *from)
{
    free_batch(f);
    ew_cmdbuf_reset(f->cmd);
    int rc = ew_cmd_begin(f->cmd, "XREADGROUP") | ew_cmd_str(f->cmd, "GROUP") |
             ew_cmd_str(f->cmd, f->group) | ew_cmd_str(f->cmd, CONSUMER) |
             ew_cmd_str(f->cmd, "COUNT") | ew_cmd_int(f->cmd, BATCH);
    if (strcmp(from, ">") == 0) rc |= ew_cmd_str(f->cmd, "BLOCK") | ew_cmd_int(f->cmd, f->block_ms);
    rc |= ew_cmd_str(f->cmd, "STREAMS") | ew_cmd_str(f->cmd, f->key) | ew_cmd_str(f->cmd, from);
    if (rc) return -1;
    redisReply **rep = run(f);
    if (!rep) return -1;
    if (rep[0]->type == REDIS_REPLY_ERROR) {
        if (is_error(rep[0], "NOGROUP"))
            f->group_ok = 0; /* deleted, or Redis lost its data: recreate */
        else
            FLOG_RL(f, rl_redis, EW_ERROR, "XREADGROUP %s: %s", f->key, rep[0]->str);
        return -1;
    }
    return (int)take_entries(f, rep[0]);
}

/* XACK what was delivered.  0, or -1 (kept for the next try). */
static int flush_acks(struct fwd *f)
{
    if (!f->nacks) return 0;
    if (!ew_store_connected(f->st) && ew_store_ensure(f->st) < 0) return -1;
    ew_cmdbuf_reset(f->cmd);
    int rc =
        ew_cmd_begin(f->cmd, "XACK") | ew_cmd_str(f->cmd, f->key) | ew_cmd_str(f->cmd, f->group);
    for (size_t i = 0; i < f->nacks; i++)
        rc |= ew_cmd_str(f->cmd, f->acks[i]);
    if (rc) return -1;
    redisReply **rep = run(f);
    if (!rep) return -1;
    if (rep[0]->type == REDIS_REPLY_ERROR) {
        FLOG_RL(f, rl_redis, EW_ERROR, "XACK %s: %s", f->key, rep[0]->str);
        if (is_error(rep[0], "NOGROUP")) {
            f->nacks = 0; /* nothing left to acknowledge */
            f->group_ok = 0;
        }
        return -1;
    }
    f->nacks = 0;
    return 0;
}

static void ack(struct fwd *f, const char *id)
{
    if (f->nacks < BATCH) snprintf(f->acks[f->nacks++], ID_MAX, "%s", id);
}

/* Deliver one alert: retry until ok or error.  0, or -1 when stopping
 * (the alert stays pending). */
static int deliver(struct fwd *f, const struct entry *e)
{
    for (unsigned attempt = 0;;) {
        enum ew_sink_result r = f->sink->send(f->state, e->json, e->len);
        if (r == EW_SINK_OK) {
            f->delivered++;
            f->up = 1;
            if (attempt)
                EW_LOG(EW_NOTICE, f->tag, "outbox entry %s delivered after %u retr%s", e->id,
                       attempt, attempt == 1 ? "y" : "ies");
            ack(f, e->id);
            return 0;
        }
        if (r == EW_SINK_ERROR) {
            f->errors++;
            f->up = 0;
            FLOG_RL(f, rl_send, EW_ERROR, "outbox entry %s not delivered: given up (skipped)",
                    e->id);
            ack(f, e->id);
            return 0;
        }
        f->retries++;
        f->up = 0;
        attempt++;
        int64_t d = ew_sink_backoff_ms(attempt, f->backoff_max_ms);
        FLOG_RL(f, rl_send, EW_WARN, "outbox entry %s: retry %u in %" PRId64 " ms", e->id, attempt,
                d);
        /* Do not sit on acknowledgements, keep the lag fresh. */
        flush_acks(f);
        if (ew_mono_ms() - f->last_observe >= OBSERVE_MS && ew_store_connected(f->st)) observe(f);
        publish(f);
        if (wait_stop(f, d)) return -1;
    }
}

/* Hand the batch to the sink in order.  0, or -1 when stopping: what is
 * left stays pending, for the next start or for the forwarder that replaces
 * this one on a reload (so a reopened sink gets it with its new settings). */
static int process(struct fwd *f)
{
    for (size_t i = 0; i < f->nbatch; i++) {
        struct entry *e = &f->batch[i];
        if (stopping(f)) return -1;
        if (e->kind == E_TRIMMED) {
            f->lost++;
            FLOG_RL(f, rl_lost, EW_WARN,
                    "outbox entry %s was trimmed before it was delivered (lost)", e->id);
            ack(f, e->id);
        } else if (e->kind == E_MALFORMED) {
            f->errors++;
            FLOG_RL(f, rl_send, EW_ERROR, "outbox entry %s has no \"alert\" field (skipped)",
                    e->id);
            ack(f, e->id);
        } else if (deliver(f, e) < 0) {
            return -1;
        }
        snprintf(f->last_id, sizeof f->last_id, "%s", e->id);
        if (f->pending) snprintf(f->cursor, sizeof f->cursor, "%s", e->id);
    }
    return 0;
}

static void *fwd_main(void *arg)
{
    struct fwd *f = arg;
    while (!stopping(f)) {
        if (ew_store_ensure(f->st) < 0) {
            int64_t d = ew_store_retry_in_ms(f->st);
            f->pending = 1;
            snprintf(f->cursor, sizeof f->cursor, "0");
            wait_stop(f, d < 50 ? 50 : d > 1000 ? 1000 : d);
            continue;
        }
        if (!f->group_ok) {
            if (create_group(f, 0, 0, 0) < 0) {
                wait_stop(f, 1000);
                continue;
            }
            f->pending = 1;
            snprintf(f->cursor, sizeof f->cursor, "0");
        }
        free_batch(f); /* the last batch is handled: never process it twice */
        int n = flush_acks(f);
        if (n == 0 && f->pending) {
            n = read_batch(f, f->cursor);
            if (n == 0) f->pending = 0; /* caught up: new entries from now on */
        } else if (n == 0 && (n = observe(f)) == 0) {
            publish(f);
            n = f->group_ok ? read_batch(f, ">") : 0;
        }
        if (n < 0) {
            if (ew_store_connected(f->st))
                wait_stop(f, 1000); /* Redis answered with an error: do not spin on it */
            continue;
        }
        if (process(f) < 0) break;
        flush_acks(f);
        publish(f);
    }
    flush_acks(f);
    free_batch(f);

    pthread_mutex_lock(&f->mu);
    int64_t left = f->deadline - ew_mono_ms();
    pthread_mutex_unlock(&f->mu);
    f->sink->close(f->state, left > 0 ? (int)left : 0);
    f->state = NULL;
    f->up = 0;
    f->lag = -1;
    publish(f);

    pthread_mutex_lock(&f->mu);
    f->done = 1;
    int orphaned = f->orphaned;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
    if (orphaned) {
        EW_LOG(EW_NOTICE, f->tag, "forwarder finished after its stop deadline");
        fwd_free(f);
    }
    return NULL;
}

/* ---- lifecycle ---------------------------------------------------------------------- */

/* A forwarder for registry[idx], its sink opened, not started.  NULL with
 * err on failure. */
static struct fwd *fwd_new(unsigned idx, const struct ew_config *cfg, struct ew_metrics_hub *hub,
                           unsigned siblings, char *err, size_t errlen)
{
    const struct ew_sink *sink = registry[idx];
    char why[512];
    struct fwd *f = calloc(1, sizeof *f);
    if (!f) goto oom;
    f->sink = sink;
    f->idx = idx;
    f->siblings = siblings & ~(1u << idx);
    f->enable_ms = ew_wall_ms();
    f->up = 1;
    f->lag = -1;
    f->pending = 1;
    snprintf(f->cursor, sizeof f->cursor, "0");
    snprintf(f->tag, sizeof f->tag, "sink:%s", sink->name);
    f->backoff_max_ms = cfg->sinks.retry_backoff_max_ms > 0 ? cfg->sinks.retry_backoff_max_ms : 1;
    int64_t ct = cfg->redis.command_timeout_ms;
    f->block_ms = ct / 2 < 1000 ? (ct / 2 > 0 ? ct / 2 : 1) : 1000;
    f->hub = hub;
    f->slot = hub ? ew_hub_add_sink(hub, sink->name) : -1;
    pthread_condattr_t ca;
    if (pthread_condattr_init(&ca) != 0) goto oom;
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    if (pthread_mutex_init(&f->mu, NULL) != 0) {
        pthread_condattr_destroy(&ca);
        goto oom;
    }
    if (pthread_cond_init(&f->cv, &ca) != 0) {
        pthread_mutex_destroy(&f->mu);
        pthread_condattr_destroy(&ca);
        goto oom;
    }
    pthread_condattr_destroy(&ca);
    f->sync_ok = 1;
    size_t kl = strlen(cfg->redis.prefix) + sizeof "outbox";
    size_t gl = sizeof GROUP_PREFIX + strlen(sink->name);
    if (ew_store_new(&f->st, cfg) < 0 || !(f->cmd = ew_cmdbuf_new()) || !(f->key = malloc(kl)) ||
        !(f->group = malloc(gl)))
        goto oom;
    snprintf(f->key, kl, "%soutbox", cfg->redis.prefix);
    snprintf(f->group, gl, GROUP_PREFIX "%s", sink->name);
    if (sink->open(&f->state, cfg, why, sizeof why) < 0) {
        snprintf(err, errlen, "sinks.%s: %s", sink->name, why);
        fwd_free(f);
        return NULL;
    }
    return f;
oom:
    snprintf(err, errlen, "sinks.%s: out of memory", sink->name);
    fwd_free(f);
    return NULL;
}

/* Free a forwarder that never started, closing its sink. */
static void fwd_discard(struct fwd *f)
{
    if (!f) return;
    if (f->state) f->sink->close(f->state, 0);
    fwd_free(f);
}

/* Create the groups of new forwarders fs[0..n) on this thread, from one
 * snapshot of the outbox's groups (so that sinks started together do not see
 * each other's new groups).  When Redis is unreachable the forwarders do it. */
static void create_groups_now(struct fwd **fs, size_t n)
{
    unsigned have = 0;
    int foreign = 0;
    if (n == 0 || ew_store_ensure(fs[0]->st) < 0 || list_groups(fs[0], &have, &foreign) < 0) return;
    for (size_t i = 0; i < n; i++)
        if (ew_store_ensure(fs[i]->st) == 0) create_group(fs[i], 1, have, foreign);
}

static int fwd_start(struct fwd *f, char *err, size_t errlen)
{
    int rc = pthread_create(&f->th, NULL, fwd_main, f);
    if (rc != 0) {
        snprintf(err, errlen, "sinks.%s: starting its thread: %s", f->sink->name, strerror(rc));
        return -1;
    }
    f->running = 1;
    EW_LOG(EW_INFO, f->tag, "forwarding %s as group %s", f->key, f->group);
    return 0;
}

static void fwd_request_stop(struct fwd *f, int64_t deadline)
{
    pthread_mutex_lock(&f->mu);
    f->stop = 1;
    f->deadline = deadline;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
}

/* Wait for a stopping forwarder until deadline; free it, or orphan it.
 * Returns 1 when it was orphaned. */
static int fwd_join(struct fwd *f, int64_t deadline)
{
    if (!f->running) {
        fwd_discard(f);
        return 0;
    }
    struct timespec ts = {.tv_sec = (time_t)(deadline / 1000),
                          .tv_nsec = (long)(deadline % 1000) * 1000000L};
    pthread_mutex_lock(&f->mu);
    while (!f->done && pthread_cond_timedwait(&f->cv, &f->mu, &ts) != ETIMEDOUT)
        ;
    int done = f->done;
    char tag[sizeof f->tag];
    if (!done) {
        /* From here on the thread owns f and frees it: detach and copy what
         * we need while it cannot get past the lock. */
        f->orphaned = 1;
        pthread_detach(f->th);
        memcpy(tag, f->tag, sizeof tag);
    }
    pthread_mutex_unlock(&f->mu);
    if (!done) {
        EW_LOG(EW_WARN, tag,
               "forwarder did not stop in time; left to finish on its own "
               "(unacknowledged alerts are delivered again after a restart)");
        return 1;
    }
    pthread_join(f->th, NULL);
    fwd_free(f);
    return 0;
}

static unsigned enabled_mask(const struct ew_config *cfg)
{
    unsigned m = 0;
    for (unsigned i = 0; i < NSINKS; i++)
        if (registry[i]->enabled(cfg)) m |= 1u << i;
    return m;
}

int ew_sinks_start(struct ew_sinks **out, const struct ew_config *cfg, struct ew_metrics_hub *hub,
                   char *err, size_t errlen)
{
    *out = NULL;
    struct ew_sinks *s = calloc(1, sizeof *s);
    struct fwd *fresh[NSINKS];
    size_t nfresh = 0;
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    s->hub = hub;
    s->cfg = cfg;
    /* Here, before any forwarder thread exists (see the top of the file). */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(err, errlen, "libcurl initialisation failed");
        free(s);
        return -1;
    }
    unsigned mask = enabled_mask(cfg);
    for (unsigned i = 0; i < NSINKS; i++) {
        if (!(mask & (1u << i))) continue;
        if (!(s->f[i] = fwd_new(i, cfg, hub, mask, err, errlen))) goto fail;
        fresh[nfresh++] = s->f[i];
    }
    create_groups_now(fresh, nfresh);
    for (size_t i = 0; i < nfresh; i++)
        if (fwd_start(fresh[i], err, errlen) < 0) goto fail;
    if (!nfresh) EW_LOG(EW_NOTICE, "sink", "no sink enabled: alerts stay in the outbox");
    *out = s;
    return 0;
fail:
    ew_sinks_stop(s, 5000);
    return -1;
}

int ew_sinks_reload(struct ew_sinks *s, const struct ew_config *cfg, char *err, size_t errlen)
{
    if (!s) return 0;
    struct fwd *next[NSINKS] = {0}, *fresh[NSINKS];
    size_t nfresh = 0;
    unsigned mask = enabled_mask(cfg), open = 0;
    for (unsigned i = 0; i < NSINKS; i++)
        if ((mask & (1u << i)) &&
            !(s->f[i] && ew_sink_settings_equal(registry[i]->name, s->cfg, cfg)))
            open |= 1u << i;
    /* 1. Open what is new or changed; on failure nothing changes. */
    for (unsigned i = 0; i < NSINKS; i++) {
        if (!(open & (1u << i))) continue;
        /* siblings: the sinks that start now without a running forwarder */
        unsigned running = 0;
        for (unsigned j = 0; j < NSINKS; j++)
            running |= s->f[j] ? 1u << j : 0;
        if (!(next[i] = fwd_new(i, cfg, s->hub, open & ~running, err, errlen))) {
            for (unsigned j = 0; j < NSINKS; j++)
                fwd_discard(next[j]);
            return -1;
        }
    }
    /* 2. Stop what is turned off or replaced. */
    int64_t deadline = ew_mono_ms() + RELOAD_STOP_MS;
    for (unsigned i = 0; i < NSINKS; i++)
        if (s->f[i] && (next[i] || !(mask & (1u << i)))) fwd_request_stop(s->f[i], deadline);
    for (unsigned i = 0; i < NSINKS; i++) {
        if (!s->f[i] || !(next[i] || !(mask & (1u << i)))) continue;
        EW_LOG(EW_NOTICE, "sink", "reload: %s %s", next[i] ? "reopening" : "stopping",
               registry[i]->name);
        s->orphans += fwd_join(s->f[i], deadline);
        s->f[i] = NULL;
    }
    /* 3. Start the new ones. */
    for (unsigned i = 0; i < NSINKS; i++)
        if (next[i]) {
            s->f[i] = next[i];
            fresh[nfresh++] = next[i];
        }
    create_groups_now(fresh, nfresh);
    int rc = 0;
    for (size_t i = 0; i < nfresh; i++) {
        if (fwd_start(fresh[i], err, errlen) < 0) {
            /* Cannot happen short of resource exhaustion; report it. */
            rc = -1;
            for (unsigned k = 0; k < NSINKS; k++)
                if (s->f[k] == fresh[i]) {
                    fwd_discard(fresh[i]);
                    s->f[k] = NULL;
                }
        }
    }
    s->cfg = cfg;
    return rc;
}

void ew_sinks_stop(struct ew_sinks *s, int timeout_ms)
{
    if (!s) return;
    int64_t deadline = ew_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    for (unsigned i = 0; i < NSINKS; i++)
        if (s->f[i] && s->f[i]->running) fwd_request_stop(s->f[i], deadline);
    for (unsigned i = 0; i < NSINKS; i++) {
        if (s->f[i]) s->orphans += fwd_join(s->f[i], deadline);
        s->f[i] = NULL;
    }
    if (!s->orphans) curl_global_cleanup();
    free(s);
}
