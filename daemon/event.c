/* event — decode one event schema v1 JSON object into struct ew_event.
 *
 * The decoder is the daemon's front door: every byte of it comes from a producer we do not
 * control, so it is written to be fuzzed.  jansson does the lexing and the UTF-8 validation
 * (it validates every byte of the input, not only string contents); this file checks the
 * schema.  The parsed json_t tree is kept in ev->priv so the ew_str fields can borrow the
 * strings jansson already holds: one parse, no copies.
 *
 * Parsing flags: JSON_REJECT_DUPLICATES (a second "account" must not silently win),
 * JSON_DECODE_ANY (so `[]`, `"x"` and `1` parse and are then rejected as not_object, which says
 * more than a syntax error), no JSON_ALLOW_NUL (a "\u0000" in any string is bad_json: C
 * consumers further down would truncate on it), no JSON_DISABLE_EOF_CHECK (trailing garbage
 * after the object is bad_json; trailing whitespace is fine).
 *
 * Decisions the schema table leaves open, made here:
 *  - Check order: size of the message, JSON syntax, top-level object, `type`, then the fields in
 *    the order of field_table.  The first problem found is the one reported.
 *  - A known field that the event's type does not use (e.g. `post` on a follow) is type-checked
 *    when present (a number where a string belongs is wrong_type) but neither size-checked nor
 *    stored: ev keeps the "absent for ..." promises of the header.  Unknown fields are ignored.
 *  - null: for a required field it is wrong_type; for any other field it means absent.
 *  - Numbers: `ts`, `actor_created` and `followers` must be JSON integers.  A real such as
 *    1.5e12 or 3.0 is wrong_type (the schema says integer; guessing at rounding would hide
 *    producer bugs).  An integer jansson cannot hold (beyond int64) fails the parse: bad_json.
 *  - Event times (ts, actor_created), as integers or RFC 3339 strings, must lie in
 *    1970-01-01T00:00:00.000Z .. 9999-12-31T23:59:59.999Z, else bad_timestamp.
 *  - A lone surrogate escape ("\ud800") is rejected by jansson as a syntax error: bad_json.
 */
#include "engwatch/event.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

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

/* Length of the well-formed UTF-8 sequence at s[0..n), or 0.  Only what printing needs: the
 * lead byte's length and continuation bytes (jansson has already validated values; this also
 * guards text that was cut, such as jansson's own error text). */
static size_t utf8_seq_len(const unsigned char *s, size_t n)
{
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
static void describe(char *out, size_t outsz, const json_t *v)
{
    char ex[EXCERPT_BUF];

    switch (json_typeof(v)) {
    case JSON_OBJECT:
        snprintf(out, outsz, "an object");
        break;
    case JSON_ARRAY:
        snprintf(out, outsz, "an array");
        break;
    case JSON_STRING:
        excerpt(ex, sizeof ex, json_string_value(v), json_string_length(v), EXCERPT_MAX);
        snprintf(out, outsz, "string '%s'", ex);
        break;
    case JSON_INTEGER:
        snprintf(out, outsz, "integer %" JSON_INTEGER_FORMAT, json_integer_value(v));
        break;
    case JSON_REAL:
        snprintf(out, outsz, "real %g", json_real_value(v));
        break;
    case JSON_TRUE:
        snprintf(out, outsz, "true");
        break;
    case JSON_FALSE:
        snprintf(out, outsz, "false");
        break;
    default:
        snprintf(out, outsz, "null");
        break;
    }
}

/* Map a jansson parse failure onto a reject reason. */
static int reject_json(struct ew_decode_error *err, const json_error_t *je)
{
    char text[96];

    excerpt(text, sizeof text, je->text, strnlen(je->text, sizeof je->text), sizeof text - 4);
    switch (json_error_code(je)) {
    case json_error_invalid_utf8:
        return reject(err, EW_REJ_INVALID_UTF8, "invalid UTF-8 at byte %d: %s", je->position, text);
    case json_error_duplicate_key:
        return reject(err, EW_REJ_DUPLICATE_KEY, "duplicate key at line %d column %d: %s", je->line,
                      je->column, text);
    default:
        return reject(err, EW_REJ_BAD_JSON, "bad JSON at line %d column %d: %s", je->line,
                      je->column, text);
    }
}

static int reject_wrong_type(struct ew_decode_error *err, const char *field, const char *want,
                             const json_t *v)
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
static int decode_time(const json_t *v, const char *field, int64_t *out,
                       struct ew_decode_error *err)
{
    char ex[EXCERPT_BUF];
    int64_t ms;

    if (json_is_integer(v)) {
        ms = json_integer_value(v);
        if (ms < TS_MIN_MS || ms > TS_MAX_MS)
            return reject(err, EW_REJ_BAD_TIMESTAMP,
                          "bad timestamp %" PRId64 " (field '%s'): outside years 1970..9999", ms,
                          field);
        *out = ms;
        return 0;
    }
    if (json_is_string(v)) {
        if (ew_parse_rfc3339(json_string_value(v), json_string_length(v), &ms) == 0 &&
            ms >= TS_MIN_MS && ms <= TS_MAX_MS) {
            *out = ms;
            return 0;
        }
        excerpt(ex, sizeof ex, json_string_value(v), json_string_length(v), EXCERPT_MAX);
        return reject(err, EW_REJ_BAD_TIMESTAMP, "bad timestamp '%s' (field '%s')", ex, field);
    }
    return reject_wrong_type(err, field, "epoch ms (integer) or an RFC 3339 string", v);
}

/* ---- fields ------------------------------------------------------------------------------ */

/* Check one present, non-null field; store it in ev when `store` (the type uses it), else only
 * check its JSON type. */
static int decode_field(struct ew_event *ev, const struct field_spec *f, const json_t *v, int store,
                        const struct ew_event_limits *lim, struct ew_decode_error *err)
{
    char *dst = (char *)ev + f->ev_off;
    struct ew_str *str;
    size_t n, max;
    int64_t count;

    switch (f->kind) {
    case FK_STRING:
        if (!json_is_string(v)) return reject_wrong_type(err, f->name, "a string", v);
        if (!store) return 0;
        n = json_string_length(v);
        if (n == 0 && !f->may_be_empty)
            return reject(err, EW_REJ_EMPTY_FIELD, "field '%s' is empty", f->name);
        memcpy(&max, (const char *)lim + f->lim_off, sizeof max);
        if (n > max)
            return reject(err, EW_REJ_OVERSIZE_FIELD, "field '%s' is %zu bytes (max %zu)", f->name,
                          n, max);
        str = (struct ew_str *)(void *)dst;
        str->ptr = json_string_value(v);
        str->len = n;
        return 0;
    case FK_TIME:
        if (!store)
            return json_is_integer(v) || json_is_string(v)
                       ? 0
                       : reject_wrong_type(err, f->name, "epoch ms (integer) or an RFC 3339 string",
                                           v);
        return decode_time(v, f->name, (int64_t *)(void *)dst, err);
    case FK_COUNT:
        if (!json_is_integer(v)) return reject_wrong_type(err, f->name, "an integer >= 0", v);
        if (!store) return 0;
        count = json_integer_value(v);
        if (count < 0)
            return reject(err, EW_REJ_NEGATIVE_FOLLOWERS,
                          "field '%s' must be an integer >= 0 (got %" PRId64 ")", f->name, count);
        *(int64_t *)(void *)dst = count;
        return 0;
    }
    return -1;
}

static int decode_object(struct ew_event *ev, const json_t *root, const struct ew_event_limits *lim,
                         struct ew_decode_error *err)
{
    const struct field_spec *f;
    const json_t *v;
    enum ew_event_type type;
    unsigned bit;
    char ex[EXCERPT_BUF];
    size_t i;

    v = json_object_get(root, "type");
    if (!v) return reject(err, EW_REJ_MISSING_FIELD, "missing field 'type'");
    if (!json_is_string(v)) return reject_wrong_type(err, "type", "a string", v);
    if (ew_event_type_from(json_string_value(v), json_string_length(v), &type) != 0) {
        excerpt(ex, sizeof ex, json_string_value(v), json_string_length(v), EXCERPT_MAX);
        return reject(err, EW_REJ_UNKNOWN_TYPE, "unknown type '%s'", ex);
    }
    ev->type = type;
    bit = TBIT(type);

    for (i = 0; i < sizeof field_table / sizeof field_table[0]; i++) {
        f = &field_table[i];
        v = json_object_get(root, f->name);
        if (!v || (json_is_null(v) && !(f->required & bit))) {
            if (!(f->required & bit)) continue;
            if (f->required == ALL_TYPES)
                return reject(err, EW_REJ_MISSING_FIELD, "missing field '%s'", f->name);
            return reject(err, EW_REJ_MISSING_FIELD, "missing field '%s' (required for type '%s')",
                          f->name, type_names[type]);
        }
        if (decode_field(ev, f, v, (f->stored & bit) != 0, lim, err) != 0) return -1;
    }
    return 0;
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
    json_decref((json_t *)ev->priv);
    ew_event_init(ev);
}

int ew_event_decode(struct ew_event *ev, const char *buf, size_t len,
                    const struct ew_event_limits *lim, struct ew_decode_error *err)
{
    static const struct ew_event_limits default_limits = EW_EVENT_LIMITS_DEFAULT;
    char got[EXCERPT_BUF + 16];
    json_error_t je;
    json_t *root;

    if (err) {
        err->reason = EW_REJ_NONE;
        err->msg[0] = '\0';
    }
    if (!ev) return reject(err, EW_REJ_BAD_JSON, "no event to decode into");
    ew_event_clear(ev);
    if (!lim) lim = &default_limits;
    /* Before parsing: an oversize message must cost nothing. */
    if (len > lim->max_message)
        return reject(err, EW_REJ_OVERSIZE_MESSAGE, "message is %zu bytes (max %zu)", len,
                      lim->max_message);
    if (!buf || len == 0) return reject(err, EW_REJ_BAD_JSON, "empty message");

    root = json_loadb(buf, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    if (!root) return reject_json(err, &je);
    if (!json_is_object(root)) {
        describe(got, sizeof got, root);
        json_decref(root);
        return reject(err, EW_REJ_NOT_OBJECT, "event must be a JSON object (got %s)", got);
    }
    /* ev owns root from here; the ew_str fields borrow from it. */
    ev->priv = root;
    if (decode_object(ev, root, lim, err) != 0) {
        ew_event_clear(ev);
        return -1;
    }
    return 0;
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
