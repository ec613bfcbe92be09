/* http — libmicrohttpd server for what the pipeline publishes; it never
 * drives the pipeline.
 *
 *   /metrics               Prometheus text format (from the metrics hub)
 *   /healthz               200 while the process serves (no token needed)
 *   /readyz                200 when Kafka partitions are assigned and Redis is reachable
 *   /api/accounts?limit=N  top accounts by risk
 *   /api/accounts/{id}     risk, incident, recent alerts, current window counts
 *   /api/alerts?since=ID   alerts after a stream id (the Redis sink's stream)
 *   /                      the dashboard (assets embedded at build time)
 *
 * Runs in libmicrohttpd's own thread(s); API requests read Redis through
 * their own struct ew_store connection, serialised by a mutex.
 */
#ifndef ENGWATCH_HTTP_H
#define ENGWATCH_HTTP_H

#include <stddef.h>

#include "engwatch/config.h"
#include "engwatch/metrics.h"

struct ew_http;

/* Listen on cfg->http.listen (copied; token and Redis settings too).  0, or
 * -1 with err (e.g. the port is taken). */
int ew_http_start(struct ew_http **out, const struct ew_config *cfg, struct ew_metrics_hub *hub,
                  char *err, size_t errlen);
/* A reload may change the token. */
void ew_http_reload(struct ew_http *h, const struct ew_config *cfg);
void ew_http_stop(struct ew_http *h); /* accepts NULL */

#endif
