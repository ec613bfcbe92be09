/* source_file — reads event dumps for replay: one event per line, from a
 * plain file, a gzip file (detected by content, not name) or "-" (stdin).
 *
 * Lines are handed out with their number so a reject can name it.  A line
 * longer than max_line is returned cut to max_line bytes with *truncated set
 * (the decoder rejects it as oversize); the rest of it is skipped.  A final
 * line without '\n' is still a line; "\r\n" endings are accepted.
 */
#ifndef ENGWATCH_SOURCE_FILE_H
#define ENGWATCH_SOURCE_FILE_H

#include <stddef.h>
#include <stdint.h>

struct ew_dump;

/* Open path ("-" = standard input).  0, or -1 with err filled. */
int ew_dump_open(struct ew_dump **out, const char *path, size_t max_line, char *err,
                 size_t errlen);
/* Read from an open file descriptor (taken over: closed by ew_dump_close). */
int ew_dump_open_fd(struct ew_dump **out, int fd, const char *name, size_t max_line, char *err,
                    size_t errlen);

/* Next line: 1 with *line (borrowed until the next call; not NUL-terminated),
 * *len and *truncated; 0 at the end; -1 on a read error (ew_dump_error). */
int ew_dump_next(struct ew_dump *d, const char **line, size_t *len, int *truncated);

int64_t ew_dump_lineno(const struct ew_dump *d);   /* of the line last returned, from 1 */
const char *ew_dump_name(const struct ew_dump *d); /* the path, "-" for stdin */
uint64_t ew_dump_bytes_read(const struct ew_dump *d); /* bytes of the file consumed so far */
int64_t ew_dump_size(const struct ew_dump *d);        /* file size, -1 when unknown (a pipe) */
const char *ew_dump_error(const struct ew_dump *d);
void ew_dump_close(struct ew_dump *d); /* accepts NULL */

#endif
