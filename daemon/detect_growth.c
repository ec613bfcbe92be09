/* detect_growth — follower spikes.
 *
 * What it detects.  Followers bought in bulk: hundreds or thousands of
 * follows within tens of minutes to a few hours, mostly from freshly created
 * accounts, often followed a day later by a wave of unfollows as the
 * platform purges them or the seller's accounts drop out.
 *
 * The statistic.  At every follow, the follows f in the last `window` (1 h)
 * are compared with what the account explains:
 *   - its usual hourly follows: the median of the hourly counts over the
 *     `history` (2 days) before the window - a median, so that an earlier
 *     spike does not lift the baseline - but never less than the mean of
 *     those hours with the largest tenth left out, nor less than the size
 *     prior daily_rate (1%) x followers / 24: before the account has
 *     history, and for accounts that have been quiet, size sets the scale;
 *   - the follows its engagement explains: an honest surge (a viral post)
 *     brings likes, comments and follows together, at most
 *     follows_per_like (8) follows per 100 likes in the same window.
 * The expected count mu is the sum of the two.  The window is a spike when
 * f >= min_follows (20), the unexplained growth (f - mu) / followers >=
 * min_growth (1%: 300 follows is nothing at 2M followers and a lot at 2k),
 * and -log10 P(X >= f) >= surprise (6) for X ~ Poisson(mu).  Followers are
 * the last profile snapshot before the window (window.h: hourly snapshots),
 * or the latest one.
 *
 * Evidence that raises the score: the share of follows from new actors
 * (metric n: actor_created within windows.new_actor_age; bought accounts are
 * young) adds up to 0.25, and unfollows of the last two days well above the
 * usual churn add up to 0.1.  Unfollow churn after a spike is reported in
 * the evidence of later signals.  The score is otherwise 0.5 at the
 * threshold and 1 twenty orders of magnitude past it.
 *
 * Profile snapshots.  A platform may deliver follower counts but not every
 * follow.  At a profile event, growth since the previous snapshot that the
 * follow events do not account for (net of unfollows) is tested on its own:
 * at least min_follows followers and snapshot_min_growth (5%) of the
 * followers, and above the median + 5 MADs of the previous hourly snapshot
 * deltas.  When the follow events explain the growth, the follow test above
 * has already judged it.
 *
 * Cost and repetition.  A follow pays the coarse count of the window (two
 * hourly lookups) unless that holds min_follows follows; then the window
 * (one pass over 13 five-minute buckets for all metrics), one snapshot and
 * the history (48 hourly buckets) are read.  A spike is emitted when the
 * trigger tips the window over and, while it lasts, at the first follow of
 * each 5-minute bucket.
 *
 * Parameters (detectors.growth.*): window, history, min_follows,
 * min_growth, daily_rate, follows_per_like, surprise, snapshot_min_growth.
 *
 * Blind spots.
 *   - Slow buying (a few per cent a day over weeks) hides in the baseline:
 *     the history is days, not months.
 *   - A purchase timed with a viral post is partly excused by its likes.
 *   - Without actor_created the new-actor share is 0 and cannot help.
 *   - Without any profile snapshot the size is unknown: no signal.  An
 *     account at zero followers is measured against one follower, so any
 *     burst of min_follows strangers on an empty account is a spike.
 *   - Who follows is not compared across accounts (the view is one
 *     account): a follow ring serving many accounts is seen one account at
 *     a time.
 */
#include "engwatch/detect.h"
#include "engwatch/stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SCORE_SPAN 20.0
#define HOUR_MS 3600000LL
#define MAX_HOURS 192 /* history buckets read at most (8 days of hours) */
#define CHURN_WINDOW_MS (2 * 86400000LL)
#define SNAP_MAD_K 5.0
#define REPEAT_MS 300000 /* a standing signal repeats at most once per 5-minute bucket */

static int growth_configure(void **state, const struct ew_config *cfg, char *err, size_t errlen)
{
    const struct ew_growth_cfg *c = &cfg->detectors.growth;
    *state = ew_detect_state_dup(c, sizeof *c, err, errlen);
    return *state ? 0 : -1;
}

static void growth_destroy(void *state) { free(state); }

/* Followers at the start of the window (or the latest known): 0 / -1. */
static int followers_at(const struct ew_view *v, int64_t at, int64_t now, int64_t *f)
{
    int64_t ts;
    if (ew_view_followers(v, at, f, &ts) == 0 || ew_view_followers(v, now, f, &ts) == 0)
        return 0;
    return -1;
}

/* Usual follows per hour: median of the hourly counts of the history before
 * the window, at least the mean of the hours without the top tenth. */
static double usual_per_hour(const struct ew_growth_cfg *g, const struct ew_view *v, int64_t ws,
                             double *median_out)
{
    size_t r = ew_view_res_for(v, g->history_ms + g->window_ms);
    int64_t b = ew_view_bucket_ms(v, r);
    int64_t hi = ew_floordiv(ws, b) - 1;
    int64_t n = g->history_ms / b;
    if (n > MAX_HOURS)
        n = MAX_HOURS;
    if (n < 1)
        n = 1;
    double x[MAX_HOURS];
    for (int64_t i = 0; i < n; i++)
        x[i] = (double)ew_view_count(v, EW_M_FOLLOWS, r, NULL, 0, hi - i);
    double med = ew_median(x, (size_t)n); /* sorts x */
    size_t keep = (size_t)n - (size_t)n / 10;
    double sum = 0;
    for (size_t i = 0; i < keep; i++)
        sum += x[i];
    double per_bucket = fmax(med, sum / (double)keep);
    *median_out = med * (double)HOUR_MS / (double)b;
    return per_bucket * (double)HOUR_MS / (double)b;
}

struct spike {
    int64_t follows, new_follows, likes, comments, followers, unfollows, churn_follows;
    double usual_hour, median_hour, from_size, from_engagement, expected, growth, surprise,
        new_share;
};

static int decide(const struct ew_growth_cfg *g, const struct spike *s, int64_t f, double *surprise)
{
    *surprise = 0;
    if (f < g->min_follows || s->followers < 0)
        return 0;
    double base = s->followers > 0 ? (double)s->followers : 1.0;
    if (((double)f - s->expected) / base < g->min_growth)
        return 0;
    *surprise = ew_poisson_surprise((double)f, s->expected);
    return *surprise >= g->surprise;
}

static size_t follow_test(const struct ew_growth_cfg *g, const struct ew_view *v,
                          const struct ew_trigger *t, struct ew_signal *out)
{
    int64_t now = t->ts, ws = now - g->window_ms;
    size_t rw = ew_view_res_for(v, g->window_ms);
    size_t rc = ew_view_nres(v) - 1;
    /* gate: the coarse buckets overlapping the window (a superset of it) */
    if (ew_view_sum(v, EW_M_FOLLOWS, rc, NULL, 0, ws, now) < g->min_follows)
        return 0;
    struct spike s = {0};
    int64_t m[EW_M__COUNT];
    ew_view_sums(v, rw, NULL, 0, ws, now, m);
    s.follows = m[EW_M_FOLLOWS];
    s.new_follows = m[EW_M_NEW_FOLLOWS];
    s.likes = m[EW_M_LIKES];
    s.comments = m[EW_M_COMMENTS];
    if (s.follows < g->min_follows)
        return 0;
    if (followers_at(v, ws, now, &s.followers) < 0)
        return 0; /* size unknown */
    double base = s.followers > 0 ? (double)s.followers : 1.0;
    if ((double)s.follows / base < g->min_growth)
        return 0; /* cannot pass whatever the baseline */

    s.usual_hour = usual_per_hour(g, v, ws, &s.median_hour);
    double hours = (double)g->window_ms / (double)HOUR_MS;
    s.from_size = g->daily_rate * (double)s.followers / 24.0 * hours;
    s.from_engagement = g->follows_per_like * (double)s.likes;
    s.expected = fmax(s.usual_hour * hours, s.from_size) + s.from_engagement;
    if (!decide(g, &s, s.follows, &s.surprise))
        return 0;
    /* emit at the crossing and, while the spike lasts, at the first follow of
     * each 5-minute bucket */
    double prev;
    if (decide(g, &s, s.follows - 1, &prev) &&
        !ew_first_in_bucket(v, EW_M_FOLLOWS, NULL, 0, now, REPEAT_MS))
        return 0;

    s.new_share = (double)s.new_follows / (double)s.follows;
    ew_view_sums(v, ew_view_res_for(v, CHURN_WINDOW_MS), NULL, 0, now - CHURN_WINDOW_MS, now, m);
    s.unfollows = m[EW_M_UNFOLLOWS];
    s.churn_follows = m[EW_M_FOLLOWS];
    s.growth = ((double)s.follows - s.expected) / base;

    double score = ew_score_from_surprise(s.surprise, g->surprise, SCORE_SPAN);
    score += 0.25 * s.new_share;
    if (s.churn_follows > 0 && (double)s.unfollows > 0.5 * (double)s.churn_follows)
        score += 0.1;
    json_t *e = json_pack("{s:I,s:I,s:f,s:I,s:I,s:I,s:f,s:f,s:f,s:f,s:{s:f,s:f,s:f,s:f},s:I,"
                          "s:{s:I,s:I},s:{s:I,s:f,s:f}}",
                          "follows", (json_int_t)s.follows, "new_actor_follows",
                          (json_int_t)s.new_follows, "new_actor_share", ew_round4(s.new_share),
                          "followers", (json_int_t)s.followers, "likes", (json_int_t)s.likes,
                          "comments", (json_int_t)s.comments, "expected", ew_round4(s.expected),
                          "growth", ew_round4(s.growth), "surprise", ew_round4(s.surprise),
                          "p_value", pow(10, -s.surprise), "baseline", "usual_per_hour",
                          ew_round4(s.usual_hour), "median_per_hour", ew_round4(s.median_hour),
                          "from_size", ew_round4(s.from_size), "from_engagement",
                          ew_round4(s.from_engagement), "window_ms", (json_int_t)g->window_ms,
                          "churn_2d", "unfollows", (json_int_t)s.unfollows, "follows",
                          (json_int_t)s.churn_follows, "thresholds", "min_follows",
                          (json_int_t)g->min_follows, "min_growth", g->min_growth, "surprise",
                          g->surprise);
    if (!e)
        return 0;
    ew_signal_set(out, EW_SIG_FOLLOWER_SPIKE, score, NULL, 0, ws, now, e);
    return 1;
}

/* Growth seen in profile snapshots that follow events do not explain. */
static size_t snapshot_test(const struct ew_growth_cfg *g, const struct ew_view *v,
                            const struct ew_trigger *t, struct ew_signal *out)
{
    int64_t now = t->ts, fprev, tprev;
    if (t->followers < 0 || ew_view_followers(v, now - 1, &fprev, &tprev) < 0)
        return 0;
    int64_t grown = t->followers - fprev;
    if (grown < g->min_follows || now - tprev > 4 * g->window_ms)
        return 0;
    double base = fprev > 0 ? (double)fprev : 1.0;
    size_t r = ew_view_res_for(v, now - tprev);
    int64_t m[EW_M__COUNT];
    ew_view_sums(v, r, NULL, 0, tprev + 1, now, m);
    int64_t net = m[EW_M_FOLLOWS] - m[EW_M_UNFOLLOWS];
    int64_t unexplained = grown - (net > 0 ? net : 0);
    if (unexplained < g->min_follows || (double)unexplained / base < g->snapshot_min_growth)
        return 0;
    /* earlier hourly snapshot deltas: median + 5 MAD */
    double d[MAX_HOURS], dev[MAX_HOURS];
    size_t n = 0;
    int64_t at = tprev, f1 = fprev;
    while (n < MAX_HOURS && at > now - g->history_ms) {
        int64_t f0, t0;
        if (ew_view_followers(v, at - 1, &f0, &t0) < 0)
            break;
        d[n++] = (double)(f1 - f0) * (double)HOUR_MS / (double)(at - t0 > 0 ? at - t0 : 1);
        at = t0;
        f1 = f0;
    }
    double med = ew_median(d, n);
    for (size_t i = 0; i < n; i++)
        dev[i] = fabs(d[i] - med);
    double mad = ew_median(dev, n);
    double per_hour = (double)unexplained * (double)HOUR_MS / (double)(now - tprev);
    if (n >= 3 && per_hour <= med + SNAP_MAD_K * fmax(mad, 1.0))
        return 0;
    double ratio = (double)unexplained / base / g->snapshot_min_growth;
    double score = fmin(1.0, 0.5 + 0.25 * log2(ratio));
    json_t *e = json_pack("{s:s,s:I,s:I,s:I,s:I,s:f,s:{s:f,s:f,s:I},s:f}", "source",
                          "profile_snapshots", "followers_before", (json_int_t)fprev,
                          "followers", (json_int_t)t->followers, "unexplained",
                          (json_int_t)unexplained, "follow_events_net", (json_int_t)net,
                          "growth", ew_round4((double)unexplained / base), "baseline",
                          "median_per_hour", ew_round4(med), "mad_per_hour", ew_round4(mad),
                          "snapshots", (json_int_t)n, "snapshot_min_growth", g->snapshot_min_growth);
    if (!e)
        return 0;
    ew_signal_set(out, EW_SIG_FOLLOWER_SPIKE, score, NULL, 0, tprev, now, e);
    return 1;
}

static size_t growth_evaluate(const void *state, const struct ew_view *v,
                              const struct ew_trigger *t, struct ew_signal *out, size_t cap)
{
    const struct ew_growth_cfg *g = state;
    if (cap == 0)
        return 0;
    if (t->type == EW_EV_FOLLOW)
        return follow_test(g, v, t, out);
    if (t->type == EW_EV_PROFILE)
        return snapshot_test(g, v, t, out);
    return 0;
}

const struct ew_detector ew_detect_growth = {
    .name = "growth",
    .kind = EW_SIG_FOLLOWER_SPIKE,
    .configure = growth_configure,
    .evaluate = growth_evaluate,
    .destroy = growth_destroy,
};
