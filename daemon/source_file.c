/* source_file — see include/engwatch/source_file.h.
 *
 * zlib's gzread reads both gzip and plain files (it looks at the first
 * bytes), so one code path serves .jsonl, .jsonl.gz and stdin.  Input is read
 * in 256 KiB blocks into a buffer that lines are cut from in place.
 */
#include "engwatch/source_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define BLOCK (256 * 1024)

struct ew_dump {
    gzFile gz;
    char *name;
    size_t max_line;
    char *buf;     /* holds at most max_line + BLOCK bytes */
    size_t cap;
    size_t start;  /* first unconsumed byte */
    size_t end;    /* end of valid data */
    int eof;
    int skipping;  /* discarding the rest of an over-long line */
    int64_t lineno;
    int64_t size;
    char err[256];
};

int ew_dump_open_fd(struct ew_dump **out, int fd, const char *name, size_t max_line, char *err,
                    size_t errlen)
{
    struct ew_dump *d = calloc(1, sizeof *d);
    if (!d)
        goto fail;
    d->max_line = max_line ? max_line : 65536;
    d->cap = d->max_line + BLOCK;
    d->buf = malloc(d->cap);
    d->name = strdup(name);
    if (!d->buf || !d->name)
        goto fail;
    struct stat st;
    d->size = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? (int64_t)st.st_size : -1;
    d->gz = gzdopen(fd, "rb");
    if (!d->gz)
        goto fail;
    gzbuffer(d->gz, BLOCK);
    *out = d;
    return 0;
fail:
    snprintf(err, errlen, "%s: cannot open: %s", name, errno ? strerror(errno) : "out of memory");
    if (!d || !d->gz)
        close(fd);
    ew_dump_close(d);
    return -1;
}

int ew_dump_open(struct ew_dump **out, const char *path, size_t max_line, char *err,
                 size_t errlen)
{
    int fd = strcmp(path, "-") == 0 ? dup(STDIN_FILENO) : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    return ew_dump_open_fd(out, fd, path, max_line, err, errlen);
}

/* Read more input after the unconsumed bytes.  0 ok (maybe eof), -1 error. */
static int fill(struct ew_dump *d)
{
    if (d->start > 0) {
        memmove(d->buf, d->buf + d->start, d->end - d->start);
        d->end -= d->start;
        d->start = 0;
    }
    if (d->eof || d->end == d->cap)
        return 0;
    int n = gzread(d->gz, d->buf + d->end, (unsigned)(d->cap - d->end));
    if (n < 0) {
        int zerr;
        const char *msg = gzerror(d->gz, &zerr);
        snprintf(d->err, sizeof d->err, "%s: read error after line %lld: %s", d->name,
                 (long long)d->lineno, zerr == Z_ERRNO ? strerror(errno) : msg);
        return -1;
    }
    if (n == 0)
        d->eof = 1;
    d->end += (size_t)n;
    return 0;
}

int ew_dump_next(struct ew_dump *d, const char **line, size_t *len, int *truncated)
{
    for (;;) {
        char *p = d->buf + d->start;
        size_t avail = d->end - d->start;
        char *nl = memchr(p, '\n', avail);
        size_t full; /* the line's length, or what we have of it */
        if (d->skipping) {
            /* the rest of an over-long line: drop it up to its newline */
            d->start = nl ? (size_t)(nl - d->buf) + 1 : d->end;
            d->skipping = !nl;
            if (!nl && d->eof)
                return 0;
            if (!nl && fill(d) < 0)
                return -1;
            continue;
        }
        if (nl) {
            full = (size_t)(nl - p);
            d->start += full + 1;
        } else if (d->eof) {
            if (avail == 0)
                return 0;
            full = avail; /* a last line without '\n' */
            d->start = d->end;
        } else if (avail == d->cap) {
            /* the buffer (max_line + a block) is full and holds no newline:
             * the line is over-long; hand out its head, skip the rest */
            full = avail;
            d->start = d->end;
            d->skipping = 1;
        } else {
            if (fill(d) < 0)
                return -1;
            continue;
        }
        /* the '\r' of "\r\n" is part of the ending: it must not make a
         * line of exactly max_line bytes count as over-long */
        if (full > 0 && p[full - 1] == '\r')
            full--;
        d->lineno++;
        *line = p;
        *truncated = full > d->max_line;
        *len = *truncated ? d->max_line : full;
        return 1;
    }
}

int64_t ew_dump_lineno(const struct ew_dump *d) { return d->lineno; }
const char *ew_dump_name(const struct ew_dump *d) { return d->name; }
int64_t ew_dump_size(const struct ew_dump *d) { return d->size; }
const char *ew_dump_error(const struct ew_dump *d) { return d->err; }

uint64_t ew_dump_bytes_read(const struct ew_dump *d)
{
    z_off_t off = gzoffset(d->gz);
    return off < 0 ? 0 : (uint64_t)off;
}

void ew_dump_close(struct ew_dump *d)
{
    if (!d)
        return;
    if (d->gz)
        gzclose(d->gz);
    free(d->buf);
    free(d->name);
    free(d);
}
