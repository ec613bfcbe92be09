/* fuzz_event — libFuzzer target for the event decoder (daemon/event.c).
 *
 * The input is one message as a producer would send it.  It is decoded from an exact-size heap
 * copy (so a read past len is an ASan error), once with the default limits and once with tiny
 * ones on the same struct ew_event (the pipeline reuses one event per message).  On success the
 * decoded event must keep every promise of event.h; on a reject the error must be printable.
 * Tiny limits are a subset of the default ones, so whatever passes them passes the defaults and
 * decodes to the same event.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engwatch/event.h"
#include "fuzz_common.h"

#define TS_MAX_MS INT64_C(253402300799999) /* 9999-12-31T23:59:59.999Z */
#define DAY_MS    INT64_C(86400000)
/* What ew_parse_rfc3339 can return: 0000-01-01T00:00:00 - 23:59 .. 9999-12-31T23:59:59.999 + 23:59.
 */
#define RFC3339_MIN_MS (INT64_C(-62167219200000) - DAY_MS)
#define RFC3339_MAX_MS (TS_MAX_MS + DAY_MS)

#define TBIT(t) (1u << (t))
#define ACTOR_TYPES                                                                                \
    (TBIT(EW_EV_COMMENT) | TBIT(EW_EV_LIKE) | TBIT(EW_EV_SHARE) | TBIT(EW_EV_FOLLOW) |             \
     TBIT(EW_EV_UNFOLLOW))
#define POST_TYPES (TBIT(EW_EV_COMMENT) | TBIT(EW_EV_LIKE) | TBIT(EW_EV_SHARE) | TBIT(EW_EV_POST))

/* A decoded string: present exactly when `want`, non-empty unless may_be_empty, within max, and
 * a well-formed UTF-8 C-safe string (no NUL: the decoder does not allow "\u0000").  Every byte
 * is read, so a pointer that does not cover len bytes is an ASan error. */
static void check_str(struct ew_str s, int want, int may_be_empty, size_t max)
{
    if (!want) {
        FUZZ_CHECK(s.ptr == NULL && s.len == 0);
        return;
    }
    FUZZ_CHECK(s.ptr != NULL);
    FUZZ_CHECK(s.len <= max);
    FUZZ_CHECK(may_be_empty || s.len > 0);
    FUZZ_CHECK(memchr(s.ptr, '\0', s.len) == NULL);
    FUZZ_CHECK(fuzz_utf8_valid(s.ptr, s.len, NULL));
}

static void check_event(const struct ew_event *ev, const struct ew_event_limits *lim)
{
    unsigned bit;

    FUZZ_CHECK((unsigned)ev->type < EW_EV__COUNT);
    bit = TBIT(ev->type);
    FUZZ_CHECK(ev->ts_ms >= 0 && ev->ts_ms <= TS_MAX_MS);
    FUZZ_CHECK(ev->actor_created_ms == INT64_MIN ||
               (ev->actor_created_ms >= 0 && ev->actor_created_ms <= TS_MAX_MS));
    check_str(ev->id, 1, 0, lim->max_id);
    check_str(ev->account, 1, 0, lim->max_name);
    check_str(ev->actor, (bit & ACTOR_TYPES) != 0, 0, lim->max_name);
    check_str(ev->post, (bit & POST_TYPES) != 0, 0, lim->max_name);
    check_str(ev->text, ev->type == EW_EV_COMMENT, 1, lim->max_text);
    if (ev->type == EW_EV_PROFILE)
        FUZZ_CHECK(ev->followers >= 0);
    else
        FUZZ_CHECK(ev->followers == -1);
    FUZZ_CHECK(ev->priv != NULL);
}

/* A reject: reason set, message a non-empty printable one-liner, event left empty. */
static void check_reject(const struct ew_event *ev, const struct ew_decode_error *err)
{
    size_t n = strnlen(err->msg, sizeof err->msg);

    FUZZ_CHECK(err->reason > EW_REJ_NONE && err->reason < EW_REJ__COUNT);
    FUZZ_CHECK(n > 0 && n < sizeof err->msg);
    for (size_t i = 0; i < n; i++)
        FUZZ_CHECK((unsigned char)err->msg[i] >= 0x20 && err->msg[i] != 0x7F);
    FUZZ_CHECK(fuzz_utf8_valid(err->msg, n, NULL));
    FUZZ_CHECK(ev->priv == NULL && ev->id.ptr == NULL);
}

static int same_str(struct ew_str a, struct ew_str b)
{
    if (!a.ptr || !b.ptr) return a.ptr == b.ptr;
    return a.len == b.len && memcmp(a.ptr, b.ptr, a.len) == 0;
}

/* Decode buf with lim into ev and check the outcome; returns decode's result. */
static int decode_checked(struct ew_event *ev, const char *buf, size_t len,
                          const struct ew_event_limits *lim)
{
    struct ew_decode_error err;
    int rc = ew_event_decode(ev, buf, len, lim, &err);

    if (rc == 0) {
        FUZZ_CHECK(err.reason == EW_REJ_NONE);
        FUZZ_CHECK(len <= lim->max_message);
        check_event(ev, lim);
    } else {
        FUZZ_CHECK(rc == -1);
        check_reject(ev, &err);
    }
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct ew_event_limits def = EW_EVENT_LIMITS_DEFAULT;
    static const struct ew_event_limits tiny = {
        .max_message = 64, .max_id = 8, .max_text = 16, .max_name = 8};
    struct ew_event ev, small;
    char *buf = malloc(size ? size : 1);
    int rc_def, rc_tiny;

    if (!buf) return 0;
    memcpy(buf, data, size);
    ew_event_init(&ev);
    ew_event_init(&small);

    rc_def = decode_checked(&ev, buf, size, &def);
    /* The same struct again: its previous contents must be released first (LSan). */
    rc_tiny = decode_checked(&ev, buf, size, &tiny);
    if (rc_tiny == 0) {
        FUZZ_CHECK(rc_def == 0);
        /* Keep this result and decode the defaults again to compare the two. */
        small = ev;
        ew_event_init(&ev);
        FUZZ_CHECK(decode_checked(&ev, buf, size, &def) == 0);
        FUZZ_CHECK(ev.type == small.type && ev.ts_ms == small.ts_ms);
        FUZZ_CHECK(ev.followers == small.followers);
        FUZZ_CHECK(ev.actor_created_ms == small.actor_created_ms);
        FUZZ_CHECK(same_str(ev.id, small.id) && same_str(ev.account, small.account));
        FUZZ_CHECK(same_str(ev.actor, small.actor) && same_str(ev.post, small.post));
        FUZZ_CHECK(same_str(ev.text, small.text));
    }
    ew_event_clear(&small);
    ew_event_clear(&ev);

    /* The timestamp parser on its own, on the same exact-size copy: any year 0000..9999 parses,
     * shifted by an offset of at most 23:59. */
    int64_t ms;
    if (ew_parse_rfc3339(buf, size, &ms) == 0)
        FUZZ_CHECK(ms >= RFC3339_MIN_MS && ms <= RFC3339_MAX_MS);
    free(buf);
    return 0;
}
