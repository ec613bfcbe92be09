/* Unit tests for the sinks' pure parts (daemon/sink_priv.h) and for the
 * sinks that need no server: result mapping of HTTP statuses and Kafka
 * errors, backoff, stream ids, lost-alert arithmetic, where a new group
 * starts, reload comparison, alert field extraction, the incident's signal
 * list, the file sink (lines, a full disk, rotation) and the open errors of
 * the webhook and Kafka sinks. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engwatch/config.h"
#include "engwatch/log.h"
#include "engwatch/sink.h"
#include "../../daemon/sink_priv.h"

static const char ALERT[] =
    "{\"alert_id\":\"5f0c3a9e2b7d4c11\",\"account\":\"acct-7\",\"post\":\"p1\","
    "\"signal\":\"comment_burst\",\"score\":97.5,\"level\":\"warning\",\"ts\":1767600041300,"
    "\"window\":{\"start\":1767600000000,\"end\":1767600060000},\"risk\":63.2,"
    "\"evidence\":{\"comments\":60,\"incident\":\"aa11bb22cc33dd44\",\"action\":\"opened\"}}";

/* ---- result mapping -------------------------------------------------------------- */

static void test_webhook_result(void **state)
{
    (void)state;
    static const struct {
        int transport_ok;
        long status;
        enum ew_sink_result want;
    } cases[] = {
        {1, 200, EW_SINK_OK},    {1, 201, EW_SINK_OK},    {1, 204, EW_SINK_OK},
        {1, 299, EW_SINK_OK},    {1, 408, EW_SINK_RETRY}, {1, 429, EW_SINK_RETRY},
        {1, 500, EW_SINK_RETRY}, {1, 502, EW_SINK_RETRY}, {1, 503, EW_SINK_RETRY},
        {1, 599, EW_SINK_RETRY}, {1, 400, EW_SINK_ERROR}, {1, 401, EW_SINK_ERROR},
        {1, 403, EW_SINK_ERROR}, {1, 404, EW_SINK_ERROR}, {1, 413, EW_SINK_ERROR},
        {1, 301, EW_SINK_ERROR}, {1, 302, EW_SINK_ERROR}, {1, 0, EW_SINK_ERROR},
        {0, 0, EW_SINK_RETRY},   {0, 200, EW_SINK_RETRY},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        enum ew_sink_result got = ew_webhook_result(cases[i].transport_ok, cases[i].status);
        if (got != cases[i].want)
            fail_msg("transport_ok=%d status=%ld: got %d, want %d", cases[i].transport_ok,
                     cases[i].status, (int)got, (int)cases[i].want);
    }
}

static void test_kafka_result(void **state)
{
    (void)state;
    assert_int_equal(ew_kafka_result(RD_KAFKA_RESP_ERR_NO_ERROR, 0), EW_SINK_OK);
    assert_int_equal(ew_kafka_result(RD_KAFKA_RESP_ERR__MSG_TIMED_OUT, 0), EW_SINK_RETRY);
    assert_int_equal(ew_kafka_result(RD_KAFKA_RESP_ERR__TRANSPORT, 0), EW_SINK_RETRY);
    assert_int_equal(ew_kafka_result(RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, 0), EW_SINK_RETRY);
    assert_int_equal(ew_kafka_result(RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC, 0), EW_SINK_RETRY);
    assert_int_equal(ew_kafka_result(RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED, 0),
                     EW_SINK_RETRY);
    assert_int_equal(ew_kafka_result(RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE, 0), EW_SINK_ERROR);
    assert_int_equal(ew_kafka_result(RD_KAFKA_RESP_ERR_INVALID_MSG, 0), EW_SINK_ERROR);
    /* a fatal producer error is the producer's, not the alert's: retried */
    assert_int_equal(ew_kafka_result(RD_KAFKA_RESP_ERR__FATAL, 1), EW_SINK_RETRY);
    assert_int_equal(ew_kafka_result(RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER, 1),
                     EW_SINK_RETRY);
}

static void test_backoff(void **state)
{
    (void)state;
    assert_int_equal(ew_sink_backoff_ms(1, 30000), 100);
    assert_int_equal(ew_sink_backoff_ms(2, 30000), 200);
    assert_int_equal(ew_sink_backoff_ms(3, 30000), 400);
    assert_int_equal(ew_sink_backoff_ms(9, 30000), 25600);
    assert_int_equal(ew_sink_backoff_ms(10, 30000), 30000);
    assert_int_equal(ew_sink_backoff_ms(1000000, 30000), 30000); /* no overflow */
    assert_int_equal(ew_sink_backoff_ms(1, 10), 10);             /* the cap wins */
    assert_int_equal(ew_sink_backoff_ms(0, 30000), 100);
}

/* ---- outbox bookkeeping -------------------------------------------------------------- */

static void test_stream_ids(void **state)
{
    (void)state;
    struct ew_stream_id a, b;
    assert_int_equal(ew_stream_id_parse("1767600000000-3", 15, &a), 0);
    assert_true(a.ms == 1767600000000ULL && a.seq == 3);
    assert_int_equal(ew_stream_id_parse("0-0", 3, &b), 0);
    assert_true(b.ms == 0 && b.seq == 0);
    assert_true(ew_stream_id_cmp(&b, &a) < 0 && ew_stream_id_cmp(&a, &b) > 0);
    assert_int_equal(ew_stream_id_cmp(&a, &a), 0);
    assert_int_equal(ew_stream_id_parse("1767600000000", 13, &b), 0); /* ms only: seq 0 */
    assert_true(ew_stream_id_cmp(&b, &a) < 0);
    assert_int_equal(ew_stream_id_parse("5-10", 4, &a), 0);
    assert_int_equal(ew_stream_id_parse("5-9", 3, &b), 0);
    assert_true(ew_stream_id_cmp(&b, &a) < 0); /* numeric, not lexical */
    assert_int_equal(ew_stream_id_parse("", 0, &a), -1);
    assert_int_equal(ew_stream_id_parse("12-", 3, &a), -1);
    assert_int_equal(ew_stream_id_parse("-1", 2, &a), -1);
    assert_int_equal(ew_stream_id_parse("1x-2", 4, &a), -1);
    assert_int_equal(ew_stream_id_parse("99999999999999999999999-0", 25, &a), -1);
    assert_int_equal(ew_stream_id_parse("18446744073709551615-18446744073709551615", 41, &a), 0);
    assert_true(a.ms == UINT64_MAX && a.seq == UINT64_MAX);
}

static void test_outbox_lost(void **state)
{
    (void)state;
    /* 400 added, 100 kept, the group had read 3: entries 4..300 were trimmed unread */
    assert_int_equal(ew_outbox_lost(400, 100, 3, 1), 297);
    /* not behind the first entry: nothing lost, whatever the numbers */
    assert_int_equal(ew_outbox_lost(400, 100, 3, 0), 0);
    /* behind, but everything trimmed had been read */
    assert_int_equal(ew_outbox_lost(400, 100, 300, 1), 0);
    assert_int_equal(ew_outbox_lost(400, 100, 350, 1), 0);
    /* a group created on a new stream at 0: entries-read 0, nothing trimmed */
    assert_int_equal(ew_outbox_lost(5, 5, 0, 1), 0);
    /* unknown: entries-read nil, or Redis < 7.0 (no entries-added) */
    assert_int_equal(ew_outbox_lost(400, 100, -1, 1), -1);
    assert_int_equal(ew_outbox_lost(-1, 100, 3, 1), -1);
    /* an empty stream: no first entry to be behind of */
    assert_int_equal(ew_outbox_lost(400, 0, 3, 1), 0);
}

static void test_group_start(void **state)
{
    (void)state;
    char buf[48];
    /* no other sink forwards yet: every retained alert */
    assert_string_equal(ew_group_start(0, 1, 1767600000000, buf, sizeof buf), "0");
    assert_string_equal(ew_group_start(0, 0, 1767600000000, buf, sizeof buf), "0");
    /* a sink added to a running deployment: from now on */
    assert_string_equal(ew_group_start(1, 1, 1767600000000, buf, sizeof buf), "$");
    /* ... created later by the forwarder: from the moment it was enabled */
    assert_string_equal(ew_group_start(1, 0, 1767600000000, buf, sizeof buf), "1767600000000-0");
}

static void test_settings_equal(void **state)
{
    (void)state;
    struct ew_config a, b;
    struct ew_cfg_errors errs = {0};
    assert_int_equal(ew_config_defaults(&a), 0);
    assert_int_equal(ew_config_defaults(&b), 0);
    const char *names[] = {"kafka", "redis", "webhook", "file"};
    for (size_t i = 0; i < 4; i++)
        assert_true(ew_sink_settings_equal(names[i], &a, &b));
    assert_int_equal(ew_config_set(&b, "sinks.webhook.url=http://127.0.0.1:1/x", &errs), 0);
    assert_false(ew_sink_settings_equal("webhook", &a, &b));
    assert_true(ew_sink_settings_equal("file", &a, &b));
    assert_true(ew_sink_settings_equal("kafka", &a, &b));
    assert_int_equal(ew_config_set(&b, "sinks.kafka.properties.linger.ms=50", &errs), 0);
    assert_false(ew_sink_settings_equal("kafka", &a, &b));
    assert_true(ew_sink_settings_equal("redis", &a, &b));
    /* the shared backoff cap concerns every sink */
    assert_int_equal(ew_config_set(&a, "sinks.retry_backoff_max=5s", &errs), 0);
    assert_false(ew_sink_settings_equal("file", &a, &b));
    assert_false(ew_sink_settings_equal("redis", &a, &b));
    /* other sections do not */
    assert_int_equal(ew_config_set(&b, "sinks.retry_backoff_max=5s", &errs), 0);
    assert_int_equal(ew_config_set(&b, "risk.half_life=2h", &errs), 0);
    assert_true(ew_sink_settings_equal("file", &a, &b));
    assert_int_equal(errs.count, 0);
    ew_config_free(&a);
    ew_config_free(&b);
    ew_cfg_errors_free(&errs);
}

/* ---- alert fields ---------------------------------------------------------------------- */

static void test_alert_parse(void **state)
{
    (void)state;
    struct ew_alert_info a;
    char why[128];
    assert_int_equal(ew_alert_parse(&a, ALERT, strlen(ALERT), why, sizeof why), 0);
    assert_string_equal(a.alert_id, "5f0c3a9e2b7d4c11");
    assert_string_equal(a.account, "acct-7");
    assert_int_equal(a.account_len, 6);
    assert_string_equal(a.signal, "comment_burst");
    assert_string_equal(a.level, "warning");
    assert_string_equal(a.incident, "aa11bb22cc33dd44");
    assert_true(a.risk > 63.19 && a.risk < 63.21);
    assert_true(a.ts == 1767600041300LL);
    ew_alert_info_free(&a);

    /* a NUL inside a string is refused (keys built from the account stay C strings) */
    static const char nul[] = "{\"alert_id\":\"x\",\"account\":\"a\\u0000b\"}";
    assert_int_equal(ew_alert_parse(&a, nul, strlen(nul), why, sizeof why), -1);

    /* optional fields absent: empty strings, zeros */
    static const char minimal[] = "{\"alert_id\":\"x\",\"account\":\"y\",\"risk\":5}";
    assert_int_equal(ew_alert_parse(&a, minimal, strlen(minimal), why, sizeof why), 0);
    assert_string_equal(a.incident, "");
    assert_string_equal(a.signal, "");
    assert_true(a.risk == 5.0 && a.ts == 0);
    ew_alert_info_free(&a);

    static const struct {
        const char *json, *why;
    } bad[] = {
        {"not json", "not JSON"},
        {"[1,2]", "not a JSON object"},
        {"{\"account\":\"y\"}", "no alert_id"},
        {"{\"alert_id\":\"\",\"account\":\"y\"}", "no alert_id"},
        {"{\"alert_id\":\"x\"}", "no account"},
        {"{\"alert_id\":\"x\",\"account\":7}", "no account"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(ew_alert_parse(&a, bad[i].json, strlen(bad[i].json), why, sizeof why), -1);
        if (!strstr(why, bad[i].why))
            fail_msg("%s: why = \"%s\", want \"%s\"", bad[i].json, why, bad[i].why);
        ew_alert_info_free(&a); /* an empty info may be freed */
    }
}

static void test_signals_merge(void **state)
{
    (void)state;
    char out[64];
    /* first alert of an account */
    assert_string_equal(
        ew_signals_merge(NULL, 0, NULL, 0, "inc1", "comment_burst", out, sizeof out),
        "comment_burst");
    /* same incident: appended once */
    assert_string_equal(ew_signals_merge("inc1", 4, "comment_burst", 13, "inc1", "hollow_comments",
                                         out, sizeof out),
                        "comment_burst,hollow_comments");
    assert_string_equal(ew_signals_merge("inc1", 4, "comment_burst,hollow_comments", 29, "inc1",
                                         "comment_burst", out, sizeof out),
                        "comment_burst,hollow_comments");
    /* a prefix of an existing item is another item */
    assert_string_equal(ew_signals_merge("i", 1, "ab", 2, "i", "a", out, sizeof out), "ab,a");
    /* a new incident starts the list over */
    assert_string_equal(ew_signals_merge("inc1", 4, "comment_burst,hollow_comments", 29, "inc2",
                                         "follower_spike", out, sizeof out),
                        "follower_spike");
    /* an incident id that only shares a prefix is another incident */
    assert_string_equal(ew_signals_merge("inc1", 4, "a", 1, "inc12", "b", out, sizeof out), "b");
    /* no incident in the alert: the list is just this signal */
    assert_string_equal(ew_signals_merge("inc1", 4, "a", 1, "", "b", out, sizeof out), "b");
    /* the old value is not NUL-terminated (a Redis reply slice) */
    assert_string_equal(ew_signals_merge("inc1XXX", 4, "a,bZZZ", 3, "inc1", "c", out, sizeof out),
                        "a,b,c");
    /* too long: cut at a whole item, the new signal dropped when it does not fit */
    char small[12];
    assert_string_equal(
        ew_signals_merge("i", 1, "aaaa,bbbb,cccc", 14, "i", "d", small, sizeof small),
        "aaaa,bbbb,d");
    assert_string_equal(ew_signals_merge("i", 1, "aaaa,bbbbbb", 11, "i", "dd", small, sizeof small),
                        "aaaa,bbbbbb");
}

/* ---- the file sink ------------------------------------------------------------------- */

struct tmp {
    char dir[64];
    char path[128];
};

static int tmp_setup(void **state)
{
    struct tmp *t = calloc(1, sizeof *t);
    if (!t) return -1;
    snprintf(t->dir, sizeof t->dir, "/tmp/ewsinks.XXXXXX");
    if (!mkdtemp(t->dir)) {
        free(t);
        return -1;
    }
    snprintf(t->path, sizeof t->path, "%s/alerts.jsonl", t->dir);
    *state = t;
    return 0;
}

static int tmp_teardown(void **state)
{
    struct tmp *t = *state;
    char p[160];
    unlink(t->path);
    snprintf(p, sizeof p, "%s.1", t->path);
    unlink(p);
    rmdir(t->dir);
    free(t);
    return 0;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    char *buf = calloc(1, 65536);
    size_t n = buf ? fread(buf, 1, 65535, f) : 0;
    (void)n;
    fclose(f);
    return buf;
}

static void *open_file_sink(const char *path)
{
    struct ew_config cfg;
    struct ew_cfg_errors errs = {0};
    char set[256], err[256];
    void *st = NULL;
    assert_int_equal(ew_config_defaults(&cfg), 0);
    snprintf(set, sizeof set, "sinks.file.path=%s", path);
    assert_int_equal(ew_config_set(&cfg, set, &errs), 0);
    if (ew_sink_file.open(&st, &cfg, err, sizeof err) < 0) st = NULL;
    ew_config_free(&cfg);
    ew_cfg_errors_free(&errs);
    return st;
}

static void test_file_lines(void **state)
{
    struct tmp *t = *state;
    void *st = open_file_sink(t->path);
    assert_non_null(st);
    assert_int_equal(ew_sink_file.send(st, ALERT, strlen(ALERT)), EW_SINK_OK);
    /* an alert spanning lines is written as one line */
    static const char pretty[] = "{\n  \"alert_id\": \"b\",\n  \"account\": \"x\"\n}";
    assert_int_equal(ew_sink_file.send(st, pretty, strlen(pretty)), EW_SINK_OK);
    /* a multi-line value that is not JSON cannot become one line: skipped */
    assert_int_equal(ew_sink_file.send(st, "{\n", 2), EW_SINK_ERROR);
    char *got = slurp(t->path);
    assert_non_null(got);
    char want[1024];
    snprintf(want, sizeof want, "%s\n{\"alert_id\":\"b\",\"account\":\"x\"}\n", ALERT);
    assert_string_equal(got, want);
    free(got);
    ew_sink_file.close(st, 0);
}

static void test_file_rotation(void **state)
{
    struct tmp *t = *state;
    char moved[160];
    void *st = open_file_sink(t->path);
    assert_non_null(st);
    assert_int_equal(ew_sink_file.send(st, "{\"n\":1}", 7), EW_SINK_OK);
    snprintf(moved, sizeof moved, "%s.1", t->path);
    assert_int_equal(rename(t->path, moved), 0); /* logrotate */
    assert_int_equal(ew_sink_file.send(st, "{\"n\":2}", 7), EW_SINK_OK);
    char *a = slurp(moved), *b = slurp(t->path);
    assert_non_null(a);
    assert_non_null(b);
    assert_string_equal(a, "{\"n\":1}\n");
    assert_string_equal(b, "{\"n\":2}\n");
    free(a);
    free(b);
    ew_sink_file.close(st, 0);
}

/* A full disk: /dev/full fails every write with ENOSPC.  The alert must be
 * retried (it stays pending in the outbox), never acknowledged. */
static void test_file_full_disk(void **state)
{
    (void)state;
    if (access("/dev/full", W_OK) != 0) skip();
    void *st = open_file_sink("/dev/full");
    assert_non_null(st);
    assert_int_equal(ew_sink_file.send(st, ALERT, strlen(ALERT)), EW_SINK_RETRY);
    assert_int_equal(ew_sink_file.send(st, ALERT, strlen(ALERT)), EW_SINK_RETRY);
    ew_sink_file.close(st, 0);
}

static void test_file_open_error(void **state)
{
    struct tmp *t = *state;
    struct ew_config cfg;
    struct ew_cfg_errors errs = {0};
    char set[256], err[256] = "";
    void *st = NULL;
    assert_int_equal(ew_config_defaults(&cfg), 0);
    snprintf(set, sizeof set, "sinks.file.path=%s/no/such/dir/a.jsonl", t->dir);
    assert_int_equal(ew_config_set(&cfg, set, &errs), 0);
    assert_int_equal(ew_sink_file.open(&st, &cfg, err, sizeof err), -1);
    assert_null(st);
    assert_non_null(strstr(err, "No such file or directory"));
    ew_config_free(&cfg);
    ew_cfg_errors_free(&errs);
}

/* ---- open errors of the network sinks (no server needed) ----------------------------- */

static void test_webhook_open(void **state)
{
    (void)state;
    struct ew_config cfg;
    struct ew_cfg_errors errs = {0};
    char err[256] = "";
    void *st = NULL;
    assert_int_equal(ew_config_defaults(&cfg), 0);
    /* no URL */
    assert_int_equal(ew_sink_webhook.open(&st, &cfg, err, sizeof err), -1);
    assert_non_null(strstr(err, "http:// or https://"));
    assert_int_equal(ew_config_set(&cfg, "sinks.webhook.url=ftp://example.invalid/x", &errs), 0);
    assert_int_equal(ew_sink_webhook.open(&st, &cfg, err, sizeof err), -1);
    assert_non_null(strstr(err, "ftp://example.invalid/x"));
    assert_int_equal(ew_config_set(&cfg, "sinks.webhook.url=http://127.0.0.1:9/hook", &errs), 0);
    assert_int_equal(ew_config_set(&cfg, "sinks.webhook.token=secret", &errs), 0);
    assert_int_equal(ew_sink_webhook.open(&st, &cfg, err, sizeof err), 0);
    assert_non_null(st);
    ew_sink_webhook.close(st, 0);
    ew_config_free(&cfg);
    ew_cfg_errors_free(&errs);
}

static void test_kafka_open(void **state)
{
    (void)state;
    struct ew_config cfg;
    struct ew_cfg_errors errs = {0};
    char err[512] = "";
    void *st = NULL;
    assert_int_equal(ew_config_defaults(&cfg), 0);
    assert_int_equal(ew_config_set(&cfg, "sinks.kafka.properties.no.such.property=1", &errs), 0);
    assert_int_equal(ew_sink_kafka.open(&st, &cfg, err, sizeof err), -1);
    assert_null(st);
    assert_non_null(strstr(err, "no.such.property"));
    ew_config_free(&cfg);
    assert_int_equal(ew_config_defaults(&cfg), 0);
    /* a valid producer is created without contacting a broker */
    assert_int_equal(ew_config_set(&cfg, "sinks.kafka.brokers=127.0.0.1:9", &errs), 0);
    assert_int_equal(ew_sink_kafka.open(&st, &cfg, err, sizeof err), 0);
    ew_sink_kafka.close(st, 0);
    ew_config_free(&cfg);
    /* on the input's cluster the sink takes kafka.properties' connection
     * settings (a protocol librdkafka refuses shows they reached it), not the
     * consumer's own ones; on another cluster it takes none of them */
    assert_int_equal(ew_config_defaults(&cfg), 0);
    assert_int_equal(ew_config_set(&cfg, "kafka.properties.security.protocol=no-such", &errs), 0);
    assert_int_equal(ew_config_set(&cfg, "kafka.properties.session.timeout.ms=6000", &errs), 0);
    assert_int_equal(ew_sink_kafka.open(&st, &cfg, err, sizeof err), -1);
    assert_non_null(strstr(err, "security.protocol"));
    assert_int_equal(ew_config_set(&cfg, "sinks.kafka.brokers=127.0.0.1:9", &errs), 0);
    assert_int_equal(ew_sink_kafka.open(&st, &cfg, err, sizeof err), 0);
    ew_sink_kafka.close(st, 0);
    ew_config_free(&cfg);
    ew_cfg_errors_free(&errs);
}

int main(void)
{
    ew_log_setup(EW_ERROR, EW_LOG_PREFIX_NEVER, 10, 10000);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_webhook_result),
        cmocka_unit_test(test_kafka_result),
        cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_stream_ids),
        cmocka_unit_test(test_outbox_lost),
        cmocka_unit_test(test_group_start),
        cmocka_unit_test(test_settings_equal),
        cmocka_unit_test(test_alert_parse),
        cmocka_unit_test(test_signals_merge),
        cmocka_unit_test_setup_teardown(test_file_lines, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(test_file_rotation, tmp_setup, tmp_teardown),
        cmocka_unit_test(test_file_full_disk),
        cmocka_unit_test_setup_teardown(test_file_open_error, tmp_setup, tmp_teardown),
        cmocka_unit_test(test_webhook_open),
        cmocka_unit_test(test_kafka_open),
    };
    int rc = cmocka_run_group_tests_name("sinks", tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
