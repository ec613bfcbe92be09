/* Shared fixture of the detector unit tests (test_detect_*.c): a detector
 * configured from the built-in defaults, a standalone view with the default
 * resolutions, and helpers that build triggers and evaluate.  Include after
 * cmocka.h. */
#ifndef ENGWATCH_TEST_DETECT_FIXTURE_H
#define ENGWATCH_TEST_DETECT_FIXTURE_H

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "engwatch/config.h"
#include "engwatch/detect.h"

#define T0 1767571200000LL /* 2026-01-05T00:00:00Z */
#define SEC 1000LL
#define MIN 60000LL
#define HOUR 3600000LL
#define DAY 86400000LL

struct dfx {
    struct ew_config cfg;
    struct ew_resolution res[EW_MAX_RES];
    size_t nres;
    const struct ew_detector *det;
    void *state;
    struct ew_view *v;
    struct ew_signal sig[8];
    size_t nsig;
};

static inline struct dfx *dfx_new(const struct ew_detector *det)
{
    struct dfx *f = calloc(1, sizeof *f);
    char why[256];
    if (!f || ew_config_defaults(&f->cfg) < 0 ||
        ew_parse_resolutions(&f->cfg.windows.resolutions, f->res, &f->nres, why, sizeof why) < 0)
        return NULL;
    f->det = det;
    return f;
}

/* (Re)configure the detector from f->cfg and start a fresh view. */
static inline int dfx_start(struct dfx *f)
{
    char err[256];
    if (f->state)
        f->det->destroy(f->state);
    f->state = NULL;
    if (f->det->configure(&f->state, &f->cfg, err, sizeof err) < 0)
        return -1;
    ew_view_free(f->v);
    f->v = ew_view_new("u100", f->res, f->nres);
    return f->v ? 0 : -1;
}

static inline void dfx_clear_signals(struct dfx *f)
{
    for (size_t i = 0; i < f->nsig; i++)
        json_decref(f->sig[i].evidence);
    f->nsig = 0;
}

static inline void dfx_free(struct dfx *f)
{
    if (!f)
        return;
    dfx_clear_signals(f);
    if (f->state)
        f->det->destroy(f->state);
    ew_view_free(f->v);
    ew_config_free(&f->cfg);
    free(f);
}

static inline int dfx_setup_for(void **state, const struct ew_detector *det)
{
    struct dfx *f = dfx_new(det);
    if (!f || dfx_start(f) < 0) {
        dfx_free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static inline int dfx_teardown(void **state)
{
    dfx_free(*state);
    return 0;
}

/* Evaluate at trigger t with now = t->ts and the given watermark (0: now). */
static inline size_t dfx_eval_wm(struct dfx *f, const struct ew_trigger *t, int64_t wm)
{
    dfx_clear_signals(f);
    ew_view_set_now(f->v, t->ts, wm ? wm : t->ts);
    f->nsig = f->det->evaluate(f->state, f->v, t, f->sig, 8);
    for (size_t i = 0; i < f->nsig; i++) {
        assert_int_equal(f->sig[i].kind, f->det->kind);
        assert_true(f->sig[i].score >= 0 && f->sig[i].score <= 1);
        assert_true(f->sig[i].win_start <= f->sig[i].win_end);
        assert_non_null(f->sig[i].evidence);
        assert_true(json_is_object(f->sig[i].evidence));
    }
    return f->nsig;
}

static inline size_t dfx_eval(struct dfx *f, const struct ew_trigger *t) { return dfx_eval_wm(f, t, 0); }

static inline struct ew_trigger dfx_trigger(enum ew_event_type type, int64_t ts, const char *post)
{
    struct ew_trigger t = {.type = type, .ts = ts, .post = post, .post_len = post ? strlen(post) : 0,
                           .actor = "a1", .actor_len = 2, .cls = EW_TEXT_SUBSTANTIVE,
                           .followers = -1, .actor_created_ms = INT64_MIN,
                           .ref_likes = -1, .ref_rare = -1};
    return t;
}

/* None of the trigger types in types yields a signal at ts on post. */
static inline void dfx_assert_ignored(struct dfx *f, const enum ew_event_type *types, size_t n,
                                      int64_t ts, const char *post)
{
    for (size_t i = 0; i < n; i++) {
        struct ew_trigger t = dfx_trigger(types[i], ts, post);
        assert_int_equal(dfx_eval(f, &t), 0);
    }
}

/* Evidence helpers. */
static inline json_int_t ev_int(const struct ew_signal *s, const char *key)
{
    json_t *x = json_object_get(s->evidence, key);
    assert_non_null(x);
    return json_integer_value(x);
}

static inline double ev_num(const struct ew_signal *s, const char *key)
{
    json_t *x = json_object_get(s->evidence, key);
    assert_non_null(x);
    return json_number_value(x);
}

static inline const char *ev_str(const struct ew_signal *s, const char *key)
{
    json_t *x = json_object_get(s->evidence, key);
    assert_non_null(x);
    return json_string_value(x);
}

#endif
