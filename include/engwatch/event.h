/* event — decode one event schema v1 JSON object into struct ew_event.
 *
 * Schema (shared/DESIGN.md): id, type, ts, account are required for every
 * type; actor for comment/like/share/follow/unfollow; post for
 * comment/like/share/post; text (may be empty) for comment; followers
 * (integer >= 0) for profile; actor_created optional.  Unknown fields are
 * ignored.  Each reject carries a reason code (for metrics and dead-letter
 * headers) and a one-line message naming the field.
 */
#ifndef ENGWATCH_EVENT_H
#define ENGWATCH_EVENT_H

#include <stddef.h>
#include <stdint.h>

enum ew_event_type {
    EW_EV_COMMENT = 0,
    EW_EV_LIKE,
    EW_EV_SHARE,
    EW_EV_FOLLOW,
    EW_EV_UNFOLLOW,
    EW_EV_POST,
    EW_EV_PROFILE,
    EW_EV__COUNT
};

/* Reject reasons.  Names (ew_reject_name) are stable: they appear in metric
 * labels and in the dead-letter "reason" header. */
enum ew_reject {
    EW_REJ_NONE = 0,
    EW_REJ_OVERSIZE_MESSAGE, /* "oversize_message": message over max_message */
    EW_REJ_INVALID_UTF8,     /* "invalid_utf8" */
    EW_REJ_BAD_JSON,         /* "bad_json": not parseable JSON */
    EW_REJ_DUPLICATE_KEY,    /* "duplicate_key": same key twice in the object */
    EW_REJ_NOT_OBJECT,       /* "not_object": valid JSON but not an object */
    EW_REJ_MISSING_FIELD,    /* "missing_field": a field the type requires */
    EW_REJ_WRONG_TYPE,       /* "wrong_type": e.g. ts is a bool, followers a string */
    EW_REJ_UNKNOWN_TYPE,     /* "unknown_type": type not one of the seven */
    EW_REJ_BAD_TIMESTAMP,    /* "bad_timestamp": ts/actor_created not epoch ms or RFC 3339, or out of range */
    EW_REJ_EMPTY_FIELD,      /* "empty_field": id, account, actor or post is "" */
    EW_REJ_OVERSIZE_FIELD,   /* "oversize_field": id/text/other string over its limit */
    EW_REJ_NEGATIVE_FOLLOWERS, /* "negative_followers" */
    EW_REJ__COUNT
};

/* Size bounds (config: event.max_*).  Defaults in EW_EVENT_LIMITS_DEFAULT. */
struct ew_event_limits {
    size_t max_message; /* whole message, bytes (default 65536) */
    size_t max_id;      /* id, bytes (default 256) */
    size_t max_text;    /* comment text, bytes (default 8192) */
    size_t max_name;    /* account, actor, post, bytes (default 256) */
};
#define EW_EVENT_LIMITS_DEFAULT {65536, 256, 8192, 256}

/* A string borrowed from the decoder: valid until the next ew_event_decode
 * or ew_event_clear on the same struct.  Not NUL-terminated in general;
 * use len.  ptr == NULL when the field is absent. */
struct ew_str {
    const char *ptr;
    size_t len;
};

struct ew_event {
    enum ew_event_type type;
    int64_t ts_ms;            /* event time, epoch milliseconds (UTC) */
    struct ew_str id;
    struct ew_str account;
    struct ew_str actor;      /* absent for post, profile */
    struct ew_str post;       /* absent for follow, unfollow, profile */
    struct ew_str text;       /* comment only; may be empty (len 0, ptr != NULL) */
    int64_t followers;        /* profile only; -1 when absent */
    int64_t actor_created_ms; /* INT64_MIN when absent */
    void *priv;               /* decoder-owned storage (opaque) */
};

/* Decode error: reason code plus a human message like
 * "missing field 'actor' (required for type 'like')". */
struct ew_decode_error {
    enum ew_reject reason;
    char msg[160];
};

/* Initialise ev for use with ew_event_decode (zeroes it). */
void ew_event_init(struct ew_event *ev);

/* Decode buf[0..len) into ev.  ev must have been initialised; previous
 * contents are released.  Returns 0 on success, -1 on reject with err filled
 * (err may be NULL).  Never crashes on any input; never reads past len. */
int ew_event_decode(struct ew_event *ev, const char *buf, size_t len,
                    const struct ew_event_limits *lim, struct ew_decode_error *err);

/* Release storage held by ev (safe on an initialised or cleared event). */
void ew_event_clear(struct ew_event *ev);

/* Parse a timestamp given as text: RFC 3339 ("2024-05-01T12:00:00Z",
 * "2024-05-01T20:00:00.123+08:00", 't'/'z' accepted, ' ' accepted as date/time separator)
 * into epoch ms.  Returns 0 or -1. */
int ew_parse_rfc3339(const char *s, size_t len, int64_t *out_ms);

const char *ew_event_type_name(enum ew_event_type t); /* "comment" ... */
int ew_event_type_from(const char *s, size_t len, enum ew_event_type *out); /* 0 / -1 */
const char *ew_reject_name(enum ew_reject r);        /* "bad_json" ... */

#endif
