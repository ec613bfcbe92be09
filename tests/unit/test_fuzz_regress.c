/* Regression tests for what the fuzz targets (tests/fuzz/) found.  Each test names the target
 * and the input (also kept in tests/fuzz/corpus/<target>/regress_*), and checks the fixed
 * behaviour through the public API, so the bug stays fixed without running a fuzzer.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "engwatch/source_file.h"

/* A dump reader over text[0..len) in a memfd, with max_line. */
static struct ew_dump *dump_of(const char *text, size_t len, size_t max_line)
{
    struct ew_dump *d = NULL;
    char err[256];
    int fd = memfd_create("regress", MFD_CLOEXEC);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
    assert_int_equal(ew_dump_open_fd(&d, fd, "regress", max_line, err, sizeof err), 0);
    return d;
}

static void expect_line(struct ew_dump *d, const char *want, int want_truncated)
{
    const char *line;
    size_t len;
    int truncated;

    assert_int_equal(ew_dump_next(d, &line, &len, &truncated), 1);
    assert_int_equal(len, strlen(want));
    assert_memory_equal(line, want, len);
    assert_int_equal(truncated, want_truncated);
}

/* fuzz_dumpline, regress_crlf_at_max_line.jsonl: a "\r\n" line whose content is exactly
 * max_line bytes was reported truncated (the '\r' counted against max_line), so a dump written
 * on Windows lost events that the same dump with "\n" endings kept. */
static void test_dump_crlf_line_at_max_line(void **state)
{
    static const char text[] = "12345678\r\n123456789\r\nabc\r\n12345678\r";
    struct ew_dump *d = dump_of(text, sizeof text - 1, 8);
    const char *line;
    size_t len;
    int truncated;

    (void)state;
    expect_line(d, "12345678", 0);
    expect_line(d, "12345678", 1); /* really one byte over */
    expect_line(d, "abc", 0);
    expect_line(d, "12345678", 0); /* last line, no '\n' */
    assert_int_equal(ew_dump_lineno(d), 4);
    assert_int_equal(ew_dump_next(d, &line, &len, &truncated), 0);
    ew_dump_close(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dump_crlf_line_at_max_line),
    };
    return cmocka_run_group_tests_name("fuzz_regress", tests, NULL, NULL);
}
