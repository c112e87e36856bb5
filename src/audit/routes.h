/*
 * routes.h: the disclosure log's JSON and CSV API, the audit module's top
 * edge. Three views, each narrowed by audit_filter_scope to what the caller
 * has a right to see:
 *
 *   GET /api/disclosures          the data owner's staff: every disclosure and refusal
 *       ?org=&agreement=&service=&subject=&subject_kind=&outcome=&from=&to=
 *   GET /api/disclosures/own      a recipient organisation's administrator: what it
 *       ?agreement=&service=&from=&to=     received (its own CVR, whatever is asked)
 *   GET /api/disclosures/subject  the data owner's staff on a citizen's or company's
 *       ?subject=&subject_kind=&from=&to=  behalf: who received data about the subject,
 *                                  when, under which agreement, purpose, legal basis,
 *                                  which fields (disclosures only; other subjects of
 *                                  an entry are not shown)
 * Common: &after=<cursor>&limit=<1..AUDIT_PAGE_MAX>&order=newest|oldest;
 * from/to are "yyyy-mm-dd" or "yyyy-mm-ddTHH:MM:SSZ" (to is exclusive).
 * JSON {"data": [...], "next": cursor|null}, or CSV with ?format=csv or
 * Accept: text/csv (the next cursor in the header X-Next-Cursor).
 *
 * The transparency API (transparency.c, docs/transparency.md):
 *   GET /transparency/checkpoint[?size=N]   the newest signed checkpoint (or the
 *                                           one of tree size N), a C2SP signed note
 *   GET /transparency/checkpoints?after=&limit=  every signed checkpoint, oldest first
 *   GET /transparency/key                   the verifier key (name+hash+key)
 *   GET /transparency/proof/inclusion?seq=N&size=S    RFC 9162 audit path (public);
 *                                           without size: against the newest signed
 *                                           checkpoint, which the answer carries
 *   GET /transparency/proof/consistency?from=A&to=B   RFC 9162 consistency proof
 *   GET /transparency/entry?seq=N           the entry's canonical bytes: the data
 *                                           owner's staff, or the receiving
 *                                           organisation's administrators and
 *                                           systems (bearer token)
 *
 * Data errors (the data owner's staff; erratum.c, docs/transparency.md 8):
 *   POST /api/disclosures/errata            {"delivery": ID} or {"service": NAME,
 *       "versions": [{"subject_kind", "subject", "period", "version"}]}, with
 *       "reason" and "replacement": marks, traces and tells each recipient once;
 *       201 with the report (200 when the same was marked before)
 *   GET /api/disclosures/errata             every mark, newest first
 *   GET /api/disclosures/errata/<id>        a mark's report: the disclosures per
 *                                           recipient and agreement, who was told
 *
 *   GET /api/receipts/<seq>                 the same callers: the entry, a signed
 *                                           checkpoint covering it (signed at once
 *                                           when none does yet), the inclusion proof
 */
#ifndef DUPLA_AUDIT_ROUTES_H
#define DUPLA_AUDIT_ROUTES_H

#include "audit/audit.h"
#include "http/http.h"

#define AUDIT_HTTP_ARENA_MAX  ((size_t)64 << 20) /* one page's rows */
#define AUDIT_HTTP_OUTPUT_MAX ((size_t)64 << 20) /* one page's JSON or CSV */

/* Who asks (filled by the server's auth function). */
#define AUDIT_CALLER_STAFF           (1u << 0) /* the data owner's dataforvaltning or operator */
#define AUDIT_CALLER_RECIPIENT_ADMIN (1u << 1) /* an organisation's administrator */
#define AUDIT_CALLER_SYSTEM          (1u << 2) /* a recipient system, by its bearer token */
struct audit_http_caller {
    unsigned roles;  /* AUDIT_CALLER_* */
    char org_cvr[9]; /* the recipient administrator's or system's organisation */
    char name[128];  /* who (the user's name), for what they change; may be "" */
};

/* Fills *out for the request's logged-in user, or for the recipient system
 * whose bearer token the request carries (Authorization: Bearer; only the
 * entry and receipt routes accept that role), or a negative code with err
 * filled (401 without a session or with a bad token). */
struct audit_http_auth {
    void *ctx;
    int (*caller)(http_request_t *req, void *ctx, struct audit_http_caller *out, err_t *err);
};

/* Owned by the caller; must outlive srv. */
struct audit_routes {
    store_t *st;
    struct audit_http_auth auth;
    struct audit_query_options lookup; /* purpose and legal basis by agreement id+version */
    audit_log_t *log;         /* signs a checkpoint for a receipt not yet covered; may be NULL */
    audit_contact_fn contact; /* a recipient's contact mailbox, for data-error notices */
    void *contact_ctx;
};

/* Registers the disclosures API and the transparency API. */
int audit_routes_register(http_server_t *srv, struct audit_routes *r, err_t *err);
/* transparency.c: the transparency API alone. */
int audit_transparency_register(http_server_t *srv, struct audit_routes *r, err_t *err);

#endif
