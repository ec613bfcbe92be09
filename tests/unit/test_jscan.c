/* Unit tests for the strict JSON scanner (daemon/jscan.c).
 *
 * Every scan goes through scan_n(), which copies the text into a heap buffer of exactly its
 * length (no NUL after it), so a read past len is an ASan error rather than luck.  The last
 * test checks the scanner's verdicts against jansson's on mutated events.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engwatch/jscan.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

enum { K_ID, K_TS, K_TEXT, K_N, K__COUNT };
#define KEY(s) s, sizeof(s) - 1 /* a struct ew_js_key's members */
static const struct ew_js_key keys[K__COUNT] = {
    {KEY("id")}, {KEY("ts")}, {KEY("text")}, {KEY("n")}};

/* One scan: an exact-size copy of the input and a fresh scratch, kept until the next scan so
 * that the values can be looked at. */
static struct scan {
    char *buf, *scratch;
    size_t len, scratch_size;
    struct ew_js_value v[K__COUNT];
    struct ew_js_error err;
} S;

static void scan_free(void)
{
    free(S.buf);
    free(S.scratch);
    S.buf = S.scratch = NULL;
}

static enum ew_js_status scan_seed(const char *json, size_t len, uint64_t seed)
{
    enum ew_js_status st;

    scan_free();
    S.len = len;
    S.buf = malloc(len ? len : 1);
    S.scratch_size = ew_js_scratch_size(len);
    S.scratch = malloc(S.scratch_size);
    assert_non_null(S.buf);
    assert_non_null(S.scratch);
    memcpy(S.buf, json, len);
    memset(&S.err, 0xA5, sizeof S.err);
    st = ew_js_scan(keys, K__COUNT, S.buf, len, S.scratch, S.scratch_size, seed, S.v, &S.err);
    if (st != EW_JS_OK) {
        assert_true(S.err.pos <= len);
        assert_non_null(S.err.what);
        assert_true(strlen(S.err.what) > 0);
    }
    return st;
}

static enum ew_js_status scan_n(const char *json, size_t len)
{
    return scan_seed(json, len, 0x9e3779b97f4a7c15ULL);
}

static enum ew_js_status scan(const char *json)
{
    return scan_n(json, strlen(json));
}

static void expect_status(const char *json, enum ew_js_status want)
{
    enum ew_js_status st = scan(json);

    if (st != want)
        fail_msg("%s: got %s (%s at %zu), want %s", json, ew_js_status_name(st),
                 st ? S.err.what : "", st ? S.err.pos : 0, ew_js_status_name(want));
}

static void expect_each(const char *prefix, const char *const *cases, size_t n, const char *suffix,
                        enum ew_js_status want)
{
    char json[1024];
    size_t i;

    for (i = 0; i < n; i++) {
        snprintf(json, sizeof json, "%s%s%s", prefix, cases[i], suffix);
        expect_status(json, want);
    }
}

static int in_input(const struct ew_js_value *v)
{
    return v->ptr >= S.buf && v->ptr + v->len <= S.buf + S.len;
}

static int in_scratch(const struct ew_js_value *v)
{
    return v->ptr >= S.scratch && v->ptr + v->len <= S.scratch + S.scratch_size;
}

static void assert_string(const struct ew_js_value *v, const char *want)
{
    assert_int_equal(v->type, EW_JS_STRING);
    assert_int_equal(v->len, strlen(want));
    assert_memory_equal(v->ptr, want, v->len);
}

static int teardown(void **state)
{
    (void)state;
    scan_free();
    return 0;
}

/* ---- values ------------------------------------------------------------------------------ */

static void test_values(void **state)
{
    (void)state;
    assert_int_equal(scan(" {\"id\":\"e1\", \"ts\" : 1714564800000,\"text\":\"a\\\"b\\u4e2d\","
                          "\"other\":[1,{\"x\":null}]} \r\n"),
                     EW_JS_OK);
    assert_string(&S.v[K_ID], "e1");
    assert_true(in_input(&S.v[K_ID])); /* no escape: borrowed from the input */
    assert_int_equal(S.v[K_TS].type, EW_JS_INT);
    assert_true(S.v[K_TS].i == 1714564800000);
    assert_string(&S.v[K_TEXT], "a\"b\xe4\xb8\xad");
    assert_true(in_scratch(&S.v[K_TEXT])); /* unescaped into the scratch */
    assert_int_equal(S.v[K_N].type, EW_JS_ABSENT);

    assert_int_equal(scan("{\"n\":true,\"id\":false,\"ts\":null,\"text\":{\"a\":[]}}"), EW_JS_OK);
    assert_int_equal(S.v[K_N].type, EW_JS_TRUE);
    assert_int_equal(S.v[K_ID].type, EW_JS_FALSE);
    assert_int_equal(S.v[K_TS].type, EW_JS_NULL);
    assert_int_equal(S.v[K_TEXT].type, EW_JS_OBJECT);
    assert_int_equal(S.v[K_TEXT].len, strlen("{\"a\":[]}"));
    assert_memory_equal(S.v[K_TEXT].ptr, "{\"a\":[]}", S.v[K_TEXT].len);

    assert_int_equal(scan("{\"n\":[1, \"x\"],\"id\":\"\"}"), EW_JS_OK);
    assert_int_equal(S.v[K_N].type, EW_JS_ARRAY);
    assert_memory_equal(S.v[K_N].ptr, "[1, \"x\"]", S.v[K_N].len);
    assert_string(&S.v[K_ID], "");
    assert_non_null(S.v[K_ID].ptr);

    /* a key written with escapes is the same key */
    assert_int_equal(scan("{\"\\u0069d\":\"x\",\"t\\u0065xt\":\"y\"}"), EW_JS_OK);
    assert_string(&S.v[K_ID], "x");
    assert_string(&S.v[K_TEXT], "y");

    assert_int_equal(scan("{}"), EW_JS_OK);
    assert_int_equal(S.v[K_ID].type, EW_JS_ABSENT);
}

static void test_numbers(void **state)
{
    static const struct {
        const char *text;
        enum ew_js_type type;
        int64_t i;
    } cases[] = {
        {"0", EW_JS_INT, 0},
        {"-0", EW_JS_INT, 0},
        {"42", EW_JS_INT, 42},
        {"9223372036854775807", EW_JS_INT, INT64_MAX},
        {"-9223372036854775808", EW_JS_INT, INT64_MIN},
        {"3.0", EW_JS_REAL, 0},
        {"1e3", EW_JS_REAL, 0},
        {"1E+3", EW_JS_REAL, 0},
        {"-0.0", EW_JS_REAL, 0},
        {"1.5e-7", EW_JS_REAL, 0},
    };
    static const char *const out_of_range[] = {
        "9223372036854775808",
        "-9223372036854775809",
        "18446744073709551616",
        "99999999999999999999999",
        "1e400",
        "-1e309",
        "1.7976931348623159e308",
    };
    static const char *const malformed[] = {
        "01", "-01", "1.", ".5", "+1", "1e", "1e+", "-", "--1", "0x1", "1.e3", "NaN", "Infinity",
    };
    char json[128];
    size_t i;

    (void)state;
    for (i = 0; i < NELEM(cases); i++) {
        snprintf(json, sizeof json, "{\"n\":%s}", cases[i].text);
        expect_status(json, EW_JS_OK);
        assert_int_equal(S.v[K_N].type, cases[i].type);
        if (cases[i].type == EW_JS_INT)
            assert_true(S.v[K_N].i == cases[i].i);
        else
            assert_memory_equal(S.v[K_N].ptr, cases[i].text, strlen(cases[i].text));
    }
    /* out of range is an error for known and skipped values alike */
    expect_each("{\"n\":", out_of_range, NELEM(out_of_range), "}", EW_JS_E_RANGE);
    expect_each("{\"skipped\":[", out_of_range, NELEM(out_of_range), "]}", EW_JS_E_RANGE);
    expect_each("{\"n\":", malformed, NELEM(malformed), "}", EW_JS_E_SYNTAX);
    expect_each("{\"x\":{\"y\":", malformed, NELEM(malformed), "}}", EW_JS_E_SYNTAX);
    /* underflow is fine, as are the largest doubles */
    expect_status("{\"n\":[1e-400,4.9e-324,1.7976931348623157e308,-1.7976931348623158e308,"
                  "0e99999999999999999999]}",
                  EW_JS_OK);
}

static void test_real_value(void **state)
{
    static const char *const texts[] = {
        "1.5e12",
        "0.1",
        "-2.5",
        "1e-400",
        "4.9e-324",
        "1.7976931348623157e308",
        "123.456e-5",
        "0.000000000000000000000000000000000000000000001234",
        "1E2",
        "5e-324",
        "2.4703282292062328e-324",
    };
    struct ew_js_value v;
    char txt[64];
    double d;
    size_t i;

    (void)state;
    for (i = 0; i < NELEM(texts); i++) {
        v.type = EW_JS_REAL;
        v.ptr = texts[i];
        v.len = strlen(texts[i]);
        assert_int_equal(ew_js_real(&v, &d), 0);
        snprintf(txt, sizeof txt, "%s", texts[i]);
        if (d != strtod(txt, NULL)) fail_msg("%s: got %.17g", texts[i], d);
    }
    v.ptr = "-0.0";
    v.len = 4;
    assert_int_equal(ew_js_real(&v, &d), 0);
    assert_true(d == 0 && signbit(d));
    v.type = EW_JS_INT;
    v.i = -7;
    assert_int_equal(ew_js_real(&v, &d), 0);
    assert_true(d == -7.0);
    v.type = EW_JS_STRING;
    assert_int_equal(ew_js_real(&v, &d), -1);
    assert_int_equal(ew_js_real(NULL, &d), -1);
}

/* A real with 1000 significant digits converts like strtod on the whole text: the conversion
 * keeps 800 and a sticky digit. */
static void test_real_value_long(void **state)
{
    char text[1100];
    struct ew_js_value v = {EW_JS_REAL, text, 0, 0};
    double d;
    size_t i;

    (void)state;
    /* 0.5 + 2^-54 (exactly halfway between 1 - 2^-53 and ... ) is awkward; use a tie: the
     * decimal of 1 + 2^-53 (halfway between 1 and its successor) followed by zeros and a 1 */
    snprintf(text, sizeof text, "1.00000000000000011102230246251565404236316680908203125");
    v.len = strlen(text);
    assert_int_equal(ew_js_real(&v, &d), 0);
    assert_true(d == 1.0); /* a tie rounds to even */
    for (i = v.len; i < 1000; i++)
        text[i] = '0';
    text[1000] = '1';
    text[1001] = '\0';
    v.len = 1001;
    assert_int_equal(ew_js_real(&v, &d), 0);
    assert_true(d == strtod(text, NULL));
    assert_true(d > 1.0); /* the 1 far behind the tie decides */
}

/* ---- strictness -------------------------------------------------------------------------- */

static void test_utf8(void **state)
{
    static const char *const bad[] = {
        "\xff",
        "\x80",
        "\xbf",
        "\xc0\xaf",
        "\xc1\xbf",
        "\xe0\x80\xaf",
        "\xe0\x9f\xbf",
        "\xf0\x80\x80\xaf",
        "\xf0\x8f\xbf\xbf",
        "\xed\xa0\x80",
        "\xed\xbf\xbf",
        "\xf4\x90\x80\x80",
        "\xf5\x80\x80\x80",
        "\xf8\x88\x80\x80\x80",
        "\xe4\xb8",
        "\xc3",
        "\xc3\x28",
        "\xe4\x28\xad",
    };
    static const char *const good[] = {
        "\xc2\x80",     "\xdf\xbf",         "\xe0\xa0\x80",     "\xed\x9f\xbf", "\xee\x80\x80",
        "\xef\xbf\xbf", "\xf0\x90\x80\x80", "\xf4\x8f\xbf\xbf", "\x7f",
    };
    size_t i;
    char json[64];

    (void)state;
    expect_each("{\"text\":\"a", bad, NELEM(bad), "b\"}", EW_JS_E_UTF8);
    expect_each("{\"skipped\":[{\"x\":\"", bad, NELEM(bad), "\"}]}", EW_JS_E_UTF8);
    expect_each("{\"k", bad, NELEM(bad), "\":1}", EW_JS_E_UTF8);
    expect_each("{\"n\":1", bad, NELEM(bad), "}", EW_JS_E_UTF8);
    expect_each("{}", bad, NELEM(bad), "", EW_JS_E_UTF8);
    for (i = 0; i < NELEM(good); i++) {
        snprintf(json, sizeof json, "{\"text\":\"%s\",\"%s\":\"%s\"}", good[i], good[i], good[i]);
        expect_status(json, EW_JS_OK);
        assert_string(&S.v[K_TEXT], good[i]);
    }
    /* the position is the first broken byte */
    assert_int_equal(scan("{\"text\":\"ab\xed\xa0\x80\"}"), EW_JS_E_UTF8);
    assert_int_equal(S.err.pos, 11);
}

static void test_strings(void **state)
{
    static const char *const escape[] = {
        "\\ud800",
        "\\udbff",
        "\\udc00",
        "\\udfff",
        "\\ud800\\u0041",
        "\\udc00\\ud800",
        "\\ud800\\n",
        "\\ud800x",
        "\\ud83d\\ud83d",
        "\\u12",
        "\\u12g4",
        "\\x41",
        "\\U0041",
        "\\'",
        "\\a",
    };
    static const char *const syntax[] = {"\x01", "\x1f", "\n", "\t", "\x00"};
    size_t i;
    char json[64];

    (void)state;
    expect_each("{\"text\":\"", escape, NELEM(escape), "\"}", EW_JS_E_ESCAPE);
    expect_each("{\"skipped\":\"", escape, NELEM(escape), "\"}", EW_JS_E_ESCAPE);
    expect_each("{\"", escape, NELEM(escape), "\":1}", EW_JS_E_ESCAPE);
    for (i = 0; i < NELEM(syntax); i++) {
        int n = snprintf(json, sizeof json, "{\"text\":\"a");

        json[n++] = syntax[i][0];
        n += snprintf(json + n, sizeof json - (size_t)n, "b\"}");
        assert_int_equal(scan_n(json, (size_t)n), EW_JS_E_SYNTAX);
    }
    expect_status("{\"text\":\"a\\u0000b\"}", EW_JS_E_NUL);
    expect_status("{\"skipped\":[\"\\u0000\"]}", EW_JS_E_NUL);
    expect_status("{\"k\\u0000\":1}", EW_JS_E_NUL);
    expect_status("{\"text\":\"abc", EW_JS_E_SYNTAX);
    expect_status("{\"text\":\"abc\\", EW_JS_E_SYNTAX);
    expect_status("{\"text\":\"\\u00", EW_JS_E_ESCAPE);
    /* a broken byte later in the same string wins over a bad escape meaning (jansson's order) */
    expect_status("{\"text\":\"\\ud800 \xff\"}", EW_JS_E_UTF8);
    expect_status("{\"text\":\"\\u0000 \xc0\xaf\"}", EW_JS_E_UTF8);
    /* unescaping: pairs, both hex cases, every short escape, long strings across the 8-byte
     * fast path */
    expect_status("{\"text\":\"\\uD83D\\uDE02\\u00e9\\u00E9\\/\\\\\\\"\\b\\f\\n\\r\\t\"}",
                  EW_JS_OK);
    assert_string(&S.v[K_TEXT], "\xf0\x9f\x98\x82\xc3\xa9\xc3\xa9/\\\"\b\f\n\r\t");
    expect_status("{\"text\":\"0123456789abcdef\\n0123456789abcdef\xe4\xb8\xad"
                  "0123456789abcdef\"}",
                  EW_JS_OK);
    assert_string(&S.v[K_TEXT], "0123456789abcdef\n0123456789abcdef\xe4\xb8\xad"
                                "0123456789abcdef");
}

static void test_duplicates(void **state)
{
    static const char *const dup[] = {
        "{\"id\":1,\"id\":2}",
        "{\"id\":1,\"i\\u0064\":2}",
        "{\"x\":1,\"x\":2}",
        "{\"x\":1,\"\\u0078\":2}",
        "{\"\":1,\"\":2}",
        "{\"x\":{\"a\":1,\"b\":2,\"a\":3}}",
        "{\"x\":[[{\"a\":{\"b\":1,\"b\":1}}]]}",
        "[{\"a\":1,\"a\":1}]",
        "{\"x\":1,\"x\"}", /* found at the key, before the missing ':' */
    };
    static const char *const fine[] = {
        "{\"x\":{\"a\":1},\"y\":{\"a\":1},\"a\":1}",
        "{\"x\":[{\"a\":1},{\"a\":2}]}",
        "{\"x\":{\"a\":{\"a\":{\"a\":1}}}}",
        "{\"x\":1,\"X\":1,\"x \":1,\"xx\":1}",
        "{\"id\":1,\"x\":{\"id\":2}}",
    };

    (void)state;
    expect_each("", dup, NELEM(dup), "", EW_JS_E_DUPLICATE);
    expect_each("", fine, NELEM(fine), "", EW_JS_OK);
    assert_int_equal(scan("{\"a\":1, \"\\u0061\":2}"), EW_JS_E_DUPLICATE);
    assert_int_equal(S.err.pos, 8); /* the second key */
    assert_string(&S.err.value, "a");
}

/* "{"k0":0,"k1":1,...}" with n keys, the last one repeating key `dup` when dup < n. */
static char *object_of(size_t n, size_t dup, const char *key_prefix)
{
    size_t cap = n * 24 + 64, i;
    char *out = malloc(cap);
    int len = 0;

    assert_non_null(out);
    out[len++] = '{';
    for (i = 0; i < n; i++)
        len += snprintf(out + len, cap - (size_t)len, "%s\"%s%zu\":0", i ? "," : "", key_prefix,
                        i == n - 1 && dup < n ? dup : i);
    snprintf(out + len, cap - (size_t)len, "}");
    return out;
}

static void test_many_keys(void **state)
{
    char *json;
    uint64_t seed;

    (void)state;
    /* enough keys to grow the table many times, and several seeds */
    for (seed = 1; seed < 4; seed++) {
        json = object_of(16000, (size_t)-1, "");
        assert_int_equal(scan_seed(json, strlen(json), seed), EW_JS_OK);
        free(json);
        json = object_of(16000, 12345, "");
        assert_int_equal(scan_seed(json, strlen(json), seed), EW_JS_E_DUPLICATE);
        free(json);
    }
    /* keys with escapes (unescaped copies in the scratch) */
    json = object_of(3000, 2999 - 1, "\\u00e9");
    assert_int_equal(scan(json), EW_JS_E_DUPLICATE);
    assert_string(&S.err.value, "\xc3\xa9"
                                "2998");
    free(json);
    /* the densest input: 16k one-letter-ish keys in 64 KiB */
    {
        size_t cap = 65536, len = 1, i;
        char *buf = malloc(cap + 64);

        assert_non_null(buf);
        buf[0] = '{';
        for (i = 0; len < cap - 16; i++)
            len += (size_t)snprintf(buf + len, 32, "%s\"%zx\":0", i ? "," : "", i);
        buf[len++] = '}';
        assert_int_equal(scan_n(buf, len), EW_JS_OK);
        free(buf);
    }
}

/* The key table at its largest: every key in a different object, as densely as keys can be
 * written (flat {"":0} objects, and chains {"":{"":...0}} of 1000), for input lengths all
 * around the sizes where the table's capacity steps up. */
static void test_key_table_full(void **state)
{
    size_t target, len, i, d, chain;
    char *buf;

    (void)state;
    for (chain = 1; chain <= 1000; chain += 999) {
        for (target = 1000; target < 200000; target = target * 9 / 8) {
            for (i = 0; i < 3; i++) {
                size_t want = target + i * 7;

                buf = malloc(want + 16);
                assert_non_null(buf);
                memcpy(buf, "{\"x\":[", 6);
                for (len = 6; len + 5 * chain + 4 < want;) {
                    for (d = 0; d < chain; d++, len += 4)
                        memcpy(buf + len, "{\"\":", 4);
                    buf[len++] = '0';
                    memset(buf + len, '}', chain);
                    len += chain;
                    buf[len++] = ',';
                }
                memcpy(buf + len, "{}]}", 4);
                len += 4;
                if (scan_n(buf, len) != EW_JS_OK) fail_msg("%zu bytes: %s", len, S.err.what);
                free(buf);
            }
        }
    }
}

/* n nested arrays around `inner`. */
static enum ew_js_status deep(size_t n, const char *inner)
{
    size_t il = strlen(inner), i;
    char *buf = malloc(2 * n + il + 1);
    enum ew_js_status st;

    assert_non_null(buf);
    for (i = 0; i < n; i++) {
        buf[i] = '[';
        buf[n + il + i] = ']';
    }
    memcpy(buf + n, inner, il);
    st = scan_n(buf, 2 * n + il);
    free(buf);
    return st;
}

static void test_depth(void **state)
{
    char *buf;

    (void)state;
    /* jansson's count: each value, scalars too, at most 2048 deep */
    assert_int_equal(deep(2047, "1"), EW_JS_E_NOT_OBJECT);
    assert_int_equal(deep(2048, ""), EW_JS_E_NOT_OBJECT);
    assert_int_equal(deep(2048, "1"), EW_JS_E_DEPTH);
    assert_int_equal(deep(2049, ""), EW_JS_E_DEPTH);
    buf = malloc(100000);
    assert_non_null(buf);
    memset(buf, '[', 100000);
    assert_int_equal(scan_n(buf, 100000), EW_JS_E_DEPTH);
    buf[0] = '{';
    memcpy(buf + 1, "\"x\":", 4);
    assert_int_equal(scan_n(buf, 100000), EW_JS_E_DEPTH);
    memset(buf, '{', 100000);
    assert_int_equal(scan_n(buf, 100000), EW_JS_E_SYNTAX); /* "{{": a key must be a string */
    free(buf);
}

static void test_not_object(void **state)
{
    static const struct {
        const char *json;
        enum ew_js_type type;
    } cases[] = {
        {"[]", EW_JS_ARRAY},    {" [1,{}] ", EW_JS_ARRAY}, {"\"x\"", EW_JS_STRING},
        {"1", EW_JS_INT},       {"1.5", EW_JS_REAL},       {"true", EW_JS_TRUE},
        {"false", EW_JS_FALSE}, {"null", EW_JS_NULL},
    };
    static const char *const syntax[] = {
        "",
        " ",
        "1 2",
        "[1,]",
        "[1",
        "]",
        "{",
        "{\"a\"}",
        "{\"a\":}",
        "{\"a\":1,}",
        "{,}",
        "{'a':1}",
        "{a:1}",
        "{\"a\":1}x",
        "{\"a\":1}{}",
        "{\"a\":1},",
        "\xef\xbb\xbf{}",
        "/**/{}",
        "{\"a\":tru}",
        "{\"a\":nul}",
        "{\"a\":True}",
        "{\"a\" 1}",
        "[1 2]",
        "{\"a\":1 \"b\":2}",
    };
    size_t i;

    (void)state;
    for (i = 0; i < NELEM(cases); i++) {
        expect_status(cases[i].json, EW_JS_E_NOT_OBJECT);
        assert_int_equal(S.err.value.type, cases[i].type);
    }
    assert_int_equal(scan("\"a\\u00e9\""), EW_JS_E_NOT_OBJECT);
    assert_string(&S.err.value, "a\xc3\xa9");
    assert_int_equal(scan("-12"), EW_JS_E_NOT_OBJECT);
    assert_true(S.err.value.i == -12);
    expect_each("", syntax, NELEM(syntax), "", EW_JS_E_SYNTAX);
    /* whitespace is the four of RFC 8259 and nothing else */
    expect_status(" \t\r\n{ \t\r\n\"id\" \t\r\n: \t\r\n1 \t\r\n} \t\r\n", EW_JS_OK);
    expect_status("\f{}", EW_JS_E_SYNTAX);
    expect_status("{}\v", EW_JS_E_SYNTAX);
}

static void test_nul_bytes(void **state)
{
    static const char *const cases[] = {
        "{\"n\":1\0}", "{\"n\":true\0}", "{\"n\":1 \0}", "{\"n\":\"a\0\"}", "{\0}", "{}\0", "\0{}",
    };
    static const size_t lens[] = {8, 11, 9, 10, 3, 3, 3};
    size_t i;

    (void)state;
    for (i = 0; i < NELEM(cases); i++)
        if (scan_n(cases[i], lens[i]) != EW_JS_E_SYNTAX)
            fail_msg("case %zu accepted or misreported", i);
}

static void test_len_is_honoured(void **state)
{
    const char *doc =
        "{\"id\":\"e\\u00e9\",\"ts\":-12.5e3,\"text\":[true,false,null,{\"a\":\"b\"}]}";
    size_t n = strlen(doc), i;

    (void)state;
    assert_int_equal(scan_n(doc, n), EW_JS_OK);
    /* every proper prefix is an error, and none is read past its end (ASan) */
    for (i = 0; i < n; i++)
        if (scan_n(doc, i) == EW_JS_OK) fail_msg("prefix of %zu bytes accepted", i);
    /* nothing after len matters */
    assert_int_equal(scan_n("{}xyz", 2), EW_JS_OK);
}

static void test_arguments(void **state)
{
    struct ew_js_value v[EW_JS_MAX_KEYS + 1];
    struct ew_js_key many[EW_JS_MAX_KEYS + 1];
    struct ew_js_error err;
    size_t size = ew_js_scratch_size(2);
    char *scratch = malloc(size + 8);
    unsigned i;

    (void)state;
    assert_non_null(scratch);
    for (i = 0; i < NELEM(many); i++)
        many[i] = keys[0];
    assert_int_equal(ew_js_scan(keys, K__COUNT, "{}", 2, scratch, size, 1, v, &err), EW_JS_OK);
    assert_int_equal(ew_js_scan(keys, K__COUNT, "{}", 2, scratch, size - 1, 1, v, &err),
                     EW_JS_E_ARG);
    assert_int_equal(ew_js_scan(keys, K__COUNT, "{}", 2, scratch + 1, size, 1, v, &err),
                     EW_JS_E_ARG);
    assert_int_equal(ew_js_scan(keys, K__COUNT, "{}", 2, NULL, size, 1, v, &err), EW_JS_E_ARG);
    assert_int_equal(ew_js_scan(many, EW_JS_MAX_KEYS + 1, "{}", 2, scratch, size, 1, v, &err),
                     EW_JS_E_ARG);
    assert_int_equal(ew_js_scan(keys, K__COUNT, NULL, 2, scratch, size, 1, v, &err), EW_JS_E_ARG);
    assert_int_equal(ew_js_scan(keys, K__COUNT, NULL, 0, scratch, size, 1, v, NULL),
                     EW_JS_E_SYNTAX);
    assert_int_equal(ew_js_scan(NULL, 0, "{\"a\":1}", 7, scratch, size, 1, NULL, NULL),
                     EW_JS_E_ARG); /* room for 2 bytes, not 7 */
    free(scratch);
    assert_int_equal(ew_js_scratch_size(EW_JS_MAX_LEN + 1), 0);
    /* the scratch grows linearly */
    assert_true(ew_js_scratch_size(65536) < 18 * 65536 + 16384);
    assert_true(ew_js_scratch_size(100) < 4096);
}

static void test_status_names(void **state)
{
    unsigned i, j;

    (void)state;
    for (i = 0; i <= EW_JS_E_ARG; i++) {
        assert_string_not_equal(ew_js_status_name((enum ew_js_status)i), "unknown");
        for (j = 0; j < i; j++)
            assert_string_not_equal(ew_js_status_name((enum ew_js_status)i),
                                    ew_js_status_name((enum ew_js_status)j));
    }
    assert_string_equal(ew_js_status_name(EW_JS_E_ARG + 1), "unknown");
}

/* ---- against jansson --------------------------------------------------------------------- */

/* jansson (JSON_DECODE_ANY | JSON_REJECT_DUPLICATES) was the event decoder's parser: the
 * scanner must give the same verdict, class by class, except on raw NUL bytes (jansson lets
 * some through; the scanner never does). */
static enum ew_js_status jansson_verdict(const char *buf, size_t len)
{
    json_error_t je;
    json_t *j = json_loadb(buf, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);
    enum ew_js_status st;

    if (j) {
        st = json_is_object(j) ? EW_JS_OK : EW_JS_E_NOT_OBJECT;
        json_decref(j);
        return st;
    }
    switch (json_error_code(&je)) {
    case json_error_invalid_utf8:
        return EW_JS_E_UTF8;
    case json_error_duplicate_key:
        return EW_JS_E_DUPLICATE;
    default:
        return EW_JS_E_SYNTAX;
    }
}

static enum ew_js_status coarse(enum ew_js_status st)
{
    return st == EW_JS_E_ESCAPE || st == EW_JS_E_NUL || st == EW_JS_E_RANGE || st == EW_JS_E_DEPTH
               ? EW_JS_E_SYNTAX
               : st;
}

static void test_against_jansson(void **state)
{
    static const char *const seeds[] = {
        "{\"id\":\"e1\",\"type\":\"comment\",\"ts\":1714567200000,\"account\":\"acc12\",\"text\":"
        "\"\xe5\xa5\xbd\xe7\x9c\x8b \xf0\x9f\x91\x8d\",\"client\":\"ios\",\"v\":3}",
        "{\"id\":\"e\\u00e9\",\"ts\":\"2024-05-01T00:00:00.683Z\",\"text\":\"\\ud83d\\udc4d\\\\\","
        "\"m\":{\"a\":[1,-2.5e-3,{\"b\":null}],\"c\":true},\"n\":-0}",
        "{\"n\":9223372036854775807,\"x\":[[[\"\\u0041\"]]],\"y\":false,\"z\":null,\"w\":1e308}",
    };
    static const char *const tokens[] = {
        "\\u0000",  "\\ud800",
        "\\udc00",  "\\ud83d\\ude02",
        "\"id\"",   "\"i\\u0064\"",
        "1e400",    "9223372036854775808",
        "-0",       "null",
        "true",     "{\"a\":1,\"a\":2}",
        "[[[",      "]]]",
        "{}",       "\xed\xa0\x80",
        "\xc0\xaf", "\xf4\x90\x80\x80",
        ",\"x\":1", "-.",
        "1.e",      "01",
        "\\u12",
    };
    static const char alphabet[] = "{}[]\",:\\u019-+.eEtrufalsn \t\nabx\x80\xbf\xc0\xc2\xe0\xed"
                                   "\xf0\xf4\xf5\xff";
    uint64_t x = 88172645463325252ULL;
    char buf[1024];
    long i, agree = 0;
    size_t n, m, pos, tl;

    (void)state;
#define RND() (x ^= x << 13, x ^= x >> 7, x ^= x << 17, x)
    for (i = 0; i < 200000; i++) {
        const char *seed = seeds[RND() % NELEM(seeds)], *t;
        enum ew_js_status want, got;

        n = strlen(seed);
        memcpy(buf, seed, n);
        for (m = 1 + RND() % 4; m > 0; m--) {
            pos = RND() % (n + 1);
            switch (RND() % 5) {
            case 0:
                if (pos < n) buf[pos] = alphabet[RND() % (sizeof alphabet - 1)];
                break;
            case 1:
                if (pos < n) buf[pos] ^= (char)(1u << (RND() % 8));
                break;
            case 2:
                if (pos < n) {
                    memmove(buf + pos, buf + pos + 1, n - pos - 1);
                    n--;
                }
                break;
            case 3:
                if (RND() % 4 == 0) n = pos;
                break;
            default:
                t = tokens[RND() % NELEM(tokens)];
                tl = strlen(t);
                if (n + tl < sizeof buf) {
                    memmove(buf + pos + tl, buf + pos, n - pos);
                    memcpy(buf + pos, t, tl);
                    n += tl;
                }
                break;
            }
        }
        if (memchr(buf, '\0', n)) continue;
        want = jansson_verdict(buf, n);
        got = coarse(scan_seed(buf, n, (uint64_t)i));
        if (got != want) {
            char shown[4200];
            size_t k, o = 0;

            for (k = 0; k < n; k++)
                o += (size_t)snprintf(shown + o, sizeof shown - o,
                                      (unsigned char)buf[k] < 0x20 || (unsigned char)buf[k] >= 0x7f
                                          ? "\\x%02x"
                                          : "%c",
                                      (unsigned char)buf[k]);
            fail_msg("jansson says %s, scanner %s (%s): %s", ew_js_status_name(want),
                     ew_js_status_name(got), S.err.what, shown);
        }
        agree++;
    }
#undef RND
    assert_true(agree > 150000);
}

int main(void)
{
#define T(f) cmocka_unit_test_teardown(f, teardown)
    const struct CMUnitTest tests[] = {
        T(test_values),          T(test_numbers),    T(test_real_value),
        T(test_real_value_long), T(test_utf8),       T(test_strings),
        T(test_duplicates),      T(test_many_keys),  T(test_key_table_full),
        T(test_depth),           T(test_not_object), T(test_nul_bytes),
        T(test_len_is_honoured), T(test_arguments),  T(test_status_names),
        T(test_against_jansson),
    };
#undef T
    return cmocka_run_group_tests_name("jscan", tests, NULL, NULL);
}
