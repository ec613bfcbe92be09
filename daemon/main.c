/* engwatchd — command line, configuration and the process lifecycle.
 *
 *   engwatchd [-c FILE] [--set path=value]...          run the daemon
 *   engwatchd --check-config [-c FILE] [--set ...]     validate, print effective config
 *   engwatchd replay [-c FILE] [--set ...] [-o ALERTS.jsonl] DUMP...
 *
 * main.c is the only file that holds process-wide mutable state (signal
 * flags); modules get their context passed in.
 */
#include "engwatch/config.h"
#include "engwatch/log.h"
#include "engwatch/metrics.h"
#include "engwatch/pipeline.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef EW_SYSCONFDIR
#define EW_SYSCONFDIR "/etc"
#endif
#define EW_DEFAULT_CONFIG EW_SYSCONFDIR "/engwatch/engwatchd.conf"
#define EW_VERSION "0.1.0"

/* Set by signal handlers, read by the pipeline's loop. */
static volatile sig_atomic_t stop_requested;
static volatile sig_atomic_t reload_requested;

static void on_stop(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void on_hup(int sig)
{
    (void)sig;
    reload_requested = 1;
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = on_hup;
    sigaction(SIGHUP, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: engwatchd [-c FILE] [--set path=value]...\n"
            "       engwatchd --check-config [-c FILE] [--set path=value]...\n"
            "       engwatchd replay [-c FILE] [--set path=value]... [-o ALERTS.jsonl] DUMP...\n"
            "\n"
            "  -c, --config FILE   configuration file (default " EW_DEFAULT_CONFIG
            " when it exists)\n"
            "      --set P=V       override setting P (repeatable), e.g. --set redis.port=6390\n"
            "      --check-config  validate the configuration, print the effective values, exit\n"
            "  -o, --output FILE   (replay) write alerts as JSON lines to FILE (default stdout)\n"
            "      --keep-state    (replay) keep the replay's Redis namespace afterwards\n"
            "  -V, --version       print the version\n"
            "  -h, --help          this help\n");
}

struct cli {
    const char *config;
    const char **sets;
    size_t nsets;
    int check_config;
    int replay;
    const char *alerts_out;
    int keep_state;
    char **dumps;
    int ndumps;
};

/* Returns 0 to go on, 1 to exit 0 (help/version), -1 on usage error. */
static int parse_args(int argc, char **argv, struct cli *cli)
{
    enum { OPT_SET = 256, OPT_CHECK, OPT_KEEP };
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},  {"set", required_argument, NULL, OPT_SET},
        {"check-config", no_argument, NULL, OPT_CHECK}, {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},      {"output", required_argument, NULL, 'o'},
        {"keep-state", no_argument, NULL, OPT_KEEP}, {NULL, 0, NULL, 0},
    };
    if (argc > 1 && strcmp(argv[1], "replay") == 0) {
        cli->replay = 1;
        argv++;
        argc--;
    }
    cli->sets = calloc((size_t)argc + 1, sizeof *cli->sets);
    if (!cli->sets)
        return -1;
    int c;
    while ((c = getopt_long(argc, argv, "c:o:hV", longopts, NULL)) != -1) {
        switch (c) {
        case 'c': cli->config = optarg; break;
        case OPT_SET: cli->sets[cli->nsets++] = optarg; break;
        case OPT_CHECK: cli->check_config = 1; break;
        case 'o':
            if (!cli->replay)
                return fprintf(stderr, "engwatchd: -o belongs to 'engwatchd replay'\n"), -1;
            cli->alerts_out = optarg;
            break;
        case OPT_KEEP:
            if (!cli->replay)
                return fprintf(stderr, "engwatchd: --keep-state belongs to 'engwatchd replay'\n"),
                       -1;
            cli->keep_state = 1;
            break;
        case 'h': usage(stdout); return 1;
        case 'V': printf("engwatchd %s\n", EW_VERSION); return 1;
        default: usage(stderr); return -1;
        }
    }
    cli->dumps = argv + optind;
    cli->ndumps = argc - optind;
    if (!cli->replay && cli->ndumps > 0) {
        fprintf(stderr, "engwatchd: unexpected argument '%s'\n", cli->dumps[0]);
        usage(stderr);
        return -1;
    }
    if (cli->replay && cli->ndumps == 0 && !cli->check_config) {
        fprintf(stderr, "engwatchd replay: name at least one dump (FILE.jsonl, FILE.jsonl.gz or -)\n");
        return -1;
    }
    return 0;
}

struct reload_ctx {
    const char *file;
    const char *const *sets;
    size_t nsets;
};

/* Re-read the configuration exactly as at start: the same file, then the
 * same --set overrides. */
static int reload_config(void *ctx, struct ew_config *out, struct ew_cfg_errors *errs)
{
    const struct reload_ctx *r = ctx;
    return ew_config_load(out, r->file, r->sets, r->nsets, errs);
}

int main(int argc, char **argv)
{
    struct cli cli = {0};
    int rc = parse_args(argc, argv, &cli);
    if (rc != 0) {
        free(cli.sets);
        return rc > 0 ? 0 : 2;
    }
    const char *file = cli.config;
    if (!file && access(EW_DEFAULT_CONFIG, F_OK) == 0)
        file = EW_DEFAULT_CONFIG;

    struct ew_config cfg;
    struct ew_cfg_errors errs = {0};
    if (ew_config_load(&cfg, file, cli.sets, cli.nsets, &errs) < 0) {
        fprintf(stderr, "%s", errs.buf ? errs.buf : "");
        fprintf(stderr, "engwatchd: configuration %s has %d error%s\n",
                file ? file : "(defaults)", errs.count, errs.count == 1 ? "" : "s");
        ew_cfg_errors_free(&errs);
        ew_config_free(&cfg);
        free(cli.sets);
        return 1;
    }
    ew_log_setup(EW_ERROR + cfg.log.level, (enum ew_log_prefix)cfg.log.prefix,
                 (uint32_t)cfg.log.rate_limit_burst, cfg.log.rate_limit_interval_ms);

    if (cli.check_config) {
        ew_config_print(&cfg, stdout);
        fprintf(stderr, "engwatchd: configuration %s is valid\n", file ? file : "(defaults)");
        rc = 0;
    } else if (cli.replay) {
        install_signals();
        rc = ew_pipeline_run_replay(&cfg, cli.dumps, cli.ndumps, cli.alerts_out, cli.keep_state,
                                    &stop_requested);
    } else {
        install_signals();
        EW_LOG(EW_NOTICE, "main", "engwatchd %s starting (config %s)", EW_VERSION,
               file ? file : "built-in defaults");
        struct reload_ctx rctx = {file, cli.sets, cli.nsets};
        struct ew_metrics_hub hub;
        ew_hub_init(&hub);
        struct ew_run_ctl ctl = {&stop_requested, &reload_requested, reload_config, &rctx, &hub};
        rc = ew_pipeline_run_live(&cfg, &ctl);
        ew_hub_destroy(&hub);
        EW_LOG(EW_NOTICE, "main", "engwatchd stopped (exit %d)", rc);
    }
    ew_config_free(&cfg);
    free(cli.sets);
    return rc;
}
