/* text — comment normalisation, hollow classification and copy-paste
 * fingerprints.
 *
 * What it is for.  Bought engagement leaves comments that say nothing: "好看",
 * "支持支持", "nice pic 😍", "👍👍", "哈哈哈哈".  The hollow-comments detector
 * needs each comment labelled as hollow or not, and the copy-paste signal needs
 * a fingerprint under which trivial variations of one pasted text collide.
 *
 * Two forms of the text, from one pass of utf8proc:
 *   - decompose with NFKC + case fold + "ignorable" removal + mark stripping,
 *     then recompose (utf8proc_decompose + utf8proc_normalize_utf32).  NFKC
 *     folds full width ("ＮＩＣＥ") and compatibility forms; case fold folds
 *     "NICE"; IGNORE drops zero-width joiners, variation selectors (U+FE0F),
 *     soft hyphens and Hangul fillers, all favourites for making two pasted
 *     texts look different; STRIPMARK drops combining marks, so "café" and
 *     "cafe" (and zalgo-decorated text) compare equal.  The cost of STRIPMARK
 *     is that scripts that write vowels as marks (Devanagari, Thai) and the
 *     Japanese voicing marks are reduced to a skeleton; lexicon entries go
 *     through the same normaliser, so matching stays consistent.
 *   - the normalised form keeps letters (L*) and numbers (N*) only: this is
 *     what the classifier and the lexicon see.
 *   - the light form also keeps symbols (S*: emoji, skin tones, currency) and
 *     unassigned code points (emoji newer than our utf8proc's Unicode tables);
 *     it drops spaces, punctuation and controls.  Its ew_hash64 (hmap.h) is
 *     the fingerprint.  So "👍👍" == "👍 👍!" but "👍👍" != "❤️❤️".
 *
 * Classification, first match wins:
 *   EMPTY       nothing left in the normalised form.
 *   GENERIC     at most EW_TEXT_SEGMENT_MAX code points and the whole text
 *               splits into lexicon entries (dynamic programming over code
 *               point positions, so "abcd" = "ab"+"cd" is found even when
 *               "abc" is also an entry).  Longer texts are never generic: a
 *               real sentence can accidentally split into short entries, and
 *               the bound keeps the work per comment small.
 *   REPEATED    one unit of 1..4 code points repeated, total >= 3 code
 *               points ("哈哈哈", "666666", "hahaha"); or one code point
 *               followed by a run of another repeated >= 3 times ("2333",
 *               "hmmm", "awww").  No length bound: a wall of "哈" is hollow.
 *               A repeated lexicon entry ("666666") is GENERIC, not REPEATED.
 *   SHORT       at most short_max_chars code points.
 *   SUBSTANTIVE everything else.
 *
 * Fingerprints are stored and compared across restarts and hosts: ew_hash64
 * is unseeded and byte-order independent.  Changing it, the normaliser options
 * or the utf8proc Unicode version changes fingerprints, and windows that span
 * such an upgrade see one text as two; test_text.c pins a few values so that
 * such a change is never silent.
 *
 * The lexicon is an ew_hmap of normalised entries.  Loading normalises each
 * entry with the same code as comments, so the two can never disagree.
 *
 * Steady state allocates nothing: the context keeps its buffers and only
 * grows them.  Invalid UTF-8 is dropped byte by byte before utf8proc sees it.
 */
#include "engwatch/text.h"
#include "engwatch/hmap.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#define NORM_OPTIONS                                                                               \
    ((utf8proc_option_t)(UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT |                    \
                         UTF8PROC_CASEFOLD | UTF8PROC_IGNORE | UTF8PROC_STRIPMARK))

/* Texts longer than this many code points are never GENERIC (see above). */
#define EW_TEXT_SEGMENT_MAX 64
/* Size of the first/last code point filters of the lexicon: 1024 bits. */
#define CP_BITMAP_LOG2  10
#define CP_BITMAP_WORDS ((1u << CP_BITMAP_LOG2) / 64)
/* Raw lexicon line limit, before normalisation. */
#define EW_LEXICON_ENTRY_MAX 256
/* Inputs beyond this are refused: keeps every size computation below far from overflow. */
#define EW_TEXT_INPUT_MAX ((size_t)1 << 26)

/* ---- buffers ----------------------------------------------------------- */

/* Grow *buf to hold at least need elements of elem bytes; never shrinks. */
static int grow(void **buf, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return 0;
    size_t ncap = *cap ? *cap : 64;
    while (ncap < need) {
        if (ncap > SIZE_MAX / 2) return -1;
        ncap *= 2;
    }
    if (ncap > SIZE_MAX / elem) return -1;
    void *p = realloc(*buf, ncap * elem);
    if (!p) return -1;
    *buf = p;
    *cap = ncap;
    return 0;
}

/* Length of the longest prefix of p[0..len) that is valid UTF-8 (as
 * utf8proc_iterate sees it: no overlongs, surrogates or code points above
 * U+10FFFF). */
static size_t utf8_valid_prefix(const unsigned char *p, size_t len)
{
    size_t i = 0;
    while (i < len) {
        if (p[i] < 0x80) { /* ASCII needs no library call */
            i++;
            continue;
        }
        utf8proc_int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate(p + i, (utf8proc_ssize_t)(len - i), &cp);
        if (k <= 0 || cp < 0) break;
        i += (size_t)k;
    }
    return i;
}

/* ---- context and normaliser --------------------------------------------- */

enum { KEEP_LIGHT = 1, KEEP_NORM = 2 };

/* What each general category contributes to the two forms.  Marks never get
 * here (STRIPMARK); listed for completeness. */
static const unsigned char category_keep[] = {
    [UTF8PROC_CATEGORY_CN] = KEEP_LIGHT,
    [UTF8PROC_CATEGORY_LU] = KEEP_LIGHT | KEEP_NORM,
    [UTF8PROC_CATEGORY_LL] = KEEP_LIGHT | KEEP_NORM,
    [UTF8PROC_CATEGORY_LT] = KEEP_LIGHT | KEEP_NORM,
    [UTF8PROC_CATEGORY_LM] = KEEP_LIGHT | KEEP_NORM,
    [UTF8PROC_CATEGORY_LO] = KEEP_LIGHT | KEEP_NORM,
    [UTF8PROC_CATEGORY_ND] = KEEP_LIGHT | KEEP_NORM,
    [UTF8PROC_CATEGORY_NL] = KEEP_LIGHT | KEEP_NORM,
    [UTF8PROC_CATEGORY_NO] = KEEP_LIGHT | KEEP_NORM,
    [UTF8PROC_CATEGORY_SM] = KEEP_LIGHT,
    [UTF8PROC_CATEGORY_SC] = KEEP_LIGHT,
    [UTF8PROC_CATEGORY_SK] = KEEP_LIGHT,
    [UTF8PROC_CATEGORY_SO] = KEEP_LIGHT,
    [UTF8PROC_CATEGORY_CO] = 0, /* last: sizes the table */
};

struct ew_text_ctx {
    utf8proc_int32_t *cps; /* decomposition; afterwards the normalised code points */
    size_t cps_cap;
    unsigned char *clean; /* the input with invalid bytes dropped (only when needed) */
    size_t clean_cap;
    char *norm; /* normalised form, UTF-8, NUL-terminated */
    size_t norm_cap;
    size_t norm_len; /* bytes */
    size_t norm_n;   /* code points */
    char *light;     /* light form, UTF-8, not terminated; same capacity as norm */
    size_t light_cap;
    size_t light_len;
    /* Byte offset of each normalised code point, for the segmenter; filled
     * for the first EW_TEXT_SEGMENT_MAX + 1 only. */
    uint32_t off[EW_TEXT_SEGMENT_MAX + 2];
};

struct ew_text_ctx *ew_text_ctx_new(void)
{
    return calloc(1, sizeof(struct ew_text_ctx));
}

void ew_text_ctx_free(struct ew_text_ctx *ctx)
{
    if (!ctx) return;
    free(ctx->cps);
    free(ctx->clean);
    free(ctx->norm);
    free(ctx->light);
    free(ctx);
}

/* Return s itself when it is valid UTF-8, else a copy in ctx->clean without
 * the invalid bytes. */
static int clean_input(struct ew_text_ctx *ctx, const unsigned char *s, size_t len,
                       const unsigned char **out, size_t *out_len)
{
    size_t i = utf8_valid_prefix(s, len);
    if (i == len) {
        *out = s;
        *out_len = len;
        return 0;
    }
    if (grow((void **)&ctx->clean, &ctx->clean_cap, len, 1) < 0) return -1;
    memcpy(ctx->clean, s, i);
    size_t o = i;
    i++; /* the byte that broke the prefix */
    while (i < len) {
        size_t k = utf8_valid_prefix(s + i, len - i);
        memcpy(ctx->clean + o, s + i, k);
        o += k;
        i += k + 1; /* skip one invalid byte; k stops only at one or at the end */
    }
    *out = ctx->clean;
    *out_len = o;
    return 0;
}

/* Fill ctx->norm / norm_len / norm_n / cps[0..norm_n) / off[] / light / light_len. */
static int normalize(struct ew_text_ctx *ctx, const char *s, size_t len)
{
    const unsigned char *src = (const unsigned char *)s;
    size_t srclen = len;

    ctx->norm_len = 0;
    ctx->norm_n = 0;
    ctx->light_len = 0;
    ctx->off[0] = 0;
    if (len > EW_TEXT_INPUT_MAX) return -1;
    /* Make sure the empty result is a valid string whatever happens next. */
    if (grow((void **)&ctx->norm, &ctx->norm_cap, 1, 1) < 0) return -1;
    ctx->norm[0] = '\0';
    if (len == 0) return 0;
    if (clean_input(ctx, src, len, &src, &srclen) < 0) return -1;
    if (srclen == 0) return 0;

    /* One code point per input byte at most before decomposition; most texts
     * do not expand, so this is usually the only size we need. */
    if (grow((void **)&ctx->cps, &ctx->cps_cap, srclen + 16, sizeof(utf8proc_int32_t)) < 0)
        return -1;
    utf8proc_ssize_t n;
    for (;;) {
        n = utf8proc_decompose(src, (utf8proc_ssize_t)srclen, ctx->cps,
                               (utf8proc_ssize_t)ctx->cps_cap, NORM_OPTIONS);
        if (n < 0) return -1;
        if ((size_t)n <= ctx->cps_cap) break;
        /* Compatibility decompositions can expand (U+FDFA is 18 code points). */
        if (grow((void **)&ctx->cps, &ctx->cps_cap, (size_t)n, sizeof(utf8proc_int32_t)) < 0)
            return -1;
    }
    n = utf8proc_normalize_utf32(ctx->cps, n, NORM_OPTIONS);
    if (n < 0) return -1;
    if (grow((void **)&ctx->norm, &ctx->norm_cap, (size_t)n * 4 + 1, 1) < 0 ||
        grow((void **)&ctx->light, &ctx->light_cap, (size_t)n * 4, 1) < 0)
        return -1;

    /* Filter in place: the write index never passes the read index. */
    size_t w = 0, o = 0, lo = 0;
    for (utf8proc_ssize_t i = 0; i < n; i++) {
        utf8proc_int32_t cp = ctx->cps[i];
        utf8proc_category_t cat = utf8proc_category(cp);
        unsigned keep = (size_t)cat < sizeof category_keep ? category_keep[cat] : 0;
        if (!keep) continue;
        char *enc = ctx->light + lo;
        utf8proc_ssize_t k = utf8proc_encode_char(cp, (utf8proc_uint8_t *)enc);
        if (k <= 0) continue;
        lo += (size_t)k;
        if (!(keep & KEEP_NORM)) continue;
        memcpy(ctx->norm + o, enc, (size_t)k);
        o += (size_t)k;
        ctx->cps[w++] = cp;
        if (w <= EW_TEXT_SEGMENT_MAX + 1) ctx->off[w] = (uint32_t)o;
    }
    ctx->norm[o] = '\0';
    ctx->norm_len = o;
    ctx->norm_n = w;
    ctx->light_len = lo;
    return 0;
}

int ew_text_normalize(struct ew_text_ctx *ctx, const char *s, size_t len, const char **out,
                      size_t *out_len)
{
    if (!ctx || (!s && len)) return -1;
    if (normalize(ctx, s, len) < 0) return -1;
    *out = ctx->norm;
    *out_len = ctx->norm_len;
    return 0;
}

/* ---- lexicon ------------------------------------------------------------ */

struct ew_lexicon {
    struct ew_hmap *set; /* normalised entries; the value slot is unused */
    /* Bit k-1 set when some entry has k code points (k <= EW_TEXT_SEGMENT_MAX);
     * lets the segmenter skip lookups for lengths no entry has. */
    uint64_t len_mask;
    unsigned max_cps; /* longest entry that can ever match, in code points */
    /* Bitmaps of the first and of the last code points of entries: most
     * candidate substrings fail these before any hashing. */
    uint64_t first[CP_BITMAP_WORDS], last[CP_BITMAP_WORDS];
};

static unsigned cp_bit(utf8proc_int32_t cp)
{
    /* Fibonacci hashing: CJK code points are dense, so spread them. */
    return (unsigned)(((uint32_t)cp * 2654435761u) >> (32 - CP_BITMAP_LOG2));
}

static void cp_set(uint64_t *map, utf8proc_int32_t cp)
{
    unsigned b = cp_bit(cp);
    map[b / 64] |= 1ULL << (b % 64);
}

static bool cp_maybe(const uint64_t *map, utf8proc_int32_t cp)
{
    unsigned b = cp_bit(cp);
    return (map[b / 64] >> (b % 64)) & 1;
}

static struct ew_lexicon *lex_new(void)
{
    struct ew_lexicon *lex = calloc(1, sizeof *lex);
    if (!lex) return NULL;
    lex->set = ew_hmap_new(1);
    if (!lex->set) {
        free(lex);
        return NULL;
    }
    return lex;
}

void ew_lexicon_free(struct ew_lexicon *lex)
{
    if (!lex) return;
    ew_hmap_free(lex->set);
    free(lex);
}

size_t ew_lexicon_size(const struct ew_lexicon *lex)
{
    return lex ? ew_hmap_count(lex->set) : 0;
}

/* Normalise one raw entry and add it; duplicates after normalisation are
 * silently merged ("Nice!" and "nice").  On failure *why says what is wrong. */
static int lex_add_raw(struct ew_lexicon *lex, struct ew_text_ctx *ctx, const char *s, size_t len,
                       const char **why)
{
    if (len > EW_LEXICON_ENTRY_MAX) {
        *why = "entry longer than 256 bytes";
        return -1;
    }
    if (utf8_valid_prefix((const unsigned char *)s, len) != len) {
        *why = "invalid UTF-8";
        return -1;
    }
    if (normalize(ctx, s, len) < 0) {
        *why = "out of memory";
        return -1;
    }
    if (ctx->norm_n == 0) {
        *why = "entry normalises to nothing (no letters or digits; emoji- and "
               "punctuation-only comments are classified empty anyway)";
        return -1;
    }
    if (!ew_hmap_upsert(lex->set, ctx->norm, ctx->norm_len, NULL)) {
        *why = "out of memory";
        return -1;
    }
    /* Entries longer than the segmentation bound can never match; keep them
     * (harmless) but do not let them widen the search. */
    if (ctx->norm_n <= EW_TEXT_SEGMENT_MAX) {
        lex->len_mask |= 1ULL << (ctx->norm_n - 1);
        if (ctx->norm_n > lex->max_cps) lex->max_cps = (unsigned)ctx->norm_n;
        cp_set(lex->first, ctx->cps[0]);
        cp_set(lex->last, ctx->cps[ctx->norm_n - 1]);
    }
    return 0;
}

int ew_lexicon_from_list(const char *const *entries, size_t n, struct ew_lexicon **out)
{
    struct ew_text_ctx *ctx = NULL;
    struct ew_lexicon *lex = NULL;
    const char *why;

    if (!out || (!entries && n)) return -1;
    ctx = ew_text_ctx_new();
    lex = lex_new();
    if (!ctx || !lex) goto fail;
    for (size_t i = 0; i < n; i++) {
        if (!entries[i] || lex_add_raw(lex, ctx, entries[i], strlen(entries[i]), &why) < 0)
            goto fail;
    }
    ew_text_ctx_free(ctx);
    *out = lex;
    return 0;
fail:
    ew_lexicon_free(lex);
    ew_text_ctx_free(ctx);
    return -1;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool is_lexicon_file(const char *name)
{
    size_t n = strlen(name);
    /* Dot files are editor droppings (".#zh.txt", ".zh.txt.swp"). */
    return name[0] != '.' && n > 4 && strcmp(name + n - 4, ".txt") == 0;
}

/* Collect the sorted "*.txt" names in dir.  Caller frees each and the array. */
static int list_txt(const char *dir, char ***names_out, size_t *n_out, char *err, size_t errlen)
{
    DIR *d = opendir(dir);
    char **names = NULL;
    size_t n = 0, cap = 0;

    if (!d) {
        snprintf(err, errlen, "%s: cannot open lexicon directory: %s", dir, strerror(errno));
        return -1;
    }
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(d);
        if (!de) {
            if (errno) {
                snprintf(err, errlen, "%s: cannot read directory: %s", dir, strerror(errno));
                goto fail;
            }
            break;
        }
        if (!is_lexicon_file(de->d_name)) continue;
        if (grow((void **)&names, &cap, n + 1, sizeof *names) < 0) goto oom;
        names[n] = strdup(de->d_name);
        if (!names[n]) goto oom;
        n++;
    }
    closedir(d);
    if (n) qsort(names, n, sizeof *names, cmp_names);
    *names_out = names;
    *n_out = n;
    return 0;
oom:
    snprintf(err, errlen, "%s: out of memory", dir);
fail:
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    closedir(d);
    return -1;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

/* Add every entry of one file. */
static int load_file(struct ew_lexicon *lex, struct ew_text_ctx *ctx, const char *path, char *err,
                     size_t errlen)
{
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    int rc = -1;

    if (!f) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    for (;;) {
        errno = 0;
        ssize_t got = getline(&line, &cap, f);
        if (got < 0) {
            if (ferror(f)) {
                snprintf(err, errlen, "%s:%zu: read error: %s", path, lineno + 1,
                         strerror(errno ? errno : EIO));
                goto out;
            }
            break;
        }
        lineno++;
        char *s = line;
        size_t len = (size_t)got;
        /* A byte order mark from a Windows editor would hide a '#' comment. */
        if (lineno == 1 && len >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) {
            s += 3;
            len -= 3;
        }
        while (len && is_blank(s[len - 1]))
            len--;
        while (len && is_blank(*s)) {
            s++;
            len--;
        }
        if (len == 0 || s[0] == '#') continue;
        const char *why;
        if (lex_add_raw(lex, ctx, s, len, &why) < 0) {
            snprintf(err, errlen, "%s:%zu: %s", path, lineno, why);
            goto out;
        }
    }
    rc = 0;
out:
    free(line);
    fclose(f);
    return rc;
}

int ew_lexicon_load_dir(const char *dir, struct ew_lexicon **out, char *err, size_t errlen)
{
    char dummy[1];
    char **names = NULL;
    size_t n = 0;
    struct ew_text_ctx *ctx = NULL;
    struct ew_lexicon *lex = NULL;
    char *path = NULL;
    size_t path_cap = 0;

    if (!err || errlen == 0) {
        err = dummy;
        errlen = sizeof dummy;
    }
    err[0] = '\0';
    if (!dir || !out) {
        snprintf(err, errlen, "lexicon: no directory given");
        return -1;
    }
    if (list_txt(dir, &names, &n, err, errlen) < 0) return -1;
    if (n == 0) {
        /* Almost always a wrong path; an operator who wants no lexicon can
         * ship an empty .txt file. */
        snprintf(err, errlen, "%s: no *.txt lexicon files", dir);
        goto fail;
    }
    ctx = ew_text_ctx_new();
    lex = lex_new();
    if (!ctx || !lex) {
        snprintf(err, errlen, "%s: out of memory", dir);
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        size_t need = strlen(dir) + strlen(names[i]) + 2;
        if (grow((void **)&path, &path_cap, need, 1) < 0) {
            snprintf(err, errlen, "%s: out of memory", dir);
            goto fail;
        }
        snprintf(path, path_cap, "%s/%s", dir, names[i]);
        if (load_file(lex, ctx, path, err, errlen) < 0) goto fail;
    }
    free(path);
    ew_text_ctx_free(ctx);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    *out = lex;
    return 0;
fail:
    free(path);
    ew_lexicon_free(lex);
    ew_text_ctx_free(ctx);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return -1;
}

/* ---- classifier ---------------------------------------------------------- */

/* Can the normalised text (at most EW_TEXT_SEGMENT_MAX code points) be split
 * entirely into lexicon entries?  reach[j]: the first j code points split. */
static bool lex_segments(const struct ew_lexicon *lex, const struct ew_text_ctx *ctx)
{
    size_t n = ctx->norm_n;
    const char *s = ctx->norm;
    bool reach[EW_TEXT_SEGMENT_MAX + 1] = {true};

    for (size_t i = 0; i < n; i++) {
        if (!reach[i] || !cp_maybe(lex->first, ctx->cps[i])) continue;
        size_t end = n - i < lex->max_cps ? n : i + lex->max_cps;
        for (size_t j = i + 1; j <= end; j++) {
            if (reach[j] || !((lex->len_mask >> (j - i - 1)) & 1) ||
                !cp_maybe(lex->last, ctx->cps[j - 1]))
                continue;
            if (ew_hmap_get(lex->set, s + ctx->off[i], ctx->off[j] - ctx->off[i])) reach[j] = true;
        }
        if (reach[n]) return true;
    }
    return reach[n];
}

static bool is_repeated(const utf8proc_int32_t *cp, size_t n)
{
    if (n < 3) return false;
    for (size_t u = 1; u <= 4 && u * 2 <= n; u++) {
        if (n % u) continue;
        size_t k = u;
        while (k < n && cp[k] == cp[k - u])
            k++;
        if (k == n) return true;
    }
    /* "2333", "hmmm": a lead-in then one code point at least three times. */
    if (n >= 4 && cp[0] != cp[1]) {
        size_t k = 2;
        while (k < n && cp[k] == cp[1])
            k++;
        if (k == n) return true;
    }
    return false;
}

int ew_text_classify(struct ew_text_ctx *ctx, const struct ew_lexicon *lex,
                     const struct ew_text_params *p, const char *s, size_t len,
                     struct ew_text_result *r)
{
    static const struct ew_text_params defaults = EW_TEXT_PARAMS_DEFAULT;

    if (!ctx || !r || (!s && len)) return -1;
    if (!p) p = &defaults;
    if (normalize(ctx, s, len) < 0) return -1;
    size_t n = ctx->norm_n;
    r->fingerprint = ew_hash64(ctx->light, ctx->light_len);
    r->norm_chars = n;
    if (n == 0)
        r->cls = EW_TEXT_EMPTY;
    else if (lex && lex->max_cps && n <= EW_TEXT_SEGMENT_MAX && lex_segments(lex, ctx))
        r->cls = EW_TEXT_GENERIC;
    else if (is_repeated(ctx->cps, n))
        r->cls = EW_TEXT_REPEATED;
    else if (n <= p->short_max_chars)
        r->cls = EW_TEXT_SHORT;
    else
        r->cls = EW_TEXT_SUBSTANTIVE;
    return 0;
}

const char *ew_text_class_name(enum ew_text_class c)
{
    static const char *const names[EW_TEXT__COUNT] = {
        [EW_TEXT_SUBSTANTIVE] = "substantive",
        [EW_TEXT_EMPTY] = "empty",
        [EW_TEXT_GENERIC] = "generic",
        [EW_TEXT_REPEATED] = "repeated",
        [EW_TEXT_SHORT] = "short",
    };
    return (unsigned)c < EW_TEXT__COUNT ? names[c] : "unknown";
}
