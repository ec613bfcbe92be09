/* window — see include/engwatch/window.h for the model and key layout.
 *
 * Per batch: events are appended to one array and chained per account
 * (insertion order).  build_reads asks for each account's state and for the
 * fingerprint counts its comments need; fold walks each account's events in
 * order over that snapshot and writes the resulting absolute values.
 * Nothing in fold depends on where the batch boundaries fell: the same
 * per-account event sequence gives the same state.
 */
#include "engwatch/window.h"
#include "engwatch/detect.h"
#include "engwatch/hmap.h"
#include "engwatch/log.h"
#include "engwatch/risk.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char ew_metric_letter[EW_M__COUNT] = {'c', 'h', 'd', 'k', 'l', 's', 'f', 'n', 'u', 'p', 'r'};

#define NONE UINT32_MAX

/* A field's values as the codec reads them: buckets pack all metrics, in
 * enum ew_metric order ("c,h,d,..." in text, trailing zeros left out); a
 * follower snapshot "F:I" is followers, ts; any other field (wm, pt:POST, R*)
 * is one integer in v[0]. */
struct val {
    int64_t v[EW_M__COUNT];
    int64_t dead_at; /* the stored expiry (INT64_MAX: none) */
};

static int is_bucket_field(const char *f) { return f[0] >= '0' && f[0] <= '9'; }
/* Fields stored as a comma-separated list (buckets and follower snapshots). */
static int is_packed(const char *f, size_t len)
{
    return len && (is_bucket_field(f) || (len >= 2 && f[0] == 'F' && f[1] == ':'));
}

/* ---- an account's state while it is folded or viewed ------------------------------
 * The stored form (a blob, see window.h) stays as it was read; an index of
 * its fields, sorted by a typed key, finds them without names: kind, then
 * resolution, then a string id (the post of "R:I:POST" and "pt:POST", the
 * whole name of other fields; 0 for the account's own buckets), then the
 * bucket index.  The fields a batch writes get their values in an overlay
 * (struct ient's len says which slot) and new fields go into a small sorted
 * array of their own.
 * Serialising walks the index once: runs of untouched fields are copied
 * from the blob as they were, the others encoded; the new blob and index
 * (and the string table) are what the state cache keeps, so a cached
 * account is folded without parsing its state. */
enum { K_MISC = 0, K_PT, K_SNAP, K_BUCKET };
#define KEY_HI(kind, res, sid) ((uint64_t)(kind) << 56 | (uint64_t)(res) << 48 | (uint64_t)(sid))
#define KEY_KIND(hi) ((int)((hi) >> 56))
#define KEY_RES(hi) ((size_t)(((hi) >> 48) & 0xff))
#define KEY_SID(hi) ((uint32_t)(hi))

struct ient {
    uint64_t hi;
    int64_t idx;
    uint32_t off, len; /* the field in the blob (len 0: not in it), or len = OVL | slot:
                          its values are in the overlay (to be encoded anew) */
};
#define OVL 0x80000000u
struct sref {
    uint32_t off, len; /* in names */
};
struct ovals {
    int64_t v[EW_M__COUNT];
};
struct st {
    const unsigned char *blob;
    size_t blen;
    struct ient *ix;      /* the stored fields, sorted: a cache entry's or ixbuf */
    size_t nix;
    struct ient *ixbuf, *ox; /* owned: a parsed state's index; st_serialise's output */
    size_t ixcap, oxcap;
    struct ient *nx;      /* the fields this batch added, sorted */
    size_t nnx, nxcap;
    struct sref *strs; /* string id - 1 -> its bytes in names */
    size_t nstr, strcap;
    char *names;
    size_t nlen, ncap;
    struct ew_hmap *smap; /* string -> id, holding the first smap_n strings */
    size_t smap_n;
    struct ovals *ov;
    size_t nov, ovcap;
    uint32_t *gcmap; /* st_gc's scratch */
    size_t gccap;
};
static void st_free(struct st *s);

#define FP_BUCKET_MS 3600000LL /* copy-paste fingerprints are counted per hour */

struct wev {
    int64_t ts;
    int64_t aux;    /* followers (profile) or actor_created (others; INT64_MIN = absent) */
    uint64_t fp;    /* comment text fingerprint */
    uint32_t post;  /* arena offset, NONE when absent */
    uint32_t actor; /* arena offset, NONE when absent */
    uint32_t id;    /* arena offset (comments only: evidence samples) */
    uint32_t text;  /* arena offset (comments only) */
    uint32_t text_len;
    uint16_t post_len, actor_len, id_len;
    uint8_t type, cls; /* cls: the text class (comments); rare actor 0/1 (likes) */
    uint32_t next; /* next event of the same account, NONE at the end */
    uint32_t cell; /* the actor's activity counter, NONE without actor or sketch */
};

struct acct {
    uint32_t head, tail;
    uint32_t nev;
    uint32_t ncomments;
    uint32_t hours_off;   /* the fingerprint hours its comments need: w->hours[off..off+n) */
    uint32_t nhours;
    uint8_t cached;       /* its state is in the cache: no GET */
};

/* The state cache: an account's state as the last successful fold left it,
 * in one allocation: its index, its string table, the strings and the
 * stored form (see struct st).  mem == NULL: evicted (the key stays in the
 * cache map until it is compacted). */
struct cent {
    unsigned char *mem;
    size_t len;       /* bytes of mem */
    uint32_t nix, nstr, nlen, blen;
    uint64_t used;    /* batch number of the last use */
    int64_t stamp_s;  /* monotonic seconds of the last fold */
    /* the stored form in Redis, as this daemon wrote it: the bytes used
     * (the whole state, then the runs written since) of its length (with
     * the room kept for runs), the connection it was written over (w->epoch)
     * and when its expiry was last set */
    uint64_t epoch;
    size_t rlen, ralloc;
    int64_t ttl_ms;
};

/* The actor activity sketch of one slot as the daemon holds it (see the
 * sketch section): its totals and its counters as Redis stores them (two
 * per byte, the even cell in the high nibble). */
struct scopy {
    int64_t slot, likes, rare;
    unsigned char *c; /* cells / 2 bytes */
};
/* One action of the batch: its slot and actor counter. */
struct sadd {
    int64_t slot;
    uint32_t cell, pad;
};
/* The batch's likes and rare likes in one slot. */
struct stot {
    int64_t slot, likes, rare;
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

    /* state cache (see struct cent) */
    struct ew_hmap *cache; /* account -> struct cent */
    size_t cache_bytes, cache_budget, cache_live;
    uint64_t batch_no;
    int64_t cache_ttl_s;   /* an entry older than this may have expired in Redis */
    struct ew_window_cache_stats cstats;
    unsigned char *sbuf;   /* serialisation scratch */
    size_t scap;
    unsigned char *dbuf;   /* the fields encoded anew: the run written after the stored form */
    size_t dcap, dlen;
    uint64_t epoch;        /* the Redis connection the fold's writes go over */
    int64_t px_ms, slack_ms; /* an account key's expiry when set, and how long it may go
                                without being set again (px_ms - slack_ms is left) */

    /* fold scratch, cleared per account */
    struct st st;          /* the account being folded */
    struct ew_hmap *fps;   /* "H:fp" -> int64 count (read + batch) */
    struct ew_hmap *seen;  /* PFADD members per bucket; marks of fingerprint hours read/written */
    uint64_t late;

    /* detectors and risk */
    const struct ew_config *cfg; /* borrowed; outlives the window */
    const struct ew_detector *const *det;
    void *det_state[16];
    size_t ndet;
    int64_t *hours; /* per account, ascending: the hours whose fingerprint hash is read */
    size_t nhours, hours_cap;
    char **alerts; /* this fold's alerts (JSON), in order */
    size_t nalerts, alerts_cap;
    uint64_t alert_count[EW_SIG__COUNT][EW_LEVEL_CRITICAL + 1];

    /* actor activity (see the sketch section; nslots == 0: off) */
    int64_t slot_ms, nslots, rare_max;
    uint32_t cells;
    struct scopy *copy;    /* slots held (finished ones a like looks back at) */
    size_t ncopy, copycap;
    int64_t *load;         /* the slots this batch reads (GET), in order */
    size_t nload, loadcap;
    struct sadd *add;      /* the batch's actions */
    size_t nadd, addcap;
    struct sadd *addtmp; /* sort_adds' scratch, addcap long */
    struct stot *tot;      /* the batch's like totals per slot it liked in */
    size_t ntot, totcap;
    int64_t *ref;          /* per like event: reference likes and rare likes (2 each) */
    size_t refcap;
};

#define SKETCH_MEMORY_MAX (256.0 * 1048576)

static void drop_copies(struct ew_window *w)
{
    for (size_t i = 0; i < w->ncopy; i++)
        free(w->copy[i].c);
    w->ncopy = 0;
}

static void clear_alerts(struct ew_window *w)
{
    for (size_t i = 0; i < w->nalerts; i++)
        free(w->alerts[i]);
    w->nalerts = 0;
    memset(w->alert_count, 0, sizeof w->alert_count);
}

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
    w->cfg = cfg;
    size_t ndet;
    w->det = ew_detectors(&ndet);
    for (size_t i = 0; i < ndet && i < sizeof w->det_state / sizeof w->det_state[0]; i++) {
        if (w->det[i]->configure(&w->det_state[i], cfg, why, sizeof why) < 0) {
            EW_LOG(EW_ERROR, "window", "detector %s: %s", w->det[i]->name, why);
            goto fail;
        }
        w->ndet = i + 1;
    }
    w->new_actor_age_ms = cfg->windows.new_actor_age_ms;
    if (cfg->windows.actor_history_ms > 0) {
        w->slot_ms = cfg->windows.actor_slot_ms;
        w->nslots = (cfg->windows.actor_history_ms + w->slot_ms - 1) / w->slot_ms;
        w->cells = (uint32_t)cfg->windows.actor_cells;
        w->rare_max = cfg->windows.rare_actor_max;
        /* the daemon holds the slots a like looks back at, and one more */
        double bytes = (double)(w->nslots + 1) * (double)(w->cells / 2 + 1);
        if (bytes > SKETCH_MEMORY_MAX) {
            EW_LOG(EW_ERROR, "window",
                   "the actor sketch would need %.0f MiB in the daemon (windows.actor_history / "
                   "windows.actor_slot + 1 slots of windows.actor_cells / 2 bytes); at most %.0f "
                   "MiB: fewer or longer slots, or fewer cells",
                   bytes / 1048576, SKETCH_MEMORY_MAX / 1048576);
            goto fail;
        }
    }
    w->prefix = strdup(prefix);
    w->accts = ew_hmap_new(sizeof(struct acct));
    w->cache = ew_hmap_new(sizeof(struct cent));
    w->cache_budget = (size_t)cfg->windows.state_cache_bytes;
    {
        const struct ew_resolution *c = &w->res[w->nres - 1];
        int64_t keep = c->retention_ms + c->bucket_ms + w->lateness_ms;
        w->cache_ttl_s = keep / 2000;
        w->slack_ms = keep / 16 < 1000 ? 1000 : keep / 16 > 3600000 ? 3600000 : keep / 16;
        w->px_ms = keep + w->slack_ms;
    }
    w->st.smap = ew_hmap_new(sizeof(uint32_t));
    w->fps = ew_hmap_new(sizeof(int64_t));
    w->seen = ew_hmap_new(1);
    if (!w->prefix || !w->accts || !w->cache || !w->st.smap || !w->fps || !w->seen)
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
    ew_window_invalidate(w);
    ew_hmap_free(w->cache);
    free(w->sbuf);
    free(w->dbuf);
    st_free(&w->st);
    ew_hmap_free(w->accts);
    ew_hmap_free(w->fps);
    ew_hmap_free(w->seen);
    drop_copies(w);
    free(w->copy);
    free(w->load);
    free(w->add);
    free(w->addtmp);
    free(w->tot);
    free(w->ref);
    for (size_t i = 0; i < w->ndet; i++)
        w->det[i]->destroy(w->det_state[i]);
    clear_alerts(w);
    free(w->alerts);
    free(w->hours);
    free(w->ev);
    free(w->arena);
    free(w->prefix);
    free(w);
}

/* ---- the state cache ------------------------------------------------------------- */

void ew_window_invalidate(struct ew_window *w)
{
    drop_copies(w); /* the sketch slots held may hold this batch's actions */
    if (!w->cache)
        return;
    size_t n = ew_hmap_count(w->cache);
    for (size_t i = 0; i < n; i++) {
        struct cent *c = ew_hmap_at(w->cache, i, NULL, NULL);
        free(c->mem);
        c->mem = NULL;
    }
    ew_hmap_clear(w->cache);
    w->cache_bytes = 0;
    w->cache_live = 0;
    w->cstats.bytes = 0;
    w->cstats.entries = 0;
}

void ew_window_set_epoch(struct ew_window *w, uint64_t epoch) { w->epoch = epoch; }

void ew_window_cache_stats(const struct ew_window *w, struct ew_window_cache_stats *out)
{
    *out = w->cstats;
}

static int cmp_used(const void *a, const void *b)
{
    uint64_t x = ((const uint64_t *)a)[0], y = ((const uint64_t *)b)[0];
    return x < y ? -1 : x > y;
}

/* Over budget: drop the least recently used entries down to 3/4 of it; and
 * rebuild the cache map once it holds more evicted keys than live ones. */
static int cache_trim(struct ew_window *w)
{
    size_t n = ew_hmap_count(w->cache);
    if (w->cache_bytes > w->cache_budget) {
        uint64_t(*order)[2] = malloc(n * sizeof *order);
        if (!order)
            return -1;
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            struct cent *c = ew_hmap_at(w->cache, i, NULL, NULL);
            if (c->mem) {
                order[k][0] = c->used;
                order[k++][1] = i;
            }
        }
        qsort(order, k, sizeof *order, cmp_used);
        for (size_t j = 0; j < k && w->cache_bytes > w->cache_budget / 4 * 3; j++) {
            struct cent *c = ew_hmap_at(w->cache, (size_t)order[j][1], NULL, NULL);
            w->cache_bytes -= c->len;
            w->cache_live--;
            free(c->mem);
            c->mem = NULL;
            w->cstats.evictions++;
        }
        free(order);
    }
    if (n > 1024 && n - w->cache_live > w->cache_live) {
        struct ew_hmap *m = ew_hmap_new(sizeof(struct cent));
        if (!m)
            return -1;
        for (size_t i = 0; i < n; i++) {
            const char *k;
            size_t kl;
            struct cent *c = ew_hmap_at(w->cache, i, &k, &kl), *d;
            if (!c->mem)
                continue;
            if (!(d = ew_hmap_upsert(m, k, kl, NULL))) {
                ew_hmap_free(m);
                return -1;
            }
            *d = *c;
        }
        ew_hmap_free(w->cache);
        w->cache = m;
    }
    w->cstats.bytes = w->cache_bytes;
    w->cstats.entries = w->cache_live;
    return 0;
}

void ew_window_reset(struct ew_window *w)
{
    ew_hmap_clear(w->accts);
    w->nev = 0;
    w->alen = 0;
}

int ew_window_reconfigure(struct ew_window *w, const struct ew_config *cfg, char *err,
                          size_t errlen)
{
    void *state[16] = {0};
    for (size_t i = 0; i < w->ndet; i++) {
        if (w->det[i]->configure(&state[i], cfg, err, errlen) < 0) {
            for (size_t j = 0; j < i; j++)
                w->det[j]->destroy(state[j]);
            return -1; /* nothing changed */
        }
    }
    for (size_t i = 0; i < w->ndet; i++) {
        w->det[i]->destroy(w->det_state[i]);
        w->det_state[i] = state[i];
    }
    w->cfg = cfg;
    w->new_actor_age_ms = cfg->windows.new_actor_age_ms;
    return 0;
}

size_t ew_window_pending(const struct ew_window *w) { return w->nev; }

size_t ew_window_alerts(const struct ew_window *w, const char *const **out)
{
    *out = (const char *const *)w->alerts;
    return w->nalerts;
}

uint64_t ew_window_alert_count(const struct ew_window *w, int signal, int level)
{
    return w->alert_count[signal][level];
}
uint64_t ew_window_late(const struct ew_window *w) { return w->late; }

/* ---- add --------------------------------------------------------------------- */

static uint32_t intern_n(struct ew_window *w, const struct ew_str *s, uint32_t *len)
{
    if (!s->ptr || s->len > UINT32_MAX / 2)
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
    *len = (uint32_t)s->len;
    return off;
}

static uint32_t intern(struct ew_window *w, const struct ew_str *s, uint16_t *len)
{
    uint32_t l = 0;
    if (s->len > UINT16_MAX)
        return NONE;
    uint32_t off = intern_n(w, s, &l);
    *len = (uint16_t)l;
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
    e->id = e->text = NONE;
    e->cell = w->nslots && e->actor != NONE
                  ? (uint32_t)(ew_hash64(w->arena + e->actor, e->actor_len) % w->cells)
                  : NONE;
    if (ev->type == EW_EV_COMMENT) {
        e->id = intern(w, &ev->id, &e->id_len);
        e->text = intern_n(w, &ev->text, &e->text_len);
        if (tr) {
            e->cls = (uint8_t)tr->cls;
            e->fp = tr->fingerprint;
        }
    }
    if (created) {
        a->head = a->tail = (uint32_t)w->nev;
    } else {
        w->ev[a->tail].next = (uint32_t)w->nev;
        a->tail = (uint32_t)w->nev;
    }
    a->nev++;
    if (ev->type == EW_EV_COMMENT)
        a->ncomments++;
    w->nev++;
    return 0;
}

/* ---- keys and fields ---------------------------------------------------------- */

static size_t put_i64(char *p, int64_t v);

/* Keys and fingerprint fields are formatted by hand: snprintf was ~6% of a
 * replay in live-sized batches.  Both return what snprintf would. */
static int key_acct(const struct ew_window *w, char *buf, size_t len, const char *acct,
                    size_t alen)
{
    size_t pl = strlen(w->prefix);
    if (pl + alen + 2 >= len)
        return snprintf(buf, len, "%s{%.*s}", w->prefix, (int)alen, acct);
    memcpy(buf, w->prefix, pl);
    buf[pl] = '{';
    memcpy(buf + pl + 1, acct, alen);
    buf[pl + 1 + alen] = '}';
    buf[pl + 2 + alen] = '\0';
    return (int)(pl + alen + 2);
}

/* "HOUR:" tag s[0, len): a field of an account's fingerprint hashes. */
static int hour_field(char *buf, size_t size, int64_t hour, const char *tag, const char *s,
                      size_t len)
{
    char num[24];
    size_t nl = put_i64(num, hour), tl = strlen(tag), total = nl + 1 + tl + len;
    if (total >= size)
        return snprintf(buf, size, "%" PRId64 ":%s%.*s", hour, tag, (int)len, s);
    memcpy(buf, num, nl);
    buf[nl] = ':';
    memcpy(buf + nl + 1, tag, tl);
    memcpy(buf + nl + 1 + tl, s, len);
    buf[total] = '\0';
    return (int)total;
}

/* "w" and f[0, fl): the mark of a fingerprint field this batch wrote. */
static int write_mark(char *mark, const char *f, int fl)
{
    mark[0] = 'w';
    memcpy(mark + 1, f, (size_t)fl + 1);
    return fl + 1;
}

static void fp_hex(uint64_t fp, char out[17])
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 15; i >= 0; i--, fp >>= 4)
        out[i] = hex[fp & 15];
    out[16] = '\0';
}

/* The hours whose fingerprint hash the account's comments read: each
 * comment's own hour and the one before, ascending, into w->hours. */
static int collect_hours(struct ew_window *w, struct acct *a)
{
    a->hours_off = (uint32_t)w->nhours;
    a->nhours = 0;
    for (uint32_t e = a->head; e != NONE; e = w->ev[e].next) {
        if (w->ev[e].type != EW_EV_COMMENT)
            continue;
        int64_t h = floordiv(w->ev[e].ts, FP_BUCKET_MS);
        for (int64_t hh = h - 1; hh <= h; hh++) {
            int64_t *seg = w->hours + a->hours_off;
            uint32_t i = 0;
            while (i < a->nhours && seg[i] < hh)
                i++;
            if (i < a->nhours && seg[i] == hh)
                continue;
            if (w->nhours == w->hours_cap) {
                size_t cap = w->hours_cap ? w->hours_cap * 2 : 256;
                int64_t *nh = realloc(w->hours, cap * sizeof *nh);
                if (!nh)
                    return -1;
                w->hours = nh;
                w->hours_cap = cap;
                seg = w->hours + a->hours_off;
            }
            memmove(seg + i + 1, seg + i, (a->nhours - i) * sizeof *seg);
            seg[i] = hh;
            a->nhours++;
            w->nhours++;
        }
    }
    return 0;
}

/* Does comment event ev read hour H (its own hour or the next one's)? */
static int reads_hour(const struct wev *ev, int64_t hour)
{
    int64_t h = floordiv(ev->ts, FP_BUCKET_MS);
    return ev->type == EW_EV_COMMENT && (h == hour || h == hour + 1);
}

/* ---- actor activity ------------------------------------------------------------------
 * A count-min sketch of one row per slot of event time (windows.actor_slot):
 * the Redis string P"actors:SLOT" holds two 64-bit totals (the slot's likes
 * and likes by rare actors) and then windows.actor_cells 4-bit saturating
 * counters; every actor action adds one to the counter its actor hashes to.
 * A like is by a rare actor when the counters of its actor over the
 * nslots whole slots before the like's own slot sum to at most
 * rare_actor_max.  The daemon holds the slots likes look back at (struct
 * scopy, cells / 2 bytes each): a slot is read once (GET, in the batch's
 * reads) when a like first looks back at it, and from then on the daemon's
 * own actions are added to its copy as they are folded; the newest nslots + 1
 * are kept, and all are dropped when a batch is not applied as folded.
 * Writes: one BITFIELD per slot the batch acted in.  A like sees every
 * earlier action of the batch (in batch order) besides what was read, so for
 * a given order of events the counts do not depend on where batches were
 * cut.  Actions other daemons sharing the prefix add to a slot after this
 * daemon read it are not seen.  Across partitions, though, the actions on other accounts that
 * a like sees are those applied before it: a live run that consumes its
 * partitions out of step in event time (a backlog) tells rare actors apart
 * differently from a replay of the same events. */

static int64_t slot_of(const struct ew_window *w, int64_t ts) { return floordiv(ts, w->slot_ms); }

static struct scopy *copy_of(const struct ew_window *w, int64_t slot)
{
    for (size_t i = 0; i < w->ncopy; i++)
        if (w->copy[i].slot == slot)
            return &w->copy[i];
    return NULL;
}

static unsigned nibble(const struct scopy *c, uint32_t cell)
{
    return (c->c[cell / 2] >> (cell & 1 ? 0 : 4)) & 15;
}

static void nibble_add(struct scopy *c, uint32_t cell)
{
    if (nibble(c, cell) < 15) /* saturating, as OVERFLOW SAT in Redis */
        c->c[cell / 2] = (unsigned char)(c->c[cell / 2] + (cell & 1 ? 1 : 16));
}

static int sketch_key(const struct ew_window *w, char *buf, size_t len, int64_t slot)
{
    return snprintf(buf, len, "%sactors:%" PRId64, w->prefix, slot);
}

#define CELL_BIT(c) (128 + 4 * (int64_t)(c)) /* after the two 64-bit totals */

/* The sketch reads go first in the batch's reads: one GET of each slot from
 * nslots before the earliest like's slot to the one before the latest's
 * that the daemon does not hold yet. */
static int sketch_reads(struct ew_window *w, struct ew_cmdbuf *reads)
{
    char key[600];
    w->nload = 0;
    if (!w->nslots)
        return 0;
    int64_t lo = INT64_MAX, hi = INT64_MIN;
    for (size_t e = 0; e < w->nev; e++) {
        if (w->ev[e].type != EW_EV_LIKE || w->ev[e].cell == NONE)
            continue;
        int64_t sl = slot_of(w, w->ev[e].ts);
        lo = sl < lo ? sl : lo;
        hi = sl > hi ? sl : hi;
    }
    for (int64_t k = lo - w->nslots; lo <= hi && k < hi; k++) {
        if (copy_of(w, k))
            continue;
        if (w->nload == w->loadcap) {
            size_t cap = w->loadcap ? 2 * w->loadcap : 8;
            int64_t *l = realloc(w->load, cap * sizeof *l);
            if (!l)
                return -1;
            w->load = l;
            w->loadcap = cap;
        }
        w->load[w->nload++] = k;
        sketch_key(w, key, sizeof key, k);
        if (ew_cmd_begin(reads, "GET") < 0 || ew_cmd_str(reads, key) < 0)
            return -1;
    }
    return 0;
}

static int64_t be64(const unsigned char *p)
{
    uint64_t u = 0;
    for (int i = 0; i < 8; i++)
        u = u << 8 | p[i];
    return (int64_t)u;
}

/* A slot read (GET: nil, or the string BITFIELD made) becomes a held copy. */
static int load_copy(struct ew_window *w, int64_t slot, const redisReply *r)
{
    if (r->type != REDIS_REPLY_NIL && r->type != REDIS_REPLY_STRING) {
        EW_LOG(EW_ERROR, "window", "unexpected reply reading the actor sketch of slot %" PRId64
               "%s%s", slot, r->type == REDIS_REPLY_ERROR ? ": " : "",
               r->type == REDIS_REPLY_ERROR ? r->str : "");
        return -1;
    }
    if (w->ncopy == w->copycap) {
        size_t cap = w->copycap ? 2 * w->copycap : 8;
        struct scopy *c = realloc(w->copy, cap * sizeof *c);
        if (!c)
            return -1;
        w->copy = c;
        w->copycap = cap;
    }
    size_t nb = w->cells / 2 + 1;
    struct scopy *c = &w->copy[w->ncopy];
    if (!(c->c = calloc(1, nb)))
        return -1;
    w->ncopy++;
    c->slot = slot;
    c->likes = c->rare = 0;
    if (r->type == REDIS_REPLY_STRING) {
        const unsigned char *p = (const unsigned char *)r->str;
        unsigned char head[16] = {0};
        memcpy(head, p, r->len < 16 ? r->len : 16);
        c->likes = be64(head);
        c->rare = be64(head + 8);
        if (r->len > 16)
            memcpy(c->c, p + 16, r->len - 16 < nb ? r->len - 16 : nb);
    }
    return 0;
}

static int cmp_copy(const void *a, const void *b)
{
    int64_t x = ((const struct scopy *)a)->slot, y = ((const struct scopy *)b)->slot;
    return x < y ? 1 : x > y ? -1 : 0; /* newest first */
}

static struct stot *tot_of(struct ew_window *w, int64_t slot)
{
    for (size_t i = 0; i < w->ntot; i++)
        if (w->tot[i].slot == slot)
            return &w->tot[i];
    if (w->ntot == w->totcap) {
        size_t cap = w->totcap ? 2 * w->totcap : 8;
        struct stot *nt = realloc(w->tot, cap * sizeof *nt);
        if (!nt)
            return NULL;
        w->tot = nt;
        w->totcap = cap;
    }
    struct stot *t = &w->tot[w->ntot++];
    t->slot = slot;
    t->likes = t->rare = 0;
    return t;
}

/* Before the accounts are folded: the slots read become held copies, then
 * every event in batch order — a like's actor judged rare or not (its cls)
 * against the copies and the reference totals noted — is counted into the
 * copy of its slot when one is held (so later likes of the batch see it)
 * and into the batch's writes. */
static int sketch_fold(struct ew_window *w, redisReply **replies, size_t nreplies, size_t *ri)
{
    w->nadd = 0;
    w->ntot = 0;
    if (!w->nslots)
        return 0;
    if (*ri + w->nload > nreplies) {
        EW_LOG(EW_ERROR, "window", "missing replies reading the actor sketch");
        return -1;
    }
    for (size_t i = 0; i < w->nload; i++)
        if (load_copy(w, w->load[i], replies[*ri + i]) < 0)
            return -1;
    *ri += w->nload;
    if (w->nev * 2 > w->refcap) {
        int64_t *nr = realloc(w->ref, w->nev * 2 * sizeof *nr);
        if (!nr)
            return -1;
        w->ref = nr;
        w->refcap = w->nev * 2;
    }
    if (w->nev > w->addcap) {
        struct sadd *na = realloc(w->add, w->nev * sizeof *na);
        if (!na)
            return -1;
        w->add = na;
        if (!(na = realloc(w->addtmp, w->nev * sizeof *na)))
            return -1;
        w->addtmp = na;
        w->addcap = w->nev;
    }
    for (size_t e = 0; e < w->nev; e++) {
        struct wev *ev = &w->ev[e];
        if (ev->cell == NONE)
            continue;
        int64_t sl = slot_of(w, ev->ts);
        struct scopy *own = copy_of(w, sl);
        if (ev->type == EW_EV_LIKE) {
            int64_t seen = 0;
            for (int64_t k = sl - w->nslots; k < sl; k++) {
                const struct scopy *c = copy_of(w, k); /* held: read in this batch or before */
                if (c)
                    seen += nibble(c, ev->cell);
            }
            ev->cls = seen <= w->rare_max;
            const struct scopy *prev = copy_of(w, sl - 1);
            w->ref[2 * e] = prev ? prev->likes : 0;
            w->ref[2 * e + 1] = prev ? prev->rare : 0;
            struct stot *t = tot_of(w, sl);
            if (!t)
                return -1;
            t->likes++;
            t->rare += ev->cls;
            if (own) {
                own->likes++;
                own->rare += ev->cls;
            }
        }
        if (own)
            nibble_add(own, ev->cell);
        w->add[w->nadd].slot = sl;
        w->add[w->nadd].cell = ev->cell;
        w->add[w->nadd++].pad = 0;
    }
    /* keep the newest nslots + 1 slots held */
    if (w->ncopy > (size_t)w->nslots + 1) {
        qsort(w->copy, w->ncopy, sizeof *w->copy, cmp_copy);
        while (w->ncopy > (size_t)w->nslots + 1)
            free(w->copy[--w->ncopy].c);
    }
    return 0;
}

static int cmp_add(const void *a, const void *b)
{
    const struct sadd *x = a, *y = b;
    if (x->slot != y->slot)
        return x->slot < y->slot ? -1 : 1;
    return x->cell < y->cell ? -1 : x->cell > y->cell;
}

/* The batch's adds in (slot, cell) order: a least-significant-digit radix
 * sort of (slot - lowest) * (highest cell + 1) + cell, 11 bits a pass (qsort
 * was 3% of a replay: one add per actor action). */
static void sort_adds(struct ew_window *w)
{
    size_t n = w->nadd;
    int64_t lo = INT64_MAX, hi = INT64_MIN;
    uint64_t cells = 0;
    for (size_t i = 0; i < n; i++) {
        lo = w->add[i].slot < lo ? w->add[i].slot : lo;
        hi = w->add[i].slot > hi ? w->add[i].slot : hi;
        cells = w->add[i].cell >= cells ? (uint64_t)w->add[i].cell + 1 : cells;
    }
    if ((uint64_t)hi - (uint64_t)lo >= (1u << 20)) { /* slots far apart: never in practice */
        qsort(w->add, n, sizeof *w->add, cmp_add);
        return;
    }
    uint64_t kmax = ((uint64_t)hi - (uint64_t)lo + 1) * cells;
    struct sadd *a = w->add, *b = w->addtmp;
    for (unsigned shift = 0; shift < 64 && (kmax - 1) >> shift; shift += 11) {
        size_t cnt[2048] = {0};
        for (size_t i = 0; i < n; i++)
            cnt[(((uint64_t)a[i].slot - (uint64_t)lo) * cells + a[i].cell) >> shift & 2047]++;
        for (size_t d = 0, sum = 0; d < 2048; d++) {
            size_t c = cnt[d];
            cnt[d] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++)
            b[cnt[(((uint64_t)a[i].slot - (uint64_t)lo) * cells + a[i].cell) >> shift & 2047]++] =
                a[i];
        struct sadd *t = a;
        a = b;
        b = t;
    }
    if (a != w->add)
        memcpy(w->add, a, n * sizeof *a);
}

/* One BITFIELD per slot the batch acted in, and its expiry: read by the
 * slots of the next actor_history, plus the allowed lateness. */
static int sketch_writes(struct ew_window *w, struct ew_cmdbuf *ops)
{
    if (!w->nslots || !w->nadd)
        return 0;
    char key[600];
    sort_adds(w);
    for (size_t i = 0; i < w->nadd;) {
        int64_t sl = w->add[i].slot;
        sketch_key(w, key, sizeof key, sl);
        if (ew_cmd_begin(ops, "BITFIELD") < 0 || ew_cmd_str(ops, key) < 0)
            return -1;
        const struct stot *t = NULL;
        for (size_t k = 0; k < w->ntot; k++)
            if (w->tot[k].slot == sl)
                t = &w->tot[k];
        if (t && t->likes &&
            (ew_cmd_str(ops, "OVERFLOW") < 0 || ew_cmd_str(ops, "WRAP") < 0 ||
             ew_cmd_str(ops, "INCRBY") < 0 || ew_cmd_str(ops, "i64") < 0 || ew_cmd_int(ops, 0) < 0 ||
             ew_cmd_int(ops, t->likes) < 0 || ew_cmd_str(ops, "INCRBY") < 0 ||
             ew_cmd_str(ops, "i64") < 0 || ew_cmd_int(ops, 64) < 0 || ew_cmd_int(ops, t->rare) < 0))
            return -1;
        if (ew_cmd_str(ops, "OVERFLOW") < 0 || ew_cmd_str(ops, "SAT") < 0)
            return -1;
        while (i < w->nadd && w->add[i].slot == sl) {
            uint32_t cell = w->add[i].cell;
            int64_t n = 0;
            for (; i < w->nadd && w->add[i].slot == sl && w->add[i].cell == cell; i++)
                n++;
            if (ew_cmd_str(ops, "INCRBY") < 0 || ew_cmd_str(ops, "u4") < 0 ||
                ew_cmd_int(ops, CELL_BIT(cell)) < 0 || ew_cmd_int(ops, n > 15 ? 15 : n) < 0)
                return -1;
        }
        if (ew_cmd_begin(ops, "PEXPIRE") < 0 || ew_cmd_str(ops, key) < 0 ||
            ew_cmd_int(ops, (w->nslots + 1) * w->slot_ms + w->lateness_ms) < 0)
            return -1;
    }
    return 0;
}

int ew_window_build_reads(struct ew_window *w, struct ew_cmdbuf *reads)
{
    char key[1200];
    size_t n = ew_hmap_count(w->accts);
    int64_t now = ew_mono_ms() / 1000;
    w->nhours = 0;
    if (sketch_reads(w, reads) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const char *name;
        size_t nlen;
        struct acct *a = ew_hmap_at(w->accts, i, &name, &nlen);
        key_acct(w, key, sizeof key, name, nlen);
        const struct cent *c = ew_hmap_get(w->cache, name, nlen);
        a->cached = c && c->mem && now - c->stamp_s < w->cache_ttl_s;
        if (!a->cached && (ew_cmd_begin(reads, "GET") < 0 || ew_cmd_str(reads, key) < 0))
            return -1;
        if (collect_hours(w, a) < 0)
            return -1;
        for (uint32_t h = 0; h < a->nhours; h++) {
            char fkey[1300], hex[17];
            int64_t hour = w->hours[a->hours_off + h];
            snprintf(fkey, sizeof fkey, "%s:fp:%" PRId64, key, hour);
            if (ew_cmd_begin(reads, "HMGET") < 0 || ew_cmd_str(reads, fkey) < 0)
                return -1;
            for (uint32_t e = a->head; e != NONE; e = w->ev[e].next) {
                if (!reads_hour(&w->ev[e], hour))
                    continue;
                fp_hex(w->ev[e].fp, hex);
                if (ew_cmd_arg(reads, hex, 16) < 0 ||
                    ew_cmd_argf(reads, "a:%.*s", (int)w->ev[e].actor_len,
                                w->ev[e].actor != NONE ? w->arena + w->ev[e].actor : "") < 0)
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

/* Decimal digits of v at p (no terminator); returns the length. */
static size_t put_i64(char *p, int64_t v)
{
    char tmp[24];
    size_t n = 0, o = 0;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do
        tmp[n++] = (char)('0' + u % 10);
    while ((u /= 10) != 0);
    if (v < 0)
        p[o++] = '-';
    while (n)
        p[o++] = tmp[--n];
    return o;
}

/* s[0..len) as an integer when it is exactly what put_i64 writes for it. */
static int canon_i64(const char *s, size_t len, int64_t *out)
{
    size_t neg = len && s[0] == '-';
    uint64_t u = 0;
    if (len <= neg || len > 20)
        return 0;
    for (size_t i = neg; i < len; i++) {
        if (s[i] < '0' || s[i] > '9' || u > (UINT64_MAX - 9) / 10)
            return 0;
        u = u * 10 + (uint64_t)(s[i] - '0');
    }
    if (u > (uint64_t)INT64_MAX + neg)
        return 0;
    int64_t v = neg ? (int64_t)(0 - u) : (int64_t)u;
    char buf[24];
    if (put_i64(buf, v) != len || memcmp(buf, s, len) != 0)
        return 0;
    *out = v;
    return 1;
}

/* The watermark from which the field named f[0..len) is stale: a bucket
 * ("R:I...", or a follower snapshot "F:I" of the coarsest resolution) past
 * its resolution's retention; INT64_MAX for the fields that do not expire
 * so.  (Used for the fields kept by name: "Ft:I", the snapshot time of an
 * earlier layout, ages out like "F:I".) */
static int64_t expiry_of(const struct ew_window *w, const char *f, size_t len)
{
    const struct ew_resolution *r;
    size_t i;
    if (len >= 3 && f[0] == 'F' && (f[1] == ':' || (f[1] == 't' && f[2] == ':'))) {
        r = &w->res[w->nres - 1];
        i = f[1] == ':' ? 2 : 3;
    } else if (len && is_bucket_field(f)) {
        size_t res = 0;
        for (i = 0; i < len && f[i] >= '0' && f[i] <= '9' && res < EW_MAX_RES; i++)
            res = res * 10 + (size_t)(f[i] - '0');
        if (i >= len || f[i] != ':' || res >= w->nres)
            return INT64_MAX;
        r = &w->res[res];
        i++;
    } else {
        return INT64_MAX;
    }
    size_t j = i + (i < len && f[i] == '-');
    while (j < len && f[j] >= '0' && f[j] <= '9' && j - i < 18)
        j++;
    return (parse_i64(f + i, j - i) + 1) * r->bucket_ms + r->retention_ms;
}

/* ---- varints and the stored form's fields ---- */

/* A byte that starts a run of fields written after a stored state (a
 * field's name is never empty, so it is no field); the room kept after a
 * state for them is filled with it.  A state that starts with it was
 * written to after its key was gone. */
#define STATE_RUN 0

static size_t put_varint(unsigned char *p, uint64_t u)
{
    size_t n = 0;
    while (u >= 0x80) {
        p[n++] = (unsigned char)(u | 0x80);
        u >>= 7;
    }
    p[n++] = (unsigned char)u;
    return n;
}

static uint64_t get_varint(const unsigned char **p, const unsigned char *end)
{
    uint64_t u = 0;
    for (int shift = 0; *p < end && shift < 64; shift += 7) {
        unsigned char b = *(*p)++;
        u |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            break;
    }
    return u;
}

/* The next field of a serialised state at *p (before end): its name, its
 * expiry (INT64_MAX: none) and its values.  1, 0 at the end, -1 when cut
 * short or malformed. */
static int next_field(const unsigned char **p, const unsigned char *end, const char **k,
                      size_t *kl, struct val *v)
{
    if (*p >= end)
        return 0;
    *kl = (size_t)get_varint(p, end);
    if (*kl >= (size_t)(end - *p))
        return -1;
    *k = (const char *)*p;
    *p += *kl;
    uint64_t dead = get_varint(p, end);
    v->dead_at = dead ? (int64_t)((dead - 1) >> 1) ^ -(int64_t)((dead - 1) & 1) : INT64_MAX;
    if (*p >= end)
        return -1;
    int nv = *(*p)++;
    if (nv > EW_M__COUNT)
        return -1;
    memset(v->v, 0, sizeof v->v);
    for (int m = 0; m < nv; m++) {
        if (*p >= end)
            return -1;
        uint64_t u = get_varint(p, end);
        if ((*p)[-1] & 0x80)
            return -1; /* cut inside the value */
        v->v[m] = (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
    }
    return 1;
}

/* Add the values of the field stored at p[0..len) (checked when it was
 * read) to out. */
static void rec_add(const unsigned char *p, size_t len, int64_t *out)
{
    const unsigned char *end = p + len;
    uint64_t kl = get_varint(&p, end);
    p += kl;
    (void)get_varint(&p, end);
    int nv = *p++;
    for (int m = 0; m < nv; m++) {
        uint64_t u = get_varint(&p, end);
        out[m] += (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
    }
}

/* A bucket's counters as "c,h,d,..." without trailing zeros. */
static size_t format_counts(const struct val *v, char *buf, size_t len)
{
    int last = 0;
    for (int m = 0; m < EW_M__COUNT; m++)
        if (v->v[m])
            last = m;
    size_t n = 0;
    for (int m = 0; m <= last && n + 22 <= len; m++) { /* hot: no snprintf */
        if (m)
            buf[n++] = ',';
        n += put_i64(buf + n, v->v[m]);
    }
    return n;
}

/* Past the 0 bytes that start runs (and fill the room after them). */
static const unsigned char *skip_runs(const unsigned char *p, const unsigned char *end)
{
    while (p < end && *p == STATE_RUN)
        p++;
    return p;
}

/* Walk the stored fields of a state: 1 each, 0 at the end, -1 when it is
 * malformed. */
static int each_field(const unsigned char **p, const unsigned char *end, const char **k,
                      size_t *kl, struct val *v)
{
    *p = skip_runs(*p, end);
    return next_field(p, end, k, kl, v);
}

int ew_state_each(const void *blob, size_t len,
                  int (*fn)(void *ctx, const char *f, size_t flen, const char *v, size_t vlen),
                  void *ctx)
{
    const unsigned char *start = blob, *end = start + len, *p;
    const char *k;
    size_t kl, n = 0;
    struct val v;
    int rc;
    if (len < 1 || *start != EW_STATE_VERSION)
        return -1;
    /* pass 1: the watermark, and the last record of each name */
    struct ew_hmap *last = ew_hmap_new(sizeof(size_t));
    int64_t wm = INT64_MIN;
    if (!last)
        return -1;
    for (p = start + 1; (rc = each_field(&p, end, &k, &kl, &v)) > 0; n++) {
        size_t *at = ew_hmap_upsert(last, k, kl, NULL);
        if (!at) {
            rc = -1;
            break;
        }
        *at = n;
        if (kl == 2 && k[0] == 'w' && k[1] == 'm')
            wm = v.v[0];
    }
    /* pass 2: the fields of the state, each once, less those that left it */
    for (p = start + 1, n = 0; rc == 0 && each_field(&p, end, &k, &kl, &v) > 0; n++) {
        if (*(size_t *)ew_hmap_get(last, k, kl) != n || v.dead_at <= wm)
            continue;
        char buf[EW_M__COUNT * 22];
        size_t bl = is_packed(k, kl) ? format_counts(&v, buf, sizeof buf) : put_i64(buf, v.v[0]);
        if (fn(ctx, k, kl, buf, bl))
            break;
    }
    ew_hmap_free(last);
    return rc < 0 ? -1 : 0;
}

/* ---- struct st ---- */

#define GROW(p, cap, need) ((need) <= (cap) ? 0 : grow_((void *)&(p), &(cap), (need), sizeof *(p)))
static int grow_(void *pp, size_t *cap, size_t need, size_t size)
{
    void *old, *n;
    size_t c = *cap ? *cap : 16;
    while (c < need)
        c *= 2;
    memcpy(&old, pp, sizeof old);
    if (!(n = realloc(old, c * size)))
        return -1;
    memcpy(pp, &n, sizeof n);
    *cap = c;
    return 0;
}

static void st_reset(struct st *s)
{
    s->blob = NULL;
    s->blen = 0;
    s->ix = s->ixbuf;
    s->nix = s->nnx = s->nstr = s->nlen = s->nov = s->smap_n = 0;
    ew_hmap_clear(s->smap);
}

static void st_free(struct st *s)
{
    free(s->ixbuf);
    free(s->ox);
    free(s->nx);
    free(s->strs);
    free(s->names);
    free(s->ov);
    free(s->gcmap);
    ew_hmap_free(s->smap);
    memset(s, 0, sizeof *s);
}

static const char *st_str(const struct st *s, uint32_t sid, size_t *len)
{
    const struct sref *r = &s->strs[sid - 1];
    *len = r->len;
    return s->names + r->off;
}

/* The id of the string p[0..len) (not inside s->names), added when add;
 * 0 when absent (or out of memory when add). */
static uint32_t st_intern(struct st *s, const char *p, size_t len, int add)
{
    for (; s->smap_n < s->nstr; s->smap_n++) { /* the map is built when first needed */
        size_t l;
        const char *n = st_str(s, (uint32_t)s->smap_n + 1, &l);
        uint32_t *id = ew_hmap_upsert(s->smap, n, l, NULL);
        if (!id)
            return 0;
        *id = (uint32_t)s->smap_n + 1;
    }
    if (!add) {
        const uint32_t *id = ew_hmap_get(s->smap, p, len);
        return id ? *id : 0;
    }
    if (s->nstr >= UINT32_MAX - 1 || s->nlen + len > UINT32_MAX ||
        GROW(s->strs, s->strcap, s->nstr + 1) < 0 || GROW(s->names, s->ncap, s->nlen + len) < 0)
        return 0;
    int created;
    uint32_t *id = ew_hmap_upsert(s->smap, p, len, &created);
    if (!id)
        return 0;
    if (created) {
        memcpy(s->names + s->nlen, p, len);
        s->strs[s->nstr].off = (uint32_t)s->nlen;
        s->strs[s->nstr].len = (uint32_t)len;
        s->nlen += len;
        *id = (uint32_t)++s->nstr;
        s->smap_n = s->nstr;
    }
    return *id;
}

/* The first of the n entries at a at or after key (hi, idx). */
static size_t lb(const struct ient *a, size_t n, uint64_t hi, int64_t idx)
{
    size_t lo = 0;
    while (n) {
        size_t h = n / 2;
        const struct ient *e = &a[lo + h];
        if (e->hi < hi || (e->hi == hi && e->idx < idx)) {
            lo += h + 1;
            n -= h + 1;
        } else {
            n = h;
        }
    }
    return lo;
}

static struct ient *find_in(struct ient *a, size_t n, uint64_t hi, int64_t idx)
{
    size_t i = lb(a, n, hi, idx);
    return i < n && a[i].hi == hi && a[i].idx == idx ? &a[i] : NULL;
}

static struct ient *st_find(const struct st *s, uint64_t hi, int64_t idx)
{
    struct ient *e = find_in(s->ix, s->nix, hi, idx);
    return e ? e : find_in(s->nx, s->nnx, hi, idx);
}

/* Add the values of entry e to out. */
static void st_add(const struct st *s, const struct ient *e, int64_t *out)
{
    if (e->len & OVL) {
        const int64_t *v = s->ov[e->len & ~OVL].v;
        for (int m = 0; m < EW_M__COUNT; m++)
            out[m] += v[m];
    } else {
        rec_add(s->blob + e->off, e->len, out);
    }
}

/* The values of key (hi, idx), or NULL when the state has no such field
 * (tmp holds them when they come from the blob). */
static const int64_t *st_get(const struct st *s, uint64_t hi, int64_t idx,
                             int64_t tmp[EW_M__COUNT])
{
    const struct ient *e = st_find(s, hi, idx);
    if (!e)
        return NULL;
    if (e->len & OVL)
        return s->ov[e->len & ~OVL].v;
    memset(tmp, 0, EW_M__COUNT * sizeof *tmp);
    rec_add(s->blob + e->off, e->len, tmp);
    return tmp;
}

/* Give entry e its values in the overlay (it will be encoded anew). */
static int64_t *st_own(struct st *s, struct ient *e)
{
    if (e->len & OVL)
        return s->ov[e->len & ~OVL].v;
    if (s->nov >= OVL || GROW(s->ov, s->ovcap, s->nov + 1) < 0)
        return NULL;
    int64_t *v = s->ov[s->nov].v;
    memset(v, 0, sizeof s->ov[0].v);
    if (e->len)
        rec_add(s->blob + e->off, e->len, v);
    e->len = OVL | (uint32_t)s->nov++;
    return v;
}

/* The values of key (hi, idx) to write, the field created (zero) when absent.
 * NULL when out of memory.  Valid until the next touch.  New fields go into
 * their own small sorted array (inserting into the index would move most
 * of it for every new bucket). */
static int64_t *st_touch(struct st *s, uint64_t hi, int64_t idx)
{
    struct ient *e = find_in(s->ix, s->nix, hi, idx);
    if (e)
        return st_own(s, e);
    size_t i = lb(s->nx, s->nnx, hi, idx);
    if (i < s->nnx && s->nx[i].hi == hi && s->nx[i].idx == idx)
        return st_own(s, &s->nx[i]);
    if (GROW(s->nx, s->nxcap, s->nnx + 1) < 0)
        return NULL;
    memmove(&s->nx[i + 1], &s->nx[i], (s->nnx - i) * sizeof *s->nx);
    s->nnx++;
    e = &s->nx[i];
    memset(e, 0, sizeof *e);
    e->hi = hi;
    e->idx = idx;
    return st_own(s, e);
}

/* A field kept by name (wm, R*, ...): the K_MISC entries come first. */
static struct ient *st_misc(const struct st *s, const char *name, size_t len)
{
    for (int pass = 0; pass < 2; pass++) {
        struct ient *a = pass ? s->nx : s->ix;
        size_t n = pass ? s->nnx : s->nix;
        for (size_t i = 0; i < n && KEY_KIND(a[i].hi) == K_MISC; i++) {
            size_t l;
            const char *nm = st_str(s, KEY_SID(a[i].hi), &l);
            if (l == len && memcmp(nm, name, len) == 0)
                return &a[i];
        }
    }
    return NULL;
}

static int64_t misc_get(const struct st *s, const char *name, size_t len, int *found)
{
    int64_t v[EW_M__COUNT] = {0};
    const struct ient *e = st_misc(s, name, len);
    *found = e != NULL;
    if (e)
        st_add(s, e, v);
    return v[0];
}

static int misc_set(struct st *s, const char *name, size_t len, int64_t value)
{
    struct ient *e = st_misc(s, name, len);
    int64_t *v;
    if (e) {
        v = st_own(s, e);
    } else {
        uint32_t sid = st_intern(s, name, len, 1);
        v = sid ? st_touch(s, KEY_HI(K_MISC, 0, sid), 0) : NULL;
    }
    if (!v)
        return -1;
    v[0] = value;
    return 0;
}

/* The watermark from which entry e leaves the state (INT64_MAX: never): a
 * bucket's or snapshot's retention after its end, a post's publication time
 * the coarsest retention after its value. */
static int64_t dead_of(const struct ew_window *w, const struct st *s, const struct ient *e)
{
    const struct ew_resolution *r;
    size_t l;
    switch (KEY_KIND(e->hi)) {
    case K_BUCKET: r = &w->res[KEY_RES(e->hi)]; break;
    case K_SNAP: r = &w->res[w->nres - 1]; break;
    case K_MISC: {
        const char *n = st_str(s, KEY_SID(e->hi), &l);
        return expiry_of(w, n, l);
    }
    case K_PT: {
        int64_t t[EW_M__COUNT] = {0}, d;
        st_add(s, e, t);
        if (__builtin_add_overflow(t[0], w->res[w->nres - 1].retention_ms, &d))
            return t[0] < 0 ? INT64_MIN : INT64_MAX;
        return d;
    }
    default: return INT64_MAX;
    }
    int64_t d;
    if (__builtin_add_overflow(e->idx, 1, &d) || __builtin_mul_overflow(d, r->bucket_ms, &d) ||
        __builtin_add_overflow(d, r->retention_ms, &d))
        return e->idx < 0 ? INT64_MIN : INT64_MAX;
    return d;
}

/* The typed key of the field named k[0..kl): buckets and snapshots whose
 * names are exactly what the fold writes, posts' publication times, and
 * any other name as itself. */
static int name_key(const struct ew_window *w, struct st *s, const char *k, size_t kl,
                    uint64_t *hi, int64_t *idx)
{
    int64_t i, r;
    uint32_t sid = 0;
    *idx = 0;
    if (kl >= 3 && memcmp(k, "pt:", 3) == 0) {
        if (!(sid = st_intern(s, k + 3, kl - 3, 1)))
            return -1;
        *hi = KEY_HI(K_PT, 0, sid);
        return 0;
    }
    if (kl > 2 && k[0] == 'F' && k[1] == ':' && canon_i64(k + 2, kl - 2, &i)) {
        *hi = KEY_HI(K_SNAP, 0, 0);
        *idx = i;
        return 0;
    }
    if (kl && is_bucket_field(k)) {
        size_t c = 0, c2;
        while (c < kl && k[c] != ':')
            c++;
        for (c2 = c + 1; c2 < kl && k[c2] != ':'; c2++)
            ;
        if (c < kl && canon_i64(k, c, &r) && r >= 0 && (size_t)r < w->nres &&
            canon_i64(k + c + 1, c2 - c - 1, &i)) {
            if (c2 < kl && !(sid = st_intern(s, k + c2 + 1, kl - c2 - 1, 1)))
                return -1;
            *hi = KEY_HI(K_BUCKET, r, sid);
            *idx = i;
            return 0;
        }
    }
    if (!(sid = st_intern(s, k, kl, 1)))
        return -1;
    *hi = KEY_HI(K_MISC, 0, sid);
    return 0;
}

static int cmp_ient(const void *a, const void *b)
{
    const struct ient *x = a, *y = b;
    if (x->hi != y->hi)
        return x->hi < y->hi ? -1 : 1;
    if (x->idx != y->idx)
        return x->idx < y->idx ? -1 : 1;
    return x->off < y->off ? -1 : x->off > y->off;
}

/* A stored state (GET) into s: its fields indexed, sorted by key (a field
 * stored twice, as runs written after it do: the later wins), less those that
 * left it at its watermark; fields whose stored expiry is not the one this
 * configuration gives are to be encoded anew. */
static int st_parse(const struct ew_window *w, struct st *s, const unsigned char *p, size_t len)
{
    const unsigned char *q = p + 1, *end = p + len, *f;
    const char *k;
    size_t kl;
    struct val v;
    int rc;
    if (len < 1 || *p != EW_STATE_VERSION || len > UINT32_MAX)
        return -1;
    s->blob = p;
    s->blen = len;
    for (;;) {
        q = f = skip_runs(q, end);
        if ((rc = next_field(&q, end, &k, &kl, &v)) <= 0)
            break;
        if (GROW(s->ixbuf, s->ixcap, s->nix + 1) < 0)
            return -1;
        s->ix = s->ixbuf;
        struct ient *e = &s->ix[s->nix];
        memset(e, 0, sizeof *e);
        if (name_key(w, s, k, kl, &e->hi, &e->idx) < 0)
            return -1;
        e->off = (uint32_t)(f - p);
        e->len = (uint32_t)(q - f);
        if (e->len >= OVL)
            return -1;
        s->nix++;
        /* written under another retention: encoded anew */
        if (dead_of(w, s, e) != v.dead_at && !st_own(s, e))
            return -1;
    }
    if (rc < 0)
        return -1;
    int sorted = 1;
    for (size_t i = 1; i < s->nix && sorted; i++)
        sorted = s->ix[i - 1].hi < s->ix[i].hi ||
                 (s->ix[i - 1].hi == s->ix[i].hi && s->ix[i - 1].idx < s->ix[i].idx);
    if (!sorted) {
        qsort(s->ix, s->nix, sizeof *s->ix, cmp_ient);
        size_t n = 0;
        for (size_t i = 0; i < s->nix; i++) {
            if (n && s->ix[n - 1].hi == s->ix[i].hi && s->ix[n - 1].idx == s->ix[i].idx)
                n--; /* the later one wins */
            s->ix[n++] = s->ix[i];
        }
        s->nix = n;
    }
    int have;
    int64_t wm = misc_get(s, "wm", 2, &have);
    if (have) {
        size_t n = 0;
        for (size_t i = 0; i < s->nix; i++)
            if (dead_of(w, s, &s->ix[i]) > wm)
                s->ix[n++] = s->ix[i];
        s->nix = n;
    }
    return 0;
}

/* A cache entry into s: its index and blob are used where they are (the
 * fold marks the fields it writes in the entry's index: a fold that fails
 * empties the cache); the string table is copied (the fold may add to it). */
static int st_from_cache(struct st *s, struct cent *c)
{
    unsigned char *m = c->mem;
    if (GROW(s->strs, s->strcap, c->nstr) < 0 || GROW(s->names, s->ncap, c->nlen) < 0)
        return -1;
    s->ix = (struct ient *)(void *)m;
    m += c->nix * sizeof *s->ix;
    memcpy(s->strs, m, c->nstr * sizeof *s->strs);
    m += c->nstr * sizeof *s->strs;
    memcpy(s->names, m, c->nlen);
    m += c->nlen;
    s->nix = c->nix;
    s->nstr = c->nstr;
    s->nlen = c->nlen;
    s->blob = m;
    s->blen = c->blen;
    return 0;
}

static int sbuf_reserve(struct ew_window *w, size_t len, size_t more)
{
    if (len + more <= w->scap)
        return 0;
    size_t cap = w->scap ? w->scap * 2 : 65536;
    while (cap < len + more)
        cap *= 2;
    unsigned char *b = realloc(w->sbuf, cap);
    if (!b)
        return -1;
    w->sbuf = b;
    w->scap = cap;
    return 0;
}

/* Encode entry e (its values v) at w->sbuf + *len. */
static int put_field(struct ew_window *w, size_t *len, const struct st *s, const struct ient *e,
                     const int64_t *v)
{
    char head[64];
    size_t hl = 0, tl = 0;
    const char *tail = NULL;
    int kind = KEY_KIND(e->hi), packed = 1;
    uint32_t sid = KEY_SID(e->hi);
    switch (kind) {
    case K_BUCKET:
        hl = put_i64(head, (int64_t)KEY_RES(e->hi));
        head[hl++] = ':';
        hl += put_i64(head + hl, e->idx);
        if (sid) {
            head[hl++] = ':';
            tail = st_str(s, sid, &tl);
        }
        break;
    case K_SNAP:
        head[0] = 'F';
        head[1] = ':';
        hl = 2 + put_i64(head + 2, e->idx);
        break;
    case K_PT:
        memcpy(head, "pt:", 3);
        hl = 3;
        tail = st_str(s, sid, &tl);
        packed = 0;
        break;
    default:
        tail = st_str(s, sid, &tl);
        packed = is_packed(tail, tl);
        break;
    }
    int nv = 1;
    if (packed)
        for (int m = 0; m < EW_M__COUNT; m++)
            if (v[m])
                nv = m + 1;
    if (sbuf_reserve(w, *len, hl + tl + 10 + 10 + 1 + (size_t)nv * 10) < 0)
        return -1;
    unsigned char *p = w->sbuf + *len;
    p += put_varint(p, hl + tl);
    memcpy(p, head, hl);
    p += hl;
    if (tl)
        memcpy(p, tail, tl);
    p += tl;
    /* the expiry: 0 for none, else zigzag + 1 */
    int64_t dead = dead_of(w, s, e);
    p += put_varint(p, dead == INT64_MAX ? 0
                                         : (((uint64_t)dead << 1) ^ (uint64_t)(dead >> 63)) + 1);
    *p++ = (unsigned char)nv;
    for (int m = 0; m < nv; m++)
        p += put_varint(p, ((uint64_t)v[m] << 1) ^ (uint64_t)(v[m] >> 63));
    *len = (size_t)(p - w->sbuf);
    return 0;
}

/* Drop the strings no field names any more, when they are most of them
 * (ids are renumbered in order, so the index stays sorted). */
static void st_gc(struct st *s)
{
    if (s->nstr < 64)
        return;
    if (GROW(s->gcmap, s->gccap, s->nstr + 1) < 0)
        return; /* kept: only memory */
    uint32_t *map = s->gcmap;
    memset(map, 0, (s->nstr + 1) * sizeof *map);
    size_t used = 0;
    for (size_t i = 0; i < s->nix; i++) {
        uint32_t sid = KEY_SID(s->ix[i].hi);
        if (KEY_KIND(s->ix[i].hi) != K_SNAP && sid && !map[sid]) {
            map[sid] = 1;
            used++;
        }
    }
    if (used * 2 >= s->nstr)
        return;
    size_t n = 0, nl = 0;
    for (size_t id = 1; id <= s->nstr; id++) {
        if (!map[id])
            continue;
        struct sref r = s->strs[id - 1];
        memmove(s->names + nl, s->names + r.off, r.len);
        s->strs[n].off = (uint32_t)nl;
        s->strs[n].len = r.len;
        nl += r.len;
        map[id] = (uint32_t)++n;
    }
    for (size_t i = 0; i < s->nix; i++) {
        uint64_t hi = s->ix[i].hi;
        if (KEY_KIND(hi) != K_SNAP && KEY_SID(hi))
            s->ix[i].hi = (hi & ~(uint64_t)UINT32_MAX) | map[KEY_SID(hi)];
    }
    s->nstr = n;
    s->nlen = nl;
    s->smap_n = 0;
    ew_hmap_clear(s->smap);
}

/* Copy the stored fields s->blob[run..run + *run_len) to w->sbuf + *len. */
static int flush_run(struct ew_window *w, const struct st *s, size_t *len, size_t run,
                     size_t *run_len)
{
    if (!*run_len)
        return 0;
    if (sbuf_reserve(w, *len, *run_len) < 0)
        return -1;
    memcpy(w->sbuf + *len, s->blob + run, *run_len);
    *len += *run_len;
    *run_len = 0;
    return 0;
}

/* The account's state after the fold, serialised into w->sbuf[0..*out), less
 * the fields that left their retention at watermark wm: untouched fields are
 * copied as they were (runs of them in one copy), the others encoded, and
 * also gathered in w->dbuf[0..w->dlen) after a STATE_RUN byte: written
 * after the state as stored, they make it this one (see window.h).  w->sbuf
 * has *out / 4 bytes more for the room a whole write keeps.  s becomes the
 * new state (its blob is w->sbuf). */
static int st_serialise(struct ew_window *w, struct st *s, int64_t wm, size_t *out)
{
    size_t len = 1, run = 0, run_len = 0, k = 0;
    if (sbuf_reserve(w, 0, 1) < 0 || GROW(s->ox, s->oxcap, s->nix + s->nnx) < 0)
        return -1;
    w->sbuf[0] = EW_STATE_VERSION;
    w->dlen = 0;
    for (size_t i = 0, j = 0; i < s->nix || j < s->nnx;) {
        /* the stored fields and the new ones, merged in key order */
        struct ient e;
        if (j == s->nnx || (i < s->nix && (s->ix[i].hi < s->nx[j].hi ||
                                           (s->ix[i].hi == s->nx[j].hi &&
                                            s->ix[i].idx < s->nx[j].idx))))
            e = s->ix[i++];
        else
            e = s->nx[j++];
        if (dead_of(w, s, &e) <= wm)
            continue;
        if (!(e.len & OVL)) {
            if (!run_len || run + run_len != e.off) {
                if (flush_run(w, s, &len, run, &run_len) < 0)
                    return -1;
                run = e.off;
            }
            e.off = (uint32_t)(len + run_len);
            run_len += e.len;
        } else {
            if (flush_run(w, s, &len, run, &run_len) < 0)
                return -1;
            size_t at = len;
            if (put_field(w, &len, s, &e, s->ov[e.len & ~OVL].v) < 0)
                return -1;
            e.off = (uint32_t)at;
            e.len = (uint32_t)(len - at);
            if (GROW(w->dbuf, w->dcap, w->dlen + 1 + e.len) < 0)
                return -1;
            if (!w->dlen)
                w->dbuf[w->dlen++] = STATE_RUN;
            memcpy(w->dbuf + w->dlen, w->sbuf + at, e.len);
            w->dlen += e.len;
        }
        s->ox[k++] = e;
    }
    if (flush_run(w, s, &len, run, &run_len) < 0 || sbuf_reserve(w, len, len / 4) < 0)
        return -1;
    struct ient *t = s->ixbuf;
    size_t tc = s->ixcap;
    s->ix = s->ixbuf = s->ox;
    s->ixcap = s->oxcap;
    s->ox = t;
    s->oxcap = tc;
    s->nix = k;
    s->nnx = 0;
    s->nov = 0;
    s->blob = w->sbuf;
    s->blen = len;
    st_gc(s);
    *out = len;
    return 0;
}

/* Count metric m for the account (and for post psid when not 0) at every
 * resolution. */
static int count(struct ew_window *w, int m, int64_t ts, uint32_t psid)
{
    for (size_t r = 0; r < w->nres; r++) {
        int64_t idx = floordiv(ts, w->res[r].bucket_ms);
        int64_t *v = st_touch(&w->st, KEY_HI(K_BUCKET, r, 0), idx);
        if (!v)
            return -1;
        v[m]++;
        if (psid) {
            if (!(v = st_touch(&w->st, KEY_HI(K_BUCKET, r, psid), idx)))
                return -1;
            v[m]++;
        }
    }
    return 0;
}

static int64_t risk_get(void *ctx, const char *f, int *found)
{
    struct ew_window *w = ctx;
    return misc_get(&w->st, f, strlen(f), found);
}

static int risk_set(void *ctx, const char *f, int64_t value)
{
    struct ew_window *w = ctx;
    size_t l = strlen(f);
    int found;
    if (misc_get(&w->st, f, l, &found) == value && (found || value == 0))
        return 0; /* unchanged (or absent and zero): no write */
    return misc_set(&w->st, f, l, value);
}

static int push_alert(struct ew_window *w, char *json)
{
    if (w->nalerts == w->alerts_cap) {
        size_t cap = w->alerts_cap ? w->alerts_cap * 2 : 64;
        char **a = realloc(w->alerts, cap * sizeof *a);
        if (!a)
            return -1;
        w->alerts = a;
        w->alerts_cap = cap;
    }
    w->alerts[w->nalerts++] = json;
    return 0;
}

/* The detectors' view of one account (see the view section below). */
struct ew_view {
    const char *account;
    size_t account_len;
    const struct ew_resolution *res;
    size_t nres;
    int64_t now, wm;
    struct st *st; /* the account's state */
    /* samples from the fold: the account's events from head up to upto */
    const struct ew_window *w;
    uint32_t head, upto;
    /* standalone */
    struct st own;
    char *own_account;
    struct ew_resolution own_res[EW_MAX_RES];
    struct ew_sample *samples;
    char **sample_posts;
    size_t nsamples, scap;
};

static void view_for_fold(struct ew_view *v, struct ew_window *w, const char *acct,
                          size_t alen, uint32_t head, uint32_t upto, int64_t now, int64_t wm);

/* The expiry of an account's fingerprint hash of one hour: the hour it
 * counts and the next one read it, plus the allowed lateness. */
static int fp_expire(const struct ew_window *w, struct ew_cmdbuf *ops, const char *key,
                     const char *hour)
{
    char pkey[1300];
    snprintf(pkey, sizeof pkey, "%s:fp:%s", key, hour);
    return ew_cmd_begin(ops, "PEXPIRE") < 0 || ew_cmd_str(ops, pkey) < 0 ||
                   ew_cmd_int(ops, 2 * FP_BUCKET_MS + w->lateness_ms) < 0
               ? -1
               : 0;
}

/* Run every detector at one counted event and turn their signals into risk
 * and alerts.  rs is the account's risk state (loaded on first use). */
static int detect_at(struct ew_window *w, const char *acct, size_t alen, const struct acct *a,
                     uint32_t e, int64_t wm, struct ew_risk_state *rs, int *rs_loaded)
{
    const struct wev *ev = &w->ev[e];
    struct ew_view view, *v = &view;
    view_for_fold(v, w, acct, alen, a->head, e, ev->ts, wm);
    struct ew_trigger t = {
        .type = (enum ew_event_type)ev->type,
        .ts = ev->ts,
        .post = ev->post != NONE ? w->arena + ev->post : NULL,
        .post_len = ev->post_len,
        .actor = ev->actor != NONE ? w->arena + ev->actor : NULL,
        .actor_len = ev->actor_len,
        .cls = (enum ew_text_class)ev->cls,
        .followers = ev->type == EW_EV_PROFILE ? ev->aux : -1,
        .actor_created_ms = ev->type == EW_EV_PROFILE ? INT64_MIN : ev->aux,
        .ref_likes = -1,
        .ref_rare = -1,
    };
    if (ev->type == EW_EV_LIKE && ev->cell != NONE) { /* set by sketch_fold */
        t.ref_likes = w->ref[2 * e];
        t.ref_rare = w->ref[2 * e + 1];
    }
    for (size_t i = 0; i < w->ndet; i++) {
        struct ew_signal sig[8];
        size_t n = w->det[i]->evaluate(w->det_state[i], v, &t, sig, 8);
        for (size_t j = 0; j < n && j < 8; j++) {
            struct ew_risk_decision d;
            if (!*rs_loaded) {
                ew_risk_load(rs, risk_get, w);
                *rs_loaded = 1;
            }
            ew_risk_apply(w->cfg, rs, &sig[j], ev->ts, &d);
            int rc = 0;
            if (d.alert) {
                char *js = ew_alert_json(acct, alen, &sig[j], rs, &d, ev->ts);
                if (!js || push_alert(w, js) < 0) {
                    free(js);
                    rc = -1;
                } else {
                    w->alert_count[sig[j].kind][d.level]++;
                }
            }
            json_decref(sig[j].evidence);
            if (rc)
                return -1;
        }
    }
    return 0;
}

/* The account's state as GET returned it: nil for an account without
 * state. */
static int read_snapshot(struct ew_window *w, const redisReply *r, const char *key)
{
    if (r->type == REDIS_REPLY_NIL)
        return 0;
    if (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "WRONGTYPE", 9) == 0) {
        /* the hash layout of engwatch before state format 1: started afresh */
        EW_LOG_RL(EW_WARN, "window", "%s holds an account state of an earlier layout (not a "
                  "string): the account starts afresh", key);
        return 0;
    }
    if (r->type == REDIS_REPLY_STRING && r->len && r->str[0] == STATE_RUN) {
        /* fields were written after the key was gone (deleted, evicted, or
           Redis lost it while this daemon held the account) */
        EW_LOG_RL(EW_WARN, "window", "%s lost its beginning (the key was removed while this "
                  "daemon held the account): the account starts afresh", key);
        return 0;
    }
    if (r->type != REDIS_REPLY_STRING ||
        st_parse(w, &w->st, (const unsigned char *)r->str, r->len) < 0)
        return -1;
    return 0;
}

/* Keep the account's state (w->st, just serialised) as its cache entry. */
static int cache_store(struct ew_window *w, struct cent *ce, int64_t now)
{
    const struct st *s = &w->st;
    size_t bytes = s->nix * sizeof *s->ix + s->nstr * sizeof *s->strs + s->nlen + s->blen;
    unsigned char *m = realloc(ce->mem, bytes);
    if (!m)
        return -1;
    ce->mem = m;
    memcpy(m, s->ix, s->nix * sizeof *s->ix);
    m += s->nix * sizeof *s->ix;
    memcpy(m, s->strs, s->nstr * sizeof *s->strs);
    m += s->nstr * sizeof *s->strs;
    memcpy(m, s->names, s->nlen);
    m += s->nlen;
    memcpy(m, s->blob, s->blen);
    ce->len = bytes;
    ce->nix = (uint32_t)s->nix;
    ce->nstr = (uint32_t)s->nstr;
    ce->nlen = (uint32_t)s->nlen;
    ce->blen = (uint32_t)s->blen;
    ce->used = w->batch_no;
    ce->stamp_s = now;
    w->cache_bytes += bytes;
    w->cache_live++;
    return 0;
}

static int fold(struct ew_window *w, redisReply **replies, size_t nreplies, struct ew_cmdbuf *ops);

int ew_window_fold(struct ew_window *w, redisReply **replies, size_t nreplies,
                   struct ew_cmdbuf *ops)
{
    w->batch_no++;
    if (fold(w, replies, nreplies, ops) < 0 || cache_trim(w) < 0) {
        ew_window_invalidate(w); /* partly folded: the cache no longer matches Redis */
        return -1;
    }
    return 0;
}

static int fold(struct ew_window *w, redisReply **replies, size_t nreplies, struct ew_cmdbuf *ops)
{
    char key[1200], f[1400], hex[17];
    int64_t now_ms = ew_mono_ms(), now = now_ms / 1000;
    size_t ri = 0;
    size_t n = ew_hmap_count(w->accts);
    const struct ew_resolution *coarse = &w->res[w->nres - 1];
    w->late = 0;
    clear_alerts(w);
    char okey[512];
    snprintf(okey, sizeof okey, "%soutbox", w->prefix);
    if (sketch_fold(w, replies, nreplies, &ri) < 0 || sketch_writes(w, ops) < 0)
        return -1;

    for (size_t ai = 0; ai < n; ai++) {
        const char *name;
        size_t nlen;
        struct acct *a = ew_hmap_at(w->accts, ai, &name, &nlen);
        key_acct(w, key, sizeof key, name, nlen);
        struct cent *ce = NULL;
        if (w->cache_budget && !(ce = ew_hmap_upsert(w->cache, name, nlen, NULL)))
            return -1;
        st_reset(&w->st);
        if (a->cached) {
            if (!ce || !ce->mem || st_from_cache(&w->st, ce) < 0) {
                EW_LOG(EW_ERROR, "window", "state cache entry of %s unusable", key);
                return -1;
            }
            w->cstats.hits++;
        } else {
            w->cstats.misses++;
            if (ri >= nreplies || read_snapshot(w, replies[ri++], key) < 0) {
                EW_LOG(EW_ERROR, "window", "unexpected reply reading %s", key);
                return -1;
            }
        }
        ew_hmap_clear(w->fps);
        ew_hmap_clear(w->seen);

        /* fingerprint counts read for this account's comment hours */
        for (uint32_t h = 0; h < a->nhours; h++) {
            const redisReply *r = ri < nreplies ? replies[ri++] : NULL;
            if (!r || r->type != REDIS_REPLY_ARRAY) {
                EW_LOG(EW_ERROR, "window", "unexpected reply reading fingerprints of %s", key);
                return -1;
            }
            size_t k = 0;
            int64_t hour = w->hours[a->hours_off + h];
            for (uint32_t e = a->head; e != NONE && k + 1 < r->elements; e = w->ev[e].next) {
                const struct wev *ce = &w->ev[e];
                if (!reads_hour(ce, hour))
                    continue;
                const redisReply *fv = r->element[k++], *av = r->element[k++];
                fp_hex(ce->fp, hex);
                int fl = hour_field(f, sizeof f, hour, "", hex, 16);
                if (fv->type == REDIS_REPLY_STRING) {
                    int64_t *slot = ew_hmap_upsert(w->fps, f, (size_t)fl, NULL);
                    if (!slot)
                        return -1;
                    *slot = parse_i64(fv->str, fv->len);
                }
                fl = hour_field(f, sizeof f, hour, "a:",
                                ce->actor != NONE ? w->arena + ce->actor : "", ce->actor_len);
                if (av->type == REDIS_REPLY_STRING && fl < (int)sizeof f) {
                    int64_t *slot = ew_hmap_upsert(w->fps, f, (size_t)fl, NULL);
                    if (!slot)
                        return -1;
                    *slot = parse_i64(av->str, av->len);
                }
            }
        }

        struct ew_risk_state rs;
        int rs_loaded = 0;
        size_t alerts0 = w->nalerts;
        int have_wm;
        int64_t wm = misc_get(&w->st, "wm", 2, &have_wm);
        int64_t wm0 = wm, had_wm = have_wm;
        for (uint32_t e = a->head; e != NONE; e = w->ev[e].next) {
            const struct wev *ev = &w->ev[e];
            if (have_wm && ev->ts < wm - w->lateness_ms) {
                w->late++;
                continue;
            }
            if (!have_wm || ev->ts > wm)
                wm = ev->ts;
            have_wm = 1;
            uint32_t post = 0;
            if (ev->post != NONE &&
                !(post = st_intern(&w->st, w->arena + ev->post, ev->post_len, 1)))
                return -1;
            int rc = 0;
            switch (ev->type) {
            case EW_EV_COMMENT: {
                rc |= count(w, EW_M_COMMENTS, ev->ts, post);
                if (ew_text_is_hollow((enum ew_text_class)ev->cls))
                    rc |= count(w, EW_M_HOLLOW, ev->ts, post);
                /* copy-paste: the same text already posted on this account in
                 * this or the previous hour by someone else */
                int64_t h = floordiv(ev->ts, FP_BUCKET_MS);
                fp_hex(ev->fp, hex);
                int fl = hour_field(f, sizeof f, h, "", hex, 16);
                char pf[1400];
                int pfl = hour_field(pf, sizeof pf, h - 1, "", hex, 16);
                int64_t *cur = ew_hmap_upsert(w->fps, f, (size_t)fl, NULL);
                int64_t *prev = ew_hmap_get(w->fps, pf, (size_t)pfl);
                if (!cur)
                    return -1;
                /* Every comment counts, whoever wrote it: deduplicating actors
                 * within a batch would make the counts depend on where batch
                 * boundaries fall (and so differ between live and replay). */
                if (*cur + (prev ? *prev : 0) > 0)
                    rc |= count(w, EW_M_DUP, ev->ts, post);
                (*cur)++;
                char mark[1500];
                int ml = write_mark(mark, f, fl);
                if (!ew_hmap_upsert(w->seen, mark, (size_t)ml, NULL))
                    return -1;
                /* a new commenter: no comment on this account in this or the
                 * previous hour (distinct commenters over windows up to an hour
                 * are sums of this counter) */
                const char *actor = ev->actor != NONE ? w->arena + ev->actor : "";
                fl = hour_field(f, sizeof f, h, "a:", actor, ev->actor_len);
                pfl = hour_field(pf, sizeof pf, h - 1, "a:", actor, ev->actor_len);
                if (fl >= (int)sizeof f || pfl >= (int)sizeof pf)
                    break;
                cur = ew_hmap_upsert(w->fps, f, (size_t)fl, NULL);
                prev = ew_hmap_get(w->fps, pf, (size_t)pfl);
                if (!cur)
                    return -1;
                if (*cur + (prev ? *prev : 0) == 0)
                    rc |= count(w, EW_M_NEW_COMMENTERS, ev->ts, post);
                (*cur)++;
                ml = write_mark(mark, f, fl);
                if (!ew_hmap_upsert(w->seen, mark, (size_t)ml, NULL))
                    return -1;
                break;
            }
            case EW_EV_LIKE:
                rc |= count(w, EW_M_LIKES, ev->ts, post);
                if (ev->cls)
                    rc |= count(w, EW_M_RARE_LIKES, ev->ts, post);
                break;
            case EW_EV_SHARE: rc |= count(w, EW_M_SHARES, ev->ts, post); break;
            case EW_EV_FOLLOW:
                rc |= count(w, EW_M_FOLLOWS, ev->ts, 0);
                if (ev->aux != INT64_MIN && ev->ts - ev->aux <= w->new_actor_age_ms)
                    rc |= count(w, EW_M_NEW_FOLLOWS, ev->ts, 0);
                break;
            case EW_EV_UNFOLLOW: rc |= count(w, EW_M_UNFOLLOWS, ev->ts, 0); break;
            case EW_EV_POST: {
                rc |= count(w, EW_M_POSTS, ev->ts, 0);
                if (!post)
                    break; /* a post event without its id: no publication time */
                int64_t tmp[EW_M__COUNT];
                const int64_t *cur = st_get(&w->st, KEY_HI(K_PT, 0, post), 0, tmp);
                if (!cur || ev->ts < cur[0]) {
                    int64_t *x = st_touch(&w->st, KEY_HI(K_PT, 0, post), 0);
                    if (!x)
                        return -1;
                    x[0] = ev->ts;
                }
                break;
            }
            case EW_EV_PROFILE: {
                /* the latest snapshot of each coarsest bucket: "F:I" = followers,ts */
                int64_t idx = floordiv(ev->ts, coarse->bucket_ms), tmp[EW_M__COUNT];
                const int64_t *cur = st_get(&w->st, KEY_HI(K_SNAP, 0, 0), idx, tmp);
                if (!cur || cur[1] <= ev->ts) { /* an earlier one of the bucket changes nothing */
                    int64_t *x = st_touch(&w->st, KEY_HI(K_SNAP, 0, 0), idx);
                    if (!x)
                        return -1;
                    x[0] = ev->aux;
                    x[1] = ev->ts;
                }
                break;
            }
            default: break;
            }
            if (rc || (w->ndet && detect_at(w, name, nlen, a, e, wm, &rs, &rs_loaded) < 0))
                return -1;
        }
        if (!have_wm) { /* every event was late: nothing changes */
            if (ce && ce->mem)
                ce->used = w->batch_no;
            continue;
        }
        if (rs_loaded && ew_risk_store(&rs, risk_set, w) < 0)
            return -1;
        /* the account's alerts go to the outbox in the same atomic step */
        for (size_t i = alerts0; i < w->nalerts; i++) {
            if (ew_cmd_begin(ops, "XADD") < 0 || ew_cmd_str(ops, okey) < 0 ||
                ew_cmd_str(ops, "MAXLEN") < 0 || ew_cmd_str(ops, "~") < 0 ||
                ew_cmd_int(ops, w->cfg->risk.outbox_maxlen) < 0 || ew_cmd_str(ops, "*") < 0 ||
                ew_cmd_str(ops, "alert") < 0 || ew_cmd_str(ops, w->alerts[i]) < 0)
                return -1;
        }

        /* The account's state: the snapshot with the touched fields and the
         * watermark written over it, less the buckets that left their
         * retention.  Written whole with a quarter of its length kept free
         * after it (0 bytes); while the cache holds it as written over this
         * connection, the fields encoded anew go into that room as a run
         * (SETRANGE: Redis copies the batch's changes, not the whole state,
         * and the value never grows, so no room is allocated behind it);
         * when the run does not fit, or the account was read, the whole
         * state again.  Its expiry is set with the whole state and again
         * whenever it might otherwise be less than the state's longest
         * retention away. */
        if ((wm != wm0 || !had_wm) && misc_set(&w->st, "wm", 2, wm) < 0)
            return -1;
        size_t slen;
        if (st_serialise(w, &w->st, wm, &slen) < 0)
            return -1;
        int run = ce && a->cached && ce->epoch == w->epoch && ce->ralloc &&
                     ce->rlen + w->dlen <= ce->ralloc;
        size_t rlen = run ? ce->rlen + w->dlen : slen;
        size_t ralloc = run ? ce->ralloc : slen + slen / 4;
        int64_t ttl_ms = run ? ce->ttl_ms : now_ms;
        if (run) {
            if (w->dlen && (ew_cmd_begin(ops, "SETRANGE") < 0 || ew_cmd_str(ops, key) < 0 ||
                            ew_cmd_int(ops, (int64_t)ce->rlen) < 0 ||
                            ew_cmd_arg(ops, (const char *)w->dbuf, w->dlen) < 0))
                return -1;
            if (now_ms - ttl_ms >= w->slack_ms) {
                if (ew_cmd_begin(ops, "PEXPIRE") < 0 || ew_cmd_str(ops, key) < 0 ||
                    ew_cmd_int(ops, w->px_ms) < 0)
                    return -1;
                ttl_ms = now_ms;
            }
        } else {
            memset(w->sbuf + slen, STATE_RUN, ralloc - slen); /* reserved by st_serialise */
            if (ew_cmd_begin(ops, "SET") < 0 || ew_cmd_str(ops, key) < 0 ||
                ew_cmd_arg(ops, (const char *)w->sbuf, ralloc) < 0 || ew_cmd_str(ops, "PX") < 0 ||
                ew_cmd_int(ops, w->px_ms) < 0)
                return -1;
        }

        /* Fingerprint counts per hour written by this batch. */
        size_t nfp = ew_hmap_count(w->fps);
        char cur_h[32] = "";
        for (size_t i = 0; i < nfp; i++) {
            const char *fk;
            size_t fkl;
            int64_t *v = ew_hmap_at(w->fps, i, &fk, &fkl);
            char mark[1500];
            int ml = write_mark(mark, fk, (int)fkl);
            if (!ew_hmap_get(w->seen, mark, (size_t)ml))
                continue; /* read only, unchanged */
            const char *colon = strchr(fk, ':');
            char hour[32];
            size_t hl = (size_t)(colon - fk) < sizeof hour ? (size_t)(colon - fk) : sizeof hour - 1;
            memcpy(hour, fk, hl);
            hour[hl] = '\0';
            if (strcmp(hour, cur_h) != 0) {
                char fkey[1300];
                snprintf(fkey, sizeof fkey, "%s:fp:%s", key, hour);
                if (cur_h[0] && fp_expire(w, ops, key, cur_h) < 0)
                    return -1; /* the previous hour's key is complete */
                if (ew_cmd_begin(ops, "HSET") < 0 || ew_cmd_str(ops, fkey) < 0)
                    return -1;
                snprintf(cur_h, sizeof cur_h, "%s", hour);
            }
            if (ew_cmd_str(ops, colon + 1) < 0 || ew_cmd_int(ops, *v) < 0)
                return -1;
        }
        if (cur_h[0] && fp_expire(w, ops, key, cur_h) < 0)
            return -1;

        if (ce) {
            if (ce->mem) {
                w->cache_bytes -= ce->len;
                w->cache_live--;
            }
            if (cache_store(w, ce, now) < 0)
                return -1;
            ce->epoch = w->epoch;
            ce->rlen = rlen;
            ce->ralloc = ralloc;
            ce->ttl_ms = ttl_ms;
        }
    }
    return 0;
}

/* ---- the detectors' view ------------------------------------------------------------
 * During a fold the view reads the account's state being folded (w->st); a
 * standalone view (tests) owns one. */

static void view_for_fold(struct ew_view *v, struct ew_window *w, const char *acct,
                          size_t alen, uint32_t head, uint32_t upto, int64_t now, int64_t wm)
{
    memset(v, 0, sizeof *v);
    v->account = acct;
    v->account_len = alen;
    v->res = w->res;
    v->nres = w->nres;
    v->now = now;
    v->wm = wm;
    v->st = &w->st; /* its lookups build the string map when first needed */
    v->w = w;
    v->head = head;
    v->upto = upto;
}

/* The key's high word of a bucket of resolution res for the account (post
 * == NULL) or one post; 0 when the state has nothing of that post. */
static uint64_t view_bucket_hi(const struct ew_view *v, size_t res, const char *post,
                               size_t post_len)
{
    uint32_t sid = 0;
    if (post && !(sid = st_intern(v->st, post, post_len, 0)))
        return 0;
    return KEY_HI(K_BUCKET, res, sid);
}

const char *ew_view_account(const struct ew_view *v, size_t *len)
{
    if (len)
        *len = v->account_len;
    return v->account;
}
int64_t ew_view_now(const struct ew_view *v) { return v->now; }
int64_t ew_view_watermark(const struct ew_view *v) { return v->wm; }
size_t ew_view_nres(const struct ew_view *v) { return v->nres; }
int64_t ew_view_bucket_ms(const struct ew_view *v, size_t r)
{
    return r < v->nres ? v->res[r].bucket_ms : 0;
}
int64_t ew_view_retention_ms(const struct ew_view *v, size_t r)
{
    return r < v->nres ? v->res[r].retention_ms : 0;
}

int64_t ew_view_count(const struct ew_view *v, enum ew_metric m, size_t res, const char *post,
                      size_t post_len, int64_t idx)
{
    int64_t tmp[EW_M__COUNT];
    if (res >= v->nres || (unsigned)m >= EW_M__COUNT)
        return 0;
    uint64_t hi = view_bucket_hi(v, res, post, post_len);
    const int64_t *x = hi ? st_get(v->st, hi, idx, tmp) : NULL;
    return x ? x[m] : 0;
}

void ew_view_sums(const struct ew_view *v, size_t res, const char *post, size_t post_len,
                  int64_t from_ms, int64_t to_ms, int64_t out[EW_M__COUNT])
{
    memset(out, 0, EW_M__COUNT * sizeof *out);
    if (res >= v->nres || to_ms < from_ms)
        return;
    int64_t b = v->res[res].bucket_ms;
    int64_t lo = floordiv(from_ms, b), hi = floordiv(to_ms, b);
    /* never walk more buckets than the resolution keeps */
    int64_t keep = v->res[res].retention_ms / b + 1;
    if (hi - lo > keep)
        lo = hi - keep;
    uint64_t khi = view_bucket_hi(v, res, post, post_len);
    if (!khi)
        return;
    /* hot (every detector at every event): the buckets of one resolution and
       post are next to each other in the index */
    const struct st *s = v->st;
    for (size_t i = lb(s->ix, s->nix, khi, lo);
         i < s->nix && s->ix[i].hi == khi && s->ix[i].idx <= hi; i++)
        st_add(s, &s->ix[i], out);
    for (size_t i = lb(s->nx, s->nnx, khi, lo);
         i < s->nnx && s->nx[i].hi == khi && s->nx[i].idx <= hi; i++)
        st_add(s, &s->nx[i], out);
}

int64_t ew_view_sum(const struct ew_view *v, enum ew_metric m, size_t res, const char *post,
                    size_t post_len, int64_t from_ms, int64_t to_ms)
{
    int64_t out[EW_M__COUNT];
    if ((unsigned)m >= EW_M__COUNT)
        return 0;
    ew_view_sums(v, res, post, post_len, from_ms, to_ms, out);
    return out[m];
}

int64_t ew_view_post_time(const struct ew_view *v, const char *post, size_t post_len)
{
    int64_t tmp[EW_M__COUNT];
    uint32_t sid = st_intern(v->st, post, post_len, 0);
    const int64_t *x = sid ? st_get(v->st, KEY_HI(K_PT, 0, sid), 0, tmp) : NULL;
    return x ? x[0] : -1;
}

size_t ew_view_posts(const struct ew_view *v, struct ew_post_ref *out, size_t cap)
{
    const struct st *s = v->st;
    size_t n = 0;
    for (int pass = 0; pass < 2; pass++) {
        const struct ient *a = pass ? s->nx : s->ix;
        size_t na = pass ? s->nnx : s->nix;
        for (size_t i = lb(a, na, KEY_HI(K_PT, 0, 0), INT64_MIN);
             i < na && KEY_KIND(a[i].hi) == K_PT; i++, n++) {
            if (n >= cap)
                continue;
            int64_t t[EW_M__COUNT] = {0};
            st_add(s, &a[i], t);
            out[n].post = st_str(s, KEY_SID(a[i].hi), &out[n].post_len);
            out[n].published_ms = t[0];
        }
    }
    return n;
}

int ew_view_followers(const struct ew_view *v, int64_t at_ms, int64_t *followers,
                      int64_t *snap_ms)
{
    const struct ew_resolution *c = &v->res[v->nres - 1];
    const struct st *s = v->st;
    int64_t hi = floordiv(at_ms, c->bucket_ms);
    int64_t lo = hi - c->retention_ms / c->bucket_ms;
    const uint64_t khi = KEY_HI(K_SNAP, 0, 0);
    /* newest first, from the bucket of at_ms back over the coarsest retention (the
       stored and the new snapshots merged) */
    size_t i = hi == INT64_MAX ? s->nix : lb(s->ix, s->nix, khi, hi + 1);
    size_t j = hi == INT64_MAX ? s->nnx : lb(s->nx, s->nnx, khi, hi + 1);
    for (;;) {
        int ok_i = i > 0 && s->ix[i - 1].hi == khi && s->ix[i - 1].idx >= lo;
        int ok_j = j > 0 && s->nx[j - 1].hi == khi && s->nx[j - 1].idx >= lo;
        if (!ok_i && !ok_j)
            break;
        const struct ient *e =
            ok_i && (!ok_j || s->ix[i - 1].idx > s->nx[j - 1].idx) ? &s->ix[--i] : &s->nx[--j];
        int64_t x[EW_M__COUNT] = {0};
        st_add(s, e, x);
        if (x[1] > at_ms || !x[1])
            continue; /* only a later one (in the current bucket), or one of the older
                         layout without its time */
        *followers = x[0];
        *snap_ms = x[1];
        return 0;
    }
    return -1;
}

static int sample_match(const char *post, size_t plen, const char *sp, size_t splen)
{
    return !post || (sp && splen == plen && memcmp(sp, post, plen) == 0);
}

size_t ew_view_samples(const struct ew_view *v, const char *post, size_t post_len,
                       int64_t from_ms, int64_t to_ms, struct ew_sample *out, size_t cap)
{
    size_t n = 0;
    if (cap == 0)
        return 0;
    if (cap > 64)
        cap = 64;
    if (!v->w) {
        for (size_t i = v->nsamples; i-- > 0 && n < cap;) {
            const struct ew_sample *s = &v->samples[i];
            const char *sp = v->sample_posts[i];
            if (s->ts < from_ms || s->ts > to_ms ||
                !sample_match(post, post_len, sp, sp ? strlen(sp) : 0))
                continue;
            out[n++] = *s;
        }
        return n;
    }
    /* Walk the account's events up to the trigger keeping the newest cap
     * matches in a ring, then return them newest first. */
    size_t seen = 0;
    for (uint32_t e = v->head; e != NONE; e = v->w->ev[e].next) {
        const struct wev *ev = &v->w->ev[e];
        if (ev->type == EW_EV_COMMENT && ev->ts >= from_ms && ev->ts <= to_ms &&
            sample_match(post, post_len, ev->post != NONE ? v->w->arena + ev->post : NULL,
                         ev->post_len)) {
            struct ew_sample *s = &out[seen % cap];
            s->id = ev->id != NONE ? v->w->arena + ev->id : "";
            s->id_len = ev->id != NONE ? ev->id_len : 0;
            s->actor = ev->actor != NONE ? v->w->arena + ev->actor : "";
            s->actor_len = ev->actor != NONE ? ev->actor_len : 0;
            s->text = ev->text != NONE ? v->w->arena + ev->text : "";
            s->text_len = ev->text != NONE ? ev->text_len : 0;
            s->ts = ev->ts;
            s->cls = (enum ew_text_class)ev->cls;
            seen++;
        }
        if (e == v->upto)
            break;
    }
    n = seen < cap ? seen : cap;
    /* ring -> newest first */
    struct ew_sample tmp[64];
    size_t m = n < 64 ? n : 64;
    for (size_t i = 0; i < m; i++)
        tmp[i] = out[(seen - 1 - i) % cap];
    memcpy(out, tmp, m * sizeof *tmp);
    return m;
}

/* ---- standalone views ---- */

struct ew_view *ew_view_new(const char *account, const struct ew_resolution *res, size_t nres)
{
    struct ew_view *v = calloc(1, sizeof *v);
    if (!v)
        return NULL;
    if (nres == 0 || nres > EW_MAX_RES)
        goto fail;
    v->own.smap = ew_hmap_new(sizeof(uint32_t));
    v->own_account = strdup(account);
    if (!v->own.smap || !v->own_account)
        goto fail;
    memcpy(v->own_res, res, nres * sizeof *res);
    v->res = v->own_res;
    v->nres = nres;
    v->account = v->own_account;
    v->account_len = strlen(account);
    v->st = &v->own;
    v->head = v->upto = NONE;
    return v;
fail:
    ew_view_free(v);
    return NULL;
}

void ew_view_free(struct ew_view *v)
{
    if (!v)
        return;
    st_free(&v->own);
    free(v->own_account);
    for (size_t i = 0; i < v->nsamples; i++) {
        free(v->sample_posts[i]);
        free((char *)v->samples[i].id);
        free((char *)v->samples[i].actor);
        free((char *)v->samples[i].text);
    }
    free(v->samples);
    free(v->sample_posts);
    free(v);
}

void ew_view_set_now(struct ew_view *v, int64_t now_ms, int64_t watermark_ms)
{
    v->now = now_ms;
    v->wm = watermark_ms;
}

/* The values of a bucket of a standalone view, created when absent. */
static int64_t *own_bucket(struct ew_view *v, size_t res, const char *post, int64_t idx)
{
    uint32_t sid = 0;
    if (post && !(sid = st_intern(&v->own, post, strlen(post), 1)))
        return NULL;
    return st_touch(&v->own, KEY_HI(K_BUCKET, res, sid), idx);
}

int ew_view_set_count(struct ew_view *v, enum ew_metric m, size_t res, const char *post,
                      int64_t idx, int64_t n)
{
    if (v->st != &v->own || res >= v->nres || (unsigned)m >= EW_M__COUNT)
        return -1;
    int64_t *x = own_bucket(v, res, post, idx);
    if (!x)
        return -1;
    x[m] = n;
    return 0;
}

int ew_view_add(struct ew_view *v, enum ew_metric m, const char *post, int64_t ts, int64_t n)
{
    if (v->st != &v->own || (unsigned)m >= EW_M__COUNT)
        return -1;
    for (size_t r = 0; r < v->nres; r++) {
        int64_t idx = floordiv(ts, v->res[r].bucket_ms), *x;
        if (!(x = own_bucket(v, r, NULL, idx)))
            return -1;
        x[m] += n;
        if (post) {
            if (!(x = own_bucket(v, r, post, idx)))
                return -1;
            x[m] += n;
        }
    }
    return 0;
}

int ew_view_set_post_time(struct ew_view *v, const char *post, int64_t ms)
{
    uint32_t sid;
    int64_t *x;
    if (v->st != &v->own || !(sid = st_intern(&v->own, post, strlen(post), 1)) ||
        !(x = st_touch(&v->own, KEY_HI(K_PT, 0, sid), 0)))
        return -1;
    x[0] = ms;
    return 0;
}

int ew_view_add_snapshot(struct ew_view *v, int64_t ts, int64_t followers)
{
    if (v->st != &v->own)
        return -1;
    int64_t idx = floordiv(ts, v->res[v->nres - 1].bucket_ms);
    int64_t *x = st_touch(&v->own, KEY_HI(K_SNAP, 0, 0), idx);
    if (!x)
        return -1;
    if (x[1] > ts)
        return 0; /* a later snapshot of the same bucket wins, as in the fold */
    x[0] = followers;
    x[1] = ts;
    return 0;
}

int ew_view_add_sample(struct ew_view *v, const char *post, const struct ew_sample *s)
{
    if (v->nsamples == v->scap) {
        size_t cap = v->scap ? v->scap * 2 : 16;
        struct ew_sample *ns = realloc(v->samples, cap * sizeof *ns);
        if (!ns)
            return -1;
        v->samples = ns;
        char **np = realloc(v->sample_posts, cap * sizeof *np);
        if (!np)
            return -1;
        v->sample_posts = np;
        v->scap = cap;
    }
    struct ew_sample c = *s;
    c.id = strndup(s->id ? s->id : "", s->id_len);
    c.actor = strndup(s->actor ? s->actor : "", s->actor_len);
    c.text = strndup(s->text ? s->text : "", s->text_len);
    char *p = post ? strdup(post) : NULL;
    if (!c.id || !c.actor || !c.text || (post && !p)) {
        free((char *)c.id);
        free((char *)c.actor);
        free((char *)c.text);
        free(p);
        return -1;
    }
    v->samples[v->nsamples] = c;
    v->sample_posts[v->nsamples] = p;
    v->nsamples++;
    return 0;
}
