/* store_itest — daemon/store.c against a real redis-server (driven by
 * tests/integration/test_store.sh).  Prints TAP lines ("ok N - name") and
 * exits non-zero when any check failed.
 *
 *   store_itest main PORT          reads, applies, the position guard, NOSCRIPT,
 *                                  big ops, refused ops, positions, drop_namespace
 *   store_itest down PORT MARKER   a connected store whose Redis dies: SHUTDOWN
 *                                  NOSAVE, UNAVAILABLE, backoff; then creates
 *                                  MARKER and waits (20 s at most) for the script
 *                                  to restart Redis on PORT, and checks the
 *                                  reconnect
 *   store_itest auth PORT SOCKET   Redis started with --requirepass s3cret and
 *                                  --unixsocket SOCKET: wrong and right passwords
 *
 * PORT may also come from $REDIS_PORT.  A second, plain hiredis connection
 * ("raw") looks at the data behind the store's back.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "engwatch/config.h"
#include "engwatch/log.h"
#include "engwatch/store.h"

#define DB     3
#define PREFIX "itest:"

static int tap_n, tap_failed;

static int check(int cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int check(int cond, const char *fmt, ...)
{
    va_list ap;
    printf("%s %d - ", cond ? "ok" : "not ok", ++tap_n);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
    if (!cond) tap_failed++;
    return cond;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- the raw connection ---- */

static redisContext *raw;

static redisContext *raw_connect(int port, int db)
{
    redisContext *c = redisConnect("127.0.0.1", port);
    if (!c || c->err) {
        fprintf(stderr, "raw connect: %s\n", c ? c->errstr : "oom");
        exit(2);
    }
    redisReply *r = redisCommand(c, "SELECT %d", db);
    freeReplyObject(r);
    return c;
}

/* Integer reply of a raw command (or -1000 when it is no integer). */
static long long raw_int(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(raw, fmt, ap);
    va_end(ap);
    long long v = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1000;
    freeReplyObject(r);
    return v;
}

/* The value of one BITFIELD field (-1000 on any error). */
static long long bf_get(const char *key, const char *type, const char *offset)
{
    redisReply *r = redisCommand(raw, "BITFIELD_RO %s GET %s %s", key, type, offset);
    long long v = r && r->type == REDIS_REPLY_ARRAY && r->elements == 1 &&
                          r->element[0]->type == REDIS_REPLY_INTEGER
                      ? r->element[0]->integer
                      : -1000;
    freeReplyObject(r);
    return v;
}

/* 1 when a raw command's reply is the string want (NULL: a nil reply). */
static int raw_is(const char *want, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(raw, fmt, ap);
    va_end(ap);
    int ok = r && (want ? (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) &&
                              strcmp(r->str, want) == 0
                        : r->type == REDIS_REPLY_NIL);
    freeReplyObject(r);
    return ok;
}

/* Number of keys matching pattern (SCAN, so it works on big databases). */
static long long raw_count(const char *pattern)
{
    long long n = 0;
    char cursor[32] = "0";
    do {
        redisReply *r = redisCommand(raw, "SCAN %s MATCH %s COUNT 1000", cursor, pattern);
        if (!r || r->type != REDIS_REPLY_ARRAY) {
            freeReplyObject(r);
            return -1;
        }
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        n += (long long)r->element[1]->elements;
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    return n;
}

/* ---- stores ---- */

struct opts {
    int port;
    const char *prefix, *unix_socket, *user, *password;
    int db;
    int64_t command_timeout_ms, backoff_ms;
};

static struct ew_store *store_open(const struct opts *o)
{
    struct ew_config cfg;
    struct ew_store *s = NULL;

    memset(&cfg, 0, sizeof cfg);
    cfg.redis.host = (char *)"127.0.0.1";
    cfg.redis.port = o->port;
    cfg.redis.unix_socket = (char *)(o->unix_socket ? o->unix_socket : "");
    cfg.redis.user = (char *)(o->user ? o->user : "");
    cfg.redis.password = (char *)(o->password ? o->password : "");
    cfg.redis.db = o->db;
    cfg.redis.connect_timeout_ms = 1000;
    cfg.redis.command_timeout_ms = o->command_timeout_ms ? o->command_timeout_ms : 2000;
    cfg.redis.retry_max_backoff_ms = o->backoff_ms ? o->backoff_ms : 5000;
    cfg.redis.prefix = (char *)(o->prefix ? o->prefix : PREFIX);
    if (ew_store_new(&s, &cfg) < 0) {
        fprintf(stderr, "ew_store_new failed\n");
        exit(2);
    }
    return s;
}

static struct ew_cmdbuf *ops_new(void)
{
    struct ew_cmdbuf *b = ew_cmdbuf_new();
    if (!b) exit(2);
    return b;
}

/* Append command name with the NULL-terminated string arguments. */
static void cmd(struct ew_cmdbuf *b, const char *name, ...)
{
    va_list ap;
    const char *a;

    if (ew_cmd_begin(b, name) < 0) exit(2);
    va_start(ap, name);
    while ((a = va_arg(ap, const char *)))
        if (ew_cmd_str(b, a) < 0) exit(2);
    va_end(ap);
}

/* Apply one position (name, first..last) with ops. */
static enum ew_apply_result apply1(struct ew_store *s, const char *name, int64_t first,
                                   int64_t last, const struct ew_cmdbuf *ops)
{
    struct ew_position p = {name, first, last};
    return ew_store_apply(s, &p, 1, ops);
}

static int64_t position(struct ew_store *s, const char *name)
{
    int64_t v = -2;
    if (ew_store_get_positions(s, &name, 1, &v) < 0) return -3;
    return v;
}

/* The standard small batch: 3 x HINCRBY on one key, PFADD, PEXPIRE, XADD. */
static void small_batch(struct ew_cmdbuf *b)
{
    ew_cmdbuf_reset(b);
    for (int i = 0; i < 3; i++)
        cmd(b, "HINCRBY", PREFIX "{acc}:c", "f", "1", NULL);
    cmd(b, "PFADD", PREFIX "{acc}:u", "a", "b", "c", NULL);
    cmd(b, "PEXPIRE", PREFIX "{acc}:c", "60000", NULL);
    cmd(b, "XADD", PREFIX "alerts", "*", "alert", "{\"signal\":\"comment_burst\"}", NULL);
}

/* State that must not change when an apply is refused. */
struct snap {
    long long count, alerts, hll, dbsize;
};

static struct snap snap(void)
{
    struct snap s = {
        raw_int("HINCRBY " PREFIX "{acc}:c f 0"),
        raw_int("XLEN " PREFIX "alerts"),
        raw_int("PFCOUNT " PREFIX "{acc}:u"),
        raw_int("DBSIZE"),
    };
    return s;
}

static int same(struct snap a, struct snap b)
{
    return a.count == b.count && a.alerts == b.alerts && a.hll == b.hll && a.dbsize == b.dbsize;
}

/* ---- main mode ---- */

static void test_connect(struct ew_store *s)
{
    check(!ew_store_connected(s), "a new store is not connected");
    check(ew_store_retry_in_ms(s) == 0, "and may try at once");
    check(ew_store_ensure(s) == 0, "ensure connects");
    check(ew_store_connected(s), "connected after ensure");
    check(strcmp(ew_store_prefix(s), PREFIX) == 0, "prefix is the configured one");
    check(ew_store_ensure(s) == 0, "ensure when connected is a no-op");
}

static void test_pipelined_read(struct ew_store *s, struct ew_cmdbuf *b)
{
    const int n = 1000;
    redisReply **rep = NULL;

    /* 1000 hashes of 10 fields, written in one apply */
    ew_cmdbuf_reset(b);
    for (int i = 0; i < n; i++) {
        ew_cmd_begin(b, "HSET");
        ew_cmd_argf(b, PREFIX "{a%d}:h", i);
        for (int f = 0; f < 10; f++) {
            ew_cmd_argf(b, "%d", f);
            ew_cmd_argf(b, "%d", i * 100 + f);
        }
    }
    check(apply1(s, "seed:0", 0, 0, b) == EW_APPLY_OK, "apply of 1000 HSET ops");

    ew_cmdbuf_reset(b);
    for (int i = 0; i < n; i++) {
        ew_cmd_begin(b, "HGETALL");
        ew_cmd_argf(b, PREFIX "{a%d}:h", i);
    }
    struct ew_store_stats before = *ew_store_stats(s);
    double t0 = now_ms();
    int rc = ew_store_read(s, b, &rep);
    double ms = now_ms() - t0;
    const struct ew_store_stats *after = ew_store_stats(s);
    check(rc == 0, "pipelined read of 1000 HGETALL");
    check(after->roundtrips == before.roundtrips + 1, "in one round trip (roundtrips +1)");
    check(after->commands == before.commands + (uint64_t)n, "counted as 1000 commands");
    printf("# pipelined read of 1000 HGETALL (10 fields each): %.2f ms (last_rtt_ms %.2f)\n", ms,
           after->last_rtt_ms);
    int good = rc == 0;
    for (int i = 0; good && i < n; i++) {
        redisReply *r = rep[i];
        char want[32];
        snprintf(want, sizeof want, "%d", i * 100 + 7);
        good = r->type == REDIS_REPLY_ARRAY && r->elements == 20 &&
               strcmp(r->element[14]->str, "7") == 0 && strcmp(r->element[15]->str, want) == 0;
    }
    check(good, "each reply in order with its hash");

    /* an error reply in the middle does not fail the others */
    ew_cmdbuf_reset(b);
    cmd(b, "HGETALL", PREFIX "{a1}:h", NULL);
    cmd(b, "NOSUCHCOMMAND", NULL);
    cmd(b, "HGET", PREFIX "{a2}:h", "3", NULL);
    rc = ew_store_read(s, b, &rep);
    check(rc == 0 && rep[0]->type == REDIS_REPLY_ARRAY && rep[1]->type == REDIS_REPLY_ERROR &&
              rep[2]->type == REDIS_REPLY_STRING && strcmp(rep[2]->str, "203") == 0,
          "an error reply is returned in its slot, the others intact");
    ew_cmdbuf_reset(b);
    check(ew_store_read(s, b, &rep) == 0, "an empty read succeeds");

    /* DEL of 1001 keys in one op */
    ew_cmdbuf_reset(b);
    ew_cmd_begin(b, "DEL");
    for (int i = 0; i < n; i++)
        ew_cmd_argf(b, PREFIX "{a%d}:h", i);
    ew_cmd_str(b, PREFIX "never-there");
    check(apply1(s, "seed:0", 1, 1, b) == EW_APPLY_OK && raw_count(PREFIX "{a*}:h") == 0,
          "DEL of 1001 keys in one op");
}

static void test_guard(struct ew_store *s, struct ew_cmdbuf *b)
{
    struct ew_store_stats before = *ew_store_stats(s);
    small_batch(b);
    check(apply1(s, "t:0", 0, 9, b) == EW_APPLY_OK, "apply OK");
    const struct ew_store_stats *st = ew_store_stats(s);
    check(position(s, "t:0") == 9, "position advanced to last");
    check(raw_int("HINCRBY " PREFIX "{acc}:c f 0") == 3, "ops ran: the same key 3 times");
    check(raw_int("PFCOUNT " PREFIX "{acc}:u") == 3, "PFADD ran");
    long long ttl = raw_int("PTTL " PREFIX "{acc}:c");
    check(ttl > 0 && ttl <= 60000, "PEXPIRE ran (pttl %lld)", ttl);
    check(raw_int("XLEN " PREFIX "alerts") == 1, "XADD ran");
    check(st->applies == before.applies + 1, "stats.applies +1");
    /* WATCH, HMGET and TYPE of its 3 keys; MULTI, 6 ops, HSET of the positions, EXEC; and
       the position read just above */
    check(st->commands == before.commands + 5 + 9 + 1, "stats.commands counts every command");

    struct snap s0 = snap();
    check(apply1(s, "t:0", 0, 9, b) == EW_APPLY_DUPLICATE, "re-applying the batch: DUPLICATE");
    check(same(s0, snap()), "nothing changed");
    check(apply1(s, "t:0", 3, 7, b) == EW_APPLY_DUPLICATE, "a batch inside the applied range too");

    check(apply1(s, "t:0", 5, 14, b) == EW_APPLY_CONFLICT, "overlapping batch: CONFLICT");
    check(same(s0, snap()), "nothing applied");
    check(position(s, "t:0") == 9, "position unchanged");
    check(ew_store_stats(s)->conflicts == before.conflicts + 3,
          "stats.conflicts counts refused applies");

    struct ew_position two[] = {{"t:0", 10, 19}, {"t:1", 0, 4}};
    check(ew_store_apply(s, two, 2, b) == EW_APPLY_OK, "next batch over two positions: OK");
    check(raw_int("HINCRBY " PREFIX "{acc}:c f 0") == 6, "applied once more");
    struct ew_position mixed[] = {{"t:0", 20, 29}, {"t:1", 3, 8}};
    s0 = snap();
    check(ew_store_apply(s, mixed, 2, b) == EW_APPLY_CONFLICT,
          "one new and one overlapping position: CONFLICT");
    check(same(s0, snap()) && position(s, "t:0") == 19, "nothing applied, no position moved");
    struct ew_position dup_new[] = {{"t:0", 10, 19}, {"t:2", 0, 1}};
    check(ew_store_apply(s, dup_new, 2, b) == EW_APPLY_CONFLICT,
          "one duplicate and one new position: CONFLICT, not DUPLICATE");

    const char *names[] = {"t:1", "absent:7", "t:0"};
    int64_t got[3] = {0, 0, 0};
    check(ew_store_get_positions(s, names, 3, got) == 0 && got[0] == 4 && got[1] == -1 &&
              got[2] == 19,
          "get_positions: stored values, -1 for an absent name");
    check(ew_store_get_positions(s, names, 0, got) == 0, "get_positions of nothing");

    ew_cmdbuf_reset(b);
    check(apply1(s, "t:0", 20, 24, b) == EW_APPLY_OK && position(s, "t:0") == 24,
          "a batch with no ops still advances its position");
    struct ew_position big = {"t:9", 9007199254740993LL, 9007199254740999LL};
    struct ew_position big2 = {"t:9", 9007199254740994LL, 9007199254741000LL};
    check(ew_store_apply(s, &big, 1, b) == EW_APPLY_OK &&
              ew_store_apply(s, &big2, 1, b) == EW_APPLY_CONFLICT &&
              position(s, "t:9") == 9007199254740999LL,
          "offsets beyond 2^53 compare exactly");
    struct ew_position bad = {"t:0", 30, 29};
    check(ew_store_apply(s, &bad, 1, b) == EW_APPLY_ERROR, "first > last is refused");
}

/* The hook writes into the positions hash between an apply's check and its
 * EXEC, as another member would: the first `left` times it runs. */
struct race {
    const char *cmd;
    int left, ran;
};

static void race_hook(void *arg)
{
    struct race *r = arg;
    if (r->left <= 0) return;
    r->left--;
    r->ran++;
    redisReply *x = redisCommand(raw, r->cmd);
    freeReplyObject(x);
}

static void test_exec_race(struct ew_store *s, struct ew_cmdbuf *b)
{
    small_batch(b);
    struct race r = {"HSET " PREFIX "positions other:0 5", 1, 0};
    ew_store_set_exec_hook(s, race_hook, &r);
    uint64_t rt = ew_store_stats(s)->roundtrips;
    long long before = raw_int("HINCRBY " PREFIX "{acc}:c f 0");
    check(apply1(s, "t:0", 100, 109, b) == EW_APPLY_OK && r.ran == 1,
          "another writer touched the positions between check and EXEC: still OK");
    check(ew_store_stats(s)->roundtrips == rt + 4, "by check, aborted EXEC, check, EXEC");
    check(raw_int("HINCRBY " PREFIX "{acc}:c f 0") == before + 3 && position(s, "t:0") == 109,
          "applied exactly once");

    /* another member applies the same batch in between: ours must not run */
    r = (struct race){"HSET " PREFIX "positions t:0 119", 1, 0};
    struct snap s0 = snap();
    check(apply1(s, "t:0", 110, 119, b) == EW_APPLY_DUPLICATE && r.ran == 1,
          "the batch applied by another writer in between: DUPLICATE");
    check(same(s0, snap()) && position(s, "t:0") == 119, "nothing of ours ran");

    /* a writer that never stops: refused after a bounded number of attempts */
    r = (struct race){"HINCRBY " PREFIX "positions other:0 1", 1000, 0};
    s0 = snap();
    check(apply1(s, "t:0", 120, 129, b) == EW_APPLY_CONFLICT && r.ran == 3,
          "positions changing at every attempt: CONFLICT after 3 attempts");
    check(same(s0, snap()) && position(s, "t:0") == 119, "nothing ran");
    ew_store_set_exec_hook(s, NULL, NULL);
    check(apply1(s, "t:0", 120, 129, b) == EW_APPLY_OK && position(s, "t:0") == 129,
          "and the same batch applies once the writer stopped");
}

static void test_big_ops(struct ew_store *s, struct ew_cmdbuf *b)
{
    int sizes[] = {10000, 20000};
    for (int k = 0; k < 2; k++) {
        int n = sizes[k];
        ew_cmdbuf_reset(b);
        ew_cmd_begin(b, "HSET");
        ew_cmd_argf(b, PREFIX "{big%d}:h", n);
        for (int i = 0; i < n; i++) {
            ew_cmd_argf(b, "field:%d", i);
            ew_cmd_argf(b, "%d", i);
        }
        ew_cmd_begin(b, "PEXPIRE");
        ew_cmd_argf(b, PREFIX "{big%d}:h", n);
        ew_cmd_int(b, 600000);
        double t0 = now_ms();
        enum ew_apply_result r = apply1(s, "big:0", (int64_t)k * 10, (int64_t)k * 10 + 9, b);
        double ms = now_ms() - t0;
        check(r == EW_APPLY_OK, "HSET of %d fields in one apply", n);
        check(raw_int("HLEN " PREFIX "{big%d}:h", n) == n &&
                  raw_is("19999", "HGET " PREFIX "{big%d}:h field:19999", n) == (n == 20000),
              "all %d fields written", n);
        printf("# apply of one HSET with %d fields: %.2f ms\n", n, ms);
    }

    ew_cmdbuf_reset(b);
    ew_cmd_begin(b, "PFADD");
    ew_cmd_str(b, PREFIX "{big}:u");
    for (int i = 0; i < 20000; i++)
        ew_cmd_argf(b, "actor%d", i);
    ew_cmd_begin(b, "HDEL");
    ew_cmd_str(b, PREFIX "{big20000}:h");
    for (int i = 0; i < 15000; i++)
        ew_cmd_argf(b, "field:%d", i);
    check(apply1(s, "big:0", 20, 20, b) == EW_APPLY_OK, "PFADD of 20000 and HDEL of 15000");
    long long pf = raw_int("PFCOUNT " PREFIX "{big}:u");
    check(pf > 19500 && pf < 20500 && raw_int("HLEN " PREFIX "{big20000}:h") == 5000,
          "both ran in full (pfcount %lld)", pf);

    ew_cmdbuf_reset(b);
    for (int i = 0; i < 5000; i++) {
        ew_cmd_begin(b, "SET");
        ew_cmd_argf(b, PREFIX "s:%d", i);
        ew_cmd_argf(b, "%d", i);
        ew_cmd_str(b, "PX");
        ew_cmd_int(b, 600000);
    }
    check(apply1(s, "big:0", 21, 21, b) == EW_APPLY_OK && raw_count(PREFIX "s:*") == 5000,
          "5000 SET ops (5000 KEYS) in one apply");
}

static void test_refused(struct ew_store *s, struct ew_cmdbuf *b)
{
    struct snap s0 = snap();
    uint64_t rt = ew_store_stats(s)->roundtrips;

    ew_cmdbuf_reset(b);
    cmd(b, "HSET", PREFIX "r:x", "f", "v", NULL);
    cmd(b, "FLUSHALL", "ASYNC", NULL);
    check(apply1(s, "r:0", 0, 0, b) == EW_APPLY_ERROR, "FLUSHALL in a batch: EW_APPLY_ERROR");
    check(ew_store_stats(s)->roundtrips == rt, "refused before anything was sent");
    check(same(s0, snap()) && raw_int("EXISTS " PREFIX "r:x") == 0 && position(s, "r:0") == -1,
          "nothing written");

    ew_cmdbuf_reset(b);
    cmd(b, "EVAL", "return 1", "0", NULL);
    check(apply1(s, "r:0", 0, 0, b) == EW_APPLY_ERROR, "EVAL refused");

    ew_cmdbuf_reset(b);
    cmd(b, "HSET", PREFIX "positions", "t:0", "0", NULL);
    check(apply1(s, "r:0", 0, 0, b) == EW_APPLY_ERROR && position(s, "t:0") == 129,
          "an op on the positions hash is refused");

    /* checks done before the transaction: nothing of it runs */
    ew_cmdbuf_reset(b);
    cmd(b, "HSET", PREFIX "r:x", "f", "v", NULL);
    cmd(b, "HSET", PREFIX "r:y", "f1", "v1", "field-without-value", NULL);
    s0 = snap();
    check(apply1(s, "r:0", 0, 0, b) == EW_APPLY_ERROR, "HSET with an odd field list: ERROR");
    check(same(s0, snap()) && raw_int("EXISTS " PREFIX "r:x") == 0 && position(s, "r:0") == -1,
          "the valid op before it was not applied");

    raw_is("OK", "SET " PREFIX "r:str plain");
    ew_cmdbuf_reset(b);
    cmd(b, "HSET", PREFIX "r:x", "f", "v", NULL);
    cmd(b, "HINCRBY", PREFIX "r:str", "f", "1", NULL);
    check(apply1(s, "r:0", 0, 0, b) == EW_APPLY_ERROR, "HINCRBY on a string key: ERROR");
    check(raw_int("EXISTS " PREFIX "r:x") == 0 && position(s, "r:0") == -1,
          "nothing written (type checked before the first write)");

    ew_cmdbuf_reset(b);
    cmd(b, "DEL", PREFIX "r:str", NULL);
    cmd(b, "hincrby", PREFIX "r:str", "f", "5", NULL); /* command names are case-insensitive */
    check(apply1(s, "r:0", 0, 0, b) == EW_APPLY_OK && raw_int("HINCRBY " PREFIX "r:str f 0") == 5,
          "DEL then HINCRBY on the same key in one batch: OK");

    ew_cmdbuf_reset(b);
    cmd(b, "HINCRBY", PREFIX "r:x", "f", "one", NULL);
    check(apply1(s, "r:0", 1, 1, b) == EW_APPLY_ERROR && position(s, "r:0") == 0,
          "HINCRBY by a non-integer: ERROR, position unchanged");
    ew_cmdbuf_reset(b);
    cmd(b, "PEXPIRE", NULL);
    check(apply1(s, "r:0", 1, 1, b) == EW_APPLY_ERROR, "an op without a key: ERROR");

    /* BITFIELD (the actor sketch): its subcommands are checked before sending */
    ew_cmdbuf_reset(b);
    cmd(b, "BITFIELD", PREFIX "r:bf", "OVERFLOW", "WRAP", "INCRBY", "i64", "0", "7", "OVERFLOW",
        "SAT", "INCRBY", "u4", "#40", "20", "GET", "u4", "132", NULL);
    check(apply1(s, "r:0", 2, 2, b) == EW_APPLY_OK &&
              bf_get(PREFIX "r:bf", "i64", "0") == 7 && bf_get(PREFIX "r:bf", "u4", "#40") == 15,
          "BITFIELD: a wrapping i64 and a saturating u4 counter");
    static const char *const bad[][6] = {
        {"INCRBY", "u4", "#1", NULL},          /* no increment */
        {"INCRBY", "u64", "0", "1", NULL},     /* u64 does not exist */
        {"INCRBY", "u4", "-4", "1", NULL},     /* negative offset */
        {"OVERFLOW", "LOOSE", NULL},           /* no such mode */
        {"INCRBY", "u4", "0", "one", NULL},    /* no integer */
        {"SETRANGE", "u4", "0", "1", NULL},    /* no such subcommand */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ew_cmdbuf_reset(b);
        cmd(b, "HSET", PREFIX "r:x", "f", "v", NULL);
        ew_cmd_begin(b, "BITFIELD");
        ew_cmd_str(b, PREFIX "r:bf");
        for (size_t j = 0; bad[i][j]; j++)
            ew_cmd_str(b, bad[i][j]);
        check(apply1(s, "r:0", 3, 3, b) == EW_APPLY_ERROR && raw_int("EXISTS " PREFIX "r:x") == 0 &&
                  position(s, "r:0") == 2,
              "BITFIELD %s %s ...: refused, nothing written", bad[i][0], bad[i][1]);
    }
    raw_is("1", "HSET " PREFIX "r:h f v");
    ew_cmdbuf_reset(b);
    cmd(b, "BITFIELD", PREFIX "r:h", "INCRBY", "u4", "0", "1", NULL);
    check(apply1(s, "r:0", 3, 3, b) == EW_APPLY_ERROR, "BITFIELD on a hash: ERROR");

    /* SETRANGE (an account's state takes the fields a batch changed into its room) */
    ew_cmdbuf_reset(b);
    cmd(b, "SET", PREFIX "r:ap", "ab....", "PX", "600000", NULL);
    cmd(b, "SETRANGE", PREFIX "r:ap", "2", "cd", NULL);
    cmd(b, "SETRANGE", PREFIX "r:ap", "4", "ef", NULL);
    check(apply1(s, "r:0", 4, 4, b) == EW_APPLY_OK && raw_is("abcdef", "GET " PREFIX "r:ap") &&
              raw_int("PTTL " PREFIX "r:ap") > 590000,
          "SET then SETRANGE twice: one string, the expiry kept");
    ew_cmdbuf_reset(b);
    cmd(b, "HSET", PREFIX "r:x", "f", "v", NULL);
    cmd(b, "SETRANGE", PREFIX "r:h", "0", "x", NULL);
    check(apply1(s, "r:0", 5, 5, b) == EW_APPLY_ERROR && raw_int("EXISTS " PREFIX "r:x") == 0,
          "SETRANGE on a hash: ERROR, nothing written");
    ew_cmdbuf_reset(b);
    cmd(b, "SETRANGE", PREFIX "r:ap", "two", "y", NULL);
    check(apply1(s, "r:0", 5, 5, b) == EW_APPLY_ERROR, "SETRANGE at a non-integer offset: ERROR");
}

static void test_drop(struct ew_store *s, int port)
{
    raw_is("OK", "SET other:keep 1");
    raw_is("OK", "SET itest 1"); /* the prefix without its colon */
    raw_is("OK", "SET it*x:zz 1");
    raw_is("OK", "SET it[*]?:a 1");
    raw_is("OK", "SET it[*]?:b 1");
    long long mine = raw_count(PREFIX "*");
    int64_t n = ew_store_drop_namespace(s);
    check(mine > 5000 && n == mine, "drop_namespace removed all %lld keys (got %" PRId64 ")", mine,
          n);
    check(raw_count(PREFIX "*") == 0, "no key left under the prefix");
    check(raw_int("EXISTS other:keep itest it*x:zz it[*]?:a it[*]?:b") == 5,
          "keys of other prefixes survive");
    check(position(s, "t:0") == -1, "positions went with the namespace");

    struct opts o = {.port = port, .db = DB, .prefix = "it[*]?:"};
    struct ew_store *g = store_open(&o);
    check(ew_store_drop_namespace(g) == 2 && raw_int("EXISTS it*x:zz") == 1 &&
              raw_int("EXISTS it[*]?:a it[*]?:b") == 0,
          "a prefix with glob characters matches literally");
    ew_store_free(g);

    o.prefix = "";
    g = store_open(&o);
    check(ew_store_drop_namespace(g) == -1 && raw_int("EXISTS other:keep") == 1,
          "an empty prefix is refused");
    ew_store_free(g);
}

static void test_db(int port)
{
    redisContext *r0 = raw_connect(port, 0);
    redisReply *r = redisCommand(r0, "EXISTS other:keep");
    check(r && r->type == REDIS_REPLY_INTEGER && r->integer == 0, "the store used db %d", DB);
    freeReplyObject(r);
    redisFree(r0);
}

static int run_main(int port)
{
    struct opts o = {.port = port, .db = DB};
    struct ew_store *s = store_open(&o);
    struct ew_cmdbuf *b = ops_new();

    raw = raw_connect(port, DB);
    raw_is("OK", "FLUSHDB");
    test_connect(s);
    test_pipelined_read(s, b);
    test_guard(s, b);
    test_exec_race(s, b);
    test_big_ops(s, b);
    test_refused(s, b);
    test_drop(s, port);
    test_db(port);
    check(ew_store_stats(s)->reconnects == 0, "no reconnect happened");
    ew_cmdbuf_free(b);
    ew_store_free(s);
    redisFree(raw);
    return 0;
}

/* ---- down mode ---- */

/* Wait until the store allows its next attempt; the wait it announced. */
static int64_t wait_backoff(struct ew_store *s)
{
    int64_t announced = ew_store_retry_in_ms(s);
    double deadline = now_ms() + 10000;
    while (ew_store_retry_in_ms(s) > 0 && now_ms() < deadline)
        nap_ms(5);
    return announced;
}

static int run_down(int port, const char *marker)
{
    struct opts o = {.port = port, .db = DB, .command_timeout_ms = 1000, .backoff_ms = 400};
    struct ew_store *s = store_open(&o);
    struct ew_cmdbuf *b = ops_new();
    redisReply **rep = NULL;

    raw = raw_connect(port, DB);
    raw_is("OK", "FLUSHDB");
    small_batch(b);
    check(ew_store_ensure(s) == 0 && apply1(s, "d:0", 0, 9, b) == EW_APPLY_OK,
          "connected and applied");

    /* A server that stops answering: the apply times out, the store drops
     * the connection; the retry after the pause applies the batch once. */
    redisReply *r = redisCommand(raw, "CLIENT PAUSE 1500 ALL");
    check(r && r->type == REDIS_REPLY_STATUS, "CLIENT PAUSE 1500 ALL");
    freeReplyObject(r);
    small_batch(b);
    double t0 = now_ms();
    enum ew_apply_result res = apply1(s, "d:0", 10, 19, b);
    double ms = now_ms() - t0;
    check(res == EW_APPLY_UNAVAILABLE && !ew_store_connected(s),
          "apply to a paused server: UNAVAILABLE, marked down");
    check(ms >= 900 && ms < 1800, "after the command timeout of 1000 ms (%.0f ms)", ms);
    double deadline = now_ms() + 10000;
    while (ew_store_ensure(s) < 0 && now_ms() < deadline)
        nap_ms(20);
    res = apply1(s, "d:0", 10, 19, b);
    check(res == EW_APPLY_OK || res == EW_APPLY_DUPLICATE,
          "the retried apply: OK or DUPLICATE (%d)", (int)res);
    check(raw_int("HINCRBY " PREFIX "{acc}:c f 0") == 6, "the batch counted exactly once");
    check(ew_store_stats(s)->reconnects == 1, "stats.reconnects = 1");

    r = redisCommand(raw, "SHUTDOWN NOSAVE");
    check(r == NULL, "SHUTDOWN NOSAVE through a second connection");
    freeReplyObject(r);
    redisFree(raw);
    raw = NULL;

    uint64_t errors = ew_store_stats(s)->errors;
    t0 = now_ms();
    res = apply1(s, "d:0", 20, 29, b);
    ms = now_ms() - t0;
    check(res == EW_APPLY_UNAVAILABLE, "apply with Redis gone: UNAVAILABLE");
    check(ms < 1000 + 200, "within the command timeout (%.1f ms)", ms);
    check(!ew_store_connected(s) && ew_store_stats(s)->errors > errors, "store marked down");
    check(ew_store_ensure(s) == -1, "ensure: -1");
    int64_t w0 = ew_store_retry_in_ms(s);
    check(w0 > 0 && w0 <= 100, "first retry after at most 100 ms (%" PRId64 ")", w0);
    check(ew_store_read(s, b, &rep) == -1 && rep == NULL, "read while down: -1");
    const char *name = "d:0";
    int64_t pos;
    check(ew_store_get_positions(s, &name, 1, &pos) == -1, "get_positions while down: -1");
    check(ew_store_drop_namespace(s) == -1, "drop_namespace while down: -1");

    /* each failed attempt doubles the wait, up to retry_max_backoff (400 ms) */
    int64_t want[] = {200, 400, 400};
    for (int i = 0; i < 3; i++) {
        wait_backoff(s);
        t0 = now_ms();
        int rc = ew_store_ensure(s);
        ms = now_ms() - t0;
        int64_t w = ew_store_retry_in_ms(s);
        check(rc == -1 && w > want[i] / 2 && w <= want[i],
              "attempt %d fails at once (%.1f ms) and the next waits %" PRId64 " ms (want %" PRId64
              ")",
              i + 2, ms, w, want[i]);
    }
    check(ew_store_ensure(s) == -1 && ew_store_retry_in_ms(s) > 0,
          "no attempt before the backoff allows it");

    /* ask the script to restart Redis, then wait for the store to get back */
    int fd = open(marker, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    check(fd >= 0, "marker %s created", marker);
    if (fd >= 0) close(fd);
    deadline = now_ms() + 20000;
    int rc = -1;
    while ((rc = ew_store_ensure(s)) < 0 && now_ms() < deadline)
        nap_ms(20);
    check(rc == 0 && ew_store_connected(s), "ensure reconnects once Redis is back");
    check(ew_store_stats(s)->reconnects == 2, "stats.reconnects = 2");
    /* the restarted Redis has no data: the batch is new to it */
    check(apply1(s, "d:0", 10, 19, b) == EW_APPLY_OK, "apply works after the reconnect");
    check(position(s, "d:0") == 19, "position stored in the new Redis");
    ew_cmdbuf_free(b);
    ew_store_free(s);
    return 0;
}

/* ---- auth mode ---- */

static int run_auth(int port, const char *sock)
{
    struct ew_cmdbuf *b = ops_new();
    redisReply **rep = NULL;
    struct {
        const char *what, *sock, *user, *password;
        int want;
    } cases[] = {
        {"no password", NULL, NULL, NULL, -1},
        {"wrong password", NULL, NULL, "wrong-password", -1},
        {"right password", NULL, NULL, "s3cret", 0},
        {"user default, right password", NULL, "default", "s3cret", 0},
        {"user nobody, right password", NULL, "nobody", "s3cret", -1},
        {"unix socket, right password", sock, NULL, "s3cret", 0},
    };

    ew_cmd_begin(b, "PING");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct opts o = {.port = port,
                         .unix_socket = cases[i].sock,
                         .user = cases[i].user,
                         .password = cases[i].password};
        struct ew_store *s = store_open(&o);
        fprintf(stderr, "# case: %s\n", cases[i].what);
        int rc = ew_store_ensure(s);
        if (cases[i].want == 0)
            check(rc == 0 && ew_store_read(s, b, &rep) == 0 && rep[0]->type == REDIS_REPLY_STATUS &&
                      strcmp(rep[0]->str, "PONG") == 0,
                  "%s: connects and works", cases[i].what);
        else
            check(rc == -1 && !ew_store_connected(s) && ew_store_retry_in_ms(s) > 0,
                  "%s: refused, retried later", cases[i].what);
        ew_store_free(s);
    }
    ew_cmdbuf_free(b);
    return 0;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    const char *ports = argc > 2 ? argv[2] : getenv("REDIS_PORT");
    char *end = NULL;
    long port = ports ? strtol(ports, &end, 10) : 0;

    if (!ports || !*ports || *end || port <= 0 || port > 65535) {
        fprintf(stderr, "usage: store_itest main|down|auth PORT [MARKER|SOCKET]\n");
        return 2;
    }
    /* hiredis writes with write(2): a dead server must not kill us */
    signal(SIGPIPE, SIG_IGN);
    ew_log_setup(EW_DEBUG, EW_LOG_PREFIX_NEVER, 100, 1000);
    if (strcmp(mode, "main") == 0)
        run_main((int)port);
    else if (strcmp(mode, "down") == 0 && argc > 3)
        run_down((int)port, argv[3]);
    else if (strcmp(mode, "auth") == 0 && argc > 3)
        run_auth((int)port, argv[3]);
    else {
        fprintf(stderr, "usage: store_itest main|down|auth PORT [MARKER|SOCKET]\n");
        return 2;
    }
    printf("# %s: %d checks, %d failed\n", mode, tap_n, tap_failed);
    return tap_failed ? 1 : 0;
}
