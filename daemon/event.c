/* event — decode one event schema v1 JSON object into struct ew_event.
 *
 * The decoder is the daemon's front door: every byte of it comes from a producer we do not
 * control, so it is written to be fuzzed.  jscan (jscan.c) does the lexing in one pass: it
 * validates every byte of the input (UTF-8 included, skipped values included) and hands back
 * the values of the keys this file asks for; this file checks the schema.  jscan replaced
 * jansson here (tools/decodebench, whole decode: ~0.27M -> ~3M events/s; see jscan.c for why
 * not another library); the checks and the reject reasons stayed what they were.  The
 * strings an event keeps are copied into ev->priv (see struct decoder), so they outlive the
 * input buffer as the header promises.
 *
 * What the lexing rejects, and as what:
 *  - invalid UTF-8 anywhere (overlong, raw surrogates, above U+10FFFF, truncated): invalid_utf8;
 *  - a key twice in any object, also when spelled with an escape ("i\u0064"): duplicate_key
 *    (a second "account" must not silently win);
 *  - valid JSON that is not an object (`[]`, `"x"`, `1`): not_object, which says more than a
 *    syntax error;
 *  - everything else is bad_json: syntax, trailing garbage after the object (trailing
 *    whitespace is fine), a raw control byte in a string, a raw NUL byte anywhere, "\u0000" in
 *    any string (C consumers further down would truncate on it), a lone surrogate escape
 *    ("\ud800"), an integer beyond int64, a real beyond a double (1e400), nesting deeper than
 *    2048.
 *
 * Decisions the schema table leaves open, made here:
 *  - Check order: size of the message, JSON syntax, top-level object, `type`, then the fields in
 *    the order of field_table.  The first problem found is the one reported.
 *  - A known field that the event's type does not use (e.g. `post` on a follow) is type-checked
 *    when present (a number where a string belongs is wrong_type) but neither size-checked nor
 *    stored: ev keeps the "absent for ..." promises of the header.  Unknown fields are ignored.
 *  - null: for a required field it is wrong_type; for any other field it means absent.
 *  - Numbers: `ts`, `actor_created` and `followers` must be JSON integers.  A real such as
 *    1.5e12, 1e3 or 3.0 is wrong_type (the schema says integer; guessing at rounding would hide
 *    producer bugs).  An integer beyond int64 fails the lexing: bad_json.
 *  - Event times (ts, actor_created), as integers or RFC 3339 strings, must lie in
 *    1970-01-01T00:00:00.000Z .. 9999-12-31T23:59:59.999Z, else bad_timestamp.
 */
#include "engwatch/event.h"

#include "engwatch/jscan.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define TS_MIN_MS INT64_C(0)
#define TS_MAX_MS INT64_C(253402300799999) /* 9999-12-31T23:59:59.999Z */

/* Bytes of an offending value quoted in a message; the buffer adds room for "..." and NUL. */
#define EXCERPT_MAX 40
#define EXCERPT_BUF (EXCERPT_MAX + 4)

static const char *const type_names[EW_EV__COUNT] = {
    [EW_EV_COMMENT] = "comment", [EW_EV_LIKE] = "like",         [EW_EV_SHARE] = "share",
    [EW_EV_FOLLOW] = "follow",   [EW_EV_UNFOLLOW] = "unfollow", [EW_EV_POST] = "post",
    [EW_EV_PROFILE] = "profile",
};

static const char *const reject_names[EW_REJ__COUNT] = {
    [EW_REJ_NONE] = "none",
    [EW_REJ_OVERSIZE_MESSAGE] = "oversize_message",
    [EW_REJ_INVALID_UTF8] = "invalid_utf8",
    [EW_REJ_BAD_JSON] = "bad_json",
    [EW_REJ_DUPLICATE_KEY] = "duplicate_key",
    [EW_REJ_NOT_OBJECT] = "not_object",
    [EW_REJ_MISSING_FIELD] = "missing_field",
    [EW_REJ_WRONG_TYPE] = "wrong_type",
    [EW_REJ_UNKNOWN_TYPE] = "unknown_type",
    [EW_REJ_BAD_TIMESTAMP] = "bad_timestamp",
    [EW_REJ_EMPTY_FIELD] = "empty_field",
    [EW_REJ_OVERSIZE_FIELD] = "oversize_field",
    [EW_REJ_NEGATIVE_FOLLOWERS] = "negative_followers",
};

/* ---- the schema, as a table ------------------------------------------------------------- */

#define TBIT(t)   (1u << (t))
#define ALL_TYPES ((1u << EW_EV__COUNT) - 1u)
#define ACTOR_TYPES                                                                                \
    (TBIT(EW_EV_COMMENT) | TBIT(EW_EV_LIKE) | TBIT(EW_EV_SHARE) | TBIT(EW_EV_FOLLOW) |             \
     TBIT(EW_EV_UNFOLLOW))
#define POST_TYPES (TBIT(EW_EV_COMMENT) | TBIT(EW_EV_LIKE) | TBIT(EW_EV_SHARE) | TBIT(EW_EV_POST))

enum field_kind {
    FK_STRING, /* -> struct ew_str; bounded by the limit at lim_off */
    FK_TIME,   /* -> int64_t epoch ms; integer or RFC 3339 string */
    FK_COUNT,  /* -> int64_t; integer >= 0 */
};

struct field_spec {
    const char *name;
    enum field_kind kind;
    unsigned required; /* TBIT mask of the types that require the field */
    unsigned stored;   /* TBIT mask of the types for which it lands in ev */
    int may_be_empty;  /* FK_STRING: "" allowed */
    size_t ev_off;     /* where it lands in struct ew_event */
    size_t lim_off;    /* FK_STRING: its size bound in struct ew_event_limits */
};

/* `type` is decoded before this table is walked (the masks need it). */
static const struct field_spec field_table[] = {
    {"id", FK_STRING, ALL_TYPES, ALL_TYPES, 0, offsetof(struct ew_event, id),
     offsetof(struct ew_event_limits, max_id)},
    {"ts", FK_TIME, ALL_TYPES, ALL_TYPES, 0, offsetof(struct ew_event, ts_ms), 0},
    {"account", FK_STRING, ALL_TYPES, ALL_TYPES, 0, offsetof(struct ew_event, account),
     offsetof(struct ew_event_limits, max_name)},
    {"actor", FK_STRING, ACTOR_TYPES, ACTOR_TYPES, 0, offsetof(struct ew_event, actor),
     offsetof(struct ew_event_limits, max_name)},
    {"post", FK_STRING, POST_TYPES, POST_TYPES, 0, offsetof(struct ew_event, post),
     offsetof(struct ew_event_limits, max_name)},
    {"text", FK_STRING, TBIT(EW_EV_COMMENT), TBIT(EW_EV_COMMENT), 1,
     offsetof(struct ew_event, text), offsetof(struct ew_event_limits, max_text)},
    {"followers", FK_COUNT, TBIT(EW_EV_PROFILE), TBIT(EW_EV_PROFILE), 0,
     offsetof(struct ew_event, followers), 0},
    {"actor_created", FK_TIME, 0, ALL_TYPES, 0, offsetof(struct ew_event, actor_created_ms), 0},
};

#define NFIELDS (sizeof field_table / sizeof field_table[0])

/* The keys jscan looks for: `type`, then field_table's names in its order, so that vals[0] is
 * the type and vals[1 + i] answers field_table[i]. */
#define KEY(s) s, sizeof(s) - 1 /* a struct ew_js_key's members */
static const struct ew_js_key scan_keys[] = {
    {KEY("type")}, {KEY("id")},   {KEY("ts")},        {KEY("account")},       {KEY("actor")},
    {KEY("post")}, {KEY("text")}, {KEY("followers")}, {KEY("actor_created")},
};
#undef KEY
_Static_assert(sizeof scan_keys / sizeof scan_keys[0] == 1 + NFIELDS,
               "scan_keys: type plus one key per field_table row");

/* ev->priv: what the ew_str fields point into, and jscan's scratch.  One allocation, kept
 * from one successful decode to the next (freed by ew_event_clear, and on a reject, which
 * leaves the event empty); it only grows, to the longest message seen. */
struct decoder {
    size_t cap;        /* longest message it has room for */
    uint64_t seed;     /* jscan's duplicate-key hash seed */
    char *arena;       /* copies of the stored strings: cap bytes */
    size_t arena_used; /* bytes of arena in use */
    void *scratch;     /* jscan's: ew_js_scratch_size(cap) bytes */
    size_t scratch_size;
};

/* ---- messages ---------------------------------------------------------------------------- */

static int reject(struct ew_decode_error *err, enum ew_reject reason, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Fill err (when given) and return -1, so a reject is one `return reject(...)`. */
static int reject(struct ew_decode_error *err, enum ew_reject reason, const char *fmt, ...)
{
    va_list ap;

    if (!err) return -1;
    err->reason = reason;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return -1;
}

/* Length of the well-formed UTF-8 sequence at s[0..n), or 0 (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF).  Strict, because messages quote raw input near an
 * error, which may be anything. */
static size_t utf8_seq_len(const unsigned char *s, size_t n)
{
    unsigned lo = 0x80, hi = 0xBF;
    size_t need, i;

    if (s[0] >= 0xC2 && s[0] <= 0xDF)
        need = 2;
    else if (s[0] >= 0xE0 && s[0] <= 0xEF)
        need = 3;
    else if (s[0] >= 0xF0 && s[0] <= 0xF4)
        need = 4;
    else
        return 0;
    if (need > n) return 0;
    if (s[0] == 0xE0) lo = 0xA0;
    if (s[0] == 0xED) hi = 0x9F;
    if (s[0] == 0xF0) lo = 0x90;
    if (s[0] == 0xF4) hi = 0x8F;
    if (s[1] < lo || s[1] > hi) return 0;
    for (i = 1; i < need; i++)
        if ((s[i] & 0xC0) != 0x80) return 0;
    /* C1 controls (U+0080..U+009F) drive terminals just like C0 ones. */
    if (s[0] == 0xC2 && s[1] <= 0x9F) return 0;
    return need;
}

/* Copy at most max bytes of s[0..len) into out (size outsz >= 4) in a form safe to print in a
 * log line: control bytes and broken UTF-8 become '?', a cut never splits a character, and
 * "..." marks a cut. */
static void excerpt(char *out, size_t outsz, const char *s, size_t len, size_t max)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, o = 0, n;

    if (max + 4 > outsz) max = outsz - 4;
    while (i < len) {
        n = 1;
        if (u[i] >= 0x80) n = utf8_seq_len(u + i, len - i);
        if (o + (n ? n : 1) > max) {
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
        if (n == 0 || (n == 1 && (u[i] < 0x20 || u[i] == 0x7F))) {
            out[o++] = '?';
            i++;
        } else {
            memcpy(out + o, s + i, n);
            o += n;
            i += n;
        }
    }
    out[o] = '\0';
}

/* Describe a JSON value for a "(got ...)" clause. */
static void describe(char *out, size_t outsz, const struct ew_js_value *v)
{
    char ex[EXCERPT_BUF];
    double d = 0;

    switch (v->type) {
    case EW_JS_OBJECT:
        snprintf(out, outsz, "an object");
        break;
    case EW_JS_ARRAY:
        snprintf(out, outsz, "an array");
        break;
    case EW_JS_STRING:
        excerpt(ex, sizeof ex, v->ptr, v->len, EXCERPT_MAX);
        snprintf(out, outsz, "string '%s'", ex);
        break;
    case EW_JS_INT:
        snprintf(out, outsz, "integer %" PRId64, v->i);
        break;
    case EW_JS_REAL:
        (void)ew_js_real(v, &d);
        snprintf(out, outsz, "real %g", d);
        break;
    case EW_JS_TRUE:
        snprintf(out, outsz, "true");
        break;
    case EW_JS_FALSE:
        snprintf(out, outsz, "false");
        break;
    default:
        snprintf(out, outsz, "null");
        break;
    }
}

/* Line and column (both from 1; the column counts characters, not bytes) of byte pos. */
static void line_column(const char *buf, size_t pos, size_t *line, size_t *column)
{
    size_t i;

    *line = 1;
    *column = 1;
    for (i = 0; i < pos; i++) {
        if (buf[i] == '\n') {
            ++*line;
            *column = 1;
        } else if (((unsigned char)buf[i] & 0xC0) != 0x80) {
            ++*column;
        }
    }
}

/* Map a jscan failure onto a reject reason. */
static int reject_scan(struct ew_decode_error *err, enum ew_js_status st,
                       const struct ew_js_error *je, const char *buf, size_t len)
{
    char got[EXCERPT_BUF + 16], near[32];
    size_t line, column;

    if (st == EW_JS_E_NOT_OBJECT) {
        describe(got, sizeof got, &je->value);
        return reject(err, EW_REJ_NOT_OBJECT, "event must be a JSON object (got %s)", got);
    }
    if (st == EW_JS_E_UTF8)
        return reject(err, EW_REJ_INVALID_UTF8,
                      "invalid UTF-8 at byte %zu: unable to decode byte 0x%02x", je->pos,
                      je->pos < len ? (unsigned char)buf[je->pos] : 0);
    line_column(buf, je->pos, &line, &column);
    if (st == EW_JS_E_DUPLICATE) {
        excerpt(got, sizeof got, je->value.ptr, je->value.len, EXCERPT_MAX);
        return reject(err, EW_REJ_DUPLICATE_KEY, "duplicate key at line %zu column %zu: '%s'", line,
                      column, got);
    }
    if (je->pos >= len)
        return reject(err, EW_REJ_BAD_JSON, "bad JSON at line %zu column %zu: %s at end of input",
                      line, column, je->what);
    excerpt(near, sizeof near, buf + je->pos, len - je->pos < 24 ? len - je->pos : 24, 16);
    return reject(err, EW_REJ_BAD_JSON, "bad JSON at line %zu column %zu: %s near '%s'", line,
                  column, je->what, near);
}

static int reject_wrong_type(struct ew_decode_error *err, const char *field, const char *want,
                             const struct ew_js_value *v)
{
    char got[EXCERPT_BUF + 16];

    describe(got, sizeof got, v);
    return reject(err, EW_REJ_WRONG_TYPE, "field '%s' must be %s (got %s)", field, want, got);
}

/* ---- timestamps -------------------------------------------------------------------------- */

static int parse_digits(const char *s, size_t n, int *out)
{
    int v = 0;
    size_t i;

    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

static int is_leap_year(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
    static const unsigned char dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

    return m == 2 && is_leap_year(y) ? 29 : dim[m - 1];
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (Howard Hinnant's
 * days_from_civil): pure arithmetic, so no timegm(), TZ or locale can change the answer.
 * The year is shifted to start in March so the leap day falls at the end. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    int64_t era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* RFC 3339 date-time: YYYY-MM-DD('T'|'t'|' ')HH:MM:SS[.frac]('Z'|'z'|(+|-)HH:MM).
 * The fraction may have any number of digits; it is truncated to milliseconds.  A leap second
 * (SS = 60) is accepted and read as HH:MM:59.999, the last millisecond we can represent before
 * the next minute, so event order is kept.  Any year 0000..9999 parses; range policy is the
 * caller's. */
int ew_parse_rfc3339(const char *s, size_t len, int64_t *out_ms)
{
    int y, mo, d, h, mi, sec, oh, om, ms = 0, off_s = 0;
    size_t i, start, k;

    /* "YYYY-MM-DDTHH:MM:SSZ" is the shortest valid form: 20 bytes. */
    if (!s || !out_ms || len < 20) return -1;
    if (parse_digits(s, 4, &y) || s[4] != '-' || parse_digits(s + 5, 2, &mo) || s[7] != '-' ||
        parse_digits(s + 8, 2, &d))
        return -1;
    if (s[10] != 'T' && s[10] != 't' && s[10] != ' ') return -1;
    if (parse_digits(s + 11, 2, &h) || s[13] != ':' || parse_digits(s + 14, 2, &mi) ||
        s[16] != ':' || parse_digits(s + 17, 2, &sec))
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || sec > 60)
        return -1;
    i = 19;
    if (s[i] == '.') {
        start = ++i;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            if (i - start < 3) ms = ms * 10 + (s[i] - '0');
            i++;
        }
        if (i == start) return -1;
        for (k = i - start; k < 3; k++)
            ms *= 10;
    }
    if (i >= len) return -1;
    if (s[i] == 'Z' || s[i] == 'z') {
        i++;
    } else if (s[i] == '+' || s[i] == '-') {
        if (len - i < 6 || parse_digits(s + i + 1, 2, &oh) || s[i + 3] != ':' ||
            parse_digits(s + i + 4, 2, &om) || oh > 23 || om > 59)
            return -1;
        /* local = UTC + offset, so UTC = local - offset. */
        off_s = (oh * 60 + om) * 60;
        if (s[i] == '-') off_s = -off_s;
        i += 6;
    } else {
        return -1;
    }
    if (i != len) return -1;
    if (sec == 60) {
        sec = 59;
        ms = 999;
    }
    *out_ms = (days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - off_s) * 1000 + ms;
    return 0;
}

/* Decode an event time (integer epoch ms or RFC 3339 string) within TS_MIN_MS..TS_MAX_MS. */
static int decode_time(const struct ew_js_value *v, const char *field, int64_t *out,
                       struct ew_decode_error *err)
{
    char ex[EXCERPT_BUF];
    int64_t ms;

    if (v->type == EW_JS_INT) {
        ms = v->i;
        if (ms < TS_MIN_MS || ms > TS_MAX_MS)
            return reject(err, EW_REJ_BAD_TIMESTAMP,
                          "bad timestamp %" PRId64 " (field '%s'): outside years 1970..9999", ms,
                          field);
        *out = ms;
        return 0;
    }
    if (v->type == EW_JS_STRING) {
        if (ew_parse_rfc3339(v->ptr, v->len, &ms) == 0 && ms >= TS_MIN_MS && ms <= TS_MAX_MS) {
            *out = ms;
            return 0;
        }
        excerpt(ex, sizeof ex, v->ptr, v->len, EXCERPT_MAX);
        return reject(err, EW_REJ_BAD_TIMESTAMP, "bad timestamp '%s' (field '%s')", ex, field);
    }
    return reject_wrong_type(err, field, "epoch ms (integer) or an RFC 3339 string", v);
}

/* ---- fields ------------------------------------------------------------------------------ */

/* Check one present, non-null field; store it in ev when `store` (the type uses it), else only
 * check its JSON type.  A stored string is copied into dec's arena. */
static int decode_field(struct ew_event *ev, const struct field_spec *f,
                        const struct ew_js_value *v, int store, const struct ew_event_limits *lim,
                        struct decoder *dec, struct ew_decode_error *err)
{
    char *dst = (char *)ev + f->ev_off;
    struct ew_str *str;
    size_t n, max;
    int64_t count;

    switch (f->kind) {
    case FK_STRING:
        if (v->type != EW_JS_STRING) return reject_wrong_type(err, f->name, "a string", v);
        if (!store) return 0;
        n = v->len;
        if (n == 0 && !f->may_be_empty)
            return reject(err, EW_REJ_EMPTY_FIELD, "field '%s' is empty", f->name);
        memcpy(&max, (const char *)lim + f->lim_off, sizeof max);
        if (n > max)
            return reject(err, EW_REJ_OVERSIZE_FIELD, "field '%s' is %zu bytes (max %zu)", f->name,
                          n, max);
        /* The arena holds cap >= len bytes and the stored strings are distinct parts of the
         * message, none longer unescaped than escaped: it cannot run out. */
        str = (struct ew_str *)(void *)dst;
        str->ptr = dec->arena + dec->arena_used;
        str->len = n;
        memcpy(dec->arena + dec->arena_used, v->ptr, n);
        dec->arena_used += n;
        return 0;
    case FK_TIME:
        if (!store)
            return v->type == EW_JS_INT || v->type == EW_JS_STRING
                       ? 0
                       : reject_wrong_type(err, f->name, "epoch ms (integer) or an RFC 3339 string",
                                           v);
        return decode_time(v, f->name, (int64_t *)(void *)dst, err);
    case FK_COUNT:
        if (v->type != EW_JS_INT) return reject_wrong_type(err, f->name, "an integer >= 0", v);
        if (!store) return 0;
        count = v->i;
        if (count < 0)
            return reject(err, EW_REJ_NEGATIVE_FOLLOWERS,
                          "field '%s' must be an integer >= 0 (got %" PRId64 ")", f->name, count);
        *(int64_t *)(void *)dst = count;
        return 0;
    }
    return -1;
}

/* vals: jscan's answers for scan_keys. */
static int decode_object(struct ew_event *ev, const struct ew_js_value *vals,
                         const struct ew_event_limits *lim, struct decoder *dec,
                         struct ew_decode_error *err)
{
    const struct field_spec *f;
    const struct ew_js_value *v;
    enum ew_event_type type;
    unsigned bit;
    char ex[EXCERPT_BUF];
    size_t i;

    v = &vals[0];
    if (v->type == EW_JS_ABSENT) return reject(err, EW_REJ_MISSING_FIELD, "missing field 'type'");
    if (v->type != EW_JS_STRING) return reject_wrong_type(err, "type", "a string", v);
    if (ew_event_type_from(v->ptr, v->len, &type) != 0) {
        excerpt(ex, sizeof ex, v->ptr, v->len, EXCERPT_MAX);
        return reject(err, EW_REJ_UNKNOWN_TYPE, "unknown type '%s'", ex);
    }
    ev->type = type;
    bit = TBIT(type);

    for (i = 0; i < NFIELDS; i++) {
        f = &field_table[i];
        v = &vals[1 + i];
        if (v->type == EW_JS_ABSENT || (v->type == EW_JS_NULL && !(f->required & bit))) {
            if (!(f->required & bit)) continue;
            if (f->required == ALL_TYPES)
                return reject(err, EW_REJ_MISSING_FIELD, "missing field '%s'", f->name);
            return reject(err, EW_REJ_MISSING_FIELD, "missing field '%s' (required for type '%s')",
                          f->name, type_names[type]);
        }
        if (decode_field(ev, f, v, (f->stored & bit) != 0, lim, dec, err) != 0) return -1;
    }
    return 0;
}

/* A random seed for the duplicate-key hash; the clock and an address when the kernel has no
 * entropy to give (the seed only needs to be unknown to a sender). */
static uint64_t new_seed(const void *p)
{
    struct timespec ts;
    uint64_t seed;

    if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) == (ssize_t)sizeof seed) return seed;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ((uint64_t)ts.tv_sec * 1000000007u) ^ (uint64_t)ts.tv_nsec ^ (uint64_t)(uintptr_t)p;
}

/* A decoder with room for a message of len bytes (old, when big enough), or NULL. */
static struct decoder *decoder_for(struct decoder *old, size_t len)
{
    struct decoder *d;
    size_t cap = 256, scratch, arena;

    if (old && old->cap >= len) return old;
    free(old);
    while (cap < len)
        cap *= 2;
    scratch = ew_js_scratch_size(cap);
    if (scratch == 0) return NULL;
    arena = (cap + 15) & ~(size_t)15;
    d = malloc(sizeof *d + 16 + arena + scratch);
    if (!d) return NULL;
    d->cap = cap;
    d->seed = new_seed(d);
    d->arena = (char *)d + ((sizeof *d + 15) & ~(size_t)15);
    d->arena_used = 0;
    d->scratch = d->arena + arena;
    d->scratch_size = scratch;
    return d;
}

/* ---- public ------------------------------------------------------------------------------ */

void ew_event_init(struct ew_event *ev)
{
    if (!ev) return;
    memset(ev, 0, sizeof *ev);
    /* The header's "absent" values, so an undecoded event reads as empty rather than as a
     * profile with 0 followers created at the epoch. */
    ev->followers = -1;
    ev->actor_created_ms = INT64_MIN;
}

void ew_event_clear(struct ew_event *ev)
{
    if (!ev) return;
    free(ev->priv);
    ew_event_init(ev);
}

int ew_event_decode(struct ew_event *ev, const char *buf, size_t len,
                    const struct ew_event_limits *lim, struct ew_decode_error *err)
{
    static const struct ew_event_limits default_limits = EW_EVENT_LIMITS_DEFAULT;
    struct ew_js_value vals[1 + NFIELDS];
    struct ew_js_error je;
    enum ew_js_status st;
    struct decoder *dec;

    if (err) {
        err->reason = EW_REJ_NONE;
        err->msg[0] = '\0';
    }
    if (!ev) return reject(err, EW_REJ_BAD_JSON, "no event to decode into");
    /* Forget the previous event but keep its storage for this one. */
    dec = ev->priv;
    ew_event_init(ev);
    ev->priv = dec;
    if (!lim) lim = &default_limits;
    /* Before scanning: an oversize message must cost nothing. */
    if (len > lim->max_message) {
        reject(err, EW_REJ_OVERSIZE_MESSAGE, "message is %zu bytes (max %zu)", len,
               lim->max_message);
        goto fail;
    }
    if (!buf || len == 0) {
        reject(err, EW_REJ_BAD_JSON, "empty message");
        goto fail;
    }
    dec = decoder_for(dec, len);
    ev->priv = dec;
    if (!dec) {
        reject(err, EW_REJ_BAD_JSON, "bad JSON: out of memory for a %zu-byte message", len);
        goto fail;
    }
    st = ew_js_scan(scan_keys, 1 + NFIELDS, buf, len, dec->scratch, dec->scratch_size, dec->seed,
                    vals, &je);
    if (st != EW_JS_OK) {
        reject_scan(err, st, &je, buf, len);
        goto fail;
    }
    dec->arena_used = 0;
    if (decode_object(ev, vals, lim, dec, err) != 0) goto fail;
    return 0;
fail:
    ew_event_clear(ev);
    return -1;
}

const char *ew_event_type_name(enum ew_event_type t)
{
    return (unsigned)t < EW_EV__COUNT ? type_names[t] : "unknown";
}

int ew_event_type_from(const char *s, size_t len, enum ew_event_type *out)
{
    unsigned t;

    if (!s || !out) return -1;
    for (t = 0; t < EW_EV__COUNT; t++) {
        if (strlen(type_names[t]) == len && memcmp(type_names[t], s, len) == 0) {
            *out = (enum ew_event_type)t;
            return 0;
        }
    }
    return -1;
}

const char *ew_reject_name(enum ew_reject r)
{
    return (unsigned)r < EW_REJ__COUNT ? reject_names[r] : "unknown";
}
