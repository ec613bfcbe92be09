/* notify — telling systemd how the service is doing (sd_notify(3)).
 *
 * Under a Type=notify unit, systemd passes NOTIFY_SOCKET (and, with
 * WatchdogSec=, WATCHDOG_USEC and WATCHDOG_PID) in the environment.  This
 * module turns the daemon's lifecycle into the datagrams systemd expects:
 *
 *   ew_notify_init        learn whether to notify and the watchdog interval
 *   ew_notify_ready       READY=1: start-up (or a reload) is complete
 *   ew_notify_status      STATUS=...: one free-form line for `systemctl status`
 *   ew_notify_watchdog    WATCHDOG=1, rate-limited to twice per interval, so
 *                         it can be called from every main-loop iteration
 *   ew_notify_reloading   RELOADING=1 + MONOTONIC_USEC (systemd >= 253 uses
 *                         the timestamp to pair the reload with its READY=1;
 *                         older versions ignore it)
 *   ew_notify_stopping    STOPPING=1: a clean shutdown has begun
 *
 * Everything is a no-op returning 0 when NOTIFY_SOCKET is unset (a run from
 * a shell, the tests, replay), so callers need no "am I under systemd" checks.
 * All functions return 0 on success and -1 when a datagram could not be sent
 * (logged, rate-limited); a failed notification is never fatal by itself.
 *
 * State lives in the caller's struct ew_notify; the module has no globals.
 * Not thread-safe: use it from the main loop's thread.
 */
#ifndef ENGWATCH_NOTIFY_H
#define ENGWATCH_NOTIFY_H

#include <stdbool.h>
#include <stdint.h>

enum ew_notify_state {
    EW_NOTIFY_STARTING = 0, /* before the first READY=1 */
    EW_NOTIFY_READY,
    EW_NOTIFY_RELOADING,
    EW_NOTIFY_STOPPING,
};

struct ew_notify {
    bool enabled;               /* NOTIFY_SOCKET was set at init */
    uint64_t watchdog_usec;     /* WATCHDOG_USEC for this process; 0 = no watchdog */
    int64_t last_ping_ms;       /* caller's monotonic ms of the last WATCHDOG=1 sent */
    bool pinged;                /* a WATCHDOG=1 has been sent at least once */
    enum ew_notify_state state; /* the last lifecycle notification sent */
};

/* Read NOTIFY_SOCKET and sd_watchdog_enabled() (WATCHDOG_USEC, and
 * WATCHDOG_PID which must name this process).  The environment is left as it
 * is.  Returns 0; -1 when the watchdog variables are malformed, in which case
 * n is still usable with the watchdog off. */
int ew_notify_init(struct ew_notify *n);

/* READY=1, sent when the state is STARTING or RELOADING and skipped when it
 * is already READY, so it may be called on every partition assignment.
 * After ew_notify_stopping it is a no-op. */
int ew_notify_ready(struct ew_notify *n);

/* STATUS=<formatted text>, one line: newlines become spaces, and the text is
 * cut at 255 bytes. */
int ew_notify_status(struct ew_notify *n, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* WATCHDOG=1 when the watchdog is on and none was sent in the last
 * watchdog_usec / 2 by now_ms (CLOCK_MONOTONIC milliseconds, the same clock
 * on every call).  Cheap when not due: no system call. */
int ew_notify_watchdog(struct ew_notify *n, int64_t now_ms);

/* "RELOADING=1\nMONOTONIC_USEC=<CLOCK_MONOTONIC now>": a reload begins; end
 * it with ew_notify_ready (also after a reload that failed and kept the old
 * settings).  No-op after ew_notify_stopping. */
int ew_notify_reloading(struct ew_notify *n);

/* STOPPING=1, once. */
int ew_notify_stopping(struct ew_notify *n);

/* Watchdog interval in ms (0 = no watchdog): a caller that may block longer
 * than half of it (a retry backoff) should wake up to call ew_notify_watchdog. */
int64_t ew_notify_watchdog_ms(const struct ew_notify *n);

#endif
