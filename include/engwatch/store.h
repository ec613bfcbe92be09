/* store — the only module that talks to Redis.
 *
 * The store knows nothing of windows or detectors: it executes
 *   1. pipelined reads: any list of read commands, one round trip, replies
 *      returned in order (the window module builds them and parses replies);
 *   2. one atomic apply per batch: a list of write ops (HSET, HINCRBY, HDEL,
 *      PFADD, PEXPIRE, XADD ...) plus the batch's source positions, run as
 *      one MULTI/EXEC transaction under WATCH of the positions.  The positions
 *      are checked against those stored in Redis first and the whole batch is
 *      refused when any of them was already applied, so a redelivered or
 *      retried batch is never counted twice (see ew_store_apply);
 *   3. source positions: per (topic, partition) — or (file) for replay — the
 *      last applied offset, kept in one hash beside the state.
 *
 * Connection handling: connect and command timeouts always set; when Redis
 * is down ew_store_ensure retries with capped exponential backoff and logs
 * once per state change.
 *
 * Key layout: every key starts with redis.prefix (default "ew:"); keys of
 * one account carry the hash tag {account}; see the README's "Redis keys".
 */
#ifndef ENGWATCH_STORE_H
#define ENGWATCH_STORE_H

#include <hiredis/hiredis.h>
#include <stddef.h>
#include <stdint.h>

#include "engwatch/config.h"

/* ---- command buffers -----------------------------------------------------
 * An append-only list of commands, each an argv of byte strings.  Arguments
 * are copied into an internal arena, so callers may pass stack buffers.
 * ew_cmdbuf_reset keeps the memory for reuse (no allocation in steady state). */
struct ew_cmdbuf;
struct ew_cmdbuf *ew_cmdbuf_new(void);
void ew_cmdbuf_free(struct ew_cmdbuf *b); /* accepts NULL */
void ew_cmdbuf_reset(struct ew_cmdbuf *b);
/* Start a command; its first argument is the command name ("HGETALL"). */
int ew_cmd_begin(struct ew_cmdbuf *b, const char *name);
int ew_cmd_arg(struct ew_cmdbuf *b, const void *p, size_t len);
int ew_cmd_str(struct ew_cmdbuf *b, const char *s);
int ew_cmd_int(struct ew_cmdbuf *b, int64_t v);
int ew_cmd_argf(struct ew_cmdbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
size_t ew_cmdbuf_count(const struct ew_cmdbuf *b); /* commands */
/* Inspect command i (for tests): argc, argv[], argvlen[]; borrowed. */
void ew_cmdbuf_get(const struct ew_cmdbuf *b, size_t i, int *argc, const char *const **argv,
                   const size_t **argvlen);

/* ---- the store ----------------------------------------------------------- */
struct ew_store;

struct ew_store_stats {
    uint64_t roundtrips;      /* pipelined reads and apply rounds sent */
    uint64_t commands;        /* Redis commands sent (each op of an apply, its checks and
                                 MULTI/EXEC included) */
    uint64_t applies;
    uint64_t conflicts;       /* applies refused by the position guard */
    uint64_t errors;          /* connection or reply errors */
    uint64_t reconnects;
    uint64_t connections;     /* connections made (the first and every reconnect): a new
                                 one may be to a Redis that lost its data */
    double last_rtt_ms;
};

/* Create the store from cfg->redis (copied).  Does not connect: call
 * ew_store_ensure.  Returns 0 / -1 (allocation). */
int ew_store_new(struct ew_store **out, const struct ew_config *cfg);
void ew_store_free(struct ew_store *s); /* accepts NULL */

/* Connect (and AUTH, SELECT, SCRIPT LOAD) when not connected and the backoff
 * allows.  Returns 0 when connected, -1 when Redis is unavailable (then
 * ew_store_retry_in_ms tells how long until the next attempt is allowed). */
int ew_store_ensure(struct ew_store *s);
int ew_store_connected(const struct ew_store *s);
int64_t ew_store_retry_in_ms(const struct ew_store *s);

/* The configured key prefix, e.g. "ew:" (borrowed). */
const char *ew_store_prefix(const struct ew_store *s);

/* Send every command of b in one pipelined round trip.  On success returns 0
 * and replies[i] for command i (owned by the store, valid until the next call
 * on s; an individual reply may be an error reply).  On a connection failure
 * returns -1 and the store is marked down. */
int ew_store_read(struct ew_store *s, const struct ew_cmdbuf *b, redisReply ***replies);

/* A source position: the batch covers offsets first..last of stream
 * `name` ("topic:partition", or "file:<path>" for replay). */
struct ew_position {
    const char *name;
    int64_t first, last;
};

enum ew_apply_result {
    EW_APPLY_OK = 0,       /* applied; positions now at last */
    EW_APPLY_DUPLICATE,    /* every position was already at or past last: the batch was applied
                              before (a retried apply whose reply was lost); nothing changed */
    EW_APPLY_CONFLICT,     /* some position stands between first and last-1, or at/after first
                              for another batch: nothing applied; re-read positions and re-seek */
    EW_APPLY_UNAVAILABLE,  /* Redis down or timed out: nothing known; retry later (safe) */
    EW_APPLY_ERROR,        /* a bad op, a key of the wrong type, or Redis refused the
                              transaction (a bug): logged */
};

/* Apply ops (each command of b: HSET HINCRBY HDEL PFADD PEXPIRE EXPIRE XADD DEL
 * SET SETRANGE UNLINK BITFIELD; other commands are refused) and advance the positions, in one
 * atomic step.  Keys are the ops' second arguments (every argument of DEL and
 * UNLINK).  Positions are checked first: the step runs only if every stored
 * position is < first (or absent).  Before anything is written, ops with
 * wrong argument counts or non-integer amounts, and ops on keys holding
 * another type, refuse the batch (EW_APPLY_ERROR).  The replies of the last
 * ew_store_read are freed. */
enum ew_apply_result ew_store_apply(struct ew_store *s, const struct ew_position *pos, size_t npos,
                                    const struct ew_cmdbuf *ops);
/* Tests: fn(arg) runs in every apply between its check and its EXEC (NULL: none). */
void ew_store_set_exec_hook(struct ew_store *s, void (*fn)(void *), void *arg);

/* Read the stored positions for names[0..n): out[i] = last applied offset,
 * or -1 when none.  0 / -1 (Redis unavailable). */
int ew_store_get_positions(struct ew_store *s, const char *const *names, size_t n, int64_t *out);

/* Delete every key under the prefix (replay cleans its namespace): SCAN +
 * UNLINK in batches.  Returns the number of keys removed, or -1. */
int64_t ew_store_drop_namespace(struct ew_store *s);

const struct ew_store_stats *ew_store_stats(const struct ew_store *s);

#endif
