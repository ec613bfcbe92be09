/* Unit tests for the window fold: bucket boundaries, packed counters, late
 * and out-of-order events, expiry and stale-bucket deletion, copy-paste and
 * new-commenter counts, and — the property replay depends on — the same
 * events folded in one batch or in many give the same state.
 *
 * A small in-memory stand-in for Redis answers the fold's reads (GET, HMGET)
 * and applies its writes (SET, SETRANGE, HSET, PEXPIRE, XADD, BITFIELD),
 * so no server is needed.  A bitfield is held as a hash of bit offset ->
 * value (the fold never overlaps two fields); an account's state (a string)
 * is kept as written and, decoded with ew_state_each, as a hash of its
 * fields. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "engwatch/config.h"
#include "engwatch/detect.h"
#include "engwatch/event.h"
#include "engwatch/hmap.h"
#include "engwatch/store.h"
#include "engwatch/window.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0 1767571200000LL /* 2026-01-05T00:00:00Z, a multiple of every bucket */

/* ---- fake redis: key -> (field -> value string) ----------------------------- */

struct blob {
    char *p;
    size_t len;
};

struct fake {
    struct ew_hmap *keys; /* key -> struct ew_hmap * of field -> char * */
    struct ew_hmap *strs; /* key -> struct blob: strings as SET wrote them */
    int64_t last_pexpire;
    char last_pexpire_key[256];
    int npexpire, nhdel, nxadd, nrange;
};

static struct ew_hmap *hash_of(struct fake *f, const char *key, size_t klen, int create)
{
    struct ew_hmap **h = create ? ew_hmap_upsert(f->keys, key, klen, NULL)
                                : ew_hmap_get(f->keys, key, klen);
    if (!h)
        return NULL;
    if (!*h && create)
        *h = ew_hmap_new(sizeof(char *));
    return *h;
}

static void fake_free(struct fake *f)
{
    for (size_t i = 0; f->strs && i < ew_hmap_count(f->strs); i++)
        free(((struct blob *)ew_hmap_at(f->strs, i, NULL, NULL))->p);
    ew_hmap_free(f->strs);
    for (size_t i = 0; i < ew_hmap_count(f->keys); i++) {
        struct ew_hmap **h = ew_hmap_at(f->keys, i, NULL, NULL);
        for (size_t j = 0; *h && j < ew_hmap_count(*h); j++)
            free(*(char **)ew_hmap_at(*h, j, NULL, NULL));
        ew_hmap_free(*h);
    }
    ew_hmap_free(f->keys);
}

static const char *fake_hget(struct fake *f, const char *key, const char *field)
{
    struct ew_hmap *h = hash_of(f, key, strlen(key), 0);
    char **v = h ? ew_hmap_get(h, field, strlen(field)) : NULL;
    return v && *v ? *v : NULL;
}

static redisReply *reply_new(int type)
{
    redisReply *r = calloc(1, sizeof *r);
    r->type = type;
    return r;
}

static redisReply *reply_str(const char *s, size_t len)
{
    redisReply *r = reply_new(REDIS_REPLY_STRING);
    r->str = strndup(s, len);
    r->len = len;
    return r;
}

static void reply_free(redisReply *r)
{
    for (size_t i = 0; i < r->elements; i++)
        reply_free(r->element[i]);
    free(r->element);
    free(r->str);
    free(r);
}

/* A bitfield held as offset -> value, as GET returns it: i64 fields below
 * bit 128, u4 fields above (big-endian bit order, as BITFIELD). */
static redisReply *bitfield_string(struct ew_hmap *h)
{
    size_t n = 16;
    for (size_t j = 0; j < ew_hmap_count(h); j++) {
        const char *k;
        ew_hmap_at(h, j, &k, NULL);
        size_t end = (size_t)strtoull(k, NULL, 10) / 8 + 8;
        n = end > n ? end : n;
    }
    redisReply *r = reply_new(REDIS_REPLY_STRING);
    unsigned char *p = calloc(1, n + 1);
    for (size_t j = 0; j < ew_hmap_count(h); j++) {
        const char *k;
        char **v = ew_hmap_at(h, j, &k, NULL);
        uint64_t off = strtoull(k, NULL, 10), x = *v ? (uint64_t)strtoll(*v, NULL, 10) : 0;
        if (off < 128)
            for (int i = 0; i < 8; i++)
                p[off / 8 + (size_t)i] = (unsigned char)(x >> (56 - 8 * i));
        else
            p[off / 8] |= (unsigned char)((x & 15) << (off % 8 ? 0 : 4));
    }
    r->str = (char *)p;
    r->len = n;
    return r;
}

static redisReply *fake_exec_read(struct fake *f, int argc, const char *const *argv,
                                  const size_t *len)
{
    struct ew_hmap *h = hash_of(f, argv[1], len[1], 0);
    redisReply *r = reply_new(REDIS_REPLY_ARRAY);
    if (strcmp(argv[0], "GET") == 0) {
        const struct blob *b = f->strs ? ew_hmap_get(f->strs, argv[1], len[1]) : NULL;
        free(r);
        if (!b && h)
            return bitfield_string(h);
        if (!b)
            return reply_new(REDIS_REPLY_NIL);
        r = reply_new(REDIS_REPLY_STRING);
        r->str = malloc(b->len + 1);
        memcpy(r->str, b->p, b->len);
        r->str[b->len] = '\0';
        r->len = b->len;
    } else { /* HMGET */
        r->element = calloc((size_t)argc, sizeof *r->element);
        for (int i = 2; i < argc; i++) {
            char **v = h ? ew_hmap_get(h, argv[i], len[i]) : NULL;
            r->element[r->elements++] =
                v && *v ? reply_str(*v, strlen(*v)) : reply_new(REDIS_REPLY_NIL);
        }
    }
    return r;
}

static int put_decoded(void *ctx, const char *f, size_t flen, const char *v, size_t vlen)
{
    char **slot = ew_hmap_upsert(ctx, f, flen, NULL);
    *slot = strndup(v, vlen);
    return 0;
}

static void fake_apply(struct fake *f, const struct ew_cmdbuf *ops)
{
    for (size_t c = 0; c < ew_cmdbuf_count(ops); c++) {
        int argc;
        const char *const *argv;
        const size_t *len;
        ew_cmdbuf_get(ops, c, &argc, &argv, &len);
        if (strcmp(argv[0], "SET") == 0 || strcmp(argv[0], "SETRANGE") == 0) {
            int set = strcmp(argv[0], "SET") == 0;
            assert_int_equal(argc, set ? 5 : 4);
            if (!f->strs)
                f->strs = ew_hmap_new(sizeof(struct blob));
            struct blob *b = ew_hmap_upsert(f->strs, argv[1], len[1], NULL);
            size_t at = set ? 0 : (size_t)strtoull(argv[2], NULL, 10);
            const char *v = set ? argv[2] : argv[3];
            size_t vl = set ? len[2] : len[3];
            if (set)
                b->len = 0;
            else
                f->nrange++;
            if (at + vl > b->len) { /* grown with 0 bytes, as Redis does */
                b->p = realloc(b->p, at + vl + 1);
                memset(b->p + b->len, 0, at + vl - b->len);
                b->len = at + vl;
            }
            memcpy(b->p + at, v, vl);
            /* the decoded fields replace the key's hash */
            struct ew_hmap *h = hash_of(f, argv[1], len[1], 1);
            for (size_t j = 0; j < ew_hmap_count(h); j++)
                free(*(char **)ew_hmap_at(h, j, NULL, NULL));
            ew_hmap_clear(h);
            assert_int_equal(ew_state_each(b->p, b->len, put_decoded, h), 0);
            if (set) {
                assert_string_equal(argv[3], "PX");
                f->npexpire++;
                f->last_pexpire = strtoll(argv[4], NULL, 10);
                snprintf(f->last_pexpire_key, sizeof f->last_pexpire_key, "%.*s", (int)len[1],
                         argv[1]);
            }
        } else if (strcmp(argv[0], "HSET") == 0) {
            struct ew_hmap *h = hash_of(f, argv[1], len[1], 1);
            for (int i = 2; i + 1 < argc; i += 2) {
                char **v = ew_hmap_upsert(h, argv[i], len[i], NULL);
                free(*v);
                *v = strndup(argv[i + 1], len[i + 1]);
            }
        } else if (strcmp(argv[0], "BITFIELD") == 0) {
            struct ew_hmap *h = hash_of(f, argv[1], len[1], 1);
            int sat = 0;
            for (int i = 2; i < argc;) {
                if (strcmp(argv[i], "OVERFLOW") == 0) {
                    sat = strcmp(argv[i + 1], "SAT") == 0;
                    i += 2;
                    continue;
                }
                assert_string_equal(argv[i], "INCRBY");
                char **v = ew_hmap_upsert(h, argv[i + 2], len[i + 2], NULL);
                long long x = (*v ? strtoll(*v, NULL, 10) : 0) + strtoll(argv[i + 3], NULL, 10);
                if (sat && strcmp(argv[i + 1], "u4") == 0 && x > 15)
                    x = 15;
                free(*v);
                char b[32];
                snprintf(b, sizeof b, "%lld", x);
                *v = strdup(b);
                i += 4;
            }
        } else if (strcmp(argv[0], "HDEL") == 0) {
            struct ew_hmap *h = hash_of(f, argv[1], len[1], 0);
            for (int i = 2; h && i < argc; i++) {
                char **v = ew_hmap_get(h, argv[i], len[i]);
                if (v) {
                    free(*v);
                    *v = NULL; /* a deleted field */
                }
            }
            f->nhdel++;
        } else if (strcmp(argv[0], "PEXPIRE") == 0) {
            f->npexpire++;
            f->last_pexpire = strtoll(argv[2], NULL, 10);
            snprintf(f->last_pexpire_key, sizeof f->last_pexpire_key, "%.*s", (int)len[1],
                     argv[1]);
        } else if (strcmp(argv[0], "XADD") == 0) {
            f->nxadd++;
        } else {
            fail_msg("unexpected op %s", argv[0]);
        }
    }
}

/* Fold the window's batch against the fake, as the pipeline does with Redis. */
static void fold(struct ew_window *w, struct fake *f)
{
    struct ew_cmdbuf *reads = ew_cmdbuf_new(), *ops = ew_cmdbuf_new();
    assert_int_equal(ew_window_build_reads(w, reads), 0);
    size_t n = ew_cmdbuf_count(reads);
    redisReply **rep = calloc(n + 1, sizeof *rep);
    for (size_t i = 0; i < n; i++) {
        int argc;
        const char *const *argv;
        const size_t *len;
        ew_cmdbuf_get(reads, i, &argc, &argv, &len);
        rep[i] = fake_exec_read(f, argc, argv, len);
    }
    assert_int_equal(ew_window_fold(w, rep, n, ops), 0);
    fake_apply(f, ops);
    for (size_t i = 0; i < n; i++)
        reply_free(rep[i]);
    free(rep);
    ew_cmdbuf_free(reads);
    ew_cmdbuf_free(ops);
}

/* ---- fixtures -------------------------------------------------------------------- */

struct fx {
    struct ew_config cfg;
    struct ew_window *w;
    struct fake f;
};

/* history_ms 0: without the actor sketch (its 'r' counts would be in
 * every packed field); else 10-minute actor slots. */
static int setup_with(void **state, int64_t history_ms)
{
    struct fx *x = calloc(1, sizeof *x);
    assert_int_equal(ew_config_defaults(&x->cfg), 0);
    x->cfg.windows.actor_history_ms = history_ms;
    x->cfg.windows.actor_slot_ms = 600000;
    assert_int_equal(ew_window_new(&x->w, &x->cfg, "t:"), 0);
    x->f.keys = ew_hmap_new(sizeof(struct ew_hmap *));
    *state = x;
    return 0;
}
static int setup(void **state) { return setup_with(state, 0); }
static int setup_sketch(void **state) { return setup_with(state, 1800000); }

static int teardown(void **state)
{
    struct fx *x = *state;
    ew_window_free(x->w);
    ew_config_free(&x->cfg);
    fake_free(&x->f);
    free(x);
    return 0;
}

/* Add an event built from a JSON literal. */
static void add(struct ew_window *w, const char *json)
{
    struct ew_event ev;
    struct ew_decode_error err;
    ew_event_init(&ev);
    if (ew_event_decode(&ev, json, strlen(json), NULL, &err) < 0)
        fail_msg("bad test event %s: %s", json, err.msg);
    struct ew_text_result tr = {EW_TEXT_SUBSTANTIVE, 0, 3};
    if (ev.type == EW_EV_COMMENT) {
        /* a fingerprint from the text, hollow when it starts with 'h' */
        tr.fingerprint = ew_hash64(ev.text.ptr, ev.text.len);
        tr.cls = ev.text.len && ev.text.ptr[0] == 'h' ? EW_TEXT_GENERIC : EW_TEXT_SUBSTANTIVE;
    }
    assert_int_equal(ew_window_add(w, &ev, &tr), 0);
    ew_event_clear(&ev);
}

static void like(struct ew_window *w, const char *acct, int64_t ts)
{
    char j[256];
    snprintf(j, sizeof j,
             "{\"id\":\"l%lld\",\"type\":\"like\",\"ts\":%lld,\"account\":\"%s\",\"actor\":\"u\","
             "\"post\":\"p1\"}",
             (long long)ts, (long long)ts, acct);
    add(w, j);
}

static void comment(struct ew_window *w, const char *acct, int64_t ts, const char *actor,
                    const char *text)
{
    char j[512];
    snprintf(j, sizeof j,
             "{\"id\":\"c%lld%s\",\"type\":\"comment\",\"ts\":%lld,\"account\":\"%s\","
             "\"actor\":\"%s\",\"post\":\"p1\",\"text\":\"%s\"}",
             (long long)ts, actor, (long long)ts, acct, actor, text);
    add(w, j);
}

/* ---- tests --------------------------------------------------------------------------- */

static void test_bucket_boundaries_and_packing(void **state)
{
    struct fx *x = *state;
    like(x->w, "a", T0 + 9999);  /* last ms of the first 10 s bucket */
    like(x->w, "a", T0 + 10000); /* first ms of the next */
    comment(x->w, "a", T0 + 10001, "u1", "nice shoes");
    fold(x->w, &x->f);
    ew_window_reset(x->w);
    char f0[64], f1[64];
    snprintf(f0, sizeof f0, "0:%lld", (long long)(T0 / 10000));
    snprintf(f1, sizeof f1, "0:%lld", (long long)(T0 / 10000 + 1));
    /* packed "c,h,d,k,l": the first bucket has one like only */
    assert_string_equal(fake_hget(&x->f, "t:{a}", f0), "0,0,0,0,1");
    /* the second: one comment (substantive, new commenter) and one like */
    assert_string_equal(fake_hget(&x->f, "t:{a}", f1), "1,0,0,1,1");
    snprintf(f1, sizeof f1, "1:%lld", (long long)(T0 / 300000));
    assert_string_equal(fake_hget(&x->f, "t:{a}", f1), "1,0,0,1,2"); /* 5-min bucket */
    snprintf(f1, sizeof f1, "0:%lld:p1", (long long)(T0 / 10000 + 1));
    assert_string_equal(fake_hget(&x->f, "t:{a}", f1), "1,0,0,1,1"); /* per post */
    char wm[32];
    snprintf(wm, sizeof wm, "%lld", (long long)(T0 + 10001));
    assert_string_equal(fake_hget(&x->f, "t:{a}", "wm"), wm);
}

static void test_late_and_out_of_order(void **state)
{
    struct fx *x = *state;
    like(x->w, "a", T0 + 3600000);         /* watermark at 01:00 */
    like(x->w, "a", T0 + 3600000 - 60000); /* 1 min late: within 5 min lateness */
    like(x->w, "a", T0 + 3600000 - 400000); /* 6m40s late: dropped */
    like(x->w, "b", T0);                   /* another account has its own watermark */
    fold(x->w, &x->f);
    assert_int_equal(ew_window_late(x->w), 1);
    ew_window_reset(x->w);
    char f[64];
    snprintf(f, sizeof f, "0:%lld", (long long)((T0 + 3600000 - 60000) / 10000));
    assert_string_equal(fake_hget(&x->f, "t:{a}", f), "0,0,0,0,1"); /* its own old bucket */
    snprintf(f, sizeof f, "0:%lld", (long long)(T0 / 10000));
    assert_string_equal(fake_hget(&x->f, "t:{b}", f), "0,0,0,0,1");
    /* the watermark is stored: a later batch drops what is late against it */
    like(x->w, "a", T0);
    fold(x->w, &x->f);
    assert_int_equal(ew_window_late(x->w), 1);
    ew_window_reset(x->w);
}

/* 60 likes 10 s apart in the 10 minutes before t, and one at t: a state of
 * some 130 fields, so that a batch that changes a few of them appends them */
static void history(struct ew_window *w, const char *acct, int64_t t)
{
    for (int i = 60; i >= 0; i--)
        like(w, acct, t - i * 10000LL);
}

static int count_field(void *ctx, const char *f, size_t flen, const char *v, size_t vlen)
{
    (void)f, (void)flen, (void)v, (void)vlen;
    (*(int *)ctx)++;
    return 0;
}

/* The stored state decodes to its fields; every cut of it, and a state of
 * another format, is refused or read short without reading past its end. */
static void test_state_format(void **state)
{
    struct fx *x = *state;
    comment(x->w, "a", T0 + 1000, "u1", "hi great");
    like(x->w, "a", T0 + 2000);
    fold(x->w, &x->f);
    ew_window_reset(x->w);
    const struct blob *b = ew_hmap_get(x->f.strs, "t:{a}", 5);
    assert_non_null(b);
    assert_int_equal((unsigned char)b->p[0], EW_STATE_VERSION);
    int n = 0;
    assert_int_equal(ew_state_each(b->p, b->len, count_field, &n), 0);
    assert_int_equal(n, 7); /* wm, 3 resolutions x (account, post) */
    for (size_t len = 0; len < b->len; len++) {
        char *cut = malloc(len ? len : 1); /* exact size: ASan sees any overread */
        memcpy(cut, b->p, len);
        n = 0;
        int rc = ew_state_each(cut, len, count_field, &n);
        assert_true(rc == -1 || (rc == 0 && n <= 7)); /* the room after it: all 7 */
        free(cut);
    }
    char other[] = {2, 1, 'x', 0, 1, 2};
    assert_int_equal(ew_state_each(other, sizeof other, count_field, &n), -1);

    /* with a run appended: every cut read without reading past its end */
    history(x->w, "b", T0);
    fold(x->w, &x->f);
    ew_window_reset(x->w);
    like(x->w, "b", T0 + 1000);
    fold(x->w, &x->f);
    ew_window_reset(x->w);
    assert_int_equal(x->f.nrange, 1);
    b = ew_hmap_get(x->f.strs, "t:{b}", 5);
    for (size_t len = 0; len < b->len; len++) {
        char *cut = malloc(len ? len : 1);
        memcpy(cut, b->p, len);
        n = 0;
        int rc = ew_state_each(cut, len, count_field, &n);
        assert_true(rc == -1 || rc == 0);
        free(cut);
    }
}

/* One batch may like in many actor slots (here 12 ten-minute ones). */
static void test_sketch_many_slots(void **state)
{
    struct fx *x = *state;
    for (int i = 0; i < 12; i++)
        like(x->w, "a", T0 + i * 600000LL);
    fold(x->w, &x->f);
    ew_window_reset(x->w);
}

static void test_expiry_and_stale_buckets(void **state)
{
    struct fx *x = *state;
    history(x->w, "a", T0);
    fold(x->w, &x->f);
    ew_window_reset(x->w);
    /* expiry: the longest retention (8 d) + a coarse bucket (1 h) + lateness
     * (5 m), and an hour (at most 1/16 of that) in which appends need not
     * set it again */
    assert_string_equal(x->f.last_pexpire_key, "t:{a}");
    assert_int_equal(x->f.last_pexpire, 8LL * 86400000 + 3600000 + 300000 + 3600000);
    int pexpires = x->f.npexpire;
    like(x->w, "a", T0 + 1000); /* appended: the expiry set a moment ago stands */
    fold(x->w, &x->f);
    ew_window_reset(x->w);
    assert_int_equal(x->f.npexpire, pexpires);
    assert_int_equal(x->f.nrange, 1);
    ew_window_invalidate(x->w); /* not held: the whole state, its expiry set again */
    like(x->w, "a", T0 + 2000);
    fold(x->w, &x->f);
    ew_window_reset(x->w);
    assert_int_equal(x->f.npexpire, pexpires + 1);
    assert_string_equal(x->f.last_pexpire_key, "t:{a}");

    /* 31 minutes later the first 10 s bucket left its 30 min retention */
    like(x->w, "a", T0 + 31 * 60000);
    fold(x->w, &x->f);
    ew_window_reset(x->w);
    char f[64];
    snprintf(f, sizeof f, "0:%lld", (long long)(T0 / 10000));
    assert_null(fake_hget(&x->f, "t:{a}", f));
    snprintf(f, sizeof f, "1:%lld", (long long)(T0 / 300000)); /* kept a day */
    assert_non_null(fake_hget(&x->f, "t:{a}", f));
}

static int has_bytes(const struct blob *b, const char *s)
{
    return memmem(b->p, b->len, s, strlen(s)) != NULL;
}

/* A held account's changes are written into the room kept after its stored
 * state; read back, the fields written later replace the earlier ones and
 * fields past their retention are gone although still stored; a state not
 * held, written over another connection, or whose room is full is written
 * whole; a state that lost its beginning starts afresh. */
static void test_appended_state(void **state)
{
    struct fx *x = *state;
    char f0[64], fc[64], f5[64], w1[32];
    snprintf(f0, sizeof f0, "0:%lld", (long long)((T0 - 600000) / 10000)); /* the oldest */
    snprintf(fc, sizeof fc, "0:%lld", (long long)(T0 / 10000));
    snprintf(f5, sizeof f5, "1:%lld", (long long)(T0 / 300000));
    history(x->w, "a", T0);
    fold(x->w, &x->f);
    ew_window_reset(x->w);
    const struct blob *b = ew_hmap_get(x->f.strs, "t:{a}", 5);
    size_t whole = b->len;
    assert_int_equal(b->p[whole - 1], 0); /* room kept after the state */
    like(x->w, "a", T0 + 1000);
    fold(x->w, &x->f);
    ew_window_reset(x->w);
    assert_int_equal(x->f.nrange, 1);
    assert_int_equal(b->len, whole); /* the run went into the room */
    assert_string_equal(fake_hget(&x->f, "t:{a}", fc), "0,0,0,0,2");
    assert_string_equal(fake_hget(&x->f, "t:{a}", f5), "0,0,0,0,2");
    assert_string_equal(fake_hget(&x->f, "t:{a}", f0), "0,0,0,0,1");

    /* the oldest 10 s bucket leaves its 30 min retention: still stored, no
     * longer part of the state */
    like(x->w, "a", T0 + 20 * 60000 + 10000);
    fold(x->w, &x->f);
    ew_window_reset(x->w);
    assert_int_equal(x->f.nrange, 2);
    assert_true(has_bytes(b, f0));
    assert_null(fake_hget(&x->f, "t:{a}", f0));
    assert_string_equal(fake_hget(&x->f, "t:{a}", f5), "0,0,0,0,2");

    /* read back (not held): the same state, written whole */
    ew_window_invalidate(x->w);
    like(x->w, "a", T0 + 21 * 60000);
    fold(x->w, &x->f);
    ew_window_reset(x->w);
    assert_int_equal(x->f.nrange, 2);
    assert_false(has_bytes(b, f0));
    assert_string_equal(fake_hget(&x->f, "t:{a}", f5), "0,0,0,0,2");
    snprintf(w1, sizeof w1, "%lld", (long long)(T0 + 21 * 60000));
    assert_string_equal(fake_hget(&x->f, "t:{a}", "wm"), w1);

    /* another connection: written whole */
    ew_window_set_epoch(x->w, 1);
    like(x->w, "a", T0 + 22 * 60000);
    fold(x->w, &x->f);
    ew_window_reset(x->w);
    assert_int_equal(x->f.nrange, 2);

    /* runs until the room is full */
    int appends = 0;
    for (int i = 0; i < 100; i++, appends++) {
        like(x->w, "a", T0 + 23 * 60000 + i * 10000LL); /* a new 10 s bucket each */
        fold(x->w, &x->f);
        ew_window_reset(x->w);
        if (x->f.nrange == 2 + appends)
            break; /* written whole */
    }
    assert_true(appends > 2 && appends < 100);
    assert_int_equal(b->p[0], EW_STATE_VERSION);

    /* the key was gone when a run was appended: taken as absent */
    struct blob *lost = ew_hmap_get(x->f.strs, "t:{a}", 5);
    lost->p[0] = 0; /* a run at the start */
    ew_window_invalidate(x->w);
    like(x->w, "a", T0 + 60 * 60000);
    fold(x->w, &x->f);
    ew_window_reset(x->w);
    assert_int_equal(lost->p[0], EW_STATE_VERSION);
    assert_null(fake_hget(&x->f, "t:{a}", f5));
    snprintf(f5, sizeof f5, "1:%lld", (long long)((T0 + 60 * 60000) / 300000));
    assert_string_equal(fake_hget(&x->f, "t:{a}", f5), "0,0,0,0,1");
}

static void test_copy_paste_and_new_commenters(void **state)
{
    struct fx *x = *state;
    comment(x->w, "a", T0 + 1000, "u1", "hi great");
    comment(x->w, "a", T0 + 2000, "u2", "hi great");  /* same text: duplicate */
    comment(x->w, "a", T0 + 3000, "u1", "other");     /* u1 again: not a new commenter */
    fold(x->w, &x->f);
    ew_window_reset(x->w);
    /* next batch, next hour: the text was posted in the previous hour */
    comment(x->w, "a", T0 + 3600000 + 5, "u3", "hi great");
    fold(x->w, &x->f);
    ew_window_reset(x->w);
    char f[64];
    snprintf(f, sizeof f, "2:%lld", (long long)(T0 / 3600000));
    /* c=3, h=2 ("hi great" x2), d=1, k=2 (u1, u2) */
    assert_string_equal(fake_hget(&x->f, "t:{a}", f), "3,2,1,2");
    snprintf(f, sizeof f, "2:%lld", (long long)(T0 / 3600000 + 1));
    assert_string_equal(fake_hget(&x->f, "t:{a}", f), "1,1,1,1");
}

/* Fold the same events as one batch (into fa) and one event per batch (into fb). */
static void test_batch_boundaries_do_not_matter(void **state)
{
    struct fx *x = *state;
    struct fake fb = {.keys = ew_hmap_new(sizeof(struct ew_hmap *))};
    const char *accts[] = {"a", "b", "c"};
    uint64_t seed = 7;
    int64_t ts = T0;
    char buf[64][512];
    int nev = 0;
    for (int i = 0; i < 64; i++) {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        ts += (int64_t)(seed >> 33) % 90000; /* up to 90 s apart */
        int64_t t = ts - ((seed >> 20) % 7 == 0 ? 120000 : 0); /* some 2 min late */
        const char *a = accts[(seed >> 40) % 3];
        if ((seed >> 50) % 3 == 0)
            snprintf(buf[nev++], sizeof buf[0],
                     "{\"id\":\"e%d\",\"type\":\"comment\",\"ts\":%lld,\"account\":\"%s\","
                     "\"actor\":\"u%d\",\"post\":\"p%d\",\"text\":\"%s\"}",
                     i, (long long)t, a, (int)((seed >> 45) % 5), (int)((seed >> 30) % 2),
                     (seed >> 35) % 2 ? "hello" : "where to buy");
        else
            snprintf(buf[nev++], sizeof buf[0],
                     "{\"id\":\"e%d\",\"type\":\"%s\",\"ts\":%lld,\"account\":\"%s\","
                     "\"actor\":\"u%d\",\"post\":\"p%d\"}",
                     i, (seed >> 36) % 2 ? "like" : "share", (long long)t, a,
                     (int)((seed >> 45) % 5), (int)((seed >> 30) % 2));
    }
    for (int i = 0; i < nev; i++)
        add(x->w, buf[i]);
    fold(x->w, &x->f);
    ew_window_reset(x->w);
    /* another store: the state cache must be emptied.  The 64 one-event
     * batches below then fold from the cache (each account is read once). */
    ew_window_invalidate(x->w);
    for (int i = 0; i < nev; i++) {
        add(x->w, buf[i]);
        fold(x->w, &fb);
        ew_window_reset(x->w);
    }
    struct ew_window_cache_stats cs;
    ew_window_cache_stats(x->w, &cs);
    assert_int_equal(cs.misses, 3 + 3); /* the single batch, then the first of each account */
    assert_int_equal(cs.hits, (uint64_t)nev - 3);
    /* compare every live field of every key */
    for (int pass = 0; pass < 2; pass++) {
        struct fake *p = pass ? &fb : &x->f, *q = pass ? &x->f : &fb;
        for (size_t i = 0; i < ew_hmap_count(p->keys); i++) {
            const char *k;
            struct ew_hmap **h = ew_hmap_at(p->keys, i, &k, NULL);
            for (size_t j = 0; *h && j < ew_hmap_count(*h); j++) {
                const char *fk;
                char **v = ew_hmap_at(*h, j, &fk, NULL);
                if (!*v || strcmp(fk, "x") == 0)
                    continue;
                const char *other = fake_hget(q, k, fk);
                if (!other || strcmp(other, *v) != 0)
                    fail_msg("%s %s: %s vs %s", k, fk, *v, other ? other : "(none)");
            }
        }
    }
    fake_free(&fb);
}

/* The actor sketch: a like's actor is rare while it has at most
 * rare_actor_max (2) actions in the three whole 10-minute slots before the
 * like's own; the per-slot totals give the next slot's reference. */
static void test_actor_sketch(void **state)
{
    struct fx *x = *state;
    char j[256];
    const int64_t slot = 600000;
    /* slot 0: "fan" acts three times (likes and a comment), then in slot 1
     * both "fan" and "new" like p1 */
    for (int i = 0; i < 3; i++) {
        snprintf(j, sizeof j,
                 "{\"id\":\"f%d\",\"type\":\"like\",\"ts\":%lld,\"account\":\"b\",\"actor\":\"fan\","
                 "\"post\":\"p%d\"}",
                 i, (long long)(T0 + i * 1000), i);
        add(x->w, j);
    }
    fold(x->w, &x->f);
    ew_window_reset(x->w);
    snprintf(j, sizeof j,
             "{\"id\":\"g1\",\"type\":\"like\",\"ts\":%lld,\"account\":\"a\",\"actor\":\"fan\","
             "\"post\":\"p1\"}",
             (long long)(T0 + slot + 5));
    add(x->w, j);
    snprintf(j, sizeof j,
             "{\"id\":\"g2\",\"type\":\"like\",\"ts\":%lld,\"account\":\"a\",\"actor\":\"new\","
             "\"post\":\"p1\"}",
             (long long)(T0 + slot + 6));
    add(x->w, j);
    fold(x->w, &x->f);
    ew_window_reset(x->w);
    char key[64], f0[64];
    /* slot 0: three likes, all by an actor without history (rare) */
    snprintf(key, sizeof key, "t:actors:%lld", (long long)(T0 / slot));
    assert_string_equal(fake_hget(&x->f, key, "0"), "3");
    assert_string_equal(fake_hget(&x->f, key, "64"), "3");
    /* slot 1: two likes, one rare ("fan" has 3 actions before) */
    snprintf(key, sizeof key, "t:actors:%lld", (long long)(T0 / slot + 1));
    assert_string_equal(fake_hget(&x->f, key, "0"), "2");
    assert_string_equal(fake_hget(&x->f, key, "64"), "1");
    /* the post's 10 s bucket: 2 likes ("l", the fifth), 1 rare ("r", the eleventh) */
    snprintf(f0, sizeof f0, "0:%lld:p1", (long long)((T0 + slot) / 10000));
    assert_string_equal(fake_hget(&x->f, "t:{a}", f0), "0,0,0,0,2,0,0,0,0,0,1");
    /* "fan"'s counter in slot 0 holds its three actions */
    snprintf(key, sizeof key, "t:actors:%lld", (long long)(T0 / slot));
    char cell[32];
    snprintf(cell, sizeof cell, "%lld",
             (long long)(128 + 4 * (int64_t)(ew_hash64("fan", 3) % 2097152)));
    assert_string_equal(fake_hget(&x->f, key, cell), "3");
}

static void test_view_sums(void **state)
{
    (void)state;
    struct ew_resolution res[2] = {{10000, 1800000}, {300000, 86400000}};
    struct ew_view *v = ew_view_new("a", res, 2);
    assert_non_null(v);
    assert_int_equal(ew_view_add(v, EW_M_COMMENTS, "p1", T0 + 5000, 3), 0);
    assert_int_equal(ew_view_add(v, EW_M_LIKES, "p1", T0 + 15000, 7), 0);
    assert_int_equal(ew_view_add(v, EW_M_COMMENTS, NULL, T0 + 25000, 1), 0);
    assert_int_equal(ew_view_sum(v, EW_M_COMMENTS, 0, NULL, 0, T0, T0 + 29999), 4);
    assert_int_equal(ew_view_sum(v, EW_M_COMMENTS, 0, "p1", 2, T0, T0 + 29999), 3);
    /* a range is widened to whole buckets: [T0+10000, T0+10000] covers bucket 1 */
    assert_int_equal(ew_view_sum(v, EW_M_LIKES, 0, NULL, 0, T0 + 10000, T0 + 10000), 7);
    assert_int_equal(ew_view_sum(v, EW_M_LIKES, 0, NULL, 0, T0 + 20000, T0 + 29999), 0);
    int64_t all[EW_M__COUNT];
    ew_view_sums(v, 1, "p1", 2, T0, T0 + 299999, all);
    assert_int_equal(all[EW_M_COMMENTS], 3);
    assert_int_equal(all[EW_M_LIKES], 7);
    assert_int_equal(ew_view_add_snapshot(v, T0 + 60000, 1000), 0);
    assert_int_equal(ew_view_add_snapshot(v, T0 + 120000, 1100), 0);
    int64_t followers, at;
    struct ew_resolution res3[3] = {{10000, 1800000}, {300000, 86400000}, {3600000, 691200000}};
    ew_view_free(v);
    v = ew_view_new("a", res3, 3);
    assert_int_equal(ew_view_add_snapshot(v, T0 + 60000, 1000), 0);
    assert_int_equal(ew_view_add_snapshot(v, T0 + 3600000 + 5, 1100), 0);
    assert_int_equal(ew_view_followers(v, T0 + 3600000 + 5, &followers, &at), 0);
    assert_int_equal(followers, 1100);
    assert_int_equal(ew_view_followers(v, T0 + 3600000, &followers, &at), 0);
    assert_int_equal(followers, 1000); /* the later one is not yet visible */
    assert_int_equal(ew_view_followers(v, T0, &followers, &at), -1);
    ew_view_free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_bucket_boundaries_and_packing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_late_and_out_of_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expiry_and_stale_buckets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_appended_state, setup, teardown),
        cmocka_unit_test_setup_teardown(test_copy_paste_and_new_commenters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch_boundaries_do_not_matter, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch_boundaries_do_not_matter, setup_sketch,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_actor_sketch, setup_sketch, teardown),
        cmocka_unit_test_setup_teardown(test_sketch_many_slots, setup_sketch, teardown),
        cmocka_unit_test(test_view_sums),
        cmocka_unit_test_setup_teardown(test_state_format, setup, teardown),
    };
    return cmocka_run_group_tests_name("window", tests, NULL, NULL);
}
