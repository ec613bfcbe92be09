/* Unit tests for the command buffers of daemon/store.c (no Redis needed).
 *
 * The buffer is an arena that moves when it grows, so most tests build
 * enough to force several reallocations and then check every argument of
 * every command byte for byte.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engwatch/store.h"

static int setup(void **state)
{
    *state = ew_cmdbuf_new();
    return *state ? 0 : -1;
}

static int teardown(void **state)
{
    ew_cmdbuf_free(*state);
    return 0;
}

/* Assert that argument j of command i is exactly p[0..n). */
static void assert_arg(const struct ew_cmdbuf *b, size_t i, int j, const void *p, size_t n)
{
    int argc;
    const char *const *argv;
    const size_t *len;

    ew_cmdbuf_get(b, i, &argc, &argv, &len);
    assert_true(j < argc);
    assert_int_equal(len[j], n);
    assert_memory_equal(argv[j], p, n);
}

static void assert_argc(const struct ew_cmdbuf *b, size_t i, int want)
{
    int argc;
    const char *const *argv;
    const size_t *len;

    ew_cmdbuf_get(b, i, &argc, &argv, &len);
    assert_int_equal(argc, want);
}

static void empty_buffer(void **state)
{
    struct ew_cmdbuf *b = *state;
    int argc = 99;
    const char *const *argv = (const char *const *)&argc;
    const size_t *len = (const size_t *)&argc;

    assert_int_equal(ew_cmdbuf_count(b), 0);
    ew_cmdbuf_get(b, 0, &argc, &argv, &len);
    assert_int_equal(argc, 0);
    assert_null(argv);
    assert_null(len);
}

static void arg_before_begin_fails(void **state)
{
    struct ew_cmdbuf *b = *state;

    assert_int_equal(ew_cmd_str(b, "key"), -1);
    assert_int_equal(ew_cmd_int(b, 1), -1);
    assert_int_equal(ew_cmd_argf(b, "%d", 1), -1);
    assert_int_equal(ew_cmdbuf_count(b), 0);
}

static void one_command(void **state)
{
    struct ew_cmdbuf *b = *state;

    assert_int_equal(ew_cmd_begin(b, "HINCRBY"), 0);
    assert_int_equal(ew_cmd_str(b, "ew:{acc}:c"), 0);
    assert_int_equal(ew_cmd_str(b, "1714564800"), 0);
    assert_int_equal(ew_cmd_int(b, -3), 0);
    assert_int_equal(ew_cmdbuf_count(b), 1);
    assert_argc(b, 0, 4);
    assert_arg(b, 0, 0, "HINCRBY", 7);
    assert_arg(b, 0, 1, "ew:{acc}:c", 10);
    assert_arg(b, 0, 2, "1714564800", 10);
    assert_arg(b, 0, 3, "-3", 2);
}

static void int_extremes(void **state)
{
    struct ew_cmdbuf *b = *state;

    assert_int_equal(ew_cmd_begin(b, "X"), 0);
    assert_int_equal(ew_cmd_int(b, INT64_MIN), 0);
    assert_int_equal(ew_cmd_int(b, INT64_MAX), 0);
    assert_int_equal(ew_cmd_int(b, 0), 0);
    assert_arg(b, 0, 1, "-9223372036854775808", 20);
    assert_arg(b, 0, 2, "9223372036854775807", 19);
    assert_arg(b, 0, 3, "0", 1);
}

/* Arguments are byte strings: NUL bytes inside, empty arguments, high bytes. */
static void binary_args(void **state)
{
    struct ew_cmdbuf *b = *state;
    const char bin[] = {'a', '\0', 'b', '\0', '\0', (char)0xff, 'z'};

    assert_int_equal(ew_cmd_begin(b, "SET"), 0);
    assert_int_equal(ew_cmd_arg(b, bin, sizeof bin), 0);
    assert_int_equal(ew_cmd_arg(b, NULL, 0), 0);
    assert_int_equal(ew_cmd_arg(b, "\0", 1), 0);
    assert_int_equal(ew_cmd_str(b, ""), 0);
    assert_argc(b, 0, 5);
    assert_arg(b, 0, 1, bin, sizeof bin);
    assert_arg(b, 0, 2, "", 0);
    assert_arg(b, 0, 3, "\0", 1);
    assert_arg(b, 0, 4, "", 0);
}

/* Callers pass stack buffers: the buffer must own a copy. */
static void args_are_copied(void **state)
{
    struct ew_cmdbuf *b = *state;
    char tmp[16];

    assert_int_equal(ew_cmd_begin(b, "PFADD"), 0);
    for (int i = 0; i < 3; i++) {
        int n = snprintf(tmp, sizeof tmp, "actor%d", i);
        assert_int_equal(ew_cmd_arg(b, tmp, (size_t)n), 0);
    }
    memset(tmp, 'X', sizeof tmp);
    assert_arg(b, 0, 1, "actor0", 6);
    assert_arg(b, 0, 2, "actor1", 6);
    assert_arg(b, 0, 3, "actor2", 6);
}

/* Enough commands to move the arena many times; every pointer stays right. */
static void many_commands(void **state)
{
    struct ew_cmdbuf *b = *state;
    char key[32], field[32];
    const size_t n = 20000;

    for (size_t i = 0; i < n; i++) {
        assert_int_equal(ew_cmd_begin(b, i % 2 ? "HGETALL" : "HINCRBY"), 0);
        assert_int_equal(ew_cmd_argf(b, "ew:{a%zu}:k", i), 0);
        if (i % 2 == 0) {
            snprintf(field, sizeof field, "f%zu", i * 7);
            assert_int_equal(ew_cmd_str(b, field), 0);
            assert_int_equal(ew_cmd_int(b, (int64_t)i), 0);
        }
    }
    assert_int_equal(ew_cmdbuf_count(b), n);
    for (size_t i = 0; i < n; i++) {
        int kn = snprintf(key, sizeof key, "ew:{a%zu}:k", i);
        assert_argc(b, i, i % 2 ? 2 : 4);
        assert_arg(b, i, 0, i % 2 ? "HGETALL" : "HINCRBY", 7);
        assert_arg(b, i, 1, key, (size_t)kn);
        if (i % 2 == 0) {
            int fn = snprintf(field, sizeof field, "f%zu", i * 7);
            int vn = snprintf(key, sizeof key, "%zu", i);
            assert_arg(b, i, 2, field, (size_t)fn);
            assert_arg(b, i, 3, key, (size_t)vn);
        }
    }
}

/* One command with many arguments (an HSET of a whole window). */
static void many_args_one_command(void **state)
{
    struct ew_cmdbuf *b = *state;
    char f[24];
    const int n = 50000;

    assert_int_equal(ew_cmd_begin(b, "HSET"), 0);
    assert_int_equal(ew_cmd_str(b, "ew:h"), 0);
    for (int i = 0; i < n; i++) {
        int m = snprintf(f, sizeof f, "f%d", i);
        assert_int_equal(ew_cmd_arg(b, f, (size_t)m), 0);
        assert_int_equal(ew_cmd_int(b, i), 0);
    }
    assert_argc(b, 0, 2 + 2 * n);
    assert_arg(b, 0, 2 + 2 * 12345, "f12345", 6);
    assert_arg(b, 0, 3 + 2 * 12345, "12345", 5);
    assert_arg(b, 0, 1 + 2 * n, "49999", 5);
}

/* Arguments far larger than the arena's first allocation. */
static void large_args(void **state)
{
    struct ew_cmdbuf *b = *state;
    const size_t big = 3u << 20;
    char *p = malloc(big);

    assert_non_null(p);
    for (size_t i = 0; i < big; i++)
        p[i] = (char)(i * 31 + 7);
    assert_int_equal(ew_cmd_begin(b, "SET"), 0);
    assert_int_equal(ew_cmd_str(b, "k"), 0);
    assert_int_equal(ew_cmd_arg(b, p, big), 0);
    assert_int_equal(ew_cmd_begin(b, "SET"), 0);
    assert_int_equal(ew_cmd_str(b, "k2"), 0);
    assert_int_equal(ew_cmd_arg(b, p + 1, big - 1), 0);
    assert_arg(b, 0, 2, p, big);
    assert_arg(b, 1, 1, "k2", 2);
    assert_arg(b, 1, 2, p + 1, big - 1);
    free(p);
}

static void argf_formats(void **state)
{
    struct ew_cmdbuf *b = *state;
    char want[1000];

    assert_int_equal(ew_cmd_begin(b, "XADD"), 0);
    assert_int_equal(ew_cmd_argf(b, "%s%s:%" PRId64, "ew:", "{acc}", (int64_t)-42), 0);
    assert_int_equal(ew_cmd_argf(b, "%.3f", 0.5), 0);
    assert_int_equal(ew_cmd_argf(b, "%s", ""), 0);
    /* longer than the first guess: formatted in a second pass */
    memset(want, 'y', sizeof want - 1);
    want[sizeof want - 1] = '\0';
    assert_int_equal(ew_cmd_argf(b, "<%s>", want), 0);
    assert_arg(b, 0, 1, "ew:{acc}:-42", 12);
    assert_arg(b, 0, 2, "0.500", 5);
    assert_arg(b, 0, 3, "", 0);

    int argc;
    const char *const *argv;
    const size_t *len;
    ew_cmdbuf_get(b, 0, &argc, &argv, &len);
    assert_int_equal(len[4], 1001);
    assert_int_equal(argv[4][0], '<');
    assert_memory_equal(argv[4] + 1, want, 999);
    assert_int_equal(argv[4][1000], '>');
}

/* argf output that crosses the arena's end many times in a row. */
static void argf_growth(void **state)
{
    struct ew_cmdbuf *b = *state;
    char want[300];

    assert_int_equal(ew_cmd_begin(b, "X"), 0);
    for (int i = 0; i < 2000; i++)
        assert_int_equal(ew_cmd_argf(b, "%0*d", 1 + i % 250, i), 0);
    for (int i = 0; i < 2000; i++) {
        int n = snprintf(want, sizeof want, "%0*d", 1 + i % 250, i);
        assert_arg(b, 0, 1 + i, want, (size_t)n);
    }
}

/* Reset empties the buffer and keeps its memory: rebuilding the same content
 * reuses the same arena (no allocation in steady state). */
static void reset_reuse(void **state)
{
    struct ew_cmdbuf *b = *state;
    const char *first = NULL;

    for (int round = 0; round < 5; round++) {
        ew_cmdbuf_reset(b);
        assert_int_equal(ew_cmdbuf_count(b), 0);
        for (int i = 0; i < 1000; i++) {
            assert_int_equal(ew_cmd_begin(b, "HGETALL"), 0);
            assert_int_equal(ew_cmd_argf(b, "ew:{r%d}:%d", round, i), 0);
        }
        assert_int_equal(ew_cmdbuf_count(b), 1000);
        int argc;
        const char *const *argv;
        const size_t *len;
        ew_cmdbuf_get(b, 0, &argc, &argv, &len);
        if (round == 0)
            first = argv[0];
        else
            assert_ptr_equal(argv[0], first);
        char want[32];
        int n = snprintf(want, sizeof want, "ew:{r%d}:999", round);
        assert_arg(b, 999, 1, want, (size_t)n);
    }
}

/* A command started after a reset does not see the old arguments. */
static void reset_then_new_command(void **state)
{
    struct ew_cmdbuf *b = *state;

    assert_int_equal(ew_cmd_begin(b, "DEL"), 0);
    assert_int_equal(ew_cmd_str(b, "a"), 0);
    assert_int_equal(ew_cmd_str(b, "b"), 0);
    ew_cmdbuf_reset(b);
    assert_int_equal(ew_cmd_str(b, "c"), -1);
    assert_int_equal(ew_cmd_begin(b, "GET"), 0);
    assert_int_equal(ew_cmd_str(b, "z"), 0);
    assert_int_equal(ew_cmdbuf_count(b), 1);
    assert_argc(b, 0, 2);
    assert_arg(b, 0, 0, "GET", 3);
    assert_arg(b, 0, 1, "z", 1);
}

/* A command with only its name, between others. */
static void name_only_commands(void **state)
{
    struct ew_cmdbuf *b = *state;

    assert_int_equal(ew_cmd_begin(b, "PING"), 0);
    assert_int_equal(ew_cmd_begin(b, "GET"), 0);
    assert_int_equal(ew_cmd_str(b, "k"), 0);
    assert_int_equal(ew_cmd_begin(b, "PING"), 0);
    assert_int_equal(ew_cmdbuf_count(b), 3);
    assert_argc(b, 0, 1);
    assert_argc(b, 1, 2);
    assert_argc(b, 2, 1);
    assert_arg(b, 2, 0, "PING", 4);
}

static void free_null(void **state)
{
    (void)state;
    ew_cmdbuf_free(NULL);
    ew_store_free(NULL);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(empty_buffer),
        T(arg_before_begin_fails),
        T(one_command),
        T(int_extremes),
        T(binary_args),
        T(args_are_copied),
        T(many_commands),
        T(many_args_one_command),
        T(large_args),
        T(argf_formats),
        T(argf_growth),
        T(reset_reuse),
        T(reset_then_new_command),
        T(name_only_commands),
        cmocka_unit_test(free_null),
    };
#undef T
    return cmocka_run_group_tests_name("cmdbuf", tests, NULL, NULL);
}
