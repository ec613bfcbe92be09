/*
 * devbroker — a development Kafka broker built on librdkafka's mock cluster.
 *
 * Why it exists: `make demo`, the integration tests and the benchmarks need a Kafka that starts
 * in milliseconds, needs no JVM and no ZooKeeper/KRaft set-up, and can be killed by PID. The
 * mock cluster inside librdkafka speaks the real Kafka wire protocol on loopback TCP, so
 * engwatchd, kcat and the tools talk to it exactly as they would to a real cluster. It is NOT a
 * Kafka: no persistence, no replication, small bounded partitions. Production uses a real
 * cluster.
 *
 * What it does: create the mock cluster on a throw-away producer handle (the mock needs an
 * rd_kafka_t for book keeping; the handle itself never connects anywhere), create the requested
 * topics, and only then publish the bootstrap list on stdout and, atomically, in
 * --bootstrap-file. rd_kafka_mock_topic_create() is a synchronous request to the mock thread, so
 * once it returns the topic is visible to any client: a waiter that sees the file can use the
 * topics at once.
 *
 * Behaviour of the librdkafka 2.0.2 mock that we rely on or must work around (measured with
 * tests/integration/test_devbroker.sh and by hand with kcat 1.7.1; summarised in --help):
 *  - Ports: every broker listens on 127.0.0.1 on an ephemeral port chosen by the kernel; 2.0.2
 *    cannot be asked for a fixed port, hence the bootstrap file. Broker ids are 1..N.
 *  - Auto-create: the mock speaks Metadata only up to v2, which has no AllowAutoTopicCreation
 *    flag, so EVERY Metadata request naming an unknown topic creates it with 4 partitions:
 *    producers, `kcat -L -t X`, `kcat -C`, and high-level consumers even with
 *    allow.auto.create.topics=false. A misspelt topic therefore "works" here and fails on a real
 *    cluster. `kcat -L` without -t creates nothing.
 *  - Replication: rd_kafka_mock_topic_create() ignores its replication argument; Metadata
 *    always shows min(3, N) replicas, all in sync. --replication is validated but cosmetic.
 *  - Retention: each partition keeps at most 5 MiB or 100,000 message sets; whole produce
 *    batches are dropped from the front. One partition fed 50,000 messages of ~200 bytes kept
 *    the last ~21,000. 1,000,000 such messages over 48 partitions (~4.2 MB each) all stayed,
 *    so that is about the ceiling. A fetch below the log start gets OFFSET_OUT_OF_RANGE and
 *    the client applies auto.offset.reset (kcat's default: end).
 *  - Broker down (SIGUSR1): rd_kafka_mock_broker_set_down() closes every client connection and
 *    the listening socket, so new connections are refused; topics and messages stay; no leader
 *    change. Broker up (SIGUSR2) listens again on the same port.
 *  - Shutdown: rd_kafka_mock_cluster_destroy() sometimes takes ~1 s (the mock thread's poll
 *    interval), so allow a couple of seconds after SIGTERM.
 *  - Consumer groups: a restarted member waits about session.timeout.ms before the group
 *    rebalances (tests use session.timeout.ms=6000, heartbeat.interval.ms=1000); offset commits
 *    during a rebalance fail; cooperative-sticky misbehaves, use range or roundrobin.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#define DB_TAG            "[devbroker]"
#define DB_MAX_BROKERS    64
#define DB_MAX_PARTITIONS 10000
#define DB_MAX_TOPICS     256
/* Kafka's own limit on topic name length. */
#define DB_MAX_TOPIC_LEN 249
/* How often the main loop wakes without a signal, to serve the handle's queue. */
#define DB_TICK_MS 500

enum { EXIT_USAGE = 2 };

/* The only mutable globals: written by signal handlers, read and reset by the main loop while
 * the signals are blocked (they are unblocked only inside ppoll()). */
enum { BROKER_REQ_NONE = 0, BROKER_REQ_DOWN, BROKER_REQ_UP };
static volatile sig_atomic_t g_stop;
static volatile sig_atomic_t g_broker_req;

struct options {
    int brokers;
    int partitions;
    int replication;
    int quiet;
    const char *bootstrap_file;        /* borrowed from argv */
    const char *topics[DB_MAX_TOPICS]; /* borrowed from argv or string literals */
    int ntopics;
};

/* Log to stderr with the tag. Info messages are checked against quiet before formatting. */
static void db_log(const char *level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void db_log(const char *level, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    /* One fprintf per line so lines from librdkafka threads do not interleave mid-line. */
    fprintf(stderr, DB_TAG " %s: %s\n", level, msg);
}

#define DB_INFO(opt, ...)                                                                          \
    do {                                                                                           \
        if (!(opt)->quiet) db_log("info", __VA_ARGS__);                                            \
    } while (0)
#define DB_WARN(...)  db_log("warning", __VA_ARGS__)
#define DB_ERROR(...) db_log("error", __VA_ARGS__)

/* librdkafka log callback: runs on librdkafka's threads; opaque is the borrowed options. Syslog
 * levels 0-4 (emerg..warning) always pass, 5-7 (notice, info, debug) only without --quiet. */
static void rdk_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    const struct options *opt = rd_kafka_opaque(rk);

    if (level > 4 && opt && opt->quiet) return;
    /* Our handle has no bootstrap.servers on purpose (it only hosts the mock); librdkafka's
     * warning about that would only mislead whoever reads the log. */
    if (!strcmp(fac, "CONFWARN") && strstr(buf, "bootstrap.servers")) return;
    fprintf(stderr, DB_TAG " rdkafka %d %s: %s\n", level, fac, buf);
}

static void on_stop(int sig)
{
    (void)sig;
    g_stop = 1;
}

static void on_broker(int sig)
{
    g_broker_req = sig == SIGUSR1 ? BROKER_REQ_DOWN : BROKER_REQ_UP;
}

static void usage(FILE *out, const char *prog)
{
    fprintf(
        out,
        "usage: %s [--brokers N] [--partitions P] [--topic NAME]... [--replication R]\n"
        "          [--bootstrap-file PATH] [--quiet]\n"
        "\n"
        "A Kafka broker for development and tests ONLY: librdkafka's in-process mock cluster\n"
        "speaking the Kafka protocol on 127.0.0.1. No persistence, no real replication,\n"
        "bounded partitions. Production uses a real Kafka cluster.\n"
        "\n"
        "  -b, --brokers N         brokers in the cluster, ids 1..N (default 1, max %d)\n"
        "  -p, --partitions P      partitions per created topic (default 4, max %d)\n"
        "  -t, --topic NAME        topic to create; repeatable\n"
        "                          (default: events, events.dlq, alerts)\n"
        "  -r, --replication R     replication factor, 1..N (default 1); the 2.0.2 mock\n"
        "                          ignores it and always reports min(3, N) replicas\n"
        "  -f, --bootstrap-file PATH\n"
        "                          write the bootstrap list to PATH atomically once the\n"
        "                          topics exist; removed again on a clean exit\n"
        "  -q, --quiet             only warnings and errors on stderr\n"
        "  -h, --help              this text\n"
        "\n"
        "The bootstrap list (\"127.0.0.1:PORT,...\", one port per broker, ports chosen by the\n"
        "kernel) is printed as one line on stdout once the topics exist.\n"
        "\n"
        "Signals:\n"
        "  SIGTERM, SIGINT  shut down, exit 0\n"
        "  SIGUSR1          set every broker down: client connections and the listening\n"
        "                   sockets are closed, connects are refused; data is kept and no\n"
        "                   leader changes\n"
        "  SIGUSR2          set every broker up again, listening on the same ports\n"
        "\n"
        "Mock behaviour (librdkafka 2.0.2), which differs from a real cluster:\n"
        "  - Any Metadata request naming an unknown topic auto-creates it with 4 partitions:\n"
        "    producers, kcat -L -t, kcat -C and consumers alike (the mock speaks Metadata v2,\n"
        "    which cannot carry allow.auto.create.topics=false). Misspelt topics \"work\" here.\n"
        "  - Each partition keeps at most 5 MiB (or 100,000 message sets); the oldest\n"
        "    batches vanish silently and a fetch below the log start gets offset out of\n"
        "    range (auto.offset.reset applies). ~1M messages of 200 B over 48 partitions fit.\n"
        "  - Replication is not simulated: --replication is accepted and ignored.\n"
        "  - Consumer groups: a restarted member waits ~session.timeout.ms before the\n"
        "    rebalance (use session.timeout.ms=6000, heartbeat.interval.ms=1000); offset\n"
        "    commits during a rebalance fail; use the range or roundrobin assignor, not\n"
        "    cooperative-sticky.\n"
        "  - Shutdown may take ~1 s.\n"
        "\n"
        "Exit status: 0 clean shutdown, 1 set-up error, 2 usage error.\n",
        prog, DB_MAX_BROKERS, DB_MAX_PARTITIONS);
}

/* Parse a decimal int in [min, max] into *out. 0 on success, -1 (and *out untouched) otherwise. */
static int parse_int(const char *s, long min, long max, int *out)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || end == s || *end != '\0' || v < min || v > max) return -1;
    *out = (int)v;
    return 0;
}

/* Kafka's rule: 1..249 characters of [a-zA-Z0-9._-], and not "." or "..". 0 when valid. */
static int check_topic_name(const char *name)
{
    size_t len = strlen(name);

    if (len == 0 || len > DB_MAX_TOPIC_LEN || !strcmp(name, ".") || !strcmp(name, "..")) return -1;
    if (strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != len)
        return -1;
    return 0;
}

/* Fill *opt from argv. 0 on success (or after --help, with *help set), -1 on a usage error
 * (already reported on stderr). */
static int parse_args(int argc, char **argv, struct options *opt, int *help)
{
    static const struct option longopts[] = {
        {"brokers", required_argument, NULL, 'b'},
        {"partitions", required_argument, NULL, 'p'},
        {"topic", required_argument, NULL, 't'},
        {"replication", required_argument, NULL, 'r'},
        {"bootstrap-file", required_argument, NULL, 'f'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    static const char *const default_topics[] = {"events", "events.dlq", "alerts"};
    int c, i, j;

    *help = 0;
    opt->brokers = 1;
    opt->partitions = 4;
    opt->replication = 1;
    opt->quiet = 0;
    opt->bootstrap_file = NULL;
    opt->ntopics = 0;

    while ((c = getopt_long(argc, argv, "b:p:t:r:f:qh", longopts, NULL)) != -1) {
        switch (c) {
        case 'b':
            if (parse_int(optarg, 1, DB_MAX_BROKERS, &opt->brokers) < 0) {
                DB_ERROR("--brokers: expected an integer 1..%d (got '%s')", DB_MAX_BROKERS, optarg);
                return -1;
            }
            break;
        case 'p':
            if (parse_int(optarg, 1, DB_MAX_PARTITIONS, &opt->partitions) < 0) {
                DB_ERROR("--partitions: expected an integer 1..%d (got '%s')", DB_MAX_PARTITIONS,
                         optarg);
                return -1;
            }
            break;
        case 'r':
            /* Checked against --brokers below, once both are known. */
            if (parse_int(optarg, 1, DB_MAX_BROKERS, &opt->replication) < 0) {
                DB_ERROR("--replication: expected an integer 1..%d (got '%s')", DB_MAX_BROKERS,
                         optarg);
                return -1;
            }
            break;
        case 't':
            if (check_topic_name(optarg) < 0) {
                DB_ERROR("--topic: '%s' is not a valid Kafka topic name "
                         "(1..%d of [a-zA-Z0-9._-], not '.' or '..')",
                         optarg, DB_MAX_TOPIC_LEN);
                return -1;
            }
            if (opt->ntopics == DB_MAX_TOPICS) {
                DB_ERROR("--topic: at most %d topics", DB_MAX_TOPICS);
                return -1;
            }
            opt->topics[opt->ntopics++] = optarg;
            break;
        case 'f':
            if (optarg[0] == '\0') {
                DB_ERROR("--bootstrap-file: empty path");
                return -1;
            }
            opt->bootstrap_file = optarg;
            break;
        case 'q':
            opt->quiet = 1;
            break;
        case 'h':
            *help = 1;
            return 0;
        default: /* getopt_long already said what is wrong */
            return -1;
        }
    }
    if (optind < argc) {
        DB_ERROR("unexpected argument '%s'", argv[optind]);
        return -1;
    }
    if (opt->replication > opt->brokers) {
        /* A real cluster refuses this; keep the command line honest even though the mock ignores R.
         */
        DB_ERROR("--replication %d exceeds --brokers %d", opt->replication, opt->brokers);
        return -1;
    }
    if (opt->ntopics == 0) {
        for (i = 0; i < (int)(sizeof(default_topics) / sizeof(default_topics[0])); i++)
            opt->topics[opt->ntopics++] = default_topics[i];
    }
    for (i = 0; i < opt->ntopics; i++) {
        for (j = 0; j < i; j++) {
            if (!strcmp(opt->topics[i], opt->topics[j])) {
                DB_ERROR("--topic '%s' given twice", opt->topics[i]);
                return -1;
            }
        }
    }
    return 0;
}

/* Install the handlers and block their signals; they are delivered only inside ppoll() in the
 * main loop, which makes the read-and-reset of the flags race-free. Blocking them before any
 * librdkafka thread exists also means every thread inherits the mask. *waitmask receives the
 * mask to wait with. 0 on success, -1 on failure (errno set). */
static int setup_signals(sigset_t *waitmask)
{
    struct sigaction sa;
    sigset_t block;

    memset(&sa, 0, sizeof(sa));
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_stop;
    if (sigaction(SIGTERM, &sa, NULL) < 0 || sigaction(SIGINT, &sa, NULL) < 0) return -1;
    sa.sa_handler = on_broker;
    if (sigaction(SIGUSR1, &sa, NULL) < 0 || sigaction(SIGUSR2, &sa, NULL) < 0) return -1;
    /* A reader of stdout that goes away must not kill the broker mid-test. */
    sa.sa_handler = SIG_IGN;
    if (sigaction(SIGPIPE, &sa, NULL) < 0) return -1;

    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGUSR1);
    sigaddset(&block, SIGUSR2);
    if (sigprocmask(SIG_BLOCK, &block, waitmask) < 0) return -1;
    sigdelset(waitmask, SIGTERM);
    sigdelset(waitmask, SIGINT);
    sigdelset(waitmask, SIGUSR1);
    sigdelset(waitmask, SIGUSR2);
    return 0;
}

/* Write line + "\n" to path atomically: a temporary file in the same directory, then rename(),
 * so a reader sees either no file or the whole line. 0 on success, -1 on failure (logged). */
static int write_file_atomic(const char *path, const char *line)
{
    char tmp[PATH_MAX];
    FILE *fp = NULL;
    int fd = -1;
    int n;

    n = snprintf(tmp, sizeof(tmp), "%s.tmpXXXXXX", path);
    if (n < 0 || (size_t)n >= sizeof(tmp)) {
        DB_ERROR("--bootstrap-file: path too long: %s", path);
        return -1;
    }
    fd = mkstemp(tmp);
    if (fd < 0) {
        DB_ERROR("cannot create %s: %s", tmp, strerror(errno));
        return -1;
    }
    /* mkstemp gives 0600; other users' tools (make demo under sudo) may need to read it. */
    if (fchmod(fd, 0644) < 0) {
        DB_ERROR("cannot chmod %s: %s", tmp, strerror(errno));
        goto fail;
    }
    fp = fdopen(fd, "w");
    if (!fp) {
        DB_ERROR("cannot open %s: %s", tmp, strerror(errno));
        goto fail;
    }
    fd = -1; /* owned by fp now */
    if (fprintf(fp, "%s\n", line) < 0 || fflush(fp) != 0 || fsync(fileno(fp)) < 0) {
        DB_ERROR("cannot write %s: %s", tmp, strerror(errno));
        goto fail;
    }
    if (fclose(fp) != 0) {
        fp = NULL;
        DB_ERROR("cannot write %s: %s", tmp, strerror(errno));
        goto fail;
    }
    fp = NULL;
    if (rename(tmp, path) < 0) {
        DB_ERROR("cannot rename %s to %s: %s", tmp, path, strerror(errno));
        goto fail;
    }
    return 0;

fail:
    if (fp) fclose(fp);
    if (fd >= 0) close(fd);
    unlink(tmp);
    return -1;
}

/* Set every broker down or up. One id at a time (1..N) rather than -1 ("all", which 2.0.2 also
 * honours) so that a failure names its broker. 0 if all succeeded, -1 otherwise (each failure
 * logged). */
static int set_brokers(rd_kafka_mock_cluster_t *mcluster, const struct options *opt, int up)
{
    rd_kafka_resp_err_t err;
    int id, rc = 0;

    for (id = 1; id <= opt->brokers; id++) {
        err = up ? rd_kafka_mock_broker_set_up(mcluster, id)
                 : rd_kafka_mock_broker_set_down(mcluster, id);
        if (err) {
            DB_ERROR("broker %d: set %s failed: %s", id, up ? "up" : "down", rd_kafka_err2str(err));
            rc = -1;
        }
    }
    return rc;
}

/* Run until SIGTERM/SIGINT, applying SIGUSR1/SIGUSR2 between waits. */
static void main_loop(rd_kafka_t *rk, rd_kafka_mock_cluster_t *mcluster, const struct options *opt,
                      const sigset_t *waitmask)
{
    const struct timespec tick = {.tv_sec = DB_TICK_MS / 1000,
                                  .tv_nsec = (DB_TICK_MS % 1000) * 1000000L};
    int req;

    while (!g_stop) {
        /* The only place our signals are unblocked: a signal either arrived before (pending,
         * delivered as soon as ppoll unblocks) or interrupts it, so none is missed. A SIGUSR1
         * and a SIGUSR2 that land in the same wake-up collapse into the last one handled:
         * callers wait for the effect of one before sending the other. */
        if (ppoll(NULL, 0, &tick, waitmask) < 0 && errno != EINTR)
            DB_WARN("ppoll: %s", strerror(errno));

        req = g_broker_req;
        g_broker_req = BROKER_REQ_NONE;
        if (req == BROKER_REQ_DOWN) {
            DB_WARN("SIGUSR1: setting all %d broker(s) down", opt->brokers);
            set_brokers(mcluster, opt, 0);
        } else if (req == BROKER_REQ_UP) {
            DB_WARN("SIGUSR2: setting all %d broker(s) up", opt->brokers);
            set_brokers(mcluster, opt, 1);
        }
        /* The handle never produces, but serve its queue so nothing accumulates. */
        rd_kafka_poll(rk, 0);
    }
}

int main(int argc, char **argv)
{
    struct options opt;
    rd_kafka_conf_t *conf = NULL;
    rd_kafka_t *rk = NULL;
    rd_kafka_mock_cluster_t *mcluster = NULL;
    const char *bootstraps;
    sigset_t waitmask;
    char errstr[512];
    rd_kafka_resp_err_t err;
    int help, i, file_written = 0, rc = EXIT_FAILURE;

    if (parse_args(argc, argv, &opt, &help) < 0) {
        fprintf(stderr, "Try '%s --help'.\n", argv[0]);
        return EXIT_USAGE;
    }
    if (help) {
        usage(stdout, argv[0]);
        return 0;
    }

    if (setup_signals(&waitmask) < 0) {
        DB_ERROR("cannot install signal handlers: %s", strerror(errno));
        return EXIT_FAILURE;
    }

    conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, rdk_log_cb);
    /* Borrowed: opt outlives rk. */
    rd_kafka_conf_set_opaque(conf, &opt);
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!rk) {
        DB_ERROR("cannot create the librdkafka handle: %s", errstr);
        goto fail;
    }
    conf = NULL; /* owned by rk now */

    mcluster = rd_kafka_mock_cluster_new(rk, opt.brokers);
    if (!mcluster) {
        DB_ERROR("cannot create a mock cluster of %d broker(s) (see rdkafka log above)",
                 opt.brokers);
        goto fail;
    }
    for (i = 0; i < opt.ntopics; i++) {
        err = rd_kafka_mock_topic_create(mcluster, opt.topics[i], opt.partitions, opt.replication);
        if (err) {
            DB_ERROR("cannot create topic '%s': %s", opt.topics[i], rd_kafka_err2str(err));
            goto fail;
        }
        DB_INFO(&opt, "topic %s: %d partition(s), replication %d", opt.topics[i], opt.partitions,
                opt.replication);
    }

    /* Owned by mcluster; valid until rd_kafka_mock_cluster_destroy(). */
    bootstraps = rd_kafka_mock_cluster_bootstraps(mcluster);
    if (!bootstraps || !*bootstraps) {
        DB_ERROR("the mock cluster reported no bootstrap servers");
        goto fail;
    }
    if (opt.bootstrap_file) {
        if (write_file_atomic(opt.bootstrap_file, bootstraps) < 0) goto fail;
        file_written = 1;
    }
    if (printf("%s\n", bootstraps) < 0 || fflush(stdout) != 0) {
        DB_ERROR("cannot write the bootstrap list to stdout: %s", strerror(errno));
        goto fail;
    }
    DB_INFO(&opt, "ready: %d broker(s) at %s (pid %ld)", opt.brokers, bootstraps, (long)getpid());

    main_loop(rk, mcluster, &opt, &waitmask);
    DB_INFO(&opt, "shutting down");
    rc = 0;

fail:
    /* A stale file would point waiters at dead ports. */
    if (file_written && unlink(opt.bootstrap_file) < 0)
        DB_WARN("cannot remove %s: %s", opt.bootstrap_file, strerror(errno));
    /* The cluster first: it holds a reference to rk's internals. */
    if (mcluster) rd_kafka_mock_cluster_destroy(mcluster);
    if (rk) rd_kafka_destroy(rk);
    if (conf) rd_kafka_conf_destroy(conf);
    return rc;
}
