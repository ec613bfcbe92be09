/* fuzz_common — helpers shared by the libFuzzer targets in tests/fuzz/.
 *
 * A fuzz target reports a broken invariant by printing what broke and calling abort(): libFuzzer
 * treats the abort as a crash and saves the input.  FUZZ_CHECK is that, with the file and line,
 * so a finding names the invariant without a debugger.
 */
#ifndef ENGWATCH_FUZZ_COMMON_H
#define ENGWATCH_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <utf8proc.h>

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #cond);           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* 1 when s[0..n) is well-formed UTF-8 as utf8proc sees it (no overlongs, surrogates or code
 * points above U+10FFFF); *cps (may be NULL) gets the number of code points. */
static inline int fuzz_utf8_valid(const char *s, size_t n, size_t *cps)
{
    const utf8proc_uint8_t *u = (const utf8proc_uint8_t *)s;
    size_t i = 0, count = 0;

    while (i < n) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate(u + i, (utf8proc_ssize_t)(n - i), &cp);
        if (k <= 0 || cp < 0) return 0;
        i += (size_t)k;
        count++;
    }
    if (cps) *cps = count;
    return 1;
}

/* Split data[0..size) on '\n' into at most max NUL-terminated heap copies (a '\0' inside a line
 * ends that copy early, as a C string consumer would see it).  Returns how many; the caller frees
 * each with fuzz_lines_free.  A final line without '\n' counts; an empty input gives none. */
static inline size_t fuzz_split_lines(const uint8_t *data, size_t size, char **out, size_t max)
{
    size_t n = 0, start = 0;

    while (start < size && n < max) {
        size_t end = start;
        while (end < size && data[end] != '\n')
            end++;
        char *line = malloc(end - start + 1);
        if (!line) break;
        for (size_t i = start; i < end; i++)
            line[i - start] = (char)data[i];
        line[end - start] = '\0';
        out[n++] = line;
        start = end + 1;
    }
    return n;
}

static inline void fuzz_lines_free(char **lines, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(lines[i]);
}

#endif
