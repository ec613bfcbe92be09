/* Unit tests for daemon/detect_engage.c: low engagement of matured posts and
 * of the account (zombie followers), and likes without companions (bought
 * likes). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "detect_fixture.h"

static int setup(void **state) { return dfx_setup_for(state, &ew_detect_engage); }

/* Hourly snapshots over [from, to) at minute 7; returns the last one's ts. */
static int64_t snapshots(struct dfx *f, int64_t from, int64_t to, int64_t followers)
{
    int64_t last = 0;
    for (int64_t ts = from; ts < to; ts += HOUR) {
        ew_view_add_snapshot(f->v, ts + 7 * MIN, followers);
        last = ts + 7 * MIN;
    }
    return last;
}

/* A post published at pub with likes/comments/shares spread over its first
 * ten hours. */
static void post(struct dfx *f, const char *id, int64_t pub, int likes, int comments, int shares)
{
    ew_view_set_post_time(f->v, id, pub);
    ew_view_add(f->v, EW_M_POSTS, NULL, pub, 1);
    for (int h = 0; h < 10; h++) {
        int64_t ts = pub + h * HOUR + 10 * MIN;
        ew_view_add(f->v, EW_M_LIKES, id, ts, likes / 10 + (h < likes % 10));
        ew_view_add(f->v, EW_M_COMMENTS, id, ts, comments / 10 + (h < comments % 10));
        ew_view_add(f->v, EW_M_SHARES, id, ts, shares / 10 + (h < shares % 10));
    }
}

/* The profile event at ts (a snapshot of followers). */
static size_t profile(struct dfx *f, int64_t ts, int64_t followers)
{
    ew_view_add_snapshot(f->v, ts, followers);
    struct ew_trigger t = dfx_trigger(EW_EV_PROFILE, ts, NULL);
    t.followers = followers;
    return dfx_eval(f, &t);
}

/* Every profile event over [from, to): the signals of all of them. */
static int profiles(struct dfx *f, int64_t from, int64_t to, int64_t followers, json_t **first)
{
    int n = 0;
    for (int64_t ts = from; ts < to; ts += HOUR) {
        size_t k = profile(f, ts + 7 * MIN, followers);
        if (k && !n && first)
            *first = json_incref(f->sig[0].evidence);
        n += (int)k;
    }
    return n;
}

/* An account of `followers` with one post of the given engagement; its
 * profile events through the post's maturity.  Returns the signals, the
 * first one's evidence in *ev. */
static int matured(struct dfx *f, int64_t followers, int likes, int comments, int shares,
                   json_t **ev)
{
    int64_t b = T0 + DAY;
    snapshots(f, b - 2 * HOUR, b, followers);
    post(f, "p1", b + 5 * MIN, likes, comments, shares);
    return profiles(f, b, b + 14 * HOUR, followers, ev);
}

/* A post that reaches 0.04% of the followers. */
static void test_zombie_post_low(void **state)
{
    json_t *ev = NULL;
    assert_int_equal(matured(*state, 100000, 35, 4, 1, &ev), 1); /* judged once, at maturity */
    assert_string_equal(json_string_value(json_object_get(ev, "direction")), "low");
    assert_string_equal(json_string_value(json_object_get(ev, "scope")), "post");
    assert_string_equal(json_string_value(json_object_get(ev, "tier")), "medium");
    assert_int_equal(json_integer_value(json_object_get(ev, "engagement")), 40);
    assert_true(json_number_value(json_object_get(ev, "band_ratio")) < 1);
    json_decref(ev);
}

/* An honest post of the same account (2% of followers). */
static void test_honest_post_not_low(void **state)
{
    assert_int_equal(matured(*state, 100000, 1800, 150, 50, NULL), 0);
}

/* Small accounts: below min_followers nothing is judged low, and above it
 * a shortfall must be beyond chance at the account's size. */
static void test_small_accounts_not_low(void **state)
{
    struct dfx *f = *state;
    assert_int_equal(matured(f, 600, 1, 0, 0, NULL), 0);
    assert_int_equal(dfx_start(f), 0);
    /* 12k followers, 12 engagements where the band expects 18 */
    assert_int_equal(matured(f, 12000, 10, 2, 0, NULL), 0);
}

/* Zero followers: no division by zero, no signal. */
static void test_zero_followers(void **state)
{
    assert_int_equal(matured(*state, 0, 0, 0, 0, NULL), 0);
}

/* The account-level check: a 300k account that posts nothing we can date,
 * barely engaged, and losing followers faster than honest churn. */
static void test_rolling_attrition(void **state)
{
    struct dfx *f = *state;
    int64_t b = T0 + 2 * DAY;
    snapshots(f, b - 2 * DAY, b, 300000);
    for (int64_t ts = b - 2 * DAY; ts < b; ts += HOUR) {
        ew_view_add(f->v, EW_M_LIKES, "old", ts + MIN, 2);
        ew_view_add(f->v, EW_M_UNFOLLOWS, NULL, ts + 2 * MIN, 1);
        if ((ts / HOUR) % 4 == 0)
            ew_view_add(f->v, EW_M_FOLLOWS, NULL, ts + 3 * MIN, 1);
    }
    json_t *ev = NULL;
    int n = profiles(f, b, b + 6 * HOUR, 300000, &ev);
    assert_int_equal(n, 1); /* once per rolling interval (6 h) */
    assert_string_equal(json_string_value(json_object_get(ev, "scope")), "account");
    assert_string_equal(json_string_value(json_object_get(ev, "direction")), "low");
    json_t *attr = json_object_get(ev, "attrition");
    assert_true(json_is_true(json_object_get(attr, "shown")));
    json_decref(ev);

    /* the same quiet account gaining followers: just quiet */
    assert_int_equal(dfx_start(f), 0);
    snapshots(f, b - 2 * DAY, b, 300000);
    for (int64_t ts = b - 2 * DAY; ts < b; ts += HOUR) {
        ew_view_add(f->v, EW_M_LIKES, "old", ts + MIN, 2);
        ew_view_add(f->v, EW_M_FOLLOWS, NULL, ts + 3 * MIN, 2);
        if ((ts / HOUR) % 4 == 0)
            ew_view_add(f->v, EW_M_UNFOLLOWS, NULL, ts + 2 * MIN, 1);
    }
    assert_int_equal(profiles(f, b, b + 12 * HOUR, 300000, NULL), 0);
}

/* Likes at a like trigger: n likes on post from start every step, each
 * evaluated; signals counted, the first kept. */
static int likes(struct dfx *f, const char *id, int64_t start, int64_t step, int n, json_t **ev)
{
    int emitted = 0;
    for (int i = 0; i < n; i++) {
        int64_t ts = start + i * step;
        ew_view_add(f->v, EW_M_LIKES, id, ts, 1);
        struct ew_trigger t = dfx_trigger(EW_EV_LIKE, ts, id);
        size_t k = dfx_eval(f, &t);
        if (k && !emitted && ev)
            *ev = json_incref(f->sig[0].evidence);
        emitted += (int)k;
    }
    return emitted;
}

/* A like farm: 400 likes in three hours on a day-old post of an
 * 800-follower account, two comments. */
static void test_like_farm(void **state)
{
    struct dfx *f = *state;
    int64_t b = T0 + 2 * DAY;
    snapshots(f, b - 2 * DAY, b + 4 * HOUR, 800);
    post(f, "p1", b - DAY, 40, 4, 1);
    ew_view_add(f->v, EW_M_COMMENTS, "p1", b + HOUR, 2);
    json_t *ev = NULL;
    int n = likes(f, "p1", b, 27 * SEC, 400, &ev);
    assert_true(n >= 1 && n <= 40);
    assert_string_equal(json_string_value(json_object_get(ev, "direction")), "high");
    assert_string_equal(json_string_value(json_object_get(ev, "scope")), "post");
    assert_true(json_number_value(json_object_get(ev, "surprise")) >= 3);
    assert_true(json_number_value(json_object_get(ev, "companions_per_like")) < 0.05);
    json_decref(ev);
}

/* A viral post of the same account: the likes bring comments and shares. */
static void test_viral_post_not_high(void **state)
{
    struct dfx *f = *state;
    int64_t b = T0 + 2 * DAY;
    snapshots(f, b - 2 * DAY, b + 4 * HOUR, 800);
    post(f, "p1", b - DAY, 40, 4, 1);
    for (int i = 0; i < 400; i++) {
        int64_t ts = b + i * 27 * SEC;
        if (i % 12 == 0)
            ew_view_add(f->v, EW_M_COMMENTS, "p1", ts, 1);
        if (i % 30 == 0)
            ew_view_add(f->v, EW_M_SHARES, "p1", ts, 1);
        ew_view_add(f->v, EW_M_LIKES, "p1", ts, 1);
        struct ew_trigger t = dfx_trigger(EW_EV_LIKE, ts, "p1");
        assert_int_equal(dfx_eval(f, &t), 0);
    }
}

/* A farm split over two posts shows at the account level. */
static void test_like_farm_over_two_posts(void **state)
{
    struct dfx *f = *state;
    int64_t b = T0 + 2 * DAY;
    snapshots(f, b - 2 * DAY, b + 4 * HOUR, 800);
    post(f, "p1", b - DAY, 40, 4, 1);
    post(f, "p2", b - 20 * HOUR, 40, 4, 1);
    ew_view_add(f->v, EW_M_COMMENTS, "p1", b + HOUR, 3);
    ew_view_add(f->v, EW_M_COMMENTS, "p2", b + HOUR, 3);
    int n = 0;
    json_t *ev = NULL;
    for (int i = 0; i < 200; i++) {
        n += likes(f, "p1", b + i * 50 * SEC, SEC, 1, ev ? NULL : &ev);
        n += likes(f, "p2", b + i * 50 * SEC + 25 * SEC, SEC, 1, ev ? NULL : &ev);
    }
    /* each post alone is too small to tell; together they are a farm */
    assert_true(n >= 1);
    assert_string_equal(json_string_value(json_object_get(ev, "scope")), "account");
    assert_true(json_integer_value(json_object_get(ev, "likes")) >= 100);
    json_decref(ev);
}

/* A small farm: 120 likes in four hours on a 400-follower account whose
 * posts get ~20, with two comments (companions surprise ~1.2, under 3).
 * Every rare_every-th like is by a rare actor; the stream's reference is
 * ref_rare of ref_likes. */
static int small_farm(struct dfx *f, int rare_every, int64_t ref_likes, int64_t ref_rare,
                      json_t **ev)
{
    int64_t b = T0 + 2 * DAY;
    snapshots(f, b - 2 * DAY, b + 5 * HOUR, 400);
    post(f, "p1", b - DAY, 20, 2, 1);
    ew_view_add(f->v, EW_M_COMMENTS, "p1", b + HOUR, 2);
    int emitted = 0;
    for (int i = 0; i < 120; i++) {
        int64_t ts = b + i * 2 * MIN;
        ew_view_add(f->v, EW_M_LIKES, "p1", ts, 1);
        if (rare_every && i % rare_every == 0)
            ew_view_add(f->v, EW_M_RARE_LIKES, "p1", ts, 1);
        struct ew_trigger t = dfx_trigger(EW_EV_LIKE, ts, "p1");
        t.ref_likes = ref_likes;
        t.ref_rare = ref_rare;
        size_t k = dfx_eval(f, &t);
        if (k && !emitted && ev)
            *ev = json_incref(f->sig[0].evidence);
        emitted += (int)k;
    }
    return emitted;
}

/* Its likers are rare actors (9 in 10, against 15% in the stream): bought. */
static void test_small_farm_rare_likers(void **state)
{
    json_t *ev = NULL;
    int n = small_farm(*state, 1, 50000, 7500, &ev);
    assert_true(n >= 1);
    assert_string_equal(json_string_value(json_object_get(ev, "direction")), "high");
    assert_true(json_number_value(json_object_get(ev, "surprise")) < 3); /* not alone */
    json_t *r = json_object_get(ev, "rare_likers");
    assert_non_null(r);
    assert_true(json_integer_value(json_object_get(r, "likes")) >= 60);
    assert_true(json_number_value(json_object_get(r, "reference_share")) == 0.15);
    assert_true(json_number_value(json_object_get(r, "lift")) > 0.9);
    assert_true(json_number_value(json_object_get(r, "surprise")) >= 3);
    json_decref(ev);
}

/* The same likes from ordinary likers, or without a reference to judge by,
 * or rare but no rarer than the stream: too small to tell. */
static void test_small_farm_ordinary_likers(void **state)
{
    assert_int_equal(small_farm(*state, 0, 50000, 7500, NULL), 0);
}

static void test_small_farm_no_reference(void **state)
{
    assert_int_equal(small_farm(*state, 1, 900, 100, NULL), 0); /* under rare_min_reference */
}

static void test_small_farm_likers_as_rare_as_stream(void **state)
{
    /* every other like rare, the stream 45% rare: lift ~0.1 */
    assert_int_equal(small_farm(*state, 2, 50000, 22500, NULL), 0);
}

/* A huge account: 5,000 likes with 40 comments is under its high band. */
static void test_huge_account(void **state)
{
    struct dfx *f = *state;
    int64_t b = T0 + 2 * DAY;
    snapshots(f, b - 2 * DAY, b + 4 * HOUR, 2000000);
    ew_view_add(f->v, EW_M_COMMENTS, "p1", b, 40);
    ew_view_add(f->v, EW_M_LIKES, "p1", b, 4990);
    assert_int_equal(likes(f, "p1", b + MIN, SEC, 10, NULL), 0);
}

/* A late like is judged on the window ending at its own time. */
static void test_late_trigger(void **state)
{
    struct dfx *f = *state;
    int64_t b = T0 + 2 * DAY;
    snapshots(f, b - 2 * DAY, b + 12 * HOUR, 800);
    ew_view_add(f->v, EW_M_LIKES, "p1", b + 10 * HOUR, 400); /* a farm, later */
    ew_view_add(f->v, EW_M_LIKES, "p1", b, 1);
    struct ew_trigger t = dfx_trigger(EW_EV_LIKE, b, "p1");
    assert_int_equal(dfx_eval_wm(f, &t, b + 10 * HOUR + MIN), 0);
}

static void test_configure_rejects_bad_tiers(void **state)
{
    struct dfx *f = *state;
    char err[256] = "";
    void *st = NULL;
    f->cfg.detectors.engage.medium_max = f->cfg.detectors.engage.small_max;
    assert_int_equal(f->det->configure(&st, &f->cfg, err, sizeof err), -1);
    assert_null(st);
    assert_non_null(strstr(err, "medium_max"));
}

static void test_other_triggers_ignored(void **state)
{
    struct dfx *f = *state;
    ew_view_add_snapshot(f->v, T0, 800);
    ew_view_add(f->v, EW_M_LIKES, "p1", T0 + MIN, 500);
    enum ew_event_type types[] = {EW_EV_COMMENT, EW_EV_SHARE, EW_EV_FOLLOW, EW_EV_UNFOLLOW,
                                  EW_EV_POST};
    dfx_assert_ignored(f, types, sizeof types / sizeof types[0], T0 + 2 * MIN, "p1");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_zombie_post_low, setup, dfx_teardown),
        cmocka_unit_test_setup_teardown(test_honest_post_not_low, setup, dfx_teardown),
        cmocka_unit_test_setup_teardown(test_small_accounts_not_low, setup, dfx_teardown),
        cmocka_unit_test_setup_teardown(test_zero_followers, setup, dfx_teardown),
        cmocka_unit_test_setup_teardown(test_rolling_attrition, setup, dfx_teardown),
        cmocka_unit_test_setup_teardown(test_like_farm, setup, dfx_teardown),
        cmocka_unit_test_setup_teardown(test_viral_post_not_high, setup, dfx_teardown),
        cmocka_unit_test_setup_teardown(test_like_farm_over_two_posts, setup, dfx_teardown),
        cmocka_unit_test_setup_teardown(test_small_farm_rare_likers, setup, dfx_teardown),
        cmocka_unit_test_setup_teardown(test_small_farm_ordinary_likers, setup, dfx_teardown),
        cmocka_unit_test_setup_teardown(test_small_farm_no_reference, setup, dfx_teardown),
        cmocka_unit_test_setup_teardown(test_small_farm_likers_as_rare_as_stream, setup, dfx_teardown),
        cmocka_unit_test_setup_teardown(test_huge_account, setup, dfx_teardown),
        cmocka_unit_test_setup_teardown(test_late_trigger, setup, dfx_teardown),
        cmocka_unit_test_setup_teardown(test_configure_rejects_bad_tiers, setup, dfx_teardown),
        cmocka_unit_test_setup_teardown(test_other_triggers_ignored, setup, dfx_teardown),
    };
    return cmocka_run_group_tests_name("detect_engage", tests, NULL, NULL);
}
