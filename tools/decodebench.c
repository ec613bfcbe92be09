/* decodebench — how fast is ew_event_decode on realistic input?
 *
 *   decodebench [-n N] [-s SEED] [-o FILE]   generate N events (default 1,000,000) in memory,
 *                                            optionally write them to FILE as JSON lines
 *   decodebench -i FILE                      read events from FILE, one a line
 *
 * then decode every event once with one reused struct ew_event and print
 *
 *   decode: events=N bytes=B seconds=S events_per_s=R ns_per_event=X rejected=K
 *
 * Only the decode loop is timed (CLOCK_MONOTONIC); generation and file I/O are not.  The
 * generated mix is roughly what a short-video platform's engagement topic carries: mostly likes
 * and comments, some follows, few posts and profile snapshots, ~200 bytes each with a couple of
 * unknown client fields, a third of the comments in Chinese, some with emoji, and one event in
 * eight stamped with an RFC 3339 string rather than epoch ms.
 */
#include "engwatch/event.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* A growable byte arena holding the events, and where each one lies in it. */
struct span {
    size_t off, len;
};

struct corpus {
    char *buf;
    size_t len, cap;
    struct span *ev;
    size_t n, ncap;
};

static int corpus_reserve(struct corpus *c, size_t bytes)
{
    size_t cap = c->cap ? c->cap : 1 << 20;
    char *p;

    while (cap - c->len < bytes)
        cap *= 2;
    if (cap == c->cap) return 0;
    p = realloc(c->buf, cap);
    if (!p) return -1;
    c->buf = p;
    c->cap = cap;
    return 0;
}

/* Record buf[off .. end) as the next event. */
static int corpus_push(struct corpus *c, size_t off, size_t end)
{
    struct span *p;

    if (c->n == c->ncap) {
        size_t ncap = c->ncap ? c->ncap * 2 : 1024;

        p = realloc(c->ev, ncap * sizeof *p);
        if (!p) return -1;
        c->ev = p;
        c->ncap = ncap;
    }
    c->ev[c->n].off = off;
    c->ev[c->n].len = end - off;
    c->n++;
    return 0;
}

static void corpus_free(struct corpus *c)
{
    free(c->buf);
    free(c->ev);
}

/* xorshift64*: deterministic, so two runs with one seed decode the same bytes. */
static uint64_t rnd(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * UINT64_C(2685821657736338717);
}

static const char *const comments[] = {
    "太好看了！支持一下",
    "哈哈哈哈哈哈",
    "这个视频真的很有用，谢谢分享 👍",
    "主播加油💪💪💪",
    "great video, thanks for sharing",
    "first!",
    "love this 😍😍",
    "where did you buy that jacket?",
    "666666",
    "not sure I agree with the second point",
};

static const char *const clients[] = {"ios-17.4.1", "android-8.4.0", "web-2024.05", "mini-3.2"};

/* Append one generated event (the bytes, without a newline) to c. */
static int gen_event(struct corpus *c, uint64_t *seed, size_t i)
{
    const int64_t base_ms = INT64_C(1714521600000); /* 2024-05-01T00:00:00Z */
    uint64_t r = rnd(seed), pick = r % 100;
    int64_t ts = base_ms + (int64_t)(i * 37) + (int64_t)(r >> 40) % 1000;
    unsigned acc = (unsigned)(r >> 8) % 5000, usr = (unsigned)(r >> 20) % 2000000;
    unsigned post = (unsigned)(r >> 32) % 50;
    const char *client = clients[(r >> 44) % 4];
    char tsbuf[40], *out;
    size_t start = c->len, room = 512;
    int n;

    if (corpus_reserve(c, room) != 0) return -1;
    out = c->buf + c->len;
    if ((r >> 50) % 8 == 0) {
        time_t secs = (time_t)(ts / 1000);
        struct tm tm;

        size_t k;

        gmtime_r(&secs, &tm);
        k = strftime(tsbuf, sizeof tsbuf, "\"%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(tsbuf + k, sizeof tsbuf - k, ".%03uZ\"", (unsigned)(ts % 1000));
    } else {
        snprintf(tsbuf, sizeof tsbuf, "%" PRId64, ts);
    }

    if (pick < 45)
        n = snprintf(out, room,
                     "{\"id\":\"ev-%012zu-%04x\",\"type\":\"like\",\"ts\":%s,\"account\":"
                     "\"creator_%u\",\"actor\":\"user_%u\",\"post\":\"post_%u_%u\","
                     "\"client\":\"%s\",\"region\":\"cn-east-2\",\"session\":\"s%016" PRIx64 "\"}",
                     i, (unsigned)(r & 0xffff), tsbuf, acc, usr, acc, post, client, r);
    else if (pick < 75)
        n = snprintf(out, room,
                     "{\"id\":\"ev-%012zu-%04x\",\"type\":\"comment\",\"ts\":%s,\"account\":"
                     "\"creator_%u\",\"actor\":\"user_%u\",\"post\":\"post_%u_%u\","
                     "\"text\":\"%s\",\"client\":\"%s\"}",
                     i, (unsigned)(r & 0xffff), tsbuf, acc, usr, acc, post,
                     comments[(r >> 56) % (sizeof comments / sizeof comments[0])], client);
    else if (pick < 87)
        n = snprintf(out, room,
                     "{\"id\":\"ev-%012zu-%04x\",\"type\":\"%s\",\"ts\":%s,\"account\":"
                     "\"creator_%u\",\"actor\":\"user_%u\",\"actor_created\":%" PRId64 ","
                     "\"client\":\"%s\",\"region\":\"cn-north-1\",\"ref\":\"feed\"}",
                     i, (unsigned)(r & 0xffff), pick < 84 ? "follow" : "unfollow", tsbuf, acc, usr,
                     ts - (int64_t)((r >> 24) % 1000) * 86400000, client);
    else if (pick < 93)
        n = snprintf(out, room,
                     "{\"id\":\"ev-%012zu-%04x\",\"type\":\"share\",\"ts\":%s,\"account\":"
                     "\"creator_%u\",\"actor\":\"user_%u\",\"post\":\"post_%u_%u\","
                     "\"channel\":\"wechat\",\"client\":\"%s\",\"region\":\"cn-south-1\"}",
                     i, (unsigned)(r & 0xffff), tsbuf, acc, usr, acc, post, client);
    else if (pick < 96)
        n = snprintf(out, room,
                     "{\"id\":\"ev-%012zu-%04x\",\"type\":\"post\",\"ts\":%s,\"account\":"
                     "\"creator_%u\",\"post\":\"post_%u_%u\",\"title\":\"今日分享：城市夜景\","
                     "\"duration_s\":%u,\"client\":\"%s\"}",
                     i, (unsigned)(r & 0xffff), tsbuf, acc, acc, post, (unsigned)(r % 600), client);
    else
        n = snprintf(out, room,
                     "{\"id\":\"ev-%012zu-%04x\",\"type\":\"profile\",\"ts\":%s,\"account\":"
                     "\"creator_%u\",\"followers\":%u,\"following\":%u,\"verified\":%s,"
                     "\"client\":\"%s\",\"region\":\"cn-east-2\"}",
                     i, (unsigned)(r & 0xffff), tsbuf, acc, (unsigned)(r >> 12) % 3000000,
                     (unsigned)(r >> 40) % 900, (r & 1) ? "true" : "false", client);
    if (n < 0 || (size_t)n >= room) return -1;
    c->len += (size_t)n;
    return corpus_push(c, start, c->len);
}

static int write_jsonl(const struct corpus *c, const char *path)
{
    FILE *f = fopen(path, "w");
    size_t i;

    if (!f) {
        fprintf(stderr, "decodebench: %s: %s\n", path, strerror(errno));
        return -1;
    }
    for (i = 0; i < c->n; i++) {
        fwrite(c->buf + c->ev[i].off, 1, c->ev[i].len, f);
        fputc('\n', f);
    }
    if (fclose(f) != 0) {
        fprintf(stderr, "decodebench: %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* Load FILE whole and index its non-empty lines. */
static int read_jsonl(struct corpus *c, const char *path)
{
    FILE *f = fopen(path, "r");
    size_t got, start, end, i;

    if (!f) {
        fprintf(stderr, "decodebench: %s: %s\n", path, strerror(errno));
        return -1;
    }
    for (;;) {
        if (corpus_reserve(c, 1 << 20) != 0) goto fail;
        got = fread(c->buf + c->len, 1, c->cap - c->len, f);
        c->len += got;
        if (got == 0) break;
    }
    if (ferror(f)) goto fail;
    fclose(f);

    /* Index the lines in place; a trailing '\r' is dropped, empty lines skipped. */
    for (start = 0, i = 0; i <= c->len; i++) {
        if (i < c->len && c->buf[i] != '\n') continue;
        end = i;
        if (end > start && c->buf[end - 1] == '\r') end--;
        if (end > start && corpus_push(c, start, end) != 0) return -1;
        start = i + 1;
    }
    return 0;
fail:
    fprintf(stderr, "decodebench: %s: read failed\n", path);
    fclose(f);
    return -1;
}

static int parse_count(const char *s, size_t *out)
{
    char *end;
    unsigned long long v;

    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-' || v == 0 || v > SIZE_MAX / 1024) return -1;
    *out = (size_t)v;
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: decodebench [-n N] [-s SEED] [-o FILE] | -i FILE\n");
}

int main(int argc, char **argv)
{
    const struct ew_event_limits lim = EW_EVENT_LIMITS_DEFAULT;
    const char *in = NULL, *outpath = NULL;
    struct corpus c = {0};
    struct ew_event ev;
    struct ew_decode_error err;
    struct timespec t0, t1;
    size_t n = 1000000, i, rejected = 0, bytes = 0, seed_n = 1;
    uint64_t seed;
    double secs;
    int opt, rc = 1;

    while ((opt = getopt(argc, argv, "n:s:o:i:h")) != -1) {
        switch (opt) {
        case 'n':
            if (parse_count(optarg, &n) != 0) {
                fprintf(stderr, "decodebench: -n wants a positive count (got '%s')\n", optarg);
                return 2;
            }
            break;
        case 's':
            if (parse_count(optarg, &seed_n) != 0) {
                fprintf(stderr, "decodebench: -s wants a positive seed (got '%s')\n", optarg);
                return 2;
            }
            break;
        case 'o':
            outpath = optarg;
            break;
        case 'i':
            in = optarg;
            break;
        default:
            usage();
            return opt == 'h' ? 0 : 2;
        }
    }
    if (optind != argc || (in && outpath)) {
        usage();
        return 2;
    }

    if (in) {
        if (read_jsonl(&c, in) != 0) goto out;
    } else {
        seed = UINT64_C(0x9E3779B97F4A7C15) * seed_n;
        for (i = 0; i < n; i++) {
            if (gen_event(&c, &seed, i) != 0) {
                fprintf(stderr, "decodebench: out of memory generating events\n");
                goto out;
            }
        }
        if (outpath && write_jsonl(&c, outpath) != 0) goto out;
    }

    ew_event_init(&ev);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (i = 0; i < c.n; i++) {
        if (ew_event_decode(&ev, c.buf + c.ev[i].off, c.ev[i].len, &lim, &err) != 0) rejected++;
        bytes += c.ev[i].len;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ew_event_clear(&ev);

    secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("decode: events=%zu bytes=%zu seconds=%.3f events_per_s=%.0f ns_per_event=%.1f "
           "rejected=%zu\n",
           c.n, bytes, secs, secs > 0 ? (double)c.n / secs : 0.0,
           c.n ? secs * 1e9 / (double)c.n : 0.0, rejected);
    rc = 0;
out:
    corpus_free(&c);
    return rc;
}
