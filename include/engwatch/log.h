/* log — levelled, module-tagged logging to stderr.
 *
 *   EW_LOG(EW_WARN, "store", "redis %s:%d unreachable: %s", host, port, err);
 *   EW_LOG_RL(EW_WARN, "event", "rejected %s: %s", reason, msg);  // rate-limited per call site
 *
 * The level check happens before any formatting.  When stderr is connected to
 * the journal (JOURNAL_STREAM matches stderr) or log.syslog_prefix = "always",
 * lines carry a syslog priority prefix ("<4>") and no timestamp, since journald
 * adds its own.
 *
 * The logger's settings are process-wide state owned by this module (set once
 * at start-up and on reload from the main loop); everything else passes
 * context explicitly.  Safe from any thread: the rate limiters are updated
 * under a lock, and each line is written with one call.
 */
#ifndef ENGWATCH_LOG_H
#define ENGWATCH_LOG_H

#include <stdint.h>

enum ew_log_level { EW_ERROR = 3, EW_WARN = 4, EW_NOTICE = 5, EW_INFO = 6, EW_DEBUG = 7 };
enum ew_log_prefix { EW_LOG_PREFIX_AUTO = 0, EW_LOG_PREFIX_ALWAYS, EW_LOG_PREFIX_NEVER };

/* Read by the macros; set with ew_log_setup (on reload, while other threads
 * log: hence atomic). */
extern _Atomic int ew_log_level_;

/* Rate limiter for one call site: at most burst messages per interval; the
 * number suppressed is reported with the next message that gets through. */
struct ew_ratelimit {
    int64_t window_start_ms;
    uint32_t in_window;
    uint32_t suppressed;
};

void ew_log_setup(int level, enum ew_log_prefix prefix, uint32_t rl_burst, int64_t rl_interval_ms);
void ew_log_write(int level, const char *tag, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void ew_log_write_rl(struct ew_ratelimit *rl, int level, const char *tag, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Clocks, in milliseconds: monotonic (for intervals) and wall (epoch). */
int64_t ew_mono_ms(void);
int64_t ew_wall_ms(void);

/* "error" "warn" "notice" "info" "debug" <-> level; -1 when unknown. */
int ew_log_level_from(const char *name);
const char *ew_log_level_name(int level);

#define EW_LOG(level, tag, ...)                                                                   \
    do {                                                                                           \
        if ((level) <= ew_log_level_)                                                              \
            ew_log_write((level), (tag), __VA_ARGS__);                                             \
    } while (0)

#define EW_LOG_RL(level, tag, ...)                                                                \
    do {                                                                                           \
        static struct ew_ratelimit ew_rl_site_;                                                    \
        if ((level) <= ew_log_level_)                                                              \
            ew_log_write_rl(&ew_rl_site_, (level), (tag), __VA_ARGS__);                            \
    } while (0)

#endif
