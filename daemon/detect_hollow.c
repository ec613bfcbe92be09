/* detect_hollow — hollow and copy-paste comments.
 *
 * What it detects.  A stream of comments that say nothing ("好看", "支持支持",
 * "👍👍", "nice!") or that are the same text pasted by many actors, at a
 * share of the account's comments far above what its own audience writes.
 * Bought "engagement packages" drip such comments for hours, a few every ten
 * minutes, from a rotating set of accounts: too slow for a burst, but their
 * share of the hour stands out.
 *
 * The statistic.  At every comment, over the last `window` (1 h) and
 * `long_window` (3 h): c comments, h hollow ones (text.h: empty, generic
 * praise, one repeated unit, very short) and d duplicates (metric d: the same
 * normalised text already posted on the account in this or the previous
 * hour).  The account's usual ratios p0 = H/C and q0 = D/C come from the
 * `history` (2 days) before the long window, with a Beta-style prior of
 * prior_weight (30) comments at prior_ratio (0.5 hollow) and prior_dup_ratio
 * (0.1 duplicate): a new account is assumed to have an audience that writes
 * a lot of short praise until its history says otherwise, because some
 * audiences honestly do (up to ~60%).  Each of h and d is then tested against
 * a binomial law Bin(c, usual ratio): a window is flagged when the count
 * reaches min_flagged (10), its ratio exceeds the usual one by min_excess
 * (0.25), and -log10 P(X >= count) >= surprise (6).  The excess guard keeps a
 * big account's small but "significant" drift (55% hollow where 50% is
 * usual, over 2,000 comments) from being called a campaign; the tail
 * probability keeps 4 hollow comments out of 5 from being one.  The short
 * window catches a dense drip within its first hour; the long one a sparse
 * drip on an account without history, which needs a few dozen comments to
 * beat the prior.  The score is 0.5 at the threshold, 1 twenty orders of
 * magnitude past it.  The same tests run on the trigger's post with the
 * account's usual ratios; a passing post is reported as a post-level signal,
 * otherwise the account is.
 *
 * Copy-paste "from >= N actors" is the duplicate count: window.c counts every
 * repeat of a fingerprint within the hour, whoever wrote it, so d is the
 * number of pasted copies beyond the first.  Bought packages paste a handful
 * of texts (some of them substantive-looking ad copy, which the hollow test
 * misses), so a drip shows as 40-90% duplicates where honest audiences stay
 * under ~25% of a quiet window.
 *
 * Honest waves.  A launch or a viral post multiplies comments, and with them
 * the chance that two fans write the same "好看" or "第一"; its first minutes
 * are also full of "沙发"/"first" comments.  Such a wave brings likes, 8-25
 * per comment, where a drip brings a few likes per ten comments.  A window
 * with at least 5 likes per comment is therefore not tested: its likes
 * explain its comments.
 *
 * Cost and repetition.  The account is judged at its first comment of each
 * 10-second bucket (finest resolution): a ratio over an hour does not move
 * with one comment, and a launch's comment storm is not re-read at every
 * comment.  Then the coarse count of the long window (a few lookups) gates;
 * the windows (one pass each for all metrics) and the history (49 hourly
 * buckets, one pass) are read only when that count reaches min_comments and
 * a window could pass at all.  A signal is emitted
 * when the trigger tips a window over (the counts without it fail; it is
 * taken as a duplicate then, which errs towards emitting) and, while the
 * window keeps passing, at the first comment of each 5-minute bucket: a drip
 * gives a steady trickle of signals, not one per comment.
 *
 * Parameters (detectors.hollow.*): window, long_window, history,
 * min_comments, min_flagged, min_excess, prior_ratio, prior_dup_ratio,
 * prior_weight, surprise.
 *
 * Blind spots.
 *   - Campaigns that write substantive-looking, varied text (LLM-written
 *     comments) are neither hollow nor duplicates.
 *   - A drip during a big launch or viral wave is excused with the wave
 *     (its likes explain the comments) and shows only once the wave fades.
 *   - A campaign running for longer than `history` becomes the account's
 *     usual ratio; one that starts with the account (no history) must beat
 *     the prior, so it needs a near-total hollow share or heavy pasting.
 *   - Fingerprints ignore case, width, spacing and punctuation only: a
 *     paste with one changed character or an appended emoji is a new text.
 *   - A fan club pasting one chant is copy-paste too (honest, and recurring):
 *     it becomes part of the account's usual duplicate ratio, but a first
 *     chant wave on a quiet account can be flagged.
 *   - Actors are not tracked across accounts (the view is one account).
 */
#include "engwatch/detect.h"
#include "engwatch/stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SCORE_SPAN 20.0
#define HONEST_LIKES_PER_COMMENT 5.0 /* an honest wave's likes per comment, at least */
#define REPEAT_MS 300000 /* a standing signal repeats at most once per 5-minute bucket */

static int hollow_configure(void **state, const struct ew_config *cfg, char *err, size_t errlen)
{
    const struct ew_hollow_cfg *c = &cfg->detectors.hollow;
    if (c->long_window_ms < c->window_ms) {
        snprintf(err, errlen, "detectors.hollow.long_window must be at least detectors.hollow.window");
        return -1;
    }
    *state = ew_detect_state_dup(c, sizeof *c, err, errlen);
    return *state ? 0 : -1;
}

static void hollow_destroy(void *state) { free(state); }

struct counts {
    int64_t c, h, d, l;
};

struct verdict {
    double s_hollow, s_dup; /* surprises; 0 when that test does not pass */
};

/* Test counts x against the usual ratios p0 (hollow) and q0 (duplicates).
 * Returns 1 when either test passes. */
static int decide(const struct ew_hollow_cfg *st, const struct counts *x, double p0, double q0,
                  struct verdict *vd)
{
    memset(vd, 0, sizeof *vd);
    if (x->c < st->min_comments || x->c <= 0)
        return 0;
    double c = (double)x->c;
    if ((double)x->l >= HONEST_LIKES_PER_COMMENT * c)
        return 0; /* an honest wave: its likes explain its comments */
    if (x->h >= st->min_flagged && (double)x->h / c - p0 >= st->min_excess) {
        double s = ew_binom_surprise((double)x->h, c, p0);
        if (s >= st->surprise)
            vd->s_hollow = s;
    }
    if (x->d >= st->min_flagged && (double)x->d / c - q0 >= st->min_excess) {
        double s = ew_binom_surprise((double)x->d, c, q0);
        if (s >= st->surprise)
            vd->s_dup = s;
    }
    return vd->s_hollow > 0 || vd->s_dup > 0;
}


/* Could these counts pass at all, whatever the usual ratios? */
static int candidate(const struct ew_hollow_cfg *st, const struct counts *x)
{
    double c = (double)x->c;
    return x->c >= st->min_comments &&
           ((x->h >= st->min_flagged && (double)x->h / c >= st->min_excess) ||
            (x->d >= st->min_flagged && (double)x->d / c >= st->min_excess));
}

/* Counts of one scope (post or account) over one window. */
struct cand {
    const char *post;
    size_t plen;
    int64_t start, len_ms;
    struct counts x;
    struct verdict vd;
    int pass;
};

/* Emit when the trigger tips the window over (the same counts without it
 * fail; it is counted as a duplicate then, which errs towards emitting), and
 * while the window keeps passing, at its first comment of each 5-minute
 * bucket: a drip gives a steady trickle of signals, not one per comment. */
static int should_emit(const struct ew_hollow_cfg *st, const struct ew_view *v, const struct cand *k,
                       const struct ew_trigger *t, double p0, double q0)
{
    struct counts prev = k->x;
    struct verdict vd;
    prev.c -= 1;
    prev.h -= ew_text_is_hollow(t->cls);
    prev.d -= prev.d > 0;
    if (!decide(st, &prev, p0, q0, &vd))
        return 1;
    return ew_first_in_bucket(v, EW_M_COMMENTS, k->post, k->plen, t->ts, REPEAT_MS);
}

/* Fill the counts of a window if it can pass at all; 1 when it is a candidate. */
static int load_cand(const struct ew_hollow_cfg *st, const struct ew_view *v, struct cand *k, int64_t now)
{
    int64_t m[EW_M__COUNT];
    ew_view_sums(v, ew_view_res_for(v, k->len_ms), k->post, k->plen, k->start, now, m);
    k->x = (struct counts){m[EW_M_COMMENTS], m[EW_M_HOLLOW], m[EW_M_DUP], m[EW_M_LIKES]};
    return candidate(st, &k->x);
}

static size_t hollow_evaluate(const void *state, const struct ew_view *v,
                              const struct ew_trigger *t, struct ew_signal *out, size_t cap)
{
    const struct ew_hollow_cfg *st = state;
    if (t->type != EW_EV_COMMENT || cap == 0)
        return 0;
    int64_t now = t->ts;
    /* Judged at the account's first comment of each finest bucket (10 s): a
     * ratio over an hour does not move with one comment, and a launch's
     * comment storm is not re-read at every comment. */
    if (!ew_first_in_bucket(v, EW_M_COMMENTS, NULL, 0, now, 0))
        return 0;
    /* gate: the long window at the coarsest resolution (a superset) */
    size_t rc = ew_view_nres(v) - 1;
    if (ew_view_sum(v, EW_M_COMMENTS, rc, NULL, 0, now - st->long_window_ms, now) < st->min_comments)
        return 0;

    /* post scopes first: a passing post is the more specific report */
    struct cand k[4];
    size_t nk = 0;
    int64_t lens[2] = {st->window_ms, st->long_window_ms};
    for (int scope = 0; scope < 2; scope++) {
        if (scope == 0 && !t->post)
            continue;
        for (int w = 0; w < 2; w++) {
            struct cand *c = &k[nk];
            memset(c, 0, sizeof *c);
            c->post = scope == 0 ? t->post : NULL;
            c->plen = scope == 0 ? t->post_len : 0;
            c->len_ms = lens[w];
            c->start = now - lens[w];
            if (load_cand(st, v, c, now))
                nk++;
        }
    }
    if (!nk)
        return 0;

    /* The account's usual ratios over the history before the long window. */
    size_t rh = ew_view_res_for(v, st->history_ms + st->long_window_ms);
    int64_t bh = ew_view_bucket_ms(v, rh);
    int64_t he = ew_floordiv(now - st->long_window_ms, bh) * bh - 1, hs = he - st->history_ms + 1;
    int64_t m[EW_M__COUNT];
    ew_view_sums(v, rh, NULL, 0, hs, he, m);
    double hc = (double)m[EW_M_COMMENTS], hh = (double)m[EW_M_HOLLOW], hd = (double)m[EW_M_DUP];
    double p0 = (hh + st->prior_weight * st->prior_ratio) / (hc + st->prior_weight);
    double q0 = (hd + st->prior_weight * st->prior_dup_ratio) / (hc + st->prior_weight);
    if (!(p0 >= 0 && p0 <= 1 && q0 >= 0 && q0 <= 1))
        return 0; /* no history and a zero prior weight */

    const struct cand *best = NULL;
    double best_s = 0;
    for (size_t i = 0; i < nk; i++) {
        k[i].pass = decide(st, &k[i].x, p0, q0, &k[i].vd);
        double s = fmax(k[i].vd.s_hollow, k[i].vd.s_dup);
        if (k[i].pass && (!best || (best->post == k[i].post && s > best_s))) {
            best = &k[i];
            best_s = s;
        }
    }
    if (!best || !should_emit(st, v, best, t, p0, q0))
        return 0;

    const struct counts *x = &best->x;
    const struct verdict *vd = &best->vd;
    int hollow_test = vd->s_hollow >= vd->s_dup;
    double c = (double)x->c;
    json_t *e = json_pack("{s:s,s:s,s:I,s:I,s:I,s:I,s:f,s:f,s:f,s:f,s:f,s:{s:f,s:f,s:I,s:I},"
                          "s:I,s:{s:I,s:I,s:f,s:f}}",
                          "scope", best->post ? "post" : "account", "test",
                          hollow_test ? "hollow" : "duplicate", "comments", (json_int_t)x->c,
                          "hollow", (json_int_t)x->h, "duplicates", (json_int_t)x->d, "likes",
                          (json_int_t)x->l, "hollow_ratio", ew_round4((double)x->h / c),
                          "duplicate_ratio", ew_round4((double)x->d / c), "surprise",
                          ew_round4(best_s), "p_value", pow(10, -best_s), "excess",
                          ew_round4(hollow_test ? (double)x->h / c - p0 : (double)x->d / c - q0),
                          "baseline", "hollow_ratio", ew_round4(p0), "duplicate_ratio",
                          ew_round4(q0), "comments", (json_int_t)hc, "history_ms",
                          (json_int_t)st->history_ms, "window_ms", (json_int_t)best->len_ms,
                          "thresholds", "min_comments", (json_int_t)st->min_comments,
                          "min_flagged", (json_int_t)st->min_flagged, "min_excess",
                          st->min_excess, "surprise", st->surprise);
    if (!e)
        return 0;
    json_t *smp =
        ew_evidence_samples(v, best->post, best->plen, best->start, now, 5, hollow_test);
    if (smp)
        json_object_set_new(e, "samples", smp);
    ew_signal_set(out, EW_SIG_HOLLOW, ew_score_from_surprise(best_s, st->surprise, SCORE_SPAN),
                  best->post, best->plen, best->start, now, e);
    return 1;
}

const struct ew_detector ew_detect_hollow = {
    .name = "hollow",
    .kind = EW_SIG_HOLLOW,
    .configure = hollow_configure,
    .evaluate = hollow_evaluate,
    .destroy = hollow_destroy,
};
