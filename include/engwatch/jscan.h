/* jscan — a strict single-pass scanner for one JSON object whose interesting top-level keys are
 * known in advance (an event: {"id":"e1","type":"like","ts":1714564800000,...}).
 *
 * Strict means RFC 8259 + RFC 3629 with no extension, over every byte of the input (values
 * that nobody asked for included): invalid UTF-8 (overlong, surrogates U+D800..DFFF, above
 * U+10FFFF, truncated), "\u0000", a lone or reversed surrogate escape, a raw control byte
 * (NUL included) in a string, a duplicate key in any object (compared after unescaping), an
 * integer outside int64, a real that overflows a double, nesting deeper than EW_JS_MAX_DEPTH
 * and anything but whitespace after the value are all errors.
 *
 * Memory: the caller provides a scratch buffer of ew_js_scratch_size(len) bytes (reuse it
 * from one message to the next); the scanner allocates nothing and does not recurse.
 */
#ifndef ENGWATCH_JSCAN_H
#define ENGWATCH_JSCAN_H

#include <stddef.h>
#include <stdint.h>

/* Deepest nesting accepted, counted as jansson counts it: the top-level value is at depth 1
 * and every value inside a container one deeper than the container (scalars count). */
#define EW_JS_MAX_DEPTH 2048
#define EW_JS_MAX_KEYS  64                /* known keys per scan */
#define EW_JS_MAX_LEN   ((size_t)1 << 30) /* longest input */

enum ew_js_type {
    EW_JS_ABSENT = 0, /* the key is not in the object */
    EW_JS_NULL,
    EW_JS_FALSE,
    EW_JS_TRUE,
    EW_JS_INT,    /* i: the exact value (a number without '.', 'e' or 'E') */
    EW_JS_REAL,   /* ptr/len: the number as written ("3.0", "1e3"); ew_js_real converts it */
    EW_JS_STRING, /* ptr/len: the unescaped UTF-8 text (no U+0000; not NUL-terminated) */
    EW_JS_OBJECT, /* ptr/len: the value's JSON text, validated */
    EW_JS_ARRAY,  /* ptr/len: likewise */
};

/* A value.  ptr is borrowed: from the input when the text is there as is, else (a string with
 * escapes) from the scratch buffer; valid while both are and until the scratch is reused. */
struct ew_js_value {
    enum ew_js_type type;
    const char *ptr;
    size_t len;
    int64_t i;
};

enum ew_js_status {
    EW_JS_OK = 0,
    EW_JS_E_UTF8,       /* invalid UTF-8 (raw bytes, anywhere) */
    EW_JS_E_SYNTAX,     /* not JSON: bad token, control byte in a string, truncated, trailing */
    EW_JS_E_ESCAPE,     /* unknown escape, bad \u hex digits, lone or reversed surrogate escape */
    EW_JS_E_NUL,        /* "\u0000" in a string or key */
    EW_JS_E_RANGE,      /* integer outside int64, or a real beyond the range of a double */
    EW_JS_E_DEPTH,      /* nesting deeper than EW_JS_MAX_DEPTH */
    EW_JS_E_DUPLICATE,  /* the same key twice in one object */
    EW_JS_E_NOT_OBJECT, /* valid JSON, but the top-level value is not an object */
    EW_JS_E_ARG,        /* bad arguments (scratch too small, too many keys, input too long) */
};

struct ew_js_key {
    const char *name;
    size_t len;
};

/* Where and why a scan failed. */
struct ew_js_error {
    size_t pos;       /* byte offset of the problem in the input (len: at the end of it) */
    const char *what; /* static, e.g. "expected ',' or '}'" */
    /* EW_JS_E_NOT_OBJECT: the top-level value; EW_JS_E_DUPLICATE: the key (unescaped). */
    struct ew_js_value value;
};

/* Scratch bytes a scan of len bytes needs (0 when len > EW_JS_MAX_LEN).  Grows linearly:
 * about 17 * len + 16 KiB at most. */
size_t ew_js_scratch_size(size_t len);

/* Scan buf[0..len), which must hold one JSON object.  keys[0..nkeys) are the top-level keys
 * of interest; vals[k] receives the value of keys[k] (EW_JS_ABSENT when missing).  Other keys
 * and nested values are validated and skipped.  scratch (aligned like malloc's) must hold
 * ew_js_scratch_size(len) bytes; seed keys the hash that finds duplicate keys (pick it at
 * random once, so that nobody can send colliding keys).  Returns EW_JS_OK, or a status with
 * err (may be NULL) filled; vals is then unspecified.  Never reads outside buf[0..len). */
enum ew_js_status ew_js_scan(const struct ew_js_key *keys, unsigned nkeys, const char *buf,
                             size_t len, void *scratch, size_t scratch_size, uint64_t seed,
                             struct ew_js_value *vals, struct ew_js_error *err);

/* The double nearest to an EW_JS_REAL (or EW_JS_INT) value, correctly rounded and independent
 * of the locale.  Returns 0, or -1 when v is another type. */
int ew_js_real(const struct ew_js_value *v, double *out);

const char *ew_js_status_name(enum ew_js_status s); /* "syntax", "duplicate_key", ... */

#endif
