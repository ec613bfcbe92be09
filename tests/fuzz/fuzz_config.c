/* fuzz_config — libFuzzer target for the configuration loader (daemon/config.c).
 *
 * The input is used twice: as a configuration file (written to a memfd and loaded by its
 * /proc/self/fd path) and as up to MAX_SETS "--set path=value" assignments, one per line, applied
 * to the defaults.  Either way every problem must be collected in errs (never a crash, never a
 * leak: LeakSanitizer is on), the result must say -1 exactly when something was reported, and a
 * configuration that loads must hold values its option table allows.  A loaded configuration is
 * also printed (to /dev/null) and compared with the other for the reload check.
 *
 * libconfig's @include would let the input read any file on the machine (/dev/zero never ends),
 * so the harness turns each "@include" into a comment before writing the file.  Includes are
 * trusted operator input in the daemon; here they would only test the fuzzer's own machine.
 */
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <unistd.h>

#include "engwatch/config.h"
#include "fuzz_common.h"

#define MAX_SETS 16

static FILE *devnull;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
const char *__lsan_default_suppressions(void);

/* libconfig 1.5 (Debian 12) leaks the string token that a syntax error interrupts (its grammar
 * frees no semantic value on error): libconfig's bug, a few bytes per rejected file (a reload of
 * a broken file), not ours.  The suppressions name its lexer's allocations only, so a leak of our
 * own (or a missing config_destroy, whose settings come from the parser) still fails the run. */
const char *__lsan_default_suppressions(void)
{
    return "leak:strbuf_append\nleak:libconfig_yylex\n";
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    devnull = fopen("/dev/null", "w");
    if (!devnull) abort();
    return 0;
}

/* Write data to a fresh memfd with every "@include" disarmed; returns the fd or -1. */
static int write_conf(const uint8_t *data, size_t size)
{
    static const char inc[] = "@include";
    const size_t inclen = sizeof inc - 1;
    char *copy = malloc(size ? size : 1);
    int fd = -1;
    size_t off = 0;

    if (!copy) return -1;
    memcpy(copy, data, size);
    for (size_t i = 0; i + inclen <= size; i++)
        if (copy[i] == '@' && strncasecmp(copy + i, inc, inclen) == 0) copy[i] = '#';
    fd = memfd_create("fuzz_config", MFD_CLOEXEC);
    while (fd >= 0 && off < size) {
        ssize_t w = write(fd, copy + off, size - off);
        if (w <= 0) {
            close(fd);
            fd = -1;
            break;
        }
        off += (size_t)w;
    }
    free(copy);
    return fd;
}

/* A loaded configuration holds what its option table allows. */
static void check_config(const struct ew_config *cfg)
{
    size_t n;
    const struct ew_option *opts = ew_config_options(&n);
    struct ew_resolution res[EW_MAX_RES];
    size_t nres;
    char why[256];

    for (size_t i = 0; i < n; i++) {
        const struct ew_option *o = &opts[i];
        const void *v = (const char *)cfg + o->off;
        int64_t x;
        switch (o->type) {
        case EW_OPT_INT:
        case EW_OPT_DURATION:
        case EW_OPT_SIZE:
            x = *(const int64_t *)v;
            if (o->min != 0 || o->max != 0) {
                FUZZ_CHECK((double)x >= o->min);
                FUZZ_CHECK(o->max <= o->min || (double)x <= o->max);
            }
            break;
        case EW_OPT_STRING: {
            const char *s = *(char *const *)v;
            FUZZ_CHECK(s != NULL);
            FUZZ_CHECK(strlen(s) >= (size_t)o->min);
            break;
        }
        case EW_OPT_ENUM: {
            int k = *(const int *)v, count = 0;
            while (o->choices[count])
                count++;
            FUZZ_CHECK(k >= 0 && k < count);
            break;
        }
        case EW_OPT_STRLIST: {
            const struct ew_strlist *l = v;
            FUZZ_CHECK(l->n >= (size_t)o->min);
            for (size_t j = 0; j < l->n; j++)
                FUZZ_CHECK(l->v[j] != NULL && l->v[j][0] != '\0');
            break;
        }
        case EW_OPT_PROPS: {
            const struct ew_props *p = v;
            for (size_t j = 0; j < p->n; j++)
                FUZZ_CHECK(p->key[j] != NULL && p->val[j] != NULL);
            break;
        }
        case EW_OPT_DOUBLE: {
            double d = *(const double *)v;
            FUZZ_CHECK(isfinite(d));
            if (o->min != 0 || o->max != 0) {
                FUZZ_CHECK(d >= o->min);
                FUZZ_CHECK(o->max <= o->min || d <= o->max);
            }
            break;
        }
        case EW_OPT_BOOL:
            break;
        }
    }
    FUZZ_CHECK(ew_parse_resolutions(&cfg->windows.resolutions, res, &nres, why, sizeof why) == 0);
}

/* Check the outcome of one ew_config_load. */
static void check_load(int rc, const struct ew_config *cfg, const struct ew_cfg_errors *errs)
{
    if (rc == 0) {
        FUZZ_CHECK(errs->count == 0);
        check_config(cfg);
        ew_config_print(cfg, devnull);
        return;
    }
    FUZZ_CHECK(rc == -1);
    FUZZ_CHECK(errs->count > 0 && errs->buf != NULL);
    FUZZ_CHECK(errs->len == strlen(errs->buf) && errs->buf[errs->len - 1] == '\n');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ew_config from_file, from_sets;
    struct ew_cfg_errors errs = {0}, diff = {0};
    char *sets[MAX_SETS];
    char path[64];
    size_t nsets;
    int fd, rc;

    fd = write_conf(data, size);
    if (fd < 0) return 0;
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    rc = ew_config_load(&from_file, path, NULL, 0, &errs);
    check_load(rc, &from_file, &errs);
    close(fd);
    ew_cfg_errors_free(&errs);

    nsets = fuzz_split_lines(data, size, sets, MAX_SETS);
    rc = ew_config_load(&from_sets, NULL, (const char *const *)sets, nsets, &errs);
    check_load(rc, &from_sets, &errs);
    ew_cfg_errors_free(&errs);

    /* Both are initialised whatever happened, so the reload comparison must work on them. */
    FUZZ_CHECK(ew_config_restart_diff(&from_file, &from_sets, &diff) == diff.count);
    ew_cfg_errors_free(&diff);

    fuzz_lines_free(sets, nsets);
    ew_config_free(&from_sets);
    ew_config_free(&from_file);
    return 0;
}
