/* sink_redis — alerts into Redis, where the HTTP API and the dashboard read
 * them (daemon/http.c).  Keys (P = redis.prefix, A = the alert's account):
 *
 *   P<sinks.redis.stream>  stream, one entry per alert, field "alert" = the JSON;
 *                          XADD MAXLEN ~ sinks.redis.maxlen.  No expiry: the
 *                          cap bounds it and the alert history should not
 *                          vanish after a quiet week.
 *   Prisk                  sorted set, account -> risk after its latest alert;
 *                          the sinks.redis.maxlen riskiest accounts are kept
 *                          (ZREMRANGEBYRANK drops the lowest), expires 8 days
 *                          after the last alert.
 *   Palert:{A}             hash, the account's latest alert:
 *                            latest    the alert JSON
 *                            incident  evidence.incident
 *                            level risk ts signal   of the latest alert
 *                            signals   the incident's signals so far,
 *                                      comma-joined, reset when the incident
 *                                      changes
 *                          expires 8 days after the account's latest alert.
 *
 * Two round trips per alert: HMGET of the account's incident and signals
 * (the signal list is a read-modify-write), then one pipeline of XADD, ZADD,
 * ZREMRANGEBYRANK, EXPIRE, HSET, EXPIRE.  Alerts are few (an incident is a
 * handful of alerts), so that is cheap, and there is one forwarder per sink:
 * nobody else writes these keys between the two.  A redelivered alert (at
 * least once) adds a second stream entry with the same alert_id; the hash and
 * the sorted set end up the same.
 *
 * The sink has its own Redis connection (a struct ew_store, created at open,
 * connected on first use); Redis unavailable or an error reply -> retry.
 */
#include "engwatch/sink.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engwatch/log.h"
#include "engwatch/store.h"
#include "sink_priv.h"

#define ALERT_TTL_S (8 * 86400) /* alert hash and risk set: 8 days after the last alert */
#define SIGNALS_MAX 256

struct redis_sink {
    struct ew_store *st;
    struct ew_cmdbuf *cmd;
    char *prefix;
    char *stream; /* prefix + sinks.redis.stream */
    char *risk;   /* prefix + "risk" */
    int64_t maxlen;
    int failing;
    struct ew_ratelimit rl;
};

/* Is name (nl bytes) one of the comma-separated items of list[0..n)? */
static int has_item(const char *list, size_t n, const char *name, size_t nl)
{
    size_t i = 0;
    while (i < n) {
        size_t s = i;
        while (i < n && list[i] != ',')
            i++;
        if (i - s == nl && memcmp(list + s, name, nl) == 0) return 1;
        i++;
    }
    return 0;
}

const char *ew_signals_merge(const char *old_incident, size_t old_incident_len,
                             const char *old_signals, size_t old_signals_len, const char *incident,
                             const char *signal, char *out, size_t outlen)
{
    size_t n = 0, sl = strlen(signal);
    if (outlen == 0) return out;
    out[0] = '\0';
    int same = old_incident && incident[0] && old_incident_len == strlen(incident) &&
               memcmp(old_incident, incident, old_incident_len) == 0;
    if (same && old_signals) {
        n = old_signals_len < outlen ? old_signals_len : outlen - 1;
        memcpy(out, old_signals, n);
        if (n < old_signals_len) /* cut at the last whole item */
            while (n > 0 && old_signals[n] != ',')
                n--;
        out[n] = '\0';
    }
    if (sl && !has_item(out, n, signal, sl) && n + (n ? 1 : 0) + sl < outlen) {
        if (n) out[n++] = ',';
        memcpy(out + n, signal, sl + 1);
    }
    return out;
}

static int redis_enabled(const struct ew_config *cfg)
{
    return cfg->sinks.redis.enabled;
}

static char *concat(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *s = malloc(la + lb + 1);
    if (s) {
        memcpy(s, a, la);
        memcpy(s + la, b, lb + 1);
    }
    return s;
}

static void redis_close(void *state, int timeout_ms)
{
    struct redis_sink *rs = state;
    (void)timeout_ms;
    if (!rs) return;
    ew_store_free(rs->st);
    ew_cmdbuf_free(rs->cmd);
    free(rs->prefix);
    free(rs->stream);
    free(rs->risk);
    free(rs);
}

static int redis_open(void **state, const struct ew_config *cfg, char *err, size_t errlen)
{
    struct redis_sink *rs = calloc(1, sizeof *rs);
    *state = NULL;
    if (!rs || ew_store_new(&rs->st, cfg) < 0 || !(rs->cmd = ew_cmdbuf_new()) ||
        !(rs->prefix = strdup(cfg->redis.prefix)) ||
        !(rs->stream = concat(cfg->redis.prefix, cfg->sinks.redis.stream)) ||
        !(rs->risk = concat(cfg->redis.prefix, "risk"))) {
        snprintf(err, errlen, "out of memory");
        redis_close(rs, 0);
        return -1;
    }
    rs->maxlen = cfg->sinks.redis.maxlen;
    *state = rs;
    return 0;
}

static enum ew_sink_result retry(struct redis_sink *rs, const char *what)
{
    rs->failing = 1;
    EW_LOG_RLS(&rs->rl, EW_WARN, "sink:redis", "%s (will retry)", what);
    return EW_SINK_RETRY;
}

static const redisReply *first_error(redisReply **rep, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (rep[i]->type == REDIS_REPLY_ERROR) return rep[i];
    return NULL;
}

static enum ew_sink_result redis_send(void *state, const char *alert_json, size_t len)
{
    struct redis_sink *rs = state;
    struct ew_alert_info a;
    char why[256], signals[SIGNALS_MAX], num[64];
    redisReply **rep = NULL;
    enum ew_sink_result r = EW_SINK_OK;
    if (ew_alert_parse(&a, alert_json, len, why, sizeof why) < 0) {
        EW_LOG_RLS(&rs->rl, EW_ERROR, "sink:redis", "not an alert (%s): skipped", why);
        return EW_SINK_ERROR;
    }
    struct ew_cmdbuf *b = rs->cmd;

    /* 1. the incident and its signals so far */
    ew_cmdbuf_reset(b);
    if (ew_cmd_begin(b, "HMGET") < 0 ||
        ew_cmd_argf(b, "%salert:{%.*s}", rs->prefix, (int)a.account_len, a.account) < 0 ||
        ew_cmd_str(b, "incident") < 0 || ew_cmd_str(b, "signals") < 0) {
        r = retry(rs, "out of memory");
        goto out;
    }
    if (ew_store_read(rs->st, b, &rep) < 0) {
        r = retry(rs, "redis unavailable");
        goto out;
    }
    const redisReply *h = rep[0];
    if (h->type != REDIS_REPLY_ARRAY || h->elements != 2) {
        snprintf(why, sizeof why, "HMGET %salert:{%s}: %s", rs->prefix, a.account,
                 h->type == REDIS_REPLY_ERROR ? h->str : "unexpected reply");
        r = retry(rs, why);
        goto out;
    }
    const redisReply *inc = h->element[0], *sig = h->element[1];
    ew_signals_merge(inc->type == REDIS_REPLY_STRING ? inc->str : NULL,
                     inc->type == REDIS_REPLY_STRING ? inc->len : 0,
                     sig->type == REDIS_REPLY_STRING ? sig->str : NULL,
                     sig->type == REDIS_REPLY_STRING ? sig->len : 0, a.incident, a.signal, signals,
                     sizeof signals);

    /* 2. everything else in one pipeline (rep[] is invalid from here) */
    ew_cmdbuf_reset(b);
    snprintf(num, sizeof num, "%.10g", a.risk);
    int rc = ew_cmd_begin(b, "XADD") | ew_cmd_str(b, rs->stream) | ew_cmd_str(b, "MAXLEN") |
             ew_cmd_str(b, "~") | ew_cmd_int(b, rs->maxlen) | ew_cmd_str(b, "*") |
             ew_cmd_str(b, "alert") | ew_cmd_arg(b, alert_json, len);
    rc |= ew_cmd_begin(b, "ZADD") | ew_cmd_str(b, rs->risk) | ew_cmd_str(b, num) |
          ew_cmd_arg(b, a.account, a.account_len);
    rc |= ew_cmd_begin(b, "ZREMRANGEBYRANK") | ew_cmd_str(b, rs->risk) | ew_cmd_int(b, 0) |
          ew_cmd_int(b, -(rs->maxlen + 1));
    rc |= ew_cmd_begin(b, "EXPIRE") | ew_cmd_str(b, rs->risk) | ew_cmd_int(b, ALERT_TTL_S);
    rc |= ew_cmd_begin(b, "HSET") |
          ew_cmd_argf(b, "%salert:{%.*s}", rs->prefix, (int)a.account_len, a.account) |
          ew_cmd_str(b, "latest") | ew_cmd_arg(b, alert_json, len) | ew_cmd_str(b, "incident") |
          ew_cmd_str(b, a.incident) | ew_cmd_str(b, "level") | ew_cmd_str(b, a.level) |
          ew_cmd_str(b, "risk") | ew_cmd_str(b, num) | ew_cmd_str(b, "ts") | ew_cmd_int(b, a.ts) |
          ew_cmd_str(b, "signal") | ew_cmd_str(b, a.signal) | ew_cmd_str(b, "signals") |
          ew_cmd_str(b, signals);
    rc |= ew_cmd_begin(b, "EXPIRE") |
          ew_cmd_argf(b, "%salert:{%.*s}", rs->prefix, (int)a.account_len, a.account) |
          ew_cmd_int(b, ALERT_TTL_S);
    if (rc) {
        r = retry(rs, "out of memory");
        goto out;
    }
    if (ew_store_read(rs->st, b, &rep) < 0) {
        r = retry(rs, "redis unavailable");
        goto out;
    }
    const redisReply *e = first_error(rep, ew_cmdbuf_count(b));
    if (e) {
        snprintf(why, sizeof why, "writing alert %s: %s", a.alert_id, e->str);
        r = retry(rs, why);
        goto out;
    }
    if (rs->failing) {
        rs->failing = 0;
        EW_LOG(EW_NOTICE, "sink:redis", "writing alerts again");
    }
out:
    ew_alert_info_free(&a);
    return r;
}

const struct ew_sink ew_sink_redis = {
    .name = "redis",
    .enabled = redis_enabled,
    .open = redis_open,
    .send = redis_send,
    .close = redis_close,
};
