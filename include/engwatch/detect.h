/* detect — the detector interface.
 *
 * A detector is a pure function of one account's window state and its
 * configuration: no I/O, no clock, no globals.  The window module calls every
 * detector at each *trigger* — an event of the account, already counted —
 * while it folds a batch in the account's event order, so the same event
 * sequence gives the same signals live and in replay, whatever the batch
 * boundaries.  A detector returns quickly when the trigger is not for it
 * (e.g. the burst detector ignores likes).
 *
 * One file per detector (detect_burst.c, detect_hollow.c, detect_growth.c,
 * detect_engage.c), each opening with a design essay; adding one = a new file
 * + a row in the table in detect.c.
 */
#ifndef ENGWATCH_DETECT_H
#define ENGWATCH_DETECT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "engwatch/config.h"
#include "engwatch/event.h"
#include "engwatch/text.h"
#include "engwatch/window.h"

enum ew_signal_kind {
    EW_SIG_COMMENT_BURST = 0, /* "comment_burst" */
    EW_SIG_HOLLOW,            /* "hollow_comments" */
    EW_SIG_FOLLOWER_SPIKE,    /* "follower_spike" */
    EW_SIG_ENGAGEMENT,        /* "engagement_mismatch" */
    EW_SIG__COUNT
};
const char *ew_signal_name(enum ew_signal_kind k);

/* ---- the view: one account's windows at a trigger ---------------------------
 * Counts include every event of the account folded so far, the trigger
 * included.  Bucket I of resolution R covers [I*bucket, (I+1)*bucket). */
struct ew_view;

const char *ew_view_account(const struct ew_view *v, size_t *len);
int64_t ew_view_now(const struct ew_view *v);        /* the trigger's event time (ms) */
int64_t ew_view_watermark(const struct ew_view *v);  /* newest event time of the account */
size_t ew_view_nres(const struct ew_view *v);
int64_t ew_view_bucket_ms(const struct ew_view *v, size_t res);
int64_t ew_view_retention_ms(const struct ew_view *v, size_t res);

/* Counter of metric m in bucket idx of resolution res, for the account
 * (post == NULL) or one post. */
int64_t ew_view_count(const struct ew_view *v, enum ew_metric m, size_t res, const char *post,
                      size_t post_len, int64_t idx);
/* Sum of the buckets of resolution res that overlap [from_ms, to_ms]. */
int64_t ew_view_sum(const struct ew_view *v, enum ew_metric m, size_t res, const char *post,
                    size_t post_len, int64_t from_ms, int64_t to_ms);

/* All metrics at once: out[m] = ew_view_sum(v, m, ...) for every metric, in
 * one walk over the buckets (use it when several sums share a range). */
void ew_view_sums(const struct ew_view *v, size_t res, const char *post, size_t post_len,
                  int64_t from_ms, int64_t to_ms, int64_t out[EW_M__COUNT]);

/* Publication time of a post (ms), or -1 when its post event was not seen. */
int64_t ew_view_post_time(const struct ew_view *v, const char *post, size_t post_len);

struct ew_post_ref {
    const char *post;
    size_t post_len;
    int64_t published_ms;
};
/* Posts of the account with a known publication time (from its retention
 * window); fills out[0..cap) and returns how many there are in total. */
size_t ew_view_posts(const struct ew_view *v, struct ew_post_ref *out, size_t cap);

/* The latest follower snapshot at or before at_ms: 0 with *followers and
 * *snap_ms, or -1 when there is none (within the coarsest retention). */
int ew_view_followers(const struct ew_view *v, int64_t at_ms, int64_t *followers,
                      int64_t *snap_ms);

/* Comments of this batch for the evidence: the newest up to cap with
 * ts in [from_ms, to_ms], for one post or (post == NULL) the account,
 * newest first.  Strings are borrowed for the duration of evaluate. */
struct ew_sample {
    const char *id, *actor, *text;
    size_t id_len, actor_len, text_len;
    int64_t ts;
    enum ew_text_class cls;
};
size_t ew_view_samples(const struct ew_view *v, const char *post, size_t post_len,
                       int64_t from_ms, int64_t to_ms, struct ew_sample *out, size_t cap);

/* Standalone views, built by hand (unit tests, tools).  The setters return
 * 0, or -1 on allocation failure. */
struct ew_view *ew_view_new(const char *account, const struct ew_resolution *res, size_t nres);
void ew_view_free(struct ew_view *v); /* accepts NULL */
void ew_view_set_now(struct ew_view *v, int64_t now_ms, int64_t watermark_ms);
int ew_view_set_count(struct ew_view *v, enum ew_metric m, size_t res, const char *post,
                      int64_t idx, int64_t n);
/* Add n events of metric m at time ts to every resolution (as the fold does). */
int ew_view_add(struct ew_view *v, enum ew_metric m, const char *post, int64_t ts, int64_t n);
int ew_view_set_post_time(struct ew_view *v, const char *post, int64_t ms);
int ew_view_add_snapshot(struct ew_view *v, int64_t ts, int64_t followers);
int ew_view_add_sample(struct ew_view *v, const char *post, const struct ew_sample *s);

/* ---- triggers and signals -------------------------------------------------------- */

struct ew_trigger {
    enum ew_event_type type;
    int64_t ts;
    const char *post, *actor; /* NULL when the event has none */
    size_t post_len, actor_len;
    enum ew_text_class cls;   /* comments */
    int64_t followers;        /* profile */
    int64_t actor_created_ms; /* INT64_MIN when absent */
    /* likes: the likes, and those by rare actors, of the whole stream in the
     * actor slot before this like's (window.c's actor sketch); -1 when off */
    int64_t ref_likes, ref_rare;
};

struct ew_signal {
    enum ew_signal_kind kind;
    double score;            /* strength in [0, 1]: the detector's confidence */
    const char *post;        /* post-level signal: borrowed from the view/trigger; NULL = account */
    size_t post_len;
    int64_t win_start, win_end; /* the window the evidence covers (ms) */
    json_t *evidence;        /* counts, baseline, ratio or probability, samples; owned: the
                                caller takes it (json_decref) */
};

struct ew_detector {
    const char *name;
    enum ew_signal_kind kind;
    /* Build the detector's state from cfg (thresholds are in cfg->detectors).
     * 0, or -1 with err filled. */
    int (*configure)(void **state, const struct ew_config *cfg, char *err, size_t errlen);
    /* Evaluate at a trigger; write at most cap signals into out and return
     * how many.  Pure: reads only state, the view and the trigger. */
    size_t (*evaluate)(const void *state, const struct ew_view *v, const struct ew_trigger *t,
                       struct ew_signal *out, size_t cap);
    void (*destroy)(void *state);
};

extern const struct ew_detector ew_detect_burst;
extern const struct ew_detector ew_detect_hollow;
extern const struct ew_detector ew_detect_growth;
extern const struct ew_detector ew_detect_engage;

/* The registry (detect.c): every detector, in evaluation order. */
const struct ew_detector *const *ew_detectors(size_t *n);

#endif
