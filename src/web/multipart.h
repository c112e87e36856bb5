/*
 * multipart.h: a small, strict reader of multipart/form-data bodies
 * (RFC 7578 over RFC 2046), for the forms that upload a file (a system's
 * certificate).
 *
 * Strict means: what browsers send is accepted, little else. The body must
 * start with the first delimiter (no preamble) and end with the close
 * delimiter (an optional CRLF after it, no epilogue); lines end in CRLF; a
 * part's header names only Content-Disposition (form-data, with a quoted or
 * token name and an optional filename; no filename*, no repeated parameter)
 * and optionally Content-Type; no folded or repeated header lines, no
 * control characters in them. A text part (one without filename) may not
 * hold a NUL byte; a file part may hold any bytes.
 *
 * Every limit is given by the caller (struct multipart_limits). Failures are
 * DUPLA_EINVAL (malformed) or DUPLA_ELIMIT (a limit), with err->detail in
 * Danish for the page and err->param the field's name when the fault is in a
 * named part.
 *
 * Nothing is copied: names, file names, content types and data point into
 * the body, which must outlive the result; only the part array comes from
 * the arena.
 */
#ifndef DUPLA_WEB_MULTIPART_H
#define DUPLA_WEB_MULTIPART_H

#include <stdbool.h>
#include <stddef.h>

#include "core/arena.h"
#include "core/error.h"
#include "core/str.h"

#define MULTIPART_BOUNDARY_MAX 70 /* RFC 2046 section 5.1.1 */

struct multipart_limits {
    size_t max_body;         /* bytes of the whole body */
    size_t max_parts;        /* parts (form fields and files) */
    size_t max_header_bytes; /* bytes of one part's header lines */
    size_t max_name;         /* bytes of a field's name */
    size_t max_filename;     /* bytes of a file's name */
};

struct multipart_part {
    str_t name;         /* the field's name (non-empty) */
    bool is_file;       /* Content-Disposition named a filename (maybe "") */
    str_t filename;     /* as sent (browsers send the base name); "" if none */
    str_t content_type; /* the part's Content-Type, "" when absent */
    str_t data;         /* the part's bytes */
};

struct multipart {
    size_t n;
    struct multipart_part *parts; /* from the arena */
};

/* true when content_type (a Content-Type header's value) is
 * multipart/form-data (case-insensitive, parameters ignored). */
bool multipart_is_form_data(str_t content_type);
/* The boundary parameter of a multipart/form-data Content-Type (quotes
 * removed; 1-70 characters of RFC 2046's bchars, not ending in a space).
 * Borrowed from content_type. */
int multipart_boundary(str_t content_type, str_t *boundary, err_t *err);
/* Parses body into *out (see the rules above). */
int multipart_parse(arena_t *a, str_t content_type, str_t body, const struct multipart_limits *lim,
                    struct multipart *out, err_t *err);
/* The first part named name, or NULL. */
const struct multipart_part *multipart_get(const struct multipart *m, const char *name);

#endif
