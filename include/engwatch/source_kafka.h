/* source_kafka — the live input: librdkafka high-level consumer in one
 * consumer group, plus the dead-letter producer.
 *
 * The pipeline drives it from one thread: poll a message, process it, and
 * once the micro-batch holding it is applied, commit.  librdkafka's rebalance
 * events, errors and logs are all served inside ew_source_kafka_poll, on the
 * caller's thread, so the hooks below run there too.
 *
 * Positions: the store (Redis) is the truth for how far each partition was
 * applied.  On assignment the on_assign hook supplies the next offset to read
 * per partition; the source seeks there and skips any message at or below
 * the last applied offset.  Kafka commits still happen, for lag monitoring.
 */
#ifndef ENGWATCH_SOURCE_KAFKA_H
#define ENGWATCH_SOURCE_KAFKA_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

#include "engwatch/config.h"
#include "engwatch/metrics.h"

/* Start offset meaning "where Kafka's committed offset says" (then
 * auto.offset.reset). */
#define EW_OFFSET_COMMITTED INT64_MIN

struct ew_tp {
    const char *topic; /* borrowed from the source for the duration of the call */
    int32_t partition;
    int64_t offset;
};

struct ew_source_kafka_hooks {
    void *ctx;
    /* Partitions are being assigned.  Set parts[i].offset to the next offset
     * to read (last applied + 1), or EW_OFFSET_COMMITTED.  Return -1 when the
     * positions cannot be read now (store down): the partitions are assigned
     * paused, and the pipeline seeks and resumes them later. */
    int (*on_assign)(void *ctx, struct ew_tp *parts, size_t n);
    /* Partitions are being revoked: apply and commit in-flight work now, or
     * drop it.  lost = 1 when the assignment was lost (another member may
     * already own them): drop, never apply. */
    void (*on_revoke)(void *ctx, const struct ew_tp *parts, size_t n, int lost);
};

struct ew_source_kafka;

/* Create the consumer (and the dead-letter producer when
 * kafka.dead_letter_topic is set) and subscribe.  A property librdkafka
 * rejects is an error with its message.  Returns 0, or -1 with err filled. */
int ew_source_kafka_new(struct ew_source_kafka **out, const struct ew_config *cfg,
                        const struct ew_source_kafka_hooks *hooks, struct ew_metrics *metrics,
                        char *err, size_t errlen);

/* The next message to process, or NULL after timeout_ms (or when only
 * events were served).  Messages at or below the applied position are
 * skipped and counted here.  Caller frees with rd_kafka_message_destroy. */
rd_kafka_message_t *ew_source_kafka_poll(struct ew_source_kafka *s, int timeout_ms);

/* Record msg as part of the current batch (for positions and commit). */
void ew_source_kafka_mark(struct ew_source_kafka *s, const rd_kafka_message_t *msg);

/* The current batch's range per partition: fills at most cap entries of out
 * (name "topic:partition", first, last offset); names stay valid until the
 * next call that changes the assignment.  Returns how many. */
struct ew_position;
size_t ew_source_kafka_batch_positions(struct ew_source_kafka *s, struct ew_position *out,
                                       size_t cap);

/* The batch was applied: advance the floors, commit the offsets to Kafka
 * (asynchronously), flush the dead-letter producer, and start a new batch.
 * Returns 0, -1 when dead letters could not be delivered in time (logged). */
int ew_source_kafka_batch_done(struct ew_source_kafka *s);

/* The batch was dropped (not applied): forget its ranges and seek each of
 * its partitions back to its first offset, so the messages come again. */
void ew_source_kafka_batch_drop(struct ew_source_kafka *s);

/* Produce msg's original bytes, key and headers to the dead-letter topic
 * with headers engwatch-reason, engwatch-error, engwatch-source-topic,
 * engwatch-source-partition, engwatch-source-offset.  No-op (0) when no
 * dead-letter topic is configured.  0 / -1. */
int ew_source_kafka_dead_letter(struct ew_source_kafka *s, const rd_kafka_message_t *msg,
                                const char *reason, const char *detail);

/* Back-pressure: stop fetching all assigned partitions / start again. */
void ew_source_kafka_pause(struct ew_source_kafka *s);
void ew_source_kafka_resume(struct ew_source_kafka *s);
int ew_source_kafka_paused(const struct ew_source_kafka *s);

/* Move partition (topic, partition) to read next at offset (applied + 1). */
int ew_source_kafka_seek(struct ew_source_kafka *s, const char *topic, int32_t partition,
                         int64_t offset);

/* Partitions assigned whose start position is still unknown (on_assign
 * returned -1); the pipeline resolves them with ew_source_kafka_seek and then
 * ew_source_kafka_resume.  Fills out[0..cap) and returns how many. */
size_t ew_source_kafka_unpositioned(struct ew_source_kafka *s, struct ew_tp *out, size_t cap);

size_t ew_source_kafka_assigned(const struct ew_source_kafka *s);
/* Has the consumer joined its group (received an assignment, possibly of no
 * partitions when the group has more members than partitions)? */
int ew_source_kafka_joined(const struct ew_source_kafka *s);

/* Consumer lag: messages behind the high watermark, summed over the
 * assigned partitions (from librdkafka's cached watermarks; -1 unknown). */
int64_t ew_source_kafka_lag(struct ew_source_kafka *s);
/* The same for one assigned partition i (0 <= i < assigned); fills name. */
int64_t ew_source_kafka_partition_lag(struct ew_source_kafka *s, size_t i, const char **name);

/* A fatal librdkafka error (rd_kafka_fatal_error), or NULL. */
const char *ew_source_kafka_fatal(const struct ew_source_kafka *s);

/* Leave the group (on_revoke runs), flush dead letters; bounded by
 * timeout_ms.  0, or -1 when something did not finish in time. */
int ew_source_kafka_close(struct ew_source_kafka *s, int timeout_ms);
void ew_source_kafka_free(struct ew_source_kafka *s); /* accepts NULL */

#endif
