/* Unit tests for daemon/detect_burst.c: comment bursts against the post's
 * own rate, its likes and a floor, on hand-built views. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>

#include "detect_fixture.h"

/* What a run of triggers produced: how many signals, and the first one. */
struct seen {
    int n;
    int64_t first_ts;
    double score;
    const char *post; /* "post" or "account" scope of the first */
    json_t *ev;       /* first signal's evidence (owned) */
};

static void seen_free(struct seen *s) { json_decref(s->ev); }

static void record(struct dfx *f, struct seen *s, int64_t ts)
{
    for (size_t i = 0; i < f->nsig; i++) {
        if (s->n++ == 0) {
            s->first_ts = ts;
            s->score = f->sig[i].score;
            s->post = f->sig[i].post ? "post" : "account";
            s->ev = json_incref(f->sig[i].evidence);
        }
    }
}

/* n comments on post, one every step ms from start, each from a new
 * commenter (every comment when distinct, else one in five), each
 * followed by likes_per likes; the detector is evaluated at every comment
 * as the fold does. */
static void comments(struct dfx *f, const char *post, int64_t start, int64_t step, int n,
                     int likes_per, int distinct, struct seen *s)
{
    for (int i = 0; i < n; i++) {
        int64_t ts = start + i * step;
        assert_int_equal(ew_view_add(f->v, EW_M_COMMENTS, post, ts, 1), 0);
        if (distinct || i % 5 == 0)
            assert_int_equal(ew_view_add(f->v, EW_M_NEW_COMMENTERS, post, ts, 1), 0);
        char id[32], text[32];
        snprintf(id, sizeof id, "c%d", i);
        snprintf(text, sizeof text, "好看 %d", i);
        struct ew_sample smp = {.id = id, .id_len = strlen(id), .actor = "bot", .actor_len = 3,
                                .text = text, .text_len = strlen(text), .ts = ts,
                                .cls = EW_TEXT_GENERIC};
        assert_int_equal(ew_view_add_sample(f->v, post, &smp), 0);
        struct ew_trigger t = dfx_trigger(EW_EV_COMMENT, ts, post);
        dfx_eval(f, &t);
        if (s)
            record(f, s, ts);
        if (likes_per > 0)
            assert_int_equal(ew_view_add(f->v, EW_M_LIKES, post, ts, likes_per), 0);
    }
}

/* Background: a trickle of one comment every 20 minutes (and 10 likes each)
 * on post from..to. */
static void trickle(struct dfx *f, const char *post, int64_t from, int64_t to)
{
    for (int64_t ts = from; ts < to; ts += 20 * MIN) {
        ew_view_add(f->v, EW_M_COMMENTS, post, ts, 1);
        ew_view_add(f->v, EW_M_NEW_COMMENTERS, post, ts, 1);
        ew_view_add(f->v, EW_M_LIKES, post, ts, 10);
    }
}

static int setup(void **state) { return dfx_setup_for(state, &ew_detect_burst); }

/* Forty bots commenting within three minutes, five hours after publication. */
static void test_bot_burst_hours_after_publication(void **state)
{
    struct dfx *f = *state;
    ew_view_set_post_time(f->v, "p1", T0);
    trickle(f, "p1", T0, T0 + 5 * HOUR);
    struct seen s = {0};
    comments(f, "p1", T0 + 5 * HOUR, 4500, 40, 0, 1, &s);
    assert_true(s.n >= 1);
    assert_true(s.n <= 4); /* the crossing and a repeat per 5-minute bucket, not per comment */
    assert_string_equal(s.post, "post");
    assert_true(s.score >= 0.5);
    /* detected within the first ten comments (45 s) */
    assert_true(s.first_ts <= T0 + 5 * HOUR + 10 * 4500);
    assert_string_equal(json_string_value(json_object_get(s.ev, "scope")), "post");
    assert_true(json_integer_value(json_object_get(s.ev, "comments")) >= 8);
    assert_true(json_number_value(json_object_get(s.ev, "ratio")) >= 3);
    assert_true(json_number_value(json_object_get(s.ev, "surprise")) >= 6);
    assert_non_null(json_object_get(s.ev, "baseline"));
    assert_non_null(json_object_get(s.ev, "post_age_ms"));
    json_t *smp = json_object_get(s.ev, "samples");
    assert_true(json_is_array(smp));
    assert_true(json_array_size(smp) >= 1 && json_array_size(smp) <= 5);
    assert_non_null(json_object_get(json_array_get(smp, 0), "id"));
    assert_non_null(json_object_get(json_array_get(smp, 0), "text"));
    seen_free(&s);
}

/* A tiny account (no history at all): 12 strangers comment in a minute. */
static void test_tiny_account_burst(void **state)
{
    struct dfx *f = *state;
    struct seen s = {0};
    comments(f, "p1", T0 + 3 * HOUR, 5 * SEC, 12, 0, 1, &s);
    assert_true(s.n >= 1);
    seen_free(&s);
}

/* A launch wave: 60 comments in the first ten minutes, with the ~10 likes
 * per comment an honest audience gives. */
static void test_organic_launch_not_flagged(void **state)
{
    struct dfx *f = *state;
    ew_view_set_post_time(f->v, "p1", T0 + HOUR);
    struct seen s = {0};
    comments(f, "p1", T0 + HOUR + 20 * SEC, 10 * SEC, 60, 10, 1, &s);
    assert_int_equal(s.n, 0);
    seen_free(&s);
}

/* A viral post three hours old: a steady 4 comments a minute for the last
 * half hour, then 6 a minute with many likes and new commenters. */
static void test_viral_post_not_flagged(void **state)
{
    struct dfx *f = *state;
    ew_view_set_post_time(f->v, "p1", T0);
    struct seen s = {0};
    comments(f, "p1", T0 + 3 * HOUR, 15 * SEC, 120, 12, 1, &s);
    comments(f, "p1", T0 + 3 * HOUR + 30 * MIN, 10 * SEC, 60, 12, 1, &s);
    assert_int_equal(s.n, 0);
    seen_free(&s);
}

/* Seven comments are below min_comments whatever the baseline. */
static void test_few_comments_not_flagged(void **state)
{
    struct dfx *f = *state;
    struct seen s = {0};
    comments(f, "p1", T0 + 3 * HOUR, 5 * SEC, 7, 0, 1, &s);
    assert_int_equal(s.n, 0);
    seen_free(&s);
}

/* Twenty comments from a handful of actors (few new commenters). */
static void test_one_chatty_actor_not_flagged(void **state)
{
    struct dfx *f = *state;
    struct seen s = {0};
    comments(f, "p1", T0 + 3 * HOUR, 5 * SEC, 20, 0, 0, &s);
    assert_int_equal(s.n, 0);
    seen_free(&s);
}

/* A huge account (2M followers) whose post runs at 10 comments a minute with
 * 100 likes a minute: 30 comments in two minutes are its normal; 200 are
 * not. */
static void test_huge_account(void **state)
{
    struct dfx *f = *state;
    ew_view_add_snapshot(f->v, T0, 2000000);
    ew_view_set_post_time(f->v, "p1", T0);
    struct seen s = {0};
    comments(f, "p1", T0 + 2 * HOUR, 6 * SEC, 400, 10, 1, &s);
    assert_int_equal(s.n, 0);
    comments(f, "p1", T0 + 2 * HOUR + 40 * MIN, 500, 200, 0, 1, &s);
    assert_true(s.n >= 1);
    seen_free(&s);
}

/* Bots spread over four posts: no post reaches min_comments, the account
 * does. */
static void test_account_level(void **state)
{
    struct dfx *f = *state;
    const char *posts[4] = {"p1", "p2", "p3", "p4"};
    struct seen s = {0};
    for (int i = 0; i < 24; i++)
        comments(f, posts[i % 4], T0 + 4 * HOUR + i * 4 * SEC, SEC, 1, 0, 1, &s);
    assert_true(s.n >= 1);
    assert_string_equal(s.post, "account");
    seen_free(&s);

    /* and with account_level off, nothing */
    f->cfg.detectors.burst.account_level = false;
    assert_int_equal(dfx_start(f), 0);
    struct seen s2 = {0};
    for (int i = 0; i < 24; i++)
        comments(f, posts[i % 4], T0 + 4 * HOUR + i * 4 * SEC, SEC, 1, 0, 1, &s2);
    assert_int_equal(s2.n, 0);
    seen_free(&s2);
}

/* A late comment (its ts older than the account's watermark) is judged on
 * the window that ends at its own time. */
static void test_late_trigger(void **state)
{
    struct dfx *f = *state;
    int64_t b = T0 + 6 * HOUR;
    for (int i = 0; i < 7; i++) {
        ew_view_add(f->v, EW_M_COMMENTS, "p1", b + i * 2 * SEC, 1);
        ew_view_add(f->v, EW_M_NEW_COMMENTERS, "p1", b + i * 2 * SEC, 1);
    }
    /* the account has moved on (likes elsewhere) when the 8th arrives late:
     * it completes the burst, and the window ends at its own time */
    ew_view_add(f->v, EW_M_LIKES, "p9", b + 10 * MIN, 1);
    ew_view_add(f->v, EW_M_COMMENTS, "p1", b + 23 * SEC, 1);
    ew_view_add(f->v, EW_M_NEW_COMMENTERS, "p1", b + 23 * SEC, 1);
    struct ew_trigger t = dfx_trigger(EW_EV_COMMENT, b + 23 * SEC, "p1");
    assert_int_equal(dfx_eval_wm(f, &t, b + 10 * MIN), 1);
    assert_int_equal(f->sig[0].win_end, b + 23 * SEC);
    assert_true(f->sig[0].win_start < b);
    /* late, from an hour before the burst: nothing in its window */
    t = dfx_trigger(EW_EV_COMMENT, b - HOUR, "p1");
    ew_view_add(f->v, EW_M_COMMENTS, "p1", b - HOUR, 1);
    assert_int_equal(dfx_eval_wm(f, &t, b + 10 * MIN), 0);
}

/* Likes, follows and profiles are not its business. */
static void test_other_triggers_ignored(void **state)
{
    struct dfx *f = *state;
    for (int i = 0; i < 30; i++) {
        ew_view_add(f->v, EW_M_COMMENTS, "p1", T0 + i * SEC, 1);
        ew_view_add(f->v, EW_M_NEW_COMMENTERS, "p1", T0 + i * SEC, 1);
    }
    enum ew_event_type types[] = {EW_EV_LIKE, EW_EV_SHARE, EW_EV_FOLLOW, EW_EV_PROFILE,
                                  EW_EV_POST, EW_EV_UNFOLLOW};
    dfx_assert_ignored(f, types, sizeof types / sizeof types[0], T0 + 30 * SEC, "p1");
    /* and cap 0 writes nothing */
    struct ew_trigger t = dfx_trigger(EW_EV_COMMENT, T0 + 30 * SEC, "p1");
    ew_view_set_now(f->v, t.ts, t.ts);
    assert_int_equal(f->det->evaluate(f->state, f->v, &t, f->sig, 0), 0);
}

static void test_configure_rejects_bad_windows(void **state)
{
    struct dfx *f = *state;
    char err[256] = "";
    void *st = NULL;
    f->cfg.detectors.burst.long_window_ms = f->cfg.detectors.burst.window_ms - 1;
    assert_int_equal(f->det->configure(&st, &f->cfg, err, sizeof err), -1);
    assert_null(st);
    assert_non_null(strstr(err, "long_window"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_bot_burst_hours_after_publication, setup, dfx_teardown),
        cmocka_unit_test_setup_teardown(test_tiny_account_burst, setup, dfx_teardown),
        cmocka_unit_test_setup_teardown(test_organic_launch_not_flagged, setup, dfx_teardown),
        cmocka_unit_test_setup_teardown(test_viral_post_not_flagged, setup, dfx_teardown),
        cmocka_unit_test_setup_teardown(test_few_comments_not_flagged, setup, dfx_teardown),
        cmocka_unit_test_setup_teardown(test_one_chatty_actor_not_flagged, setup, dfx_teardown),
        cmocka_unit_test_setup_teardown(test_huge_account, setup, dfx_teardown),
        cmocka_unit_test_setup_teardown(test_account_level, setup, dfx_teardown),
        cmocka_unit_test_setup_teardown(test_late_trigger, setup, dfx_teardown),
        cmocka_unit_test_setup_teardown(test_other_triggers_ignored, setup, dfx_teardown),
        cmocka_unit_test_setup_teardown(test_configure_rejects_bad_windows, setup, dfx_teardown),
    };
    return cmocka_run_group_tests_name("detect_burst", tests, NULL, NULL);
}
