/* Unit tests for the event decoder (daemon/event.c).
 *
 * Every decode goes through dec(), which copies the text into a heap buffer of exactly its
 * length (no NUL after it), so a read past len is an ASan error rather than luck.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engwatch/event.h"

static const struct ew_event_limits lim = EW_EVENT_LIMITS_DEFAULT;

/* A comment event with every field; tests replace pieces of it. */
#define EV_HEAD "{\"id\":\"e1\",\"ts\":1714564800000,\"account\":\"acc\","

static int setup(void **state)
{
    struct ew_event *ev = malloc(sizeof *ev);

    if (!ev) return -1;
    ew_event_init(ev);
    *state = ev;
    return 0;
}

static int teardown(void **state)
{
    struct ew_event *ev = *state;

    ew_event_clear(ev);
    free(ev);
    return 0;
}

/* 1 when s[0..n) is well-formed UTF-8 with no control characters (safe to print). */
static int printable_utf8(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, k, need;

    while (i < n) {
        if (u[i] < 0x20 || u[i] == 0x7F) return 0;
        need = u[i] < 0x80 ? 1 : u[i] >= 0xF0 ? 4 : u[i] >= 0xE0 ? 3 : u[i] >= 0xC2 ? 2 : 0;
        if (need == 0 || i + need > n) return 0;
        for (k = 1; k < need; k++)
            if ((u[i + k] & 0xC0) != 0x80) return 0;
        i += need;
    }
    return 1;
}

/* Decode buf[0..len) from an exact-size heap copy with limits l; return the reject reason
 * (EW_REJ_NONE on success) and check the contract of err on the way. */
static enum ew_reject dec_n(struct ew_event *ev, const char *buf, size_t len,
                            const struct ew_event_limits *l, struct ew_decode_error *err)
{
    struct ew_decode_error local;
    char *copy = malloc(len ? len : 1);
    int rc;

    assert_non_null(copy);
    memcpy(copy, buf, len);
    if (!err) err = &local;
    rc = ew_event_decode(ev, copy, len, l, err);
    free(copy);
    if (rc == 0) {
        assert_int_equal(err->reason, EW_REJ_NONE);
        return EW_REJ_NONE;
    }
    assert_int_equal(rc, -1);
    assert_int_not_equal(err->reason, EW_REJ_NONE);
    assert_true(strlen(err->msg) > 0 && strlen(err->msg) < sizeof err->msg);
    assert_true(printable_utf8(err->msg, strlen(err->msg)));
    /* A rejected event is left empty. */
    assert_null(ev->id.ptr);
    assert_null(ev->priv);
    return err->reason;
}

static enum ew_reject dec(struct ew_event *ev, const char *json, struct ew_decode_error *err)
{
    return dec_n(ev, json, strlen(json), &lim, err);
}

/* Assert that a decode is rejected with `reason` and, when want_msg is given, that message. */
static void expect_reject(struct ew_event *ev, const char *json, enum ew_reject reason,
                          const char *want_msg)
{
    struct ew_decode_error err;

    if (dec(ev, json, &err) != reason)
        fail_msg("%s: got %s (%s), want %s", json, ew_reject_name(err.reason), err.msg,
                 ew_reject_name(reason));
    if (want_msg) assert_string_equal(err.msg, want_msg);
}

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* Expect `reason` for each of cases[0..n), each wrapped as prefix + case + suffix. */
static void expect_each(struct ew_event *ev, const char *prefix, const char *const *cases, size_t n,
                        const char *suffix, enum ew_reject reason)
{
    char json[1024];
    size_t i;

    for (i = 0; i < n; i++) {
        snprintf(json, sizeof json, "%s%s%s", prefix, cases[i], suffix);
        expect_reject(ev, json, reason, NULL);
    }
}

static void expect_ok(struct ew_event *ev, const char *json)
{
    struct ew_decode_error err;

    if (dec(ev, json, &err) != EW_REJ_NONE)
        fail_msg("%s: rejected %s (%s)", json, ew_reject_name(err.reason), err.msg);
}

static void assert_str(struct ew_str s, const char *want)
{
    assert_non_null(s.ptr);
    assert_int_equal(s.len, strlen(want));
    assert_memory_equal(s.ptr, want, s.len);
}

/* A string of n copies of c, caller frees. */
static char *repeat(char c, size_t n)
{
    char *s = malloc(n + 1);

    assert_non_null(s);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

/* Build an event of `type` with every field, where `field` is a string of n 'x' bytes (field
 * may be "pad", an unknown field, to grow the message); caller frees. */
static char *event_with(const char *type, const char *field, size_t n)
{
    static const char *const base[][2] = {
        {"id", "\"e1\""},   {"ts", "1"},       {"account", "\"acc\""},
        {"actor", "\"u\""}, {"post", "\"p\""}, {"text", "\"t\""},
    };
    size_t cap = n + 256, i;
    char *out = malloc(cap);
    int len;

    assert_non_null(out);
    len = snprintf(out, cap, "{\"type\":\"%s\"", type);
    for (i = 0; i < sizeof base / sizeof base[0]; i++)
        if (strcmp(base[i][0], field) != 0)
            len += snprintf(out + len, cap - (size_t)len, ",\"%s\":%s", base[i][0], base[i][1]);
    len += snprintf(out + len, cap - (size_t)len, ",\"%s\":\"", field);
    memset(out + len, 'x', n);
    snprintf(out + len + n, cap - (size_t)len - n, "\"}");
    return out;
}

/* ---- the seven types --------------------------------------------------------------------- */

/* One valid event of each type and what it must decode to; NULL strings must be absent. */
static const struct valid_case {
    const char *json;
    int64_t ts;
    const char *actor, *post, *text;
    int64_t followers, actor_created;
} valid_cases[EW_EV__COUNT] = {
    [EW_EV_COMMENT] = {EV_HEAD
                       "\"type\":\"comment\",\"actor\":\"u1\",\"post\":\"p1\",\"text\":\"hi\"}",
                       1714564800000, "u1", "p1", "hi", -1, INT64_MIN},
    [EW_EV_LIKE] = {"{\"id\":\"e1\",\"type\":\"like\",\"ts\":\"2024-05-01T12:00:00.5Z\","
                    "\"account\":\"acc\",\"actor\":\"u1\",\"post\":\"p1\","
                    "\"actor_created\":1700000000000}",
                    1714564800500, "u1", "p1", NULL, -1, 1700000000000},
    [EW_EV_SHARE] = {EV_HEAD "\"type\":\"share\",\"actor\":\"u1\",\"post\":\"p1\"}", 1714564800000,
                     "u1", "p1", NULL, -1, INT64_MIN},
    [EW_EV_FOLLOW] = {EV_HEAD "\"type\":\"follow\",\"actor\":\"u1\","
                              "\"actor_created\":\"2024-04-30T00:00:00Z\"}",
                      1714564800000, "u1", NULL, NULL, -1, 1714435200000},
    [EW_EV_UNFOLLOW] = {EV_HEAD "\"type\":\"unfollow\",\"actor\":\"u1\"}", 1714564800000, "u1",
                        NULL, NULL, -1, INT64_MIN},
    [EW_EV_POST] = {EV_HEAD "\"type\":\"post\",\"post\":\"p9\"}", 1714564800000, NULL, "p9", NULL,
                    -1, INT64_MIN},
    [EW_EV_PROFILE] = {EV_HEAD "\"type\":\"profile\",\"followers\":123456}", 1714564800000, NULL,
                       NULL, NULL, 123456, INT64_MIN},
};

static void assert_opt_str(struct ew_str s, const char *want)
{
    if (want)
        assert_str(s, want);
    else
        assert_null(s.ptr);
}

/* The type comes in as cmocka's initial state; setup_valid swaps it for a fixture. */
struct valid_fixture {
    struct ew_event ev;
    const struct valid_case *c;
};

static int setup_valid(void **state)
{
    struct valid_fixture *fx = malloc(sizeof *fx);

    if (!fx) return -1;
    ew_event_init(&fx->ev);
    fx->c = &valid_cases[(uintptr_t)*state];
    *state = fx;
    return 0;
}

static int teardown_valid(void **state)
{
    struct valid_fixture *fx = *state;

    ew_event_clear(&fx->ev);
    free(fx);
    return 0;
}

static void test_valid(void **state)
{
    struct valid_fixture *fx = *state;
    const struct valid_case *c = fx->c;
    struct ew_event *ev = &fx->ev;

    expect_ok(ev, c->json);
    assert_int_equal(ev->type, (enum ew_event_type)(c - valid_cases));
    assert_true(ev->ts_ms == c->ts);
    assert_str(ev->id, "e1");
    assert_str(ev->account, "acc");
    assert_opt_str(ev->actor, c->actor);
    assert_opt_str(ev->post, c->post);
    assert_opt_str(ev->text, c->text);
    assert_true(ev->followers == c->followers);
    assert_true(ev->actor_created_ms == c->actor_created);
}

/* ---- each reject reason ------------------------------------------------------------------ */

static void test_reject_oversize_message(void **state)
{
    struct ew_event *ev = *state;
    struct ew_event_limits small = lim;
    struct ew_decode_error err;
    const char *json = EV_HEAD "\"type\":\"unfollow\",\"actor\":\"u1\"}";

    small.max_message = strlen(json) - 1;
    assert_int_equal(dec_n(ev, json, strlen(json), &small, &err), EW_REJ_OVERSIZE_MESSAGE);
    small.max_message = strlen(json);
    assert_int_equal(dec_n(ev, json, strlen(json), &small, &err), EW_REJ_NONE);
}

static void test_reject_invalid_utf8(void **state)
{
    static const char *const cases[] = {
        EV_HEAD "\"type\":\"comment\",\"actor\":\"u\",\"post\":\"p\",\"text\":\"a\xff\"}",
        EV_HEAD "\"type\":\"comment\",\"actor\":\"u\",\"post\":\"p\",\"text\":\"\xc3\x28\"}",
        /* truncated 3-byte sequence */
        EV_HEAD "\"type\":\"comment\",\"actor\":\"u\",\"post\":\"p\",\"text\":\"\xe4\xb8\"}",
        /* overlong '/' */
        EV_HEAD "\"type\":\"comment\",\"actor\":\"u\",\"post\":\"p\",\"text\":\"\xc0\xaf\"}",
        /* UTF-16 surrogate encoded in UTF-8 */
        EV_HEAD "\"type\":\"comment\",\"actor\":\"u\",\"post\":\"p\",\"text\":\"\xed\xa0\x80\"}",
        /* beyond U+10FFFF */
        EV_HEAD
        "\"type\":\"comment\",\"actor\":\"u\",\"post\":\"p\",\"text\":\"\xf4\x90\x80\x80\"}",
        /* in a key */
        EV_HEAD "\"type\":\"unfollow\",\"actor\":\"u\",\"k\xfe\":1}",
        /* in an account name */
        "{\"id\":\"e1\",\"ts\":1,\"account\":\"\x80\",\"type\":\"post\",\"post\":\"p\"}",
    };
    struct ew_event *ev = *state;

    expect_each(ev, "", cases, NELEM(cases), "", EW_REJ_INVALID_UTF8);
}

static void test_reject_bad_json(void **state)
{
    static const char *const cases[] = {
        "",
        " ",
        "{",
        "{\"id\":}",
        "{'id':'x'}",
        "{\"a\":1,}",
        "{\"a\":NaN}",
        "{\"a\":01}",
        /* \u0000 is not allowed in any string */
        EV_HEAD "\"type\":\"comment\",\"actor\":\"u\",\"post\":\"p\",\"text\":\"a\\u0000b\"}",
        /* lone surrogate escape */
        EV_HEAD "\"type\":\"comment\",\"actor\":\"u\",\"post\":\"p\",\"text\":\"\\ud800\"}",
        /* raw control character inside a string */
        EV_HEAD "\"type\":\"comment\",\"actor\":\"u\",\"post\":\"p\",\"text\":\"a\nb\"}",
        /* integer beyond int64 */
        EV_HEAD "\"type\":\"unfollow\",\"actor\":\"u\",\"n\":99999999999999999999}",
        /* trailing garbage */
        EV_HEAD "\"type\":\"unfollow\",\"actor\":\"u\"} x",
        EV_HEAD "\"type\":\"unfollow\",\"actor\":\"u\"}{}",
        EV_HEAD "\"type\":\"unfollow\",\"actor\":\"u\"},",
    };
    struct ew_event *ev = *state;
    struct ew_decode_error err;
    const char nul[] = "{\"id\":\"e\0\"}";
    char *deep;

    expect_each(ev, "", cases, NELEM(cases), "", EW_REJ_BAD_JSON);
    /* a raw NUL byte inside the buffer */
    assert_int_equal(dec_n(ev, nul, sizeof nul - 1, &lim, &err), EW_REJ_BAD_JSON);
    /* nesting deep enough to blow a naive recursive parser */
    deep = repeat('[', 60000);
    assert_int_equal(dec_n(ev, deep, 60000, &lim, &err), EW_REJ_BAD_JSON);
    free(deep);
}

static void test_reject_duplicate_key(void **state)
{
    struct ew_event *ev = *state;

    expect_reject(ev, EV_HEAD "\"type\":\"unfollow\",\"actor\":\"u\",\"actor\":\"v\"}",
                  EW_REJ_DUPLICATE_KEY, NULL);
    /* the same key spelled with an escape is still the same key */
    expect_reject(ev, EV_HEAD "\"type\":\"unfollow\",\"actor\":\"u\",\"\\u0061ccount\":\"b\"}",
                  EW_REJ_DUPLICATE_KEY, NULL);
    /* inside an unknown field too: jansson checks every object */
    expect_reject(ev, EV_HEAD "\"type\":\"unfollow\",\"actor\":\"u\",\"x\":{\"a\":1,\"a\":2}}",
                  EW_REJ_DUPLICATE_KEY, NULL);
}

static void test_reject_not_object(void **state)
{
    static const char *const cases[] = {"[]", "\"x\"", "1", "null", "true", "1.5", " [{}] "};
    struct ew_event *ev = *state;

    expect_each(ev, "", cases, NELEM(cases), "", EW_REJ_NOT_OBJECT);
    expect_reject(ev, "[]", EW_REJ_NOT_OBJECT, "event must be a JSON object (got an array)");
    expect_reject(ev, "\"x\"", EW_REJ_NOT_OBJECT, "event must be a JSON object (got string 'x')");
}

/* For each type, drop each required field in turn. */
static void test_reject_missing_field(void **state)
{
    static const struct {
        const char *type;
        const char *required[8];
    } types[] = {
        {"comment", {"id", "type", "ts", "account", "actor", "post", "text"}},
        {"like", {"id", "type", "ts", "account", "actor", "post"}},
        {"share", {"id", "type", "ts", "account", "actor", "post"}},
        {"follow", {"id", "type", "ts", "account", "actor"}},
        {"unfollow", {"id", "type", "ts", "account", "actor"}},
        {"post", {"id", "type", "ts", "account", "post"}},
        {"profile", {"id", "type", "ts", "account", "followers"}},
    };
    static const char *const all[][2] = {
        {"id", "\"e1\""},   {"type", NULL},    {"ts", "5"},       {"account", "\"a\""},
        {"actor", "\"u\""}, {"post", "\"p\""}, {"text", "\"t\""}, {"followers", "7"},
    };
    struct ew_event *ev = *state;
    struct ew_decode_error err;
    char json[512], want[160];
    size_t t, r, f;
    int n;

    for (t = 0; t < sizeof types / sizeof types[0]; t++) {
        for (r = 0; types[t].required[r]; r++) {
            const char *drop = types[t].required[r];

            n = snprintf(json, sizeof json, "{");
            for (f = 0; f < sizeof all / sizeof all[0]; f++) {
                const char *k = all[f][0], *v = all[f][1] ? all[f][1] : "";
                char typeval[32];

                if (strcmp(k, drop) == 0) continue;
                /* only the fields the type needs, so nothing else hides the gap */
                if (strcmp(k, "type") == 0) {
                    snprintf(typeval, sizeof typeval, "\"%s\"", types[t].type);
                    v = typeval;
                } else {
                    size_t q;
                    int needed = 0;

                    for (q = 0; types[t].required[q]; q++)
                        needed |= strcmp(types[t].required[q], k) == 0;
                    if (!needed) continue;
                }
                n += snprintf(json + n, sizeof json - (size_t)n, "%s\"%s\":%s",
                              json[n - 1] == '{' ? "" : ",", k, v);
            }
            snprintf(json + n, sizeof json - (size_t)n, "}");
            assert_int_equal(dec(ev, json, &err), EW_REJ_MISSING_FIELD);
            if (r < 4)
                snprintf(want, sizeof want, "missing field '%s'", drop);
            else
                snprintf(want, sizeof want, "missing field '%s' (required for type '%s')", drop,
                         types[t].type);
            assert_string_equal(err.msg, want);
        }
    }
    expect_reject(ev, EV_HEAD "\"type\":\"like\",\"post\":\"p\"}", EW_REJ_MISSING_FIELD,
                  "missing field 'actor' (required for type 'like')");
}

static void test_reject_wrong_type(void **state)
{
    static const char *const cases[] = {
        EV_HEAD "\"type\":5,\"actor\":\"u\"}",
        EV_HEAD "\"type\":null,\"actor\":\"u\"}",
        "{\"id\":5,\"type\":\"unfollow\",\"ts\":1,\"account\":\"a\",\"actor\":\"u\"}",
        "{\"id\":\"e\",\"type\":\"unfollow\",\"ts\":true,\"account\":\"a\",\"actor\":\"u\"}",
        "{\"id\":\"e\",\"type\":\"unfollow\",\"ts\":[],\"account\":\"a\",\"actor\":\"u\"}",
        "{\"id\":\"e\",\"type\":\"unfollow\",\"ts\":1.0,\"account\":\"a\",\"actor\":\"u\"}",
        /* null is wrong_type for a required field */
        "{\"id\":\"e\",\"type\":\"unfollow\",\"ts\":1,\"account\":null,\"actor\":\"u\"}",
        EV_HEAD "\"type\":\"unfollow\",\"actor\":{}}",
        EV_HEAD "\"type\":\"comment\",\"actor\":\"u\",\"post\":\"p\",\"text\":5}",
        EV_HEAD "\"type\":\"profile\",\"followers\":\"12\"}",
        EV_HEAD "\"type\":\"profile\",\"followers\":12.0}",
        EV_HEAD "\"type\":\"unfollow\",\"actor\":\"u\",\"actor_created\":false}",
        /* a field the type does not use is still type-checked */
        EV_HEAD "\"type\":\"follow\",\"actor\":\"u\",\"post\":7}",
        EV_HEAD "\"type\":\"like\",\"actor\":\"u\",\"post\":\"p\",\"followers\":\"many\"}",
        EV_HEAD "\"type\":\"post\",\"post\":\"p\",\"text\":[\"a\"]}",
    };
    struct ew_event *ev = *state;

    expect_each(ev, "", cases, NELEM(cases), "", EW_REJ_WRONG_TYPE);
    expect_reject(ev,
                  "{\"id\":\"e\",\"type\":\"post\",\"ts\":1.5e12,\"account\":\"a\",\"post\":\"p\"}",
                  EW_REJ_WRONG_TYPE,
                  "field 'ts' must be epoch ms (integer) or an RFC 3339 string (got real 1.5e+12)");
    expect_reject(ev, EV_HEAD "\"type\":\"profile\",\"followers\":\"12\"}", EW_REJ_WRONG_TYPE,
                  "field 'followers' must be an integer >= 0 (got string '12')");
    expect_reject(ev, EV_HEAD "\"type\":\"follow\",\"actor\":\"u\",\"post\":7}", EW_REJ_WRONG_TYPE,
                  "field 'post' must be a string (got integer 7)");
}

static void test_reject_unknown_type(void **state)
{
    static const char *const cases[] = {"retweet", "Like", "", "like ", "LIKE", "comments"};
    struct ew_event *ev = *state;

    expect_each(ev, EV_HEAD "\"type\":\"", cases, NELEM(cases),
                "\",\"actor\":\"u\",\"post\":\"p\"}", EW_REJ_UNKNOWN_TYPE);
    expect_reject(ev, EV_HEAD "\"type\":\"retweet\",\"actor\":\"u\"}", EW_REJ_UNKNOWN_TYPE,
                  "unknown type 'retweet'");
}

static void test_reject_bad_timestamp(void **state)
{
    static const char *const cases[] = {
        "-1",
        "253402300800000",
        "-9223372036854775808",
        "\"1714564800000\"",
        "\"yesterday\"",
        "\"2024-13-01T00:00:00Z\"",
        "\"2023-02-29T00:00:00Z\"",
        "\"1969-12-31T23:59:59.999Z\"",
        "\"0000-01-01T00:00:00Z\"",
        "\"9999-12-31T23:59:59-01:00\"",
        "\"\"",
    };
    struct ew_event *ev = *state;

    expect_each(ev,
                "{\"id\":\"e\",\"type\":\"post\",\"account\":\"a\",\"post\":\"p\",\"ts\":", cases,
                NELEM(cases), "}", EW_REJ_BAD_TIMESTAMP);
    /* actor_created follows the same rules */
    expect_each(ev, EV_HEAD "\"type\":\"post\",\"post\":\"p\",\"actor_created\":", cases,
                NELEM(cases), "}", EW_REJ_BAD_TIMESTAMP);
    expect_reject(ev,
                  "{\"id\":\"e\",\"type\":\"post\",\"ts\":\"2024-13-01T00:00:00Z\","
                  "\"account\":\"a\",\"post\":\"p\"}",
                  EW_REJ_BAD_TIMESTAMP, "bad timestamp '2024-13-01T00:00:00Z' (field 'ts')");
    expect_reject(ev, "{\"id\":\"e\",\"type\":\"post\",\"ts\":-5,\"account\":\"a\",\"post\":\"p\"}",
                  EW_REJ_BAD_TIMESTAMP, "bad timestamp -5 (field 'ts'): outside years 1970..9999");
}

static void test_reject_empty_field(void **state)
{
    static const char *const cases[] = {
        "{\"id\":\"\",\"type\":\"like\",\"ts\":1,\"account\":\"a\",\"actor\":\"u\",\"post\":\"p\"}",
        "{\"id\":\"e\",\"type\":\"like\",\"ts\":1,\"account\":\"\",\"actor\":\"u\",\"post\":\"p\"}",
        "{\"id\":\"e\",\"type\":\"like\",\"ts\":1,\"account\":\"a\",\"actor\":\"\",\"post\":\"p\"}",
        "{\"id\":\"e\",\"type\":\"like\",\"ts\":1,\"account\":\"a\",\"actor\":\"u\",\"post\":\"\"}",
    };
    struct ew_event *ev = *state;

    expect_each(ev, "", cases, NELEM(cases), "", EW_REJ_EMPTY_FIELD);
    expect_reject(ev, cases[2], EW_REJ_EMPTY_FIELD, "field 'actor' is empty");
}

static void test_reject_negative_followers(void **state)
{
    struct ew_event *ev = *state;

    expect_reject(ev, EV_HEAD "\"type\":\"profile\",\"followers\":-3}", EW_REJ_NEGATIVE_FOLLOWERS,
                  "field 'followers' must be an integer >= 0 (got -3)");
    expect_reject(ev, EV_HEAD "\"type\":\"profile\",\"followers\":-1}", EW_REJ_NEGATIVE_FOLLOWERS,
                  NULL);
    expect_ok(ev, EV_HEAD "\"type\":\"profile\",\"followers\":0}");
    assert_int_equal(ev->followers, 0);
    expect_ok(ev, EV_HEAD "\"type\":\"profile\",\"followers\":9223372036854775807}");
    assert_true(ev->followers == INT64_MAX);
}

/* ---- sizes ------------------------------------------------------------------------------- */

static void check_field_bound(struct ew_event *ev, const char *type, const char *field, size_t max)
{
    struct ew_decode_error err;
    char want[160];
    char *json;

    json = event_with(type, field, max);
    assert_int_equal(dec(ev, json, &err), EW_REJ_NONE);
    free(json);
    json = event_with(type, field, max + 1);
    assert_int_equal(dec(ev, json, &err), EW_REJ_OVERSIZE_FIELD);
    snprintf(want, sizeof want, "field '%s' is %zu bytes (max %zu)", field, max + 1, max);
    assert_string_equal(err.msg, want);
    free(json);
}

static void test_size_bounds(void **state)
{
    struct ew_event *ev = *state;

    check_field_bound(ev, "like", "id", 256);
    check_field_bound(ev, "like", "account", 256);
    check_field_bound(ev, "like", "actor", 256);
    check_field_bound(ev, "like", "post", 256);
    check_field_bound(ev, "comment", "text", 8192);
    /* text is not a comment's field on a like: not size-checked, not stored */
    {
        char *json = event_with("like", "text", 9000);

        expect_ok(ev, json);
        assert_null(ev->text.ptr);
        free(json);
    }
}

static void test_size_message(void **state)
{
    struct ew_event *ev = *state;
    struct ew_decode_error err;
    char *json;
    size_t base;

    json = event_with("like", "pad", 0);
    base = strlen(json);
    free(json);
    json = event_with("like", "pad", lim.max_message - base);
    assert_int_equal(strlen(json), lim.max_message);
    assert_int_equal(dec(ev, json, &err), EW_REJ_NONE);
    free(json);
    json = event_with("like", "pad", lim.max_message - base + 1);
    assert_int_equal(dec(ev, json, &err), EW_REJ_OVERSIZE_MESSAGE);
    assert_string_equal(err.msg, "message is 65537 bytes (max 65536)");
    free(json);
}

/* ---- text ------------------------------------------------------------------------------- */

static void test_text_roundtrip(void **state)
{
    /* as written in the JSON, then as decoded */
    static const char *const texts[][2] = {
        {"这个视频太棒了！支持一下", "这个视频太棒了！支持一下"},
        {"哈哈哈哈哈哈 666", "哈哈哈哈哈哈 666"},
        {"👍👍👍 😂🔥 🇨🇳 👨‍👩‍👧",
         "👍👍👍 😂🔥 🇨🇳 👨‍👩‍👧"},
        {"mixed 中文 and emoji 🎉 in one", "mixed 中文 and emoji 🎉 in one"},
        {"tab\\tnewline\\n quote\\\" backslash\\\\", "tab\tnewline\n quote\" backslash\\"},
        {"\\u4e2d\\u6587 \\ud83d\\ude02", "中文 😂"},
    };
    struct ew_event *ev = *state;
    char json[512];
    size_t i;

    for (i = 0; i < NELEM(texts); i++) {
        snprintf(json, sizeof json,
                 EV_HEAD
                 "\"type\":\"comment\",\"actor\":\"用户_一\",\"post\":\"p\",\"text\":\"%s\"}",
                 texts[i][0]);
        expect_ok(ev, json);
        assert_str(ev->text, texts[i][1]);
        assert_str(ev->actor, "用户_一");
    }
}

static void test_empty_comment_text(void **state)
{
    struct ew_event *ev = *state;

    expect_ok(ev, EV_HEAD "\"type\":\"comment\",\"actor\":\"u\",\"post\":\"p\",\"text\":\"\"}");
    assert_non_null(ev->text.ptr);
    assert_int_equal(ev->text.len, 0);
}

/* ---- timestamps -------------------------------------------------------------------------- */

static void test_rfc3339_valid(void **state)
{
    static const struct {
        const char *s;
        int64_t ms;
    } cases[] = {
        {"2024-05-01T12:00:00Z", 1714564800000},
        {"2024-05-01t12:00:00z", 1714564800000},
        {"2024-05-01 12:00:00Z", 1714564800000},
        {"2024-05-01T12:00:00+00:00", 1714564800000},
        {"2024-05-01T12:00:00-00:00", 1714564800000},
        {"2024-05-01T20:00:00+08:00", 1714564800000},
        {"2024-05-01T20:00:00.123+08:00", 1714564800123},
        {"2024-05-01T12:00:00.123456+08:00", 1714536000123},
        {"2024-05-01T12:00:00-05:30", 1714584600000},
        {"2024-01-01T00:30:00+14:00", 1704018600000},
        {"2024-02-29T00:00:00Z", 1709164800000},
        {"2000-02-29T23:59:59.999Z", 951868799999},
        {"2100-03-01T00:00:00Z", 4107542400000},
        {"2024-12-31T23:59:59Z", 1735689599000},
        {"1970-01-01T00:00:00Z", 0},
        {"9999-12-31T23:59:59.999Z", 253402300799999},
        {"2024-05-01T12:00:00.999999999Z", 1714564800999}, /* truncated, not rounded */
        {"2024-05-01T12:00:00.000000000000000000000000000001Z", 1714564800000},
        /* a leap second reads as the last millisecond of that minute */
        {"2016-12-31T23:59:60Z", 1483228799999},
        {"1969-12-31T23:59:59.999Z", -1}, /* parses; the decoder applies the range */
    };
    struct ew_event *ev = *state;
    char json[256];
    int64_t ms;
    size_t i;

    for (i = 0; i < NELEM(cases); i++) {
        ms = 42;
        if (ew_parse_rfc3339(cases[i].s, strlen(cases[i].s), &ms) != 0)
            fail_msg("rejected %s", cases[i].s);
        if (ms != cases[i].ms)
            fail_msg("%s: got %lld want %lld", cases[i].s, (long long)ms, (long long)cases[i].ms);
        if (cases[i].ms < 0) continue;
        snprintf(json, sizeof json,
                 "{\"id\":\"e\",\"type\":\"post\",\"ts\":\"%s\",\"account\":\"a\",\"post\":\"p\"}",
                 cases[i].s);
        expect_ok(ev, json);
        assert_int_equal(ev->ts_ms, cases[i].ms);
    }
}

static void test_rfc3339_fraction_digits(void **state)
{
    static const int64_t want[10] = {0, 100, 120, 123, 123, 123, 123, 123, 123, 123};
    char s[64];
    int64_t ms;
    int n;

    (void)state;
    for (n = 1; n <= 9; n++) {
        snprintf(s, sizeof s, "2024-05-01T12:00:00.%.*sZ", n, "123456789");
        assert_int_equal(ew_parse_rfc3339(s, strlen(s), &ms), 0);
        assert_int_equal(ms, 1714564800000 + want[n]);
    }
}

static void test_rfc3339_invalid(void **state)
{
    static const char *const cases[] = {
        "2023-02-29T00:00:00Z", /* not a leap year */
        "1900-02-29T00:00:00Z", /* century, not a leap year */
        "2024-02-30T00:00:00Z",
        "2024-04-31T00:00:00Z",
        "2024-13-01T00:00:00Z",
        "2024-00-10T00:00:00Z",
        "2024-05-00T00:00:00Z",
        "2024-05-01T24:00:00Z",
        "2024-05-01T12:60:00Z",
        "2024-05-01T12:00:61Z",
        "2024-05-01T12:00:00",
        "2024-05-01T12:00:00.Z",
        "2024-05-01T12:00:00.5",
        "2024-05-01T12:00:00+0800",
        "2024-05-01T12:00:00+08",
        "2024-05-01T12:00:00+24:00",
        "2024-05-01T12:00:00+08:60",
        "2024-05-01T12:00:00+08:00 ",
        "2024-05-01T12:00:00ZZ",
        " 2024-05-01T12:00:00Z",
        "2024-05-01",
        "2024-5-01T12:00:00Z",
        "2024-05-01X12:00:00Z",
        "2024/05/01T12:00:00Z",
        "+2024-05-01T12:00:00Z",
        "2024-05-01T12:00:00,5Z",
        "2024-05-01T1a:00:00Z",
        "",
    };
    const char *ok = "2024-05-01T12:00:00Z";
    int64_t ms;
    size_t i;

    (void)state;
    for (i = 0; i < NELEM(cases); i++)
        if (ew_parse_rfc3339(cases[i], strlen(cases[i]), &ms) == 0)
            fail_msg("accepted %s", cases[i]);
    /* len is honoured: a valid string cut short is not read past its length */
    for (i = 0; i < strlen(ok); i++)
        assert_int_equal(ew_parse_rfc3339(ok, i, &ms), -1);
    assert_int_equal(ew_parse_rfc3339(NULL, 20, &ms), -1);
}

static void test_integer_ts(void **state)
{
    struct ew_event *ev = *state;

    expect_ok(ev, "{\"id\":\"e\",\"type\":\"post\",\"ts\":0,\"account\":\"a\",\"post\":\"p\"}");
    assert_int_equal(ev->ts_ms, 0);
    expect_ok(ev, "{\"id\":\"e\",\"type\":\"post\",\"ts\":253402300799999,\"account\":\"a\","
                  "\"post\":\"p\"}");
    assert_int_equal(ev->ts_ms, 253402300799999);
    expect_ok(ev, "{\"id\":\"e\",\"type\":\"post\",\"ts\":1714564800123,\"account\":\"a\","
                  "\"post\":\"p\"}");
    assert_int_equal(ev->ts_ms, 1714564800123);
}

/* ---- tolerance and robustness ------------------------------------------------------------ */

static void test_unknown_fields_ignored(void **state)
{
    struct ew_event *ev = *state;

    expect_ok(ev, "{\"client\":\"ios\",\"id\":\"e\",\"geo\":{\"lat\":1.5,\"tags\":[1,\"x\",null,"
                  "{\"deep\":[]}]},\"type\":\"post\",\"ts\":1,\"account\":\"a\",\"post\":\"p\","
                  "\"weird\":1e300,\"flag\":true,\"nothing\":null}");
    assert_int_equal(ev->type, EW_EV_POST);
    assert_str(ev->post, "p");
    /* known fields that a type does not use: type-checked only, never stored */
    expect_ok(ev, "{\"id\":\"e\",\"type\":\"post\",\"ts\":1,\"account\":\"a\",\"post\":\"p\","
                  "\"actor\":\"\",\"text\":\"t\",\"followers\":-5}");
    assert_null(ev->actor.ptr);
    assert_null(ev->text.ptr);
    assert_int_equal(ev->followers, -1);
    /* null means absent when the field is not required */
    expect_ok(ev, EV_HEAD "\"type\":\"follow\",\"actor\":\"u\",\"post\":null,"
                          "\"actor_created\":null}");
    assert_null(ev->post.ptr);
    assert_true(ev->actor_created_ms == INT64_MIN);
    /* whitespace around the object is fine */
    expect_ok(ev, " \t\r\n" EV_HEAD "\"type\":\"unfollow\",\"actor\":\"u\"}\r\n");
}

static void test_len_is_honoured(void **state)
{
    struct ew_event *ev = *state;
    struct ew_decode_error err;
    const char *buf = EV_HEAD "\"type\":\"unfollow\",\"actor\":\"u\"}GARBAGE";

    assert_int_equal(dec_n(ev, buf, strlen(buf) - 7, &lim, &err), EW_REJ_NONE);
    assert_int_equal(dec_n(ev, buf, strlen(buf) - 8, &lim, &err), EW_REJ_BAD_JSON);
}

static void test_null_args(void **state)
{
    struct ew_event *ev = *state;
    const char *json = EV_HEAD "\"type\":\"unfollow\",\"actor\":\"u\"}";
    struct ew_decode_error err;

    /* NULL limits mean the defaults, NULL err is allowed */
    assert_int_equal(ew_event_decode(ev, json, strlen(json), NULL, NULL), 0);
    assert_str(ev->actor, "u");
    assert_int_equal(ew_event_decode(ev, "[]", 2, NULL, NULL), -1);
    assert_int_equal(ew_event_decode(ev, NULL, 0, &lim, &err), -1);
    assert_int_equal(err.reason, EW_REJ_BAD_JSON);
    assert_int_equal(ew_event_decode(NULL, json, strlen(json), &lim, &err), -1);
    ew_event_clear(ev);
    ew_event_clear(ev);
    ew_event_clear(NULL);
}

static void test_message_excerpt_is_safe(void **state)
{
    struct ew_event *ev = *state;
    struct ew_decode_error err;
    char json[1024];
    char *longval = repeat('z', 300);

    snprintf(json, sizeof json,
             EV_HEAD "\"type\":\"\\u001b[31m中文中文中文中文中文中文中文中文%s\",\"actor\":\"u\"}",
             longval);
    free(longval);
    assert_int_equal(dec(ev, json, &err), EW_REJ_UNKNOWN_TYPE);
    assert_non_null(strstr(err.msg, "..."));
    assert_non_null(strstr(err.msg, "?[31m中文"));
    assert_true(strlen(err.msg) < 100);
}

static void test_reuse_many(void **state)
{
    struct ew_event *ev = *state;
    struct ew_decode_error err;
    char json[256];
    int i;

    for (i = 0; i < 20000; i++) {
        snprintf(json, sizeof json,
                 "{\"id\":\"e%d\",\"type\":\"comment\",\"ts\":%d,\"account\":\"a%d\","
                 "\"actor\":\"u\",\"post\":\"p\",\"text\":\"评论 %d\"}",
                 i, i, i % 7, i);
        if (i % 3 == 2) json[strlen(json) - 1] = ','; /* broken */
        if (i % 3 == 2) {
            assert_int_equal(dec(ev, json, &err), EW_REJ_BAD_JSON);
            assert_null(ev->text.ptr);
            continue;
        }
        assert_int_equal(dec(ev, json, &err), EW_REJ_NONE);
        assert_int_equal(ev->ts_ms, i);
        assert_int_equal(ev->id.len, (size_t)snprintf(NULL, 0, "e%d", i));
    }
}

/* Cheap in-test fuzzing (the real fuzzer is libFuzzer): mutate a valid event and check only
 * the contract: no crash, 0 or -1 with a reason. */
static void test_mutations(void **state)
{
    struct ew_event *ev = *state;
    struct ew_decode_error err;
    const char *seed =
        EV_HEAD "\"type\":\"comment\",\"actor\":\"u1\",\"post\":\"p1\","
                "\"text\":\"好 👍\",\"actor_created\":\"2024-05-01T12:00:00.5+08:00\"}";
    size_t n = strlen(seed), len;
    char buf[256];
    uint32_t x = 2463534242u;
    int i, k, flips;

    for (i = 0; i < 50000; i++) {
        memcpy(buf, seed, n);
        len = n;
        flips = 1 + (int)(x % 4);
        for (k = 0; k < flips; k++) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            buf[x % n] = (char)(x >> 8);
        }
        if (x & 0x10000) len = (x >> 3) % (n + 1);
        (void)dec_n(ev, buf, len, &lim, &err);
    }
}

/* ---- strictness of the lexing (jscan) ---------------------------------------------------- */

/* An unfollow event with `extra` spliced in before its closing brace. */
#define UNF(extra) EV_HEAD "\"type\":\"unfollow\",\"actor\":\"u\"" extra "}"
/* A comment event whose text is `t` as written in the JSON. */
#define CMT(t) EV_HEAD "\"type\":\"comment\",\"actor\":\"u\",\"post\":\"p\",\"text\":\"" t "\"}"

static void test_strict_utf8(void **state)
{
    static const char *const cases[] = {
        CMT("\xe0\x80\xaf"),                      /* overlong 3-byte '/' */
        CMT("\xf0\x80\x80\xaf"),                  /* overlong 4-byte '/' */
        CMT("\xc1\xbf"),                          /* overlong 2-byte */
        CMT("\xed\xbf\xbf"),                      /* raw low surrogate */
        CMT("\xf5\x80\x80\x80"),                  /* lead byte beyond U+10FFFF */
        CMT("a\xe4\xb8"),                         /* truncated before the closing quote */
        UNF(",\"x\":\"\xc0\xaf\""),               /* in an unknown value */
        UNF(",\"x\":[{\"y\":\"\xed\xa0\x80\"}]"), /* raw surrogate deep in an unknown value */
        UNF(",\"\xed\xa0\x80\":1"),               /* raw surrogate in a key */
        UNF(",\"x\":1\xff"),                      /* outside any string */
        UNF(",\"x\":tru\xff"),                    /* in a broken literal */
        UNF("") "\xe4",                           /* truncated sequence after the object */
        "\xff",
    };
    struct ew_event *ev = *state;
    struct ew_decode_error err;

    expect_each(ev, "", cases, NELEM(cases), "", EW_REJ_INVALID_UTF8);
    assert_int_equal(dec(ev, CMT("ok\xed\xa0\x80"), &err), EW_REJ_INVALID_UTF8);
    assert_non_null(strstr(err.msg, "invalid UTF-8 at byte "));
    /* the edges of the valid range decode */
    expect_ok(ev, CMT("\xef\xbf\xbf \xf4\x8f\xbf\xbf \xee\x80\x80 \xc2\x80\xdf\xbf"));
    assert_str(ev->text, "\xef\xbf\xbf \xf4\x8f\xbf\xbf \xee\x80\x80 \xc2\x80\xdf\xbf");
}

static void test_strict_escapes(void **state)
{
    static const char *const cases[] = {
        CMT("\\ud800"),
        CMT("\\udc00"),
        CMT("\\ud800\\u0041"),
        CMT("\\udc00\\ud800"),
        CMT("\\ud83d"),
        CMT("x\\ud83d\\n"),
        CMT("\\u12"),
        CMT("\\x41"),
        CMT("\\U0041"),
        CMT("\\u0000"),
        CMT("a\\u0000"),
        UNF(",\"x\":\"\\u0000\""),
        UNF(",\"x\":[\"\\ud800\"]"),
        UNF(",\"k\\u0000\":1"),
        UNF(",\"\\udfff\":1"),
        UNF(",\"x\":{\"\\u0000\":1}"),
    };
    struct ew_event *ev = *state;

    expect_each(ev, "", cases, NELEM(cases), "", EW_REJ_BAD_JSON);
    /* a proper pair, any case of hex digits, and every short escape */
    expect_ok(ev, CMT("\\uD83D\\uDE02\\u00e9\\u00E9\\/\\b\\f\\r"));
    assert_str(ev->text, "\xf0\x9f\x98\x82\xc3\xa9\xc3\xa9/\b\f\r");
}

static void test_strict_duplicates(void **state)
{
    static const char *const cases[] = {
        /* a known key spelled with an escape */
        "{\"id\":\"e\",\"i\\u0064\":\"f\",\"type\":\"post\",\"ts\":1,\"account\":\"a\",\"post\":"
        "\"p\"}",
        "{\"\\u0069\\u0064\":\"e\",\"id\":\"f\",\"type\":\"post\",\"ts\":1,\"account\":\"a\","
        "\"post\":\"p\"}",
        /* an unknown key, plain and escaped */
        UNF(",\"x\":1,\"x\":2"),
        UNF(",\"x\":1,\"\\u0078\":2"),
        UNF(",\"\\u4e2d\":1,\"\xe4\xb8\xad\":2"),
        /* inside nested unknown values */
        UNF(",\"x\":[{},{\"a\":1,\"b\":{\"c\":[]},\"a\":3}]"),
        UNF(",\"x\":{\"y\":{\"z\":1,\"z\":1}}"),
        /* the duplicate comes first: the later syntax error is not reached */
        UNF(",\"x\":1,\"x\"}"),
    };
    struct ew_event *ev = *state;
    struct ew_decode_error err;

    expect_each(ev, "", cases, NELEM(cases), "", EW_REJ_DUPLICATE_KEY);
    assert_int_equal(dec(ev, cases[0], &err), EW_REJ_DUPLICATE_KEY);
    assert_non_null(strstr(err.msg, "'id'"));
    /* the same key in different objects, and keys that only look alike, are fine */
    expect_ok(ev, UNF(",\"x\":{\"a\":1,\"b\":{\"a\":2}},\"y\":[{\"a\":1},{\"a\":2}],\"a\":0"));
    expect_ok(ev, UNF(",\"x\":1,\"X\":2,\"x \":3,\"\\u0078\\u0078\":4,\"\":5"));
}

/* One object with n distinct unknown keys (k0, k1, ...), then `tail`; caller frees. */
static char *many_keys(size_t n, const char *tail)
{
    size_t cap = n * 16 + 256, i;
    char *out = malloc(cap);
    int len;

    assert_non_null(out);
    len = snprintf(out, cap, EV_HEAD "\"type\":\"unfollow\",\"actor\":\"u\"");
    for (i = 0; i < n; i++)
        len += snprintf(out + len, cap - (size_t)len, ",\"k%zu\":%zu", i, i);
    snprintf(out + len, cap - (size_t)len, "%s}", tail);
    return out;
}

static void test_strict_many_keys(void **state)
{
    struct ew_event *ev = *state;
    struct ew_decode_error err;
    char *json;

    json = many_keys(5000, "");
    expect_ok(ev, json);
    assert_str(ev->actor, "u");
    free(json);
    json = many_keys(5000, ",\"k17\":0");
    assert_int_equal(dec(ev, json, &err), EW_REJ_DUPLICATE_KEY);
    free(json);
    json = many_keys(5000, ",\"k4999\":0");
    assert_int_equal(dec(ev, json, &err), EW_REJ_DUPLICATE_KEY);
    free(json);
}

static void test_strict_nul_byte(void **state)
{
    /* jansson used to accept the first two: the rest of the message after the NUL was read
     * as if it were not there. */
    static const char ts_nul[] = "{\"id\":\"e\",\"type\":\"post\",\"ts\":1\0,\"account\":\"a\","
                                 "\"post\":\"p\"}";
    static const char lit_nul[] = "{\"id\":\"e\",\"type\":\"post\",\"ts\":1,\"account\":\"a\","
                                  "\"post\":\"p\",\"x\":true\0}";
    static const char ws_nul[] = "{\"id\":\"e\",\"type\":\"post\",\"ts\":1,\"account\":\"a\","
                                 "\"post\":\"p\" \0}";
    static const char trailing_nul[] = "{\"id\":\"e\",\"type\":\"post\",\"ts\":1,\"account\":\"a\","
                                       "\"post\":\"p\"}\0";
    static const char text_nul[] = "{\"id\":\"e\",\"type\":\"comment\",\"ts\":1,\"account\":\"a\","
                                   "\"actor\":\"u\",\"post\":\"p\",\"text\":\"a\0b\"}";
    const char *const cases[] = {ts_nul, lit_nul, ws_nul, trailing_nul, text_nul};
    const size_t lens[] = {sizeof ts_nul - 1, sizeof lit_nul - 1, sizeof ws_nul - 1,
                           sizeof trailing_nul - 1, sizeof text_nul - 1};
    struct ew_event *ev = *state;
    struct ew_decode_error err;
    size_t i;

    for (i = 0; i < NELEM(cases); i++) {
        if (dec_n(ev, cases[i], lens[i], &lim, &err) != EW_REJ_BAD_JSON)
            fail_msg("case %zu: got %s (%s)", i, ew_reject_name(err.reason), err.msg);
    }
    assert_int_equal(dec_n(ev, ts_nul, sizeof ts_nul - 1, &lim, &err), EW_REJ_BAD_JSON);
    assert_string_equal(
        err.msg,
        "bad JSON at line 1 column 31: expected ',' or '}' near '?,\"account\":\"a\",...'");
}

/* {"x": n nested arrays or objects }, spliced into a valid event; caller frees. */
static char *nested(size_t n, int objects)
{
    size_t cap = n * 6 + 256, i;
    char *out = malloc(cap);
    int len;

    assert_non_null(out);
    len = snprintf(out, cap, EV_HEAD "\"type\":\"unfollow\",\"actor\":\"u\",\"x\":");
    for (i = 0; i < n; i++)
        len += snprintf(out + len, cap - (size_t)len, objects ? "{\"a\":" : "[");
    len += snprintf(out + len, cap - (size_t)len, objects ? "1" : "");
    for (i = 0; i < n; i++)
        len += snprintf(out + len, cap - (size_t)len, objects ? "}" : "]");
    snprintf(out + len, cap - (size_t)len, "}");
    return out;
}

static void test_strict_nesting(void **state)
{
    struct ew_event *ev = *state;
    struct ew_decode_error err;
    char *json;

    /* jansson's limit, counted its way: the event is at depth 1, x's value at 2, and every
     * value (scalars too) at most at 2048 */
    json = nested(2047, 0);
    expect_ok(ev, json);
    free(json);
    json = nested(2048, 0);
    assert_int_equal(dec(ev, json, &err), EW_REJ_BAD_JSON);
    assert_non_null(strstr(err.msg, "maximum nesting depth"));
    free(json);
    json = nested(2046, 1);
    expect_ok(ev, json);
    free(json);
    json = nested(2047, 1);
    assert_int_equal(dec(ev, json, &err), EW_REJ_BAD_JSON);
    free(json);
    json = nested(20000, 0);
    assert_int_equal(dec(ev, json, &err), EW_REJ_BAD_JSON);
    free(json);
}

static void test_strict_numbers(void **state)
{
    static const char *const wrong[] = {
        "1e3", "3.0", "1714564800000.0", "1.7145648e12", "-0.0", "1E3", "0e0",
    };
    static const char *const bad[] = {
        "9223372036854775808",
        "-9223372036854775809",
        "18446744073709551616",
        "1e400",
        "-1e400",
        "01",
        "1.",
        ".5",
        "+1",
        "1e",
        "-",
        "0x10",
        "Infinity",
        "NaN",
    };
    struct ew_event *ev = *state;
    struct ew_decode_error err;

    expect_each(ev,
                "{\"id\":\"e\",\"type\":\"post\",\"account\":\"a\",\"post\":\"p\",\"ts\":", wrong,
                NELEM(wrong), "}", EW_REJ_WRONG_TYPE);
    expect_each(ev, "{\"id\":\"e\",\"type\":\"post\",\"account\":\"a\",\"post\":\"p\",\"ts\":", bad,
                NELEM(bad), "}", EW_REJ_BAD_JSON);
    /* also in a value nobody reads */
    expect_each(ev, UNF(",\"x\":[0,"), bad, NELEM(bad), "]", EW_REJ_BAD_JSON);
    expect_reject(ev,
                  "{\"id\":\"e\",\"type\":\"post\",\"ts\":1e3,\"account\":\"a\",\"post\":\"p\"}",
                  EW_REJ_WRONG_TYPE,
                  "field 'ts' must be epoch ms (integer) or an RFC 3339 string (got real 1000)");
    expect_reject(ev, EV_HEAD "\"type\":\"profile\",\"followers\":3.0}", EW_REJ_WRONG_TYPE,
                  "field 'followers' must be an integer >= 0 (got real 3)");
    /* the int64 range is exact */
    expect_ok(ev, EV_HEAD "\"type\":\"profile\",\"followers\":9223372036854775807}");
    assert_true(ev->followers == INT64_MAX);
    expect_reject(ev, EV_HEAD "\"type\":\"profile\",\"followers\":-9223372036854775808}",
                  EW_REJ_NEGATIVE_FOLLOWERS,
                  "field 'followers' must be an integer >= 0 (got -9223372036854775808)");
    expect_reject(ev, EV_HEAD "\"type\":\"profile\",\"followers\":-0}", EW_REJ_NONE, NULL);
    assert_int_equal(ev->followers, 0);
    assert_int_equal(
        dec(ev, EV_HEAD "\"type\":\"profile\",\"followers\":9223372036854775808}", &err),
        EW_REJ_BAD_JSON);
    assert_non_null(strstr(err.msg, "integer out of range"));
    /* reals: anything a double holds is fine where nobody reads it */
    expect_ok(ev, UNF(",\"x\":[1.7976931348623157e308,-1.7976931348623158e308,1e-400,"
                      "0e999999999999,123456789012345678901234567890.5,4.9e-324]"));
    assert_int_equal(dec(ev, UNF(",\"x\":1.7976931348623159e308"), &err), EW_REJ_BAD_JSON);
    /* where a double ends: 2^1024 - 2^970 rounds up to infinity, anything below it to
     * DBL_MAX (also with a tail longer than the 800 digits the conversion keeps) */
    {
        static const char half[] =
            "17976931348623158079372897140530341507993413271003782693617377898044496829276475"
            "09466490179775872070963302864166928879109465555478519404026306574886715058206819"
            "08902000708383676273854845817711531764475730270069855571366959622842914819860834"
            "936475292719074168444365510704342711559699508093042880177904174497792";
        char json[2048], less[sizeof half];
        struct {
            const char *digits, *frac;
            size_t zeros, nines;
            enum ew_reject want;
        } reals[] = {
            {half, "0", 0, 0, EW_REJ_BAD_JSON},
            {less, "0", 0, 0, EW_REJ_NONE},
            {less, "", 0, 900, EW_REJ_NONE},
            {half, "1", 900, 0, EW_REJ_BAD_JSON},
        };
        size_t i;
        int n;

        memcpy(less, half, sizeof half);
        less[sizeof half - 2]--; /* ...792 -> ...791 */
        for (i = 0; i < NELEM(reals); i++) {
            n = snprintf(json, sizeof json,
                         EV_HEAD "\"type\":\"unfollow\",\"actor\":\"u\",\"x\":%s.",
                         reals[i].digits);
            memset(json + n, '0', reals[i].zeros);
            n += (int)reals[i].zeros;
            memset(json + n, '9', reals[i].nines);
            n += (int)reals[i].nines;
            snprintf(json + n, sizeof json - (size_t)n, "%s}", reals[i].frac);
            if (dec(ev, json, &err) != reals[i].want)
                fail_msg("real %zu: got %s (%s)", i, ew_reject_name(err.reason), err.msg);
        }
    }
}

static void test_strings_outlive_input(void **state)
{
    struct ew_event *ev = *state;
    struct ew_decode_error err;
    char buf[256];
    int n;

    n = snprintf(buf, sizeof buf, "%s", CMT("caf\\u00e9 ok"));
    assert_int_equal(ew_event_decode(ev, buf, (size_t)n, &lim, &err), 0);
    memset(buf, 'X', sizeof buf); /* the input is gone: the event must not care */
    assert_str(ev->id, "e1");
    assert_str(ev->account, "acc");
    assert_str(ev->actor, "u");
    assert_str(ev->post, "p");
    assert_str(ev->text, "caf\xc3\xa9 ok");
}

static void test_bad_json_messages(void **state)
{
    struct ew_event *ev = *state;

    expect_reject(ev, "{\"id\":}", EW_REJ_BAD_JSON,
                  "bad JSON at line 1 column 7: expected a value near '}'");
    expect_reject(ev, "{\"id\":\"e\"", EW_REJ_BAD_JSON,
                  "bad JSON at line 1 column 10: expected ',' or '}' at end of input");
    expect_reject(ev, "{\n  \"id\": \"e\",\n  \"x\": \"\\ud800\"\n}", EW_REJ_BAD_JSON,
                  "bad JSON at line 3 column 9: lone surrogate escape near '\\ud800\"?}'");
    expect_reject(ev, "{\"id\":\"中文\",\"x\":\"a\\u0000\"}", EW_REJ_BAD_JSON,
                  "bad JSON at line 1 column 18: \\u0000 is not allowed near '\\u0000\"}'");
    expect_reject(ev, "{\"id\":\"e\",\"id\":\"f\"}", EW_REJ_DUPLICATE_KEY,
                  "duplicate key at line 1 column 11: 'id'");
    expect_reject(ev, "{\"id\":\"\xc0\xaf\"}", EW_REJ_INVALID_UTF8,
                  "invalid UTF-8 at byte 7: unable to decode byte 0xc0");
    expect_reject(ev, "1.5", EW_REJ_NOT_OBJECT, "event must be a JSON object (got real 1.5)");
    /* raw input quoted near an error is made safe, overlong forms included */
    expect_reject(ev, "{\"id\",\xe0\x9e\x9c\"}", EW_REJ_BAD_JSON,
                  "bad JSON at line 1 column 6: expected ':' near ',???\"}'");
    expect_reject(ev, "{\"id\",\x1b[31m\xed\xa0\x80}", EW_REJ_BAD_JSON,
                  "bad JSON at line 1 column 6: expected ':' near ',?[31m???}'");
    expect_reject(ev, "[1,{\"a\":1,\"a\":2}]", EW_REJ_DUPLICATE_KEY, NULL);
}

static void test_names(void **state)
{
    enum ew_event_type t;
    unsigned i, j;

    (void)state;
    for (i = 0; i < EW_REJ__COUNT; i++) {
        assert_string_not_equal(ew_reject_name((enum ew_reject)i), "unknown");
        for (j = 0; j < i; j++)
            assert_string_not_equal(ew_reject_name((enum ew_reject)i),
                                    ew_reject_name((enum ew_reject)j));
    }
    assert_string_equal(ew_reject_name(EW_REJ_BAD_JSON), "bad_json");
    assert_string_equal(ew_reject_name(EW_REJ__COUNT), "unknown");
    for (i = 0; i < EW_EV__COUNT; i++) {
        const char *name = ew_event_type_name((enum ew_event_type)i);

        assert_int_equal(ew_event_type_from(name, strlen(name), &t), 0);
        assert_int_equal(t, i);
    }
    assert_string_equal(ew_event_type_name(EW_EV_UNFOLLOW), "unfollow");
    assert_int_equal(ew_event_type_from("likes", 4, &t), 0); /* len is honoured */
    assert_int_equal(t, EW_EV_LIKE);
    assert_int_equal(ew_event_type_from("like", 3, &t), -1);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
#define VALID(t, name)                                                                             \
    {                                                                                              \
        name, test_valid, setup_valid, teardown_valid, (void *)(uintptr_t)(t)                      \
    }
    const struct CMUnitTest tests[] = {
        VALID(EW_EV_COMMENT, "test_valid_comment"),
        VALID(EW_EV_LIKE, "test_valid_like"),
        VALID(EW_EV_SHARE, "test_valid_share"),
        VALID(EW_EV_FOLLOW, "test_valid_follow"),
        VALID(EW_EV_UNFOLLOW, "test_valid_unfollow"),
        VALID(EW_EV_POST, "test_valid_post"),
        VALID(EW_EV_PROFILE, "test_valid_profile"),
        T(test_reject_oversize_message),
        T(test_reject_invalid_utf8),
        T(test_reject_bad_json),
        T(test_reject_duplicate_key),
        T(test_reject_not_object),
        T(test_reject_missing_field),
        T(test_reject_wrong_type),
        T(test_reject_unknown_type),
        T(test_reject_bad_timestamp),
        T(test_reject_empty_field),
        T(test_reject_negative_followers),
        T(test_size_bounds),
        T(test_size_message),
        T(test_text_roundtrip),
        T(test_empty_comment_text),
        T(test_rfc3339_valid),
        T(test_rfc3339_fraction_digits),
        T(test_rfc3339_invalid),
        T(test_integer_ts),
        T(test_unknown_fields_ignored),
        T(test_len_is_honoured),
        T(test_null_args),
        T(test_message_excerpt_is_safe),
        T(test_reuse_many),
        T(test_mutations),
        T(test_names),
        T(test_strict_utf8),
        T(test_strict_escapes),
        T(test_strict_duplicates),
        T(test_strict_many_keys),
        T(test_strict_nul_byte),
        T(test_strict_nesting),
        T(test_strict_numbers),
        T(test_strings_outlive_input),
        T(test_bad_json_messages),
    };
#undef T
#undef VALID
    return cmocka_run_group_tests_name("event", tests, NULL, NULL);
}
