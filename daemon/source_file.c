/* source_file — see include/engwatch/source_file.h.
 *
 * zlib's gzread reads both gzip and plain files (it looks at the first
 * bytes), so one code path serves .jsonl, .jsonl.gz and stdin.  Input is read
 * in 256 KiB blocks into a buffer that lines are cut from in place.
 *
 * From a regular file, gzread runs on a reader thread that fills a ring of
 * slots of up to 1 MiB ahead of the caller: inflating a dump costs about a
 * sixth of a replay's time, and this way it overlaps decoding and folding.  A pipe or a
 * terminal is read directly (a thread blocked on it could not be stopped).
 */
#include "engwatch/source_file.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define BLOCK (256 * 1024)
#define SLOTS 4
#define SLOT_MAX (1024 * 1024)
#define SLOT_MIN (64 * 1024)

struct slot {
    char *data;
    size_t len, pos; /* filled, consumed */
    uint64_t off;    /* file offset after it was read */
};

/* The reader thread fills s[head], the caller consumes s[tail]; nfull slots
 * are between them.  Only the slot pointers are shared under mu: a full slot
 * belongs to the caller, an empty one to the thread. */
struct reader {
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct slot s[SLOTS];
    size_t slot_size; /* SLOT_MAX, less for a small file */
    unsigned head, tail, nfull;
    int done;      /* the thread stopped: end of file, or an error (failed) */
    int failed;
    int quit;      /* the caller asks the thread to stop */
    int zerr, errnum;
    char msg[128];
};

struct ew_dump {
    gzFile gz;
    struct reader *rd; /* NULL: gzread on the caller's thread */
    uint64_t consumed; /* with rd: file offset of what the caller has taken */
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

/* zlib's message for a read error, without the "<fd:N>: " it prefixes. */
static void read_error(struct ew_dump *d, int zerr, int errnum, const char *msg)
{
    const char *what = msg ? msg : "?";
    if (zerr == Z_ERRNO)
        what = strerror(errnum);
    else if (zerr == Z_BUF_ERROR)
        what = "the gzip stream is cut short (unexpected end of file)";
    else if (strncmp(what, "<fd:", 4) == 0 && strstr(what, ">: "))
        what = strstr(what, ">: ") + 3;
    snprintf(d->err, sizeof d->err, "%s: read error after line %lld: %s", d->name,
             (long long)d->lineno, what);
}

/* gzread, with the quiet end of a truncated gzip stream (0 and Z_BUF_ERROR)
 * made an error: -1 with *zerr, *errnum and *msg for read_error. */
static int gz_read(gzFile gz, char *buf, size_t len, int *zerr, int *errnum, const char **msg)
{
    int n = gzread(gz, buf, (unsigned)len);
    *errnum = errno;
    *msg = gzerror(gz, zerr);
    return n < 0 || (n == 0 && *zerr == Z_BUF_ERROR) ? -1 : n;
}

static void *reader_main(void *arg)
{
    struct ew_dump *d = arg;
    struct reader *r = d->rd;
    pthread_mutex_lock(&r->mu);
    for (;;) {
        while (r->nfull == SLOTS && !r->quit)
            pthread_cond_wait(&r->cv, &r->mu);
        if (r->quit)
            break;
        struct slot *sl = &r->s[r->head];
        pthread_mutex_unlock(&r->mu);
        int zerr, errnum;
        const char *msg;
        int n = gz_read(d->gz, sl->data, r->slot_size, &zerr, &errnum, &msg);
        z_off_t off = gzoffset(d->gz);
        pthread_mutex_lock(&r->mu);
        if (n <= 0) {
            if (n < 0) {
                r->failed = 1;
                r->zerr = zerr;
                r->errnum = errnum;
                snprintf(r->msg, sizeof r->msg, "%s", msg ? msg : "?");
            }
            r->done = 1;
            pthread_cond_broadcast(&r->cv);
            break;
        }
        sl->len = (size_t)n;
        sl->pos = 0;
        sl->off = off < 0 ? 0 : (uint64_t)off;
        r->head = (r->head + 1) % SLOTS;
        r->nfull++;
        pthread_cond_broadcast(&r->cv);
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

static int start_reader(struct ew_dump *d, int64_t size)
{
    struct reader *r = calloc(1, sizeof *r);
    if (!r)
        return -1;
    r->slot_size = size < SLOT_MIN ? SLOT_MIN : size < SLOT_MAX ? (size_t)size : SLOT_MAX;
    for (int i = 0; i < SLOTS; i++)
        if (!(r->s[i].data = malloc(r->slot_size)))
            goto fail;
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    d->rd = r;
    if (pthread_create(&r->th, NULL, reader_main, d) != 0) {
        pthread_cond_destroy(&r->cv);
        pthread_mutex_destroy(&r->mu);
        d->rd = NULL;
        goto fail;
    }
    return 0;
fail:
    for (int i = 0; i < SLOTS; i++)
        free(r->s[i].data);
    free(r);
    errno = ENOMEM;
    return -1;
}

static void stop_reader(struct ew_dump *d)
{
    struct reader *r = d->rd;
    if (!r)
        return;
    pthread_mutex_lock(&r->mu);
    r->quit = 1;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    pthread_join(r->th, NULL);
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    for (int i = 0; i < SLOTS; i++)
        free(r->s[i].data);
    free(r);
    d->rd = NULL;
}

/* fill() from the reader thread's ring: copy what fits of the next slot. */
static int fill_from_reader(struct ew_dump *d)
{
    struct reader *r = d->rd;
    pthread_mutex_lock(&r->mu);
    while (r->nfull == 0 && !r->done)
        pthread_cond_wait(&r->cv, &r->mu);
    if (r->nfull == 0) { /* the thread is done and everything it read is taken */
        pthread_mutex_unlock(&r->mu);
        if (r->failed) {
            read_error(d, r->zerr, r->errnum, r->msg);
            return -1;
        }
        d->eof = 1;
        return 0;
    }
    struct slot *sl = &r->s[r->tail];
    pthread_mutex_unlock(&r->mu);
    size_t k = sl->len - sl->pos;
    if (k > d->cap - d->end)
        k = d->cap - d->end;
    memcpy(d->buf + d->end, sl->data + sl->pos, k);
    d->end += k;
    sl->pos += k;
    if (sl->pos == sl->len) {
        d->consumed = sl->off;
        pthread_mutex_lock(&r->mu);
        r->tail = (r->tail + 1) % SLOTS;
        r->nfull--;
        pthread_cond_broadcast(&r->cv);
        pthread_mutex_unlock(&r->mu);
    }
    return 0;
}

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
    int regular = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
    d->size = regular ? (int64_t)st.st_size : -1;
    d->gz = gzdopen(fd, "rb");
    if (!d->gz)
        goto fail;
    gzbuffer(d->gz, BLOCK);
    if (regular && start_reader(d, d->size) < 0)
        goto fail;
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
    if (d->rd)
        return fill_from_reader(d);
    int zerr, errnum;
    const char *msg;
    int n = gz_read(d->gz, d->buf + d->end, d->cap - d->end, &zerr, &errnum, &msg);
    if (n < 0) {
        read_error(d, zerr, errnum, msg);
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
    if (d->rd)
        return d->consumed;
    z_off_t off = gzoffset(d->gz);
    return off < 0 ? 0 : (uint64_t)off;
}

void ew_dump_close(struct ew_dump *d)
{
    if (!d)
        return;
    stop_reader(d);
    if (d->gz)
        gzclose(d->gz);
    free(d->buf);
    free(d->name);
    free(d);
}
