/* Unit tests for daemon/notify.c against a real notification socket.
 *
 * Each test binds an AF_UNIX datagram socket in a temp dir, points
 * NOTIFY_SOCKET (and WATCHDOG_USEC/WATCHDOG_PID) at it the way systemd does,
 * drives the API and reads the datagrams back in order.  Watchdog timing is
 * tested with explicit "now" values: no sleeps.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "engwatch/notify.h"

struct fixture {
    char dir[64];
    char path[100];
    int fd;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};

    if (!f) return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/ewnotify.XXXXXX");
    if (!mkdtemp(f->dir)) goto fail;
    snprintf(f->path, sizeof f->path, "%s/notify", f->dir);
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", f->path);
    f->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (f->fd < 0 || bind(f->fd, (struct sockaddr *)&sa, sizeof sa) < 0) goto fail;
    setenv("NOTIFY_SOCKET", f->path, 1);
    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");
    *state = f;
    return 0;
fail:
    if (f->fd > 0) close(f->fd);
    rmdir(f->dir);
    free(f);
    return -1;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    close(f->fd);
    unlink(f->path);
    rmdir(f->dir);
    free(f);
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");
    return 0;
}

static void set_watchdog(const char *usec, pid_t pid)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%ld", (long)pid);
    setenv("WATCHDOG_USEC", usec, 1);
    setenv("WATCHDOG_PID", buf, 1);
}

/* Next datagram into buf (NUL-terminated), or NULL when none is queued. */
static const char *next_msg(struct fixture *f, char *buf, size_t len)
{
    ssize_t n = recvfrom(f->fd, buf, len - 1, MSG_DONTWAIT, NULL, NULL);
    if (n < 0) {
        assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

static void expect_msg(struct fixture *f, const char *want)
{
    char buf[1024];
    const char *got = next_msg(f, buf, sizeof buf);
    assert_non_null(got);
    assert_string_equal(got, want);
}

static void expect_none(struct fixture *f)
{
    char buf[1024];
    assert_null(next_msg(f, buf, sizeof buf));
}

static uint64_t mono_usec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void test_unset_socket_is_noop(void **state)
{
    struct fixture *f = *state;
    struct ew_notify n;

    unsetenv("NOTIFY_SOCKET");
    set_watchdog("1000000", getpid());
    assert_int_equal(ew_notify_init(&n), 0);
    assert_false(n.enabled);
    assert_int_equal(ew_notify_watchdog_ms(&n), 0);
    assert_int_equal(ew_notify_ready(&n), 0);
    assert_int_equal(ew_notify_status(&n, "x %d", 1), 0);
    assert_int_equal(ew_notify_watchdog(&n, 0), 0);
    assert_int_equal(ew_notify_reloading(&n), 0);
    assert_int_equal(ew_notify_stopping(&n), 0);
    expect_none(f);
}

static void test_lifecycle_order(void **state)
{
    struct fixture *f = *state;
    struct ew_notify n;

    assert_int_equal(ew_notify_init(&n), 0);
    assert_true(n.enabled);
    assert_int_equal(n.state, EW_NOTIFY_STARTING);
    assert_int_equal(ew_notify_status(&n, "connecting to %s", "redis"), 0);
    assert_int_equal(ew_notify_ready(&n), 0);
    assert_int_equal(ew_notify_ready(&n), 0); /* already ready: nothing sent */
    assert_int_equal(n.state, EW_NOTIFY_READY);
    assert_int_equal(ew_notify_status(&n, "%d events/s, %u partitions", 1200, 3u), 0);
    assert_int_equal(ew_notify_stopping(&n), 0);
    assert_int_equal(ew_notify_stopping(&n), 0); /* once */
    assert_int_equal(ew_notify_ready(&n), 0);    /* no way back from stopping */
    assert_int_equal(ew_notify_reloading(&n), 0);
    assert_int_equal(n.state, EW_NOTIFY_STOPPING);

    expect_msg(f, "STATUS=connecting to redis");
    expect_msg(f, "READY=1");
    expect_msg(f, "STATUS=1200 events/s, 3 partitions");
    expect_msg(f, "STOPPING=1");
    expect_none(f);
}

static void test_reload_cycle(void **state)
{
    struct fixture *f = *state;
    struct ew_notify n;
    char buf[256];
    uint64_t usec;
    int used;

    assert_int_equal(ew_notify_init(&n), 0);
    assert_int_equal(ew_notify_ready(&n), 0);
    uint64_t t0 = mono_usec();
    assert_int_equal(ew_notify_reloading(&n), 0);
    uint64_t t1 = mono_usec();
    assert_int_equal(n.state, EW_NOTIFY_RELOADING);
    assert_int_equal(ew_notify_ready(&n), 0);
    assert_int_equal(n.state, EW_NOTIFY_READY);

    expect_msg(f, "READY=1");
    assert_non_null(next_msg(f, buf, sizeof buf));
    used = 0;
    assert_int_equal(sscanf(buf, "RELOADING=1\nMONOTONIC_USEC=%" SCNu64 "%n", &usec, &used), 1);
    assert_int_equal((size_t)used, strlen(buf)); /* nothing after the number */
    assert_true(usec >= t0 && usec <= t1);
    expect_msg(f, "READY=1");
    expect_none(f);
}

static void test_status_is_one_line_and_bounded(void **state)
{
    struct fixture *f = *state;
    struct ew_notify n;
    char buf[1024], want[300], big[600];

    assert_int_equal(ew_notify_init(&n), 0);
    assert_int_equal(ew_notify_status(&n, "redis down:\nretrying\r\nsoon"), 0);
    expect_msg(f, "STATUS=redis down: retrying  soon");

    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(ew_notify_status(&n, "%s", big), 0);
    assert_non_null(next_msg(f, buf, sizeof buf));
    snprintf(want, sizeof want, "STATUS=%.255s", big);
    assert_string_equal(buf, want);
    expect_none(f);
}

static void test_watchdog_rate_limit(void **state)
{
    struct fixture *f = *state;
    struct ew_notify n;

    set_watchdog("10000000", getpid()); /* 10 s: a ping at most every 5 s */
    assert_int_equal(ew_notify_init(&n), 0);
    assert_int_equal(n.watchdog_usec, 10000000);
    assert_int_equal(ew_notify_watchdog_ms(&n), 10000);

    assert_int_equal(ew_notify_watchdog(&n, 1000), 0); /* first call always pings */
    expect_msg(f, "WATCHDOG=1");
    for (int64_t t = 1001; t < 6000; t += 499)
        assert_int_equal(ew_notify_watchdog(&n, t), 0);
    assert_int_equal(ew_notify_watchdog(&n, 5999), 0);
    expect_none(f);
    assert_int_equal(ew_notify_watchdog(&n, 6000), 0); /* exactly half the interval later */
    expect_msg(f, "WATCHDOG=1");
    assert_int_equal(ew_notify_watchdog(&n, 6001), 0);
    expect_none(f);
    assert_int_equal(ew_notify_watchdog(&n, 60000), 0); /* a long stall: one ping, not many */
    assert_int_equal(ew_notify_watchdog(&n, 60001), 0);
    expect_msg(f, "WATCHDOG=1");
    expect_none(f);
    assert_int_equal(ew_notify_watchdog(&n, 100), 0); /* clock went back: ping */
    expect_msg(f, "WATCHDOG=1");
    expect_none(f);
}

static void test_watchdog_pings_interleave_in_order(void **state)
{
    struct fixture *f = *state;
    struct ew_notify n;

    set_watchdog("2000000", getpid());
    assert_int_equal(ew_notify_init(&n), 0);
    assert_int_equal(ew_notify_watchdog(&n, 0), 0);
    assert_int_equal(ew_notify_ready(&n), 0);
    assert_int_equal(ew_notify_watchdog(&n, 999), 0);
    assert_int_equal(ew_notify_watchdog(&n, 1000), 0);
    assert_int_equal(ew_notify_stopping(&n), 0);
    assert_int_equal(ew_notify_watchdog(&n, 2000), 0); /* still alive while stopping */
    expect_msg(f, "WATCHDOG=1");
    expect_msg(f, "READY=1");
    expect_msg(f, "WATCHDOG=1");
    expect_msg(f, "STOPPING=1");
    expect_msg(f, "WATCHDOG=1");
    expect_none(f);
}

static void test_watchdog_off(void **state)
{
    struct fixture *f = *state;
    struct ew_notify n;

    /* No WATCHDOG_USEC: no watchdog. */
    assert_int_equal(ew_notify_init(&n), 0);
    assert_int_equal(n.watchdog_usec, 0);
    assert_int_equal(ew_notify_watchdog(&n, 0), 0);
    assert_int_equal(ew_notify_watchdog(&n, 1000000), 0);
    expect_none(f);

    /* WATCHDOG_PID names another process (a child inheriting the env). */
    set_watchdog("1000000", getpid() + 1);
    assert_int_equal(ew_notify_init(&n), 0);
    assert_int_equal(n.watchdog_usec, 0);
    assert_int_equal(ew_notify_watchdog(&n, 0), 0);
    expect_none(f);

    /* Malformed: -1, and usable without a watchdog. */
    set_watchdog("soon", getpid());
    assert_int_equal(ew_notify_init(&n), -1);
    assert_true(n.enabled);
    assert_int_equal(n.watchdog_usec, 0);
    assert_int_equal(ew_notify_watchdog(&n, 0), 0);
    assert_int_equal(ew_notify_ready(&n), 0);
    expect_msg(f, "READY=1");
    expect_none(f);
}

static void test_unreachable_socket_fails(void **state)
{
    struct fixture *f = *state;
    struct ew_notify n;
    char gone[160];

    snprintf(gone, sizeof gone, "%s/nobody-listens", f->dir);
    setenv("NOTIFY_SOCKET", gone, 1);
    set_watchdog("1000000", getpid());
    assert_int_equal(ew_notify_init(&n), 0);
    assert_int_equal(ew_notify_ready(&n), -1);
    assert_int_equal(n.state, EW_NOTIFY_STARTING); /* retried on the next call */
    assert_int_equal(ew_notify_watchdog(&n, 0), -1);
    assert_false(n.pinged);

    /* The socket comes back (same path as systemd's): the retry succeeds. */
    setenv("NOTIFY_SOCKET", f->path, 1);
    assert_int_equal(ew_notify_ready(&n), 0);
    assert_int_equal(ew_notify_watchdog(&n, 1), 0);
    expect_msg(f, "READY=1");
    expect_msg(f, "WATCHDOG=1");
    expect_none(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_unset_socket_is_noop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lifecycle_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reload_cycle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_status_is_one_line_and_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_watchdog_rate_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_watchdog_pings_interleave_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_watchdog_off, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unreachable_socket_fails, setup, teardown),
    };
    return cmocka_run_group_tests_name("notify", tests, NULL, NULL);
}
