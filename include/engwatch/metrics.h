/* metrics — the pipeline's counters.  Plain integers in one struct owned by
 * the pipeline and updated from its (single) thread; the HTTP module renders
 * a copy taken between batches.  Names here match the Prometheus names. */
#ifndef ENGWATCH_METRICS_H
#define ENGWATCH_METRICS_H

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
};

#endif
