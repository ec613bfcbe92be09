/* text — comment normalisation, hollow classification and copy-paste
 * fingerprints.
 *
 * Normalisation (utf8proc): NFKC, case fold, then drop everything that is not
 * a letter or a number (emoji, symbols, punctuation, spaces, controls).  The
 * classifier works on that normalised form; the fingerprint on a lighter form
 * that keeps emoji, so "👍👍" pasted by forty accounts is still one text.
 *
 * Hot path: called once per comment.  A struct ew_text_ctx holds scratch
 * buffers so that classification allocates nothing in steady state.
 */
#ifndef ENGWATCH_TEXT_H
#define ENGWATCH_TEXT_H

#include <stddef.h>
#include <stdint.h>

enum ew_text_class {
    EW_TEXT_SUBSTANTIVE = 0, /* says something specific: not hollow */
    EW_TEXT_EMPTY,           /* nothing left after normalisation (emoji/punct only, or "") */
    EW_TEXT_GENERIC,         /* generic praise: a lexicon entry, or a run of entries ("支持支持好看") */
    EW_TEXT_REPEATED,        /* one short unit repeated: "哈哈哈哈", "666666", "好好好好", "hahaha" */
    EW_TEXT_SHORT,           /* at most short_max_chars code points and not in the lexicon */
    EW_TEXT__COUNT
};

/* A set of normalised lexicon entries.  Immutable once built, so a reload
 * builds a new one and swaps the pointer. */
struct ew_lexicon;

/* Load every "*.txt" file in dir (one entry a line, UTF-8; blank lines and
 * lines starting with '#' ignored; entries are normalised as comments are).
 * Returns 0 and *out (caller frees with ew_lexicon_free), or -1 with a
 * message "FILE:LINE: what is wrong" in err. */
int ew_lexicon_load_dir(const char *dir, struct ew_lexicon **out, char *err, size_t errlen);

/* Build from an in-memory list (tests, fuzzing).  Same contract. */
int ew_lexicon_from_list(const char *const *entries, size_t n, struct ew_lexicon **out);

size_t ew_lexicon_size(const struct ew_lexicon *lex);
void ew_lexicon_free(struct ew_lexicon *lex); /* accepts NULL */

struct ew_text_params {
    unsigned short_max_chars; /* EW_TEXT_SHORT at or below this many code points (default 1) */
};
#define EW_TEXT_PARAMS_DEFAULT {1}

struct ew_text_result {
    enum ew_text_class cls;
    uint64_t fingerprint; /* of the light form (emoji kept); equal texts modulo case,
                             width, spacing and punctuation give equal fingerprints */
    size_t norm_chars;    /* code points in the normalised form */
};

/* Scratch space for the classifier; one per thread. */
struct ew_text_ctx;
struct ew_text_ctx *ew_text_ctx_new(void);
void ew_text_ctx_free(struct ew_text_ctx *ctx); /* accepts NULL */

/* Normalise s[0..len) (must be valid UTF-8; invalid sequences are dropped)
 * into the context's buffer.  *out is borrowed, valid until the next call on
 * ctx; NUL-terminated; *out_len bytes.  Returns 0, or -1 on allocation failure. */
int ew_text_normalize(struct ew_text_ctx *ctx, const char *s, size_t len, const char **out,
                      size_t *out_len);

/* Classify one comment.  lex may be NULL (no generic class then).
 * Returns 0, or -1 on allocation failure. */
int ew_text_classify(struct ew_text_ctx *ctx, const struct ew_lexicon *lex,
                     const struct ew_text_params *p, const char *s, size_t len,
                     struct ew_text_result *r);

const char *ew_text_class_name(enum ew_text_class c); /* "substantive", "empty", ... */
static inline int ew_text_is_hollow(enum ew_text_class c) { return c != EW_TEXT_SUBSTANTIVE; }

#endif
