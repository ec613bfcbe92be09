/* source_kafka — see include/engwatch/source_kafka.h.
 *
 * Threading: librdkafka runs its own threads, but with log.queue=true and
 * rd_kafka_poll_set_consumer() every callback we register (rebalance, error,
 * log, offset commit) is served from rd_kafka_consumer_poll() on the
 * pipeline's thread.  The dead-letter producer's callbacks are served by
 * rd_kafka_poll()/rd_kafka_flush() on the same thread.  So nothing here needs
 * a lock, but the fetch nudger's hand-over below.
 *
 * Fetch nudges.  librdkafka 2.0 stops fetching while the consumer queue holds
 * queued.min.messages or queued.max.messages.kbytes, and looks again only when
 * a broker thread wakes up: on a response, a request to send, or its 1 s tick
 * (2.1 added fetch.queue.backoff.ms for this).  Catching up a backlog, the
 * daemon drains the queue long before the tick and then waits: it consumed
 * about queued.min.messages events a second whatever its speed (make bench:
 * 140k/s; 300k/s with a queue three times as big).  So when the queue has been
 * near a limit and has drained to half of it, a helper thread asks the leaders
 * of the assigned partitions for their end offsets (rd_kafka_offsets_for_times,
 * which blocks, hence the thread): each leader's broker thread wakes up to send
 * it and fetches again at once.  One nudge at a time; none while the queue is
 * short, so an idle or keeping-up consumer sends none.
 */
#include "engwatch/source_kafka.h"
#include "engwatch/log.h"
#include "engwatch/store.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

struct part {
    char *topic;
    int32_t partition;
    char *name;          /* "topic:partition", the store's position name */
    int64_t floor;       /* skip messages at or below this offset */
    int64_t first, last; /* the current batch's range; -1 when none */
    int unpositioned;    /* start offset not known yet: skip everything */
};

struct ew_source_kafka {
    rd_kafka_t *rk;  /* consumer */
    rd_kafka_t *dlq; /* dead-letter producer, NULL when not configured */
    char *dlq_topic;
    struct ew_source_kafka_hooks hooks;
    struct ew_metrics *m;
    struct part *parts;
    size_t nparts, cap;
    int paused;
    int in_revoke; /* commit synchronously while partitions are being revoked */
    int joined;    /* an assignment (possibly empty) has been received */
    char fatal[512];

    /* fetch nudges (see the top of the file) */
    rd_kafka_queue_t *cq;          /* the consumer queue, for its length */
    int64_t q_msgs, q_bytes;       /* librdkafka's limits: queued.min.messages, .kbytes */
    uint64_t seen, seen_bytes;     /* messages polled and their payload bytes */
    int q_full;                    /* the queue was near a limit since the last nudge */
    pthread_t nudger;
    int nudger_up;
    pthread_mutex_t nmu;
    pthread_cond_t ncv;
    rd_kafka_topic_partition_list_t *nudge_list; /* handed to the thread; NULL: none */
    int nudging;                   /* a nudge is posted or in flight */
    int nquit;
};

/* Properties that only a consumer understands: not passed to the producer,
 * where librdkafka would warn about each. */
static const char *const consumer_only[] = {
    "group.", "session.", "heartbeat.", "fetch.", "auto.offset.", "enable.auto.",
    "partition.assignment", "queued.", "max.poll", "isolation.level", "check.crcs",
    "enable.partition.eof", "auto.commit", "offset.store", "group.instance.id", NULL,
};

/* ---- callbacks (served on the pipeline's thread) ------------------------ */

static int ew_level(int syslog_level)
{
    if (syslog_level <= LOG_ERR)
        return EW_ERROR;
    if (syslog_level == LOG_WARNING)
        return EW_WARN;
    if (syslog_level == LOG_NOTICE)
        return EW_NOTICE;
    return syslog_level == LOG_INFO ? EW_INFO : EW_DEBUG;
}

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    EW_LOG_RL(ew_level(level), "kafka", "%s: %s", fac, buf);
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    struct ew_source_kafka *s = opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char buf[256];
        rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, buf, sizeof buf);
        snprintf(s->fatal, sizeof s->fatal, "%s: %s", rd_kafka_err2name(orig), buf);
        EW_LOG(EW_ERROR, "kafka", "fatal error: %s", s->fatal);
        return;
    }
    /* Transport errors and "all brokers down" are transient: librdkafka
     * reconnects by itself.  Say so without flooding the log. */
    EW_LOG_RL(EW_WARN, "kafka", "%s: %s", rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

static void commit_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                      rd_kafka_topic_partition_list_t *offsets, void *opaque)
{
    (void)rk;
    (void)offsets;
    struct ew_source_kafka *s = opaque;
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR || err == RD_KAFKA_RESP_ERR__NO_OFFSET) {
        s->m->commits++;
        return;
    }
    /* Commits fail during a rebalance; Redis holds the applied positions, so
     * the only cost is a stale lag metric until the next commit. */
    s->m->commit_errors++;
    EW_LOG_RL(EW_INFO, "source", "offset commit failed: %s", rd_kafka_err2str(err));
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    (void)rk;
    struct ew_source_kafka *s = opaque;
    if (msg->err) {
        s->m->dead_letter_errors++;
        EW_LOG_RL(EW_ERROR, "source", "dead letter to %s lost: %s", s->dlq_topic,
                  rd_kafka_err2str(msg->err));
    } else {
        s->m->dead_letters++;
    }
}

/* ---- the partition table ------------------------------------------------ */

static struct part *find_part(struct ew_source_kafka *s, const char *topic, int32_t partition)
{
    for (size_t i = 0; i < s->nparts; i++)
        if (s->parts[i].partition == partition && strcmp(s->parts[i].topic, topic) == 0)
            return &s->parts[i];
    return NULL;
}

static void part_free(struct part *p)
{
    free(p->topic);
    free(p->name);
}

static struct part *add_part(struct ew_source_kafka *s, const char *topic, int32_t partition)
{
    struct part *p = find_part(s, topic, partition);
    if (p)
        return p;
    if (s->nparts == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        struct part *np = realloc(s->parts, cap * sizeof *np);
        if (!np)
            return NULL;
        s->parts = np;
        s->cap = cap;
    }
    p = &s->parts[s->nparts];
    memset(p, 0, sizeof *p);
    p->topic = strdup(topic);
    size_t nlen = strlen(topic) + 16;
    p->name = malloc(nlen);
    if (!p->topic || !p->name) {
        part_free(p);
        return NULL;
    }
    snprintf(p->name, nlen, "%s:%" PRId32, topic, partition);
    p->partition = partition;
    p->floor = -1;
    p->first = p->last = -1;
    s->nparts++;
    return p;
}

static void remove_part(struct ew_source_kafka *s, const char *topic, int32_t partition)
{
    struct part *p = find_part(s, topic, partition);
    if (!p)
        return;
    part_free(p);
    *p = s->parts[--s->nparts];
}

static rd_kafka_topic_partition_list_t *list_of(struct ew_source_kafka *s, int only_unpositioned)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)s->nparts + 1);
    for (size_t i = 0; i < s->nparts; i++)
        if (!only_unpositioned || s->parts[i].unpositioned)
            rd_kafka_topic_partition_list_add(l, s->parts[i].topic, s->parts[i].partition);
    return l;
}

/* ---- rebalance ---------------------------------------------------------- */

static void log_parts(const char *what, const rd_kafka_topic_partition_list_t *l)
{
    char buf[1024];
    size_t n = 0;
    buf[0] = '\0';
    for (int i = 0; i < l->cnt && n < sizeof buf - 32; i++)
        n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%s[%" PRId32 "]", i ? " " : "",
                              l->elems[i].topic, l->elems[i].partition);
    EW_LOG(EW_NOTICE, "source", "%s %d partition%s: %s", what, l->cnt, l->cnt == 1 ? "" : "s",
           l->cnt ? buf : "(none)");
}

static void on_assign(struct ew_source_kafka *s, rd_kafka_t *rk,
                      rd_kafka_topic_partition_list_t *l, int cooperative)
{
    s->joined = 1;
    struct ew_tp *tps = calloc((size_t)l->cnt + 1, sizeof *tps);
    int known = -1;
    if (tps) {
        for (int i = 0; i < l->cnt; i++) {
            tps[i].topic = l->elems[i].topic;
            tps[i].partition = l->elems[i].partition;
            tps[i].offset = EW_OFFSET_COMMITTED;
        }
        known = s->hooks.on_assign ? s->hooks.on_assign(s->hooks.ctx, tps, (size_t)l->cnt) : 0;
    }
    for (int i = 0; i < l->cnt; i++) {
        struct part *p = add_part(s, l->elems[i].topic, l->elems[i].partition);
        if (!p) {
            EW_LOG(EW_ERROR, "source", "out of memory tracking partitions");
            continue;
        }
        p->unpositioned = known < 0;
        p->first = p->last = -1;
        if (known == 0 && tps[i].offset != EW_OFFSET_COMMITTED) {
            l->elems[i].offset = tps[i].offset;
            p->floor = tps[i].offset - 1;
        } else {
            l->elems[i].offset = RD_KAFKA_OFFSET_INVALID;
            p->floor = -1;
        }
    }
    free(tps);
    log_parts(known < 0 ? "assigned (positions unknown, paused)" : "assigned", l);
    rd_kafka_error_t *error = NULL;
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
    if (cooperative)
        error = rd_kafka_incremental_assign(rk, l);
    else
        err = rd_kafka_assign(rk, l);
    if (error) {
        EW_LOG(EW_ERROR, "source", "assign failed: %s", rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
    } else if (err) {
        EW_LOG(EW_ERROR, "source", "assign failed: %s", rd_kafka_err2str(err));
    }
    if (known < 0 || s->paused)
        rd_kafka_pause_partitions(rk, l);
}

static void on_revoke(struct ew_source_kafka *s, rd_kafka_t *rk,
                      rd_kafka_topic_partition_list_t *l, int cooperative)
{
    int lost = rd_kafka_assignment_lost(rk);
    struct ew_tp *tps = calloc((size_t)l->cnt + 1, sizeof *tps);
    if (tps) {
        for (int i = 0; i < l->cnt; i++) {
            tps[i].topic = l->elems[i].topic;
            tps[i].partition = l->elems[i].partition;
            tps[i].offset = -1;
        }
        s->in_revoke = 1;
        if (s->hooks.on_revoke)
            s->hooks.on_revoke(s->hooks.ctx, tps, (size_t)l->cnt, lost);
        s->in_revoke = 0;
        free(tps);
    }
    log_parts(lost ? "lost" : "revoked", l);
    for (int i = 0; i < l->cnt; i++)
        remove_part(s, l->elems[i].topic, l->elems[i].partition);
    if (cooperative) {
        rd_kafka_error_t *error = rd_kafka_incremental_unassign(rk, l);
        if (error)
            rd_kafka_error_destroy(error);
    } else {
        rd_kafka_assign(rk, NULL);
    }
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *l, void *opaque)
{
    struct ew_source_kafka *s = opaque;
    int cooperative = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        on_assign(s, rk, l, cooperative);
    } else if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
        on_revoke(s, rk, l, cooperative);
    } else {
        EW_LOG(EW_ERROR, "source", "rebalance error: %s", rd_kafka_err2str(err));
        on_revoke(s, rk, l, cooperative);
    }
}

/* ---- fetch nudges (see the top of the file) ------------------------------- */

static void *nudger_main(void *arg)
{
    struct ew_source_kafka *s = arg;
    pthread_mutex_lock(&s->nmu);
    for (;;) {
        while (!s->nudge_list && !s->nquit)
            pthread_cond_wait(&s->ncv, &s->nmu);
        if (s->nquit)
            break;
        rd_kafka_topic_partition_list_t *l = s->nudge_list;
        s->nudge_list = NULL;
        pthread_mutex_unlock(&s->nmu);
        /* the answer does not matter: sending the request woke the fetchers */
        rd_kafka_offsets_for_times(s->rk, l, 2000);
        rd_kafka_topic_partition_list_destroy(l);
        pthread_mutex_lock(&s->nmu);
        s->nudging = 0;
    }
    pthread_mutex_unlock(&s->nmu);
    return NULL;
}

static void nudge(struct ew_source_kafka *s)
{
    if (!s->nudger_up || s->nparts == 0)
        return;
    pthread_mutex_lock(&s->nmu);
    if (!s->nudging) {
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)s->nparts);
        for (size_t i = 0; i < s->nparts; i++) /* offset = timestamp: -1 is the end */
            rd_kafka_topic_partition_list_add(l, s->parts[i].topic, s->parts[i].partition)
                ->offset = RD_KAFKA_OFFSET_END;
        s->nudge_list = l;
        s->nudging = 1;
        s->m->fetch_nudges++;
        pthread_cond_signal(&s->ncv);
    }
    pthread_mutex_unlock(&s->nmu);
}

/* Every so many messages: has the queue been near a limit, and has it drained
 * to half of it since?  Queue bytes are estimated from the mean payload. */
static void watch_queue(struct ew_source_kafka *s)
{
    int64_t q = (int64_t)rd_kafka_queue_length(s->cq);
    int64_t qb = s->seen ? q * (int64_t)(s->seen_bytes / s->seen) : 0;
    if (q >= s->q_msgs - s->q_msgs / 8 || qb >= s->q_bytes - s->q_bytes / 8) {
        s->q_full = 1;
    } else if (s->q_full && q <= s->q_msgs / 2 && qb <= s->q_bytes / 2) {
        s->q_full = 0;
        nudge(s);
    }
}

static int64_t conf_int(rd_kafka_t *rk, const char *name, int64_t dflt)
{
    char buf[64];
    size_t n = sizeof buf;
    if (rd_kafka_conf_get(rd_kafka_conf(rk), name, buf, &n) != RD_KAFKA_CONF_OK)
        return dflt;
    return strtoll(buf, NULL, 10);
}

static void start_nudger(struct ew_source_kafka *s)
{
    s->cq = rd_kafka_queue_get_consumer(s->rk);
    s->q_msgs = conf_int(s->rk, "queued.min.messages", 100000);
    s->q_bytes = conf_int(s->rk, "queued.max.messages.kbytes", 65536) * 1024;
    if (s->cq && pthread_create(&s->nudger, NULL, nudger_main, s) == 0)
        s->nudger_up = 1;
    else
        EW_LOG(EW_WARN, "source", "no fetch nudger: catching up may be slower");
}

static void stop_nudger(struct ew_source_kafka *s)
{
    if (s->nudger_up) {
        pthread_mutex_lock(&s->nmu);
        s->nquit = 1;
        pthread_cond_signal(&s->ncv);
        pthread_mutex_unlock(&s->nmu);
        pthread_join(s->nudger, NULL);
        s->nudger_up = 0;
        if (s->nudge_list)
            rd_kafka_topic_partition_list_destroy(s->nudge_list);
        s->nudge_list = NULL;
    }
    if (s->cq)
        rd_kafka_queue_destroy(s->cq);
    s->cq = NULL;
}

/* ---- set-up --------------------------------------------------------------- */

static int conf_set(rd_kafka_conf_t *conf, const char *k, const char *v, char *err, size_t errlen)
{
    char errstr[512];
    if (rd_kafka_conf_set(conf, k, v, errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
        snprintf(err, errlen, "kafka.properties: %s = \"%s\": %s", k, v, errstr);
        return -1;
    }
    return 0;
}

static int is_consumer_only(const char *k)
{
    for (const char *const *p = consumer_only; *p; p++)
        if (strncmp(k, *p, strlen(*p)) == 0)
            return 1;
    return 0;
}

static rd_kafka_t *new_dlq_producer(struct ew_source_kafka *s, const struct ew_config *cfg,
                                    char *err, size_t errlen)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_t *rk = NULL;
    char errstr[512];
    if (conf_set(conf, "bootstrap.servers", cfg->kafka.brokers, err, errlen) < 0 ||
        conf_set(conf, "client.id", cfg->kafka.client_id, err, errlen) < 0 ||
        conf_set(conf, "log.queue", "true", err, errlen) < 0 ||
        conf_set(conf, "acks", "all", err, errlen) < 0 ||
        conf_set(conf, "linger.ms", "5", err, errlen) < 0)
        goto fail;
    for (size_t i = 0; i < cfg->kafka.properties.n; i++)
        if (!is_consumer_only(cfg->kafka.properties.key[i]) &&
            conf_set(conf, cfg->kafka.properties.key[i], cfg->kafka.properties.val[i], err,
                     errlen) < 0)
            goto fail;
    rd_kafka_conf_set_opaque(conf, s);
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_conf_set_log_cb(conf, log_cb);
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!rk) {
        snprintf(err, errlen, "dead-letter producer: %s", errstr);
        goto fail;
    }
    conf = NULL; /* owned by rk now */
    rd_kafka_set_log_queue(rk, NULL);
    return rk;
fail:
    if (conf)
        rd_kafka_conf_destroy(conf);
    return NULL;
}

int ew_source_kafka_new(struct ew_source_kafka **out, const struct ew_config *cfg,
                        const struct ew_source_kafka_hooks *hooks, struct ew_metrics *metrics,
                        char *err, size_t errlen)
{
    struct ew_source_kafka *s = calloc(1, sizeof *s);
    rd_kafka_conf_t *conf = NULL;
    rd_kafka_topic_partition_list_t *topics = NULL;
    char errstr[512], kbytes[32];
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    s->hooks = *hooks;
    s->m = metrics;
    pthread_mutex_init(&s->nmu, NULL);
    pthread_cond_init(&s->ncv, NULL);

    /* Our defaults first; kafka.properties may override all but the
     * commit settings, which the exactly-once design depends on. */
    conf = rd_kafka_conf_new();
    int64_t kb = cfg->kafka.max_buffered_bytes / 1024;
    snprintf(kbytes, sizeof kbytes, "%" PRId64, kb > 2097151 ? 2097151 : kb);
    if (conf_set(conf, "bootstrap.servers", cfg->kafka.brokers, err, errlen) < 0 ||
        conf_set(conf, "group.id", cfg->kafka.group, err, errlen) < 0 ||
        conf_set(conf, "client.id", cfg->kafka.client_id, err, errlen) < 0 ||
        conf_set(conf, "auto.offset.reset", "earliest", err, errlen) < 0 ||
        conf_set(conf, "queued.max.messages.kbytes", kbytes, err, errlen) < 0 ||
        /* Smaller fetches than librdkafka's (50 MB, 1 MB per partition): with
         * many partitions the in-flight fetch buffers, not the queue, held most
         * of the daemon's memory; make bench: 111 MB instead of 148 MB peak,
         * and faster (batches mix more partitions). */
        conf_set(conf, "fetch.max.bytes", "4194304", err, errlen) < 0 ||
        conf_set(conf, "max.partition.fetch.bytes", "131072", err, errlen) < 0 ||
        /* Half of librdkafka's: with fetch nudges (the top of the file) the
         * rate no longer grows with it; make bench: 294k/s and 109 MB peak
         * instead of 301-316k/s and 126-140 MB. */
        conf_set(conf, "queued.min.messages", "50000", err, errlen) < 0 ||
        conf_set(conf, "log.queue", "true", err, errlen) < 0)
        goto fail;
    for (size_t i = 0; i < cfg->kafka.properties.n; i++)
        if (conf_set(conf, cfg->kafka.properties.key[i], cfg->kafka.properties.val[i], err,
                     errlen) < 0)
            goto fail;
    if (conf_set(conf, "enable.auto.commit", "false", err, errlen) < 0 ||
        conf_set(conf, "enable.auto.offset.store", "false", err, errlen) < 0 ||
        conf_set(conf, "enable.partition.eof", "false", err, errlen) < 0)
        goto fail;
    const char *ac = ew_props_get(&cfg->kafka.properties, "enable.auto.commit");
    if (ac && strcmp(ac, "false") != 0)
        EW_LOG(EW_WARN, "source",
               "kafka.properties: enable.auto.commit is forced to false (offsets are committed "
               "after each applied batch)");
    rd_kafka_conf_set_opaque(conf, s);
    rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    rd_kafka_conf_set_error_cb(conf, error_cb);
    rd_kafka_conf_set_log_cb(conf, log_cb);
    rd_kafka_conf_set_offset_commit_cb(conf, commit_cb);

    s->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    if (!s->rk) {
        snprintf(err, errlen, "kafka consumer: %s", errstr);
        goto fail;
    }
    conf = NULL; /* owned by s->rk now */
    rd_kafka_set_log_queue(s->rk, NULL);
    rd_kafka_poll_set_consumer(s->rk);
    start_nudger(s);

    if (cfg->kafka.dead_letter_topic[0]) {
        if (!(s->dlq_topic = strdup(cfg->kafka.dead_letter_topic)) ||
            !(s->dlq = new_dlq_producer(s, cfg, err, errlen)))
            goto fail;
    }

    topics = rd_kafka_topic_partition_list_new((int)cfg->kafka.topics.n);
    for (size_t i = 0; i < cfg->kafka.topics.n; i++)
        rd_kafka_topic_partition_list_add(topics, cfg->kafka.topics.v[i], RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(s->rk, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (e) {
        snprintf(err, errlen, "subscribe: %s", rd_kafka_err2str(e));
        goto fail;
    }
    EW_LOG(EW_INFO, "source", "consumer %s in group %s subscribed to %zu topic(s) at %s",
           cfg->kafka.client_id, cfg->kafka.group, cfg->kafka.topics.n, cfg->kafka.brokers);
    *out = s;
    return 0;
fail:
    if (conf)
        rd_kafka_conf_destroy(conf);
    ew_source_kafka_free(s);
    return -1;
}

/* ---- the loop ------------------------------------------------------------- */

rd_kafka_message_t *ew_source_kafka_poll(struct ew_source_kafka *s, int timeout_ms)
{
    rd_kafka_message_t *m = rd_kafka_consumer_poll(s->rk, timeout_ms);
    if (s->dlq)
        rd_kafka_poll(s->dlq, 0);
    if (!m)
        return NULL;
    if (m->err) {
        if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
            EW_LOG_RL(EW_WARN, "source", "consume error: %s", rd_kafka_message_errstr(m));
        rd_kafka_message_destroy(m);
        return NULL;
    }
    struct part *p = find_part(s, rd_kafka_topic_name(m->rkt), m->partition);
    if (!p || p->unpositioned || m->offset <= p->floor) {
        /* Not ours any more, or at/below what Redis says was applied, or the
         * start position is still unknown (it will be fetched again). */
        s->m->skipped++;
        rd_kafka_message_destroy(m);
        return NULL;
    }
    s->m->messages++;
    s->seen_bytes += m->len;
    if ((++s->seen & 255) == 0)
        watch_queue(s);
    return m;
}

void ew_source_kafka_mark(struct ew_source_kafka *s, const rd_kafka_message_t *msg)
{
    struct part *p = find_part(s, rd_kafka_topic_name(msg->rkt), msg->partition);
    if (!p)
        return;
    if (p->first < 0)
        p->first = msg->offset;
    if (msg->offset > p->last)
        p->last = msg->offset;
    /* Never hand out the same offset twice within one assignment. */
    p->floor = msg->offset;
}

size_t ew_source_kafka_batch_positions(struct ew_source_kafka *s, struct ew_position *out,
                                       size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < s->nparts && n < cap; i++) {
        if (s->parts[i].first < 0)
            continue;
        out[n].name = s->parts[i].name;
        out[n].first = s->parts[i].first;
        out[n].last = s->parts[i].last;
        n++;
    }
    return n;
}

int ew_source_kafka_batch_done(struct ew_source_kafka *s)
{
    int rc = 0;
    /* Dead letters first: an offset is committed only once its dead letter
     * is delivered (or its loss counted and logged). */
    if (s->dlq && rd_kafka_outq_len(s->dlq) > 0 &&
        rd_kafka_flush(s->dlq, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        EW_LOG_RL(EW_ERROR, "source", "dead-letter topic %s: %d message(s) not yet delivered",
                  s->dlq_topic, rd_kafka_outq_len(s->dlq));
        rc = -1;
    }
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)s->nparts + 1);
    for (size_t i = 0; i < s->nparts; i++) {
        struct part *p = &s->parts[i];
        if (p->first < 0)
            continue;
        rd_kafka_topic_partition_list_add(l, p->topic, p->partition)->offset = p->last + 1;
        p->first = p->last = -1;
    }
    if (l->cnt > 0) {
        rd_kafka_resp_err_t e = rd_kafka_commit(s->rk, l, s->in_revoke ? 0 : 1);
        if (s->in_revoke) /* synchronous: the callback was served already or not at all */
            e == RD_KAFKA_RESP_ERR_NO_ERROR ? s->m->commits++ : s->m->commit_errors++;
        else if (e)
            s->m->commit_errors++;
    }
    rd_kafka_topic_partition_list_destroy(l);
    return rc;
}

void ew_source_kafka_batch_drop(struct ew_source_kafka *s)
{
    for (size_t i = 0; i < s->nparts; i++) {
        struct part *p = &s->parts[i];
        if (p->first < 0)
            continue;
        if (!s->in_revoke) /* revoked partitions are not ours to seek */
            ew_source_kafka_seek(s, p->topic, p->partition, p->first);
        p->first = p->last = -1;
    }
}

int ew_source_kafka_dead_letter(struct ew_source_kafka *s, const rd_kafka_message_t *msg,
                                const char *reason, const char *detail)
{
    if (!s->dlq)
        return 0;
    rd_kafka_headers_t *orig = NULL, *h;
    if (rd_kafka_message_headers(msg, &orig) == RD_KAFKA_RESP_ERR_NO_ERROR && orig)
        h = rd_kafka_headers_copy(orig);
    else
        h = rd_kafka_headers_new(6);
    char part[16], off[24];
    snprintf(part, sizeof part, "%" PRId32, msg->partition);
    snprintf(off, sizeof off, "%" PRId64, msg->offset);
    rd_kafka_header_add(h, "engwatch-reason", -1, reason, -1);
    rd_kafka_header_add(h, "engwatch-error", -1, detail, -1);
    rd_kafka_header_add(h, "engwatch-source-topic", -1, rd_kafka_topic_name(msg->rkt), -1);
    rd_kafka_header_add(h, "engwatch-source-partition", -1, part, -1);
    rd_kafka_header_add(h, "engwatch-source-offset", -1, off, -1);
    for (int attempt = 0;; attempt++) {
        rd_kafka_resp_err_t e = rd_kafka_producev(
            s->dlq, RD_KAFKA_V_TOPIC(s->dlq_topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_VALUE(msg->payload, msg->len), RD_KAFKA_V_KEY(msg->key, msg->key_len),
            RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END);
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
            return 0; /* h is owned by the message now */
        if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL && attempt < 100) {
            rd_kafka_poll(s->dlq, 100); /* wait for deliveries to make room */
            continue;
        }
        s->m->dead_letter_errors++;
        EW_LOG_RL(EW_ERROR, "source", "dead letter to %s failed: %s", s->dlq_topic,
                  rd_kafka_err2str(e));
        rd_kafka_headers_destroy(h);
        return -1;
    }
}

void ew_source_kafka_pause(struct ew_source_kafka *s)
{
    if (s->paused)
        return;
    rd_kafka_topic_partition_list_t *l = list_of(s, 0);
    rd_kafka_pause_partitions(s->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    s->paused = 1;
    s->m->pauses++;
}

void ew_source_kafka_resume(struct ew_source_kafka *s)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)s->nparts + 1);
    for (size_t i = 0; i < s->nparts; i++)
        if (!s->parts[i].unpositioned)
            rd_kafka_topic_partition_list_add(l, s->parts[i].topic, s->parts[i].partition);
    rd_kafka_resume_partitions(s->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    s->paused = 0;
}

int ew_source_kafka_paused(const struct ew_source_kafka *s) { return s->paused; }

int ew_source_kafka_seek(struct ew_source_kafka *s, const char *topic, int32_t partition,
                         int64_t offset)
{
    struct part *p = find_part(s, topic, partition);
    if (!p)
        return -1;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, partition)->offset = offset;
    rd_kafka_error_t *error = rd_kafka_seek_partitions(s->rk, l, 5000);
    int rc = 0;
    if (error) {
        EW_LOG(EW_WARN, "source", "seek %s to %" PRId64 ": %s", p->name, offset,
               rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
        rc = -1;
    } else if (l->elems[0].err) {
        EW_LOG(EW_WARN, "source", "seek %s to %" PRId64 ": %s", p->name, offset,
               rd_kafka_err2str(l->elems[0].err));
        rc = -1;
    } else {
        p->floor = offset - 1;
        p->unpositioned = 0;
    }
    rd_kafka_topic_partition_list_destroy(l);
    return rc;
}

size_t ew_source_kafka_unpositioned(struct ew_source_kafka *s, struct ew_tp *out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < s->nparts && n < cap; i++) {
        if (!s->parts[i].unpositioned)
            continue;
        out[n].topic = s->parts[i].topic;
        out[n].partition = s->parts[i].partition;
        out[n].offset = -1;
        n++;
    }
    return n;
}

size_t ew_source_kafka_assigned(const struct ew_source_kafka *s) { return s->nparts; }

int ew_source_kafka_joined(const struct ew_source_kafka *s) { return s->joined; }

int64_t ew_source_kafka_partition_lag(struct ew_source_kafka *s, size_t i, const char **name)
{
    if (i >= s->nparts)
        return -1;
    struct part *p = &s->parts[i];
    int64_t lo, hi;
    *name = p->name;
    if (rd_kafka_get_watermark_offsets(s->rk, p->topic, p->partition, &lo, &hi) != 0 || hi < 0)
        return -1;
    /* floor is the last offset handed out (or applied): the next is floor + 1 */
    int64_t next = p->floor + 1 > lo ? p->floor + 1 : lo;
    return hi > next ? hi - next : 0;
}

int64_t ew_source_kafka_lag(struct ew_source_kafka *s)
{
    int64_t sum = 0;
    int known = 0;
    for (size_t i = 0; i < s->nparts; i++) {
        const char *name;
        int64_t l = ew_source_kafka_partition_lag(s, i, &name);
        if (l >= 0) {
            sum += l;
            known = 1;
        }
    }
    return known ? sum : -1;
}

const char *ew_source_kafka_fatal(const struct ew_source_kafka *s)
{
    return s->fatal[0] ? s->fatal : NULL;
}

int ew_source_kafka_close(struct ew_source_kafka *s, int timeout_ms)
{
    int rc = 0;
    /* Leaving the group runs the revoke callback, which lets the pipeline
     * apply and commit its in-flight batch first. */
    rd_kafka_resp_err_t e = rd_kafka_consumer_close(s->rk);
    if (e) {
        EW_LOG(EW_WARN, "source", "consumer close: %s", rd_kafka_err2str(e));
        rc = -1;
    }
    if (s->dlq && rd_kafka_flush(s->dlq, timeout_ms) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        EW_LOG(EW_ERROR, "source", "%d dead letter(s) undelivered at shutdown",
               rd_kafka_outq_len(s->dlq));
        rc = -1;
    }
    return rc;
}

void ew_source_kafka_free(struct ew_source_kafka *s)
{
    if (!s)
        return;
    stop_nudger(s);
    if (s->rk)
        rd_kafka_destroy(s->rk);
    if (s->dlq)
        rd_kafka_destroy(s->dlq);
    for (size_t i = 0; i < s->nparts; i++)
        part_free(&s->parts[i]);
    free(s->parts);
    free(s->dlq_topic);
    pthread_cond_destroy(&s->ncv);
    pthread_mutex_destroy(&s->nmu);
    free(s);
}
