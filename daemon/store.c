/* store — the only module that talks to Redis (see include/engwatch/store.h).
 *
 * Command buffers.  A command buffer is an arena: one growable byte buffer
 * holding every argument (each NUL-terminated, so names can be logged), plus
 * parallel arrays of per-argument offset, length and pointer, and the index
 * of each command's first argument.  The pointer array is what hiredis wants
 * (argv/argvlen); it is recomputed from the offsets whenever the byte buffer
 * moves, so it is always valid and a command is sent without copying its
 * arguments into another array.  Reset keeps every allocation.
 *
 * Connection.  Blocking hiredis with connect and command timeouts.  Any I/O
 * error or timeout frees the context and marks the store down; the next
 * attempt is allowed after min(100 ms * 2^k, retry_max_backoff) for the k-th
 * consecutive failure, and the transitions up -> down and down -> up are
 * logged once each.  A timed-out apply may still have run in Redis: that is
 * why the caller retries it and why the script's position guard then answers
 * DUPLICATE.  hiredis writes with write(2): the process must ignore SIGPIPE
 * (engwatchd does) or a write to a dead server kills it.
 *
 * Key expiry: the ops carry their own PEXPIREs; the positions hash alone
 * has none, on purpose: it is what keeps a redelivered batch from counting
 * twice, and it is small (one field per partition).
 *
 * Apply.  One EVALSHA of daemon/lua/apply.lua per batch; the ARGV encoding is
 * documented at the top of that script.  Op keys are de-duplicated with a
 * small open-addressing table kept in the store, so an op refers to its key
 * by index and each key crosses the wire once.  Opcodes are checked against a
 * whitelist here (a refused op never leaves the process) and again in Lua.
 */
#include "engwatch/store.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "engwatch/log.h"
#include "lua_embed.h"

/* ---- command buffers ----------------------------------------------------- */

struct ew_cmdbuf {
    char *data; /* the arena: every argument, each followed by a NUL */
    size_t len, cap;
    size_t *off;      /* argument j starts at data + off[j] */
    size_t *alen;     /* and is alen[j] bytes long */
    const char **ptr; /* data + off[j], kept valid across reallocs of data */
    size_t nargs, capargs;
    size_t *first; /* command i starts at argument first[i] */
    size_t ncmds, capcmds;
};

struct ew_cmdbuf *ew_cmdbuf_new(void)
{
    return calloc(1, sizeof(struct ew_cmdbuf));
}

void ew_cmdbuf_free(struct ew_cmdbuf *b)
{
    if (!b) return;
    free(b->data);
    free(b->off);
    free(b->alen);
    free(b->ptr);
    free(b->first);
    free(b);
}

void ew_cmdbuf_reset(struct ew_cmdbuf *b)
{
    b->len = 0;
    b->nargs = 0;
    b->ncmds = 0;
}

size_t ew_cmdbuf_count(const struct ew_cmdbuf *b)
{
    return b->ncmds;
}

/* Grow *p (an array of elem-sized items with capacity *cap) to hold need. */
static int grow_array(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return 0;
    size_t n = *cap ? *cap : 16;
    while (n < need) {
        if (n > SIZE_MAX / 2 / elem) return -1;
        n *= 2;
    }
    void *q = realloc(*p, n * elem);
    if (!q) return -1;
    *p = q;
    *cap = n;
    return 0;
}

/* Room for one more argument slot (in all three parallel arrays). */
static int reserve_arg(struct ew_cmdbuf *b)
{
    if (b->nargs < b->capargs) return 0;
    size_t c1 = b->capargs, c2 = b->capargs, c3 = b->capargs;
    if (grow_array((void **)&b->off, &c1, b->nargs + 1, sizeof *b->off) < 0 ||
        grow_array((void **)&b->alen, &c2, b->nargs + 1, sizeof *b->alen) < 0 ||
        grow_array((void **)&b->ptr, &c3, b->nargs + 1, sizeof *b->ptr) < 0)
        return -1; /* arrays that did grow stay valid; capargs is unchanged */
    b->capargs = c1;
    return 0;
}

/* Room for n more bytes in the arena; re-points ptr[] when data moves. */
static int reserve_bytes(struct ew_cmdbuf *b, size_t n)
{
    if (n > SIZE_MAX - b->len) return -1;
    if (b->len + n <= b->cap) return 0;
    char *old = b->data;
    size_t cap = b->cap;
    if (grow_array((void **)&b->data, &cap, b->len + n, 1) < 0) return -1;
    b->cap = cap;
    if (b->data != old)
        for (size_t j = 0; j < b->nargs; j++)
            b->ptr[j] = b->data + b->off[j];
    return 0;
}

/* Record the argument of len bytes just written at data + len (slot and
 * bytes already reserved). */
static void commit_arg(struct ew_cmdbuf *b, size_t len)
{
    b->data[b->len + len] = '\0';
    b->off[b->nargs] = b->len;
    b->alen[b->nargs] = len;
    b->ptr[b->nargs] = b->data + b->len;
    b->nargs++;
    b->len += len + 1;
}

/* 0 when the current command may take another argument (argc fits an int). */
static int can_add(const struct ew_cmdbuf *b)
{
    return b->ncmds > 0 && b->nargs - b->first[b->ncmds - 1] < (size_t)INT_MAX ? 0 : -1;
}

/* p must not point into b's own arena (it may move). */
int ew_cmd_arg(struct ew_cmdbuf *b, const void *p, size_t len)
{
    if (can_add(b) < 0 || reserve_arg(b) < 0 || len == SIZE_MAX || reserve_bytes(b, len + 1) < 0)
        return -1;
    if (len) memcpy(b->data + b->len, p, len);
    commit_arg(b, len);
    return 0;
}

int ew_cmd_begin(struct ew_cmdbuf *b, const char *name)
{
    if (grow_array((void **)&b->first, &b->capcmds, b->ncmds + 1, sizeof *b->first) < 0) return -1;
    b->first[b->ncmds++] = b->nargs;
    if (ew_cmd_arg(b, name, strlen(name)) < 0) {
        b->ncmds--;
        return -1;
    }
    return 0;
}

int ew_cmd_str(struct ew_cmdbuf *b, const char *s)
{
    return ew_cmd_arg(b, s, strlen(s));
}

int ew_cmd_int(struct ew_cmdbuf *b, int64_t v)
{
    char tmp[24];
    int n = snprintf(tmp, sizeof tmp, "%" PRId64, v);
    return ew_cmd_arg(b, tmp, (size_t)n);
}

int ew_cmd_argf(struct ew_cmdbuf *b, const char *fmt, ...)
{
    int rc = -1;
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    /* Format straight into the arena; a second pass only when it did not fit. */
    if (can_add(b) < 0 || reserve_arg(b) < 0 || reserve_bytes(b, 64) < 0) goto out;
    int n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
    if (n < 0) goto out;
    if ((size_t)n >= b->cap - b->len) {
        if (reserve_bytes(b, (size_t)n + 1) < 0) goto out;
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap2);
    }
    commit_arg(b, (size_t)n);
    rc = 0;
out:
    va_end(ap2);
    va_end(ap);
    return rc;
}

static size_t cmd_argc(const struct ew_cmdbuf *b, size_t i)
{
    return (i + 1 < b->ncmds ? b->first[i + 1] : b->nargs) - b->first[i];
}

void ew_cmdbuf_get(const struct ew_cmdbuf *b, size_t i, int *argc, const char *const **argv,
                   const size_t **argvlen)
{
    if (i >= b->ncmds) {
        *argc = 0;
        *argv = NULL;
        *argvlen = NULL;
        return;
    }
    *argc = (int)cmd_argc(b, i);
    *argv = b->ptr + b->first[i];
    *argvlen = b->alen + b->first[i];
}

/* ---- the store ------------------------------------------------------------ */

#define BACKOFF_BASE_MS 100
#define SCAN_COUNT      "1000"

struct ew_store {
    /* configuration (owned copies) */
    char *host, *unix_socket, *user, *password, *prefix;
    int port;
    int64_t db, connect_timeout_ms, command_timeout_ms, retry_max_backoff_ms;
    char *where;   /* "127.0.0.1:6379" or "unix:/path", for log lines */
    char *poskey;  /* <prefix>positions */
    char *pattern; /* SCAN MATCH pattern: the prefix, glob-escaped, then '*' */

    redisContext *c;
    char sha[41]; /* of apply.lua, from SCRIPT LOAD */

    /* backoff */
    int ever_connected;
    int down;             /* a failure happened and no connect succeeded since */
    int64_t down_since;   /* ms, CLOCK_MONOTONIC */
    int64_t next_attempt; /* ms; ensure does nothing before */
    unsigned fails;       /* consecutive failures: the backoff exponent */
    unsigned attempts;    /* connect attempts since down */
    char last_err[256];

    /* replies of the last ew_store_read */
    redisReply **replies;
    size_t nreplies, capreplies;
    char *resp; /* one command in RESP, as sent */
    size_t capresp;

    struct ew_cmdbuf *call; /* scratch for EVALSHA, HMGET, SCAN, UNLINK */

    /* op keys of one apply: keys[k] = bytes of the k-th distinct key */
    const char **kptr;
    size_t *klen;
    size_t nkeys, capkeys;
    uint32_t *slots; /* open addressing: 0 = empty, else k + 1 */
    size_t nslots;   /* power of two */
    uint32_t *opkey; /* per op argument that is a key: its k, in order */
    size_t capopkey;

    struct ew_store_stats stats;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double now_ms_f(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static char *dup_or_empty(const char *s)
{
    return strdup(s ? s : "");
}

/* "5s" or "750ms" */
static void fmt_ms(char *buf, size_t n, int64_t ms)
{
    if (ms >= 1000 && ms % 1000 == 0)
        snprintf(buf, n, "%" PRId64 "s", ms / 1000);
    else
        snprintf(buf, n, "%" PRId64 "ms", ms);
}

/* Copy n bytes of p into buf for a log line, non-printables as '?'. */
static const char *printable(char *buf, size_t bufsz, const char *p, size_t n)
{
    size_t i;
    for (i = 0; i < n && i + 1 < bufsz; i++)
        buf[i] = (p[i] >= 0x20 && p[i] < 0x7f) ? p[i] : '?';
    buf[i] = '\0';
    return buf;
}

int ew_store_new(struct ew_store **out, const struct ew_config *cfg)
{
    struct ew_store *s = calloc(1, sizeof *s);
    *out = NULL;
    if (!s) return -1;
    const typeof(cfg->redis) *r = &cfg->redis;
    s->host = dup_or_empty(r->host);
    s->unix_socket = dup_or_empty(r->unix_socket);
    s->user = dup_or_empty(r->user);
    s->password = dup_or_empty(r->password);
    s->prefix = dup_or_empty(r->prefix);
    s->call = ew_cmdbuf_new();
    if (!s->host || !s->unix_socket || !s->user || !s->password || !s->prefix || !s->call)
        goto fail;
    s->port = (int)r->port;
    s->db = r->db;
    s->connect_timeout_ms = r->connect_timeout_ms > 0 ? r->connect_timeout_ms : 2000;
    s->command_timeout_ms = r->command_timeout_ms > 0 ? r->command_timeout_ms : 5000;
    s->retry_max_backoff_ms = r->retry_max_backoff_ms > 0 ? r->retry_max_backoff_ms : 5000;

    int n = s->unix_socket[0] ? asprintf(&s->where, "unix:%s", s->unix_socket)
                              : asprintf(&s->where, "%s:%d", s->host, s->port);
    if (n < 0) {
        s->where = NULL;
        goto fail;
    }
    if (asprintf(&s->poskey, "%spositions", s->prefix) < 0) {
        s->poskey = NULL;
        goto fail;
    }
    size_t plen = strlen(s->prefix);
    s->pattern = malloc(2 * plen + 2);
    if (!s->pattern) goto fail;
    char *q = s->pattern;
    for (size_t i = 0; i < plen; i++) {
        if (strchr("*?[]\\", s->prefix[i])) *q++ = '\\';
        *q++ = s->prefix[i];
    }
    *q++ = '*';
    *q = '\0';
    *out = s;
    return 0;
fail:
    ew_store_free(s);
    return -1;
}

static void free_replies(struct ew_store *s)
{
    for (size_t i = 0; i < s->nreplies; i++)
        freeReplyObject(s->replies[i]);
    s->nreplies = 0;
}

void ew_store_free(struct ew_store *s)
{
    if (!s) return;
    if (s->c) redisFree(s->c);
    free_replies(s);
    free(s->replies);
    free(s->resp);
    ew_cmdbuf_free(s->call);
    free(s->kptr);
    free(s->klen);
    free(s->slots);
    free(s->opkey);
    free(s->pattern);
    free(s->poskey);
    free(s->where);
    free(s->prefix);
    /* the password is the only secret we hold: do not leave it in freed memory */
    if (s->password) explicit_bzero(s->password, strlen(s->password));
    free(s->password);
    free(s->user);
    free(s->unix_socket);
    free(s->host);
    free(s);
}

int ew_store_connected(const struct ew_store *s)
{
    return s->c != NULL;
}

const char *ew_store_prefix(const struct ew_store *s)
{
    return s->prefix;
}

const struct ew_store_stats *ew_store_stats(const struct ew_store *s)
{
    return &s->stats;
}

int64_t ew_store_retry_in_ms(const struct ew_store *s)
{
    if (s->c) return 0;
    int64_t d = s->next_attempt - now_ms();
    return d > 0 ? d : 0;
}

/* Record a failure: drop the connection, schedule the next attempt, and log
 * when this is news (the store was up, or the reason changed). */
static void fail_down(struct ew_store *s, const char *err)
{
    int64_t now = now_ms();
    int was_up = !s->down;
    int same = strcmp(s->last_err, err) == 0;

    if (s->c) {
        redisFree(s->c);
        s->c = NULL;
    }
    s->stats.errors++;
    if (was_up) {
        s->down = 1;
        s->down_since = now;
        s->fails = 0;
        s->attempts = 0;
    }
    s->fails++;
    int64_t delay = BACKOFF_BASE_MS;
    for (unsigned k = 1; k < s->fails && delay < s->retry_max_backoff_ms; k++)
        delay *= 2;
    if (delay > s->retry_max_backoff_ms) delay = s->retry_max_backoff_ms;
    s->next_attempt = now + delay;

    char cap[32];
    fmt_ms(cap, sizeof cap, s->retry_max_backoff_ms);
    if (was_up)
        EW_LOG(EW_WARN, "store", "redis %s unavailable: %s; retrying with backoff up to %s",
               s->where, err, cap);
    else if (!same)
        EW_LOG_RL(EW_WARN, "store", "redis %s still unavailable: %s", s->where, err);
    else
        EW_LOG(EW_DEBUG, "store", "redis %s: attempt %u failed: %s; next in %" PRId64 " ms",
               s->where, s->attempts, err, delay);
    snprintf(s->last_err, sizeof s->last_err, "%s", err);
}

/* The connection's error as text ("timeout after 5000 ms" for a timeout). */
static void conn_error(const struct ew_store *s, int saved_errno, char *buf, size_t n)
{
    if (!s->c)
        snprintf(buf, n, "out of memory");
    else if (s->c->err == REDIS_ERR_IO && (saved_errno == EAGAIN || saved_errno == EWOULDBLOCK))
        snprintf(buf, n, "command timeout after %" PRId64 " ms", s->command_timeout_ms);
    else
        snprintf(buf, n, "%s", s->c->errstr[0] ? s->c->errstr : "connection error");
}

/* Run one command on the fresh connection during connect; on failure writes
 * the reason into err and returns NULL. */
static redisReply *setup_cmd(struct ew_store *s, const char *what, char *err, size_t errn, int argc,
                             const char **argv)
{
    size_t lens[4];
    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    redisReply *r = redisCommandArgv(s->c, argc, argv, lens);
    if (!r) {
        char why[200];
        conn_error(s, errno, why, sizeof why);
        snprintf(err, errn, "%s: %s", what, why);
        return NULL;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        snprintf(err, errn, "%s failed: %s", what, r->str);
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

/* SCRIPT LOAD apply.lua into s->sha.  0 / -1 with err set. */
static int load_script(struct ew_store *s, char *err, size_t errn)
{
    const char *argv[] = {"SCRIPT", "LOAD", ew_lua_apply};
    redisReply *r = setup_cmd(s, "SCRIPT LOAD", err, errn, 3, argv);
    if (!r) return -1;
    int rc = -1;
    if (r->type == REDIS_REPLY_STRING && r->len == 40) {
        memcpy(s->sha, r->str, 40);
        s->sha[40] = '\0';
        rc = 0;
    } else {
        snprintf(err, errn, "SCRIPT LOAD: unexpected reply");
    }
    freeReplyObject(r);
    return rc;
}

/* Connect, AUTH, SELECT, SCRIPT LOAD.  0 / -1 with err set (s->c NULL). */
static int connect_now(struct ew_store *s, char *err, size_t errn)
{
    struct timeval ct = {.tv_sec = s->connect_timeout_ms / 1000,
                         .tv_usec = (s->connect_timeout_ms % 1000) * 1000};
    struct timeval cmdt = {.tv_sec = s->command_timeout_ms / 1000,
                           .tv_usec = (s->command_timeout_ms % 1000) * 1000};
    redisReply *r = NULL;
    char db[24];

    s->c = s->unix_socket[0] ? redisConnectUnixWithTimeout(s->unix_socket, ct)
                             : redisConnectWithTimeout(s->host, s->port, ct);
    if (!s->c || s->c->err) {
        snprintf(err, errn, "connect: %s", s->c ? s->c->errstr : "out of memory");
        goto fail;
    }
    if (redisSetTimeout(s->c, cmdt) != REDIS_OK) {
        snprintf(err, errn, "setting the command timeout: %s", s->c->errstr);
        goto fail;
    }
    if (!s->unix_socket[0] && redisEnableKeepAlive(s->c) != REDIS_OK) {
        snprintf(err, errn, "enabling keepalive: %s", s->c->errstr);
        goto fail;
    }
    if (s->user[0]) {
        const char *argv[] = {"AUTH", s->user, s->password};
        if (!(r = setup_cmd(s, "AUTH", err, errn, 3, argv))) goto fail;
    } else if (s->password[0]) {
        const char *argv[] = {"AUTH", s->password};
        if (!(r = setup_cmd(s, "AUTH", err, errn, 2, argv))) goto fail;
    }
    freeReplyObject(r);
    r = NULL;
    if (s->db != 0) {
        snprintf(db, sizeof db, "%" PRId64, s->db);
        const char *argv[] = {"SELECT", db};
        if (!(r = setup_cmd(s, "SELECT", err, errn, 2, argv))) goto fail;
        freeReplyObject(r);
        r = NULL;
    }
    if (load_script(s, err, errn) < 0) goto fail;
    return 0;
fail:
    if (s->c) {
        redisFree(s->c);
        s->c = NULL;
    }
    return -1;
}

int ew_store_ensure(struct ew_store *s)
{
    if (s->c) return 0;
    int64_t now = now_ms();
    if (now < s->next_attempt) return -1;
    char err[sizeof s->last_err];
    s->attempts++;
    if (connect_now(s, err, sizeof err) < 0) {
        fail_down(s, err);
        return -1;
    }
    if (s->down) {
        double secs = (double)(now_ms() - s->down_since) / 1000.0;
        if (s->ever_connected) {
            s->stats.reconnects++;
            EW_LOG(EW_NOTICE, "store", "redis reconnected after %.1f s (%u attempts)", secs,
                   s->attempts);
        } else {
            EW_LOG(EW_NOTICE, "store", "redis %s connected after %.1f s (%u attempts)", s->where,
                   secs, s->attempts);
        }
    } else {
        EW_LOG(EW_INFO, "store", "connected to redis %s", s->where);
    }
    s->ever_connected = 1;
    s->down = 0;
    s->fails = 0;
    s->attempts = 0;
    s->next_attempt = 0;
    s->last_err[0] = '\0';
    return 0;
}

/* Send the commands [from, from + n) of b in one pipeline and collect their
 * replies into out[0..n).  Counts the round trip (callers count commands).
 * On a connection failure frees what it collected, marks the store down and
 * returns -1. */
static size_t put_u64(char *p, uint64_t u)
{
    char tmp[24];
    size_t n = 0, o = 0;
    do
        tmp[n++] = (char)('0' + u % 10);
    while ((u /= 10) != 0);
    while (n)
        p[o++] = tmp[--n];
    return o;
}

/* Command i of b in RESP ("*N\r\n" then "$L\r\nARG\r\n" per argument) into
 * s->resp: hiredis' own formatting (sdscatfmt per argument) was a tenth of
 * the daemon's time on the apply's one large EVALSHA. */
static int format_resp(struct ew_store *s, const struct ew_cmdbuf *b, size_t i, size_t *len)
{
    size_t argc = cmd_argc(b, i), need = 24;
    for (size_t j = 0; j < argc; j++)
        need += b->alen[b->first[i] + j] + 26;
    if (need > s->capresp) {
        char *r = realloc(s->resp, need);
        if (!r)
            return -1;
        s->resp = r;
        s->capresp = need;
    }
    char *p = s->resp;
    *p++ = '*';
    p += put_u64(p, argc);
    *p++ = '\r';
    *p++ = '\n';
    for (size_t j = 0; j < argc; j++) {
        size_t l = b->alen[b->first[i] + j];
        *p++ = '$';
        p += put_u64(p, l);
        *p++ = '\r';
        *p++ = '\n';
        memcpy(p, b->ptr[b->first[i] + j], l);
        p += l;
        *p++ = '\r';
        *p++ = '\n';
    }
    *len = (size_t)(p - s->resp);
    return 0;
}

static int roundtrip(struct ew_store *s, const struct ew_cmdbuf *b, size_t from, size_t n,
                     redisReply **out)
{
    double t0 = now_ms_f();
    size_t got = 0;
    for (size_t i = from; i < from + n; i++) {
        size_t len;
        if (format_resp(s, b, i, &len) < 0 ||
            redisAppendFormattedCommand(s->c, s->resp, len) != REDIS_OK)
            goto fail;
    }
    for (; got < n; got++) {
        void *r = NULL;
        if (redisGetReply(s->c, &r) != REDIS_OK || !r) goto fail;
        out[got] = r;
    }
    s->stats.roundtrips++;
    s->stats.last_rtt_ms = now_ms_f() - t0;
    return 0;
fail:;
    char err[200];
    conn_error(s, errno, err, sizeof err);
    while (got > 0)
        freeReplyObject(out[--got]);
    fail_down(s, err);
    return -1;
}

/* The last command of s->call in its own round trip; counts it as one
 * command unless it is the apply's EVALSHA (whose ops apply_result counts). */
static redisReply *call_last(struct ew_store *s, int count)
{
    redisReply *r = NULL;
    if (roundtrip(s, s->call, ew_cmdbuf_count(s->call) - 1, 1, &r) < 0) return NULL;
    s->stats.commands += (uint64_t)count;
    return r;
}

int ew_store_read(struct ew_store *s, const struct ew_cmdbuf *b, redisReply ***replies)
{
    size_t n = ew_cmdbuf_count(b);
    free_replies(s);
    *replies = NULL;
    if (ew_store_ensure(s) < 0) return -1;
    if (n == 0) return 0;
    if (grow_array((void **)&s->replies, &s->capreplies, n, sizeof *s->replies) < 0) {
        EW_LOG_RL(EW_ERROR, "store", "read: out of memory for %zu replies", n);
        return -1;
    }
    if (roundtrip(s, b, 0, n, s->replies) < 0) return -1;
    s->stats.commands += n;
    s->nreplies = n;
    *replies = s->replies;
    return 0;
}

/* ---- apply ---------------------------------------------------------------- */

static const struct {
    const char *name;
    int all_keys; /* every argument is a key (else only the first) */
} apply_ops[] = {
    {"HSET", 0},   {"HINCRBY", 0}, {"HDEL", 0}, {"PFADD", 0}, {"PEXPIRE", 0},
    {"EXPIRE", 0}, {"XADD", 0},    {"SET", 0},  {"DEL", 1},   {"UNLINK", 1},
};
#define NOPS (sizeof apply_ops / sizeof apply_ops[0])

/* Index in apply_ops of the command name p[0..n), or -1. */
static int op_index(const char *p, size_t n)
{
    for (size_t i = 0; i < NOPS; i++)
        if (strlen(apply_ops[i].name) == n && strncasecmp(apply_ops[i].name, p, n) == 0)
            return (int)i;
    return -1;
}

static uint64_t hash_bytes(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

/* Index of key p[0..n) among the distinct keys, adding it when new; -1 on
 * allocation failure.  p is borrowed from the ops buffer (stable for the call). */
static int64_t key_index(struct ew_store *s, const char *p, size_t n)
{
    if (s->nkeys >= UINT32_MAX - 1) return -1;
    if ((s->nkeys + 1) * 2 > s->nslots) {
        size_t ns = s->nslots ? s->nslots * 2 : 256;
        uint32_t *sl = calloc(ns, sizeof *sl);
        if (!sl) return -1;
        for (size_t k = 0; k < s->nkeys; k++) {
            size_t i = hash_bytes(s->kptr[k], s->klen[k]) & (ns - 1);
            while (sl[i])
                i = (i + 1) & (ns - 1);
            sl[i] = (uint32_t)k + 1;
        }
        free(s->slots);
        s->slots = sl;
        s->nslots = ns;
    }
    size_t i = hash_bytes(p, n) & (s->nslots - 1);
    for (; s->slots[i]; i = (i + 1) & (s->nslots - 1)) {
        size_t k = s->slots[i] - 1;
        if (s->klen[k] == n && memcmp(s->kptr[k], p, n) == 0) return (int64_t)k;
    }
    size_t c1 = s->capkeys, c2 = s->capkeys;
    if (grow_array((void **)&s->kptr, &c1, s->nkeys + 1, sizeof *s->kptr) < 0 ||
        grow_array((void **)&s->klen, &c2, s->nkeys + 1, sizeof *s->klen) < 0)
        return -1;
    s->capkeys = c1;
    s->kptr[s->nkeys] = p;
    s->klen[s->nkeys] = n;
    s->slots[i] = (uint32_t)s->nkeys + 1;
    return (int64_t)s->nkeys++;
}

static void keys_reset(struct ew_store *s)
{
    s->nkeys = 0;
    if (s->slots) memset(s->slots, 0, s->nslots * sizeof *s->slots);
}

/* Check positions and ops, and collect the distinct op keys (s->kptr) and,
 * per key argument in op order, its key index (s->opkey).  0, or -1 with the
 * reason logged. */
static int apply_prepare(struct ew_store *s, const struct ew_position *pos, size_t npos,
                         const struct ew_cmdbuf *ops)
{
    char show[64];
    size_t poslen = strlen(s->poskey), nk = 0;

    keys_reset(s);
    for (size_t p = 0; p < npos; p++) {
        if (!pos[p].name || pos[p].first < 0 || pos[p].first > pos[p].last) {
            EW_LOG_RL(EW_ERROR, "store",
                      "apply refused: position %zu (%s): need 0 <= first <= last (got %" PRId64
                      "..%" PRId64 ")",
                      p + 1, pos[p].name ? pos[p].name : "(null)", pos[p].first, pos[p].last);
            return -1;
        }
    }
    for (size_t i = 0; i < ew_cmdbuf_count(ops); i++) {
        size_t argc = cmd_argc(ops, i), a0 = ops->first[i];
        int op = op_index(ops->ptr[a0], ops->alen[a0]);
        if (op < 0) {
            EW_LOG_RL(EW_ERROR, "store", "apply refused: op %zu: %s is not an allowed command",
                      i + 1, printable(show, sizeof show, ops->ptr[a0], ops->alen[a0]));
            return -1;
        }
        if (argc < 2) {
            EW_LOG_RL(EW_ERROR, "store", "apply refused: op %zu: %s without a key", i + 1,
                      apply_ops[op].name);
            return -1;
        }
        size_t lastkey = apply_ops[op].all_keys ? argc - 1 : 1;
        if (grow_array((void **)&s->opkey, &s->capopkey, nk + lastkey, sizeof *s->opkey) < 0)
            goto oom;
        for (size_t j = 1; j <= lastkey; j++) {
            const char *k = ops->ptr[a0 + j];
            size_t kl = ops->alen[a0 + j];
            if (kl == poslen && memcmp(k, s->poskey, kl) == 0) {
                EW_LOG_RL(EW_ERROR, "store", "apply refused: op %zu: %s on the positions hash",
                          i + 1, apply_ops[op].name);
                return -1;
            }
            int64_t ki = key_index(s, k, kl);
            if (ki < 0) goto oom;
            s->opkey[nk++] = (uint32_t)ki;
        }
    }
    return 0;
oom:
    EW_LOG_RL(EW_ERROR, "store", "apply: out of memory collecting the keys");
    return -1;
}

/* Build the EVALSHA call into s->call (encoding: daemon/lua/apply.lua). */
static int apply_build(struct ew_store *s, const struct ew_position *pos, size_t npos,
                       const struct ew_cmdbuf *ops)
{
    struct ew_cmdbuf *c = s->call;
    size_t nk = 0;
    int rc = 0;

    ew_cmdbuf_reset(c);
    rc |= ew_cmd_begin(c, "EVALSHA");
    rc |= ew_cmd_str(c, s->sha);
    rc |= ew_cmd_int(c, (int64_t)s->nkeys + 1);
    rc |= ew_cmd_str(c, s->poskey);
    for (size_t k = 0; k < s->nkeys && rc == 0; k++)
        rc |= ew_cmd_arg(c, s->kptr[k], s->klen[k]);
    rc |= ew_cmd_int(c, (int64_t)npos);
    for (size_t p = 0; p < npos && rc == 0; p++) {
        rc |= ew_cmd_str(c, pos[p].name);
        rc |= ew_cmd_int(c, pos[p].first);
        rc |= ew_cmd_int(c, pos[p].last);
    }
    rc |= ew_cmd_int(c, (int64_t)ew_cmdbuf_count(ops));
    for (size_t i = 0; i < ew_cmdbuf_count(ops) && rc == 0; i++) {
        size_t argc = cmd_argc(ops, i), a0 = ops->first[i];
        int op = op_index(ops->ptr[a0], ops->alen[a0]);
        size_t lastkey = apply_ops[op].all_keys ? argc - 1 : 1;
        rc |= ew_cmd_str(c, apply_ops[op].name);
        rc |= ew_cmd_int(c, (int64_t)(argc - 1));
        for (size_t j = 1; j < argc && rc == 0; j++) {
            if (j <= lastkey)
                rc |= ew_cmd_int(c, (int64_t)s->opkey[nk++] + 2); /* KEYS index in Lua */
            else
                rc |= ew_cmd_arg(c, ops->ptr[a0 + j], ops->alen[a0 + j]);
        }
    }
    return rc ? -1 : 0;
}

/* Map the script's reply.  Logs refusals. */
static enum ew_apply_result apply_result(struct ew_store *s, const redisReply *r, size_t npos,
                                         size_t nops)
{
    const redisReply *e0 = r->type == REDIS_REPLY_ARRAY && r->elements > 0 ? r->element[0] : NULL;
    const char *tag =
        e0 && (e0->type == REDIS_REPLY_STRING || e0->type == REDIS_REPLY_STATUS) ? e0->str : "";
    uint64_t guard = npos ? 1 : 0; /* the script's HMGET of the positions */

    if (r->type == REDIS_REPLY_ERROR) {
        EW_LOG_RL(EW_ERROR, "store", "apply refused by redis: %s", r->str);
        s->stats.errors++;
        return EW_APPLY_ERROR;
    }
    if (strcmp(tag, "OK") == 0) {
        s->stats.applies++;
        s->stats.commands += nops + 2 * guard;
        return EW_APPLY_OK;
    }
    if (strcmp(tag, "DUPLICATE") == 0) {
        s->stats.conflicts++;
        s->stats.commands += guard;
        return EW_APPLY_DUPLICATE;
    }
    if (strcmp(tag, "CONFLICT") == 0) {
        char names[512];
        size_t n = 0;
        names[0] = '\0';
        for (size_t i = 1; i + 1 < r->elements && n < sizeof names; i += 2) {
            const redisReply *a = r->element[i], *b = r->element[i + 1];
            if (a->type == REDIS_REPLY_STRING && b->type == REDIS_REPLY_STRING) {
                int m = snprintf(names + n, sizeof names - n, "%s%s at %s", n ? ", " : "", a->str,
                                 b->str);
                n += m > 0 ? (size_t)m : 0;
            }
        }
        EW_LOG_RL(EW_WARN, "store", "apply refused: positions already past the batch: %s", names);
        s->stats.conflicts++;
        s->stats.commands += guard;
        return EW_APPLY_CONFLICT;
    }
    EW_LOG_RL(EW_ERROR, "store", "apply: unexpected reply from the script (type %d)", r->type);
    s->stats.errors++;
    return EW_APPLY_ERROR;
}

enum ew_apply_result ew_store_apply(struct ew_store *s, const struct ew_position *pos, size_t npos,
                                    const struct ew_cmdbuf *ops)
{
    size_t nops = ew_cmdbuf_count(ops);
    redisReply *r = NULL;
    enum ew_apply_result res = EW_APPLY_ERROR;
    char err[sizeof s->last_err];

    if (apply_prepare(s, pos, npos, ops) < 0) return EW_APPLY_ERROR;
    if (npos == 0 && nops == 0) return EW_APPLY_OK;
    if (ew_store_ensure(s) < 0) return EW_APPLY_UNAVAILABLE;
    for (int attempt = 0;; attempt++) {
        if (apply_build(s, pos, npos, ops) < 0) {
            EW_LOG_RL(EW_ERROR, "store", "apply: out of memory building the call");
            goto out;
        }
        if (!(r = call_last(s, 0))) {
            res = EW_APPLY_UNAVAILABLE;
            goto out;
        }
        if (attempt == 0 && r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0) {
            /* Redis lost the script (restart, SCRIPT FLUSH): load it again, once. */
            freeReplyObject(r);
            r = NULL;
            EW_LOG(EW_NOTICE, "store", "redis %s lost the apply script: loading it again",
                   s->where);
            if (load_script(s, err, sizeof err) < 0) {
                if (s->c->err) {
                    fail_down(s, err);
                    res = EW_APPLY_UNAVAILABLE;
                } else {
                    EW_LOG_RL(EW_ERROR, "store", "apply: %s", err);
                    s->stats.errors++;
                }
                goto out;
            }
            s->stats.roundtrips++;
            s->stats.commands++;
            continue;
        }
        break;
    }
    res = apply_result(s, r, npos, nops);
out:
    freeReplyObject(r);
    return res;
}

/* ---- positions and namespace ---------------------------------------------- */

int ew_store_get_positions(struct ew_store *s, const char *const *names, size_t n, int64_t *out)
{
    redisReply *r = NULL;
    int rc = -1;
    struct ew_cmdbuf *c = s->call;

    if (n == 0) return 0;
    if (ew_store_ensure(s) < 0) return -1;
    ew_cmdbuf_reset(c);
    int brc = ew_cmd_begin(c, "HMGET") | ew_cmd_str(c, s->poskey);
    for (size_t i = 0; i < n && brc == 0; i++)
        brc |= ew_cmd_str(c, names[i]);
    if (brc || !(r = call_last(s, 1))) goto out;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != n) {
        EW_LOG_RL(EW_ERROR, "store", "HMGET %s: unexpected reply%s%s", s->poskey,
                  r->type == REDIS_REPLY_ERROR ? ": " : "",
                  r->type == REDIS_REPLY_ERROR ? r->str : "");
        s->stats.errors++;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const redisReply *e = r->element[i];
        char *end = NULL;
        if (e->type == REDIS_REPLY_NIL) {
            out[i] = -1;
            continue;
        }
        errno = 0;
        long long v = e->type == REDIS_REPLY_STRING ? strtoll(e->str, &end, 10) : -1;
        if (!end || end == e->str || *end || errno || v < 0) {
            EW_LOG_RL(EW_ERROR, "store", "position %s in %s is not an offset", names[i], s->poskey);
            s->stats.errors++;
            goto out;
        }
        out[i] = v;
    }
    rc = 0;
out:
    freeReplyObject(r);
    return rc;
}

int64_t ew_store_drop_namespace(struct ew_store *s)
{
    redisReply *scan = NULL, *del = NULL;
    struct ew_cmdbuf *c = s->call;
    char cursor[32] = "0";
    int64_t removed = 0;

    if (!s->prefix[0]) {
        /* an empty prefix would match every key of the database */
        EW_LOG(EW_ERROR, "store", "refusing to drop the namespace: redis.prefix is empty");
        return -1;
    }
    if (ew_store_ensure(s) < 0) return -1;
    do {
        ew_cmdbuf_reset(c);
        if ((ew_cmd_begin(c, "SCAN") | ew_cmd_str(c, cursor) | ew_cmd_str(c, "MATCH") |
             ew_cmd_str(c, s->pattern) | ew_cmd_str(c, "COUNT") | ew_cmd_str(c, SCAN_COUNT)) ||
            !(scan = call_last(s, 1)))
            goto fail;
        if (scan->type != REDIS_REPLY_ARRAY || scan->elements != 2 ||
            scan->element[0]->type != REDIS_REPLY_STRING ||
            scan->element[0]->len >= sizeof cursor || scan->element[1]->type != REDIS_REPLY_ARRAY) {
            EW_LOG(EW_ERROR, "store", "SCAN: unexpected reply%s%s",
                   scan->type == REDIS_REPLY_ERROR ? ": " : "",
                   scan->type == REDIS_REPLY_ERROR ? scan->str : "");
            s->stats.errors++;
            goto fail;
        }
        memcpy(cursor, scan->element[0]->str, scan->element[0]->len + 1);
        const redisReply *keys = scan->element[1];
        if (keys->elements > 0) {
            ew_cmdbuf_reset(c);
            int brc = ew_cmd_begin(c, "UNLINK");
            for (size_t i = 0; i < keys->elements && brc == 0; i++)
                brc |= ew_cmd_arg(c, keys->element[i]->str, keys->element[i]->len);
            if (brc || !(del = call_last(s, 1))) goto fail;
            if (del->type != REDIS_REPLY_INTEGER) {
                EW_LOG(EW_ERROR, "store", "UNLINK: unexpected reply%s%s",
                       del->type == REDIS_REPLY_ERROR ? ": " : "",
                       del->type == REDIS_REPLY_ERROR ? del->str : "");
                s->stats.errors++;
                goto fail;
            }
            removed += del->integer;
            freeReplyObject(del);
            del = NULL;
        }
        freeReplyObject(scan);
        scan = NULL;
    } while (strcmp(cursor, "0") != 0);
    EW_LOG(EW_INFO, "store", "dropped %" PRId64 " keys under \"%s\"", removed, s->prefix);
    return removed;
fail:
    freeReplyObject(del);
    freeReplyObject(scan);
    return -1;
}
