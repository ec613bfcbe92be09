/* sink — alert outputs.
 *
 * Every alert first lands in the Redis outbox stream (<prefix>outbox) inside
 * the batch's atomic step.  Each enabled sink runs a forwarder thread with its
 * own Redis connection (a struct ew_store): it reads the outbox in order as a
 * Redis consumer group named after the sink (so its position lives in Redis:
 * XREADGROUP, XACK; the pending list is re-delivered after a crash), hands
 * each alert to the sink's send, and acknowledges it when the sink says ok.
 * Delivery is at least once; consumers de-duplicate on alert_id.  A sink that
 * fails never blocks detection: the outbox is capped (XADD MAXLEN ~), and
 * alerts trimmed before a sink read them are counted as lost for that sink.
 *
 * Sinks are const vtables registered in one table (sink.c): adding one = a new
 * file + a row.
 */
#ifndef ENGWATCH_SINK_H
#define ENGWATCH_SINK_H

#include <stddef.h>
#include <stdint.h>

#include "engwatch/config.h"
#include "engwatch/metrics.h"

/* What a send achieved; the forwarder decides retries in one place. */
enum ew_sink_result {
    EW_SINK_OK = 0, /* delivered (or accepted for delivery): acknowledge */
    EW_SINK_RETRY,  /* transient failure: retry the same alert after a backoff */
    EW_SINK_ERROR,  /* permanent for this alert: count it, log it, skip it */
};

struct ew_sink {
    const char *name; /* "kafka" "redis" "webhook" "file" */
    /* Is this sink enabled in cfg? */
    int (*enabled)(const struct ew_config *cfg);
    /* Open with cfg (copied as needed).  0, or -1 with err. */
    int (*open)(void **state, const struct ew_config *cfg, char *err, size_t errlen);
    /* Deliver one alert (alert schema v1 JSON, len bytes, NUL-terminated);
     * account and alert_id are taken from it for keys and de-duplication. */
    enum ew_sink_result (*send)(void *state, const char *alert_json, size_t len);
    /* Flush and release (bounded by timeout_ms). */
    void (*close)(void *state, int timeout_ms);
};

extern const struct ew_sink ew_sink_kafka;
extern const struct ew_sink ew_sink_redis;
extern const struct ew_sink ew_sink_webhook;
extern const struct ew_sink ew_sink_file;

/* The forwarders. */
struct ew_sinks;

/* Start a forwarder thread for every enabled sink.  The hub receives each
 * sink's delivered/retries/errors/lost/lag.  0, or -1 with err (a sink that
 * cannot open is an error at start-up). */
int ew_sinks_start(struct ew_sinks **out, const struct ew_config *cfg, struct ew_metrics_hub *hub,
                   char *err, size_t errlen);
/* Apply a reloaded configuration: sinks turned on start, turned off stop,
 * changed ones reopen; positions are kept (they live in Redis).  cfg must
 * stay valid until the next reload or stop.  0, or -1 with err (old sinks
 * keep running). */
int ew_sinks_reload(struct ew_sinks *s, const struct ew_config *cfg, char *err, size_t errlen);
/* Stop every forwarder within timeout_ms (in-flight sends finish or are left
 * pending in Redis for the next start).  Accepts NULL. */
void ew_sinks_stop(struct ew_sinks *s, int timeout_ms);

#endif
