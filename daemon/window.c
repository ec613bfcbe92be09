/* window — see include/engwatch/window.h for the model and key layout.
 *
 * Per batch: events are appended to one array and chained per account
 * (insertion order).  build_reads asks for each account's hash and for the
 * fingerprint counts its comments need; fold walks each account's events in
 * order over that snapshot and writes the resulting absolute values.
 * Nothing in fold depends on where the batch boundaries fell: the same
 * per-account event sequence gives the same state.
 */
#include "engwatch/window.h"
#include "engwatch/hmap.h"
#include "engwatch/log.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char ew_metric_letter[EW_M__COUNT] = {'c', 'h', 'd', 'l', 's', 'f', 'n', 'u', 'p'};

#define NONE UINT32_MAX
#define FP_BUCKET_MS 3600000LL /* copy-paste fingerprints are counted per hour */

struct wev {
    int64_t ts;
    int64_t aux;    /* followers (profile) or actor_created (others; INT64_MIN = absent) */
    uint64_t fp;    /* comment text fingerprint */
    uint32_t post;  /* arena offset, NONE when absent */
    uint32_t actor; /* arena offset, NONE when absent */
    uint16_t post_len, actor_len;
    uint8_t type, cls;
    uint32_t next; /* next event of the same account, NONE at the end */
};

struct acct {
    uint32_t head, tail;
    uint32_t nev;
    uint32_t ncomments;
    uint32_t fp_hours[8]; /* distinct comment hours (offset from the first), at most 8 read */
    int64_t fp_base;      /* first comment hour */
    uint32_t nfp_hours;
};

struct ew_window {
    char *prefix;
    size_t prefix_len;
    struct ew_resolution res[EW_MAX_RES];
    size_t nres;
    int64_t lateness_ms;
    int64_t new_actor_age_ms;

    struct ew_hmap *accts; /* account -> struct acct */
    struct wev *ev;
    size_t nev, evcap;
    char *arena;
    size_t alen, acap;

    /* fold scratch, cleared per account */
    struct ew_hmap *snap;  /* field -> int64 value read */
    struct ew_hmap *vals;  /* field -> int64 new value (touched fields only) */
    struct ew_hmap *fps;   /* "H:fp" -> int64 count (read + batch) */
    struct ew_hmap *seen;  /* PFADD members per bucket; marks of fingerprint hours read/written */
    uint64_t late;
};

/* ---- set-up ---------------------------------------------------------------- */

int ew_window_new(struct ew_window **out, const struct ew_config *cfg, const char *prefix)
{
    struct ew_window *w = calloc(1, sizeof *w);
    char why[256];
    if (!w)
        return -1;
    if (ew_parse_resolutions(&cfg->windows.resolutions, w->res, &w->nres, why, sizeof why) < 0) {
        EW_LOG(EW_ERROR, "window", "windows.resolutions: %s", why);
        goto fail;
    }
    w->lateness_ms = cfg->windows.allowed_lateness_ms;
    w->new_actor_age_ms = cfg->windows.new_actor_age_ms;
    w->prefix = strdup(prefix);
    w->accts = ew_hmap_new(sizeof(struct acct));
    w->snap = ew_hmap_new(sizeof(int64_t));
    w->vals = ew_hmap_new(sizeof(int64_t));
    w->fps = ew_hmap_new(sizeof(int64_t));
    w->seen = ew_hmap_new(1);
    if (!w->prefix || !w->accts || !w->snap || !w->vals || !w->fps || !w->seen)
        goto fail;
    w->prefix_len = strlen(prefix);
    *out = w;
    return 0;
fail:
    ew_window_free(w);
    return -1;
}

void ew_window_free(struct ew_window *w)
{
    if (!w)
        return;
    ew_hmap_free(w->accts);
    ew_hmap_free(w->snap);
    ew_hmap_free(w->vals);
    ew_hmap_free(w->fps);
    ew_hmap_free(w->seen);
    free(w->ev);
    free(w->arena);
    free(w->prefix);
    free(w);
}

void ew_window_reset(struct ew_window *w)
{
    ew_hmap_clear(w->accts);
    w->nev = 0;
    w->alen = 0;
}

size_t ew_window_pending(const struct ew_window *w) { return w->nev; }
uint64_t ew_window_late(const struct ew_window *w) { return w->late; }

/* ---- add --------------------------------------------------------------------- */

static uint32_t intern(struct ew_window *w, const struct ew_str *s, uint16_t *len)
{
    if (!s->ptr || s->len > UINT16_MAX)
        return NONE;
    if (w->alen + s->len > w->acap) {
        size_t cap = w->acap ? w->acap * 2 : 65536;
        while (cap < w->alen + s->len)
            cap *= 2;
        char *a = realloc(w->arena, cap);
        if (!a)
            return NONE;
        w->arena = a;
        w->acap = cap;
    }
    if (w->alen + s->len >= NONE)
        return NONE;
    memcpy(w->arena + w->alen, s->ptr, s->len);
    uint32_t off = (uint32_t)w->alen;
    w->alen += s->len;
    *len = (uint16_t)s->len;
    return off;
}

static int64_t floordiv(int64_t a, int64_t b) { return a / b - (a % b != 0 && (a < 0) != (b < 0)); }

int ew_window_add(struct ew_window *w, const struct ew_event *ev, const struct ew_text_result *tr)
{
    if (w->nev == w->evcap) {
        size_t cap = w->evcap ? w->evcap * 2 : 4096;
        struct wev *e = realloc(w->ev, cap * sizeof *e);
        if (!e)
            return -1;
        w->ev = e;
        w->evcap = cap;
    }
    int created;
    struct acct *a = ew_hmap_upsert(w->accts, ev->account.ptr, ev->account.len, &created);
    if (!a)
        return -1;
    struct wev *e = &w->ev[w->nev];
    memset(e, 0, sizeof *e);
    e->ts = ev->ts_ms;
    e->type = (uint8_t)ev->type;
    e->aux = ev->type == EW_EV_PROFILE ? ev->followers : ev->actor_created_ms;
    e->post = intern(w, &ev->post, &e->post_len);
    e->actor = intern(w, &ev->actor, &e->actor_len);
    e->next = NONE;
    if (ev->type == EW_EV_COMMENT && tr) {
        e->cls = (uint8_t)tr->cls;
        e->fp = tr->fingerprint;
    }
    if (created) {
        a->head = a->tail = (uint32_t)w->nev;
    } else {
        w->ev[a->tail].next = (uint32_t)w->nev;
        a->tail = (uint32_t)w->nev;
    }
    a->nev++;
    if (ev->type == EW_EV_COMMENT) {
        int64_t h = floordiv(ev->ts_ms, FP_BUCKET_MS);
        if (a->ncomments++ == 0)
            a->fp_base = h;
        /* The hours whose fingerprint counts this account's comments need:
         * the comment's hour and the one before.  Comments spanning more than
         * a few hours in one batch (a replay of a quiet account) read at most
         * eight; beyond that duplicates are judged on the batch alone and
         * those hours' counts are not written (see fold). */
        for (int64_t hh = h - 1; hh <= h; hh++) {
            int64_t off = hh - a->fp_base + 1;
            if (off < 0 || off > (int64_t)UINT32_MAX - 1)
                continue;
            int have = 0;
            for (uint32_t i = 0; i < a->nfp_hours; i++)
                have |= a->fp_hours[i] == (uint32_t)off;
            if (!have && a->nfp_hours < 8)
                a->fp_hours[a->nfp_hours++] = (uint32_t)off;
        }
    }
    w->nev++;
    return 0;
}

/* ---- keys and fields ---------------------------------------------------------- */

static int key_acct(const struct ew_window *w, char *buf, size_t len, const char *acct,
                    size_t alen)
{
    return snprintf(buf, len, "%s{%.*s}", w->prefix, (int)alen, acct);
}

static void fp_hex(uint64_t fp, char out[17])
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 15; i >= 0; i--, fp >>= 4)
        out[i] = hex[fp & 15];
    out[16] = '\0';
}

static int64_t hour_of(const struct acct *a, uint32_t off) { return a->fp_base + (int64_t)off - 1; }

int ew_window_build_reads(struct ew_window *w, struct ew_cmdbuf *reads)
{
    char key[1200];
    size_t n = ew_hmap_count(w->accts);
    for (size_t i = 0; i < n; i++) {
        const char *name;
        size_t nlen;
        struct acct *a = ew_hmap_at(w->accts, i, &name, &nlen);
        key_acct(w, key, sizeof key, name, nlen);
        if (ew_cmd_begin(reads, "HGETALL") < 0 || ew_cmd_str(reads, key) < 0)
            return -1;
        for (uint32_t h = 0; h < a->nfp_hours; h++) {
            char fkey[1300], hex[17];
            snprintf(fkey, sizeof fkey, "%s:fp:%" PRId64, key, hour_of(a, a->fp_hours[h]));
            if (ew_cmd_begin(reads, "HMGET") < 0 || ew_cmd_str(reads, fkey) < 0)
                return -1;
            for (uint32_t e = a->head; e != NONE; e = w->ev[e].next) {
                if (w->ev[e].type != EW_EV_COMMENT)
                    continue;
                fp_hex(w->ev[e].fp, hex);
                if (ew_cmd_arg(reads, hex, 16) < 0)
                    return -1;
            }
        }
    }
    return 0;
}

/* ---- fold -------------------------------------------------------------------------- */

static int64_t parse_i64(const char *s, size_t len)
{
    int64_t v = 0;
    int neg = 0;
    size_t i = 0;
    if (len && s[0] == '-')
        neg = 1, i = 1;
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++)
        v = v * 10 + (s[i] - '0');
    return neg ? -v : v;
}

static int64_t snap_get(struct ew_window *w, const char *f, size_t flen)
{
    int64_t *v = ew_hmap_get(w->vals, f, flen);
    if (v)
        return *v;
    v = ew_hmap_get(w->snap, f, flen);
    return v ? *v : 0;
}

static int field_set(struct ew_window *w, const char *f, size_t flen, int64_t v)
{
    int64_t *slot = ew_hmap_upsert(w->vals, f, flen, NULL);
    if (!slot)
        return -1;
    *slot = v;
    return 0;
}

static int field_add(struct ew_window *w, const char *f, size_t flen, int64_t d)
{
    return field_set(w, f, flen, snap_get(w, f, flen) + d);
}

/* Count metric m for the account (and for post when given) at every resolution. */
static int count(struct ew_window *w, int m, int64_t ts, const char *post, size_t plen)
{
    char f[400];
    for (size_t r = 0; r < w->nres; r++) {
        int64_t idx = floordiv(ts, w->res[r].bucket_ms);
        int n = snprintf(f, sizeof f, "%c@%zu:%" PRId64, ew_metric_letter[m], r, idx);
        if (field_add(w, f, (size_t)n, 1) < 0)
            return -1;
        if (post) {
            n = snprintf(f, sizeof f, "%c@%zu:%" PRId64 ":%.*s", ew_metric_letter[m], r, idx,
                         (int)plen, post);
            if (n >= (int)sizeof f)
                n = (int)sizeof f - 1;
            if (field_add(w, f, (size_t)n, 1) < 0)
                return -1;
        }
    }
    return 0;
}

/* Is a snapshot field a bucket outside its resolution's retention at wm? */
static int stale(const struct ew_window *w, const char *f, int64_t wm)
{
    const char *at = strchr(f, '@');
    if (f[0] == 'F' && (f[1] == ':' || (f[1] == 't' && f[2] == ':'))) {
        const struct ew_resolution *c = &w->res[w->nres - 1];
        int64_t idx = parse_i64(strchr(f, ':') + 1, strlen(f));
        return (idx + 1) * c->bucket_ms + c->retention_ms <= wm;
    }
    if (!at || at != f + 1)
        return 0;
    char *end;
    unsigned long r = strtoul(at + 1, &end, 10);
    if (*end != ':' || r >= w->nres)
        return 0;
    int64_t idx = parse_i64(end + 1, strlen(end + 1));
    return (idx + 1) * w->res[r].bucket_ms + w->res[r].retention_ms <= wm;
}

static int read_snapshot(struct ew_window *w, const redisReply *r)
{
    ew_hmap_clear(w->snap);
    if (r->type != REDIS_REPLY_ARRAY || r->elements % 2)
        return -1;
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const redisReply *k = r->element[i], *v = r->element[i + 1];
        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
            return -1;
        int64_t *slot = ew_hmap_upsert(w->snap, k->str, k->len, NULL);
        if (!slot)
            return -1;
        *slot = parse_i64(v->str, v->len);
    }
    return 0;
}

int ew_window_fold(struct ew_window *w, redisReply **replies, size_t nreplies,
                   struct ew_cmdbuf *ops)
{
    char key[1200], f[1400], hex[17];
    size_t ri = 0;
    size_t n = ew_hmap_count(w->accts);
    const struct ew_resolution *coarse = &w->res[w->nres - 1];
    w->late = 0;

    for (size_t ai = 0; ai < n; ai++) {
        const char *name;
        size_t nlen;
        struct acct *a = ew_hmap_at(w->accts, ai, &name, &nlen);
        key_acct(w, key, sizeof key, name, nlen);
        if (ri >= nreplies || read_snapshot(w, replies[ri++]) < 0) {
            EW_LOG(EW_ERROR, "window", "unexpected reply reading %s", key);
            return -1;
        }
        ew_hmap_clear(w->vals);
        ew_hmap_clear(w->fps);
        ew_hmap_clear(w->seen);

        /* fingerprint counts read for this account's comment hours */
        for (uint32_t h = 0; h < a->nfp_hours; h++) {
            const redisReply *r = ri < nreplies ? replies[ri++] : NULL;
            if (!r || r->type != REDIS_REPLY_ARRAY) {
                EW_LOG(EW_ERROR, "window", "unexpected reply reading fingerprints of %s", key);
                return -1;
            }
            size_t k = 0;
            for (uint32_t e = a->head; e != NONE && k < r->elements; e = w->ev[e].next) {
                if (w->ev[e].type != EW_EV_COMMENT)
                    continue;
                const redisReply *v = r->element[k++];
                if (v->type != REDIS_REPLY_STRING)
                    continue;
                fp_hex(w->ev[e].fp, hex);
                int fl = snprintf(f, sizeof f, "%" PRId64 ":%s", hour_of(a, a->fp_hours[h]), hex);
                int64_t *slot = ew_hmap_upsert(w->fps, f, (size_t)fl, NULL);
                if (!slot)
                    return -1;
                *slot = parse_i64(v->str, v->len);
            }
            int rl = snprintf(f, sizeof f, "r%" PRId64, hour_of(a, a->fp_hours[h]));
            if (!ew_hmap_upsert(w->seen, f, (size_t)rl, NULL))
                return -1;
        }

        int64_t wm = snap_get(w, "wm", 2);
        int64_t wm0 = wm;
        int have_wm = ew_hmap_get(w->snap, "wm", 2) != NULL;
        for (uint32_t e = a->head; e != NONE; e = w->ev[e].next) {
            const struct wev *ev = &w->ev[e];
            if (have_wm && ev->ts < wm - w->lateness_ms) {
                w->late++;
                continue;
            }
            if (!have_wm || ev->ts > wm)
                wm = ev->ts;
            have_wm = 1;
            const char *post = ev->post != NONE ? w->arena + ev->post : NULL;
            size_t plen = ev->post_len;
            int rc = 0;
            switch (ev->type) {
            case EW_EV_COMMENT: {
                rc |= count(w, EW_M_COMMENTS, ev->ts, post, plen);
                if (ew_text_is_hollow((enum ew_text_class)ev->cls))
                    rc |= count(w, EW_M_HOLLOW, ev->ts, post, plen);
                /* copy-paste: the same text already posted on this account in
                 * this or the previous hour by someone else */
                int64_t h = floordiv(ev->ts, FP_BUCKET_MS);
                fp_hex(ev->fp, hex);
                int fl = snprintf(f, sizeof f, "%" PRId64 ":%s", h, hex);
                char pf[40];
                int pfl = snprintf(pf, sizeof pf, "%" PRId64 ":%s", h - 1, hex);
                int64_t *cur = ew_hmap_upsert(w->fps, f, (size_t)fl, NULL);
                int64_t *prev = ew_hmap_get(w->fps, pf, (size_t)pfl);
                if (!cur)
                    return -1;
                /* Every comment counts, whoever wrote it: deduplicating actors
                 * within a batch would make the counts depend on where batch
                 * boundaries fall (and so differ between live and replay). */
                if (*cur + (prev ? *prev : 0) > 0)
                    rc |= count(w, EW_M_DUP, ev->ts, post, plen);
                (*cur)++;
                char mark[48];
                int ml = snprintf(mark, sizeof mark, "w%s", f);
                if (!ew_hmap_upsert(w->seen, mark, (size_t)ml, NULL))
                    return -1;
                break;
            }
            case EW_EV_LIKE: rc |= count(w, EW_M_LIKES, ev->ts, post, plen); break;
            case EW_EV_SHARE: rc |= count(w, EW_M_SHARES, ev->ts, post, plen); break;
            case EW_EV_FOLLOW:
                rc |= count(w, EW_M_FOLLOWS, ev->ts, NULL, 0);
                if (ev->aux != INT64_MIN && ev->ts - ev->aux <= w->new_actor_age_ms)
                    rc |= count(w, EW_M_NEW_FOLLOWS, ev->ts, NULL, 0);
                break;
            case EW_EV_UNFOLLOW: rc |= count(w, EW_M_UNFOLLOWS, ev->ts, NULL, 0); break;
            case EW_EV_POST: {
                rc |= count(w, EW_M_POSTS, ev->ts, NULL, 0);
                int fl = snprintf(f, sizeof f, "pt:%.*s", (int)plen, post ? post : "");
                int64_t *had = ew_hmap_get(w->snap, f, (size_t)fl);
                int64_t *now = ew_hmap_get(w->vals, f, (size_t)fl);
                int64_t cur = now ? *now : had ? *had : INT64_MAX;
                if (ev->ts < cur)
                    rc |= field_set(w, f, (size_t)fl, ev->ts);
                break;
            }
            case EW_EV_PROFILE: {
                int64_t idx = floordiv(ev->ts, coarse->bucket_ms);
                int tl = snprintf(f, sizeof f, "Ft:%" PRId64, idx);
                if (snap_get(w, f, (size_t)tl) <= ev->ts) {
                    rc |= field_set(w, f, (size_t)tl, ev->ts);
                    int vl = snprintf(f, sizeof f, "F:%" PRId64, idx);
                    rc |= field_set(w, f, (size_t)vl, ev->aux);
                }
                break;
            }
            default: break;
            }
            if (rc)
                return -1;
            /* distinct commenters per bucket and resolution */
            if (ev->type == EW_EV_COMMENT && ev->actor != NONE) {
                for (size_t r = 0; r < w->nres; r++) {
                    int ml = snprintf(f, sizeof f, "u%zu:%" PRId64 ":%.*s", r,
                                      floordiv(ev->ts, w->res[r].bucket_ms), (int)ev->actor_len,
                                      w->arena + ev->actor);
                    if (ml >= (int)sizeof f)
                        ml = (int)sizeof f - 1;
                    if (!ew_hmap_upsert(w->seen, f, (size_t)ml, NULL))
                        return -1;
                }
            }
        }
        if (!have_wm)
            continue; /* every event was late */

        /* The account hash: every touched field, the watermark, and the
         * deletion of buckets that left their retention. */
        if (wm != wm0 || !ew_hmap_get(w->snap, "wm", 2))
            field_set(w, "wm", 2, wm);
        int64_t cidx = floordiv(wm, coarse->bucket_ms);
        int refresh = snap_get(w, "x", 1) != cidx;
        if (refresh)
            field_set(w, "x", 1, cidx);
        size_t nv = ew_hmap_count(w->vals);
        if (nv) {
            if (ew_cmd_begin(ops, "HSET") < 0 || ew_cmd_str(ops, key) < 0)
                return -1;
            for (size_t i = 0; i < nv; i++) {
                const char *fk;
                size_t fkl;
                int64_t *v = ew_hmap_at(w->vals, i, &fk, &fkl);
                if (ew_cmd_arg(ops, fk, fkl) < 0 || ew_cmd_int(ops, *v) < 0)
                    return -1;
            }
        }
        int ndel = 0;
        size_t ns = ew_hmap_count(w->snap);
        for (size_t i = 0; i < ns; i++) {
            const char *fk;
            int64_t *sv = ew_hmap_at(w->snap, i, &fk, NULL);
            int old_post = strncmp(fk, "pt:", 3) == 0 && *sv + coarse->retention_ms <= wm &&
                           !ew_hmap_get(w->vals, fk, strlen(fk));
            if (!old_post && !stale(w, fk, wm))
                continue;
            if (ndel++ == 0 && (ew_cmd_begin(ops, "HDEL") < 0 || ew_cmd_str(ops, key) < 0))
                return -1;
            if (ew_cmd_str(ops, fk) < 0)
                return -1;
        }
        /* Fields written by this batch may already be stale (a late event
         * within lateness into an old fine bucket): delete those too. */
        for (size_t i = 0; i < nv; i++) {
            const char *fk;
            ew_hmap_at(w->vals, i, &fk, NULL);
            if (!stale(w, fk, wm) || ew_hmap_get(w->snap, fk, strlen(fk)))
                continue;
            if (ndel++ == 0 && (ew_cmd_begin(ops, "HDEL") < 0 || ew_cmd_str(ops, key) < 0))
                return -1;
            if (ew_cmd_str(ops, fk) < 0)
                return -1;
        }
        if (refresh) {
            int64_t ttl = coarse->retention_ms + coarse->bucket_ms + w->lateness_ms;
            if (ew_cmd_begin(ops, "PEXPIRE") < 0 || ew_cmd_str(ops, key) < 0 ||
                ew_cmd_int(ops, ttl) < 0)
                return -1;
        }

        /* Distinct commenters: one PFADD per (resolution, bucket), in the
         * order first seen, with its expiry. */
        size_t nseen = ew_hmap_count(w->seen);
        for (size_t r = 0; r < w->nres; r++) {
            char cur_key[1300] = "";
            for (size_t i = 0; i < nseen; i++) {
                const char *sk;
                size_t skl;
                ew_hmap_at(w->seen, i, &sk, &skl);
                if (sk[0] != 'u' || (size_t)(sk[1] - '0') != r)
                    continue;
                const char *c1 = strchr(sk + 3, ':');
                char hkey[1300];
                snprintf(hkey, sizeof hkey, "%s:u@%zu:%.*s", key, r, (int)(c1 - (sk + 3)), sk + 3);
                if (strcmp(hkey, cur_key) != 0) {
                    if (cur_key[0]) {
                        int64_t ttl = w->res[r].retention_ms + w->res[r].bucket_ms + w->lateness_ms;
                        if (ew_cmd_begin(ops, "PEXPIRE") < 0 || ew_cmd_str(ops, cur_key) < 0 ||
                            ew_cmd_int(ops, ttl) < 0)
                            return -1;
                    }
                    if (ew_cmd_begin(ops, "PFADD") < 0 || ew_cmd_str(ops, hkey) < 0)
                        return -1;
                    snprintf(cur_key, sizeof cur_key, "%s", hkey);
                }
                if (ew_cmd_arg(ops, c1 + 1, skl - (size_t)(c1 + 1 - sk)) < 0)
                    return -1;
            }
            if (cur_key[0]) {
                int64_t ttl = w->res[r].retention_ms + w->res[r].bucket_ms + w->lateness_ms;
                if (ew_cmd_begin(ops, "PEXPIRE") < 0 || ew_cmd_str(ops, cur_key) < 0 ||
                    ew_cmd_int(ops, ttl) < 0)
                    return -1;
            }
        }

        /* Fingerprint counts per hour written by this batch. */
        size_t nfp = ew_hmap_count(w->fps);
        char cur_h[32] = "";
        for (size_t i = 0; i < nfp; i++) {
            const char *fk;
            size_t fkl;
            int64_t *v = ew_hmap_at(w->fps, i, &fk, &fkl);
            char mark[48];
            int ml = snprintf(mark, sizeof mark, "w%s", fk);
            if (!ew_hmap_get(w->seen, mark, (size_t)ml))
                continue; /* read only, unchanged */
            const char *colon = strchr(fk, ':');
            char hour[32], rmark[40];
            snprintf(hour, sizeof hour, "%.*s", (int)(colon - fk), fk);
            int rl = snprintf(rmark, sizeof rmark, "r%s", hour);
            if (!ew_hmap_get(w->seen, rmark, (size_t)rl))
                continue; /* not read: writing would overwrite the stored count */
            if (strcmp(hour, cur_h) != 0) {
                char fkey[1300];
                snprintf(fkey, sizeof fkey, "%s:fp:%s", key, hour);
                if (cur_h[0]) {
                    /* expiry of the previous hour's key */
                    char pkey[1300];
                    snprintf(pkey, sizeof pkey, "%s:fp:%s", key, cur_h);
                    if (ew_cmd_begin(ops, "PEXPIRE") < 0 || ew_cmd_str(ops, pkey) < 0 ||
                        ew_cmd_int(ops, 2 * FP_BUCKET_MS + w->lateness_ms) < 0)
                        return -1;
                }
                if (ew_cmd_begin(ops, "HSET") < 0 || ew_cmd_str(ops, fkey) < 0)
                    return -1;
                snprintf(cur_h, sizeof cur_h, "%s", hour);
            }
            if (ew_cmd_str(ops, colon + 1) < 0 || ew_cmd_int(ops, *v) < 0)
                return -1;
        }
        if (cur_h[0]) {
            char pkey[1300];
            snprintf(pkey, sizeof pkey, "%s:fp:%s", key, cur_h);
            if (ew_cmd_begin(ops, "PEXPIRE") < 0 || ew_cmd_str(ops, pkey) < 0 ||
                ew_cmd_int(ops, 2 * FP_BUCKET_MS + w->lateness_ms) < 0)
                return -1;
        }
    }
    return 0;
}
