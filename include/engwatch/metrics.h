/* metrics — the daemon's counters, and the hub through which the threads
 * share them.
 *
 * The pipeline owns its struct ew_metrics and updates it from its single
 * thread; after each batch it publishes a copy (with histograms, partition
 * lags and Redis state) into the hub.  Sink threads update their own slots in
 * the hub; the HTTP server takes a consistent snapshot to render /metrics.
 * Names here match the Prometheus names.
 */
#ifndef ENGWATCH_METRICS_H
#define ENGWATCH_METRICS_H

#include <pthread.h>
#include <stdint.h>

#include "engwatch/event.h"

struct ew_metrics {
    uint64_t messages;                       /* engwatch_messages_total: read from the source */
    uint64_t events[EW_EV__COUNT];           /* engwatch_events_total{type}: decoded and accepted */
    uint64_t rejects[EW_REJ__COUNT];         /* engwatch_rejects_total{reason} */
    uint64_t dead_letters;                   /* engwatch_dead_letters_total: produced to the DLQ */
    uint64_t dead_letter_errors;             /* engwatch_dead_letter_errors_total */
    uint64_t skipped;                        /* engwatch_skipped_total: at or below the stored position */
    uint64_t late_dropped;                   /* engwatch_late_events_total */
    uint64_t batches;                        /* engwatch_batches_total */
    uint64_t batch_events;                   /* sum of events over batches */
    uint64_t commits, commit_errors;         /* Kafka offset commits */
    uint64_t pauses;                         /* back-pressure pauses */
    uint64_t fetch_nudges;                   /* engwatch_kafka_fetch_nudges_total */
    uint64_t cache_hits, cache_misses;       /* engwatch_state_cache_{hits,misses}_total */
    uint64_t cache_bytes;                    /* engwatch_state_cache_bytes */
};

/* A latency histogram in milliseconds (Prometheus cumulative buckets). */
#define EW_HIST_BUCKETS 14
extern const double ew_hist_bounds[EW_HIST_BUCKETS]; /* 0.5 1 2.5 5 10 25 50 100 250 500 1000 2500 5000 10000 */
struct ew_hist {
    uint64_t le[EW_HIST_BUCKETS]; /* count of observations <= bound (cumulative) */
    uint64_t count;
    double sum;
};
void ew_hist_observe(struct ew_hist *h, double ms);

#define EW_HUB_MAX_PARTS 512
#define EW_HUB_MAX_SINKS 8

struct ew_sink_metrics {
    char name[32];       /* "kafka" "redis" "webhook" "file" */
    uint64_t delivered;  /* engwatch_sink_delivered_total{sink} */
    uint64_t retries;    /* engwatch_sink_retries_total{sink} */
    uint64_t errors;     /* engwatch_sink_errors_total{sink}: alerts given up on */
    uint64_t lost;       /* engwatch_sink_lost_total{sink}: trimmed from the outbox unread */
    int64_t lag;         /* engwatch_sink_lag{sink}: outbox entries not yet delivered (-1 unknown) */
    int up;              /* 1 when the last delivery attempt succeeded */
};

struct ew_metrics_hub {
    pthread_mutex_t lock;
    int64_t started_unix;          /* process start, wall clock seconds */
    struct ew_metrics m;           /* the pipeline's counters, as of its last publish */
    uint64_t alerts[4][4];         /* engwatch_alerts_total{signal,level} (signal kind x level) */
    struct ew_hist batch_ms;       /* engwatch_batch_duration_ms */
    struct ew_hist batch_size;     /* engwatch_batch_events (buckets reused as counts / 1) */
    struct ew_hist redis_rtt_ms;   /* engwatch_redis_roundtrip_ms */
    struct ew_hist apply_delay_ms; /* engwatch_apply_delay_ms: Kafka message timestamp (produce
                                      time) -> its batch applied in Redis */
    int redis_up;                  /* engwatch_redis_up */
    int kafka_assigned;            /* partitions assigned */
    int kafka_joined;              /* the consumer group was joined (readiness) */
    size_t nparts;
    struct {
        char name[256];            /* "topic:partition" */
        int64_t lag;               /* engwatch_consumer_lag{partition} (-1 unknown) */
    } parts[EW_HUB_MAX_PARTS];
    size_t nsinks;
    struct ew_sink_metrics sinks[EW_HUB_MAX_SINKS];
};

int ew_hub_init(struct ew_metrics_hub *h);
void ew_hub_destroy(struct ew_metrics_hub *h);
/* A consistent copy of everything (taken under the lock). */
void ew_hub_snapshot(struct ew_metrics_hub *h, struct ew_metrics_hub *out);
/* Register a sink's slot; returns its index, or -1 when full. */
int ew_hub_add_sink(struct ew_metrics_hub *h, const char *name);
/* Update sink slot i under the lock: fn(slot, arg). */
void ew_hub_sink_update(struct ew_metrics_hub *h, int i,
                        void (*fn)(struct ew_sink_metrics *s, void *arg), void *arg);

/* Resident set size of this process in bytes (from /proc/self/statm), or -1. */
int64_t ew_process_rss(void);

#endif
