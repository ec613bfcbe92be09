/*
 * produce — a paced Kafka producer for benchmarks: keyed lines in, messages at a fixed rate out.
 *
 *   produce -b BROKERS -t TOPIC [-r RATE] [-i FILE] [-n N] [-T FILE] [-X prop=value]... [-q]
 *
 * Input: one message a line, "key<TAB>value" (tools/gen --keyed writes account<TAB>json); a
 * line without a tab is a value without a key. The whole input is read into memory before the
 * first message is sent, so reading never disturbs the pace.
 *
 * Pace: a token bucket refilled and drained every millisecond (RATE/1000 messages a tick on
 * average; up to 10 ms of tokens may accumulate when a tick is late, anything beyond that is
 * counted as "behind" and not caught up, so the offered rate never bursts). -r 0 sends as fast
 * as the client queue takes them.
 *
 * Every message carries its key and a CreateTime timestamp set to the wall clock (ms) at the
 * moment it is handed to librdkafka: a consumer can compute produce -> consume delays from it
 * (the client's own batching, linger.ms = 5 by default, is part of such a delay).
 * -T FILE also writes that timestamp for every message, one "index timestamp_ms" line each
 * (index from 1), for delays measured from outside.
 *
 * At the end (after flushing, 60 s at most) one line on stdout:
 *
 *   produce: messages=N bytes=B seconds=S rate=R target=T delivered=D failed=F behind=K
 *            first_ts=MS last_ts=MS
 *
 * (one line; first_ts/last_ts are the timestamps of the first and last message, wall clock ms)
 * and, unless -q, a progress line on stderr every second. Exit status 0 when every message was
 * delivered, 1 otherwise, 2 on a usage error.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

struct msg {
    size_t key, klen; /* offsets into the input buffer; klen 0 = no key */
    size_t val, vlen;
};

static volatile sig_atomic_t stop;
static uint64_t delivered, failed;
static char last_error[256];

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    if (m->err) {
        failed++;
        snprintf(last_error, sizeof last_error, "%s", rd_kafka_err2str(m->err));
    } else {
        delivered++;
    }
}

static void usage(FILE *out)
{
    fprintf(out, "usage: produce -b BROKERS -t TOPIC [-r RATE] [-i FILE] [-n N] [-T FILE] "
                 "[-X prop=value]... [-q]\n"
                 "\n"
                 "Produce keyed lines (key<TAB>value; no tab: no key) at a fixed rate.\n"
                 "  -b BROKERS   bootstrap servers\n"
                 "  -t TOPIC     topic\n"
                 "  -r RATE      messages per second (token bucket, one tick a millisecond);\n"
                 "               0 = as fast as possible (default 0)\n"
                 "  -i FILE      input, read whole before sending (default stdin)\n"
                 "  -n N         send at most the first N lines\n"
                 "  -T FILE      write \"index timestamp_ms\" for every message sent to FILE\n"
                 "  -X P=V       librdkafka producer property (repeatable), e.g. -X linger.ms=20\n"
                 "  -q           no progress lines on stderr\n"
                 "Prints one line at the end: produce: messages= bytes= seconds= rate= target=\n"
                 "delivered= failed= behind= first_ts= last_ts= (timestamps: wall clock ms).\n");
}

/* Read all of f into *buf (NUL-terminated); returns the length or -1. */
static long long slurp(FILE *f, char **buf)
{
    size_t cap = 1 << 20, len = 0;
    char *b = malloc(cap + 1);
    while (b) {
        size_t got = fread(b + len, 1, cap - len, f);
        len += got;
        if (got == 0) break;
        if (len == cap) {
            char *n = realloc(b, cap * 2 + 1);
            if (!n) {
                free(b);
                b = NULL;
                break;
            }
            b = n;
            cap *= 2;
        }
    }
    if (!b || ferror(f)) {
        free(b);
        return -1;
    }
    b[len] = '\0';
    *buf = b;
    return (long long)len;
}

/* Split buf into messages. */
static struct msg *split(const char *buf, size_t len, size_t max, size_t *count)
{
    size_t n = 0, cap = 1024;
    struct msg *m = malloc(cap * sizeof *m);
    size_t pos = 0;
    while (m && pos < len && n < max) {
        const char *nl = memchr(buf + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - buf) : len;
        size_t e = end;
        if (e > pos && buf[e - 1] == '\r') e--;
        if (e > pos) {
            if (n == cap) {
                struct msg *g = realloc(m, cap * 2 * sizeof *m);
                if (!g) {
                    free(m);
                    return NULL;
                }
                m = g;
                cap *= 2;
            }
            const char *tab = memchr(buf + pos, '\t', e - pos);
            if (tab) {
                m[n] = (struct msg){pos, (size_t)(tab - buf) - pos, (size_t)(tab - buf) + 1,
                                    e - ((size_t)(tab - buf) + 1)};
            } else {
                m[n] = (struct msg){0, 0, pos, e - pos};
            }
            n++;
        }
        pos = end + 1;
    }
    *count = n;
    return m;
}

/* Leave before the producer exists: free what was made so far, return rc. */
static int bail(rd_kafka_conf_t *conf, char *buf, struct msg *msgs, int rc)
{
    rd_kafka_conf_destroy(conf);
    free(buf);
    free(msgs);
    return rc;
}

int main(int argc, char **argv)
{
    const char *brokers = NULL, *topic = NULL, *input = NULL, *tlpath = NULL;
    double rate = 0;
    size_t max = (size_t)-1;
    int quiet = 0, opt;
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();

    while ((opt = getopt(argc, argv, "b:t:r:i:n:T:X:qh")) != -1) {
        char *end, *eq;
        switch (opt) {
        case 'b':
            brokers = optarg;
            break;
        case 't':
            topic = optarg;
            break;
        case 'i':
            input = optarg;
            break;
        case 'T':
            tlpath = optarg;
            break;
        case 'q':
            quiet = 1;
            break;
        case 'r':
            rate = strtod(optarg, &end);
            if (*end || rate < 0) {
                fprintf(stderr, "produce: -r: not a rate: %s\n", optarg);
                return bail(conf, NULL, NULL, 2);
            }
            break;
        case 'n':
            errno = 0;
            max = (size_t)strtoull(optarg, &end, 10);
            if (*end || errno) {
                fprintf(stderr, "produce: -n: not a count: %s\n", optarg);
                return bail(conf, NULL, NULL, 2);
            }
            break;
        case 'X':
            eq = strchr(optarg, '=');
            if (!eq) {
                fprintf(stderr, "produce: -X wants property=value (got %s)\n", optarg);
                return bail(conf, NULL, NULL, 2);
            }
            *eq = '\0';
            if (rd_kafka_conf_set(conf, optarg, eq + 1, errstr, sizeof errstr) !=
                RD_KAFKA_CONF_OK) {
                fprintf(stderr, "produce: -X %s: %s\n", optarg, errstr);
                return bail(conf, NULL, NULL, 2);
            }
            break;
        case 'h':
            usage(stdout);
            return bail(conf, NULL, NULL, 0);
        default:
            usage(stderr);
            return bail(conf, NULL, NULL, 2);
        }
    }
    if (!brokers || !topic || optind != argc) {
        usage(stderr);
        return bail(conf, NULL, NULL, 2);
    }

    FILE *f = input ? fopen(input, "rb") : stdin;
    if (!f) {
        fprintf(stderr, "produce: %s: %s\n", input, strerror(errno));
        return bail(conf, NULL, NULL, 2);
    }
    char *buf = NULL;
    long long len = slurp(f, &buf);
    if (f != stdin) fclose(f);
    size_t n = 0;
    struct msg *msgs = len < 0 ? NULL : split(buf, (size_t)len, max, &n);
    if (!msgs) {
        fprintf(stderr, "produce: reading %s failed (%s)\n", input ? input : "stdin",
                len < 0 ? strerror(errno) : "out of memory");
        return bail(conf, buf, NULL, 1);
    }

    FILE *tl = NULL;
    if (tlpath && !(tl = fopen(tlpath, "w"))) {
        fprintf(stderr, "produce: %s: %s\n", tlpath, strerror(errno));
        return bail(conf, buf, msgs, 2);
    }
    if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, errstr, sizeof errstr) !=
        RD_KAFKA_CONF_OK) {
        fprintf(stderr, "produce: %s\n", errstr);
        return bail(conf, buf, msgs, 2);
    }
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!rk) {
        fprintf(stderr, "produce: %s\n", errstr);
        if (tl) fclose(tl);
        return bail(conf, buf, msgs, 1);
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    /* Warm up before the clock starts: the topic's metadata (leaders) and the broker
     * connections, so the first messages do not wait for them. */
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t merr =
        rkt ? rd_kafka_metadata(rk, 0, rkt, &md, 10000) : RD_KAFKA_RESP_ERR__INVALID_ARG;
    if (merr) {
        fprintf(stderr, "produce: metadata for %s: %s\n", topic, rd_kafka_err2str(merr));
        return 1;
    }
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);

    /* The bucket: tokens accrue at rate/s, at most `cap` of them (10 ms worth). */
    const double cap = rate > 0 ? (rate / 100.0 > 1.0 ? rate / 100.0 : 1.0) : 0;
    double tokens = 0, behind = 0;
    uint64_t bytes = 0;
    size_t sent = 0;
    int64_t first_ts = 0, last_ts = 0;
    int64_t t0 = mono_ns(), prev = t0, tick = t0, last_report = t0;
    size_t sent_report = 0;

    while (sent < n && !stop) {
        int64_t now = mono_ns();
        size_t allow;
        if (rate > 0) {
            tokens += (double)(now - prev) * rate / 1e9;
            prev = now;
            if (tokens > cap) {
                behind += tokens - cap;
                tokens = cap;
            }
            allow = (size_t)tokens;
        } else {
            allow = 1000;
        }
        if (allow > n - sent) allow = n - sent;
        for (size_t i = 0; i < allow && !stop; i++) {
            const struct msg *m = &msgs[sent];
            int64_t ts = wall_ms();
            rd_kafka_resp_err_t err;
            for (;;) {
                err = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic),
                                        RD_KAFKA_V_KEY(buf + m->key, m->klen),
                                        RD_KAFKA_V_VALUE(buf + m->val, m->vlen),
                                        RD_KAFKA_V_TIMESTAMP(ts), RD_KAFKA_V_END);
                if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || stop) break;
                rd_kafka_poll(rk, 1); /* the client queue is full: serve deliveries */
            }
            if (err) {
                fprintf(stderr, "produce: message %zu: %s\n", sent, rd_kafka_err2str(err));
                failed++;
            }
            if (tl) fprintf(tl, "%zu %" PRId64 "\n", sent + 1, ts);
            if (sent == 0) first_ts = ts;
            last_ts = ts;
            bytes += m->klen + m->vlen;
            sent++;
            if (rate > 0) tokens -= 1;
        }
        rd_kafka_poll(rk, 0);
        if (!quiet && now - last_report >= 1000000000) {
            fprintf(stderr, "produce: %.0f s: %zu sent (%.0f/s), %" PRIu64 " delivered\n",
                    (double)(now - t0) / 1e9, sent,
                    (double)(sent - sent_report) * 1e9 / (double)(now - last_report), delivered);
            last_report = now;
            sent_report = sent;
        }
        if (rate > 0 && sent < n) {
            /* next tick: one millisecond after the previous one (absolute, no drift) */
            tick += 1000000;
            if (tick < now) tick = now;
            struct timespec ts = {tick / 1000000000, tick % 1000000000};
            while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR && !stop)
                ;
        }
    }
    double secs = (double)(mono_ns() - t0) / 1e9;
    rd_kafka_resp_err_t ferr = rd_kafka_flush(rk, 60000);
    if (ferr)
        fprintf(stderr, "produce: flush: %s (%d message(s) still queued)\n", rd_kafka_err2str(ferr),
                rd_kafka_outq_len(rk));
    if (failed && last_error[0])
        fprintf(stderr, "produce: %" PRIu64 " message(s) failed; last error: %s\n", failed,
                last_error);
    printf("produce: messages=%zu bytes=%" PRIu64 " seconds=%.3f rate=%.0f target=%.0f "
           "delivered=%" PRIu64 " failed=%" PRIu64 " behind=%.0f first_ts=%" PRId64
           " last_ts=%" PRId64 "\n",
           sent, bytes, secs, secs > 0 ? (double)sent / secs : 0.0, rate, delivered, failed, behind,
           first_ts, last_ts);
    fflush(stdout);
    if (tl && fclose(tl) != 0) fprintf(stderr, "produce: %s: %s\n", tlpath, strerror(errno));
    rd_kafka_destroy(rk);
    free(msgs);
    free(buf);
    return delivered == sent && !stop ? 0 : 1;
}
