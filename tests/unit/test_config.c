/* Unit tests for config: every error class with FILE:LINE, --set overrides,
 * the shipped conf/engwatchd.conf against the option table, round trip of
 * the --check-config printout. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "engwatch/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct fixture {
    char path[64];
    struct ew_config cfg;
    struct ew_cfg_errors errs;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    snprintf(f->path, sizeof f->path, "/tmp/ew_test_config.XXXXXX");
    int fd = mkstemp(f->path);
    assert_true(fd >= 0);
    close(fd);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    unlink(f->path);
    ew_config_free(&f->cfg);
    ew_cfg_errors_free(&f->errs);
    free(f);
    return 0;
}

/* Write text to the fixture's file and load it with the given overrides. */
static int load_text(struct fixture *f, const char *text, const char *const *sets, size_t nsets)
{
    FILE *fp = fopen(f->path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
    ew_config_free(&f->cfg);
    ew_cfg_errors_free(&f->errs);
    return ew_config_load(&f->cfg, f->path, sets, nsets, &f->errs);
}

/* The error buffer contains "FILE:LINE: rest". */
static void assert_error_at(struct fixture *f, int line, const char *rest)
{
    char want[512];
    snprintf(want, sizeof want, "%s:%d: %s", f->path, line, rest);
    if (!f->errs.buf || !strstr(f->errs.buf, want))
        fail_msg("expected error \"%s\"\ngot:\n%s", want, f->errs.buf ? f->errs.buf : "(none)");
}

static void test_defaults_valid(void **state)
{
    (void)state;
    struct ew_config cfg;
    assert_int_equal(ew_config_defaults(&cfg), 0);
    assert_string_equal(cfg.kafka.brokers, "127.0.0.1:9092");
    assert_int_equal(cfg.kafka.topics.n, 1);
    assert_string_equal(cfg.kafka.topics.v[0], "events");
    assert_int_equal(cfg.redis.port, 6379);
    assert_int_equal(cfg.kafka.shutdown_timeout_ms, 10000);
    assert_int_equal(cfg.event.max_message, 65536);
    assert_int_equal(cfg.event.max_id, 256);
    assert_int_equal(cfg.event.max_text, 8192);
    assert_int_equal(cfg.windows.allowed_lateness_ms, 300000);
    ew_config_free(&cfg);
}

static void test_valid_file(void **state)
{
    struct fixture *f = *state;
    int rc = load_text(f,
                       "kafka = { brokers = \"10.0.0.1:9092,10.0.0.2:9092\";\n"
                       "  topics = [\"a\", \"b\"];\n"
                       "  properties = { session_timeout_ms = \"6000\"; fetch_wait_max_ms = 50; };\n"
                       "};\n"
                       "redis = { port = 6390; command_timeout = \"1m30s\"; };\n"
                       "event = { max_text = \"16KiB\"; };\n"
                       "log = { level = \"debug\"; };\n",
                       NULL, 0);
    assert_int_equal(rc, 0);
    assert_null(f->errs.buf);
    assert_string_equal(f->cfg.kafka.brokers, "10.0.0.1:9092,10.0.0.2:9092");
    assert_int_equal(f->cfg.kafka.topics.n, 2);
    assert_string_equal(f->cfg.kafka.topics.v[1], "b");
    assert_string_equal(ew_props_get(&f->cfg.kafka.properties, "session.timeout.ms"), "6000");
    assert_string_equal(ew_props_get(&f->cfg.kafka.properties, "fetch.wait.max.ms"), "50");
    assert_int_equal(f->cfg.redis.port, 6390);
    assert_int_equal(f->cfg.redis.command_timeout_ms, 90000);
    assert_int_equal(f->cfg.event.max_text, 16384);
    assert_int_equal(f->cfg.log.level, 4);
}

static void test_unknown_key(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load_text(f, "redis = {\n  host = \"x\";\n  prot = 1;\n};\n", NULL, 0), -1);
    assert_error_at(f, 3, "redis.prot: unknown setting");
    assert_int_equal(load_text(f, "# comment\nbogus = 1;\n", NULL, 0), -1);
    assert_error_at(f, 2, "bogus: unknown setting");
}

static void test_unknown_section_key_nested(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load_text(f, "risk = {\n  burst = { x = 1; };\n};\n", NULL, 0), -1);
    assert_error_at(f, 2, "risk.burst: unknown setting");
}

static void test_duplicate(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load_text(f, "redis = {\n  port = 1;\n  port = 2;\n};\n", NULL, 0), -1);
    assert_error_at(f, 3, "syntax error: duplicate setting name");
}

static void test_syntax_error(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load_text(f, "redis = {\n  port = ;\n};\n", NULL, 0), -1);
    assert_error_at(f, 2, "syntax error");
}

static void test_wrong_types(void **state)
{
    struct fixture *f = *state;
    int rc = load_text(f,
                       "redis = {\n"
                       "  port = \"6379\";\n"           /* 2: string for int */
                       "  host = 5;\n"                  /* 3: int for string */
                       "  command_timeout = true;\n"    /* 4: bool for duration */
                       "};\n"
                       "kafka = {\n"
                       "  topics = \"events\";\n"       /* 7: string for list */
                       "  properties = 3;\n"            /* 8: int for group */
                       "};\n"
                       "log = { level = 3; };\n"        /* 10: int for enum */
                       "batch = 1;\n",                  /* 11: scalar for section */
                       NULL, 0);
    assert_int_equal(rc, -1);
    assert_int_equal(f->errs.count, 7);
    assert_error_at(f, 2, "redis.port: expected an integer (got a string 6379)");
    assert_error_at(f, 3, "redis.host: expected a string (got an integer 5)");
    assert_error_at(f, 4, "redis.command_timeout: expected a duration (got a boolean true)");
    assert_error_at(f, 7, "kafka.topics: expected a list of strings");
    assert_error_at(f, 8, "kafka.properties: expected a group");
    assert_error_at(f, 10, "log.level: expected a string (got an integer 3)");
    assert_error_at(f, 11, "batch: expected a group");
}

static void test_out_of_range(void **state)
{
    struct fixture *f = *state;
    int rc = load_text(f,
                       "redis = {\n  port = 70000;\n  db = -1;\n};\n"
                       "kafka = { shutdown_timeout = \"2h\"; topics = []; };\n"
                       "batch = { max_events = 0; };\n"
                       "log = { level = \"loud\"; };\n"
                       "event = { max_text = \"8x\"; };\n",
                       NULL, 0);
    assert_int_equal(rc, -1);
    assert_error_at(f, 2, "redis.port: out of range 1..65535 (got 70000)");
    assert_error_at(f, 3, "redis.db: out of range 0..15 (got -1)");
    assert_error_at(f, 5, "kafka.shutdown_timeout: out of range 100ms..10m (got 2h)");
    assert_error_at(f, 5, "kafka.topics: needs at least 1 element(s) (got 0)");
    assert_error_at(f, 6, "batch.max_events: out of range 1..1e+06 (got 0)");
    assert_error_at(f, 7, "log.level: expected one of error, warn, notice, info, debug (got loud)");
    assert_error_at(f, 8, "event.max_text: expected a size like 65536, 64KiB, 8MiB (got 8x)");
    assert_int_equal(f->errs.count, 7);
}

static void test_empty_string_rejected(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load_text(f, "kafka = {\n  group = \"\";\n};\n", NULL, 0), -1);
    assert_error_at(f, 2, "kafka.group: must not be empty (got )");
}

static void test_missing_file(void **state)
{
    (void)state;
    struct ew_config cfg;
    struct ew_cfg_errors errs = {0};
    assert_int_equal(ew_config_load(&cfg, "/nonexistent/engwatchd.conf", NULL, 0, &errs), -1);
    assert_non_null(strstr(errs.buf, "/nonexistent/engwatchd.conf: cannot read"));
    ew_cfg_errors_free(&errs);
    ew_config_free(&cfg);
}

static void test_set_overrides(void **state)
{
    struct fixture *f = *state;
    const char *sets[] = {
        "redis.port=6390",       "kafka.topics=a, b ,c", "kafka.properties.session.timeout.ms=6000",
        "log.level=warn",        "batch.max_wait=250ms", "event.max_message=1MiB",
        "redis.prefix=replay:1:",
    };
    assert_int_equal(load_text(f, "redis = { port = 1; };\n", sets, 7), 0);
    assert_int_equal(f->cfg.redis.port, 6390); /* --set wins over the file */
    assert_int_equal(f->cfg.kafka.topics.n, 3);
    assert_string_equal(f->cfg.kafka.topics.v[2], "c");
    assert_string_equal(ew_props_get(&f->cfg.kafka.properties, "session.timeout.ms"), "6000");
    assert_int_equal(f->cfg.log.level, 1);
    assert_int_equal(f->cfg.batch.max_wait_ms, 250);
    assert_int_equal(f->cfg.event.max_message, 1 << 20);
    assert_string_equal(f->cfg.redis.prefix, "replay:1:");
}

static void test_set_errors(void **state)
{
    struct fixture *f = *state;
    const char *sets[] = {"redis.port=abc", "redis.prot=1", "noequals", "redis.port=0",
                          "log.level=loud", "kafka.topics=a,,b", "kafka.properties=x"};
    assert_int_equal(load_text(f, "", sets, 7), -1);
    assert_int_equal(f->errs.count, 7);
    const char *want[] = {
        "--set redis.port: expected an integer (got \"abc\")",
        "--set redis.prot: unknown setting",
        "--set noequals: expected path=value",
        "--set redis.port: out of range 1..65535 (got \"0\")",
        "--set log.level: expected one of",
        "--set kafka.topics: empty list element",
        "--set kafka.properties: set properties one by one",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        if (!strstr(f->errs.buf, want[i]))
            fail_msg("missing \"%s\" in:\n%s", want[i], f->errs.buf);
}

static void test_durations_sizes(void **state)
{
    (void)state;
    int64_t v;
    assert_int_equal(ew_parse_duration("250ms", &v), 0);
    assert_int_equal(v, 250);
    assert_int_equal(ew_parse_duration("1h30m", &v), 0);
    assert_int_equal(v, 5400000);
    assert_int_equal(ew_parse_duration("2d", &v), 0);
    assert_int_equal(v, 172800000);
    assert_int_equal(ew_parse_duration("1500", &v), 0);
    assert_int_equal(v, 1500);
    assert_int_equal(ew_parse_duration("10x", &v), -1);
    assert_int_equal(ew_parse_duration("-5s", &v), -1);
    assert_int_equal(ew_parse_duration("", &v), -1);
    assert_int_equal(ew_parse_duration("s", &v), -1);
    assert_int_equal(ew_parse_duration("99999999999999999999d", &v), -1);
    assert_int_equal(ew_parse_size("64KiB", &v), 0);
    assert_int_equal(v, 65536);
    assert_int_equal(ew_parse_size("8MiB", &v), 0);
    assert_int_equal(v, 8 << 20);
    assert_int_equal(ew_parse_size("12", &v), 0);
    assert_int_equal(v, 12);
    assert_int_equal(ew_parse_size("1TB", &v), -1);
    assert_int_equal(ew_parse_size("-1", &v), -1);
}

static char *print_to_string(const struct ew_config *cfg)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    ew_config_print(cfg, m);
    fclose(m);
    /* drop the first line, which names the source */
    char *nl = strchr(buf, '\n');
    memmove(buf, nl + 1, strlen(nl + 1) + 1);
    return buf;
}

/* conf/engwatchd.conf documents every option with its default value. */
static void test_shipped_conf_matches_table(void **state)
{
    (void)state;
    struct ew_config shipped, defaults;
    struct ew_cfg_errors errs = {0};
    int rc = ew_config_load(&shipped, "conf/engwatchd.conf", NULL, 0, &errs);
    if (rc != 0)
        fail_msg("conf/engwatchd.conf: %s", errs.buf);
    assert_int_equal(ew_config_defaults(&defaults), 0);
    char *a = print_to_string(&shipped), *b = print_to_string(&defaults);
    assert_string_equal(a, b);
    free(a);
    free(b);

    FILE *fp = fopen("conf/engwatchd.conf", "r");
    assert_non_null(fp);
    char text[65536];
    size_t n = fread(text, 1, sizeof text - 1, fp);
    text[n] = '\0';
    fclose(fp);
    size_t nopt;
    const struct ew_option *o = ew_config_options(&nopt);
    for (size_t i = 0; i < nopt; i++) {
        /* the leaf at the indentation of its nesting depth */
        char want[128];
        const char *leaf = strrchr(o[i].path, '.') + 1;
        int depth = 0;
        for (const char *c = o[i].path; *c; c++)
            depth += *c == '.';
        snprintf(want, sizeof want, "\n%*s%s = ", depth * 2, "", leaf);
        if (!strstr(text, want))
            fail_msg("conf/engwatchd.conf does not document %s", o[i].path);
        assert_non_null(o[i].doc);
    }
    ew_config_free(&shipped);
    ew_config_free(&defaults);
}

/* What --check-config prints is itself a valid config with the same values. */
static void test_print_round_trip(void **state)
{
    struct fixture *f = *state;
    const char *sets[] = {"kafka.properties.session.timeout.ms=6000", "kafka.topics=x,y",
                          "redis.password=secret", "batch.max_wait=1500"};
    assert_int_equal(load_text(f, "", sets, 4), 0);
    char *first = print_to_string(&f->cfg);
    assert_null(strstr(first, "secret"));
    /* reload the printout; the masked password prints as "(set)" */
    struct ew_config again;
    struct ew_cfg_errors errs = {0};
    FILE *fp = fopen(f->path, "w");
    fputs(first, fp);
    fclose(fp);
    assert_int_equal(ew_config_load(&again, f->path, NULL, 0, &errs), 0);
    char *second = print_to_string(&again);
    assert_string_equal(first, second);
    assert_string_equal(ew_props_get(&again.kafka.properties, "session.timeout.ms"), "6000");
    free(first);
    free(second);
    ew_config_free(&again);
    ew_cfg_errors_free(&errs);
}

static void test_restart_diff(void **state)
{
    (void)state;
    struct ew_config a, b;
    struct ew_cfg_errors errs = {0}, diff = {0};
    const char *sa[] = {"redis.port=1", "log.level=debug"};
    const char *sb[] = {"redis.port=2", "log.level=warn", "kafka.topics=other"};
    assert_int_equal(ew_config_load(&a, NULL, sa, 2, &errs), 0);
    assert_int_equal(ew_config_load(&b, NULL, sb, 3, &errs), 0);
    assert_int_equal(ew_config_restart_diff(&a, &b, &diff), 2);
    assert_string_equal(diff.buf, "kafka.topics\nredis.port\n");
    ew_cfg_errors_free(&diff);
    ew_config_free(&a);
    ew_config_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_valid),
        cmocka_unit_test_setup_teardown(test_valid_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_section_key_nested, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_syntax_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_types, setup, teardown),
        cmocka_unit_test_setup_teardown(test_out_of_range, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_string_rejected, setup, teardown),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test_setup_teardown(test_set_overrides, setup, teardown),
        cmocka_unit_test_setup_teardown(test_set_errors, setup, teardown),
        cmocka_unit_test(test_durations_sizes),
        cmocka_unit_test(test_shipped_conf_matches_table),
        cmocka_unit_test_setup_teardown(test_print_round_trip, setup, teardown),
        cmocka_unit_test(test_restart_diff),
    };
    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
