/* Text from outside (archive entry names, remote listings, manifest lines)
 * may hold newlines, terminal escape sequences or bytes that are not UTF-8;
 * printed raw, a name could fake a log line or drive the terminal.  Every
 * place that writes such text for a person (the log, the CLI's messages
 * and summaries) passes it through here: printable ASCII and valid UTF-8
 * stay as they are; a backslash is doubled; \n, \t and \r are written so;
 * every other control byte (C0, DEL, the C1 range), the bidirectional and
 * line-separator marks, and each byte that is not valid UTF-8 become \xHH.
 *
 * Messages and reports keep the raw bytes (--json escapes them as JSON);
 * the escaping happens once, where text meets the terminal or the log, so
 * never pass text already escaped to FLOG or the CLI's printing. */
#ifndef FERRY_ESCAPE_H
#define FERRY_ESCAPE_H

#include <stddef.h>

/* Write len bytes of s, escaped, into out (cap bytes, always terminated,
 * cut before an escape that does not fit).  Returns the length written. */
size_t escape_display_into(char *out, size_t cap, const char *s, size_t len);

/* s (NULL: "(null)") escaped, in one of a few buffers that later calls
 * reuse: for printf arguments, up to ESCAPE_SLOTS in one call (ferry has no
 * threads). */
#define ESCAPE_SLOTS 4
const char *escape_display(const char *s);

#endif
