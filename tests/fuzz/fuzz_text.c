/* fuzz_text — libFuzzer target for the comment normaliser and classifier (daemon/text.c).
 *
 * The input is one comment text (any bytes: text.h promises invalid UTF-8 is dropped, not
 * trusted).  It is normalised and classified without a lexicon, with a small fixed one, and with
 * one built from the input's own lines (ew_lexicon_from_list refuses some lines; then only the
 * first two run).  Invariants:
 *  - the normalised form is well-formed UTF-8, NUL-terminated at out_len with no NUL before, and
 *    has as many code points as the classifier reports;
 *  - the class is in range, EMPTY exactly when nothing is left, GENERIC only with a lexicon;
 *  - the fingerprint depends on the text only: same across runs and lexicons;
 *  - every entry of a lexicon, classified against that lexicon, is GENERIC (when it is short
 *    enough to be segmented at all).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engwatch/text.h"
#include "fuzz_common.h"

/* text.c: texts longer than this many code points are never GENERIC. */
#define SEGMENT_MAX 64
#define MAX_LINES   32

static struct ew_text_ctx *ctx;
static struct ew_lexicon *small_lex;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static const char *const entries[] = {"好看", "支持",     "nice",   "Nice pic!", "666",
                                          "赞",   "ｇｏｏｄ", "太棒了", "love it",   "哈哈"};
    (void)argc;
    (void)argv;
    ctx = ew_text_ctx_new();
    if (!ctx || ew_lexicon_from_list(entries, sizeof entries / sizeof entries[0], &small_lex) != 0)
        abort();
    return 0;
}

/* Normalise s and check the result; returns its code point count. */
static size_t check_normalize(const char *s, size_t len)
{
    const char *out = NULL;
    size_t out_len = 0, cps = 0;

    FUZZ_CHECK(ew_text_normalize(ctx, s, len, &out, &out_len) == 0);
    FUZZ_CHECK(out != NULL);
    FUZZ_CHECK(out[out_len] == '\0' && strlen(out) == out_len);
    FUZZ_CHECK(fuzz_utf8_valid(out, out_len, &cps));
    return cps;
}

static struct ew_text_result classify(const struct ew_lexicon *lex, const char *s, size_t len,
                                      size_t norm_cps)
{
    static const struct ew_text_params params = EW_TEXT_PARAMS_DEFAULT;
    struct ew_text_result r;

    memset(&r, 0xA5, sizeof r);
    FUZZ_CHECK(ew_text_classify(ctx, lex, &params, s, len, &r) == 0);
    FUZZ_CHECK((unsigned)r.cls < EW_TEXT__COUNT);
    FUZZ_CHECK(r.norm_chars == norm_cps);
    FUZZ_CHECK((r.cls == EW_TEXT_EMPTY) == (r.norm_chars == 0));
    FUZZ_CHECK(lex || r.cls != EW_TEXT_GENERIC);
    FUZZ_CHECK(r.cls != EW_TEXT_SHORT || r.norm_chars <= params.short_max_chars);
    FUZZ_CHECK(strcmp(ew_text_class_name(r.cls), "unknown") != 0);
    return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An exact-size copy: a read past len is an ASan error. */
    char *s = malloc(size ? size : 1);
    char *lines[MAX_LINES];
    size_t nlines, cps;
    struct ew_text_result plain, again, with_small;
    struct ew_lexicon *own = NULL;

    if (!s) return 0;
    memcpy(s, data, size);

    cps = check_normalize(s, size);
    plain = classify(NULL, s, size, cps);
    again = classify(NULL, s, size, cps);
    FUZZ_CHECK(again.cls == plain.cls && again.fingerprint == plain.fingerprint);
    with_small = classify(small_lex, s, size, cps);
    FUZZ_CHECK(with_small.fingerprint == plain.fingerprint);
    /* A lexicon only adds GENERIC: any other class is unchanged. */
    FUZZ_CHECK(with_small.cls == EW_TEXT_GENERIC || with_small.cls == plain.cls);

    nlines = fuzz_split_lines(data, size, lines, MAX_LINES);
    if (ew_lexicon_from_list((const char *const *)lines, nlines, &own) == 0) {
        struct ew_text_result r = classify(own, s, size, cps);
        FUZZ_CHECK(r.fingerprint == plain.fingerprint);
        FUZZ_CHECK(r.cls == EW_TEXT_GENERIC || r.cls == plain.cls);
        FUZZ_CHECK(ew_lexicon_size(own) <= nlines);
        for (size_t i = 0; i < nlines; i++) {
            size_t n = strlen(lines[i]);
            size_t lc = check_normalize(lines[i], n);
            r = classify(own, lines[i], n, lc);
            FUZZ_CHECK(lc == 0 || lc > SEGMENT_MAX || r.cls == EW_TEXT_GENERIC);
        }
    }
    ew_lexicon_free(own);
    fuzz_lines_free(lines, nlines);
    free(s);
    return 0;
}
