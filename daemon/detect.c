/* detect — the detector registry.  See include/engwatch/detect.h. */
#include "engwatch/detect.h"

static const struct ew_detector *const registry[] = {
    &ew_detect_burst,  /* comment_burst:       detect_burst.c */
    &ew_detect_hollow, /* hollow_comments:     detect_hollow.c */
    &ew_detect_growth, /* follower_spike:      detect_growth.c */
    &ew_detect_engage, /* engagement_mismatch: detect_engage.c */
    NULL,
};

const struct ew_detector *const *ew_detectors(size_t *n)
{
    *n = sizeof registry / sizeof registry[0] - 1;
    return registry;
}

const char *ew_signal_name(enum ew_signal_kind k)
{
    static const char *const names[EW_SIG__COUNT] = {
        [EW_SIG_COMMENT_BURST] = "comment_burst",
        [EW_SIG_HOLLOW] = "hollow_comments",
        [EW_SIG_FOLLOWER_SPIKE] = "follower_spike",
        [EW_SIG_ENGAGEMENT] = "engagement_mismatch",
    };
    return (unsigned)k < EW_SIG__COUNT ? names[k] : "unknown";
}
