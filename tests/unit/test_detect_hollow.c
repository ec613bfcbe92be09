/* Unit tests for daemon/detect_hollow.c: hollow and copy-paste shares
 * against the account's own usual shares. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>

#include "detect_fixture.h"

static int setup(void **state) { return dfx_setup_for(state, &ew_detect_hollow); }

/* History: per hour over the two days before from, c comments of which h
 * hollow and d duplicates, with l likes (spread over two posts). */
static void history(struct dfx *f, int64_t from, int c, int h, int d, int l)
{
    for (int64_t ts = from - 48 * HOUR; ts < from - 4 * HOUR; ts += HOUR) {
        const char *post = (ts / HOUR) % 2 ? "old1" : "old2";
        ew_view_add(f->v, EW_M_COMMENTS, post, ts, c);
        ew_view_add(f->v, EW_M_HOLLOW, post, ts, h);
        ew_view_add(f->v, EW_M_DUP, post, ts, d);
        ew_view_add(f->v, EW_M_LIKES, post, ts, l);
    }
}

struct mix {
    int hollow_every; /* every k-th comment is hollow (0: none; 1: all) */
    int dup_every;    /* every k-th comment is a duplicate (0: none) */
    int likes_per;    /* likes after each comment */
};

/* n comments on post from start every step ms, classified by mix; the
 * detector evaluated at each.  Returns the signals emitted; the first one's
 * evidence is kept in *ev (owned) when ev is not NULL. */
static int comments(struct dfx *f, const char *post, int64_t start, int64_t step, int n,
                    struct mix m, json_t **ev, const char **scope)
{
    int emitted = 0;
    for (int i = 0; i < n; i++) {
        int64_t ts = start + i * step;
        int hollow = m.hollow_every && i % m.hollow_every == 0;
        ew_view_add(f->v, EW_M_COMMENTS, post, ts, 1);
        ew_view_add(f->v, EW_M_NEW_COMMENTERS, post, ts, 1);
        if (hollow)
            ew_view_add(f->v, EW_M_HOLLOW, post, ts, 1);
        if (m.dup_every && i % m.dup_every == 0)
            ew_view_add(f->v, EW_M_DUP, post, ts, 1);
        char id[32];
        snprintf(id, sizeof id, "c%d", i);
        const char *text = hollow ? "支持支持" : "这个包能装下iPad吗";
        struct ew_sample smp = {.id = id, .id_len = strlen(id), .actor = "x", .actor_len = 1,
                                .text = text, .text_len = strlen(text), .ts = ts,
                                .cls = hollow ? EW_TEXT_GENERIC : EW_TEXT_SUBSTANTIVE};
        ew_view_add_sample(f->v, post, &smp);
        struct ew_trigger t = dfx_trigger(EW_EV_COMMENT, ts, post);
        t.cls = smp.cls;
        size_t k = dfx_eval(f, &t);
        if (k && emitted == 0 && ev) {
            *ev = json_incref(f->sig[0].evidence);
            if (scope)
                *scope = f->sig[0].post ? "post" : "account";
        }
        emitted += (int)k;
        if (m.likes_per)
            ew_view_add(f->v, EW_M_LIKES, post, ts, m.likes_per);
    }
    return emitted;
}

/* A drip: 30 hollow comments an hour (every one hollow) on an account whose
 * audience writes 30% hollow. */
static void test_drip_flagged(void **state)
{
    struct dfx *f = *state;
    int64_t b = T0 + 3 * DAY;
    history(f, b, 6, 2, 0, 80);
    json_t *ev = NULL;
    const char *scope = NULL;
    int n = comments(f, "p1", b, 2 * MIN, 60, (struct mix){1, 0, 1}, &ev, &scope);
    assert_true(n >= 1);
    assert_true(n <= 30); /* not one per comment */
    assert_non_null(ev);
    assert_string_equal(json_string_value(json_object_get(ev, "test")), "hollow");
    assert_true(json_number_value(json_object_get(ev, "hollow_ratio")) > 0.9);
    json_t *base = json_object_get(ev, "baseline");
    assert_true(json_number_value(json_object_get(base, "hollow_ratio")) < 0.4);
    json_t *smp = json_object_get(ev, "samples");
    assert_true(json_array_size(smp) >= 1 && json_array_size(smp) <= 5);
    assert_string_equal(json_string_value(json_object_get(json_array_get(smp, 0), "text")),
                        "支持支持");
    assert_string_equal(scope, "post");
    json_decref(ev);
}

/* An audience that honestly writes 60% short praise, doing so again. */
static void test_honest_short_praise_audience(void **state)
{
    struct dfx *f = *state;
    int64_t b = T0 + 3 * DAY;
    history(f, b, 10, 6, 1, 120);
    /* 2 of 3 hollow over an hour and a half: 67% against a usual 60% */
    for (int i = 0; i < 90; i++) {
        int64_t ts = b + i * MIN;
        int hollow = i % 3 != 0;
        ew_view_add(f->v, EW_M_COMMENTS, "p2", ts, 1);
        if (hollow)
            ew_view_add(f->v, EW_M_HOLLOW, "p2", ts, 1);
        ew_view_add(f->v, EW_M_LIKES, "p2", ts, 2);
        struct ew_trigger t = dfx_trigger(EW_EV_COMMENT, ts, "p2");
        t.cls = hollow ? EW_TEXT_GENERIC : EW_TEXT_SUBSTANTIVE;
        assert_int_equal(dfx_eval(f, &t), 0);
    }
}

/* A new account without history: 60% hollow is its style as far as we
 * know; 100% hollow over 30 comments is not anyone's style. */
static void test_new_account_without_baseline(void **state)
{
    struct dfx *f = *state;
    int64_t b = T0 + HOUR;
    /* 3 of 5 hollow */
    for (int i = 0; i < 40; i++) {
        int64_t ts = b + i * MIN;
        int hollow = i % 5 < 3;
        ew_view_add(f->v, EW_M_COMMENTS, "p1", ts, 1);
        if (hollow)
            ew_view_add(f->v, EW_M_HOLLOW, "p1", ts, 1);
        struct ew_trigger t = dfx_trigger(EW_EV_COMMENT, ts, "p1");
        t.cls = hollow ? EW_TEXT_REPEATED : EW_TEXT_SUBSTANTIVE;
        assert_int_equal(dfx_eval(f, &t), 0);
    }
    assert_int_equal(dfx_start(f), 0);
    assert_true(comments(f, "p1", b, MIN, 40, (struct mix){1, 0, 0}, NULL, NULL) >= 1);
}

/* Copy-paste by many actors: two of three comments repeat a text. */
static void test_copy_paste_flagged(void **state)
{
    struct dfx *f = *state;
    int64_t b = T0 + 3 * DAY;
    history(f, b, 8, 2, 0, 100);
    json_t *ev = NULL;
    /* substantive-looking pasted ad copy: not hollow, but duplicated */
    int n = comments(f, "p1", b, 90 * SEC, 60, (struct mix){0, 1, 1}, &ev, NULL);
    assert_true(n >= 1);
    assert_string_equal(json_string_value(json_object_get(ev, "test")), "duplicate");
    assert_true(json_integer_value(json_object_get(ev, "duplicates")) >= 10);
    json_decref(ev);
}

/* A viral wave: many comments, many of them repeated "好看", but with the
 * likes (10 per comment) of an honest audience. */
static void test_viral_wave_duplicates_excused(void **state)
{
    struct dfx *f = *state;
    int64_t b = T0 + 3 * DAY;
    history(f, b, 4, 1, 0, 50);
    assert_int_equal(comments(f, "p1", b, 20 * SEC, 150, (struct mix){2, 2, 10}, NULL, NULL), 0);
}

/* Ten hollow comments are below min_comments. */
static void test_too_few_comments(void **state)
{
    struct dfx *f = *state;
    assert_int_equal(comments(f, "p1", T0 + HOUR, MIN, 10, (struct mix){1, 1, 0}, NULL, NULL), 0);
}

/* Spread over posts, the drip is an account-level signal. */
static void test_account_scope(void **state)
{
    struct dfx *f = *state;
    int64_t b = T0 + 3 * DAY;
    history(f, b, 6, 1, 0, 80);
    const char *posts[3] = {"p1", "p2", "p3"};
    int n = 0;
    const char *scope = NULL;
    json_t *ev = NULL;
    for (int i = 0; i < 45; i++)
        n += comments(f, posts[i % 3], b + i * 2 * MIN, MIN, 1, (struct mix){1, 0, 0},
                      ev ? NULL : &ev, &scope);
    assert_true(n >= 1);
    assert_string_equal(scope, "account");
    assert_string_equal(json_string_value(json_object_get(ev, "scope")), "account");
    json_decref(ev);
}

/* A late trigger is judged on the window ending at its own time. */
static void test_late_trigger(void **state)
{
    struct dfx *f = *state;
    int64_t b = T0 + 3 * DAY;
    history(f, b, 6, 1, 0, 80);
    for (int i = 0; i < 30; i++) {
        ew_view_add(f->v, EW_M_COMMENTS, "p1", b + i * MIN, 1);
        ew_view_add(f->v, EW_M_HOLLOW, "p1", b + i * MIN, 1);
    }
    /* hours later, a late comment from before the drip: its window is quiet */
    ew_view_add(f->v, EW_M_COMMENTS, "p1", b - 5 * HOUR, 1);
    struct ew_trigger t = dfx_trigger(EW_EV_COMMENT, b - 5 * HOUR, "p1");
    assert_int_equal(dfx_eval_wm(f, &t, b + 2 * HOUR), 0);
    /* a late hollow comment inside the drip tips nothing new (the window
     * passed without it) unless it is its 5-minute bucket's first */
    ew_view_add(f->v, EW_M_COMMENTS, "p1", b + 29 * MIN + 30 * SEC, 1);
    ew_view_add(f->v, EW_M_HOLLOW, "p1", b + 29 * MIN + 30 * SEC, 1);
    t = dfx_trigger(EW_EV_COMMENT, b + 29 * MIN + 30 * SEC, "p1");
    t.cls = EW_TEXT_GENERIC;
    assert_int_equal(dfx_eval_wm(f, &t, b + 2 * HOUR), 0);
}

static void test_other_triggers_ignored(void **state)
{
    struct dfx *f = *state;
    for (int i = 0; i < 30; i++) {
        ew_view_add(f->v, EW_M_COMMENTS, "p1", T0 + i * MIN, 1);
        ew_view_add(f->v, EW_M_HOLLOW, "p1", T0 + i * MIN, 1);
    }
    enum ew_event_type types[] = {EW_EV_LIKE, EW_EV_SHARE, EW_EV_FOLLOW, EW_EV_UNFOLLOW,
                                  EW_EV_POST, EW_EV_PROFILE};
    dfx_assert_ignored(f, types, sizeof types / sizeof types[0], T0 + 30 * MIN, "p1");
}

static void test_configure_rejects_bad_windows(void **state)
{
    struct dfx *f = *state;
    char err[256] = "";
    void *st = NULL;
    f->cfg.detectors.hollow.long_window_ms = f->cfg.detectors.hollow.window_ms / 2;
    assert_int_equal(f->det->configure(&st, &f->cfg, err, sizeof err), -1);
    assert_null(st);
    assert_non_null(strstr(err, "long_window"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_drip_flagged, setup, dfx_teardown),
        cmocka_unit_test_setup_teardown(test_honest_short_praise_audience, setup, dfx_teardown),
        cmocka_unit_test_setup_teardown(test_new_account_without_baseline, setup, dfx_teardown),
        cmocka_unit_test_setup_teardown(test_copy_paste_flagged, setup, dfx_teardown),
        cmocka_unit_test_setup_teardown(test_viral_wave_duplicates_excused, setup, dfx_teardown),
        cmocka_unit_test_setup_teardown(test_too_few_comments, setup, dfx_teardown),
        cmocka_unit_test_setup_teardown(test_account_scope, setup, dfx_teardown),
        cmocka_unit_test_setup_teardown(test_late_trigger, setup, dfx_teardown),
        cmocka_unit_test_setup_teardown(test_other_triggers_ignored, setup, dfx_teardown),
        cmocka_unit_test_setup_teardown(test_configure_rejects_bad_windows, setup, dfx_teardown),
    };
    return cmocka_run_group_tests_name("detect_hollow", tests, NULL, NULL);
}
