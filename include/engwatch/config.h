/* config — table-driven, strict configuration (libconfig).
 *
 * Every setting is one row of an option table (path, type, default, range,
 * where it lands in struct ew_config, one-line doc).  The same rows drive
 * parsing of the file, `--set path=value` overrides, range checks, the
 * `--check-config` printout and the check that conf/engwatchd.conf documents
 * every option.  Unknown keys, duplicates, wrong types and out-of-range values
 * are errors reported as "FILE:LINE: path: what is wrong (got X)"; all errors
 * are collected, not just the first.
 *
 * Order of precedence: built-in defaults < the file < --set overrides.
 */
#ifndef ENGWATCH_CONFIG_H
#define ENGWATCH_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct ew_strlist {
    char **v; /* owned */
    size_t n;
};

/* kafka.properties: librdkafka settings passed through verbatim. */
struct ew_props {
    char **key; /* owned */
    char **val; /* owned */
    size_t n;
};

struct ew_config {
    char *path; /* file it was read from, NULL when only defaults */

    struct {
        char *brokers;
        struct ew_strlist topics;
        char *group;
        char *client_id;
        char *dead_letter_topic; /* "" = dead letters are only counted and logged */
        int64_t shutdown_timeout_ms;
        int64_t max_buffered_bytes; /* pause partitions above this much queued input */
        struct ew_props properties;
    } kafka;

    struct {
        char *host;
        int64_t port;
        char *unix_socket; /* when set, used instead of host:port */
        char *user;
        char *password;
        int64_t db;
        int64_t connect_timeout_ms;
        int64_t command_timeout_ms;
        int64_t retry_max_backoff_ms;
        char *prefix;
    } redis;

    struct {
        int64_t max_message;
        int64_t max_id;
        int64_t max_text;
        int64_t max_name;
    } event;

    struct {
        int64_t max_events;
        int64_t max_wait_ms;
    } batch;

    struct {
        int64_t allowed_lateness_ms;
        struct ew_strlist resolutions; /* "BUCKET:RETENTION", parsed by ew_parse_resolutions */
        int64_t new_actor_age_ms;
        int64_t state_cache_bytes; /* parsed account state kept between batches */
        int64_t actor_slot_ms;     /* actor activity sketch: one per slot of event time */
        int64_t actor_history_ms;  /* activity counted over this much before a slot (0: off) */
        int64_t actor_cells;       /* counters per sketch */
        int64_t rare_actor_max;    /* at most this many earlier actions: a rare actor */
    } windows;

    struct {
        char *lexicon_dir; /* relative paths are relative to the config file's directory */
        int64_t short_max_chars;
        /* detector parameters: see the detectors' option rows in config.c and
         * the design essays at the top of daemon/detect_*.c */
        struct ew_burst_cfg {
            int64_t window_ms;      /* short test window */
            int64_t long_window_ms; /* long test window (sparser bursts) */
            int64_t trailing_ms;    /* the post's own earlier rate, before the window */
            int64_t min_comments;
            int64_t min_commenters;
            double min_ratio;         /* count / expected at least */
            double surprise;          /* -log10 of the Poisson tail at least */
            double comments_per_like; /* comments expected per like (upper organic) */
            bool account_level;
        } burst;
        struct ew_hollow_cfg {
            int64_t window_ms;
            int64_t long_window_ms;
            int64_t history_ms;
            int64_t min_comments;
            int64_t min_flagged;  /* hollow (or duplicate) comments in the window */
            double min_excess;    /* ratio above the account's own usual ratio */
            double prior_ratio;   /* hollow ratio assumed before the account has history */
            double prior_dup_ratio;
            double prior_weight;  /* comments' worth of the prior */
            double surprise;
        } hollow;
        struct ew_growth_cfg {
            int64_t window_ms;
            int64_t history_ms;
            int64_t min_follows;
            double min_growth;       /* excess follows / followers in the window */
            double daily_rate;       /* expected follows per day / followers, before history */
            double follows_per_like; /* honest follows per like of the account (upper) */
            double surprise;
            double snapshot_min_growth;
        } growth;
        struct ew_engage_cfg {
            int64_t maturity_ms;
            int64_t min_followers;
            int64_t small_max, medium_max, large_max; /* follower tiers */
            double low_small, low_medium, low_large, low_huge;     /* engagement / followers */
            double high_small, high_medium, high_large, high_huge; /* likes / followers */
            int64_t likes_window_ms;
            int64_t min_likes;
            double companions_per_like;
            double surprise;
            double rare_lift;          /* rare likers' excess over the reference, at least */
            double rare_companions;    /* companions surprise needed with rare likers */
            int64_t rare_min_reference; /* likes in the reference slot at least */
            int64_t rolling_interval_ms;
            int64_t rolling_window_ms;
            int64_t min_unfollows;
            double attrition;
        } engage;
    } detectors;

    struct {
        int64_t half_life_ms;
        double info, warning, critical;     /* risk thresholds of the levels */
        double weight[4];                   /* per signal kind, in enum ew_signal_kind order */
        int64_t resolve_after_ms;
        int64_t realert_after_ms;
        int64_t outbox_maxlen;
    } risk;

    struct {
        struct {
            bool enabled;
            char *brokers; /* "" = kafka.brokers */
            char *topic;
            struct ew_props properties;
        } kafka;
        struct {
            bool enabled;
            char *stream; /* under redis.prefix */
            int64_t maxlen;
        } redis;
        struct {
            bool enabled;
            char *url;
            char *token; /* bearer token, "" = none */
            int64_t timeout_ms;
            int64_t max_retries;
        } webhook;
        struct {
            bool enabled;
            char *path; /* "-" = stdout */
        } file;
        int64_t retry_backoff_max_ms;
    } sinks;

    struct {
        bool enabled;
        char *listen; /* host:port */
        char *token;  /* bearer token for every path but /healthz; "" = none */
    } http;

    struct {
        char *ns; /* Redis namespace of a replay; "" = "replay:<run id>:" */
        int64_t batch_events;
        int64_t progress_interval_ms;
    } replay;

    struct {
        int level;  /* 0..4 for error..debug: the ew_log_level is EW_ERROR + level */
        int prefix; /* enum ew_log_prefix */
        int64_t rate_limit_burst;
        int64_t rate_limit_interval_ms;
    } log;
};

/* Collected error messages, one per line. */
struct ew_cfg_errors {
    char *buf; /* owned, NUL-terminated; NULL when empty */
    size_t len, cap;
    int count;
};

enum ew_opt_type {
    EW_OPT_INT,      /* int64_t */
    EW_OPT_BOOL,     /* bool */
    EW_OPT_DOUBLE,   /* double */
    EW_OPT_STRING,   /* char * */
    EW_OPT_DURATION, /* int64_t ms; integer ms or "250ms" "10s" "5m" "2h" "1d" (combinable: "1h30m") */
    EW_OPT_SIZE,     /* int64_t bytes; integer or "64KiB" "8MiB" "1GiB" */
    EW_OPT_ENUM,     /* int: index into choices */
    EW_OPT_STRLIST,  /* struct ew_strlist; ["a", "b"]; --set a,b */
    EW_OPT_PROPS,    /* struct ew_props; a group of scalars; --set path.key=value */
};

#define EW_OPT_SECRET 0x1  /* masked in --check-config output */
#define EW_OPT_RESTART 0x2 /* a reload cannot change it: needs a restart */

struct ew_option;
/* Extra validation of a parsed value (e.g. list entries): 0, or -1 with why. */
typedef int (*ew_opt_check)(const void *value, char *why, size_t whylen);

struct ew_option {
    const char *path;
    enum ew_opt_type type;
    const char *def; /* default, in --set syntax */
    double min, max; /* numeric range; for STRING/STRLIST min is the minimum length/count */
    size_t off;      /* offsetof(struct ew_config, ...) */
    const char *const *choices; /* EW_OPT_ENUM: NULL-terminated */
    unsigned flags;
    const char *doc;
    ew_opt_check check; /* optional */
};

/* All options, in documentation order (grouped by section). */
const struct ew_option *ew_config_options(size_t *n);

/* Set cfg to the built-in defaults.  Returns 0, -1 on allocation failure. */
int ew_config_defaults(struct ew_config *cfg);

/* Load: defaults, then file (may be NULL), then each "path=value" in sets.
 * Returns 0 on success; -1 with every problem appended to errs.  cfg is
 * always left initialised (free it with ew_config_free either way). */
int ew_config_load(struct ew_config *cfg, const char *file, const char *const *sets, size_t nsets,
                   struct ew_cfg_errors *errs);

/* Apply one "path=value" override to an initialised cfg.  0 / -1 (+errs). */
int ew_config_set(struct ew_config *cfg, const char *assignment, struct ew_cfg_errors *errs);

void ew_config_free(struct ew_config *cfg);

/* Resolve a path setting: absolute as is, relative against the directory of
 * the config file (or the working directory when there is none).  Writes
 * into buf; returns buf. */
const char *ew_config_path(const struct ew_config *cfg, const char *path, char *buf, size_t len);

/* Print the effective configuration in libconfig syntax (secrets masked). */
void ew_config_print(const struct ew_config *cfg, FILE *out);

/* Names of EW_OPT_RESTART options whose values differ between a and b,
 * appended to errs-style list (one per line).  Returns how many differ. */
int ew_config_restart_diff(const struct ew_config *a, const struct ew_config *b,
                           struct ew_cfg_errors *out);

/* For a reload: give every EW_OPT_RESTART option of dst the value it has in
 * src (the running configuration), naming each one that differed in changed
 * (may be NULL).  Returns how many were kept, or -1 on allocation failure. */
int ew_config_keep_restart(struct ew_config *dst, const struct ew_config *src,
                           struct ew_cfg_errors *changed);

/* Look up a property value (NULL when absent). */
const char *ew_props_get(const struct ew_props *p, const char *key);

void ew_cfg_errors_add(struct ew_cfg_errors *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void ew_cfg_errors_free(struct ew_cfg_errors *e);

/* A window resolution: buckets of bucket_ms kept for retention_ms. */
#define EW_MAX_RES 6
struct ew_resolution {
    int64_t bucket_ms;
    int64_t retention_ms;
};
/* Parse windows.resolutions ("10s:30m", finest first) into out[EW_MAX_RES].
 * 0, or -1 with why. */
int ew_parse_resolutions(const struct ew_strlist *l, struct ew_resolution *out, size_t *n,
                         char *why, size_t whylen);

/* Parse helpers shared with other modules ("10s" → 10000).  0 / -1. */
int ew_parse_duration(const char *s, int64_t *ms);
int ew_parse_size(const char *s, int64_t *bytes);

#endif
