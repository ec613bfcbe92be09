/* window — event-time buckets per account, folded per micro-batch.
 *
 * A batch's accepted events are grouped by account (one account lives on one
 * partition, so its events arrive in order).  For each touched account the
 * batch reads its state once (one pipelined round trip for the whole batch),
 * walks the account's events in order — dropping late ones against the
 * account's own watermark, so live and replay decide alike whatever the
 * interleaving of partitions — and emits the writes that bring the state
 * forward: per account, its whole state (SET) or the fields the batch
 * changed written after it (SETRANGE), plus copy-paste fingerprint and
 * commenter counts and expiries.  All writes go into the
 * store's single atomic step.
 *
 * Redis keys (P = redis.prefix, A = account; {A} is the Cluster hash tag):
 *   P{A}              string, the account's window state (format
 *                     EW_STATE_VERSION: a version byte, then per field a
 *                     varint name length, the name, a varint expiry (0: none,
 *                     else zigzag + 1: the watermark at which the field
 *                     leaves the state), a count byte and zigzag varint
 *                     values; then runs written since, each a 0 byte and
 *                     fields, and 0 bytes (room kept for more runs).  A
 *                     field stored again later replaces the earlier one;
 *                     fields whose expiry is at or before the watermark (the
 *                     last "wm") are not part of the state.  The whole state
 *                     is written with a quarter of its length as room; while
 *                     the daemon holds the account in its state cache, a
 *                     batch writes the fields it changed into the room, and
 *                     the whole state again when they do not fit.  A state
 *                     that begins with a 0 byte was written to after its key
 *                     was gone and is taken as absent.  ew_state_each and
 *                     tests/integration/ewcheck.py decode it.  Its fields:
 *     wm                 watermark: newest event time seen (ms)
 *     R:I                the account's counters in bucket I = floor(ts / bucket) of
 *                        resolution R (0-based index into windows.resolutions): the
 *                        values c,h,d,k,l,s,f,n,u,p,r (enum ew_metric order; trailing
 *                        zeros left out; in text "c,h,d,...")
 *     R:I:POST           the same counters for one post (c h d k l s r)
 *     F:I                latest follower snapshot in coarsest bucket I: followers, ts
 *     pt:POST            publication time of POST (from its post event)
 *     R*                 the account's risk and incident state (see risk.c)
 *   P{A}:fp:H         hash, fingerprint (16 hex) -> comments with that text in
 *                     hour H; a:ACTOR -> comments by ACTOR on the account in hour H
 *   P actors:S        string, actor activity in slot S of windows.actor_slot (event
 *                     time): BITFIELD i64 at bit 0 = the slot's likes, i64 at 64 =
 *                     its likes by rare actors, then windows.actor_cells u4 counters
 *                     (saturating), one per actor hash: the actor's actions
 *   P outbox          stream of alerts (XADD MAXLEN ~ risk.outbox_maxlen), written in
 *                     the batch's atomic step; sinks forward from it
 *   P positions       source positions (see store.h)
 * Metrics (enum ew_metric): c comments, h hollow comments, d duplicate comments
 * (the same text already posted on this account in this or the previous
 * hour), k new commenters (an actor's first comment on the account in this or
 * the previous hour; sums over windows up to an hour count distinct
 * commenters), l likes, s shares, f follows, n follows by new actors
 * (actor_created within windows.new_actor_age), u unfollows, p posts, r likes
 * by rare actors (at most windows.rare_actor_max actions in the whole actor
 * slots of windows.actor_history before the like's slot, over all accounts).
 * Every key has an expiry: the longest retention that reads it plus the
 * allowed lateness (an account's state: plus 1/16 of that, at most an hour,
 * so that writing runs into it need not set the expiry every time).
 * Fields of buckets older than their resolution's retention (relative to
 * the watermark) leave the state in the same step, so the state after a
 * batch depends only on the events, never on batch boundaries.  One string per account (not a hash of fields) because Redis
 * would otherwise scan the account's listpack for every field written or
 * deleted: that was three quarters of its CPU.  The slots of the actor
 * sketch a like looks back at are held by the daemon once read (one GET per
 * slot), with its own actions added; actions that other daemons sharing the
 * prefix add to a slot after it was read are not seen.
 */
#ifndef ENGWATCH_WINDOW_H
#define ENGWATCH_WINDOW_H

#include <hiredis/hiredis.h>
#include <stddef.h>
#include <stdint.h>

#include "engwatch/config.h"
#include "engwatch/event.h"
#include "engwatch/store.h"
#include "engwatch/text.h"

enum ew_metric {
    EW_M_COMMENTS = 0, /* c */
    EW_M_HOLLOW,       /* h */
    EW_M_DUP,          /* d */
    EW_M_NEW_COMMENTERS, /* k */
    EW_M_LIKES,        /* l */
    EW_M_SHARES,       /* s */
    EW_M_FOLLOWS,      /* f */
    EW_M_NEW_FOLLOWS,  /* n */
    EW_M_UNFOLLOWS,    /* u */
    EW_M_POSTS,        /* p */
    EW_M_RARE_LIKES,   /* r */
    EW_M__COUNT
};
extern const char ew_metric_letter[EW_M__COUNT]; /* 'c' 'h' 'd' 'k' ... for names */

struct ew_window;


int ew_window_new(struct ew_window **out, const struct ew_config *cfg, const char *prefix);
void ew_window_free(struct ew_window *w); /* accepts NULL */
/* Switch to a reloaded configuration (detector thresholds, risk settings):
 * every detector is configured anew; on failure nothing changes (-1, err).
 * cfg is borrowed and must outlive the window or the next reconfigure.
 * Settings that shape the stored layout (resolutions, lateness) are kept by
 * the caller (they need a restart). */
int ew_window_reconfigure(struct ew_window *w, const struct ew_config *cfg, char *err,
                          size_t errlen);

/* Add one accepted event to the batch (strings are copied).  tr is the
 * comment's text classification (comments only; NULL otherwise). */
int ew_window_add(struct ew_window *w, const struct ew_event *ev, const struct ew_text_result *tr);
size_t ew_window_pending(const struct ew_window *w);

/* Phase 1: the reads the batch needs (appended to reads). */
int ew_window_build_reads(struct ew_window *w, struct ew_cmdbuf *reads);
/* Phase 2: fold the batch onto the state read (replies in the order of
 * build_reads), and append the writes to ops.  0 / -1 (malformed reply). */
int ew_window_fold(struct ew_window *w, redisReply **replies, size_t nreplies,
                   struct ew_cmdbuf *ops);
/* The alerts of the last fold (alert schema v1 JSON), in order; valid until
 * the next fold or reset.  Write them out only once the batch is applied. */
size_t ew_window_alerts(const struct ew_window *w, const char *const **out);
/* Alerts of the last fold by signal (enum ew_signal_kind) and level (enum ew_level). */
uint64_t ew_window_alert_count(const struct ew_window *w, int signal, int level);

/* The state cache (windows.state_cache): the parsed state of recently active
 * accounts as the last fold left it, so that the next batch reads only the
 * accounts it does not hold.  The fold updates it before the batch is
 * applied, so the caller must call ew_window_invalidate whenever the batch is
 * not applied as folded (apply failed or conflicted, retried, dropped) and
 * whenever another writer may have changed the state (a rebalance). */
struct ew_window_cache_stats {
    uint64_t hits, misses, evictions; /* accounts folded from the cache / read; dropped */
    size_t bytes, entries;           /* now */
};
void ew_window_invalidate(struct ew_window *w);
/* The Redis connection the next fold's writes go over (any number that
 * changes with every new connection): runs go into a cached state only
 * over the connection that wrote it whole, so a Redis that restarted empty
 * gets whole states again. */
void ew_window_set_epoch(struct ew_window *w, uint64_t epoch);
void ew_window_cache_stats(const struct ew_window *w, struct ew_window_cache_stats *out);

/* The stored account state P{A} (a string, see the key layout above): the
 * fields in stored order, each as its name and its value in text (buckets
 * "c,h,d,..." without trailing zeros, follower snapshots "followers,ts",
 * others one integer).  fn returns non-zero to stop early.  0, or -1 when
 * blob is not a state of format EW_STATE_VERSION (or is cut short). */
#define EW_STATE_VERSION 1
int ew_state_each(const void *blob, size_t len,
                  int (*fn)(void *ctx, const char *f, size_t flen, const char *v, size_t vlen),
                  void *ctx);

/* Forget the batch (after apply, or when it is dropped). */
void ew_window_reset(struct ew_window *w);

/* Events of the last fold dropped as later than windows.allowed_lateness
 * (count them once the batch is applied: a retried batch folds again). */
uint64_t ew_window_late(const struct ew_window *w);

#endif
