/* pipeline — wires the modules of the data flow together and runs them:
 *   source (kafka) -> event (decode) -> text -> window (batch fold) -> store
 * in micro-batches bounded by batch.max_events and batch.max_wait.
 *
 * One thread.  A batch is applied to Redis in one atomic step together with
 * the source positions it covers; only then are its offsets committed to
 * Kafka.  When Redis is unavailable the source is paused (back-pressure) and
 * the batch is retried with backoff; nothing is dropped or counted twice.
 */
#ifndef ENGWATCH_PIPELINE_H
#define ENGWATCH_PIPELINE_H

#include <signal.h>

#include "engwatch/config.h"
#include "engwatch/metrics.h"

/* Run the live daemon until *stop becomes non-zero (SIGTERM/SIGINT) or a
 * fatal error.  Returns the process exit status: 0 after a clean shutdown,
 * 1 on a fatal error. */
int ew_pipeline_run_live(const struct ew_config *cfg, volatile sig_atomic_t *stop);

#endif
