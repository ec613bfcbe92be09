/* pipeline — wires the modules of the data flow together and runs them:
 *   source (kafka or dump files) -> event (decode) -> text -> window (batch fold,
 *   detectors, risk) -> store (one atomic step with positions and alerts)
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

/* Run the same pipeline over dumps in event time (engwatchd replay): state in
 * its own Redis namespace (replay.namespace, or "replay:<run id>:"), removed
 * at the end unless keep_state; alerts as JSON lines to alerts_path ("-" or
 * NULL = stdout); progress and a summary on stderr.  Returns the exit status:
 * 0 when every dump was read to its end. */
int ew_pipeline_run_replay(const struct ew_config *cfg, char *const *dumps, int ndumps,
                           const char *alerts_path, int keep_state, volatile sig_atomic_t *stop);

#endif
