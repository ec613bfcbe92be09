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

/* How main controls a live run: flags set by signal handlers, and a way to
 * read the configuration again (the same file and --set overrides). */
struct ew_run_ctl {
    volatile sig_atomic_t *stop;   /* SIGTERM/SIGINT */
    volatile sig_atomic_t *reload; /* SIGHUP; the pipeline clears it */
    /* Load the configuration anew into out (initialised by the callee);
     * 0, or -1 with the errors in errs.  Out is freed by the caller. */
    int (*load)(void *ctx, struct ew_config *out, struct ew_cfg_errors *errs);
    void *ctx;
    struct ew_metrics_hub *hub; /* shared with the HTTP server and the sinks; may be NULL */
};

/* Run the live daemon until *ctl->stop becomes non-zero or a fatal error.
 * Tells systemd (sd_notify) READY once partitions are assigned and Redis is
 * reachable, WATCHDOG from the loop, STATUS every 10 s, RELOADING/READY
 * around a reload, STOPPING on shutdown.  A reload (SIGHUP) applies detector
 * thresholds, lexicons, risk settings and the log level; settings that need a
 * restart keep their running values (logged); an invalid file is rejected
 * with its errors and the running configuration stays.  Returns the process
 * exit status: 0 after a clean shutdown, 1 on a fatal error. */
int ew_pipeline_run_live(const struct ew_config *cfg, const struct ew_run_ctl *ctl);

/* Run the same pipeline over dumps in event time (engwatchd replay): state in
 * its own Redis namespace (replay.namespace, or "replay:<run id>:"), removed
 * at the end unless keep_state; alerts as JSON lines to alerts_path ("-" or
 * NULL = stdout); progress and a summary on stderr.  Returns the exit status:
 * 0 when every dump was read to its end. */
int ew_pipeline_run_replay(const struct ew_config *cfg, char *const *dumps, int ndumps,
                           const char *alerts_path, int keep_state, volatile sig_atomic_t *stop);

#endif
