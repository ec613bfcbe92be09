/* sink_kafka — alerts produced to a Kafka topic (librdkafka).
 *
 * Producer: enable.idempotence=true and acks=all (no duplicates from
 * librdkafka's own retries, no loss on a leader change), bootstrap servers
 * sinks.kafka.brokers or, when "", kafka.brokers; client.id kafka.client_id.
 * On the input's cluster (sinks.kafka.brokers "") the connection settings of
 * kafka.properties come along (security.protocol, sasl.*, ssl.*, socket.*,
 * broker.address.family): a cluster that needs SASL for the consumer needs it
 * for the producer too.  Then sinks.kafka.properties verbatim (they may
 * override all of the above; a property librdkafka rejects fails the open
 * with its errstr).  Message key
 * = the alert's account (all alerts of an account on one partition, in
 * order), value = the alert JSON, topic sinks.kafka.topic.
 *
 * send produces the alert and waits for its delivery report, at most
 * SEND_WAIT_MS: ok once the broker acknowledged it.  When the report has not
 * come by then the message stays in flight and send says retry; the
 * forwarder calls again with the same alert, and since its alert_id is the
 * one in flight, send waits on the same message instead of producing a
 * second copy (so a slow or unreachable cluster does not pile up copies in
 * the producer's queue).  A delivery error is a retry (the message is
 * produced again) except for errors no retry can fix (message too large,
 * invalid): error.  A fatal producer error (idempotence state lost) is
 * logged, the producer is rebuilt from the same configuration and the alert
 * retried — at least once beats dropping it.
 *
 * Threads: the producer is created by open (on the pipeline's thread) and
 * used only by the sink's forwarder thread afterwards.  librdkafka's log
 * lines come from its own threads (log_cb, rate-limited under a mutex);
 * delivery reports and errors are served by rd_kafka_poll in send, on the
 * forwarder's thread.
 */
#include "engwatch/sink.h"

#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "engwatch/log.h"
#include "sink_priv.h"

#define SEND_WAIT_MS 2000 /* wait for a delivery report this long per send */

struct kafka_sink {
    rd_kafka_t *rk;
    rd_kafka_conf_t *tmpl; /* kept to rebuild the producer after a fatal error */
    char *topic;
    /* the message in flight: msg_opaque = seq */
    uint64_t seq;
    int inflight;
    char inflight_id[128];
    int dr_done;
    rd_kafka_resp_err_t dr_err;
    struct ew_ratelimit rl; /* the forwarder thread's lines */
    pthread_mutex_t log_mu; /* librdkafka's threads' lines */
    struct ew_ratelimit log_rl;
};

enum ew_sink_result ew_kafka_result(int err, int fatal)
{
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return EW_SINK_OK;
    if (fatal) return EW_SINK_RETRY; /* the producer is rebuilt; the alert is fine */
    switch (err) {
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_MSG:
    case RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE:
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
        return EW_SINK_ERROR;
    default:
        return EW_SINK_RETRY;
    }
}

static int kafka_enabled(const struct ew_config *cfg)
{
    return cfg->sinks.kafka.enabled;
}

static int ew_level(int syslog_level)
{
    if (syslog_level <= LOG_ERR) return EW_ERROR;
    if (syslog_level == LOG_WARNING) return EW_WARN;
    if (syslog_level == LOG_NOTICE) return EW_NOTICE;
    return syslog_level == LOG_INFO ? EW_INFO : EW_DEBUG;
}

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    struct kafka_sink *k = rd_kafka_opaque(rk);
    int l = ew_level(level);
    if (!k || l > ew_log_level_) return;
    pthread_mutex_lock(&k->log_mu);
    ew_log_write_rl(&k->log_rl, l, "sink:kafka", "%s: %s", fac, buf);
    pthread_mutex_unlock(&k->log_mu);
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    struct kafka_sink *k = opaque;
    (void)rk;
    if ((uint64_t)(uintptr_t)m->_private != k->seq) return; /* an earlier copy, given up on */
    k->dr_done = 1;
    k->dr_err = m->err;
}

static int conf_set(rd_kafka_conf_t *conf, const char *key, const char *v, char *err, size_t errlen)
{
    char errstr[512];
    if (rd_kafka_conf_set(conf, key, v, errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
        snprintf(err, errlen, "%s = \"%s\": %s", key, v, errstr);
        return -1;
    }
    return 0;
}

/* A producer from the template (which stays ours).  NULL with err. */
static rd_kafka_t *new_producer(struct kafka_sink *k, char *err, size_t errlen)
{
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_dup(k->tmpl);
    if (!conf) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        snprintf(err, errlen, "%s", errstr);
        return NULL;
    }
    return rk; /* conf is owned by rk now */
}

static void kafka_close(void *state, int timeout_ms)
{
    struct kafka_sink *k = state;
    if (!k) return;
    if (k->rk) {
        if (rd_kafka_flush(k->rk, timeout_ms > 0 ? timeout_ms : 0) != RD_KAFKA_RESP_ERR_NO_ERROR)
            EW_LOG(EW_WARN, "sink:kafka",
                   "%d message(s) not delivered at close (the alerts "
                   "stay in the outbox and are produced again after a restart)",
                   rd_kafka_outq_len(k->rk));
        rd_kafka_destroy(k->rk);
    }
    if (k->tmpl) rd_kafka_conf_destroy(k->tmpl);
    pthread_mutex_destroy(&k->log_mu);
    free(k->topic);
    free(k);
}

/* A librdkafka property about reaching and authenticating to the cluster
 * (shared by its consumers and producers), as opposed to a consumer's. */
static int connection_property(const char *name)
{
    static const char *const prefixes[] = {"security.protocol", "sasl.", "ssl.", "socket.",
                                           "broker.address.family"};
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
        if (strncmp(name, prefixes[i], strlen(prefixes[i])) == 0)
            return 1;
    return 0;
}

static int kafka_open(void **state, const struct ew_config *cfg, char *err, size_t errlen)
{
    const typeof(cfg->sinks.kafka) *c = &cfg->sinks.kafka;
    struct kafka_sink *k = calloc(1, sizeof *k);
    *state = NULL;
    if (!k || pthread_mutex_init(&k->log_mu, NULL) != 0) {
        free(k);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    const char *brokers = c->brokers && c->brokers[0] ? c->brokers : cfg->kafka.brokers;
    if (!(k->topic = strdup(c->topic)) || !(k->tmpl = rd_kafka_conf_new())) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (conf_set(k->tmpl, "bootstrap.servers", brokers ? brokers : "", err, errlen) < 0 ||
        conf_set(k->tmpl, "client.id", cfg->kafka.client_id, err, errlen) < 0 ||
        conf_set(k->tmpl, "enable.idempotence", "true", err, errlen) < 0 ||
        conf_set(k->tmpl, "acks", "all", err, errlen) < 0 ||
        conf_set(k->tmpl, "linger.ms", "5", err, errlen) < 0)
        goto fail;
    for (size_t i = 0; !(c->brokers && c->brokers[0]) && i < cfg->kafka.properties.n; i++)
        if (connection_property(cfg->kafka.properties.key[i]) &&
            conf_set(k->tmpl, cfg->kafka.properties.key[i], cfg->kafka.properties.val[i], err,
                     errlen) < 0)
            goto fail;
    for (size_t i = 0; i < c->properties.n; i++)
        if (conf_set(k->tmpl, c->properties.key[i], c->properties.val[i], err, errlen) < 0)
            goto fail;
    rd_kafka_conf_set_opaque(k->tmpl, k);
    rd_kafka_conf_set_dr_msg_cb(k->tmpl, dr_cb);
    rd_kafka_conf_set_log_cb(k->tmpl, log_cb);
    if (!(k->rk = new_producer(k, err, errlen))) goto fail;
    *state = k;
    return 0;
fail:
    kafka_close(k, 0);
    return -1;
}

/* After a fatal error: log it and build a new producer (the alert retries). */
static void rebuild(struct kafka_sink *k)
{
    char errstr[512], err[512];
    rd_kafka_resp_err_t fe = rd_kafka_fatal_error(k->rk, errstr, sizeof errstr);
    EW_LOG(EW_ERROR, "sink:kafka", "fatal producer error: %s: %s; starting a new producer",
           rd_kafka_err2name(fe), errstr);
    rd_kafka_t *rk = new_producer(k, err, sizeof err);
    if (!rk) {
        EW_LOG_RLS(&k->rl, EW_ERROR, "sink:kafka", "new producer: %s", err);
        return; /* keep the old one; the next send tries again */
    }
    rd_kafka_destroy(k->rk);
    k->rk = rk;
    k->inflight = 0;
}

static enum ew_sink_result kafka_send(void *state, const char *alert_json, size_t len)
{
    struct kafka_sink *k = state;
    struct ew_alert_info a;
    char why[256];
    if (ew_alert_parse(&a, alert_json, len, why, sizeof why) < 0) {
        EW_LOG_RLS(&k->rl, EW_ERROR, "sink:kafka", "not an alert (%s): skipped", why);
        return EW_SINK_ERROR;
    }
    enum ew_sink_result r;
    if (!k->inflight || strcmp(k->inflight_id, a.alert_id) != 0) {
        k->seq++;
        k->dr_done = 0;
        rd_kafka_resp_err_t e = rd_kafka_producev(
            k->rk, RD_KAFKA_V_TOPIC(k->topic), RD_KAFKA_V_KEY(a.account, a.account_len),
            RD_KAFKA_V_VALUE((void *)alert_json, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_OPAQUE((void *)(uintptr_t)k->seq), RD_KAFKA_V_END);
        if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
            int fatal = e == RD_KAFKA_RESP_ERR__FATAL;
            r = ew_kafka_result(e, fatal);
            EW_LOG_RLS(&k->rl, r == EW_SINK_ERROR ? EW_ERROR : EW_WARN, "sink:kafka",
                       "alert %s: produce: %s%s", a.alert_id, rd_kafka_err2str(e),
                       r == EW_SINK_ERROR ? " (skipped)" : "");
            if (fatal)
                rebuild(k);
            else
                rd_kafka_poll(k->rk, e == RD_KAFKA_RESP_ERR__QUEUE_FULL ? 100 : 0);
            goto out;
        }
        k->inflight = 1;
        snprintf(k->inflight_id, sizeof k->inflight_id, "%s", a.alert_id);
    }
    int64_t deadline = ew_mono_ms() + SEND_WAIT_MS;
    while (!k->dr_done) {
        int64_t left = deadline - ew_mono_ms();
        if (left <= 0) break;
        rd_kafka_poll(k->rk, left < 100 ? (int)left : 100);
    }
    if (!k->dr_done) {
        EW_LOG_RLS(&k->rl, EW_WARN, "sink:kafka",
                   "alert %s: no delivery report after %d ms (still in flight)", a.alert_id,
                   SEND_WAIT_MS);
        r = EW_SINK_RETRY;
        goto out;
    }
    k->inflight = 0;
    char errstr[8];
    int fatal = k->dr_err != RD_KAFKA_RESP_ERR_NO_ERROR &&
                rd_kafka_fatal_error(k->rk, errstr, sizeof errstr) != RD_KAFKA_RESP_ERR_NO_ERROR;
    r = ew_kafka_result(k->dr_err, fatal);
    if (r != EW_SINK_OK)
        EW_LOG_RLS(&k->rl, r == EW_SINK_ERROR ? EW_ERROR : EW_WARN, "sink:kafka",
                   "alert %s: delivery failed: %s%s", a.alert_id, rd_kafka_err2str(k->dr_err),
                   r == EW_SINK_ERROR ? " (skipped)" : "");
    if (fatal) rebuild(k);
out:
    ew_alert_info_free(&a);
    return r;
}

const struct ew_sink ew_sink_kafka = {
    .name = "kafka",
    .enabled = kafka_enabled,
    .open = kafka_open,
    .send = kafka_send,
    .close = kafka_close,
};
