/*
 * json.h: jansson, held to account when memory runs out.
 *
 * jansson 2.14 does not check every allocation it makes, and goes on as if
 * it had succeeded; the fault tests (tests/fault/) found two ways:
 * - parsing: a byte the lexer fails to save is dropped from the token, so
 *   '"kid":"kujf-zyS..._SwCIU"' parses, without an error, as a string one
 *   character short (and "150000001" as 15000001): a value silently
 *   changed;
 * - dumping: a key it fails to write is left out ('{"alg":"EdDSA",:"JWT"}'),
 *   so json_dumps returns a damaged text: a token was issued, signed, and
 *   then refused by the platform itself.
 * So dupla gives jansson an allocator (installed at start) that notes a
 * failure in the calling thread, and reads and writes JSON through the two
 * calls below, which discard whatever was made while an allocation failed.
 * A parse that met a failure is tried once more (a transient shortage
 * costs nothing); its error tells the text's fault (a 4xx) from the
 * server's (*oom, a 5xx).
 */
#ifndef DUPLA_CORE_JSON_H
#define DUPLA_CORE_JSON_H

#include <jansson.h>
#include <stdbool.h>

/* The text of j (flags as json_dumps), malloc'd (free() it), or NULL when
 * memory ran out: never a partial text. */
char *json_text(const json_t *j, size_t flags);

/* The value of the n bytes at p (flags as json_loadb), or NULL: with *oom
 * (may be NULL) set when memory ran out, else the text is not JSON and e
 * (may be NULL) says why. Never a value an allocation failure changed. */
json_t *json_parse(const char *p, size_t n, size_t flags, json_error_t *e, bool *oom);

#endif
