/* pipeline — see include/engwatch/pipeline.h. */
#include "engwatch/pipeline.h"
#include "engwatch/detect.h"
#include "engwatch/event.h"
#include "engwatch/hmap.h"
#include "engwatch/http.h"
#include "engwatch/log.h"
#include "engwatch/notify.h"
#include "engwatch/risk.h"
#include "engwatch/sink.h"
#include "engwatch/source_file.h"
#include "engwatch/source_kafka.h"
#include "engwatch/store.h"
#include "engwatch/text.h"
#include "engwatch/window.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_POSITIONS 4096

struct pipeline {
    const struct ew_config *cfg;
    volatile sig_atomic_t *stop;
    struct ew_metrics m;
    struct ew_source_kafka *src;
    struct ew_store *store;
    struct ew_window *win;
    struct ew_cmdbuf *reads, *ops;
    struct ew_text_ctx *tctx;
    struct ew_lexicon *lex;
    struct ew_text_params tparams;
    struct ew_event ev;
    struct ew_event_limits lim;
    struct ew_position pos[MAX_POSITIONS];

    int64_t batch_t0;    /* monotonic ms of the batch's first message; 0 = empty */
    size_t batch_msgs;   /* messages in the batch, rejects included */
    int in_flush;        /* flush_batch is running (rebalances must not re-enter it) */
    int in_revoke;       /* inside the revoke callback: polling the consumer is not allowed */
    int64_t deadline;    /* monotonic ms by which shutdown must be over; 0 = none */
    int fatal;
    int64_t stats_t0;    /* last periodic stats line */
    uint64_t stats_events0;
    uint64_t alerts[EW_SIG__COUNT][EW_LEVEL_CRITICAL + 1]; /* alerts applied */
    uint64_t incidents; /* incidents opened (alerts with action "opened") */

    /* live: systemd notifications, reloads, metrics, sinks, http */
    struct ew_notify notify;
    struct ew_metrics_hub *hub;
    struct ew_sinks *sinks;
    struct ew_http *http;
    struct ew_hist batch_ms, batch_size, rtt_ms; /* published into the hub */
    struct ew_hist apply_delay; /* produce (Kafka message timestamp) -> batch applied */
    int64_t *msg_ts;            /* the batch's message timestamps (wall clock ms) */
    size_t nmsg_ts, msg_ts_cap;
    const struct ew_run_ctl *ctl;
    struct ew_config *owned_cfg; /* a reloaded configuration this pipeline owns */
    int64_t status_t0;
    uint64_t status_events0;
    int64_t last_ping; /* idle liveness check of Redis */

    /* replay: the dump being read and the line range of the batch */
    int replay;
    struct ew_dump *dump;
    char posname[4200];
    int64_t first_line, last_line;
    FILE *alerts_out;
    int progress_tty;
};

static uint64_t alerts_total(const struct pipeline *p)
{
    uint64_t n = 0;
    for (int k = 0; k < EW_SIG__COUNT; k++)
        for (int l = 0; l <= EW_LEVEL_CRITICAL; l++)
            n += p->alerts[k][l];
    return n;
}

static uint64_t events_total(const struct ew_metrics *m)
{
    uint64_t n = 0;
    for (int i = 0; i < EW_EV__COUNT; i++)
        n += m->events[i];
    return n;
}

static void pipeline_free(struct pipeline *p);

/* ---- positions ------------------------------------------------------------- */

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; names && i < n; i++)
        free(names[i]);
    free(names);
}

/* Position names ("topic:partition") of tps[0..n); NULL on allocation failure. */
static char **make_names(const struct ew_tp *tps, size_t n)
{
    char **names = calloc(n + 1, sizeof *names);
    for (size_t i = 0; names && i < n; i++) {
        size_t len = strlen(tps[i].topic) + 16;
        if (!(names[i] = malloc(len))) {
            free_names(names, i);
            return NULL;
        }
        snprintf(names[i], len, "%s:%" PRId32, tps[i].topic, tps[i].partition);
    }
    return names;
}

/* Seek each named partition ("topic:partition"; Kafka topic names hold no
 * ':') to its stored position + 1, or to the beginning when none is stored. */
static int seek_names(struct pipeline *p, const char *const *names, size_t n)
{
    int64_t *off = calloc(n + 1, sizeof *off);
    if (!off || ew_store_get_positions(p->store, names, n, off) < 0) {
        free(off);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        char topic[512];
        const char *colon = strrchr(names[i], ':');
        if (!colon)
            continue;
        snprintf(topic, sizeof topic, "%.*s", (int)(colon - names[i]), names[i]);
        ew_source_kafka_seek(p->src, topic, (int32_t)strtol(colon + 1, NULL, 10),
                             off[i] >= 0 ? off[i] + 1 : RD_KAFKA_OFFSET_BEGINNING);
    }
    free(off);
    return 0;
}

static int hook_assign(void *ctx, struct ew_tp *parts, size_t n)
{
    struct pipeline *p = ctx;
    ew_window_invalidate(p->win); /* the previous owner may have written these accounts */
    if (ew_store_ensure(p->store) < 0)
        return -1; /* assigned paused; resolved in the main loop once Redis is back */
    char **names = make_names(parts, n);
    int64_t *off = calloc(n + 1, sizeof *off);
    int rc = -1;
    if (!names || !off ||
        ew_store_get_positions(p->store, (const char *const *)names, n, off) < 0)
        goto out;
    /* Redis is the truth: continue after the last applied offset.  With no
     * stored position (a new namespace) fall back to Kafka's committed
     * offset, then auto.offset.reset. */
    for (size_t i = 0; i < n; i++) {
        parts[i].offset = off[i] >= 0 ? off[i] + 1 : EW_OFFSET_COMMITTED;
        if (off[i] >= 0)
            EW_LOG(EW_INFO, "pipeline", "%s: resuming after applied offset %" PRId64, names[i],
                   off[i]);
    }
    rc = 0;
out:
    free_names(names, n);
    free(off);
    return rc;
}

/* Forget the batch: the window's events and the source's ranges (whose
 * partitions are sought back, so the messages come again). */
static void drop_batch(struct pipeline *p)
{
    if (p->src)
        ew_source_kafka_batch_drop(p->src);
    p->first_line = p->last_line = -1;
    p->nmsg_ts = 0;
    ew_window_reset(p->win);
    p->batch_msgs = 0;
    p->batch_t0 = 0;
}

static int flush_batch(struct pipeline *p);
static void publish(struct pipeline *p);

static void hook_revoke(void *ctx, const struct ew_tp *parts, size_t n, int lost)
{
    struct pipeline *p = ctx;
    (void)parts;
    (void)n;
    /* Finish the in-flight batch while we still own its partitions; when
     * that is impossible (lost assignment, Redis down, or we are inside a
     * flush already) drop it: the next owner starts from the positions in
     * Redis, so dropping loses nothing. */
    if (p->batch_msgs && !lost && !p->in_flush && ew_store_connected(p->store)) {
        p->in_revoke = 1;
        flush_batch(p);
        p->in_revoke = 0;
    }
    if (p->batch_msgs) {
        EW_LOG(EW_NOTICE, "pipeline", "dropping in-flight batch of %zu message(s) on revoke",
               p->batch_msgs);
        drop_batch(p);
    }
    ew_window_invalidate(p->win);
}

/* ---- one message ---------------------------------------------------------------- */

/* Decode one message and add it to the batch.  Returns the reject reason
 * (EW_REJ_NONE when accepted); err describes a reject. */
static enum ew_reject accept_payload(struct pipeline *p, const char *buf, size_t len,
                                     struct ew_decode_error *err)
{
    if (p->batch_msgs++ == 0)
        p->batch_t0 = ew_mono_ms();
    if (ew_event_decode(&p->ev, buf, len, &p->lim, err) < 0) {
        p->m.rejects[err->reason]++;
        return err->reason;
    }
    struct ew_text_result tr, *trp = NULL;
    if (p->ev.type == EW_EV_COMMENT &&
        ew_text_classify(p->tctx, p->lex, &p->tparams, p->ev.text.ptr ? p->ev.text.ptr : "",
                         p->ev.text.len, &tr) == 0)
        trp = &tr;
    if (ew_window_add(p->win, &p->ev, trp) < 0) {
        EW_LOG(EW_ERROR, "pipeline", "out of memory adding an event to the batch");
        p->fatal = 1;
        return EW_REJ_NONE;
    }
    p->m.events[p->ev.type]++;
    return EW_REJ_NONE;
}

static void handle_message(struct pipeline *p, rd_kafka_message_t *msg)
{
    struct ew_decode_error err;
    ew_source_kafka_mark(p->src, msg);
    rd_kafka_timestamp_type_t tt;
    int64_t ts = rd_kafka_message_timestamp(msg, &tt);
    if (ts > 0) {
        if (p->nmsg_ts == p->msg_ts_cap) {
            size_t cap = p->msg_ts_cap ? p->msg_ts_cap * 2 : 1024;
            int64_t *n = realloc(p->msg_ts, cap * sizeof *n);
            if (n) {
                p->msg_ts = n;
                p->msg_ts_cap = cap;
            }
        }
        if (p->nmsg_ts < p->msg_ts_cap)
            p->msg_ts[p->nmsg_ts++] = ts;
    }
    if (accept_payload(p, msg->payload, msg->len, &err) != EW_REJ_NONE) {
        EW_LOG_RL(EW_WARN, "event", "%s[%" PRId32 "]@%" PRId64 " rejected: %s: %s",
                  rd_kafka_topic_name(msg->rkt), msg->partition, msg->offset,
                  ew_reject_name(err.reason), err.msg);
        ew_source_kafka_dead_letter(p->src, msg, ew_reject_name(err.reason), err.msg);
    }
}

/* ---- waiting for Redis --------------------------------------------------------------- */

/* Redis is unavailable: pause the input, keep serving the consumer
 * (rebalances, and messages fetched before the pause, which join the batch)
 * until the next reconnect attempt is due.  Returns -1 when shutdown's
 * deadline passed. */
static int wait_for_store(struct pipeline *p)
{
    if (p->in_revoke)
        return -1; /* the batch is dropped instead; see hook_revoke */
    if (p->replay) {
        /* no input to pause: just wait for the next attempt */
        int64_t left = ew_store_retry_in_ms(p->store);
        struct timespec ts = {left / 1000, (left % 1000) * 1000000};
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR && !*p->stop)
            ;
        return *p->stop ? -1 : 0;
    }
    if (!ew_source_kafka_paused(p->src)) {
        EW_LOG(EW_WARN, "pipeline", "redis unavailable: pausing input (batch of %zu held)",
               p->batch_msgs);
        ew_source_kafka_pause(p->src);
    }
    publish(p); /* /readyz and /metrics must see that Redis is down */
    int64_t until = ew_mono_ms() + ew_store_retry_in_ms(p->store);
    do {
        ew_notify_watchdog(&p->notify, ew_mono_ms());
        if (p->deadline && ew_mono_ms() >= p->deadline)
            return -1;
        int64_t left = until - ew_mono_ms();
        rd_kafka_message_t *msg = ew_source_kafka_poll(p->src, left > 200 ? 200 : left < 0 ? 0 : (int)left);
        if (msg) {
            handle_message(p, msg);
            rd_kafka_message_destroy(msg);
        }
        if (ew_source_kafka_fatal(p->src))
            return -1;
        if (*p->stop && !p->deadline)
            p->deadline = ew_mono_ms() + p->cfg->kafka.shutdown_timeout_ms;
    } while (ew_mono_ms() < until);
    return 0;
}

/* The batch's alerts, once applied: counted, and in a replay written out.
 * Live, sinks forward them from the Redis outbox. */
static void write_alerts(struct pipeline *p)
{
    const char *const *al;
    size_t n = ew_window_alerts(p->win, &al);
    for (int k = 0; k < EW_SIG__COUNT; k++)
        for (int l = 0; l <= EW_LEVEL_CRITICAL; l++)
            p->alerts[k][l] += ew_window_alert_count(p->win, k, l);
    for (size_t i = 0; i < n; i++) {
        p->incidents += strstr(al[i], "\"action\":\"opened\"") != NULL;
        if (p->alerts_out) {
            fputs(al[i], p->alerts_out);
            fputc('\n', p->alerts_out);
        } else {
            EW_LOG(EW_INFO, "alert", "%s", al[i]);
        }
    }
}

/* Share the counters with the HTTP thread (live only). */
static void publish(struct pipeline *p)
{
    struct ew_metrics_hub *h = p->hub;
    if (!h)
        return;
    pthread_mutex_lock(&h->lock);
    struct ew_window_cache_stats cs;
    ew_window_cache_stats(p->win, &cs);
    p->m.cache_hits = cs.hits;
    p->m.cache_misses = cs.misses;
    p->m.cache_bytes = cs.bytes;
    h->m = p->m;
    memcpy(h->alerts, p->alerts, sizeof h->alerts);
    h->batch_ms = p->batch_ms;
    h->batch_size = p->batch_size;
    h->redis_rtt_ms = p->rtt_ms;
    h->apply_delay_ms = p->apply_delay;
    h->redis_up = ew_store_connected(p->store);
    h->kafka_assigned = p->src ? (int)ew_source_kafka_assigned(p->src) : 0;
    h->kafka_joined = p->src ? ew_source_kafka_joined(p->src) : 0;
    h->nparts = 0;
    for (size_t i = 0; p->src && i < ew_source_kafka_assigned(p->src) && i < EW_HUB_MAX_PARTS;
         i++) {
        const char *name;
        int64_t lag = ew_source_kafka_partition_lag(p->src, i, &name);
        snprintf(h->parts[i].name, sizeof h->parts[i].name, "%s", name);
        h->parts[i].lag = lag;
        h->nparts++;
    }
    pthread_mutex_unlock(&h->lock);
}

/* ---- one batch -------------------------------------------------------------------- */

static int flush_batch(struct pipeline *p)
{
    if (p->batch_msgs == 0)
        return 0;
    p->in_flush = 1;
    int rc = 0;
    int64_t t0 = ew_mono_ms();
    for (;;) {
        if (p->batch_msgs == 0) /* dropped by a rebalance while we waited */
            break;
        if (ew_store_ensure(p->store) < 0) {
            if (wait_for_store(p) < 0) {
                rc = -1;
                break;
            }
            continue;
        }
        redisReply **replies;
        ew_cmdbuf_reset(p->reads);
        ew_cmdbuf_reset(p->ops);
        if (ew_window_build_reads(p->win, p->reads) < 0) {
            EW_LOG(EW_ERROR, "pipeline", "out of memory building reads");
            rc = -1;
            p->fatal = 1;
            break;
        }
        if (ew_cmdbuf_count(p->reads) && ew_store_read(p->store, p->reads, &replies) < 0)
            continue; /* marked down; retried after backoff */
        ew_window_set_epoch(p->win, ew_store_stats(p->store)->connections);
        if (ew_window_fold(p->win, ew_cmdbuf_count(p->reads) ? replies : NULL,
                           ew_cmdbuf_count(p->reads), p->ops) < 0) {
            EW_LOG(EW_ERROR, "pipeline", "could not fold the batch onto the stored state");
            rc = -1;
            p->fatal = 1;
            break;
        }
        size_t npos = 0;
        if (p->src) {
            npos = ew_source_kafka_batch_positions(p->src, p->pos, MAX_POSITIONS);
        } else if (p->first_line >= 0) {
            p->pos[0] = (struct ew_position){p->posname, p->first_line, p->last_line};
            npos = 1;
        }
        enum ew_apply_result r = ew_store_apply(p->store, p->pos, npos, p->ops);
        if (r != EW_APPLY_OK)
            ew_window_invalidate(p->win); /* the cache holds this fold, Redis may not */
        if (r == EW_APPLY_OK || r == EW_APPLY_DUPLICATE) {
            p->m.late_dropped += ew_window_late(p->win);
            p->m.batches++;
            p->m.batch_events += ew_window_pending(p->win);
            ew_hist_observe(&p->batch_size, (double)ew_window_pending(p->win));
            if (r == EW_APPLY_OK)
                write_alerts(p);
            if (p->nmsg_ts) {
                int64_t applied = ew_wall_ms();
                for (size_t i = 0; i < p->nmsg_ts; i++)
                    ew_hist_observe(&p->apply_delay, (double)(applied - p->msg_ts[i]));
            }
            if (p->src)
                ew_source_kafka_batch_done(p->src); /* clears the source's ranges */
            drop_batch(p);
            if (p->src && ew_source_kafka_paused(p->src)) {
                EW_LOG(EW_NOTICE, "pipeline", "redis available: resuming input");
                ew_source_kafka_resume(p->src);
            }
            EW_LOG(EW_DEBUG, "pipeline", "batch applied in %" PRId64 " ms",
                   ew_mono_ms() - t0);
            ew_hist_observe(&p->batch_ms, (double)(ew_mono_ms() - t0));
            ew_hist_observe(&p->rtt_ms, ew_store_stats(p->store)->last_rtt_ms);
            publish(p);
            break;
        }
        if (r == EW_APPLY_CONFLICT && p->replay) {
            EW_LOG(EW_ERROR, "replay", "%s: lines %" PRId64 "..%" PRId64
                   " overlap lines applied before in this namespace", p->posname, p->first_line,
                   p->last_line);
            rc = -1;
            p->fatal = 1;
            break;
        }
        if (r == EW_APPLY_CONFLICT) {
            /* Someone (a previous owner of these partitions) applied past our
             * batch's start: our view is stale.  Drop it and continue from
             * the stored positions. */
            EW_LOG(EW_WARN, "pipeline", "batch overlaps already applied offsets: re-reading");
            const char *names[MAX_POSITIONS];
            for (size_t i = 0; i < npos; i++)
                names[i] = p->pos[i].name;
            drop_batch(p);
            seek_names(p, names, npos);
            break;
        }
        if (r == EW_APPLY_UNAVAILABLE)
            continue;
        EW_LOG(EW_ERROR, "pipeline", "redis refused the batch; stopping (state is unchanged)");
        rc = -1;
        p->fatal = 1;
        break;
    }
    p->in_flush = 0;
    return rc;
}

/* Partitions assigned while Redis was down: position them now. */
static void resolve_unpositioned(struct pipeline *p)
{
    struct ew_tp tps[256];
    size_t n = ew_source_kafka_unpositioned(p->src, tps, 256);
    if (n == 0 || ew_store_ensure(p->store) < 0)
        return;
    char **names = make_names(tps, n);
    if (names && seek_names(p, (const char *const *)names, n) == 0 &&
        !ew_source_kafka_paused(p->src))
        ew_source_kafka_resume(p->src);
    free_names(names, n);
}

static void log_stats(struct pipeline *p, int64_t now)
{
    if (!p->src)
        return;
    uint64_t ev = events_total(&p->m);
    double secs = (double)(now - p->stats_t0) / 1000.0;
    uint64_t rejects = 0;
    for (int i = 0; i < EW_REJ__COUNT; i++)
        rejects += p->m.rejects[i];
    EW_LOG(EW_INFO, "pipeline",
           "events %" PRIu64 " (%.0f/s), rejected %" PRIu64 ", late %" PRIu64 ", batches %" PRIu64
           ", skipped %" PRIu64 ", partitions %zu%s",
           ev, secs > 0 ? (double)(ev - p->stats_events0) / secs : 0.0, rejects, p->m.late_dropped,
           p->m.batches, p->m.skipped, ew_source_kafka_assigned(p->src),
           ew_source_kafka_paused(p->src) ? ", input paused" : "");
    p->stats_t0 = now;
    p->stats_events0 = ev;
}

/* ---- the daemon -------------------------------------------------------------------- */

/* Set up everything but the source.  Returns NULL on failure (logged). */
static struct pipeline *pipeline_new(const struct ew_config *cfg, volatile sig_atomic_t *stop)
{
    struct pipeline *p = calloc(1, sizeof *p);
    char err[512], dir[4096];
    if (!p)
        return NULL;
    p->cfg = cfg;
    p->stop = stop;
    p->first_line = p->last_line = -1;
    p->lim = (struct ew_event_limits){(size_t)cfg->event.max_message, (size_t)cfg->event.max_id,
                                      (size_t)cfg->event.max_text, (size_t)cfg->event.max_name};
    p->tparams.short_max_chars = (unsigned)cfg->detectors.short_max_chars;
    ew_event_init(&p->ev);
    ew_config_path(cfg, cfg->detectors.lexicon_dir, dir, sizeof dir);
    if (ew_lexicon_load_dir(dir, &p->lex, err, sizeof err) < 0) {
        EW_LOG(EW_ERROR, "pipeline", "detectors.lexicon_dir %s: %s", dir, err);
        goto fail;
    }
    EW_LOG(EW_INFO, "pipeline", "lexicon: %zu entries from %s", ew_lexicon_size(p->lex), dir);
    if (!(p->tctx = ew_text_ctx_new()) || !(p->reads = ew_cmdbuf_new()) ||
        !(p->ops = ew_cmdbuf_new()) || ew_store_new(&p->store, cfg) < 0 ||
        ew_window_new(&p->win, cfg, cfg->redis.prefix) < 0) {
        EW_LOG(EW_ERROR, "pipeline", "start-up failed (out of memory or bad detector config)");
        goto fail;
    }
    return p;
fail:
    pipeline_free(p);
    return NULL;
}

static void pipeline_free(struct pipeline *p)
{
    if (!p)
        return;
    if (p->owned_cfg) {
        ew_config_free(p->owned_cfg);
        free(p->owned_cfg);
    }
    ew_source_kafka_free(p->src);
    ew_dump_close(p->dump);
    ew_window_free(p->win);
    ew_store_free(p->store);
    ew_cmdbuf_free(p->reads);
    ew_cmdbuf_free(p->ops);
    ew_text_ctx_free(p->tctx);
    ew_lexicon_free(p->lex);
    ew_event_clear(&p->ev);
    free(p->msg_ts);
    free(p);
}

/* SIGHUP: read the configuration again and apply what can change live. */
static void reload(struct pipeline *p)
{
    struct ew_config *next = calloc(1, sizeof *next);
    struct ew_cfg_errors errs = {0}, kept = {0};
    char err[512], dir[4096];
    struct ew_lexicon *lex = NULL;
    ew_notify_reloading(&p->notify);
    EW_LOG(EW_NOTICE, "pipeline", "reloading the configuration");
    if (!next || p->ctl->load(p->ctl->ctx, next, &errs) < 0) {
        EW_LOG(EW_ERROR, "pipeline", "reload rejected, the running configuration stays:\n%s",
               errs.buf ? errs.buf : "out of memory");
        goto out;
    }
    if (ew_config_keep_restart(next, p->cfg, &kept) < 0)
        goto out;
    if (kept.count)
        EW_LOG(EW_WARN, "pipeline", "reload: %d setting(s) need a restart and keep their "
               "running values: %s", kept.count, kept.buf);
    ew_config_path(next, next->detectors.lexicon_dir, dir, sizeof dir);
    if (ew_lexicon_load_dir(dir, &lex, err, sizeof err) < 0) {
        EW_LOG(EW_ERROR, "pipeline", "reload rejected: detectors.lexicon_dir %s: %s", dir, err);
        goto out;
    }
    if (ew_window_reconfigure(p->win, next, err, sizeof err) < 0) {
        EW_LOG(EW_ERROR, "pipeline", "reload rejected: %s", err);
        goto out;
    }
    if (ew_sinks_reload(p->sinks, next, err, sizeof err) < 0) {
        EW_LOG(EW_ERROR, "pipeline", "reload rejected: sinks: %s", err);
        goto out;
    }
    ew_http_reload(p->http, next);
    /* Applied: swap everything that reads the configuration. */
    ew_lexicon_free(p->lex);
    p->lex = lex;
    lex = NULL;
    p->tparams.short_max_chars = (unsigned)next->detectors.short_max_chars;
    ew_log_setup(EW_ERROR + next->log.level, (enum ew_log_prefix)next->log.prefix,
                 (uint32_t)next->log.rate_limit_burst, next->log.rate_limit_interval_ms);
    p->cfg = next;
    if (p->owned_cfg) {
        ew_config_free(p->owned_cfg);
        free(p->owned_cfg);
    }
    p->owned_cfg = next;
    next = NULL;
    EW_LOG(EW_NOTICE, "pipeline", "configuration reloaded (lexicon: %zu entries)",
           ew_lexicon_size(p->lex));
out:
    if (next) {
        ew_config_free(next);
        free(next);
    }
    ew_lexicon_free(lex);
    ew_cfg_errors_free(&errs);
    ew_cfg_errors_free(&kept);
    ew_notify_ready(&p->notify);
}

static void report_status(struct pipeline *p, int64_t now)
{
    uint64_t ev = events_total(&p->m);
    double secs = (double)(now - p->status_t0) / 1000.0;
    ew_notify_status(&p->notify, "%.0f events/s, lag %" PRId64 ", %zu partitions, %" PRIu64
                     " incidents opened, %" PRIu64 " alerts%s",
                     secs > 0 ? (double)(ev - p->status_events0) / secs : 0.0,
                     ew_source_kafka_lag(p->src), ew_source_kafka_assigned(p->src),
                     p->incidents, alerts_total(p),
                     ew_store_connected(p->store) ? "" : ", redis unavailable");
    p->status_t0 = now;
    p->status_events0 = ev;
}

int ew_pipeline_run_live(const struct ew_config *cfg, const struct ew_run_ctl *ctl)
{
    char err[512];
    int rc = 1;
    struct pipeline *p = pipeline_new(cfg, ctl->stop);
    if (!p)
        return 1;
    p->ctl = ctl;
    p->hub = ctl->hub;
    ew_notify_init(&p->notify);
    ew_store_ensure(p->store); /* not fatal when down: we wait for it */
    if (p->hub && cfg->http.enabled && ew_http_start(&p->http, cfg, p->hub, err, sizeof err) < 0) {
        EW_LOG(EW_ERROR, "pipeline", "http: %s", err);
        goto out;
    }
    if (ew_sinks_start(&p->sinks, cfg, p->hub, err, sizeof err) < 0) {
        EW_LOG(EW_ERROR, "pipeline", "sinks: %s", err);
        goto out;
    }

    struct ew_source_kafka_hooks hooks = {.ctx = p, .on_assign = hook_assign,
                                          .on_revoke = hook_revoke};
    if (ew_source_kafka_new(&p->src, cfg, &hooks, &p->m, err, sizeof err) < 0) {
        EW_LOG(EW_ERROR, "pipeline", "%s", err);
        goto out;
    }

    p->stats_t0 = p->status_t0 = ew_mono_ms();
    volatile sig_atomic_t *stop = ctl->stop;
    while (!*stop && !p->fatal) {
        const char *fatal = ew_source_kafka_fatal(p->src);
        if (fatal) {
            EW_LOG(EW_ERROR, "pipeline", "kafka fatal error, shutting down: %s", fatal);
            p->fatal = 1;
            break;
        }
        int64_t now = ew_mono_ms();
        int timeout = 100;
        if (p->batch_msgs) {
            int64_t left = p->batch_t0 + p->cfg->batch.max_wait_ms - now;
            timeout = left <= 0 ? 0 : left < 100 ? (int)left : 100;
        }
        rd_kafka_message_t *msg = ew_source_kafka_poll(p->src, timeout);
        if (msg) {
            handle_message(p, msg);
            rd_kafka_message_destroy(msg);
        }
        now = ew_mono_ms();
        if (p->batch_msgs &&
            (p->batch_msgs >= (size_t)p->cfg->batch.max_events ||
             now - p->batch_t0 >= p->cfg->batch.max_wait_ms))
            flush_batch(p);
        resolve_unpositioned(p);
        if (now - p->stats_t0 >= 60000)
            log_stats(p, now);
        /* systemd: ready once the group is joined (a member may own no
         * partition) and Redis is reachable; alive while looping */
        if (p->notify.state == EW_NOTIFY_STARTING && ew_source_kafka_joined(p->src) &&
            ew_store_connected(p->store))
            ew_notify_ready(&p->notify);
        ew_notify_watchdog(&p->notify, now);
        if (now - p->status_t0 >= 10000)
            report_status(p, now);
        if (!msg && !p->batch_msgs) {
            /* Idle: a once-a-second PING notices a Redis outage that no
             * batch would (readiness, metrics), then keep lags fresh. */
            if (now - p->last_ping >= 1000) {
                p->last_ping = now;
                redisReply **rep;
                ew_cmdbuf_reset(p->reads);
                ew_cmd_begin(p->reads, "PING");
                if (ew_store_ensure(p->store) == 0)
                    ew_store_read(p->store, p->reads, &rep);
            }
            publish(p);
        }
        if (ctl->reload && *ctl->reload) {
            *ctl->reload = 0;
            reload(p);
        }
    }
    ew_notify_stopping(&p->notify);

    /* Clean shutdown: finish the in-flight batch, commit, leave the group. */
    EW_LOG(EW_NOTICE, "pipeline", "shutting down: finishing %zu in-flight message(s)",
           p->batch_msgs);
    p->deadline = ew_mono_ms() + cfg->kafka.shutdown_timeout_ms;
    /* The hard bound: should leaving the group hang (brokers gone), SIGALRM's
     * default action ends the process shortly after the deadline.  Nothing
     * is lost: unapplied messages are consumed again after a restart. */
    alarm((unsigned)((cfg->kafka.shutdown_timeout_ms + 999) / 1000) + 2);
    if (!p->fatal)
        flush_batch(p);
    if (p->batch_msgs)
        drop_batch(p); /* not applied: it will be consumed again after restart */
    ew_source_kafka_close(p->src, (int)(p->deadline - ew_mono_ms() > 0 ? p->deadline - ew_mono_ms() : 0));
    log_stats(p, ew_mono_ms());
    rc = p->fatal ? 1 : 0;
out:
    ew_sinks_stop(p->sinks, 5000);
    ew_http_stop(p->http);
    pipeline_free(p);
    return rc;
}

/* ---- replay ------------------------------------------------------------------------ */

static void progress(struct pipeline *p, int64_t t0, uint64_t lines, int final)
{
    int64_t now = ew_mono_ms();
    double secs = (double)(now - t0) / 1000.0;
    char pct[16] = "";
    int64_t size = ew_dump_size(p->dump);
    if (size > 0 && !final)
        snprintf(pct, sizeof pct, " %3.0f%%",
                 100.0 * (double)ew_dump_bytes_read(p->dump) / (double)size);
    if (p->progress_tty)
        fprintf(stderr, "\r%s:%s %" PRIu64 " lines, %" PRIu64 " events, %.0f ev/s, %" PRIu64
                        " alerts   %s",
                ew_dump_name(p->dump), pct, lines, events_total(&p->m),
                secs > 0 ? (double)events_total(&p->m) / secs : 0.0, alerts_total(p),
                final ? "\n" : "");
    else
        EW_LOG(EW_INFO, "replay", "%s:%s %" PRIu64 " lines, %" PRIu64 " events, %.0f ev/s, %" PRIu64
               " alerts", ew_dump_name(p->dump), pct, lines, events_total(&p->m),
               secs > 0 ? (double)events_total(&p->m) / secs : 0.0, alerts_total(p));
}

static void summary(struct pipeline *p, uint64_t lines, double secs, const char *ns, int kept)
{
    uint64_t ev = events_total(&p->m), rej = 0;
    for (int i = 0; i < EW_REJ__COUNT; i++)
        rej += p->m.rejects[i];
    fprintf(stderr, "replay summary\n");
    fprintf(stderr, "  lines read       %" PRIu64 "\n", lines);
    fprintf(stderr, "  events accepted  %" PRIu64 " (", ev);
    for (int t = 0; t < EW_EV__COUNT; t++)
        fprintf(stderr, "%s%s %" PRIu64, t ? ", " : "", ew_event_type_name((enum ew_event_type)t),
                p->m.events[t]);
    fprintf(stderr, ")\n  rejected         %" PRIu64, rej);
    for (int i = 1, first = 1; i < EW_REJ__COUNT; i++)
        if (p->m.rejects[i]) {
            fprintf(stderr, "%s%s %" PRIu64, first ? " (" : ", ",
                    ew_reject_name((enum ew_reject)i), p->m.rejects[i]);
            first = 0;
        }
    fprintf(stderr, "%s\n  late (dropped)   %" PRIu64 "\n", rej ? ")" : "", p->m.late_dropped);
    fprintf(stderr, "  alerts           %" PRIu64 "\n", alerts_total(p));
    for (int k = 0; k < EW_SIG__COUNT; k++) {
        uint64_t sum = 0;
        for (int l = 0; l <= EW_LEVEL_CRITICAL; l++)
            sum += p->alerts[k][l];
        fprintf(stderr, "    %-20s %6" PRIu64 "  (info %" PRIu64 ", warning %" PRIu64
                        ", critical %" PRIu64 ")\n",
                ew_signal_name((enum ew_signal_kind)k), sum, p->alerts[k][EW_LEVEL_INFO],
                p->alerts[k][EW_LEVEL_WARNING], p->alerts[k][EW_LEVEL_CRITICAL]);
    }
    struct ew_window_cache_stats cs;
    ew_window_cache_stats(p->win, &cs);
    fprintf(stderr, "  state cache      %" PRIu64 " account folds from the cache, %" PRIu64
                    " read from Redis, %" PRIu64 " evicted (now %zu accounts, %.1f MiB)\n",
            cs.hits, cs.misses, cs.evictions, cs.entries, (double)cs.bytes / 1048576.0);
    fprintf(stderr, "  elapsed          %.2f s\n", secs);
    fprintf(stderr, "  rate             %.0f events/s\n", secs > 0 ? (double)lines / secs : 0.0);
    fprintf(stderr, "  state            %s %s\n", kept ? "kept in namespace" : "removed:", ns);
}

int ew_pipeline_run_replay(const struct ew_config *cfg, char *const *dumps, int ndumps,
                           const char *alerts_path, int keep_state, volatile sig_atomic_t *stop)
{
    char ns[256], err[512];
    struct ew_config rcfg = *cfg; /* shallow: only redis.prefix differs, never freed */
    struct pipeline *p = NULL;
    FILE *out = NULL;
    int rc = 1;
    uint64_t lines = 0;

    if (cfg->replay.ns[0]) {
        snprintf(ns, sizeof ns, "%s", cfg->replay.ns);
    } else {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        char seed[64];
        int n = snprintf(seed, sizeof seed, "%ld.%ld.%d", (long)ts.tv_sec, ts.tv_nsec, (int)getpid());
        snprintf(ns, sizeof ns, "replay:%08" PRIx64 ":", ew_hash64(seed, (size_t)n) >> 32);
    }
    rcfg.redis.prefix = ns;
    if (!(p = pipeline_new(&rcfg, stop)))
        return 1;
    p->replay = 1;
    p->progress_tty = isatty(STDERR_FILENO);
    if (!alerts_path || strcmp(alerts_path, "-") == 0) {
        out = stdout;
    } else if (!(out = fopen(alerts_path, "w"))) {
        EW_LOG(EW_ERROR, "replay", "%s: %s", alerts_path, strerror(errno));
        goto out;
    }
    p->alerts_out = out;

    /* Redis must be there at the start of a replay: give it a few seconds. */
    int64_t give_up = ew_mono_ms() + 10000;
    while (ew_store_ensure(p->store) < 0) {
        if (ew_mono_ms() >= give_up || *stop) {
            EW_LOG(EW_ERROR, "replay", "cannot reach redis at %s:%" PRId64 "%s",
                   cfg->redis.unix_socket[0] ? cfg->redis.unix_socket : cfg->redis.host,
                   cfg->redis.port, " (set redis.host/redis.port, or start redis-server)");
            goto out;
        }
        wait_for_store(p);
    }
    EW_LOG(EW_INFO, "replay", "state in redis namespace %s", ns);

    int64_t t0 = ew_mono_ms(), last_progress = t0;
    int64_t every = cfg->replay.progress_interval_ms * (p->progress_tty ? 1 : 10);
    for (int d = 0; d < ndumps && !p->fatal && !*stop; d++) {
        if (ew_dump_open(&p->dump, dumps[d], (size_t)cfg->event.max_message + 1, err,
                         sizeof err) < 0) {
            EW_LOG(EW_ERROR, "replay", "%s", err);
            goto out;
        }
        snprintf(p->posname, sizeof p->posname, "file:%d:%s", d, dumps[d]);
        int64_t stored = -1;
        const char *nm = p->posname;
        if (ew_store_get_positions(p->store, &nm, 1, &stored) == 0 && stored >= 0) {
            EW_LOG(EW_ERROR, "replay",
                   "namespace %s already holds a replay of %s (up to line %" PRId64
                   "): choose another replay.namespace or remove its keys", ns, dumps[d], stored);
            goto out;
        }
        const char *line;
        size_t len;
        int truncated, r = 0;
        while (!p->fatal && !*stop && (r = ew_dump_next(p->dump, &line, &len, &truncated)) > 0) {
            lines++;
            int64_t ln = ew_dump_lineno(p->dump);
            if (p->first_line < 0)
                p->first_line = ln;
            p->last_line = ln;
            if (len == 0 || (len == 1 && line[0] == '\r')) {
                p->batch_msgs++; /* a blank line: nothing to count, but its position moves */
            } else {
                struct ew_decode_error e;
                if (accept_payload(p, line, truncated ? (size_t)cfg->event.max_message + 1 : len,
                                   &e) != EW_REJ_NONE)
                    EW_LOG_RL(EW_WARN, "replay", "%s:%" PRId64 ": rejected: %s: %s", dumps[d], ln,
                              ew_reject_name(e.reason), e.msg);
            }
            if (p->batch_msgs >= (size_t)cfg->replay.batch_events && flush_batch(p) < 0)
                break;
            if ((lines & 1023) == 0 && ew_mono_ms() - last_progress >= every) {
                progress(p, t0, lines, 0);
                last_progress = ew_mono_ms();
            }
        }
        if (r < 0) {
            EW_LOG(EW_ERROR, "replay", "%s", ew_dump_error(p->dump));
            p->fatal = 1;
        }
        if (!p->fatal && flush_batch(p) < 0)
            p->fatal = 1;
        if (!p->fatal)
            progress(p, t0, lines, d == ndumps - 1);
        ew_dump_close(p->dump);
        p->dump = NULL;
    }
    if (*stop)
        EW_LOG(EW_WARN, "replay", "interrupted: the alerts written so far are complete up to "
                                  "the last applied batch");
    if (fflush(out) != 0) {
        EW_LOG(EW_ERROR, "replay", "writing alerts: %s", strerror(errno));
        p->fatal = 1;
    }
    double secs = (double)(ew_mono_ms() - t0) / 1000.0;
    int64_t dropped = keep_state ? 0 : ew_store_drop_namespace(p->store);
    if (dropped < 0)
        EW_LOG(EW_WARN, "replay", "could not remove namespace %s", ns);
    summary(p, lines, secs, ns, keep_state);
    rc = p->fatal || *stop ? 1 : 0;
out:
    if (out && out != stdout)
        fclose(out);
    pipeline_free(p);
    return rc;
}
