/* sink_file — alerts as JSON lines appended to a file, or to stdout ("-").
 *
 * One line per alert, written with one writev(2) on an O_APPEND descriptor
 * (no stdio buffer: the line is in the file, or in the pipe, when send
 * returns ok).  A relative path is relative to the daemon's working
 * directory.
 *
 * Failures keep alerts: a write that fails (ENOSPC, EIO, EACCES after a
 * reopen...) returns retry with a logged error, so the alert stays pending in
 * the Redis outbox and is written once the disk has room again; a line left
 * half-written by a failed write is cut off again (ftruncate to the size
 * before it) when the file is a regular file, so the file stays one JSON
 * document per line.
 *
 * Rotation: before each write the path is stat'ed; when it names another file
 * than the open one (moved away by logrotate) or none, it is reopened — no
 * signal or copytruncate needed.
 *
 * No fsync: a line survives a crash of the daemon (it is in the page cache)
 * but not necessarily a power loss; the outbox is the durable copy.
 */
#include "engwatch/sink.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "engwatch/log.h"
#include "sink_priv.h"

struct file_sink {
    char *path; /* NULL for stdout */
    int fd;     /* -1 when closed */
    dev_t dev;
    ino_t ino;
    int failing; /* the last write failed: log the recovery */
    struct ew_ratelimit rl;
};

static int file_enabled(const struct ew_config *cfg)
{
    return cfg->sinks.file.enabled;
}

/* (Re)open the path.  0, or -1 with errno. */
static int reopen(struct file_sink *fs)
{
    int fd = open(fs->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) return -1;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    if (fs->fd >= 0) close(fs->fd);
    fs->fd = fd;
    fs->dev = st.st_dev;
    fs->ino = st.st_ino;
    return 0;
}

static int file_open(void **state, const struct ew_config *cfg, char *err, size_t errlen)
{
    struct file_sink *fs = calloc(1, sizeof *fs);
    const char *path = cfg->sinks.file.path ? cfg->sinks.file.path : "-";
    *state = NULL;
    if (!fs) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    fs->fd = -1;
    if (strcmp(path, "-") == 0) {
        fs->fd = STDOUT_FILENO;
    } else {
        if (!(fs->path = strdup(path))) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
        if (reopen(fs) < 0) {
            snprintf(err, errlen, "%s: %s", path, strerror(errno));
            goto fail;
        }
    }
    *state = fs;
    return 0;
fail:
    free(fs->path);
    free(fs);
    return -1;
}

/* Reopen when the path now names another file (rotated) or nothing. */
static int check_rotation(struct file_sink *fs)
{
    struct stat st;
    if (!fs->path) return 0;
    if (fs->fd >= 0 && stat(fs->path, &st) == 0 && st.st_dev == fs->dev && st.st_ino == fs->ino)
        return 0;
    return reopen(fs);
}

static enum ew_sink_result fail_retry(struct file_sink *fs, const char *what, int e)
{
    fs->failing = 1;
    EW_LOG_RLS(&fs->rl, EW_ERROR, "sink:file", "%s %s: %s (alerts wait in the outbox)", what,
               fs->path ? fs->path : "stdout", strerror(e));
    return EW_SINK_RETRY;
}

static enum ew_sink_result file_send(void *state, const char *alert_json, size_t len)
{
    struct file_sink *fs = state;
    char *compact = NULL;
    /* One alert, one line: re-encode an alert that spans lines. */
    if (memchr(alert_json, '\n', len) || memchr(alert_json, '\r', len)) {
        json_t *j = json_loadb(alert_json, len, 0, NULL);
        compact = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        json_decref(j);
        if (!compact) {
            EW_LOG_RLS(&fs->rl, EW_ERROR, "sink:file", "an alert is not valid JSON: skipped");
            return EW_SINK_ERROR;
        }
        alert_json = compact;
        len = strlen(compact);
    }
    enum ew_sink_result r = EW_SINK_OK;
    if (check_rotation(fs) < 0) {
        r = fail_retry(fs, "opening", errno);
        goto out;
    }
    struct stat st;
    off_t before = -1;
    if (fs->path && fstat(fs->fd, &st) == 0 && S_ISREG(st.st_mode)) before = st.st_size;
    struct iovec iov[2] = {{(void *)alert_json, len}, {(void *)"\n", 1}};
    size_t total = len + 1, done = 0;
    while (done < total) {
        ssize_t n = writev(fs->fd, iov, 2);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            int e = n < 0 ? errno : EIO;
            /* Remove the partial line so that the retry writes a whole one. */
            if (done && before >= 0 && ftruncate(fs->fd, before) < 0)
                EW_LOG_RLS(&fs->rl, EW_ERROR, "sink:file", "truncating %s: %s", fs->path,
                           strerror(errno));
            r = fail_retry(fs, "writing", e);
            goto out;
        }
        done += (size_t)n;
        size_t k = (size_t)n; /* advance the iovecs past what was written */
        for (int i = 0; i < 2; i++) {
            size_t t = k < iov[i].iov_len ? k : iov[i].iov_len;
            iov[i].iov_base = (char *)iov[i].iov_base + t;
            iov[i].iov_len -= t;
            k -= t;
        }
    }
    if (fs->failing) {
        fs->failing = 0;
        EW_LOG(EW_NOTICE, "sink:file", "writing %s again", fs->path ? fs->path : "stdout");
    }
out:
    free(compact);
    return r;
}

static void file_close(void *state, int timeout_ms)
{
    struct file_sink *fs = state;
    (void)timeout_ms;
    if (!fs) return;
    if (fs->path && fs->fd >= 0) close(fs->fd);
    free(fs->path);
    free(fs);
}

const struct ew_sink ew_sink_file = {
    .name = "file",
    .enabled = file_enabled,
    .open = file_open,
    .send = file_send,
    .close = file_close,
};
