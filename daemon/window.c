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

/* Every field of an account's hash is held as one of these while folding: a
 * bucket field ("R:I" or "R:I:POST") packs all metrics of the bucket, in enum
 * ew_metric order, stored in Redis as "c,h,d,k,l,s,f,n,u,p" with trailing
 * zeros left out; a follower snapshot "F:I" is "followers,ts"; any other field
 * (wm, x, pt:POST, R*) is one integer in v[0]. */
struct val {
    int64_t v[EW_M__COUNT];
    int64_t dead_at; /* the watermark at which the field leaves its retention (see
                        expiry_of; INT64_MAX: never), worked out once per field */
    uint32_t off, len; /* snap: the field's bytes in the state it was loaded from
                          (w->src; len 0: to be encoded anew) */
    uint8_t over;      /* snap: written over in vals; vals: also in snap */
};

static int is_bucket_field(const char *f) { return f[0] >= '0' && f[0] <= '9'; }
/* Fields stored as a comma-separated list (buckets and follower snapshots). */
static int is_packed(const char *f, size_t len)
{
    return len && (is_bucket_field(f) || (len >= 2 && f[0] == 'F' && f[1] == ':'));
}
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

/* The state cache: an account's hash as the last successful fold left it,
 * serialised compactly (per field: varint key length, key, varint count of
 * values, zigzag varint values; about a fifth of the parsed map's size).
 * blob == NULL: evicted (the key stays in the cache map until it is
 * compacted). */
struct cent {
    unsigned char *blob;
    size_t len;
    uint64_t used;    /* batch number of the last use */
    int64_t stamp_s;  /* monotonic seconds of the last fold */
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
    const unsigned char *src; /* the state w->snap was loaded from (valid during the fold) */
    size_t scap;

    /* fold scratch, cleared per account */
    struct ew_hmap *snap;  /* field -> struct val as read (the account being folded) */
    struct ew_hmap *vals;  /* field -> struct val as it will be written (touched fields only) */
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
    w->snap = ew_hmap_new(sizeof(struct val));
    w->cache_budget = (size_t)cfg->windows.state_cache_bytes;
    {
        const struct ew_resolution *c = &w->res[w->nres - 1];
        w->cache_ttl_s = (c->retention_ms + c->bucket_ms + w->lateness_ms) / 2000;
    }
    w->vals = ew_hmap_new(sizeof(struct val));
    w->fps = ew_hmap_new(sizeof(int64_t));
    w->seen = ew_hmap_new(1);
    if (!w->prefix || !w->accts || !w->cache || !w->snap || !w->vals || !w->fps || !w->seen)
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
    ew_hmap_free(w->snap);
    ew_hmap_free(w->accts);
    ew_hmap_free(w->vals);
    ew_hmap_free(w->fps);
    ew_hmap_free(w->seen);
    drop_copies(w);
    free(w->copy);
    free(w->load);
    free(w->add);
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
        free(c->blob);
        c->blob = NULL;
    }
    ew_hmap_clear(w->cache);
    w->cache_bytes = 0;
    w->cache_live = 0;
    w->cstats.bytes = 0;
    w->cstats.entries = 0;
}

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
            if (c->blob) {
                order[k][0] = c->used;
                order[k++][1] = i;
            }
        }
        qsort(order, k, sizeof *order, cmp_used);
        for (size_t j = 0; j < k && w->cache_bytes > w->cache_budget / 4 * 3; j++) {
            struct cent *c = ew_hmap_at(w->cache, (size_t)order[j][1], NULL, NULL);
            w->cache_bytes -= c->len;
            w->cache_live--;
            free(c->blob);
            c->blob = NULL;
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
            if (!c->blob)
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

/* One BITFIELD per slot the batch acted in, and its expiry: read by the
 * slots of the next actor_history, plus the allowed lateness. */
static int sketch_writes(struct ew_window *w, struct ew_cmdbuf *ops)
{
    if (!w->nslots || !w->nadd)
        return 0;
    char key[600];
    qsort(w->add, w->nadd, sizeof *w->add, cmp_add);
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
        a->cached = c && c->blob && now - c->stamp_s < w->cache_ttl_s;
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

static int64_t snap_get(struct ew_window *w, const char *f, size_t flen)
{
    struct val *v = ew_hmap_get(w->vals, f, flen);
    if (v)
        return v->v[0];
    v = ew_hmap_get(w->snap, f, flen);
    return v ? v->v[0] : 0;
}

/* The watermark from which field f[0..len) is stale: a bucket ("R:I...", or
 * a follower snapshot "F:I" of the coarsest resolution) past its
 * resolution's retention; INT64_MAX for the fields that do not expire so. */
static int64_t expiry_of(const struct ew_window *w, const char *f, size_t len)
{
    const struct ew_resolution *r;
    size_t i;
    if (len >= 3 && f[0] == 'F' && (f[1] == ':' || (f[1] == 't' && f[2] == ':'))) {
        /* "Ft:I" is the snapshot time of the layout before "F:I" held it: aged out alike */
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
    while (j < len && f[j] >= '0' && f[j] <= '9')
        j++;
    return (parse_i64(f + i, j - i) + 1) * r->bucket_ms + r->retention_ms;
}

static int stale(const struct val *v, int64_t wm) { return v->dead_at <= wm; }

/* The value this batch will write for field f, created from the snapshot. */
static struct val *touch(struct ew_window *w, const char *f, size_t flen)
{
    int created;
    struct val *slot = ew_hmap_upsert(w->vals, f, flen, &created);
    if (slot && created) {
        struct val *old = ew_hmap_get(w->snap, f, flen);
        if (old) {
            *slot = *old;
            old->over = slot->over = 1;
        } else {
            slot->dead_at = expiry_of(w, f, flen);
            slot->over = 0;
        }
    }
    return slot;
}

static int field_set(struct ew_window *w, const char *f, size_t flen, int64_t v)
{
    struct val *slot = touch(w, f, flen);
    if (!slot)
        return -1;
    slot->v[0] = v;
    return 0;
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

/* The field name "R:I" or "R:I:POST" (hot: called for every bucket a
 * detector reads, so no snprintf).  len must be >= 48. */
static int bucket_field(char *f, size_t len, size_t res, int64_t idx, const char *post,
                        size_t plen)
{
    size_t n = put_i64(f, (int64_t)res);
    f[n++] = ':';
    n += put_i64(f + n, idx);
    if (post) {
        f[n++] = ':';
        if (plen > len - n - 1)
            plen = len - n - 1;
        memcpy(f + n, post, plen);
        n += plen;
    }
    f[n] = '\0';
    return (int)n;
}

/* Add one to the decimal digits p[0..n) in place; 0 when that needs one more
 * digit (the caller formats anew). */
static int digits_up(char *p, size_t n)
{
    while (n--) {
        if (p[n] != '9') {
            p[n]++;
            return 1;
        }
        p[n] = '0';
    }
    return 0;
}

/* Count metric m for the account (and for post when given) at every resolution. */
static int count(struct ew_window *w, int m, int64_t ts, const char *post, size_t plen)
{
    char f[1400];
    for (size_t r = 0; r < w->nres; r++) {
        int64_t idx = floordiv(ts, w->res[r].bucket_ms);
        struct val *v = touch(w, f, (size_t)bucket_field(f, sizeof f, r, idx, NULL, 0));
        if (!v)
            return -1;
        v->v[m]++;
        if (post) {
            v = touch(w, f, (size_t)bucket_field(f, sizeof f, r, idx, post, plen));
            if (!v)
                return -1;
            v->v[m]++;
        }
    }
    return 0;
}


static int64_t risk_get(void *ctx, const char *f, int *found)
{
    struct ew_window *w = ctx;
    size_t l = strlen(f);
    struct val *v = ew_hmap_get(w->vals, f, l);
    if (!v)
        v = ew_hmap_get(w->snap, f, l);
    *found = v != NULL;
    return v ? v->v[0] : 0;
}

static int risk_set(void *ctx, const char *f, int64_t value)
{
    struct ew_window *w = ctx;
    size_t l = strlen(f);
    int found;
    if (risk_get(ctx, f, &found) == value && (found || value == 0))
        return 0; /* unchanged (or absent and zero): no write */
    return field_set(w, f, l, value);
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
    const struct ew_hmap *over, *base;
    /* samples from the fold: the account's events from head up to upto */
    const struct ew_window *w;
    uint32_t head, upto;
    /* standalone */
    struct ew_hmap *own;
    char *own_account;
    struct ew_resolution own_res[EW_MAX_RES];
    struct ew_sample *samples;
    char **sample_posts;
    size_t nsamples, scap;
};

static void view_for_fold(struct ew_view *v, const struct ew_window *w, const char *acct,
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

static int load_blob(struct ew_window *w, const unsigned char *p, size_t len);

/* The account's state as GET returned it: nil for an account without
 * state.  Expiries are worked out anew from the field names (the retention
 * may have changed since the state was written). */
static int read_snapshot(struct ew_window *w, const redisReply *r, const char *key)
{
    ew_hmap_clear(w->snap);
    if (r->type == REDIS_REPLY_NIL)
        return 0;
    if (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "WRONGTYPE", 9) == 0) {
        /* the hash layout of engwatch before state format 1: started afresh */
        EW_LOG_RL(EW_WARN, "window", "%s holds an account state of an earlier layout (not a "
                  "string): the account starts afresh", key);
        return 0;
    }
    if (r->type != REDIS_REPLY_STRING ||
        load_blob(w, (const unsigned char *)r->str, r->len) < 0)
        return -1;
    size_t n = ew_hmap_count(w->snap);
    for (size_t i = 0; i < n; i++) {
        const char *k;
        size_t kl;
        struct val *v = ew_hmap_at(w->snap, i, &k, &kl);
        int64_t dead = expiry_of(w, k, kl);
        if (dead != v->dead_at) { /* written under another retention */
            v->dead_at = dead;
            v->len = 0;
        }
    }
    return 0;
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

/* Is field fk of the snapshot (sv: its value there, NULL when it is only in
 * vals) deleted at watermark wm: a bucket past its retention, or a post's
 * publication time that left the coarsest retention without a new one. */
static int dropped(const struct ew_window *w, const char *fk, const struct val *sv, int64_t wm)
{
    const struct ew_resolution *coarse = &w->res[w->nres - 1];
    if (fk[0] == 'p' && strncmp(fk, "pt:", 3) == 0 && sv->v[0] + coarse->retention_ms <= wm &&
        !ew_hmap_get(w->vals, fk, strlen(fk)))
        return 1;
    return stale(sv, wm);
}

/* ---- the cache's serialised form ---- */

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

/* Append one field to w->sbuf at *len. */
static int put_field(struct ew_window *w, size_t *len, const char *k, size_t kl,
                     const struct val *v)
{
    int nv = 1;
    if (is_packed(k, kl))
        for (int m = 0; m < EW_M__COUNT; m++)
            if (v->v[m])
                nv = m + 1;
    if (sbuf_reserve(w, *len, kl + 10 + 10 + 1 + (size_t)nv * 10) < 0)
        return -1;
    unsigned char *p = w->sbuf + *len;
    p += put_varint(p, kl);
    memcpy(p, k, kl);
    p += kl;
    /* the expiry: 0 for none, else zigzag + 1 */
    p += put_varint(p, v->dead_at == INT64_MAX
                           ? 0
                           : (((uint64_t)v->dead_at << 1) ^ (uint64_t)(v->dead_at >> 63)) + 1);
    *p++ = (unsigned char)nv;
    for (int m = 0; m < nv; m++) {
        int64_t x = v->v[m];
        p += put_varint(p, ((uint64_t)x << 1) ^ (uint64_t)(x >> 63));
    }
    *len = (size_t)(p - w->sbuf);
    return 0;
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

/* A serialised state (cache entry or Redis value) into w->snap. */
static int load_blob(struct ew_window *w, const unsigned char *p, size_t len)
{
    const unsigned char *end = p + len;
    const char *k;
    size_t kl;
    struct val v;
    int rc;
    ew_hmap_clear(w->snap);
    if (len < 1 || *p++ != EW_STATE_VERSION)
        return -1;
    w->src = p - 1;
    for (const unsigned char *f = p; (rc = next_field(&p, end, &k, &kl, &v)) > 0; f = p) {
        struct val *slot = ew_hmap_upsert(w->snap, k, kl, NULL);
        if (!slot)
            return -1;
        *slot = v;
        slot->off = (uint32_t)(f - w->src);
        slot->len = (uint32_t)(p - f);
        slot->over = 0;
    }
    return rc;
}

int ew_state_each(const void *blob, size_t len,
                  int (*fn)(void *ctx, const char *f, size_t flen, const char *v, size_t vlen),
                  void *ctx)
{
    const unsigned char *p = blob, *end = p + len;
    const char *k;
    size_t kl;
    struct val v;
    int rc;
    if (len < 1 || *p++ != EW_STATE_VERSION)
        return -1;
    while ((rc = next_field(&p, end, &k, &kl, &v)) > 0) {
        char buf[EW_M__COUNT * 22];
        size_t bl = is_packed(k, kl) ? format_counts(&v, buf, sizeof buf) : put_i64(buf, v.v[0]);
        if (fn(ctx, k, kl, buf, bl))
            break;
    }
    return rc < 0 ? -1 : 0;
}

/* The account's state after the fold, serialised into w->sbuf[0..*out): the
 * snapshot with the values written over it, less the fields that left
 * their retention. */
static int serialise(struct ew_window *w, int64_t wm, size_t *out)
{
    size_t ns = ew_hmap_count(w->snap), nv = ew_hmap_count(w->vals), len = 1;
    if (sbuf_reserve(w, 0, 1) < 0)
        return -1;
    w->sbuf[0] = EW_STATE_VERSION;
    /* hot: a field the batch left alone is copied as it was read (runs of
       them in one copy); the others are encoded */
    size_t run = 0, run_len = 0;
    for (size_t i = 0; i <= ns; i++) {
        const char *fk = NULL;
        size_t fkl = 0;
        const struct val *sv = i < ns ? ew_hmap_at(w->snap, i, &fk, &fkl) : NULL;
        if (sv && dropped(w, fk, sv, wm))
            sv = NULL;
        else if (sv && !sv->over && sv->len) {
            if (run_len && run + run_len == sv->off) {
                run_len += sv->len;
                continue;
            }
        }
        if (run_len) {
            if (sbuf_reserve(w, len, run_len) < 0)
                return -1;
            memcpy(w->sbuf + len, w->src + run, run_len);
            len += run_len;
            run_len = 0;
        }
        if (!sv)
            continue;
        if (!sv->over && sv->len) {
            run = sv->off;
            run_len = sv->len;
            continue;
        }
        const struct val *over = sv->over ? ew_hmap_get(w->vals, fk, fkl) : NULL;
        if (put_field(w, &len, fk, fkl, over ? over : sv) < 0)
            return -1;
    }
    for (size_t i = 0; i < nv; i++) {
        const char *fk;
        size_t fkl;
        const struct val *v = ew_hmap_at(w->vals, i, &fk, &fkl);
        if (v->over || stale(v, wm))
            continue;
        if (put_field(w, &len, fk, fkl, v) < 0)
            return -1;
    }
    *out = len;
    return 0;
}

/* Keep the serialised state w->sbuf[0..len) as the account's cache entry. */
static int cache_store(struct ew_window *w, struct cent *ce, size_t len, int64_t now)
{
    unsigned char *b = realloc(ce->blob, len ? len : 1);
    if (!b)
        return -1;
    memcpy(b, w->sbuf, len);
    ce->blob = b;
    ce->len = len;
    ce->used = w->batch_no;
    ce->stamp_s = now;
    w->cache_bytes += len;
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
    int64_t now = ew_mono_ms() / 1000;
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
        if (a->cached) {
            if (!ce || !ce->blob || load_blob(w, ce->blob, ce->len) < 0) {
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
        ew_hmap_clear(w->vals);
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
                int fl = snprintf(f, sizeof f, "%" PRId64 ":%s", hour, hex);
                if (fv->type == REDIS_REPLY_STRING) {
                    int64_t *slot = ew_hmap_upsert(w->fps, f, (size_t)fl, NULL);
                    if (!slot)
                        return -1;
                    *slot = parse_i64(fv->str, fv->len);
                }
                fl = snprintf(f, sizeof f, "%" PRId64 ":a:%.*s", hour, (int)ce->actor_len,
                              ce->actor != NONE ? w->arena + ce->actor : "");
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
                char pf[1400];
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
                char mark[1500];
                int ml = snprintf(mark, sizeof mark, "w%s", f);
                if (!ew_hmap_upsert(w->seen, mark, (size_t)ml, NULL))
                    return -1;
                /* a new commenter: no comment on this account in this or the
                 * previous hour (distinct commenters over windows up to an hour
                 * are sums of this counter) */
                const char *actor = ev->actor != NONE ? w->arena + ev->actor : "";
                fl = snprintf(f, sizeof f, "%" PRId64 ":a:%.*s", h, (int)ev->actor_len, actor);
                pfl = snprintf(pf, sizeof pf, "%" PRId64 ":a:%.*s", h - 1, (int)ev->actor_len,
                               actor);
                if (fl >= (int)sizeof f || pfl >= (int)sizeof pf)
                    break;
                cur = ew_hmap_upsert(w->fps, f, (size_t)fl, NULL);
                prev = ew_hmap_get(w->fps, pf, (size_t)pfl);
                if (!cur)
                    return -1;
                if (*cur + (prev ? *prev : 0) == 0)
                    rc |= count(w, EW_M_NEW_COMMENTERS, ev->ts, post, plen);
                (*cur)++;
                ml = snprintf(mark, sizeof mark, "w%s", f);
                if (!ew_hmap_upsert(w->seen, mark, (size_t)ml, NULL))
                    return -1;
                break;
            }
            case EW_EV_LIKE:
                rc |= count(w, EW_M_LIKES, ev->ts, post, plen);
                if (ev->cls)
                    rc |= count(w, EW_M_RARE_LIKES, ev->ts, post, plen);
                break;
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
                struct val *had = ew_hmap_get(w->snap, f, (size_t)fl);
                struct val *now = ew_hmap_get(w->vals, f, (size_t)fl);
                int64_t cur = now ? now->v[0] : had ? had->v[0] : INT64_MAX;
                if (ev->ts < cur)
                    rc |= field_set(w, f, (size_t)fl, ev->ts);
                break;
            }
            case EW_EV_PROFILE: {
                /* the latest snapshot of each coarsest bucket: "F:I" = followers,ts */
                int64_t idx = floordiv(ev->ts, coarse->bucket_ms);
                f[0] = 'F';
                f[1] = ':';
                size_t fl = 2 + put_i64(f + 2, idx);
                const struct val *cur = ew_hmap_get(w->vals, f, fl);
                if (!cur)
                    cur = ew_hmap_get(w->snap, f, fl);
                if (!cur || cur->v[1] <= ev->ts) { /* an earlier one of the bucket changes nothing */
                    struct val *x = touch(w, f, fl);
                    if (!x) {
                        rc = -1;
                        break;
                    }
                    x->v[0] = ev->aux;
                    x->v[1] = ev->ts;
                }
                break;
            }
            default: break;
            }
            if (rc || (w->ndet && detect_at(w, name, nlen, a, e, wm, &rs, &rs_loaded) < 0))
                return -1;
        }
        if (!have_wm) { /* every event was late: nothing changes */
            if (ce && ce->blob)
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
         * retention, as one value; its expiry counts from this write. */
        if (wm != wm0 || !ew_hmap_get(w->snap, "wm", 2))
            field_set(w, "wm", 2, wm);
        size_t slen;
        if (serialise(w, wm, &slen) < 0 || ew_cmd_begin(ops, "SET") < 0 ||
            ew_cmd_str(ops, key) < 0 || ew_cmd_arg(ops, (const char *)w->sbuf, slen) < 0 ||
            ew_cmd_str(ops, "PX") < 0 ||
            ew_cmd_int(ops, coarse->retention_ms + coarse->bucket_ms + w->lateness_ms) < 0)
            return -1;

        /* Fingerprint counts per hour written by this batch. */
        size_t nfp = ew_hmap_count(w->fps);
        char cur_h[32] = "";
        for (size_t i = 0; i < nfp; i++) {
            const char *fk;
            size_t fkl;
            int64_t *v = ew_hmap_at(w->fps, i, &fk, &fkl);
            char mark[1500];
            int ml = snprintf(mark, sizeof mark, "w%s", fk);
            if (!ew_hmap_get(w->seen, mark, (size_t)ml))
                continue; /* read only, unchanged */
            const char *colon = strchr(fk, ':');
            char hour[32];
            snprintf(hour, sizeof hour, "%.*s", (int)(colon - fk), fk);
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
            if (ce->blob) {
                w->cache_bytes -= ce->len;
                w->cache_live--;
            }
            if (cache_store(w, ce, slen, now) < 0)
                return -1;
        }
    }
    return 0;
}

/* ---- the detectors' view ------------------------------------------------------------
 * During a fold the view reads the account's state through two maps: the
 * values this batch wrote (vals) over the values read (snap).  A standalone
 * view (tests) owns one map.  Counters are addressed by their Redis field
 * names, so the view and the stored layout cannot drift apart. */


static void view_for_fold(struct ew_view *v, const struct ew_window *w, const char *acct,
                          size_t alen, uint32_t head, uint32_t upto, int64_t now, int64_t wm)
{
    memset(v, 0, sizeof *v);
    v->account = acct;
    v->account_len = alen;
    v->res = w->res;
    v->nres = w->nres;
    v->now = now;
    v->wm = wm;
    v->over = w->vals;
    v->base = w->snap;
    v->w = w;
    v->head = head;
    v->upto = upto;
}

static const struct val *view_get(const struct ew_view *v, const char *f, size_t flen)
{
    const struct val *x = v->over ? ew_hmap_get(v->over, f, flen) : NULL;
    if (!x && v->base)
        x = ew_hmap_get(v->base, f, flen);
    return x;
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
    char f[1400];
    if (res >= v->nres || (unsigned)m >= EW_M__COUNT)
        return 0;
    int n = bucket_field(f, sizeof f, res, idx, post, post_len);
    const struct val *x = view_get(v, f, (size_t)n);
    return x ? x->v[m] : 0;
}

int64_t ew_view_sum(const struct ew_view *v, enum ew_metric m, size_t res, const char *post,
                    size_t post_len, int64_t from_ms, int64_t to_ms)
{
    if (res >= v->nres || to_ms < from_ms || (unsigned)m >= EW_M__COUNT)
        return 0;
    int64_t b = v->res[res].bucket_ms;
    int64_t lo = floordiv(from_ms, b), hi = floordiv(to_ms, b);
    /* never walk more buckets than the resolution keeps */
    int64_t keep = v->res[res].retention_ms / b + 1;
    if (hi - lo > keep)
        lo = hi - keep;
    int64_t sum = 0;
    char f[1400];
    for (int64_t i = lo; i <= hi; i++) {
        const struct val *x = view_get(v, f, (size_t)bucket_field(f, sizeof f, res, i, post,
                                                                   post_len));
        if (x)
            sum += x->v[m];
    }
    return sum;
}

void ew_view_sums(const struct ew_view *v, size_t res, const char *post, size_t post_len,
                  int64_t from_ms, int64_t to_ms, int64_t out[EW_M__COUNT])
{
    char f[1400];
    memset(out, 0, EW_M__COUNT * sizeof *out);
    if (res >= v->nres || to_ms < from_ms)
        return;
    int64_t b = v->res[res].bucket_ms;
    int64_t lo = floordiv(from_ms, b), hi = floordiv(to_ms, b);
    int64_t keep = v->res[res].retention_ms / b + 1;
    if (hi - lo > keep)
        lo = hi - keep;
    /* hot (every detector at every event): the key is formatted once and its index
       digits counted up in place */
    size_t n = 0, ds = 0, de = 0;
    for (int64_t i = lo; i <= hi; i++) {
        if (i == lo || i <= 0 || !digits_up(f + ds, de - ds)) {
            n = (size_t)bucket_field(f, sizeof f, res, i, post, post_len);
            ds = (size_t)(strchr(f, ':') - f) + 1;
            de = ds + (size_t)(i < 0);
            while (de < n && f[de] >= '0' && f[de] <= '9')
                de++;
        }
        const struct val *x = view_get(v, f, n);
        if (x)
            for (int m = 0; m < EW_M__COUNT; m++)
                out[m] += x->v[m];
    }
}

int64_t ew_view_post_time(const struct ew_view *v, const char *post, size_t post_len)
{
    char f[1400];
    int n = snprintf(f, sizeof f, "pt:%.*s", (int)post_len, post);
    if (n >= (int)sizeof f)
        n = (int)sizeof f - 1;
    const struct val *x = view_get(v, f, (size_t)n);
    return x ? x->v[0] : -1;
}

static size_t collect_posts(const struct ew_hmap *m, const struct ew_view *v,
                            struct ew_post_ref *out, size_t cap, size_t n, int skip_over)
{
    if (!m)
        return n;
    size_t cnt = ew_hmap_count(m);
    for (size_t i = 0; i < cnt; i++) {
        const char *k;
        size_t kl;
        struct val *val = ew_hmap_at(m, i, &k, &kl);
        if (kl < 4 || memcmp(k, "pt:", 3) != 0)
            continue;
        if (skip_over && v->over && ew_hmap_get(v->over, k, kl))
            continue; /* the newer value is in over */
        if (n < cap) {
            out[n].post = k + 3;
            out[n].post_len = kl - 3;
            out[n].published_ms = val->v[0];
        }
        n++;
    }
    return n;
}

size_t ew_view_posts(const struct ew_view *v, struct ew_post_ref *out, size_t cap)
{
    size_t n = collect_posts(v->over, v, out, cap, 0, 0);
    return collect_posts(v->base, v, out, cap, n, 1);
}

int ew_view_followers(const struct ew_view *v, int64_t at_ms, int64_t *followers,
                      int64_t *snap_ms)
{
    const struct ew_resolution *c = &v->res[v->nres - 1];
    int64_t hi = floordiv(at_ms, c->bucket_ms);
    int64_t lo = hi - c->retention_ms / c->bucket_ms;
    char f[48] = "F:";
    for (int64_t i = hi; i >= lo; i--) {
        /* hot (detectors look back up to the coarsest retention): no snprintf */
        size_t n = 2 + put_i64(f + 2, i);
        const struct val *x = view_get(v, f, n);
        if (!x || x->v[1] > at_ms || !x->v[1])
            continue; /* none in this bucket, or only a later one (in the current bucket), or
                         one of the older layout without its time */
        *followers = x->v[0];
        *snap_ms = x->v[1];
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
    if (!v || nres == 0 || nres > EW_MAX_RES)
        goto fail;
    v->own = ew_hmap_new(sizeof(struct val));
    v->own_account = strdup(account);
    if (!v->own || !v->own_account)
        goto fail;
    memcpy(v->own_res, res, nres * sizeof *res);
    v->res = v->own_res;
    v->nres = nres;
    v->account = v->own_account;
    v->account_len = strlen(account);
    v->over = v->own;
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
    ew_hmap_free(v->own);
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

/* Set (add = 0) or add to metric m (v[0] for plain fields) of field f. */
static int own_set(struct ew_view *v, const char *f, size_t flen, int m, int64_t val, int add)
{
    struct val *x = ew_hmap_upsert(v->own, f, flen, NULL);
    if (!x)
        return -1;
    x->v[m] = add ? x->v[m] + val : val;
    return 0;
}

int ew_view_set_count(struct ew_view *v, enum ew_metric m, size_t res, const char *post,
                      int64_t idx, int64_t n)
{
    char f[1400];
    if (!v->own || res >= v->nres || (unsigned)m >= EW_M__COUNT)
        return -1;
    int l = bucket_field(f, sizeof f, res, idx, post, post ? strlen(post) : 0);
    return own_set(v, f, (size_t)l, m, n, 0);
}

int ew_view_add(struct ew_view *v, enum ew_metric m, const char *post, int64_t ts, int64_t n)
{
    char f[1400];
    if (!v->own || (unsigned)m >= EW_M__COUNT)
        return -1;
    for (size_t r = 0; r < v->nres; r++) {
        int64_t idx = floordiv(ts, v->res[r].bucket_ms);
        int l = bucket_field(f, sizeof f, r, idx, NULL, 0);
        if (own_set(v, f, (size_t)l, m, n, 1) < 0)
            return -1;
        if (post) {
            l = bucket_field(f, sizeof f, r, idx, post, strlen(post));
            if (own_set(v, f, (size_t)l, m, n, 1) < 0)
                return -1;
        }
    }
    return 0;
}

int ew_view_set_post_time(struct ew_view *v, const char *post, int64_t ms)
{
    char f[1400];
    if (!v->own)
        return -1;
    int l = snprintf(f, sizeof f, "pt:%s", post);
    return own_set(v, f, (size_t)(l < (int)sizeof f ? l : (int)sizeof f - 1), 0, ms, 0);
}

int ew_view_add_snapshot(struct ew_view *v, int64_t ts, int64_t followers)
{
    char f[48];
    if (!v->own)
        return -1;
    int64_t idx = floordiv(ts, v->res[v->nres - 1].bucket_ms);
    int l = snprintf(f, sizeof f, "F:%" PRId64, idx);
    const struct val *t = ew_hmap_get(v->own, f, (size_t)l);
    if (t && t->v[1] > ts)
        return 0; /* a later snapshot of the same bucket wins, as in the fold */
    if (own_set(v, f, (size_t)l, 1, ts, 0) < 0)
        return -1;
    return own_set(v, f, (size_t)l, 0, followers, 0);
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
