/* sink_webhook — each alert POSTed as JSON to sinks.webhook.url (libcurl).
 *
 * Request: POST, body = the alert JSON, headers
 *   Content-Type: application/json
 *   Authorization: Bearer <sinks.webhook.token>   (when set)
 *   X-Engwatch-Alert-Id: <alert_id>               (for the receiver's de-duplication)
 * One easy handle per sink, reused, so the connection is kept alive between
 * alerts.  Timeouts: the whole request sinks.webhook.timeout, the connect
 * phase at most 5 s of it.  No redirects are followed; only http and https.
 *
 * Outcome (ew_webhook_result): 2xx ok; 408, 429, 5xx and transport errors
 * (refused, reset, timeout, TLS) retry; any other status is an error for
 * that alert (a 400 will not become a 200 by sending the same body again).
 * A retried alert is given up — error — once it has failed
 * 1 + sinks.webhook.max_retries times in a row; the count restarts with
 * every new alert_id.
 *
 * libcurl's global init is done by the forwarders' start (sink.c);
 * CURLOPT_NOSIGNAL because we run in a thread.
 */
#include "engwatch/sink.h"

#include <curl/curl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engwatch/log.h"
#include "sink_priv.h"

#define CONNECT_TIMEOUT_MS 5000
#define ID_HEADER          "X-Engwatch-Alert-Id: "

struct webhook_sink {
    CURL *h;
    struct curl_slist *base; /* Content-Type, Authorization, Expect */
    char *auth;              /* "Authorization: Bearer ..." (secret; wiped on close) */
    char *url;
    int64_t max_retries;
    char last_id[128]; /* alert_id of the alert being retried */
    int64_t failures;  /* consecutive failures of last_id */
    char errbuf[CURL_ERROR_SIZE];
    char body[256]; /* the start of the response body, for log lines */
    size_t body_len;
    struct ew_ratelimit rl;
};

enum ew_sink_result ew_webhook_result(int transport_ok, long status)
{
    if (!transport_ok) return EW_SINK_RETRY;
    if (status >= 200 && status <= 299) return EW_SINK_OK;
    if (status == 408 || status == 429 || (status >= 500 && status <= 599)) return EW_SINK_RETRY;
    return EW_SINK_ERROR;
}

static int webhook_enabled(const struct ew_config *cfg)
{
    return cfg->sinks.webhook.enabled;
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    struct webhook_sink *w = arg;
    size_t len = size * n, room = sizeof w->body - 1 - w->body_len;
    size_t take = len < room ? len : room;
    memcpy(w->body + w->body_len, p, take);
    w->body_len += take;
    w->body[w->body_len] = '\0';
    return len;
}

static void webhook_close(void *state, int timeout_ms)
{
    struct webhook_sink *w = state;
    (void)timeout_ms;
    if (!w) return;
    if (w->h) curl_easy_cleanup(w->h);
    curl_slist_free_all(w->base);
    if (w->auth) {
        explicit_bzero(w->auth, strlen(w->auth));
        free(w->auth);
    }
    free(w->url);
    free(w);
}

static int webhook_open(void **state, const struct ew_config *cfg, char *err, size_t errlen)
{
    const typeof(cfg->sinks.webhook) *c = &cfg->sinks.webhook;
    struct webhook_sink *w = calloc(1, sizeof *w);
    struct curl_slist *l;
    *state = NULL;
    if (!w) goto oom;
    const char *url = c->url ? c->url : "";
    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
        snprintf(err, errlen, "url must be an http:// or https:// URL (got \"%s\")", url);
        goto fail;
    }
    if (!(w->url = strdup(url)) || !(w->h = curl_easy_init())) goto oom;
    w->max_retries = c->max_retries;
    if (!(l = curl_slist_append(NULL, "Content-Type: application/json"))) goto oom;
    w->base = l;
    /* no "Expect: 100-continue" round trip for bodies over 1 KiB */
    if (!(l = curl_slist_append(w->base, "Expect:"))) goto oom;
    if (c->token && c->token[0]) {
        size_t n = strlen("Authorization: Bearer ") + strlen(c->token) + 1;
        if (!(w->auth = malloc(n))) goto oom;
        snprintf(w->auth, n, "Authorization: Bearer %s", c->token);
        if (!(l = curl_slist_append(w->base, w->auth))) goto oom;
    }
    long timeout = (long)c->timeout_ms;
    CURL *h = w->h;
    int rc = curl_easy_setopt(h, CURLOPT_URL, w->url) | curl_easy_setopt(h, CURLOPT_POST, 1L) |
             curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) |
             curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout) |
             curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                              timeout < CONNECT_TIMEOUT_MS ? timeout : (long)CONNECT_TIMEOUT_MS) |
             curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L) |
             curl_easy_setopt(h, CURLOPT_USERAGENT, "engwatchd") |
             curl_easy_setopt(h, CURLOPT_ERRORBUFFER, w->errbuf) |
             curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body) |
             curl_easy_setopt(h, CURLOPT_WRITEDATA, w);
#if LIBCURL_VERSION_NUM >= 0x075500
    rc |= curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    rc |= curl_easy_setopt(h, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    if (rc) {
        snprintf(err, errlen, "setting up libcurl failed");
        goto fail;
    }
    *state = w;
    return 0;
oom:
    snprintf(err, errlen, "out of memory");
fail:
    webhook_close(w, 0);
    return -1;
}

static enum ew_sink_result webhook_send(void *state, const char *alert_json, size_t len)
{
    struct webhook_sink *w = state;
    struct ew_alert_info a;
    char why[256];
    struct curl_slist *hdrs = NULL, *idh = NULL;
    enum ew_sink_result r;
    if (ew_alert_parse(&a, alert_json, len, why, sizeof why) < 0) {
        EW_LOG_RLS(&w->rl, EW_ERROR, "sink:webhook", "not an alert (%s): skipped", why);
        return EW_SINK_ERROR;
    }
    if (strcmp(w->last_id, a.alert_id) != 0) {
        snprintf(w->last_id, sizeof w->last_id, "%s", a.alert_id);
        w->failures = 0;
    }
    /* the base headers plus this alert's id: a private node appended to the
     * base list for this request only */
    char idbuf[sizeof ID_HEADER + 128];
    snprintf(idbuf, sizeof idbuf, ID_HEADER "%s", a.alert_id);
    if (!(idh = curl_slist_append(NULL, idbuf))) {
        ew_alert_info_free(&a);
        return EW_SINK_RETRY;
    }
    struct curl_slist *tail = w->base;
    while (tail->next)
        tail = tail->next;
    tail->next = idh;
    hdrs = w->base;

    w->errbuf[0] = '\0';
    w->body_len = 0;
    w->body[0] = '\0';
    curl_easy_setopt(w->h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(w->h, CURLOPT_POSTFIELDS, alert_json);
    curl_easy_setopt(w->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    CURLcode cc = curl_easy_perform(w->h);
    long status = 0;
    if (cc == CURLE_OK) curl_easy_getinfo(w->h, CURLINFO_RESPONSE_CODE, &status);
    tail->next = NULL;
    curl_slist_free_all(idh);
    curl_easy_setopt(w->h, CURLOPT_POSTFIELDS, NULL);

    r = ew_webhook_result(cc == CURLE_OK, status);
    if (cc != CURLE_OK)
        snprintf(why, sizeof why, "%s", w->errbuf[0] ? w->errbuf : curl_easy_strerror(cc));
    else
        snprintf(why, sizeof why, "HTTP %ld%s%.120s", status, w->body_len ? ": " : "", w->body);
    if (r == EW_SINK_RETRY && ++w->failures > w->max_retries) {
        EW_LOG_RLS(&w->rl, EW_ERROR, "sink:webhook",
                   "alert %s: giving up after %" PRId64 " attempts (%s)", a.alert_id, w->failures,
                   why);
        r = EW_SINK_ERROR;
    } else if (r == EW_SINK_RETRY) {
        EW_LOG_RLS(&w->rl, EW_WARN, "sink:webhook",
                   "alert %s: %s (attempt %" PRId64 " of %" PRId64 ")", a.alert_id, why,
                   w->failures, w->max_retries + 1);
    } else if (r == EW_SINK_ERROR) {
        EW_LOG_RLS(&w->rl, EW_ERROR, "sink:webhook", "alert %s refused: %s (skipped)", a.alert_id,
                   why);
    }
    if (r != EW_SINK_RETRY) {
        w->last_id[0] = '\0';
        w->failures = 0;
    }
    ew_alert_info_free(&a);
    return r;
}

const struct ew_sink ew_sink_webhook = {
    .name = "webhook",
    .enabled = webhook_enabled,
    .open = webhook_open,
    .send = webhook_send,
    .close = webhook_close,
};
