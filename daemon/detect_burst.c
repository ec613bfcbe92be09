/* detect_burst — comment bursts on a post or an account.
 *
 * What it detects.  Tens of accounts commenting on one post within minutes,
 * far above what the post's audience writes at that moment: the signature of
 * a bought or scripted comment wave.  The same test runs on the account's
 * comments over all its posts, for bots that spread over several posts.
 *
 * The statistic.  At every comment (the trigger) the detector counts the
 * comments x of the post in a short window (detectors.burst.window, 2 min)
 * and a long one (long_window, 10 min) ending at the trigger, and asks how
 * surprising x is under a Poisson law whose mean is the *largest* of three
 * expectations:
 *   - the post's own rate over `trailing` (30 min) before the long window,
 *     scaled to the window.  This is "what this post normally gets at this
 *     age and time of day": a launch wave decays, so its trailing rate is
 *     above its current one, and the audience's daily rhythm is in it.  A
 *     trailing half hour holds few comments, so its upper confidence bound
 *     (n + 2 sqrt(n + 1) + 1 over the span) is used: a quiet quarter of an
 *     hour in a launch must not make the next minutes look wild.  A post
 *     younger than 5 minutes has no trailing rate;
 *   - the comments its likes in the same window explain: an honest wave, a
 *     launch or a viral post, brings likes and comments together, about
 *     4-12 comments per 100 likes.  The account's own comments-per-like ratio
 *     over the last day is used, pulled towards comments_per_like (0.12, the
 *     upper end of honest audiences) while it has few likes (a prior worth
 *     200 likes), so that a new account's launch is excused by its likes.  A
 *     bot wave brings at most one like per bot, a comments-per-like ratio
 *     near 1;
 *   - a floor of 0.25 comments a minute (a quiet post is not a zero-rate
 *     process).
 * The burst is called when x >= min_comments (8), at least min_commenters
 * (6) of them are new commenters (metric k: an actor's first comment on the
 * account within the hour, so one chatty fan does not make a burst),
 * x >= min_ratio (3) x expected, and -log10 P(X >= x) >= surprise (6).  The
 * ratio guards against over-dispersion that a Poisson law ignores (a viral
 * wave can outrun its trailing rate ~2x while rising); the tail probability
 * guards against small numbers (3 comments where 1 was expected).  The score
 * is 0.5 at the threshold (enough for the risk module to open an incident)
 * and rises to 1 twenty orders of magnitude beyond.
 *
 * Cost and repetition.  Every comment pays the coarse-resolution count of the
 * long window (a few lookups); when that reaches min_comments, the trailing
 * rate (a few more): a busy post whose count cannot reach min_ratio x the
 * short window's expected count stops there.  Only then are the 10 s buckets
 * of the two windows walked (one pass for all metrics) and the account's day
 * of history read.  A signal is emitted when the trigger tips
 * the window over (the same counts without it would not pass) and, while the
 * burst lasts, at the first comment of each 5-minute bucket: a campaign gives
 * a few signals of rising strength, not one per comment.
 *
 * Parameters (detectors.burst.*): window, long_window, trailing,
 * min_comments, min_commenters, min_ratio, surprise, comments_per_like,
 * account_level.
 *
 * Blind spots.
 *   - Cross-account behaviour is invisible here: the view holds one
 *     account, so "one actor hitting many accounts within seconds" and
 *     per-actor machine cadence cannot be measured.  The batch's samples do
 *     carry actors and times, but a batch boundary can fall anywhere, so
 *     using them would make live and replay disagree; they are evidence
 *     only.  The new-commenter count is the per-account proxy: it rules out
 *     one actor posting many comments.
 *   - A slow drip (a few comments every 10 minutes for hours) never makes a
 *     burst; detect_hollow.c looks at the hour.
 *   - A burst that also buys likes at the honest ratio (10 likes per
 *     comment) is excused by its likes; the likes would then show in
 *     detect_engage.c's like test only if they come without comments.
 *   - On accounts whose organic comment rate at the time is already near
 *     the burst's rate (very large accounts during a launch), a burst of a
 *     few hundred comments over ten minutes stays below min_ratio.
 *   - Times are bucketed (10 s at the finest resolution), so windows are
 *     approximate to a bucket.
 */
#include "engwatch/detect.h"
#include "engwatch/stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define FLOOR_PER_MIN 0.25        /* comments a minute expected of any post */
#define LIKE_PRIOR_WEIGHT 200.0   /* likes' worth of comments_per_like */
#define KAPPA_HISTORY_MS 86400000 /* the account's comments-per-like ratio over a day */
#define MIN_TRAILING_MS 300000    /* a trailing rate needs 5 minutes of post life */
#define SCORE_SPAN 20.0           /* surprise beyond the threshold for score 1 */
#define REPEAT_MS 300000          /* a standing signal repeats at most once per 5-minute bucket */

static int burst_configure(void **state, const struct ew_config *cfg, char *err, size_t errlen)
{
    const struct ew_burst_cfg *c = &cfg->detectors.burst;
    if (c->long_window_ms < c->window_ms) {
        snprintf(err, errlen, "detectors.burst.long_window must be at least detectors.burst.window");
        return -1;
    }
    *state = ew_detect_state_dup(c, sizeof *c, err, errlen);
    return *state ? 0 : -1;
}

static void burst_destroy(void *state) { free(state); }

/* One window's counts and verdict. */
struct win {
    int64_t len_ms, start;
    int64_t comments, likes, commenters;
    double expected, from_trailing, from_likes, floor, surprise;
    int pass;
};

/* The scope under test: a post or the account (post == NULL). */
struct scope {
    const char *post;
    size_t plen;
    int64_t published; /* -1 when unknown */
};

/* The account's comments per like over the day before the current hour,
 * pulled towards the configured prior while it has few likes. */
static double comments_per_like(const struct ew_burst_cfg *b, const struct ew_view *v, int64_t now)
{
    size_t r = ew_view_res_for(v, KAPPA_HISTORY_MS);
    int64_t bk = ew_view_bucket_ms(v, r);
    int64_t to = ew_floordiv(now, bk) * bk - 1;
    int64_t m[EW_M__COUNT];
    ew_view_sums(v, r, NULL, 0, to - KAPPA_HISTORY_MS + 1, to, m);
    return ((double)m[EW_M_COMMENTS] + b->comments_per_like * LIKE_PRIOR_WEIGHT) /
           ((double)m[EW_M_LIKES] + LIKE_PRIOR_WEIGHT);
}

/* The decision for one window given its counts; x is the comment count to
 * test (the window's, or one less to ask whether the trigger crossed). */
static int decide(const struct ew_burst_cfg *b, const struct win *w, int64_t x, double *surprise)
{
    *surprise = 0;
    if (x < b->min_comments || w->commenters < b->min_commenters)
        return 0;
    if ((double)x < b->min_ratio * w->expected)
        return 0;
    *surprise = ew_poisson_surprise((double)x, w->expected);
    return *surprise >= b->surprise;
}

/* Test one scope at the trigger time.  Returns the index of the passing
 * window with the larger surprise (0 short, 1 long), or -1. */
static int test_scope(const struct ew_burst_cfg *b, const struct ew_view *v, const struct scope *sc,
                      int64_t now, struct win w[2], double *kappa)
{
    size_t rc = ew_view_res_for(v, b->long_window_ms + b->trailing_ms); /* coarse: gate, trailing */
    size_t rf = ew_view_res_for(v, b->long_window_ms);                  /* fine: the windows */

    /* Gate: comments in the long window at the coarse resolution (a superset). */
    int64_t gate = ew_view_sum(v, EW_M_COMMENTS, rc, sc->post, sc->plen, now - b->long_window_ms, now);
    if (gate < b->min_comments)
        return -1;

    /* The post's own rate over `trailing` before the long window. */
    int64_t bc = ew_view_bucket_ms(v, rc);
    int64_t tr_end = ew_floordiv(now - b->long_window_ms, bc) * bc; /* start of its bucket */
    int64_t tr_start = tr_end - b->trailing_ms;
    if (sc->published >= 0 && sc->published > tr_start)
        tr_start = sc->published;
    double rate = -1; /* per ms; -1 = not measurable (a post younger than that) */
    if (tr_end - tr_start >= MIN_TRAILING_MS) {
        /* an upper confidence bound of the rate: a trailing half hour holds
         * few comments, and a low draw must not make the window look wild */
        double n = (double)ew_view_sum(v, EW_M_COMMENTS, rc, sc->post, sc->plen, tr_start,
                                       tr_end - 1);
        rate = (n + 2.0 * sqrt(n + 1.0) + 1.0) / (double)(tr_end - tr_start);
    }
    /* Neither window can reach min_ratio x its expected count when even the
     * superset falls short of the short window's: a busy post stops here. */
    double least = fmax(FLOOR_PER_MIN * (double)b->window_ms / 60000.0,
                        rate >= 0 ? rate * (double)b->window_ms : 0);
    if ((double)gate < b->min_ratio * least)
        return -1;

    w[0] = (struct win){.len_ms = b->window_ms, .start = now - b->window_ms};
    w[1] = (struct win){.len_ms = b->long_window_ms, .start = now - b->long_window_ms};
    for (int k = 1; k >= 0; k--) {
        int64_t m[EW_M__COUNT];
        ew_view_sums(v, rf, sc->post, sc->plen, w[k].start, now, m);
        w[k].comments = m[EW_M_COMMENTS];
        w[k].likes = m[EW_M_LIKES];
        w[k].commenters = m[EW_M_NEW_COMMENTERS];
        if (k == 1 && w[1].comments < b->min_comments)
            return -1; /* the short window holds no more */
    }

    *kappa = -1;
    int best = -1;
    double best_s = 0;
    for (int k = 0; k < 2; k++) {
        struct win *x = &w[k];
        if (x->comments < b->min_comments)
            continue;
        x->floor = FLOOR_PER_MIN * (double)x->len_ms / 60000.0;
        x->from_trailing = rate >= 0 ? rate * (double)x->len_ms : 0;
        x->expected = fmax(x->floor, x->from_trailing);
        if ((double)x->comments < b->min_ratio * x->expected)
            continue;
        if (*kappa < 0)
            *kappa = comments_per_like(b, v, now);
        x->from_likes = *kappa * (double)x->likes;
        x->expected = fmax(x->expected, x->from_likes);
        x->pass = decide(b, x, x->comments, &x->surprise);
        if (x->pass && x->surprise > best_s) {
            best = k;
            best_s = x->surprise;
        }
    }
    return best;
}

/* Emit at the crossing (the window without the trigger would not pass) and,
 * while the burst lasts, at the first comment of each 5-minute bucket: a
 * campaign gives a few signals, not one per comment. */
static int should_emit(const struct ew_burst_cfg *b, const struct ew_view *v, const struct scope *sc,
                       const struct win *w, int64_t now)
{
    double s;
    if (!decide(b, w, w->comments - 1, &s))
        return 1;
    return ew_first_in_bucket(v, EW_M_COMMENTS, sc->post, sc->plen, now, REPEAT_MS);
}

static json_t *evidence(const struct ew_burst_cfg *b, const struct ew_view *v, const struct scope *sc,
                        const struct win *w, double kappa, int64_t now)
{
    json_t *e = json_pack(
        "{s:s,s:I,s:I,s:I,s:f,s:f,s:f,s:{s:f,s:f,s:f,s:f},s:I,s:{s:I,s:I,s:f,s:f}}", "scope",
        sc->post ? "post" : "account", "comments", (json_int_t)w->comments, "new_commenters",
        (json_int_t)w->commenters, "likes", (json_int_t)w->likes, "expected",
        ew_round4(w->expected), "ratio", ew_round4((double)w->comments / w->expected), "surprise",
        ew_round4(w->surprise), "baseline", "trailing", ew_round4(w->from_trailing), "from_likes",
        ew_round4(w->from_likes), "comments_per_like", ew_round4(kappa), "floor",
        ew_round4(w->floor), "window_ms", (json_int_t)w->len_ms, "thresholds", "min_comments",
        (json_int_t)b->min_comments, "min_commenters", (json_int_t)b->min_commenters,
        "min_ratio", b->min_ratio, "surprise", b->surprise);
    if (!e)
        return NULL;
    json_object_set_new(e, "p_value", json_real(pow(10, -w->surprise)));
    if (sc->published >= 0)
        json_object_set_new(e, "post_age_ms", json_integer(now - sc->published));
    json_t *s = ew_evidence_samples(v, sc->post, sc->plen, w->start, now, 5, 0);
    if (s)
        json_object_set_new(e, "samples", s);
    return e;
}

static size_t burst_evaluate(const void *state, const struct ew_view *v, const struct ew_trigger *t,
                             struct ew_signal *out, size_t cap)
{
    const struct ew_burst_cfg *b = state;
    if (t->type != EW_EV_COMMENT || cap == 0)
        return 0;
    int64_t now = t->ts;
    struct scope scopes[2];
    size_t ns = 0;
    if (t->post)
        scopes[ns++] = (struct scope){t->post, t->post_len, ew_view_post_time(v, t->post, t->post_len)};
    if (b->account_level)
        scopes[ns++] = (struct scope){NULL, 0, -1};
    for (size_t i = 0; i < ns; i++) {
        struct win w[2];
        double kappa;
        int k = test_scope(b, v, &scopes[i], now, w, &kappa);
        if (k < 0)
            continue;
        /* a passing post-level test speaks for the account too */
        if (!should_emit(b, v, &scopes[i], &w[k], now))
            return 0;
        json_t *e = evidence(b, v, &scopes[i], &w[k], kappa, now);
        if (!e)
            return 0;
        ew_signal_set(out, EW_SIG_COMMENT_BURST,
                      ew_score_from_surprise(w[k].surprise, b->surprise, SCORE_SPAN),
                      scopes[i].post, scopes[i].plen, w[k].start, now, e);
        return 1;
    }
    return 0;
}

const struct ew_detector ew_detect_burst = {
    .name = "burst",
    .kind = EW_SIG_COMMENT_BURST,
    .configure = burst_configure,
    .evaluate = burst_evaluate,
    .destroy = burst_destroy,
};
