/* log — see include/engwatch/log.h. */
#include "engwatch/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

_Atomic int ew_log_level_ = EW_INFO;

/* Guards the call sites' rate limiters (pipeline, HTTP and sink threads log). */
static pthread_mutex_t rl_lock = PTHREAD_MUTEX_INITIALIZER;

static struct {
    int prefix;          /* emit "<N>" syslog priority and no timestamp */
    uint32_t rl_burst;   /* messages per call site per interval */
    int64_t rl_interval; /* ms */
} logcfg = {0, 10, 10000};

static const char *const level_names[] = {
    [EW_ERROR] = "error", [EW_WARN] = "warn", [EW_NOTICE] = "notice",
    [EW_INFO] = "info",   [EW_DEBUG] = "debug",
};

int ew_log_level_from(const char *name)
{
    for (int i = EW_ERROR; i <= EW_DEBUG; i++)
        if (strcmp(name, level_names[i]) == 0)
            return i;
    return -1;
}

const char *ew_log_level_name(int level)
{
    return (level >= EW_ERROR && level <= EW_DEBUG) ? level_names[level] : "?";
}

/* systemd sets JOURNAL_STREAM=dev:ino for the stream it connected to stderr;
 * compare it with stderr itself so a child whose stderr was redirected does
 * not keep the journal format. */
static int stderr_is_journal(void)
{
    const char *js = getenv("JOURNAL_STREAM");
    if (!js || !*js)
        return 0;
    unsigned long long dev, ino;
    if (sscanf(js, "%llu:%llu", &dev, &ino) != 2)
        return 0;
    struct stat st;
    if (fstat(STDERR_FILENO, &st) != 0)
        return 0;
    return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void ew_log_setup(int level, enum ew_log_prefix prefix, uint32_t rl_burst, int64_t rl_interval_ms)
{
    if (level >= EW_ERROR && level <= EW_DEBUG)
        ew_log_level_ = level;
    switch (prefix) {
    case EW_LOG_PREFIX_ALWAYS: logcfg.prefix = 1; break;
    case EW_LOG_PREFIX_NEVER: logcfg.prefix = 0; break;
    default: logcfg.prefix = stderr_is_journal(); break;
    }
    logcfg.rl_burst = rl_burst ? rl_burst : 1;
    logcfg.rl_interval = rl_interval_ms > 0 ? rl_interval_ms : 1;
}

int64_t ew_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t ew_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void vwrite(int level, const char *tag, const char *suffix, const char *fmt, va_list ap)
{
    /* Format into one buffer and write it with one call so lines from
     * librdkafka's threads do not interleave mid-line. */
    char line[2048];
    size_t n = 0;
    if (logcfg.prefix) {
        n = (size_t)snprintf(line, sizeof line, "<%d>[%s] ", level, tag);
    } else {
        struct timespec ts;
        struct tm tm;
        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        n = strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%S", &tm);
        n += (size_t)snprintf(line + n, sizeof line - n, ".%03ldZ %-6s [%s] ",
                              ts.tv_nsec / 1000000, ew_log_level_name(level), tag);
    }
    if (n < sizeof line) {
        int m = vsnprintf(line + n, sizeof line - n, fmt, ap);
        if (m > 0)
            n += (size_t)m;
    }
    if (n >= sizeof line - 1 - (suffix ? strlen(suffix) : 0)) {
        n = sizeof line - 5 - (suffix ? strlen(suffix) : 0);
        memcpy(line + n, "...", 3);
        n += 3;
    }
    if (suffix) {
        size_t sl = strlen(suffix);
        memcpy(line + n, suffix, sl);
        n += sl;
    }
    line[n++] = '\n';
    fwrite(line, 1, n, stderr);
}

void ew_log_write(int level, const char *tag, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vwrite(level, tag, NULL, fmt, ap);
    va_end(ap);
}

void ew_log_write_rl(struct ew_ratelimit *rl, int level, const char *tag, const char *fmt, ...)
{
    int64_t now = ew_mono_ms();
    char suffix[64] = "";
    pthread_mutex_lock(&rl_lock);
    if (now - rl->window_start_ms >= logcfg.rl_interval) {
        if (rl->suppressed)
            snprintf(suffix, sizeof suffix, " (%u similar messages suppressed)", rl->suppressed);
        rl->window_start_ms = now;
        rl->in_window = 0;
        rl->suppressed = 0;
    }
    if (rl->in_window >= logcfg.rl_burst) {
        rl->suppressed++;
        pthread_mutex_unlock(&rl_lock);
        return;
    }
    rl->in_window++;
    pthread_mutex_unlock(&rl_lock);
    va_list ap;
    va_start(ap, fmt);
    vwrite(level, tag, suffix[0] ? suffix : NULL, fmt, ap);
    va_end(ap);
}
