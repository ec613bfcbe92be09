/* notify — see include/engwatch/notify.h.
 *
 * A thin layer over sd_notify(3).  What it adds: a no-op when NOTIFY_SOCKET
 * is unset (decided once at init), the watchdog rate limit (systemd's own
 * advice is to ping at half the interval; pinging on every loop iteration
 * would be one sendmsg per poll), READY=1 sent only on a state change, and
 * one-line STATUS texts.
 */
#include "engwatch/notify.h"
#include "engwatch/log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <systemd/sd-daemon.h>

#define STATUS_MAX 255

/* Send one notification; 0, or -1 (logged) when sd_notify failed. */
static int send_state(const char *what, const char *state)
{
    int r = sd_notify(0, state);
    if (r < 0) {
        EW_LOG_RL(EW_WARN, "notify", "sd_notify %s failed: %s", what, strerror(-r));
        return -1;
    }
    return 0;
}

int ew_notify_init(struct ew_notify *n)
{
    uint64_t usec = 0;
    const char *sock = getenv("NOTIFY_SOCKET");

    memset(n, 0, sizeof *n);
    n->state = EW_NOTIFY_STARTING;
    n->enabled = sock && *sock;
    if (!n->enabled) return 0;
    int r = sd_watchdog_enabled(0, &usec);
    if (r < 0) {
        EW_LOG(EW_WARN, "notify", "ignoring malformed WATCHDOG_USEC/WATCHDOG_PID: %s",
               strerror(-r));
        return -1;
    }
    if (r > 0) n->watchdog_usec = usec;
    return 0;
}

int ew_notify_ready(struct ew_notify *n)
{
    if (!n->enabled || n->state == EW_NOTIFY_READY || n->state == EW_NOTIFY_STOPPING) return 0;
    int rc = send_state("READY", "READY=1");
    if (rc == 0) n->state = EW_NOTIFY_READY;
    return rc;
}

int ew_notify_status(struct ew_notify *n, const char *fmt, ...)
{
    char buf[sizeof "STATUS=" - 1 + STATUS_MAX + 1];
    const size_t off = sizeof "STATUS=" - 1;
    va_list ap;

    if (!n->enabled) return 0;
    memcpy(buf, "STATUS=", off);
    va_start(ap, fmt);
    int len = vsnprintf(buf + off, sizeof buf - off, fmt, ap);
    va_end(ap);
    if (len < 0) return -1;
    /* A newline would start a new VAR=value assignment in the datagram. */
    for (char *p = buf + off; *p; p++)
        if (*p == '\n' || *p == '\r') *p = ' ';
    return send_state("STATUS", buf);
}

int ew_notify_watchdog(struct ew_notify *n, int64_t now_ms)
{
    if (!n->enabled || n->watchdog_usec == 0) return 0;
    int64_t half_ms = (int64_t)(n->watchdog_usec / 2000);
    /* now_ms < last_ping_ms only with a caller's mix-up of clocks: ping
     * rather than go silent until the clock catches up. */
    if (n->pinged && now_ms >= n->last_ping_ms && now_ms - n->last_ping_ms < half_ms) return 0;
    if (send_state("WATCHDOG", "WATCHDOG=1") < 0)
        return -1; /* not recorded: the next call tries again */
    n->last_ping_ms = now_ms;
    n->pinged = true;
    return 0;
}

int ew_notify_reloading(struct ew_notify *n)
{
    struct timespec ts;
    char buf[64];

    if (!n->enabled || n->state == EW_NOTIFY_STOPPING) return 0;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t usec = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
    snprintf(buf, sizeof buf, "RELOADING=1\nMONOTONIC_USEC=%" PRIu64, usec);
    int rc = send_state("RELOADING", buf);
    /* Even when the datagram was lost, the READY=1 that ends the reload must
     * be sent. */
    n->state = EW_NOTIFY_RELOADING;
    return rc;
}

int ew_notify_stopping(struct ew_notify *n)
{
    if (!n->enabled || n->state == EW_NOTIFY_STOPPING) return 0;
    n->state = EW_NOTIFY_STOPPING;
    return send_state("STOPPING", "STOPPING=1");
}

int64_t ew_notify_watchdog_ms(const struct ew_notify *n)
{
    return n->enabled ? (int64_t)(n->watchdog_usec / 1000) : 0;
}
