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
 * why the caller retries it and why the position check then answers
 * DUPLICATE.  Commands are written with send(MSG_NOSIGNAL) (see send_resp),
 * but hiredis' own writes (connect-time commands) use write(2): the process
 * must ignore SIGPIPE (engwatchd does) or a write to a dead server kills it.
 *
 * Key expiry: the ops carry their own PEXPIREs; the positions hash alone
 * has none, on purpose: it is what keeps a redelivered batch from counting
 * twice, and it is small (one field per partition).
 *
 * Apply.  Two round trips per batch.  First WATCH the positions hash, read
 * the batch's positions from it and the TYPE of every key the ops touch (but
 * keys whose first op is SET, DEL or UNLINK: their type before does not
 * matter); the
 * positions decide DUPLICATE or CONFLICT and the types are followed through
 * the ops, so a key holding the wrong type refuses the batch before anything
 * is written.  Then MULTI, the ops as plain commands, HSET of the new
 * positions, EXEC: Redis runs them as one step, or not at all when the
 * positions changed since the WATCH (another member applied in between; the
 * check is then repeated).  Argument counts and integer arguments are checked
 * here first, since Redis reports those only while running the transaction,
 * after the ops before them have run.  Op keys are de-duplicated (an ew_hmap
 * kept in the store), so each key is checked once.
 * (This replaced one EVALSHA of a Lua script per batch: Redis spent about a
 * third of its time converting the ops into Lua and back.)
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
#include <sys/socket.h>
#include <time.h>

#include "engwatch/hmap.h"
#include "engwatch/log.h"

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

/* u in decimal at p (up to 20 bytes, no NUL); its length.  Integers are
 * formatted by hand: snprintf was 4% of a replay (two integers per actor
 * counter a batch adds to) and more in RESP headers. */
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

int ew_cmd_int(struct ew_cmdbuf *b, int64_t v)
{
    char tmp[24];
    size_t n = 0;
    if (v < 0)
        tmp[n++] = '-';
    n += put_u64(tmp + n, v < 0 ? 0 - (uint64_t)v : (uint64_t)v);
    return ew_cmd_arg(b, tmp, n);
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

/* An op key of one apply: its entry number, and its type while checking (T_*). */
struct okey {
    uint32_t k;
    unsigned char type;
    unsigned char asked; /* TYPE is asked: the first op on the key depends on its type */
};

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
    char *resp; /* a round trip's commands in RESP, as sent */
    size_t nresp, capresp;

    struct ew_cmdbuf *call; /* scratch for the apply's rounds, HMGET, SCAN, UNLINK */

    /* one apply: its distinct op keys in first-use order (value: struct okey), per op
       its index in apply_ops, per op argument that is a key its entry in keys */
    struct ew_hmap *keys;
    unsigned char *opcode;
    size_t capopcode;
    uint32_t *opkey;
    size_t capopkey;
    void (*hook_between)(void *); /* tests: runs between an apply's check and EXEC */
    void *hook_arg;

    struct ew_store_stats stats;
};

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
    s->keys = ew_hmap_new(sizeof(struct okey));
    if (!s->host || !s->unix_socket || !s->user || !s->password || !s->prefix || !s->call ||
        !s->keys)
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
    ew_hmap_free(s->keys);
    free(s->opcode);
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
    int64_t d = s->next_attempt - ew_mono_ms();
    return d > 0 ? d : 0;
}

/* Record a failure: drop the connection, schedule the next attempt, and log
 * when this is news (the store was up, or the reason changed). */
static void fail_down(struct ew_store *s, const char *err)
{
    int64_t now = ew_mono_ms();
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

/* Connect, AUTH, SELECT, PING.  0 / -1 with err set (s->c NULL). */
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
    /* without AUTH the connection succeeds and only the first command tells */
    const char *ping[] = {"PING"};
    if (!(r = setup_cmd(s, "PING", err, errn, 1, ping))) goto fail;
    freeReplyObject(r);
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
    int64_t now = ew_mono_ms();
    if (now < s->next_attempt) return -1;
    char err[sizeof s->last_err];
    s->attempts++;
    if (connect_now(s, err, sizeof err) < 0) {
        fail_down(s, err);
        return -1;
    }
    if (s->down) {
        double secs = (double)(ew_mono_ms() - s->down_since) / 1000.0;
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
    s->stats.connections++;
    s->ever_connected = 1;
    s->down = 0;
    s->fails = 0;
    s->attempts = 0;
    s->next_attempt = 0;
    s->last_err[0] = '\0';
    return 0;
}

/* Command i of b in RESP ("*N\r\n" then "$L\r\nARG\r\n" per argument),
 * appended to s->resp, which is kept between round trips; name, when not
 * NULL, replaces its first argument.  hiredis' own formatting (sdscatfmt per
 * argument) was a tenth of the daemon's time when the apply was one large
 * EVALSHA. */
static int resp_cmd(struct ew_store *s, const struct ew_cmdbuf *b, size_t i, const char *name)
{
    size_t argc = cmd_argc(b, i), need = s->nresp + 24;
    for (size_t j = 0; j < argc; j++)
        need += (j == 0 && name ? strlen(name) : b->alen[b->first[i] + j]) + 26;
    if (need > s->capresp) {
        size_t cap = s->capresp * 2 > need ? s->capresp * 2 : need;
        char *r = realloc(s->resp, cap);
        if (!r)
            return -1;
        s->resp = r;
        s->capresp = cap;
    }
    char *p = s->resp + s->nresp;
    *p++ = '*';
    p += put_u64(p, argc);
    *p++ = '\r';
    *p++ = '\n';
    for (size_t j = 0; j < argc; j++) {
        const char *a = j == 0 && name ? name : b->ptr[b->first[i] + j];
        size_t l = j == 0 && name ? strlen(name) : b->alen[b->first[i] + j];
        *p++ = '$';
        p += put_u64(p, l);
        *p++ = '\r';
        *p++ = '\n';
        memcpy(p, a, l);
        p += l;
        *p++ = '\r';
        *p++ = '\n';
    }
    s->nresp = (size_t)(p - s->resp);
    return 0;
}

/* Write s->resp to the connection ourselves rather than through hiredis'
 * output buffer, which would copy it once more and, freed after every
 * complete write, be allocated and faulted in afresh for each batch (an apply
 * carries every folded account's state: megabytes).  hiredis has nothing
 * buffered between round trips; its replies are read as usual.  The socket's
 * send timeout (redisSetTimeout) bounds each wait, as for hiredis' own writes. */
static int send_resp(struct ew_store *s)
{
    const char *p = s->resp;
    size_t len = s->nresp;
    if (s->c->obuf && sdslen(s->c->obuf) > 0) /* never, but then keep the order */
        return redisAppendFormattedCommand(s->c, p, len) == REDIS_OK ? 0 : -1;
    while (len > 0) {
        ssize_t w = send(s->c->fd, p, len, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            int e = w < 0 ? errno : EPIPE;
            s->c->err = REDIS_ERR_IO;
            snprintf(s->c->errstr, sizeof s->c->errstr, "%s", strerror(e));
            errno = e;
            return -1;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* Send s->resp and collect n replies into out[0..n).  Counts the round trip
 * (callers count commands).  On a connection failure frees what it
 * collected, marks the store down and returns -1. */
static int exchange(struct ew_store *s, size_t n, redisReply **out)
{
    double t0 = now_ms_f();
    size_t got = 0;
    if (send_resp(s) < 0)
        goto fail;
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

/* Send the n commands formatted in s->resp, their replies into s->replies
 * (the previous ones freed by the caller).  0; -1 when Redis went down (the
 * store is marked down); -2 out of memory. */
static int send_formatted(struct ew_store *s, size_t n)
{
    if (grow_array((void **)&s->replies, &s->capreplies, n, sizeof *s->replies) < 0) return -2;
    if (exchange(s, n, s->replies) < 0) return -1;
    s->stats.commands += n;
    s->nreplies = n;
    return 0;
}

/* The last command of s->call in its own round trip, counted as one command. */
static redisReply *call_last(struct ew_store *s)
{
    redisReply *r = NULL;
    s->nresp = 0;
    if (resp_cmd(s, s->call, ew_cmdbuf_count(s->call) - 1, NULL) < 0 || exchange(s, 1, &r) < 0)
        return NULL;
    s->stats.commands++;
    return r;
}

/* Send every command of b in one round trip, the replies into s->replies
 * (the previous ones freed).  0; -1 when Redis went down (the store is marked
 * down); -2 out of memory. */
static int send_all(struct ew_store *s, const struct ew_cmdbuf *b)
{
    size_t n = ew_cmdbuf_count(b);
    free_replies(s);
    if (n == 0) return 0;
    s->nresp = 0;
    for (size_t i = 0; i < n; i++)
        if (resp_cmd(s, b, i, NULL) < 0) return -2;
    return send_formatted(s, n);
}

int ew_store_read(struct ew_store *s, const struct ew_cmdbuf *b, redisReply ***replies)
{
    *replies = NULL;
    free_replies(s);
    if (ew_store_ensure(s) < 0) return -1;
    int rc = send_all(s, b);
    if (rc == -2)
        EW_LOG_RL(EW_ERROR, "store", "read: out of memory for %zu replies", ew_cmdbuf_count(b));
    if (rc < 0) return -1;
    *replies = s->replies;
    return 0;
}

/* ---- apply ---------------------------------------------------------------- */

/* Key types as TYPE names them, as far as the ops care. */
enum { T_ANY = 0, T_NONE, T_HASH, T_STRING, T_STREAM, T_OTHER };

/* The ops an apply may contain.  n counts the arguments after the name (the
 * key included); min/max bound it (max 0: none); group: n - 1 must be a
 * multiple of it; want: the type the key must hold or be absent (T_ANY: any);
 * makes: its type afterwards (T_ANY: unchanged); intarg: argument (1-based,
 * the key is 1) that must be an integer; condarg: optional argument that must
 * be NX XX GT or LT; args_ok: checks the arguments after the key (commands
 * with subcommands). */
static int bitfield_ok(const char *const *a, const size_t *len, size_t n);
static const struct apply_op {
    const char *name;
    int all_keys; /* every argument is a key (else only the first) */
    int min, max, group, want, makes, intarg, condarg;
    int (*args_ok)(const char *const *a, const size_t *len, size_t n);
} apply_ops[] = {
    {"HSET", 0, 3, 0, 2, T_HASH, T_HASH, 0, 0, NULL},
    {"HINCRBY", 0, 3, 3, 0, T_HASH, T_HASH, 3, 0, NULL},
    {"HDEL", 0, 2, 0, 1, T_HASH, T_ANY, 0, 0, NULL},
    {"PFADD", 0, 1, 0, 1, T_STRING, T_STRING, 0, 0, NULL},
    {"PEXPIRE", 0, 2, 3, 0, T_ANY, T_ANY, 2, 3, NULL},
    {"EXPIRE", 0, 2, 3, 0, T_ANY, T_ANY, 2, 3, NULL},
    {"XADD", 0, 4, 4000, 0, T_STREAM, T_STREAM, 0, 0, NULL},
    {"SET", 0, 2, 8, 0, T_ANY, T_STRING, 0, 0, NULL},
    {"SETRANGE", 0, 3, 3, 0, T_STRING, T_STRING, 2, 0, NULL},
    {"DEL", 1, 1, 0, 1, T_ANY, T_NONE, 0, 0, NULL},
    {"UNLINK", 1, 1, 0, 1, T_ANY, T_NONE, 0, 0, NULL},
    {"BITFIELD", 0, 2, 0, 0, T_STRING, T_STRING, 0, 0, bitfield_ok},
};
#define NOPS (sizeof apply_ops / sizeof apply_ops[0])
#define APPLY_ATTEMPTS 3 /* a transaction aborted by a concurrent position write is retried */

/* Index in apply_ops of the command name p[0..n), or -1. */
static int op_index(const char *p, size_t n)
{
    for (size_t i = 0; i < NOPS; i++)
        if (strlen(apply_ops[i].name) == n && strncasecmp(apply_ops[i].name, p, n) == 0)
            return (int)i;
    return -1;
}

/* The entry of key p[0..n) among the apply's distinct keys, added when new; -1 on
 * allocation failure. */
static int64_t key_index(struct ew_store *s, const char *p, size_t n, const struct apply_op *op)
{
    int created;
    struct okey *o = ew_hmap_upsert(s->keys, p, n, &created);
    if (!o) return -1;
    if (created) {
        o->k = (uint32_t)(ew_hmap_count(s->keys) - 1);
        /* SET, DEL, UNLINK first: whatever the key held, the op decides its type */
        o->asked = !(op->want == T_ANY && op->makes != T_ANY);
        o->type = T_NONE;
    }
    return o->k;
}

/* Key k of the apply (NUL-terminated) and its slot. */
static struct okey *key_at(const struct ew_store *s, size_t k, const char **key, size_t *klen)
{
    return ew_hmap_at(s->keys, k, key, klen);
}

/* p[0..n) is a decimal integer (optional '-', at most 19 digits). */
static int is_int(const char *p, size_t n)
{
    size_t i = n && p[0] == '-';
    if (i == n || n - i > 19) return 0;
    for (; i < n; i++)
        if (p[i] < '0' || p[i] > '9') return 0;
    return 1;
}

static int is_cond(const char *p, size_t n)
{
    return n == 2 && (strncasecmp(p, "NX", 2) == 0 || strncasecmp(p, "XX", 2) == 0 ||
                      strncasecmp(p, "GT", 2) == 0 || strncasecmp(p, "LT", 2) == 0);
}

static int word_is(const char *p, size_t n, const char *w)
{
    return strlen(w) == n && strncasecmp(p, w, n) == 0;
}

/* A BITFIELD type: i1..i64 or u1..u63. */
static int is_bf_type(const char *p, size_t n)
{
    if (n < 2 || n > 3 || (p[0] != 'i' && p[0] != 'u') || !is_int(p + 1, n - 1) || p[1] == '-')
        return 0;
    int bits = atoi(p + 1);
    return bits >= 1 && bits <= (p[0] == 'i' ? 64 : 63);
}

/* A BITFIELD offset: a bit number, or #N (in units of the type). */
static int is_bf_offset(const char *p, size_t n)
{
    if (n && p[0] == '#')
        p++, n--;
    return is_int(p, n) && p[0] != '-';
}

/* BITFIELD's subcommands a[0..n): GET type offset, SET / INCRBY type offset
 * integer, OVERFLOW WRAP|SAT|FAIL. */
static int bitfield_ok(const char *const *a, const size_t *len, size_t n)
{
    size_t i = 0;
    while (i < n) {
        if (word_is(a[i], len[i], "OVERFLOW")) {
            if (i + 1 >= n || !(word_is(a[i + 1], len[i + 1], "WRAP") ||
                                word_is(a[i + 1], len[i + 1], "SAT") ||
                                word_is(a[i + 1], len[i + 1], "FAIL")))
                return 0;
            i += 2;
            continue;
        }
        int get = word_is(a[i], len[i], "GET");
        if (!get && !word_is(a[i], len[i], "SET") && !word_is(a[i], len[i], "INCRBY"))
            return 0;
        size_t need = get ? 3 : 4;
        if (i + need > n || !is_bf_type(a[i + 1], len[i + 1]) || !is_bf_offset(a[i + 2], len[i + 2]) ||
            (!get && !is_int(a[i + 3], len[i + 3])))
            return 0;
        i += need;
    }
    return 1;
}

/* Check positions and ops, and collect the distinct op keys (s->keys), per op
 * its opcode (s->opcode) and per key argument in op order its key (s->opkey).  Everything Redis
 * would refuse half-way through a transaction (a wrong argument count, a
 * non-integer increment) is refused here, before anything is sent.  0, or -1
 * with the reason logged. */
static int apply_prepare(struct ew_store *s, const struct ew_position *pos, size_t npos,
                         const struct ew_cmdbuf *ops)
{
    char show[64];
    size_t poslen = strlen(s->poskey), nk = 0;

    ew_hmap_clear(s->keys);
    if (grow_array((void **)&s->opcode, &s->capopcode, ew_cmdbuf_count(ops) + 1,
                   sizeof *s->opcode) < 0)
        goto oom;
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
        const struct apply_op *o = &apply_ops[op];
        size_t n = argc - 1;
        s->opcode[i] = (unsigned char)op;
        if (argc < 2) {
            EW_LOG_RL(EW_ERROR, "store", "apply refused: op %zu: %s without a key", i + 1,
                      o->name);
            return -1;
        }
        if (n < (size_t)o->min || (o->max && n > (size_t)o->max) ||
            (o->group && (n - 1) % (size_t)o->group)) {
            EW_LOG_RL(EW_ERROR, "store", "apply refused: op %zu: %s with %zu arguments", i + 1,
                      o->name, n);
            return -1;
        }
        if (o->intarg && (size_t)o->intarg <= n &&
            !is_int(ops->ptr[a0 + o->intarg], ops->alen[a0 + o->intarg])) {
            EW_LOG_RL(EW_ERROR, "store", "apply refused: op %zu: %s: argument %d is no integer",
                      i + 1, o->name, o->intarg);
            return -1;
        }
        if (o->condarg && (size_t)o->condarg <= n &&
            !is_cond(ops->ptr[a0 + o->condarg], ops->alen[a0 + o->condarg])) {
            EW_LOG_RL(EW_ERROR, "store", "apply refused: op %zu: %s: argument %d is not NX XX GT LT",
                      i + 1, o->name, o->condarg);
            return -1;
        }
        if (o->args_ok && !o->args_ok(ops->ptr + a0 + 2, ops->alen + a0 + 2, n - 1)) {
            EW_LOG_RL(EW_ERROR, "store", "apply refused: op %zu: %s: malformed subcommands",
                      i + 1, o->name);
            return -1;
        }
        size_t lastkey = o->all_keys ? argc - 1 : 1;
        if (grow_array((void **)&s->opkey, &s->capopkey, nk + lastkey, sizeof *s->opkey) < 0)
            goto oom;
        for (size_t j = 1; j <= lastkey; j++) {
            const char *k = ops->ptr[a0 + j];
            size_t kl = ops->alen[a0 + j];
            if (kl == poslen && memcmp(k, s->poskey, kl) == 0) {
                EW_LOG_RL(EW_ERROR, "store", "apply refused: op %zu: %s on the positions hash",
                          i + 1, o->name);
                return -1;
            }
            int64_t ki = key_index(s, k, kl, o);
            if (ki < 0) goto oom;
            s->opkey[nk++] = (uint32_t)ki;
        }
    }
    return 0;
oom:
    EW_LOG_RL(EW_ERROR, "store", "apply: out of memory collecting the keys");
    return -1;
}

/* Round 1 of an apply: WATCH and HMGET the positions, TYPE of every op key. */
static int build_check(struct ew_store *s, const struct ew_position *pos, size_t npos)
{
    struct ew_cmdbuf *c = s->call;
    int rc = 0;
    ew_cmdbuf_reset(c);
    if (npos) {
        rc |= ew_cmd_begin(c, "WATCH") | ew_cmd_str(c, s->poskey);
        rc |= ew_cmd_begin(c, "HMGET") | ew_cmd_str(c, s->poskey);
        for (size_t p = 0; p < npos && rc == 0; p++)
            rc |= ew_cmd_str(c, pos[p].name);
    }
    for (size_t k = 0; k < ew_hmap_count(s->keys) && rc == 0; k++) {
        const char *key;
        size_t klen;
        if (key_at(s, k, &key, &klen)->asked)
            rc |= ew_cmd_begin(c, "TYPE") | ew_cmd_arg(c, key, klen);
    }
    return rc ? -1 : 0;
}

/* Round 2: MULTI, the ops (each under its canonical name), HSET of the new
 * positions and EXEC, formatted straight from the caller's ops; the replies
 * into s->replies like send_all, and the same results. */
static int send_exec(struct ew_store *s, const struct ew_position *pos, size_t npos,
                     const struct ew_cmdbuf *ops)
{
    struct ew_cmdbuf *c = s->call;
    size_t nops = ew_cmdbuf_count(ops);
    int rc = 0;
    free_replies(s);
    ew_cmdbuf_reset(c);
    rc |= ew_cmd_begin(c, "MULTI");
    if (npos) {
        rc |= ew_cmd_begin(c, "HSET") | ew_cmd_str(c, s->poskey);
        for (size_t p = 0; p < npos && rc == 0; p++)
            rc |= ew_cmd_str(c, pos[p].name) | ew_cmd_int(c, pos[p].last);
    }
    rc |= ew_cmd_begin(c, "EXEC");
    size_t nc = ew_cmdbuf_count(c);
    s->nresp = 0;
    rc |= resp_cmd(s, c, 0, NULL);
    for (size_t i = 0; i < nops && rc == 0; i++)
        rc = resp_cmd(s, ops, i, apply_ops[s->opcode[i]].name);
    for (size_t i = 1; i < nc && rc == 0; i++)
        rc = resp_cmd(s, c, i, NULL);
    return rc ? -2 : send_formatted(s, nops + nc);
}

static int type_of(const redisReply *r)
{
    if (r->type != REDIS_REPLY_STATUS && r->type != REDIS_REPLY_STRING) return -1;
    if (strcmp(r->str, "none") == 0) return T_NONE;
    if (strcmp(r->str, "hash") == 0) return T_HASH;
    if (strcmp(r->str, "string") == 0) return T_STRING;
    if (strcmp(r->str, "stream") == 0) return T_STREAM;
    return T_OTHER;
}

/* A stored position: 0 with *out = the offset (-1 when absent), -1 when the
 * value is not a non-negative decimal offset. */
static int stored_offset(const redisReply *r, int64_t *out)
{
    char *end = NULL;
    if (r->type == REDIS_REPLY_NIL) {
        *out = -1;
        return 0;
    }
    if (r->type != REDIS_REPLY_STRING) return -1;
    errno = 0;
    long long v = strtoll(r->str, &end, 10);
    if (end == r->str || *end || errno || v < 0) return -1;
    *out = v;
    return 0;
}

/* The text of an error reply, or a word for any other unexpected reply. */
static const char *reply_error(const redisReply *r)
{
    return r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply";
}

/* Judge round 1's replies (rep[0..)): EW_APPLY_OK when the step may run.
 * Logs refusals. */
static enum ew_apply_result apply_check(struct ew_store *s, redisReply **rep,
                                        const struct ew_position *pos, size_t npos,
                                        const struct ew_cmdbuf *ops)
{
    size_t r0 = 0;
    if (npos) {
        const redisReply *w = rep[0], *h = rep[1];
        if (w->type == REDIS_REPLY_ERROR || h->type != REDIS_REPLY_ARRAY || h->elements != npos) {
            EW_LOG_RL(EW_ERROR, "store", "apply: reading the positions in %s failed: %s",
                      s->poskey, reply_error(w->type == REDIS_REPLY_ERROR ? w : h));
            return EW_APPLY_ERROR;
        }
        int dup = 1;
        char names[512];
        size_t nn = 0;
        names[0] = '\0';
        for (size_t p = 0; p < npos; p++) {
            int64_t v;
            if (stored_offset(h->element[p], &v) < 0) {
                EW_LOG_RL(EW_ERROR, "store", "apply: stored position %s in %s is not an offset",
                          pos[p].name, s->poskey);
                return EW_APPLY_ERROR;
            }
            if (v < pos[p].last) dup = 0;
            if (v >= pos[p].first && nn < sizeof names) {
                int m = snprintf(names + nn, sizeof names - nn, "%s%s at %" PRId64, nn ? ", " : "",
                                 pos[p].name, v);
                nn += m > 0 ? (size_t)m : 0;
            }
        }
        if (dup) return EW_APPLY_DUPLICATE;
        if (nn) {
            EW_LOG_RL(EW_WARN, "store", "apply refused: positions already past the batch: %s",
                      names);
            return EW_APPLY_CONFLICT;
        }
        r0 = 2;
    }
    for (size_t k = 0, r = r0; k < ew_hmap_count(s->keys); k++) {
        const char *key;
        struct okey *o = key_at(s, k, &key, NULL);
        if (!o->asked)
            continue;
        int t = type_of(rep[r]);
        if (t < 0) {
            EW_LOG_RL(EW_ERROR, "store", "apply: TYPE %s failed: %s", key, reply_error(rep[r]));
            return EW_APPLY_ERROR;
        }
        o->type = (unsigned char)t;
        r++;
    }
    /* follow the types the ops give their keys, as Redis will run them */
    size_t nk = 0;
    for (size_t i = 0; i < ew_cmdbuf_count(ops); i++) {
        const struct apply_op *o = &apply_ops[s->opcode[i]];
        size_t lastkey = o->all_keys ? cmd_argc(ops, i) - 1 : 1;
        for (size_t j = 1; j <= lastkey; j++) {
            const char *key;
            struct okey *x = key_at(s, s->opkey[nk++], &key, NULL);
            if (o->want != T_ANY && x->type != T_NONE && x->type != o->want) {
                EW_LOG_RL(EW_ERROR, "store", "apply refused: op %zu (%s): %s holds another type",
                          i + 1, o->name, key);
                return EW_APPLY_ERROR;
            }
            if (o->makes != T_ANY) x->type = (unsigned char)o->makes;
        }
    }
    return EW_APPLY_OK;
}

/* Forget the WATCH of a refused apply: one round trip; -1 when Redis went down. */
static int unwatch(struct ew_store *s)
{
    ew_cmdbuf_reset(s->call);
    if (ew_cmd_begin(s->call, "UNWATCH") < 0) return 0; /* EXEC or the next WATCH ends it */
    redisReply *r = call_last(s);
    freeReplyObject(r);
    return r ? 0 : -1;
}

enum ew_apply_result ew_store_apply(struct ew_store *s, const struct ew_position *pos, size_t npos,
                                    const struct ew_cmdbuf *ops)
{
    size_t nops = ew_cmdbuf_count(ops);

    if (apply_prepare(s, pos, npos, ops) < 0) return EW_APPLY_ERROR;
    if (npos == 0 && nops == 0) return EW_APPLY_OK;
    if (ew_store_ensure(s) < 0) return EW_APPLY_UNAVAILABLE;
    for (int attempt = 1;; attempt++) {
        /* (frees the replies of the last read: they are no longer the caller's) */
        int sent = build_check(s, pos, npos) < 0 ? -2 : send_all(s, s->call);
        if (sent == -2) goto oom;
        if (sent < 0) return EW_APPLY_UNAVAILABLE;
        enum ew_apply_result res = apply_check(s, s->replies, pos, npos, ops);
        free_replies(s);
        if (res != EW_APPLY_OK) {
            if (res == EW_APPLY_ERROR) s->stats.errors++;
            else s->stats.conflicts++;
            if (npos && unwatch(s) < 0) return EW_APPLY_UNAVAILABLE;
            return res;
        }
        if (s->hook_between) s->hook_between(s->hook_arg);

        sent = send_exec(s, pos, npos, ops);
        if (sent == -2) goto oom;
        if (sent < 0) return EW_APPLY_UNAVAILABLE;
        size_t n = s->nreplies;
        const redisReply *x = s->replies[n - 1];
        if (x->type == REDIS_REPLY_NIL) {
            /* the positions changed between the check and EXEC: nothing ran */
            free_replies(s);
            if (attempt < APPLY_ATTEMPTS) continue;
            EW_LOG_RL(EW_WARN, "store", "apply refused: %s kept changing during %d attempts",
                      s->poskey, APPLY_ATTEMPTS);
            s->stats.conflicts++;
            return EW_APPLY_CONFLICT;
        }
        if (x->type != REDIS_REPLY_ARRAY) {
            /* EXECABORT: an op was refused while queueing; nothing ran */
            const redisReply *why = x;
            for (size_t i = 1; i + 1 < n && why == x; i++)
                if (s->replies[i]->type == REDIS_REPLY_ERROR) why = s->replies[i];
            EW_LOG_RL(EW_ERROR, "store", "apply refused by redis: %s", reply_error(why));
            free_replies(s);
            s->stats.errors++;
            return EW_APPLY_ERROR;
        }
        size_t bad = 0, first_bad = 0;
        for (size_t i = 0; i < x->elements; i++)
            if (x->element[i]->type == REDIS_REPLY_ERROR && bad++ == 0) first_bad = i;
        if (bad) {
            /* checked in advance, so only another client changing a key's type between the
               check and EXEC gets here; the other ops ran */
            EW_LOG_RL(EW_ERROR, "store", "apply: %zu of %zu ops failed in the transaction, "
                      "first op %zu: %s", bad, x->elements, first_bad + 1,
                      x->element[first_bad]->str);
            free_replies(s);
            s->stats.errors++;
            return EW_APPLY_ERROR;
        }
        free_replies(s);
        s->stats.applies++;
        return EW_APPLY_OK;
    }
oom:
    EW_LOG_RL(EW_ERROR, "store", "apply: out of memory building the transaction");
    free_replies(s);
    return EW_APPLY_ERROR;
}

void ew_store_set_exec_hook(struct ew_store *s, void (*fn)(void *), void *arg)
{
    s->hook_between = fn;
    s->hook_arg = arg;
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
    if (brc || !(r = call_last(s))) goto out;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != n) {
        EW_LOG_RL(EW_ERROR, "store", "HMGET %s: %s", s->poskey, reply_error(r));
        s->stats.errors++;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (stored_offset(r->element[i], &out[i]) < 0) {
            EW_LOG_RL(EW_ERROR, "store", "position %s in %s is not an offset", names[i], s->poskey);
            s->stats.errors++;
            goto out;
        }
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
            !(scan = call_last(s)))
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
            if (brc || !(del = call_last(s))) goto fail;
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
