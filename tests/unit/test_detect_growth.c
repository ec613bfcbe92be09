/* Unit tests for daemon/detect_growth.c: follower spikes against the
 * account's usual follows, its size and its engagement; growth seen only in
 * profile snapshots. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "detect_fixture.h"

static int setup(void **state) { return dfx_setup_for(state, &ew_detect_growth); }

/* Hourly snapshots of a constant follower count over [from, to). */
static void snapshots(struct dfx *f, int64_t from, int64_t to, int64_t followers)
{
    for (int64_t ts = from; ts < to; ts += HOUR)
        ew_view_add_snapshot(f->v, ts + 7 * MIN, followers);
}

/* per_hour background follows over the two days before b. */
static void usual_follows(struct dfx *f, int64_t b, int per_hour)
{
    for (int64_t ts = b - 48 * HOUR; ts < b - HOUR; ts += HOUR)
        ew_view_add(f->v, EW_M_FOLLOWS, NULL, ts + 20 * MIN, per_hour);
}

/* n follows from start every step ms, new_every-th from a new actor; the
 * detector evaluated at each.  Returns the signals; keeps the first one's
 * evidence and score. */
static int follows(struct dfx *f, int64_t start, int64_t step, int n, int new_every,
                   json_t **ev, double *score)
{
    int emitted = 0;
    for (int i = 0; i < n; i++) {
        int64_t ts = start + i * step;
        ew_view_add(f->v, EW_M_FOLLOWS, NULL, ts, 1);
        struct ew_trigger t = dfx_trigger(EW_EV_FOLLOW, ts, NULL);
        if (new_every && i % new_every == 0) {
            ew_view_add(f->v, EW_M_NEW_FOLLOWS, NULL, ts, 1);
            t.actor_created_ms = ts - 5 * DAY;
        }
        size_t k = dfx_eval(f, &t);
        if (k && !emitted && ev) {
            *ev = json_incref(f->sig[0].evidence);
            if (score)
                *score = f->sig[0].score;
        }
        emitted += (int)k;
    }
    return emitted;
}

/* 400 follows in 40 minutes from fresh accounts on a 2,000-follower account
 * that usually gains one an hour. */
static void test_bought_followers_flagged(void **state)
{
    struct dfx *f = *state;
    int64_t b = T0 + 3 * DAY;
    snapshots(f, b - 48 * HOUR, b, 2000);
    usual_follows(f, b, 1);
    json_t *ev = NULL;
    double score = 0;
    int n = follows(f, b, 6 * SEC, 400, 1, &ev, &score);
    assert_true(n >= 1);
    assert_true(n <= 12); /* the crossing and a repeat per 5-minute bucket */
    assert_true(score >= 0.7); /* all new actors: the score is raised */
    assert_int_equal(json_integer_value(json_object_get(ev, "followers")), 2000);
    assert_true(json_number_value(json_object_get(ev, "new_actor_share")) > 0.9);
    assert_true(json_number_value(json_object_get(ev, "growth")) >= 0.01);
    assert_true(json_number_value(json_object_get(ev, "surprise")) >= 6);
    json_t *base = json_object_get(ev, "baseline");
    assert_true(json_number_value(json_object_get(base, "usual_per_hour")) >= 1);
    assert_non_null(json_object_get(ev, "churn_2d"));
    json_decref(ev);
}

/* 300 follows in an hour is nothing at 2M followers. */
static void test_huge_account_not_flagged(void **state)
{
    struct dfx *f = *state;
    int64_t b = T0 + 3 * DAY;
    snapshots(f, b - 48 * HOUR, b, 2000000);
    usual_follows(f, b, 40);
    assert_int_equal(follows(f, b, 12 * SEC, 300, 2, NULL, NULL), 0);
}

/* An honest surge: a viral post brings 5,000 likes and 250 follows in the
 * hour, from established users.  The same follows without the likes are a
 * spike. */
static int surge(struct dfx *f, int with_likes)
{
    int64_t b = T0 + 3 * DAY;
    snapshots(f, b - 48 * HOUR, b, 5000);
    usual_follows(f, b, 1);
    for (int64_t ts = b - 20 * MIN; with_likes && ts < b + HOUR; ts += 30 * SEC)
        ew_view_add(f->v, EW_M_LIKES, "viral", ts, 40);
    return follows(f, b, 14 * SEC, 250, 0, NULL, NULL);
}

static void test_viral_surge_not_flagged(void **state) { assert_int_equal(surge(*state, 1), 0); }

static void test_same_follows_without_engagement_flagged(void **state)
{
    assert_true(surge(*state, 0) >= 1);
}

/* A new account with a size but no history: the size prior sets the scale. */
static void test_new_account_without_history(void **state)
{
    struct dfx *f = *state;
    int64_t b = T0 + 2 * HOUR;
    ew_view_add_snapshot(f->v, b - 30 * MIN, 3000);
    /* 25 follows in an hour at 3,000 followers: below 1% growth */
    assert_int_equal(follows(f, b, 2 * MIN, 25, 1, NULL, NULL), 0);
    /* 150 more within the hour: a spike */
    assert_true(follows(f, b + 50 * MIN, 4 * SEC, 150, 1, NULL, NULL) >= 1);
}

/* Without any snapshot the size is unknown: no signal. */
static void test_no_snapshot_no_signal(void **state)
{
    struct dfx *f = *state;
    assert_int_equal(follows(f, T0 + HOUR, SEC, 500, 1, NULL, NULL), 0);
}

/* Zero followers: growth is measured against one follower, not a division
 * by zero; 30 follows in minutes on an empty account is a spike. */
static void test_zero_followers(void **state)
{
    struct dfx *f = *state;
    ew_view_add_snapshot(f->v, T0 + HOUR, 0);
    json_t *ev = NULL;
    assert_true(follows(f, T0 + HOUR + MIN, 10 * SEC, 30, 1, &ev, NULL) >= 1);
    assert_int_equal(json_integer_value(json_object_get(ev, "followers")), 0);
    json_decref(ev);
}

/* Tiny accounts: 12 follows are below min_follows even at 100 followers. */
static void test_tiny_account_below_minimum(void **state)
{
    struct dfx *f = *state;
    ew_view_add_snapshot(f->v, T0 + HOUR, 100);
    assert_int_equal(follows(f, T0 + HOUR + MIN, 10 * SEC, 12, 1, NULL, NULL), 0);
}

/* Unfollow churn of the last two days shows in the evidence. */
static void test_churn_evidence(void **state)
{
    struct dfx *f = *state;
    int64_t b = T0 + 3 * DAY;
    snapshots(f, b - 48 * HOUR, b, 2000);
    usual_follows(f, b, 1);
    ew_view_add(f->v, EW_M_UNFOLLOWS, NULL, b - 10 * HOUR, 120);
    json_t *ev = NULL;
    assert_true(follows(f, b, 6 * SEC, 100, 1, &ev, NULL) >= 1);
    json_t *churn = json_object_get(ev, "churn_2d");
    assert_int_equal(json_integer_value(json_object_get(churn, "unfollows")), 120);
    json_decref(ev);
}

/* Growth in profile snapshots that no follow event explains. */
static void test_snapshot_growth(void **state)
{
    struct dfx *f = *state;
    int64_t b = T0 + 2 * DAY;
    for (int64_t ts = b - 24 * HOUR, n = 10000; ts < b; ts += HOUR, n += 5)
        ew_view_add_snapshot(f->v, ts, n);
    int64_t last = 10000 + 5 * 23;
    ew_view_add_snapshot(f->v, b, last + 1500);
    struct ew_trigger t = dfx_trigger(EW_EV_PROFILE, b, NULL);
    t.followers = last + 1500;
    assert_int_equal(dfx_eval(f, &t), 1);
    assert_string_equal(ev_str(&f->sig[0], "source"), "profile_snapshots");
    assert_int_equal(ev_int(&f->sig[0], "unexplained"), 1500);

    /* the same growth delivered as follow events is the follow test's business */
    assert_int_equal(dfx_start(f), 0);
    for (int64_t ts = b - 24 * HOUR, n = 10000; ts < b; ts += HOUR, n += 5)
        ew_view_add_snapshot(f->v, ts, n);
    ew_view_add(f->v, EW_M_FOLLOWS, NULL, b - 20 * MIN, 1500);
    ew_view_add_snapshot(f->v, b, last + 1500);
    assert_int_equal(dfx_eval(f, &t), 0);

    /* ordinary snapshot-to-snapshot growth is not flagged */
    t.ts = b + HOUR;
    t.followers = last + 1505;
    ew_view_add_snapshot(f->v, t.ts, t.followers);
    assert_int_equal(dfx_eval(f, &t), 0);
}

/* A late follow is judged on the window ending at its own time. */
static void test_late_trigger(void **state)
{
    struct dfx *f = *state;
    int64_t b = T0 + 3 * DAY;
    snapshots(f, b - 48 * HOUR, b + 3 * HOUR, 2000);
    usual_follows(f, b, 1);
    ew_view_add(f->v, EW_M_FOLLOWS, NULL, b + 2 * HOUR, 300); /* a spike two hours later */
    /* a late follow from before the spike: its own hour is quiet */
    ew_view_add(f->v, EW_M_FOLLOWS, NULL, b, 1);
    struct ew_trigger t = dfx_trigger(EW_EV_FOLLOW, b, NULL);
    assert_int_equal(dfx_eval_wm(f, &t, b + 2 * HOUR + MIN), 0);
}

static void test_other_triggers_ignored(void **state)
{
    struct dfx *f = *state;
    ew_view_add_snapshot(f->v, T0, 1000);
    ew_view_add(f->v, EW_M_FOLLOWS, NULL, T0 + MIN, 500);
    enum ew_event_type types[] = {EW_EV_LIKE, EW_EV_COMMENT, EW_EV_SHARE, EW_EV_UNFOLLOW,
                                  EW_EV_POST};
    dfx_assert_ignored(f, types, sizeof types / sizeof types[0], T0 + 2 * MIN, "p1");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_bought_followers_flagged, setup, dfx_teardown),
        cmocka_unit_test_setup_teardown(test_huge_account_not_flagged, setup, dfx_teardown),
        cmocka_unit_test_setup_teardown(test_viral_surge_not_flagged, setup, dfx_teardown),
        cmocka_unit_test_setup_teardown(test_same_follows_without_engagement_flagged, setup,
                                        dfx_teardown),
        cmocka_unit_test_setup_teardown(test_new_account_without_history, setup, dfx_teardown),
        cmocka_unit_test_setup_teardown(test_no_snapshot_no_signal, setup, dfx_teardown),
        cmocka_unit_test_setup_teardown(test_zero_followers, setup, dfx_teardown),
        cmocka_unit_test_setup_teardown(test_tiny_account_below_minimum, setup, dfx_teardown),
        cmocka_unit_test_setup_teardown(test_churn_evidence, setup, dfx_teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_growth, setup, dfx_teardown),
        cmocka_unit_test_setup_teardown(test_late_trigger, setup, dfx_teardown),
        cmocka_unit_test_setup_teardown(test_other_triggers_ignored, setup, dfx_teardown),
    };
    return cmocka_run_group_tests_name("detect_growth", tests, NULL, NULL);
}
