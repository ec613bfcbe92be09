/* sink_priv.h — helpers shared by daemon/sink*.c and tests/unit/test_sinks.c.
 *
 * Not a public interface (include/engwatch/sink.h is): these are the pure
 * parts of the sinks — alert field extraction, result mapping, backoff, the
 * outbox bookkeeping arithmetic — exported only so the unit tests can reach
 * them.  Other modules must not include this file.
 */
#ifndef ENGWATCH_SINK_PRIV_H
#define ENGWATCH_SINK_PRIV_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "engwatch/config.h"
#include "engwatch/log.h"
#include "engwatch/sink.h"

/* EW_LOG_RL with a limiter of the caller's (a sink's state, a forwarder):
 * EW_LOG_RL's per-call-site static would be shared by the sink threads. */
#define EW_LOG_RLS(rl, level, tag, ...)                                                            \
    do {                                                                                           \
        if ((level) <= ew_log_level_) ew_log_write_rl((rl), (level), (tag), __VA_ARGS__);          \
    } while (0)

/* The fields of an alert (schema v1) the sinks need.  The strings are
 * borrowed from root ("" when absent and optional); free with
 * ew_alert_info_free. */
struct ew_alert_info {
    json_t *root;
    const char *alert_id;
    const char *account;
    size_t account_len;
    const char *signal;
    const char *level;
    const char *incident; /* evidence.incident, "" when absent */
    double risk;
    int64_t ts;
};

/* Parse alert JSON (len bytes).  alert_id and account (non-empty strings)
 * are required, the rest is taken when present with the right type.
 * 0, or -1 with why (info is then empty and need not be freed). */
int ew_alert_parse(struct ew_alert_info *a, const char *json, size_t len, char *why, size_t whylen);
void ew_alert_info_free(struct ew_alert_info *a); /* accepts an empty info */

/* Webhook: the outcome of one POST.  transport_ok = 0 when no HTTP status
 * was received (connect error, timeout, reset).  2xx ok; 408, 429 and 5xx
 * retry; any other status (3xx, other 4xx) is an error for that alert. */
enum ew_sink_result ew_webhook_result(int transport_ok, long status);

/* Kafka: the outcome of a delivery report or produce error (an
 * rd_kafka_resp_err_t), fatal = the producer raised a fatal error.  Errors
 * that no retry can fix for this message (too large, invalid) are errors;
 * everything else, including a fatal producer error (the producer is
 * recreated), is a retry. */
enum ew_sink_result ew_kafka_result(int err, int fatal);

/* The forwarder's wait before retry number attempt (1, 2, ...):
 * 100 ms x 2^(attempt-1), capped at max_ms. */
int64_t ew_sink_backoff_ms(unsigned attempt, int64_t max_ms);

/* A Redis stream id "MS-SEQ" (or "MS").  0, or -1 when malformed. */
struct ew_stream_id {
    uint64_t ms, seq;
};
int ew_stream_id_parse(const char *s, size_t len, struct ew_stream_id *id);
int ew_stream_id_cmp(const struct ew_stream_id *a, const struct ew_stream_id *b);

/* Alerts of the outbox that a group lost to trimming, from XINFO (Redis
 * 7.0): entries_added and length of the stream, the group's entries_read
 * (-1 when Redis reports nil), and whether the group's last-delivered-id is
 * older than the stream's first entry.  Returns the count (0 when nothing
 * was lost), or -1 when it cannot be known. */
int64_t ew_outbox_lost(int64_t entries_added, int64_t length, int64_t entries_read,
                       int behind_first);

/* The incident's signal list kept in the alert hash (field "signals",
 * comma-joined): old_signals when the incident is unchanged, plus signal if
 * missing; just signal when the incident changed (or was unknown).  Writes
 * into out (truncated at a comma when it does not fit).  Returns out. */
const char *ew_signals_merge(const char *old_incident, size_t old_incident_len,
                             const char *old_signals, size_t old_signals_len, const char *incident,
                             const char *signal, char *out, size_t outlen);

/* Where a sink's new consumer group starts (see sink.c, "Where a new sink
 * starts"): "0" when no other engwatch sink has a group on the outbox; else
 * "$" when the group is created while the sink is being enabled (sync), or
 * the stream id of the moment it was enabled, enable_ms, when it is created
 * later by the forwarder (Redis was unreachable then).  Writes into out. */
const char *ew_group_start(int others_exist, int sync, int64_t enable_ms, char *out, size_t outlen);

/* Do a and b configure the sink named name alike (every sinks.<name>.*
 * option, and sinks.retry_backoff_max)?  1 or 0. */
int ew_sink_settings_equal(const char *name, const struct ew_config *a, const struct ew_config *b);

#endif
