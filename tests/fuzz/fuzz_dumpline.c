/* fuzz_dumpline — libFuzzer target for the dump line reader (daemon/source_file.c).
 *
 * The input is a dump file.  It is read through a memfd with a small max_line and with the
 * default, plain and gzip-compressed (a gzip stream made here with deflateInit2, windowBits 31),
 * and every line handed out is compared with a model of source_file.h's contract computed
 * straight from the bytes: lines end at '\n'; a final line without '\n' is a line; one '\r'
 * before the '\n' is dropped (and so not counted against max_line); a line over max_line comes
 * back as its first max_line bytes with truncated set; line numbers count up by one from 1.
 * Comparing with the model checks the concatenation too: the reader can neither lose nor invent a
 * byte.
 *
 * An input that itself starts with the gzip magic is read as gzip by design (detected by
 * content), so for it the plain read is only checked for the per-line invariants.  An input that
 * starts with '~' is also read with a run of filler bytes (no '\n') longer than the reader's
 * 256 KiB block spliced into its middle, so a line that fills the reader's whole buffer (and the
 * skipping after it) is reached without huge fuzz inputs; the filler is one line, so this costs
 * little however many short lines the input has.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zlib.h>

#include "engwatch/source_file.h"
#include "fuzz_common.h"

#define SMALL_MAX_LINE 64
/* source_file.c reads in blocks of this size; a buffer holds max_line + one block. */
#define READER_BLOCK (256 * 1024)
#define FILLER_SIZE  (READER_BLOCK + 2 * SMALL_MAX_LINE + 4096)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The next line of buf[*pos..size) as the reader must return it, 0 at the end. */
static int model_next(const uint8_t *buf, size_t size, size_t *pos, size_t max_line,
                      const uint8_t **line, size_t *len, int *truncated)
{
    const uint8_t *p = buf + *pos, *nl;
    size_t avail = size - *pos, full;

    if (avail == 0) return 0;
    nl = memchr(p, '\n', avail);
    full = nl ? (size_t)(nl - p) : avail;
    *pos += nl ? full + 1 : full;
    /* The '\r' of "\r\n" belongs to the ending, so it does not count against max_line either
     * (a last line "...\r" without '\n' is read the same way). */
    if (full > 0 && p[full - 1] == '\r') full--;
    *line = p;
    *truncated = full > max_line;
    *len = *truncated ? max_line : full;
    return 1;
}

static int write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;

    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w <= 0) return -1;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* Read file[0..file_len) through the dump reader with max_line; compare with the model of
 * plain[0..plain_len) when use_model. */
static void read_and_check(const void *file, size_t file_len, const uint8_t *plain,
                           size_t plain_len, size_t max_line, int use_model)
{
    struct ew_dump *d = NULL;
    char err[256];
    int fd = memfd_create("fuzz_dump", MFD_CLOEXEC);
    size_t pos = 0, eff_max = max_line ? max_line : 65536;
    int64_t lines = 0;
    int rc;

    if (fd < 0) return;
    if (write_all(fd, file, file_len) < 0 || lseek(fd, 0, SEEK_SET) != 0) {
        close(fd);
        return;
    }
    /* The reader takes the fd over, on failure too. */
    if (ew_dump_open_fd(&d, fd, "fuzz", max_line, err, sizeof err) != 0) return;
    FUZZ_CHECK(ew_dump_size(d) == (int64_t)file_len);
    for (;;) {
        const char *line = NULL;
        size_t len = 0;
        int truncated = -1;
        rc = ew_dump_next(d, &line, &len, &truncated);
        if (rc != 1) break;
        lines++;
        FUZZ_CHECK(ew_dump_lineno(d) == lines);
        FUZZ_CHECK(len <= eff_max);
        FUZZ_CHECK(truncated == 0 || truncated == 1);
        FUZZ_CHECK(!truncated || len == eff_max);
        FUZZ_CHECK(len == 0 || line != NULL);
        FUZZ_CHECK(len == 0 || memchr(line, '\n', len) == NULL);
        if (use_model) {
            const uint8_t *want;
            size_t want_len;
            int want_trunc;
            FUZZ_CHECK(model_next(plain, plain_len, &pos, eff_max, &want, &want_len, &want_trunc));
            FUZZ_CHECK(len == want_len && truncated == want_trunc);
            FUZZ_CHECK(len == 0 || memcmp(line, want, len) == 0);
        }
    }
    FUZZ_CHECK(ew_dump_bytes_read(d) <= file_len);
    if (use_model) {
        const uint8_t *want;
        size_t want_len;
        int want_trunc;
        /* Plain and well-formed gzip input cannot fail to read: all of it is lines. */
        FUZZ_CHECK(rc == 0);
        FUZZ_CHECK(!model_next(plain, plain_len, &pos, eff_max, &want, &want_len, &want_trunc));
    } else {
        FUZZ_CHECK(rc == 0 || rc == -1);
        FUZZ_CHECK(rc == 0 || ew_dump_error(d)[0] != '\0');
    }
    /* At the end, the reader stays at the end. */
    if (rc == 0) {
        const char *line;
        size_t len;
        int truncated;
        FUZZ_CHECK(ew_dump_next(d, &line, &len, &truncated) == 0);
    }
    ew_dump_close(d);
}

/* data as a gzip stream (deflateInit2, windowBits 31); caller frees.  NULL on failure. */
static unsigned char *gzip(const uint8_t *data, size_t size, size_t *out_len)
{
    z_stream zs;
    unsigned char *out;
    uLong cap;

    memset(&zs, 0, sizeof zs);
    if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return NULL;
    cap = deflateBound(&zs, (uLong)size) + 32;
    out = malloc(cap);
    if (!out) {
        deflateEnd(&zs);
        return NULL;
    }
    zs.next_in = (Bytef *)(uintptr_t)data;
    zs.avail_in = (uInt)size;
    zs.next_out = out;
    zs.avail_out = (uInt)cap;
    if (deflate(&zs, Z_FINISH) != Z_STREAM_END) {
        deflateEnd(&zs);
        free(out);
        return NULL;
    }
    *out_len = (size_t)zs.total_out;
    deflateEnd(&zs);
    return out;
}

/* Read data plain and gzipped with the small max_line, and (unless small_only) the default. */
static void check_all(const uint8_t *data, size_t size, int small_only)
{
    int gz_magic = size >= 2 && data[0] == 0x1f && data[1] == 0x8b;
    unsigned char *z;
    size_t zlen = 0;

    read_and_check(data, size, data, size, SMALL_MAX_LINE, !gz_magic);
    if (!small_only) read_and_check(data, size, data, size, 0, !gz_magic);
    z = gzip(data, size, &zlen);
    FUZZ_CHECK(z != NULL);
    read_and_check(z, zlen, data, size, SMALL_MAX_LINE, 1);
    if (!small_only) read_and_check(z, zlen, data, size, 0, 1);
    free(z);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_all(data, size, 0);
    /* Only the small max_line's buffer is overrun by the filler: the default one is bigger. */
    if (size > 0 && data[0] == '~') {
        size_t half = size / 2, big_len = size + FILLER_SIZE;
        uint8_t *big = malloc(big_len);
        if (!big) return 0;
        memcpy(big, data, half);
        memset(big + half, 'x', FILLER_SIZE);
        memcpy(big + half + FILLER_SIZE, data + half, size - half);
        check_all(big, big_len, 1);
        free(big);
    }
    return 0;
}
