/* detect_engage — engagement that does not match the follower count.
 *
 * What it detects.  Two frauds that distort (likes + comments + shares) /
 * followers, the ratio brands buy on:
 *   - "low": zombie followers.  A large follower base bought long ago that
 *     never likes, comments or shares: each post reaches a tiny fraction of
 *     the followers.  Such bases also leak: the bought accounts are purged or
 *     drop out, so unfollows outnumber the few honest follows.
 *   - "high": bought likes.  One or two posts receive several times the
 *     account's usual likes within hours, and nothing else: real attention
 *     brings comments and shares with the likes (4-16 per 100 likes), a like
 *     farm brings a handful of comments at most.
 *
 * The statistics.
 *   - Attrition.  Unfollows u over rolling_window (2 d) are compared with
 *     the honest churn of the follows f: Poisson(attrition (0.35) x f + 1);
 *     attrition is shown when u >= min_unfollows (10) and -log10 P(X >= u)
 *     >= surprise.  Honest accounts lose 0.1-0.3 followers per new one; a
 *     bought base leaks faster than real fans arrive.
 *   - Per post, at maturity.  At each profile event (hourly snapshots), the
 *     posts whose age reached `maturity` (12 h) since the previous snapshot
 *     are judged once: their engagement over [published, published +
 *     maturity] over the followers at publication, against a size-tier band
 *     (tiers small/medium/large/huge split at small_max, medium_max,
 *     large_max; honest engagement per post falls with size, from ~5% at 1k
 *     followers to ~1% at 1M, and a post rarely reaches under a tenth of
 *     that).  A post is low when it is below low_<tier> (x3 when attrition is
 *     shown) and by more than chance at its size (Poisson lower tail of the
 *     engagement at the band >= surprise).  The score grows with how far
 *     below (0.5 at the band, 1 at an eighth of it), +0.15 with attrition.
 *     No signal for an outlier: when the account's other matured posts have
 *     a median above the band, or when the account gains real followers
 *     (follows >= 2 x min_unfollows and unfollows within honest churn).
 *     Accounts under min_followers (10k) are not judged: their counts are
 *     small and noisy, and reach is not what they sell.
 *   - Per account, rolling.  Posts published before the account entered
 *     the window (or before a restart past retention) have no known
 *     publication time, so at the first profile event of each
 *     rolling_interval (6 h) the account's engagement per day over
 *     rolling_window (2 d; or over the part of it the account has been
 *     active in, at least a day) is compared with the low band x3, only when
 *     attrition is shown.  Low engagement alone would also describe an
 *     honest account that has not posted for days; a follower base that
 *     shrinks while nobody engages is the zombie signature.
 *   - Likes, live.  At a like, the post's likes over likes_window (6 h)
 *     must be at least min_likes (60) and a high_<tier> share of the
 *     followers; its comments + shares k in the same window are then tested
 *     against a Poisson law with mean kappa x likes, where kappa is the
 *     account's own comments-and-shares per like over the two days before
 *     the window (pulled towards companions_per_like, 0.05, the lower end of
 *     honest audiences, while it has few likes; 0.7 of it, and never below
 *     companions_per_like).  -log10 P(X <= k) >= surprise (3) flags the
 *     likes as bought ("high").  A viral post passes the like bands too but
 *     brings its comments and shares.  When the post alone does not pass,
 *     the account's likes are tested the same way: farms spread over two
 *     posts.
 *   - Rare likers.  A small farm (100-200 likes on a few hundred
 *     followers) misses too few companions to pass on its own (surprise
 *     1-2.5).  Its likes come from accounts that do little else, though:
 *     window.c counts every actor's actions over all accounts (actor
 *     sketch) and counts, per bucket, the likes by actors with at most
 *     windows.rare_actor_max actions in the last windows.actor_history.
 *     The window's rare likes r of its likes L are tested against the
 *     stream's share p of rare likes in the previous actor slot (the
 *     trigger's reference): -log10 P(X >= r), X ~ Binomial(L, p) >= surprise,
 *     and the lift (r/L - p) / (1 - p) >= rare_lift (0.3).  Then a
 *     companions surprise of rare_companions (1) suffices.  On the
 *     generated workload honest surges (launch waves, viral posts: new
 *     audiences, but active people) show lifts under 0.15 once the sketch
 *     holds a day; farms 0.5-1.  The reference needs rare_min_reference
 *     (1000) likes in its slot.
 * Each signal carries "direction": "low" or "high".
 *
 * Cost and repetition.  The like test runs at the post's first like of each
 * 5-minute bucket (a farm runs for hours; a launch's likes are not re-read at
 * every like) and emits whenever it passes there.  It pays two lookups (the
 * post's likes in the last hour) unless they reach min_likes per hour of the
 * window; the window is read at hourly resolution (one pass) and the history
 * only when the likes pass the bands.  A profile event lists the account's
 * posts (in memory) and reads buckets only for posts that matured since the
 * previous snapshot, and the rolling window once per interval; each post's
 * maturity is judged once.
 *
 * Parameters (detectors.engage.*): maturity, min_followers, small_max,
 * medium_max, large_max, low_small/medium/large/huge,
 * high_small/medium/large/huge, likes_window, min_likes,
 * companions_per_like, surprise, rare_lift, rare_companions,
 * rare_min_reference, rolling_interval, rolling_window, min_unfollows,
 * attrition.
 *
 * Blind spots.
 *   - Small like farms (up to ~150-200 likes on accounts of a few hundred
 *     followers) cannot be told from a small honest surge by counts alone;
 *     the rare-liker test needs the sketch to have seen the farm's actors
 *     little and the honest ones more: in the first actor_history after a
 *     start on an empty Redis everyone is rare (the reference says so, and
 *     nothing is flagged), and a farm of bots that keep busy elsewhere
 *     (more than rare_actor_max actions) is not rare.  An undersized sketch
 *     (actor_cells well under ten times a slot's actions) makes everyone
 *     look busy: the test goes quiet, it never raises more.
 *   - A zombie base on an account that posts nothing we can date and loses
 *     no followers is indistinguishable from an honest account that is
 *     quiet.  Conversely an account that bought followers recently and
 *     sheds them shows attrition and low engagement: it is flagged "low"
 *     too, which is what it has become.
 *   - Bought comments with the likes (at an honest ratio) defeat the "high"
 *     test; detect_hollow.c may see the comments.
 *   - Bands are population norms; a niche account with an unusually
 *     engaged or passive audience sits at the edge of its tier.
 *   - Without profile snapshots there is no follower count and no signal.
 */
#include "engwatch/detect.h"
#include "engwatch/stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define HOUR_MS 3600000LL
#define DAY_MS 86400000LL
#define MAX_POSTS 64
#define LIKE_PRIOR_WEIGHT 200.0
#define KAPPA_CAP 0.7 /* kappa used is at most this share of the account's own */
#define KAPPA_HISTORY_MS (2 * DAY_MS)
#define SCORE_SPAN 10.0
#define ATTRITION_BONUS 0.15
#define ATTRITION_BAND_FACTOR 3.0 /* with attrition shown, the low bands are this much wider */
#define REPEAT_MS 300000 /* a standing signal repeats at most once per 5-minute bucket */

static int engage_configure(void **state, const struct ew_config *cfg, char *err, size_t errlen)
{
    const struct ew_engage_cfg *c = &cfg->detectors.engage;
    if (!(c->small_max < c->medium_max && c->medium_max < c->large_max)) {
        snprintf(err, errlen, "detectors.engage: small_max < medium_max < large_max is required");
        return -1;
    }
    *state = ew_detect_state_dup(c, sizeof *c, err, errlen);
    return *state ? 0 : -1;
}

static void engage_destroy(void *state) { free(state); }

/* Tier of a follower count: 0 small, 1 medium, 2 large, 3 huge. */
static int tier_of(const struct ew_engage_cfg *e, int64_t followers)
{
    return followers <= e->small_max ? 0 : followers <= e->medium_max ? 1
                                       : followers <= e->large_max  ? 2
                                                                    : 3;
}

static double band_low(const struct ew_engage_cfg *e, int tier)
{
    const double b[4] = {e->low_small, e->low_medium, e->low_large, e->low_huge};
    return b[tier & 3];
}

static double band_high(const struct ew_engage_cfg *e, int tier)
{
    const double b[4] = {e->high_small, e->high_medium, e->high_large, e->high_huge};
    return b[tier & 3];
}

static const char *const tier_names[4] = {"small", "medium", "large", "huge"};

/* likes + comments + shares of post (NULL: the account) over [from, to]. */
static int64_t engagement(const struct ew_view *v, size_t r, const char *post, size_t plen,
                          int64_t from, int64_t to, int64_t *likes)
{
    int64_t m[EW_M__COUNT];
    ew_view_sums(v, r, post, plen, from, to, m);
    if (likes)
        *likes = m[EW_M_LIKES];
    return m[EW_M_LIKES] + m[EW_M_COMMENTS] + m[EW_M_SHARES];
}

/* Attrition: unfollows over the rolling window beyond what honest churn
 * (attrition x follows) explains, by a Poisson tail test. */
struct attr {
    int64_t u, f;
    double surprise;
    int shown;
};

static void attrition(const struct ew_engage_cfg *e, const struct ew_view *v, int64_t now, struct attr *a)
{
    int64_t m[EW_M__COUNT];
    ew_view_sums(v, ew_view_res_for(v, e->rolling_window_ms), NULL, 0, now - e->rolling_window_ms,
                 now, m);
    a->u = m[EW_M_UNFOLLOWS];
    a->f = m[EW_M_FOLLOWS];
    a->surprise = ew_poisson_surprise((double)a->u, e->attrition * (double)a->f + 1.0);
    a->shown = a->u >= e->min_unfollows && a->surprise >= e->surprise;
}

static double low_score(double rate, double band)
{
    double depth = band / fmax(rate, 1e-9);
    return fmin(1.0, 0.5 + 0.5 * log2(depth) / 3.0);
}

static json_t *low_evidence(const char *scope, int64_t followers, int tier, double band,
                            int64_t eng, double rate, const struct attr *a)
{
    return json_pack("{s:s,s:s,s:I,s:s,s:f,s:I,s:f,s:f,s:{s:I,s:I,s:f,s:b}}", "direction", "low",
                     "scope", scope, "followers", (json_int_t)followers, "tier", tier_names[tier],
                     "band_low", band, "engagement", (json_int_t)eng, "rate", ew_round4(rate),
                     "band_ratio", ew_round4(rate / band), "attrition", "unfollows",
                     (json_int_t)a->u, "follows", (json_int_t)a->f, "surprise",
                     ew_round4(a->surprise), "shown", a->shown);
}

/* Is a post's (or the account's) engagement low: below the band, and by
 * more than chance at this size (Poisson lower tail at the band)? */
static int is_low(const struct ew_engage_cfg *e, int64_t eng, double expected_at_band)
{
    return (double)eng < expected_at_band &&
           ew_poisson_low_surprise((double)eng, expected_at_band) >= e->surprise;
}

/* Posts that matured since the previous snapshot: at most one signal (the
 * lowest), with the account's other matured posts as context. */
static size_t matured_posts(const struct ew_engage_cfg *e, const struct ew_view *v, int64_t now,
                            int64_t prev, struct ew_signal *out)
{
    struct ew_post_ref posts[MAX_POSTS];
    size_t n = ew_view_posts(v, posts, MAX_POSTS);
    if (n > MAX_POSTS)
        n = MAX_POSTS;
    int any = 0;
    for (size_t i = 0; i < n && !any; i++) {
        int64_t due = posts[i].published_ms + e->maturity_ms;
        any = due > prev && due <= now;
    }
    if (!any)
        return 0;
    struct attr a;
    attrition(e, v, now, &a);
    double factor = a.shown ? ATTRITION_BAND_FACTOR : 1.0;
    /* the coarsest resolution: a bucket straddling the maturity adds at most
     * one bucket of engagement, which only errs towards "not low" */
    size_t rk = ew_view_nres(v) - 1;
    int64_t keep = ew_view_retention_ms(v, rk);
    double others[MAX_POSTS];
    size_t nothers = 0;
    int best = -1;
    double best_rate = 0, best_band = 0;
    int64_t best_f = 0, best_eng = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t pub = posts[i].published_ms, due = pub + e->maturity_ms;
        if (due > now || pub < now - keep)
            continue; /* not matured, or its buckets are gone */
        int64_t f, ts;
        if (ew_view_followers(v, pub, &f, &ts) < 0 && ew_view_followers(v, now, &f, &ts) < 0)
            continue;
        if (f < e->min_followers || f <= 0)
            continue;
        int64_t m[EW_M__COUNT];
        ew_view_sums(v, rk, posts[i].post, posts[i].post_len, pub, due, m);
        int64_t eng = m[EW_M_LIKES] + m[EW_M_COMMENTS] + m[EW_M_SHARES];
        double rate = (double)eng / (double)f;
        double band = band_low(e, tier_of(e, f)) * factor;
        int low = is_low(e, eng, band * (double)f);
        if (due > prev && low && (best < 0 || rate / band < best_rate / best_band)) {
            best = (int)i;
            best_rate = rate;
            best_band = band;
            best_f = f;
            best_eng = eng;
        } else if (due <= prev || !low) {
            others[nothers++] = rate / band;
        }
    }
    if (best < 0)
        return 0;
    double med = ew_median(others, nothers); /* in units of each post's band */
    /* An outlier post: the account's other matured posts are above the band,
     * or it gains real followers (follows well above its unfollows). */
    if ((nothers >= 2 && med >= 1.0) ||
        (a.f >= 2 * e->min_unfollows && (double)a.u <= e->attrition * (double)a.f))
        return 0;
    double score = low_score(best_rate, best_band);
    if (a.shown)
        score = fmin(1.0, score + ATTRITION_BONUS);
    json_t *ev = low_evidence("post", best_f, tier_of(e, best_f), best_band, best_eng, best_rate, &a);
    if (!ev)
        return 0;
    json_object_set_new(ev, "maturity_ms", json_integer(e->maturity_ms));
    json_object_set_new(ev, "other_posts", json_integer((json_int_t)nothers));
    json_object_set_new(ev, "other_posts_median_band_ratio", json_real(ew_round4(med)));
    const struct ew_post_ref *p = &posts[best];
    ew_signal_set(out, EW_SIG_ENGAGEMENT, score, p->post, p->post_len, p->published_ms,
                  p->published_ms + e->maturity_ms, ev);
    return 1;
}

/* The account's engagement per day over the rolling window (or over the
 * part of it the account has been active in), with attrition required. */
static size_t rolling(const struct ew_engage_cfg *e, const struct ew_view *v, int64_t now,
                      int64_t followers, struct ew_signal *out)
{
    if (followers < e->min_followers || followers <= 0)
        return 0;
    struct attr a;
    attrition(e, v, now, &a);
    if (!a.shown)
        return 0;
    size_t r = ew_view_res_for(v, e->rolling_window_ms);
    int64_t b = ew_view_bucket_ms(v, r);
    int64_t from = now - e->rolling_window_ms, eng = 0, first = -1;
    for (int64_t i = ew_floordiv(from, b); i <= ew_floordiv(now, b); i++) {
        int64_t m[EW_M__COUNT];
        ew_view_sums(v, r, NULL, 0, i * b, i * b, m);
        int64_t any = 0;
        for (int k = 0; k < EW_M__COUNT; k++)
            any += m[k];
        if (any && first < 0)
            first = i * b > from ? i * b : from;
        eng += m[EW_M_LIKES] + m[EW_M_COMMENTS] + m[EW_M_SHARES];
    }
    if (first < 0)
        return 0;
    /* per day over the span the account was seen active, at least a day */
    double days = (double)(now - first) / (double)DAY_MS;
    if (days < 1.0)
        days = 1.0;
    double rate = (double)eng / days / (double)followers;
    int tier = tier_of(e, followers);
    double band = band_low(e, tier) * ATTRITION_BAND_FACTOR;
    if (!is_low(e, eng, band * days * (double)followers))
        return 0;
    json_t *ev = low_evidence("account", followers, tier, band, eng, rate, &a);
    if (!ev)
        return 0;
    json_object_set_new(ev, "window_ms", json_integer(now - first));
    ew_signal_set(out, EW_SIG_ENGAGEMENT, low_score(rate, band), NULL, 0, first, now, ev);
    return 1;
}

static size_t profile_event(const struct ew_engage_cfg *e, const struct ew_view *v,
                            const struct ew_trigger *t, struct ew_signal *out, size_t cap)
{
    int64_t now = t->ts, fprev, prev;
    if (t->followers < 0)
        return 0;
    if (ew_view_followers(v, now - 1, &fprev, &prev) < 0)
        prev = now - HOUR_MS; /* the first snapshot: look back one hour */
    size_t n = matured_posts(e, v, now, prev, out);
    if (n < cap && ew_floordiv(now, e->rolling_interval_ms) != ew_floordiv(prev, e->rolling_interval_ms))
        n += rolling(e, v, now, t->followers, out + n);
    return n;
}

struct likes_test {
    int64_t likes, comments, shares, followers;
    double kappa, expected, surprise;
    int tier;
    /* rare likers: the window's likes by rare actors, the reference share */
    int64_t rare, ref_likes;
    double ref_share, rare_surprise, lift;
    int by_rare; /* passed through the rare-liker test */
};

/* Are the window's likers rare beyond chance: binomial tail of the rare
 * likes against the stream's share in the previous actor slot, and by at
 * least rare_lift of the room above that share? */
static int rare_likers(const struct ew_engage_cfg *e, const struct ew_trigger *t,
                       struct likes_test *x)
{
    if (t->ref_likes < e->rare_min_reference || t->ref_rare < 0)
        return 0;
    x->ref_likes = t->ref_likes;
    x->ref_share = fmin(0.999, fmax(0.001, (double)t->ref_rare / (double)t->ref_likes));
    double share = (double)x->rare / (double)x->likes;
    x->lift = (share - x->ref_share) / (1.0 - x->ref_share);
    x->rare_surprise = ew_binom_surprise((double)x->rare, (double)x->likes, x->ref_share);
    return x->rare_surprise >= e->surprise && x->lift >= e->rare_lift;
}

enum { LIKES_GATED = -1, LIKES_NO = 0, LIKES_EMIT = 1 };

/* The bought-likes test of one scope (a post, or the account when post is
 * NULL) at a like: LIKES_EMIT when it passes and should be emitted (x
 * filled), LIKES_NO when it does not, LIKES_GATED when the scope's current
 * hour is too quiet to look further. */
static int likes_scope(const struct ew_engage_cfg *e, const struct ew_view *v,
                       const struct ew_trigger *t, const char *post, size_t plen,
                       struct likes_test *x)
{
    int64_t now = t->ts;
    int64_t ws = now - e->likes_window_ms;
    /* the coarsest resolution: a window of hours needs no finer edges */
    size_t rc = ew_view_nres(v) - 1;
    int64_t bc = ew_view_bucket_ms(v, rc);
    /* gate: the last coarse bucket's time (the current bucket and the one
     * before) holds its share of min_likes */
    double per_bucket = (double)e->min_likes * (double)bc / (double)e->likes_window_ms;
    if ((double)ew_view_sum(v, EW_M_LIKES, rc, post, plen, now - bc, now) <
        fmin(per_bucket, (double)e->min_likes))
        return LIKES_GATED;
    int64_t m[EW_M__COUNT];
    ew_view_sums(v, rc, post, plen, ws, now, m);
    memset(x, 0, sizeof *x);
    x->likes = m[EW_M_LIKES];
    x->comments = m[EW_M_COMMENTS];
    x->shares = m[EW_M_SHARES];
    x->rare = m[EW_M_RARE_LIKES];
    if (x->likes < e->min_likes)
        return LIKES_NO;
    if ((double)(x->comments + x->shares) >= e->companions_per_like * (double)x->likes)
        return LIKES_NO; /* at least the honest minimum: nothing to test */
    int64_t ts;
    if (ew_view_followers(v, ws, &x->followers, &ts) < 0 &&
        ew_view_followers(v, now, &x->followers, &ts) < 0)
        return LIKES_NO;
    x->tier = tier_of(e, x->followers);
    if ((double)x->likes < band_high(e, x->tier) * (double)x->followers)
        return LIKES_NO;

    /* the account's own companions per like before the window */
    size_t rh = ew_view_res_for(v, KAPPA_HISTORY_MS + e->likes_window_ms);
    int64_t bh = ew_view_bucket_ms(v, rh);
    int64_t he = ew_floordiv(ws, bh) * bh - 1, hs = he - KAPPA_HISTORY_MS + 1;
    int64_t hl;
    int64_t heng = engagement(v, rh, NULL, 0, hs, he, &hl);
    double hat =
        ((double)(heng - hl) + e->companions_per_like * LIKE_PRIOR_WEIGHT) / ((double)hl + LIKE_PRIOR_WEIGHT);
    x->kappa = fmax(e->companions_per_like, KAPPA_CAP * hat);
    x->expected = x->kappa * (double)x->likes;
    x->surprise = ew_poisson_low_surprise((double)(x->comments + x->shares), x->expected);
    if (x->surprise >= e->surprise)
        return LIKES_EMIT;
    x->by_rare = x->surprise >= e->rare_companions && rare_likers(e, t, x);
    return x->by_rare ? LIKES_EMIT : LIKES_NO;
}

static size_t like_event(const struct ew_engage_cfg *e, const struct ew_view *v,
                         const struct ew_trigger *t, struct ew_signal *out)
{
    struct likes_test x;
    const char *post = t->post;
    size_t plen = t->post_len;
    /* Judged at the post's first like of each 5-minute bucket (a farm runs
     * for hours; a launch's likes are not re-read at every like), and
     * emitted whenever it passes there: at most a signal per 5 minutes.  The
     * post first; then the account, for farms spread over several posts
     * (only at likes on a busy post: the account's gate is open most of the
     * time on a large account). */
    if (!post || !ew_first_in_bucket(v, EW_M_LIKES, post, plen, t->ts, REPEAT_MS))
        return 0;
    int rc = likes_scope(e, v, t, post, plen, &x);
    if (rc == LIKES_NO) {
        post = NULL;
        plen = 0;
        rc = likes_scope(e, v, t, NULL, 0, &x);
    }
    if (rc != LIKES_EMIT)
        return 0;
    json_t *ev = json_pack(
        "{s:s,s:s,s:I,s:I,s:I,s:I,s:s,s:f,s:f,s:f,s:f,s:f,s:f,s:I,s:{s:I,s:f,s:f}}", "direction",
        "high", "scope", post ? "post" : "account", "likes", (json_int_t)x.likes, "comments",
        (json_int_t)x.comments, "shares", (json_int_t)x.shares, "followers",
        (json_int_t)x.followers, "tier", tier_names[x.tier], "band_high", band_high(e, x.tier),
        "like_rate", ew_round4((double)x.likes / (double)(x.followers > 0 ? x.followers : 1)),
        "companions_per_like", ew_round4((double)(x.comments + x.shares) / (double)x.likes),
        "expected_companions", ew_round4(x.expected), "surprise", ew_round4(x.surprise),
        "p_value", pow(10, -x.surprise), "window_ms", (json_int_t)e->likes_window_ms,
        "thresholds", "min_likes", (json_int_t)e->min_likes, "companions_per_like", e->companions_per_like,
        "surprise", e->surprise);
    if (!ev)
        return 0;
    double score = ew_score_from_surprise(x.surprise, e->surprise, SCORE_SPAN);
    if (x.by_rare) {
        /* both tests at their thresholds give 0.5, as the companions test alone */
        score = 0.5 * (ew_score_from_surprise(x.surprise, e->rare_companions, SCORE_SPAN) +
                       ew_score_from_surprise(x.rare_surprise, e->surprise, SCORE_SPAN));
        json_object_set_new(ev, "rare_likers",
                            json_pack("{s:I,s:f,s:f,s:I,s:f,s:f,s:{s:f,s:f}}", "likes",
                                      (json_int_t)x.rare, "share",
                                      ew_round4((double)x.rare / (double)x.likes),
                                      "reference_share", ew_round4(x.ref_share),
                                      "reference_likes", (json_int_t)x.ref_likes, "lift",
                                      ew_round4(x.lift), "surprise", ew_round4(x.rare_surprise),
                                      "thresholds", "lift", e->rare_lift, "companions_surprise",
                                      e->rare_companions));
    }
    ew_signal_set(out, EW_SIG_ENGAGEMENT, score, post, plen, t->ts - e->likes_window_ms, t->ts,
                  ev);
    return 1;
}

static size_t engage_evaluate(const void *state, const struct ew_view *v,
                              const struct ew_trigger *t, struct ew_signal *out, size_t cap)
{
    const struct ew_engage_cfg *e = state;
    if (cap == 0)
        return 0;
    if (t->type == EW_EV_LIKE)
        return like_event(e, v, t, out);
    if (t->type == EW_EV_PROFILE)
        return profile_event(e, v, t, out, cap);
    return 0;
}

const struct ew_detector ew_detect_engage = {
    .name = "engage",
    .kind = EW_SIG_ENGAGEMENT,
    .configure = engage_configure,
    .evaluate = engage_evaluate,
    .destroy = engage_destroy,
};
