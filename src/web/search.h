/*
 * search.h: the disclosure pages' searches (pages_disclosure.c renders
 * them): the query of /udleveringer and /indsigt read into an audit filter,
 * with the Danish messages of the form, and narrowed to what the user may
 * see. Kept apart from the page, and from HTTP, so that the unit tests
 * reach every rule.
 *
 * The values: dates as typed in Denmark, and CPR/CVR/SE numbers and
 * agreement ids, each checked with core's ident rules and normalised into a
 * caller's buffer. Every value function answers WEB_SEARCH_OK,
 * WEB_SEARCH_FORM (not in the form asked for: wrong length, a letter, a
 * wrong separator) or WEB_SEARCH_INVALID (the right form, but no such date
 * or number), so that the page can say which.
 */
#ifndef DUPLA_WEB_SEARCH_H
#define DUPLA_WEB_SEARCH_H

#include <stdint.h>

#include "agreement/agreement.h"
#include "audit/audit.h"
#include "catalog/catalog.h"
#include "core/arena.h"
#include "core/ident.h"
#include "core/str.h"
#include "web/internal.h"

#define WEB_SEARCH_VALUE_MAX    64 /* bytes of one search value */
#define WEB_SEARCH_ROWS_DEFAULT 25 /* rows per page on screen (antal: 10, 25, 50, 100) */

/* ---- the values ---- */

enum web_search_result { WEB_SEARCH_OK = 0, WEB_SEARCH_FORM = 1, WEB_SEARCH_INVALID = 2 };

/* A date as dd-mm-åååå (the form the pages hint; '.' or '/' also separate)
 * or åååå-mm-dd (ISO, as the API takes it), into days since 1970-01-01. */
enum web_search_result web_search_date(str_t s, int32_t *days);
/* A CPR number, ddmmååxxxx or ddmmåå-xxxx, into out (10 digits + NUL). */
enum web_search_result web_search_cpr(str_t s, char out[CPR_LEN + 1]);
/* A CVR number (8 digits, modulus 11) into out. */
enum web_search_result web_search_cvr(str_t s, char out[CVR_LEN + 1]);
/* An SE number (8 digits, not starting with 0) into out. */
enum web_search_result web_search_se(str_t s, char out[SE_LEN + 1]);
/* An agreement id (32 hex digits, either case) into out, lower case. */
enum web_search_result web_search_agreement_id(str_t s, char out[AGREEMENT_ID_LEN + 1]);

/* ---- the search ---- */

/* Who searches, which decides the parameters taken and the audit viewer. */
enum web_search_view {
    WEB_SEARCH_VIEW_OWN,     /* /udleveringer, a recipient's administrator: its own entries */
    WEB_SEARCH_VIEW_ALL,     /* /udleveringer, the data owner's staff: every entry */
    WEB_SEARCH_VIEW_INSIGHT, /* /indsigt, the data owner's staff: who received data about a
                                number */
};

/* The query string as it arrived: n (name, value) pairs, decoded, read
 * through at (the pages: the request's query; the tests: arrays); the first
 * of a repeated name counts. */
struct web_search_query {
    size_t n;
    void (*at)(const void *ctx, size_t i, str_t *name, str_t *value);
    const void *ctx;
};

/* One search: what was typed (trimmed; kept in the form, and in the paging
 * and CSV links) and the filter made of it. */
struct web_search {
    enum web_search_view view;
    str_t org, agreement, subject, kind, service, outcome, from, to, rows;
    bool asked; /* the insight report: a number to answer for */
    unsigned per_page;
    struct audit_filter f;
};

/*
 * Reads q for view into *s (the filter newest first, a page of per_page
 * rows after efter). Parameters per view:
 *   own      organisation aftale tjeneste udfald fra til antal efter
 *   all      the same, and subjekt type
 *   insight  subjekt type fra til antal efter (disclosures only)
 * Answers 0 when the search can run; 403 with *refused (a Danish sentence)
 * when a recipient names subjekt or type; 400 with fe filled, one message
 * per field (an unknown parameter, a value longer than
 * WEB_SEARCH_VALUE_MAX, a number or date not valid, "til" before "fra", a
 * service not in catalog (NULL: none is), an antal not offered, a bad
 * efter, an insight question without a number). "til" includes its day.
 * Normalised values and messages are allocated from arena; s's text points
 * into q.
 */
unsigned web_search_read(enum web_search_view view, const struct web_search_query *q,
                         const catalog_t *catalog, arena_t *arena, struct web_search *s,
                         struct form_errors *fe, const char **refused);

/* Narrows s->f to what the viewer of s->view may see (audit_filter_scope,
 * the API's rule; own_cvr is the recipient's organisation). 0, 403 (another
 * organisation's CVR) or 400, with *refused set. */
unsigned web_search_scope(struct web_search *s, const char *own_cvr, const char **refused);

#endif
