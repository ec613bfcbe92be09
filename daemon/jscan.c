/* jscan — a strict single-pass scanner for the one JSON object an event is.
 *
 * What it does.  The event decoder (event.c) needs, per message, the values of nine known
 * top-level keys and the certainty that the whole message is strict JSON.  ew_js_scan walks
 * the input once, left to right, with no tree: a known key's value goes to the caller's slot,
 * every other value is validated and skipped.  Strings come back unescaped (borrowed from the
 * input when they have no escape, else copied into the caller's scratch), integers as exact
 * int64 kept apart from reals, and each value with its JSON type.
 *
 * Why not a library.  Measured on tools/decodebench's corpus (1M events of ~200 bytes, each
 * parsed alone): jansson, which event.c used before, costs ~2.8 µs per event (it builds a
 * tree and allocates for every value); this scanner ~0.16 µs.  The faster Debian-packaged
 * parsers fail the strictness the front door needs: yajl and json-c accept overlong UTF-8, raw
 * surrogates and lone surrogate escapes, and simdjson's On-Demand API does not validate the
 * values it skips (and is C++).
 *
 * Strictness (RFC 8259 + RFC 3629, no extension), over every byte, skipped values included:
 *  - UTF-8: no overlong forms, no surrogates (U+D800..DFFF), nothing above U+10FFFF, no
 *    truncated sequences, no stray continuation bytes.  When the input has several problems,
 *    the one reported is the one jansson (event.c's parser before) met first: jansson lexes
 *    each token whole before its parser looks at it, so broken UTF-8 in or right after an
 *    unexpected token, or later in a string holding a lone surrogate escape, is invalid UTF-8.
 *  - strings: no raw control byte (< 0x20, NUL included); escapes are the eight of RFC 8259
 *    and \uXXXX; surrogate escapes must come as a high + low pair; "\u0000" is rejected in
 *    every string and key (C consumers further down would truncate on it).
 *  - numbers: the RFC grammar (no leading zeros, no "1.", no "+1", no NaN).  An integer must
 *    fit int64; a real must not overflow a double (1e400), underflow is fine: jansson's range.
 *  - objects: a key twice in the same object is an error, whatever the depth, comparing keys
 *    after unescaping ("id" and "i\u0064" collide).  The duplicate is found with a hash table
 *    in the scratch, keyed with a caller-chosen random seed so that colliding keys cannot be
 *    precomputed (a flat list would be quadratic: 16k keys fit in 64 KiB).
 *  - nesting: at most EW_JS_MAX_DEPTH (2048, jansson's limit, counted the same way), tracked
 *    on an explicit stack in the scratch: no recursion, so no stack to blow.
 *  - after the value only whitespace (' ', '\t', '\r', '\n') may follow.  No BOM.
 *
 * Memory.  Nothing is allocated.  The scratch holds, in this order: the strings area (len
 * bytes: unescaping never grows a string and each string of the input is unescaped at most
 * once), the container stack (one uint32 per level), and two regions for the key table, which
 * starts at 16 slots and doubles into the other region when 3/4 full (the key count is bounded
 * by len / 4 + 1, so the regions are sized from len).  The table is only set up for keys of
 * nested objects or beyond the eighth unknown top-level key (those are checked against a
 * short list on the stack), so a plain event never touches it.
 */
#include "engwatch/jscan.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define UNLIKELY(x) __builtin_expect(!!(x), 0)

/* One key of the duplicate-key table. */
struct slot {
    uint32_t hash;
    uint32_t obj; /* offset of the key's object's '{' plus one; 0 marks an empty slot */
    uint32_t off; /* where the key's bytes start: in the input, or in the strings area */
    uint32_t len; /* its length, | IN_SCRATCH when it lies in the strings area */
};
#define IN_SCRATCH 0x80000000u

struct st {
    const unsigned char *p, *end, *buf;
    unsigned char *strs; /* the strings area */
    unsigned char *str;  /* its next free byte */
    uint32_t *stk;       /* opener offsets of the containers open inside the value being skipped */
    size_t stk_cap;
    struct slot *region[2]; /* region[0]: tab_max slots, region[1]: tab_max / 2 */
    struct slot *tab;       /* the table in use, NULL until the first unknown key */
    uint32_t tab_size, tab_count, tab_max, tab_region;
    uint64_t seed;
    const char *what;
    int at_token;           /* an EW_JS_E_SYNTAX is about the token at p (not inside one) */
    struct ew_js_value dup; /* the key of an EW_JS_E_DUPLICATE */
};

/* The byte at p, or 0 at the end: 0 starts no token, so every check fails on it. */
#define PEEK(s)    ((s)->p < (s)->end ? *(s)->p : 0)
#define ISDIGIT(c) ((unsigned)((c) - '0') < 10u)

static enum ew_js_status fail(struct st *s, enum ew_js_status e, const char *what)
{
    s->what = what;
    return e;
}

static inline void skip_ws(struct st *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\n' || *s->p == '\r' || *s->p == '\t'))
        s->p++;
}

/* ---- scratch layout ---------------------------------------------------------------------- */

static size_t align8(size_t n)
{
    return (n + 7) & ~(size_t)7;
}

static size_t stack_slots(size_t len)
{
    return (len < EW_JS_MAX_DEPTH ? len : EW_JS_MAX_DEPTH) + 1;
}

/* Slots of the largest table: 3/4 of it holds every key len bytes can carry.  A key costs at
 * least 4 bytes ('{' or ',', two quotes, ':') except the last one seen (3). */
static size_t table_slots(size_t len)
{
    size_t m = 16;

    while (m / 4 * 3 < len / 4 + 1)
        m <<= 1;
    return m;
}

size_t ew_js_scratch_size(size_t len)
{
    size_t m;

    if (len > EW_JS_MAX_LEN) return 0;
    m = table_slots(len);
    return align8(len) + align8(stack_slots(len) * sizeof(uint32_t)) +
           (m + m / 2) * sizeof(struct slot);
}

/* ---- UTF-8 ------------------------------------------------------------------------------- */

/* Length of the well-formed UTF-8 sequence at p (p[0] >= 0x80), or 0 (RFC 3629, table 3-7). */
static inline size_t utf8_len(const unsigned char *p, const unsigned char *end)
{
    unsigned c = p[0], lo = 0x80, hi = 0xBF;
    size_t avail = (size_t)(end - p);

    if (c < 0xC2) return 0; /* continuation byte, or overlong C0/C1 */
    if (c < 0xE0) return avail >= 2 && (p[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c < 0xF0) {
        if (c == 0xE0)
            lo = 0xA0; /* overlong */
        else if (c == 0xED)
            hi = 0x9F; /* surrogates */
        return avail >= 3 && p[1] >= lo && p[1] <= hi && (p[2] & 0xC0) == 0x80 ? 3 : 0;
    }
    if (c < 0xF5) {
        if (c == 0xF0)
            lo = 0x90; /* overlong */
        else if (c == 0xF4)
            hi = 0x8F; /* above U+10FFFF */
        return avail >= 4 && p[1] >= lo && p[1] <= hi && (p[2] & 0xC0) == 0x80 &&
                       (p[3] & 0xC0) == 0x80
                   ? 4
                   : 0;
    }
    return 0;
}

/* ---- strings ----------------------------------------------------------------------------- */

static inline int hex_digit(unsigned c)
{
    return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
}

static inline int hex4(const unsigned char *p, unsigned *out)
{
    unsigned v = 0, i, c;

    for (i = 0; i < 4; i++) {
        c = p[i];
        if (c >= '0' && c <= '9')
            c -= '0';
        else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
            c = (c | 0x20) - 'a' + 10;
        else
            return -1;
        v = v << 4 | c;
    }
    *out = v;
    return 0;
}

static inline unsigned char *put_utf8(unsigned char *d, unsigned cp)
{
    if (cp < 0x80) {
        *d++ = (unsigned char)cp;
    } else if (cp < 0x800) {
        *d++ = (unsigned char)(0xC0 | cp >> 6);
        *d++ = (unsigned char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        *d++ = (unsigned char)(0xE0 | cp >> 12);
        *d++ = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
        *d++ = (unsigned char)(0x80 | (cp & 0x3F));
    } else {
        *d++ = (unsigned char)(0xF0 | cp >> 18);
        *d++ = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
        *d++ = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
        *d++ = (unsigned char)(0x80 | (cp & 0x3F));
    }
    return d;
}

#define ONES  0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

/* The high bit set in each byte of w below n (n <= 0x80); exact for the lowest such byte. */
static inline uint64_t bytes_below(uint64_t w, unsigned n)
{
    return (w - ONES * n) & ~w & HIGHS;
}

/* s->p is just past an opening quote.  Validate the string and leave s->p past its closing
 * quote.  With out, out gets the unescaped text: in the input when the string has no escape,
 * else in the strings area (s->str moves past it). */
static inline __attribute__((always_inline)) enum ew_js_status scan_string(struct st *s,
                                                                           struct ew_js_value *out)
{
    const unsigned char *p = s->p, *end = s->end, *start = p;
    unsigned char *dst = NULL;        /* non-NULL once copying (out given and an escape seen) */
    const unsigned char *late = NULL; /* the first "\u0000" or lone surrogate escape */
    int late_nul = 0;
    unsigned cp, lo;
    size_t n;

    for (;;) {
        /* ASCII fast path, 8 bytes at a time, up to the first '"', '\\', control or non-ASCII
         * byte.  The lowest flagged byte of the mask is exact (borrows only flag bytes above a
         * true hit), so ctz finds the first byte that needs a look. */
        while (end - p >= 8) {
            uint64_t w, m;

            memcpy(&w, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
            w = __builtin_bswap64(w);
#endif
            m = (w & HIGHS) | bytes_below(w, 0x20) | bytes_below(w ^ (ONES * '"'), 1) |
                bytes_below(w ^ (ONES * '\\'), 1);
            if (m) {
                size_t k = (size_t)__builtin_ctzll(m) >> 3;

                if (dst) {
                    memcpy(dst, p, k);
                    dst += k;
                }
                p += k;
                break;
            }
            if (dst) {
                memcpy(dst, p, 8);
                dst += 8;
            }
            p += 8;
        }
        if (UNLIKELY(p >= end)) {
            s->p = p;
            return fail(s, EW_JS_E_SYNTAX, "unterminated string");
        }
        if (*p == '"') break;
        if (*p == '\\') {
            if (out && !dst) {
                dst = s->str;
                memcpy(dst, start, (size_t)(p - start));
                dst += p - start;
            }
            if (end - p < 2) {
                s->p = p + 1;
                return fail(s, EW_JS_E_SYNTAX, "unterminated string");
            }
            switch (p[1]) {
            case '"':
            case '\\':
            case '/':
                cp = p[1];
                break;
            case 'b':
                cp = '\b';
                break;
            case 'f':
                cp = '\f';
                break;
            case 'n':
                cp = '\n';
                break;
            case 'r':
                cp = '\r';
                break;
            case 't':
                cp = '\t';
                break;
            case 'u':
                if (end - p < 6 || hex4(p + 2, &cp) != 0) goto bad_escape;
                if (cp >= 0xD800 && cp <= 0xDBFF && end - p >= 12 && p[6] == '\\' && p[7] == 'u' &&
                    hex4(p + 8, &lo) == 0 && lo >= 0xDC00 && lo <= 0xDFFF) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    p += 6;
                } else if (UNLIKELY(cp == 0 || (cp >= 0xD800 && cp <= 0xDFFF))) {
                    /* What the escape means is an error, but the string's bytes are checked
                     * to its end first (as jansson does): broken UTF-8 later in it wins. */
                    if (!late) {
                        late = p;
                        late_nul = cp == 0;
                    }
                    out = NULL;
                    dst = NULL;
                }
                p += 4;
                break;
            default:
                goto bad_escape;
            }
            p += 2;
            if (dst) dst = put_utf8(dst, cp);
            continue;
        }
        if (*p < 0x20) {
            s->p = p;
            return fail(s, EW_JS_E_SYNTAX, "control character in string");
        }
        if (*p < 0x80) {
            if (dst) *dst++ = *p;
            p++;
            continue;
        }
        n = utf8_len(p, end);
        if (UNLIKELY(n == 0)) {
            s->p = p;
            return fail(s, EW_JS_E_UTF8, "invalid UTF-8");
        }
        if (dst) {
            memcpy(dst, p, n);
            dst += n;
        }
        p += n;
    }
    if (UNLIKELY(late != NULL)) {
        s->p = late;
        return late_nul ? fail(s, EW_JS_E_NUL, "\\u0000 is not allowed")
                        : fail(s, EW_JS_E_ESCAPE, "lone surrogate escape");
    }
    if (out) {
        out->type = EW_JS_STRING;
        if (dst) {
            out->ptr = (const char *)s->str;
            out->len = (size_t)(dst - s->str);
            s->str = dst;
        } else {
            out->ptr = (const char *)start;
            out->len = (size_t)(p - start);
        }
    }
    s->p = p + 1;
    return EW_JS_OK;
bad_escape:
    /* jansson reads an escape byte by byte: a broken byte where a letter or hex digit belongs
     * is invalid UTF-8 to it. */
    n = 1;
    if (p + 1 < end && p[1] == 'u')
        for (n = 2; n < 6 && p + n < end && hex_digit(p[n]); n++)
            ;
    if (p + n < end && p[n] >= 0x80 && utf8_len(p + n, end) == 0) {
        s->p = p + n;
        return fail(s, EW_JS_E_UTF8, "invalid UTF-8");
    }
    s->p = p;
    return fail(s, EW_JS_E_ESCAPE, "invalid escape");
}

/* ---- numbers ----------------------------------------------------------------------------- */

/* Significant digits kept when converting a real: the double nearest to a decimal depends on
 * its first 768 significant digits and on whether any digit after them is non-zero. */
#define REAL_DIGITS 800

/* The double nearest to the JSON number p[0..n) (validated), correctly rounded.  The number
 * is rewritten as "[-]DIGITSe<exp>", at most REAL_DIGITS digits plus a sticky '1' for a
 * non-zero tail, so strtod sees no decimal point (no locale) and a bounded text. */
static double real_value(const unsigned char *p, size_t n)
{
    char txt[1 + REAL_DIGITS + 1 + 24];
    const unsigned char *end = p + n;
    long long exp10 = 0, x = 0;
    size_t o = 0, nd = 0;
    int neg = 0, sticky = 0, eneg = 0;

    if (p < end && *p == '-') {
        neg = 1;
        txt[o++] = '-';
        p++;
    }
    for (; p < end && ISDIGIT(*p); p++) {
        if (nd == 0 && *p == '0') continue;
        if (nd < REAL_DIGITS) {
            txt[o++] = (char)*p;
            nd++;
        } else {
            exp10++;
            sticky |= *p != '0';
        }
    }
    if (p < end && *p == '.') {
        for (p++; p < end && ISDIGIT(*p); p++) {
            if (nd == 0 && *p == '0') {
                exp10--;
            } else if (nd < REAL_DIGITS) {
                txt[o++] = (char)*p;
                nd++;
                exp10--;
            } else {
                sticky |= *p != '0';
            }
        }
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-')) eneg = *p++ == '-';
        for (; p < end && ISDIGIT(*p); p++)
            if (x < 1000000000) x = x * 10 + (*p - '0'); /* saturates far beyond any double */
        exp10 += eneg ? -x : x;
    }
    if (nd == 0) return neg ? -0.0 : 0.0;
    if (sticky) {
        txt[o++] = '1';
        exp10--;
    }
    snprintf(txt + o, sizeof txt - o, "e%lld", exp10);
    return strtod(txt, NULL);
}

/* Whether the real p[0..n) (validated) overflows a double.  Only its order of magnitude E
 * (the value lies in [10^(E-1), 10^E)) is needed, except for E = 309 where DBL_MAX lies. */
static int real_overflows(const unsigned char *p, size_t n)
{
    const unsigned char *q = p, *end = p + n;
    long long mag = 0, x = 0;
    int eneg = 0, zero = 1;

    if (*q == '-') q++;
    if (*q != '0') {
        zero = 0;
        for (; q < end && ISDIGIT(*q); q++)
            mag++;
    } else {
        q++;
    }
    if (q < end && *q == '.') {
        for (q++; q < end && ISDIGIT(*q); q++) {
            if (zero && *q == '0')
                mag--;
            else
                zero = 0;
        }
    }
    if (zero) return 0;
    if (q < end && (*q == 'e' || *q == 'E')) {
        q++;
        if (q < end && (*q == '+' || *q == '-')) eneg = *q++ == '-';
        for (; q < end && ISDIGIT(*q); q++)
            if (x < 1000000000) x = x * 10 + (*q - '0');
        mag += eneg ? -x : x;
    }
    if (mag <= 308) return 0;
    if (mag >= 310) return 1;
    return isinf(real_value(p, n));
}

/* A number out of range (s->p at its start, after = its end).  jansson reads the byte after a
 * number before it converts it, so a broken byte there is reported first. */
static enum ew_js_status range_error(struct st *s, const unsigned char *after, const char *what)
{
    if (after < s->end && *after >= 0x80 && utf8_len(after, s->end) == 0) {
        s->p = after;
        return fail(s, EW_JS_E_UTF8, "invalid UTF-8");
    }
    return fail(s, EW_JS_E_RANGE, what);
}

/* A number at s->p.  out (may be NULL) gets EW_JS_INT or EW_JS_REAL. */
static enum ew_js_status scan_number(struct st *s, struct ew_js_value *out)
{
    const unsigned char *p = s->p, *end = s->end, *start = p;
    uint64_t u = 0;
    int neg = 0, ovf = 0, real = 0, expo = 0;

    if (*p == '-') {
        neg = 1;
        p++;
    }
    if (p >= end || !ISDIGIT(*p)) goto bad;
    if (*p == '0') {
        p++;
        if (p < end && ISDIGIT(*p)) goto bad; /* leading zero */
    } else {
        do {
            ovf |= __builtin_mul_overflow(u, 10u, &u);
            ovf |= __builtin_add_overflow(u, (uint64_t)(*p - '0'), &u);
            p++;
        } while (p < end && ISDIGIT(*p));
    }
    if (p < end && *p == '.') {
        p++;
        if (p >= end || !ISDIGIT(*p)) goto bad;
        while (p < end && ISDIGIT(*p))
            p++;
        real = 1;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-')) p++;
        if (p >= end || !ISDIGIT(*p)) goto bad;
        while (p < end && ISDIGIT(*p))
            p++;
        real = expo = 1;
    }
    if (real) {
        /* Only a long integer part or an exponent can reach beyond DBL_MAX (~1.8e308). */
        if (UNLIKELY((expo || ovf) && real_overflows(start, (size_t)(p - start)))) {
            s->p = start;
            return range_error(s, p, "real number overflow");
        }
        s->p = p;
        if (out) {
            out->type = EW_JS_REAL;
            out->ptr = (const char *)start;
            out->len = (size_t)(p - start);
        }
        return EW_JS_OK;
    }
    if (UNLIKELY(ovf || u > (uint64_t)INT64_MAX + (uint64_t)neg)) {
        s->p = start;
        return range_error(s, p, "integer out of range");
    }
    s->p = p;
    if (out) {
        out->type = EW_JS_INT;
        out->i = neg ? (int64_t)(0 - u) : (int64_t)u; /* 0 - 2^63 wraps to INT64_MIN */
    }
    return EW_JS_OK;
bad:
    s->p = p;
    return fail(s, EW_JS_E_SYNTAX, "invalid number");
}

/* ---- literals ---------------------------------------------------------------------------- */

static enum ew_js_status scan_literal(struct st *s, struct ew_js_value *out)
{
    static const struct {
        const char *t;
        size_t n;
        enum ew_js_type type;
    } lit[] = {{"true", 4, EW_JS_TRUE}, {"false", 5, EW_JS_FALSE}, {"null", 4, EW_JS_NULL}};
    unsigned i = *s->p == 't' ? 0 : *s->p == 'f' ? 1 : 2;
    const unsigned char *q;

    if ((size_t)(s->end - s->p) < lit[i].n || memcmp(s->p, lit[i].t, lit[i].n) != 0) {
        /* Like jansson, read the whole word: a broken UTF-8 byte right after it is
         * reported as such. */
        for (q = s->p; q < s->end && ((*q | 0x20) >= 'a' && (*q | 0x20) <= 'z'); q++)
            ;
        if (q < s->end && *q >= 0x80) s->p = q;
        return fail(s, EW_JS_E_SYNTAX, "invalid literal");
    }
    s->p += lit[i].n;
    if (out) out->type = lit[i].type;
    return EW_JS_OK;
}

/* ---- duplicate keys ---------------------------------------------------------------------- */

static inline uint64_t mix(uint64_t a, uint64_t b)
{
#ifdef __SIZEOF_INT128__
    __uint128_t r = (__uint128_t)a * b;

    return (uint64_t)r ^ (uint64_t)(r >> 64);
#else
    uint64_t r = a * (b | 1);

    return r ^ (r >> 29) ^ b;
#endif
}

/* A keyed hash of the key's bytes and its object (wyhash-style multiply-mix rounds). */
static uint32_t key_hash(uint64_t seed, const unsigned char *k, size_t n, uint32_t obj)
{
    const uint64_t s1 = 0xa0761d6478bd642fULL, s2 = 0xe7037ed1a0b428dbULL;
    uint64_t h = seed ^ ((uint64_t)obj << 32 | (uint64_t)n), w;

    while (n >= 8) {
        memcpy(&w, k, 8);
        h = mix(w ^ s1 ^ seed, h ^ s2);
        k += 8;
        n -= 8;
    }
    w = 0;
    memcpy(&w, k, n);
    h = mix(w ^ s1 ^ seed, h ^ s2);
    h = mix(h ^ s1, h ^ s2 ^ seed);
    return (uint32_t)(h ^ h >> 32);
}

static const unsigned char *slot_key(const struct st *s, const struct slot *e)
{
    return (e->len & IN_SCRATCH ? s->strs : s->buf) + e->off;
}

/* Insert into the current table (which has room). */
static void tab_put(struct st *s, struct slot e)
{
    uint32_t mask = s->tab_size - 1, i = e.hash & mask;

    while (s->tab[i].obj)
        i = (i + 1) & mask;
    s->tab[i] = e;
    s->tab_count++;
}

/* Record key (just scanned; copied = it lies in the strings area) as a key of the object
 * whose '{' is at obj - 1.  EW_JS_E_DUPLICATE (s->p at kstart) when the object has it already. */
static enum ew_js_status check_key(struct st *s, uint32_t obj, const struct ew_js_value *key,
                                   const unsigned char *kstart, int copied)
{
    const unsigned char *k = (const unsigned char *)key->ptr;
    struct slot e;
    uint32_t mask, i, j, old_size;
    struct slot *old;

    e.hash = key_hash(s->seed, k, key->len, obj);
    e.obj = obj;
    e.off = (uint32_t)(copied ? k - s->strs : k - s->buf);
    e.len = (uint32_t)key->len | (copied ? IN_SCRATCH : 0);
    if (!s->tab) {
        /* Sizes alternate between the regions and the largest (tab_max) must land in region
         * 0, the big one: start where 16 falls in that sequence. */
        s->tab_region = (uint32_t)(__builtin_ctz(s->tab_max) - 4) & 1;
        s->tab = s->region[s->tab_region];
        s->tab_size = 16;
        s->tab_count = 0;
        memset(s->tab, 0, 16 * sizeof *s->tab);
    }
    mask = s->tab_size - 1;
    for (i = e.hash & mask; s->tab[i].obj; i = (i + 1) & mask) {
        const struct slot *t = &s->tab[i];

        if (t->hash == e.hash && t->obj == obj && (t->len & ~IN_SCRATCH) == key->len &&
            memcmp(slot_key(s, t), k, key->len) == 0) {
            s->p = kstart;
            s->dup = *key;
            return fail(s, EW_JS_E_DUPLICATE, "duplicate object key");
        }
    }
    if (s->tab_count + 1 > s->tab_size / 4 * 3) {
        /* Double into the other region, so the old table is intact while its keys move. */
        if (s->tab_size * 2 > s->tab_max) return fail(s, EW_JS_E_ARG, "too many keys");
        old = s->tab;
        old_size = s->tab_size;
        s->tab_region ^= 1;
        s->tab = s->region[s->tab_region];
        s->tab_size *= 2;
        s->tab_count = 0;
        memset(s->tab, 0, s->tab_size * sizeof *s->tab);
        for (j = 0; j < old_size; j++)
            if (old[j].obj) tab_put(s, old[j]);
    }
    tab_put(s, e);
    return EW_JS_OK;
}

/* ---- values ------------------------------------------------------------------------------ */

/* The token at s->p is not one the grammar allows here. */
static enum ew_js_status unexpected(struct st *s, const char *what)
{
    s->at_token = 1;
    return fail(s, EW_JS_E_SYNTAX, what);
}

/* jansson reads a whole token before its parser looks at it, so invalid UTF-8 inside or right
 * after an unexpected token is reported as invalid UTF-8.  Say whether that is the case for
 * the token at s->p, and move s->p to the broken byte. */
static int token_has_bad_utf8(struct st *s)
{
    const unsigned char *p = s->p, *end = s->end;
    struct st t;

    if (p >= end) return 0;
    if (*p == '"') {
        t = *s;
        t.p = p + 1;
        if (scan_string(&t, NULL) != EW_JS_E_UTF8) return 0;
        s->p = t.p;
        return 1;
    }
    if ((*p | 0x20) >= 'a' && (*p | 0x20) <= 'z') {
        while (p < end && (*p | 0x20) >= 'a' && (*p | 0x20) <= 'z')
            p++;
    } else if (*p == '-' || ISDIGIT(*p)) {
        /* the longest prefix jansson's number lexer takes, then the byte it stops at */
        if (*p == '-') p++;
        if (p >= end || !ISDIGIT(*p)) goto check;
        if (*p == '0') {
            p++;
            if (p < end && ISDIGIT(*p)) goto check;
        } else {
            while (p < end && ISDIGIT(*p))
                p++;
        }
        if (p < end && *p == '.') {
            p++;
            if (p >= end || !ISDIGIT(*p)) goto check; /* "1." stops at the byte after '.' */
            while (p < end && ISDIGIT(*p))
                p++;
        }
        if (p < end && (*p == 'e' || *p == 'E')) {
            p++;
            if (p < end && (*p == '+' || *p == '-')) p++;
            while (p < end && ISDIGIT(*p))
                p++;
        }
    } else {
        return 0;
    }
check:
    if (p < end && *p >= 0x80 && utf8_len(p, end) == 0) {
        s->p = p;
        return 1;
    }
    return 0;
}

/* Validate one value at s->p, `depth` deep (the top-level value is 1), and leave s->p past it.
 * With out, out gets it (containers as their text).  Containers are walked iteratively. */
static enum ew_js_status scan_value(struct st *s, unsigned depth, struct ew_js_value *out)
{
    const unsigned char *start = s->p, *kstart;
    struct ew_js_value key;
    enum ew_js_status e;
    unsigned char *mark;
    unsigned char close;
    size_t sp = 0; /* containers open inside this value */

    for (;;) {
        /* a value */
        if (UNLIKELY(depth + sp > EW_JS_MAX_DEPTH))
            return fail(s, EW_JS_E_DEPTH, "maximum nesting depth reached");
        switch (PEEK(s)) {
        case '{':
        case '[':
            if (UNLIKELY(sp == s->stk_cap))
                return fail(s, EW_JS_E_DEPTH, "maximum nesting depth reached");
            close = *s->p == '{' ? '}' : ']';
            s->stk[sp++] = (uint32_t)(s->p - s->buf);
            s->p++;
            skip_ws(s);
            if (PEEK(s) == close) {
                s->p++;
                sp--;
                goto after_value;
            }
            if (close == '}') goto key;
            continue;
        case '"':
            s->p++;
            if ((e = scan_string(s, sp ? NULL : out)) != EW_JS_OK) return e;
            break;
        case 't':
        case 'f':
        case 'n':
            if ((e = scan_literal(s, sp ? NULL : out)) != EW_JS_OK) return e;
            break;
        case '-':
        case '0':
        case '1':
        case '2':
        case '3':
        case '4':
        case '5':
        case '6':
        case '7':
        case '8':
        case '9':
            if ((e = scan_number(s, sp ? NULL : out)) != EW_JS_OK) return e;
            break;
        default:
            return unexpected(s, "expected a value");
        }
    after_value:
        if (sp == 0) {
            if (out && (*start == '{' || *start == '[')) {
                out->type = *start == '{' ? EW_JS_OBJECT : EW_JS_ARRAY;
                out->ptr = (const char *)start;
                out->len = (size_t)(s->p - start);
            }
            return EW_JS_OK;
        }
        skip_ws(s);
        close = s->buf[s->stk[sp - 1]] == '{' ? '}' : ']';
        if (PEEK(s) == ',') {
            s->p++;
            skip_ws(s);
            if (close == ']') continue;
            goto key;
        }
        if (PEEK(s) != close)
            return unexpected(s, close == '}' ? "expected ',' or '}'" : "expected ',' or ']'");
        s->p++;
        sp--;
        goto after_value;
    key:
        /* a key of the object on top of the stack, then its ':' */
        if (PEEK(s) != '"') return unexpected(s, "expected a string key");
        kstart = s->p++;
        mark = s->str;
        if ((e = scan_string(s, &key)) != EW_JS_OK) return e;
        if ((e = check_key(s, s->stk[sp - 1] + 1, &key, kstart, s->str != mark)) != EW_JS_OK)
            return e;
        skip_ws(s);
        if (PEEK(s) != ':') return unexpected(s, "expected ':'");
        s->p++;
        skip_ws(s);
    }
}

/* ---- public ------------------------------------------------------------------------------ */

static int key_eq(const char *a, const char *b, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (a[i] != b[i]) return 0;
    return 1;
}

/* Unknown top-level keys up to this many are checked for duplicates against a list on the
 * stack, so a plain event never sets up the hash table. */
#define FEW_KEYS 8

enum ew_js_status ew_js_scan(const struct ew_js_key *keys, unsigned nkeys, const char *buf,
                             size_t len, void *scratch, size_t scratch_size, uint64_t seed,
                             struct ew_js_value *vals, struct ew_js_error *err)
{
    struct st s;
    struct ew_js_value key, top;
    struct {
        struct ew_js_value key;
        const unsigned char *kstart;
        int copied;
    } few[FEW_KEYS];
    const unsigned char *kstart;
    enum ew_js_status e;
    unsigned char *mark, *mem = scratch;
    uint64_t seen = 0;
    uint32_t obj;
    size_t m;
    unsigned k, i, next = 0, nfew = 0; /* nfew > FEW_KEYS: the keys are in the table */

    if (!buf && len == 0) buf = "";
    s.buf = s.p = s.end = (const unsigned char *)buf;
    s.what = NULL;
    s.at_token = 0;
    if (nkeys > EW_JS_MAX_KEYS || (nkeys && (!keys || !vals)) || !buf || !scratch ||
        len > EW_JS_MAX_LEN || scratch_size < ew_js_scratch_size(len) ||
        (uintptr_t)scratch % sizeof(uint64_t) != 0) {
        e = fail(&s, EW_JS_E_ARG, "bad arguments");
        goto out;
    }
    for (k = 0; k < nkeys; k++) {
        vals[k].type = EW_JS_ABSENT;
        vals[k].ptr = NULL;
        vals[k].len = 0;
        vals[k].i = 0;
    }
    s.end = s.p + len;
    s.strs = s.str = mem;
    s.stk = (uint32_t *)(void *)(mem + align8(len));
    s.stk_cap = stack_slots(len);
    m = table_slots(len);
    s.region[0] =
        (struct slot *)(void *)(mem + align8(len) + align8(stack_slots(len) * sizeof(uint32_t)));
    s.region[1] = s.region[0] + m;
    s.tab = NULL;
    s.tab_max = (uint32_t)m;
    s.seed = seed;

    skip_ws(&s);
    if (PEEK(&s) != '{') {
        /* Say "not an object" only for valid JSON. */
        memset(&top, 0, sizeof top);
        kstart = s.p;
        if ((e = scan_value(&s, 1, &top)) != EW_JS_OK) goto out;
        skip_ws(&s);
        if (s.p != s.end) {
            e = unexpected(&s, "end of input expected");
            goto out;
        }
        s.p = kstart;
        e = fail(&s, EW_JS_E_NOT_OBJECT, "not an object");
        goto out;
    }
    obj = (uint32_t)(s.p - s.buf) + 1;
    s.p++;
    skip_ws(&s);
    if (PEEK(&s) == '}') {
        s.p++;
        goto trailer;
    }
    for (;;) {
        if (PEEK(&s) != '"') {
            e = unexpected(&s, "expected a string key");
            goto out;
        }
        kstart = s.p++;
        mark = s.str;
        if ((e = scan_string(&s, &key)) != EW_JS_OK) goto out;
        /* Producers write keys in a fixed order: start looking after the last match. */
        for (i = 0, k = next; i < nkeys; i++, k = k + 1 == nkeys ? 0 : k + 1)
            if (keys[k].len == key.len && key_eq(keys[k].name, key.ptr, key.len)) break;
        if (i < nkeys) {
            if (seen & (UINT64_C(1) << k)) {
                s.p = kstart;
                s.dup = key;
                e = fail(&s, EW_JS_E_DUPLICATE, "duplicate object key");
                goto out;
            }
            seen |= UINT64_C(1) << k;
            next = k + 1 == nkeys ? 0 : k + 1;
        } else {
            k = nkeys; /* unknown */
            if (nfew <= FEW_KEYS) {
                for (i = 0; i < nfew; i++)
                    if (few[i].key.len == key.len && key_eq(few[i].key.ptr, key.ptr, key.len)) {
                        s.p = kstart;
                        s.dup = key;
                        e = fail(&s, EW_JS_E_DUPLICATE, "duplicate object key");
                        goto out;
                    }
                if (nfew < FEW_KEYS) {
                    few[nfew].key = key;
                    few[nfew].kstart = kstart;
                    few[nfew++].copied = s.str != mark;
                } else {
                    /* one too many for the list: move it to the table */
                    for (i = 0; i < FEW_KEYS; i++)
                        if ((e = check_key(&s, obj, &few[i].key, few[i].kstart, few[i].copied)) !=
                            EW_JS_OK)
                            goto out;
                    nfew = FEW_KEYS + 1;
                }
            }
            if (nfew > FEW_KEYS &&
                (e = check_key(&s, obj, &key, kstart, s.str != mark)) != EW_JS_OK)
                goto out;
        }
        skip_ws(&s);
        if (PEEK(&s) != ':') {
            e = unexpected(&s, "expected ':'");
            goto out;
        }
        s.p++;
        skip_ws(&s);
        if (PEEK(&s) == '"') { /* the common case, without scan_value's machinery */
            s.p++;
            e = scan_string(&s, k < nkeys ? &vals[k] : NULL);
        } else {
            e = scan_value(&s, 2, k < nkeys ? &vals[k] : NULL);
        }
        if (e != EW_JS_OK) goto out;
        skip_ws(&s);
        if (PEEK(&s) == ',') {
            s.p++;
            skip_ws(&s);
            continue;
        }
        if (PEEK(&s) == '}') {
            s.p++;
            break;
        }
        e = unexpected(&s, "expected ',' or '}'");
        goto out;
    }
trailer:
    skip_ws(&s);
    e = s.p == s.end ? EW_JS_OK : unexpected(&s, "end of input expected");
out:
    /* A broken byte where a token starts, or in the unexpected token, is invalid UTF-8. */
    if (e == EW_JS_E_SYNTAX && ((s.at_token && token_has_bad_utf8(&s)) ||
                                (s.p < s.end && *s.p >= 0x80 && utf8_len(s.p, s.end) == 0)))
        e = fail(&s, EW_JS_E_UTF8, "invalid UTF-8");
    if (err && e != EW_JS_OK) {
        err->pos = (size_t)(s.p - (const unsigned char *)buf);
        err->what = s.what;
        memset(&err->value, 0, sizeof err->value);
        if (e == EW_JS_E_NOT_OBJECT) err->value = top;
        if (e == EW_JS_E_DUPLICATE) err->value = s.dup;
    }
    return e;
}

int ew_js_real(const struct ew_js_value *v, double *out)
{
    if (!v || !out) return -1;
    if (v->type == EW_JS_INT) {
        *out = (double)v->i;
        return 0;
    }
    if (v->type != EW_JS_REAL || !v->ptr || v->len == 0) return -1;
    *out = real_value((const unsigned char *)v->ptr, v->len);
    return 0;
}

const char *ew_js_status_name(enum ew_js_status st)
{
    static const char *const names[] = {
        [EW_JS_OK] = "ok",
        [EW_JS_E_UTF8] = "invalid_utf8",
        [EW_JS_E_SYNTAX] = "syntax",
        [EW_JS_E_ESCAPE] = "bad_escape",
        [EW_JS_E_NUL] = "nul_in_string",
        [EW_JS_E_RANGE] = "number_range",
        [EW_JS_E_DEPTH] = "too_deep",
        [EW_JS_E_DUPLICATE] = "duplicate_key",
        [EW_JS_E_NOT_OBJECT] = "not_object",
        [EW_JS_E_ARG] = "bad_argument",
    };

    return (unsigned)st < sizeof names / sizeof names[0] ? names[st] : "unknown";
}
