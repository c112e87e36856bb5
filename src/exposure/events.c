/*
 * events.c: the event lists' HTTP face, on the data listener, under the
 * same token, protocol headers, rate budget and agreement as data calls:
 *
 *   GET  /Haendelser?FraSekvensnummer=N[&Antal=M][&Vent=S][&Tjeneste=...]
 *        a page of the agreement's events (events.h): changes of followed
 *        subjects in the agreement's services (or those named), from N, at
 *        most M (EVENTS_PAGE_DEFAULT, at most EVENTS_PAGE_MAX), in sequence
 *        order; an empty page means nothing more now. With Vent=S (1..30)
 *        an empty page waits up to S seconds and answers as soon as an
 *        event exists. Every page is recorded in the disclosure log like a
 *        data answer (service "Haendelser", the subjects and periods it
 *        names, its count) before it is sent, and names its entry in
 *        X-Dupla-Udlevering: a page reveals that a subject's data changed.
 *   GET  /Haendelser/start?Dato=YYYY-MM-DD
 *        {"Sekvensnummer": n}: the first number registered on or after that
 *        day (00:00 UTC), or the next to come. Reveals no subject: not
 *        recorded.
 *   GET  /Haendelser/abonnement[?Efter=KIND:NUMBER][&Antal=M]
 *        the followed subjects, in order, a page at a time, and how many.
 *   PUT  /Haendelser/abonnement    body: a list (text, one subject a line:
 *        "6601760061", "CVR 12345674", "SE 12345678") replaces the list;
 *   POST /Haendelser/abonnement    adds the list's subjects;
 *   POST /Haendelser/abonnement/fjern  removes them.
 *        A list with bad lines is refused whole (422, every bad line named
 *        by number in "problems"); more than the limit is 413 naming the
 *        parameter "body". Changes to the list are not disclosures and are
 *        not recorded in the disclosure log.
 *
 * The long-poll waits suspended (events_wait_async, src/events/wait.c,
 * wakes it; http_req_wait), the one place a request waits here, with a
 * bound on waiters (503 + Retry-After past it); it holds neither a thread
 * nor a store connection while waiting.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/json.h"
#include "core/log.h"
#include "events/events.h"
#include "exposure/internal.h"
#include "token/routes.h"

#define EVENTS_SERVICE_NAME "Haendelser"
/* bytes of a list (the server's max_body_bytes may lower it) */
#define EVENTS_LIST_BODY_MAX ((size_t)EVENTS_DEFAULT_MAX_FOLLOWED * 16)
#define PROBLEM_BASE         "https://dupla.invalid/problems/"
#define P_FROM               "FraSekvensnummer"
#define P_COUNT              "Antal"
#define P_WAIT               "Vent"
#define P_SERVICE            "Tjeneste"
#define P_DATE               "Dato"
#define P_AFTER              "Efter"

/* One call's state. */
struct ev {
    exposure_t *ex;
    http_request_t *req;
    struct token_principal principal;
    struct exposure_call call;
    str_t agreement_id;
    int64_t version;
    struct exposure_rate rate;
    const char *services[EVENTS_SERVICES_MAX]; /* granted (and asked) */
    size_t n_services;
    bool entered;
};

static void ev_headers(struct ev *c)
{
    if (c->ex->cfg.environment_header)
        http_reply_header(c->req, EXPOSURE_H_ENVIRONMENT,
                          exposure_environment_word(c->ex->deps.env));
    if (c->rate.known) {
        char policy[EXPOSURE_RATE_TEXT], rate[EXPOSURE_RATE_TEXT];
        exposure_rate_headers(&c->rate, policy, rate);
        http_reply_header(c->req, "RateLimit-Policy", policy);
        http_reply_header(c->req, "RateLimit", rate);
    }
}

static void retry_after(http_request_t *req, unsigned s)
{
    char v[16];
    snprintf(v, sizeof v, "%u", s ? s : 1);
    http_reply_header(req, "Retry-After", v);
}

/* Records a refusal after authentication (best effort, like the data path). */
static void record_refusal(struct ev *c, const err_t *refusal)
{
    struct audit_entry e = {
        .org_cvr = str_from_cstr(c->principal.org_cvr),
        .system_id = str_from_cstr(c->principal.system_id),
        .agreement_id = str_sub(c->agreement_id, 0, AUDIT_TEXT_MAX),
        .agreement_version = c->version,
        .service = STR(EVENTS_SERVICE_NAME),
        .request_id = c->call.server_request_id,
        .transaction_id = c->call.has_txid ? str_sub(c->call.txid, 0, EXPOSURE_TXID_MAX) : STR(""),
        .outcome = AUDIT_REFUSED,
        .reason = str_from_cstr(refusal->type[0] ? refusal->type : err_code_name(refusal->code)),
        .supplier_cvr = str_from_cstr(c->principal.supplier_cvr),
        .on_behalf_se = str_from_cstr(c->principal.on_behalf_se),
    };
    err_t aerr;
    err_clear(&aerr);
    if (audit_record(c->ex->deps.audit, &e, NULL, &aerr) != 0)
        log_json(LOG_WARN, "refusal not recorded", json_pack("{s:s}", "error", aerr.log));
}

static int refuse(struct ev *c, int rc, err_t *err)
{
    atomic_fetch_add(&c->ex->refused, 1);
    record_refusal(c, err);
    return rc;
}

static int bad_param(err_t *err, const char *name, const char *what)
{
    err_param(err, DUPLA_EINVAL, name, "%s %s", name, what);
    err_http(err, 400, PROBLEM_INVALID_PARAMETER);
    return DUPLA_EINVAL;
}

/* Token, headers, rate, and the agreement: which services it grants the
 * caller now (each asked of agreement_decide as a call without fields).
 * On failure err is the answer and the refusal is recorded when it came
 * after authentication. */
static int ev_admit(struct ev *c, err_t *err)
{
    exposure_t *ex = c->ex;
    int64_t now = clock_now_ms();
    unsigned retry = 0;
    int rc = exposure_enter(ex, now, &retry, err);
    if (rc != 0) {
        retry_after(c->req, retry);
        return rc;
    }
    c->entered = true;
    if ((rc = token_http_authenticate(c->req, ex->deps.token, &c->principal, err)) != 0) {
        atomic_fetch_add(&ex->refused, 1);
        return rc;
    }
    c->call = (struct exposure_call){.principal = &c->principal,
                                     .server_request_id = str_from_cstr(http_req_id(c->req)),
                                     .now_ms = now,
                                     .arena = http_req_arena(c->req)};
    c->call.has_request_id = http_req_header(c->req, EXPOSURE_H_REQUEST_ID, &c->call.request_id);
    c->call.has_txid = http_req_header(c->req, EXPOSURE_H_TXID, &c->call.txid);
    c->call.has_agreement = http_req_header(c->req, EXPOSURE_H_AGREEMENT, &c->call.agreement);
    c->agreement_id = STR("");
    if ((rc = exposure_check_headers(&c->call, &c->agreement_id, err)) != 0)
        return refuse(c, rc, err);
    if (c->principal.any_org &&
        (rc = exposure_bind_supplier(ex, &c->principal, c->agreement_id, now, err)) != 0)
        return rc == DUPLA_EBUSY ? rc : refuse(c, rc, err);
    if (c->principal.on_behalf_se[0]) {
        /* an event list names many subjects: not for a token acting for one
         * company */
        err_param(err, DUPLA_EFORBIDDEN, "onbehalfofse",
                  "a token acting for a company (onbehalfofse) does not read event lists");
        err_http(err, 403, PROBLEM_SUBJECT_NOT_AUTHORISED);
        return refuse(c, DUPLA_EFORBIDDEN, err);
    }
    char key[256];
    int n = snprintf(key, sizeof key, "%.*s|%s",
                     (int)(c->agreement_id.len > 128 ? 128 : c->agreement_id.len),
                     c->agreement_id.ptr, c->principal.system_id);
    unsigned rate, burst; /* the agreement's own budget, 0: the configured one */
    agreement_rate_budget(ex->deps.agreements, c->agreement_id, &rate, &burst);
    if (!exposure_limiter_take_budget(ex->limiter, (str_t){key, n > 0 ? (size_t)n : 0}, rate, burst,
                                      now, &c->rate)) {
        atomic_fetch_add(&ex->refused, 1);
        agreement_note_limited(ex->deps.agreements, c->agreement_id,
                               str_from_cstr(c->principal.system_id), now);
        retry_after(c->req, c->rate.reset_s);
        err_set(err, DUPLA_ERATE,
                "The rate limit of this agreement and system is reached; "
                "try again after Retry-After seconds.");
        err_http(err, 429, PROBLEM_RATE_LIMITED);
        return DUPLA_ERATE;
    }
    struct agreement_caller caller = {.org_cvr = str_from_cstr(c->principal.org_cvr),
                                      .system_id = str_from_cstr(c->principal.system_id),
                                      .env = ex->deps.env};
    enum agreement_verdict first = AGREEMENT_DENY_SERVICE;
    size_t n_svc = catalog_count(ex->deps.catalog);
    for (size_t i = 0; i < n_svc && i < EVENTS_SERVICES_MAX; i++) {
        const struct catalog_service *svc = catalog_service_at(ex->deps.catalog, i);
        struct agreement_decision dec;
        agreement_decide(ex->deps.agreements, &caller, c->agreement_id, str_from_cstr(svc->path),
                         NULL, 0, false, now, NULL, &dec);
        if (dec.verdict == AGREEMENT_ALLOW) {
            c->services[c->n_services++] = svc->path;
            c->version = dec.version;
        } else if (dec.verdict != AGREEMENT_DENY_SERVICE) {
            first = dec.verdict;
            c->version = dec.version;
            break; /* about the agreement, not the service: the same for all */
        }
    }
    if (c->n_services == 0) {
        int status = agreement_verdict_status(first);
        rc = status == 503 ? DUPLA_EBUSY : status == 400 ? DUPLA_EINVAL : DUPLA_EFORBIDDEN;
        err_set(err, rc, "%s", agreement_verdict_detail(first));
        err_http(err, status, agreement_verdict_name(first));
        if (status == 503) {
            retry_after(c->req, ex->cfg.retry_after_s);
            return rc;
        }
        return refuse(c, rc, err);
    }
    return 0;
}

static int ev_end(struct ev *c, int rc)
{
    if (c->entered)
        exposure_leave(c->ex);
    return rc;
}

/* A non-negative integer parameter of at most 18 digits. */
static bool parse_count(str_t v, int64_t *out)
{
    if (v.len == 0 || v.len > 18 || !str_is_digits(v))
        return false;
    int64_t n = 0;
    for (size_t i = 0; i < v.len; i++)
        n = n * 10 + (v.ptr[i] - '0');
    *out = n;
    return true;
}

/* ---- GET /Haendelser ---- */

struct page_args {
    int64_t from, count, wait_s;
    bool from_given;
    const char *only[EVENTS_SERVICES_MAX];
    size_t n_only;
};

static int page_args(struct ev *c, struct page_args *pa, err_t *err)
{
    *pa = (struct page_args){.count = EVENTS_PAGE_DEFAULT};
    bool seen_count = false, seen_wait = false;
    size_t n = http_req_query_count(c->req);
    for (size_t i = 0; i < n; i++) {
        str_t name, v;
        http_req_query_at(c->req, i, &name, &v);
        int64_t x;
        if (str_eq_cstr(name, P_FROM)) {
            if (pa->from_given)
                return bad_param(err, P_FROM, "is given twice");
            if (!parse_count(v, &x) || x < 1)
                return bad_param(err, P_FROM, "is a sequence number (1 or more)");
            pa->from = x;
            pa->from_given = true;
        } else if (str_eq_cstr(name, P_COUNT)) {
            if (seen_count)
                return bad_param(err, P_COUNT, "is given twice");
            if (!parse_count(v, &x) || x < 1 || x > EVENTS_PAGE_MAX)
                return bad_param(err, P_COUNT, "is a number from 1 to 1000");
            pa->count = x;
            seen_count = true;
        } else if (str_eq_cstr(name, P_WAIT)) {
            if (seen_wait)
                return bad_param(err, P_WAIT, "is given twice");
            if (!parse_count(v, &x) || x > EVENTS_WAIT_MAX_S)
                return bad_param(err, P_WAIT, "is a number of seconds from 0 to 30");
            pa->wait_s = x;
            seen_wait = true;
        } else if (str_eq_cstr(name, P_SERVICE)) {
            const struct catalog_service *svc = catalog_find(c->ex->deps.catalog, v);
            if (!svc)
                return bad_param(err, P_SERVICE, "names no service of the catalogue");
            bool granted = false;
            for (size_t k = 0; k < c->n_services && !granted; k++)
                granted = strcmp(c->services[k], svc->path) == 0;
            if (!granted) {
                err_param(err, DUPLA_EFORBIDDEN, P_SERVICE,
                          "The agreement does not grant the service %s.", svc->path);
                err_http(err, 403, PROBLEM_SERVICE_NOT_GRANTED);
                return DUPLA_EFORBIDDEN;
            }
            if (pa->n_only < EVENTS_SERVICES_MAX)
                pa->only[pa->n_only++] = svc->path;
        } else {
            char nm[64];
            snprintf(nm, sizeof nm, "%.*s", (int)(name.len < 60 ? name.len : 60), name.ptr);
            err_param(err, DUPLA_EINVAL, nm, "unknown parameter (%s, %s, %s and %s are known)",
                      P_FROM, P_COUNT, P_WAIT, P_SERVICE);
            err_http(err, 400, PROBLEM_INVALID_PARAMETER);
            return DUPLA_EINVAL;
        }
    }
    if (!pa->from_given)
        return bad_param(err, P_FROM,
                         "is required (1 at first, then the last number seen plus one)");
    return 0;
}

/* Reads one page on a connection taken and given back at once. */
static int read_page(struct ev *c, const struct page_args *pa, struct events_change *out, size_t *n,
                     err_t *err)
{
    store_conn_t *conn;
    int rc = store_conn_get(c->ex->deps.store, &conn, err);
    if (rc)
        return rc;
    struct events_query q = {.agreement = c->agreement_id,
                             .services = pa->n_only ? pa->only : c->services,
                             .n_services = pa->n_only ? pa->n_only : c->n_services,
                             .from_seq = pa->from,
                             .limit = (size_t)pa->count};
    rc = events_page(conn, &q, out, n, err);
    store_conn_put(conn);
    return rc;
}

static void period_text(const struct catalog_service *svc, const struct events_change *e, char *out,
                        size_t cap)
{
    if (svc && svc->period_kind == CATALOG_PERIOD_YEAR) {
        int y, m, d;
        clock_civil_from_days(e->period_start, &y, &m, &d);
        snprintf(out, cap, "%04d", y);
    } else if (svc && svc->period_kind == CATALOG_PERIOD_NUMBER) {
        snprintf(out, cap, "%d", e->period_start);
    } else {
        char a[16], b[16];
        clock_format_date(e->period_start, a, sizeof a);
        clock_format_date(e->period_end, b, sizeof b);
        snprintf(out, cap, "%s/%s", a, b);
    }
}

static enum audit_subject_kind audit_kind(enum catalog_ident k)
{
    return k == CATALOG_IDENT_CPR   ? AUDIT_SUBJECT_CPR
           : k == CATALOG_IDENT_CVR ? AUDIT_SUBJECT_CVR
                                    : AUDIT_SUBJECT_SE;
}

/* The page's fields, as the log names them. */
static const str_t PAGE_FIELDS[] = {
    STR("Sekvensnummer"), STR("Tjeneste"), STR("IdentifikatorType"),     STR("Identifikator"),
    STR("Periode"),       STR("Version"),  STR("RegistreringTidspunkt"), STR("Type"),
};

/* Records the page (durably) and writes its JSON into *body. */
static int record_and_write(struct ev *c, const struct events_change *ev, size_t n, int64_t *seq,
                            buf_t *body, err_t *err)
{
    arena_t *a = http_req_arena(c->req);
    struct audit_subject *subs = arena_alloc(a, (n + 1) * sizeof *subs);
    str_t *periods = arena_alloc(a, (n + 1) * sizeof *periods);
    if (!subs || !periods)
        return err_set(err, DUPLA_ENOMEM, "out of memory");
    size_t n_subs = 0, n_periods = 0;
    json_t *data = json_array();
    for (size_t i = 0; i < n; i++) {
        const struct events_change *e = &ev[i];
        const struct catalog_service *svc =
            catalog_find(c->ex->deps.catalog, str_from_cstr(e->service));
        char num[24], period[40], at[40];
        events_subject_text(&e->subject, num, sizeof num);
        period_text(svc, e, period, sizeof period);
        clock_format_ms(e->registered_ms, at, sizeof at);
        json_array_append_new(
            data, json_pack("{s:I, s:s, s:s, s:s, s:s, s:I, s:s, s:s}", "Sekvensnummer",
                            (json_int_t)e->seq, "Tjeneste", e->service, "IdentifikatorType",
                            events_kind_word(e->subject.kind), "Identifikator", num, "Periode",
                            period, "Version", (json_int_t)e->version, "RegistreringTidspunkt", at,
                            "Type", events_kind_name(e->kind)));
        bool seen = false;
        for (size_t k = 0; k < n_subs && !seen; k++)
            seen = subs[k].kind == audit_kind(e->subject.kind) && str_eq_cstr(subs[k].id, num);
        if (!seen) {
            char *t = arena_strdup(a, str_from_cstr(num));
            if (!t) {
                json_decref(data);
                return err_set(err, DUPLA_ENOMEM, "out of memory");
            }
            subs[n_subs++] = (struct audit_subject){audit_kind(e->subject.kind), str_from_cstr(t)};
        }
        seen = false;
        for (size_t k = 0; k < n_periods && !seen; k++)
            seen = str_eq_cstr(periods[k], period);
        if (!seen) {
            char *t = arena_strdup(a, str_from_cstr(period));
            if (!t) {
                json_decref(data);
                return err_set(err, DUPLA_ENOMEM, "out of memory");
            }
            periods[n_periods++] = str_from_cstr(t);
        }
    }
    struct audit_entry entry = {
        .org_cvr = str_from_cstr(c->principal.org_cvr),
        .system_id = str_from_cstr(c->principal.system_id),
        .agreement_id = c->agreement_id,
        .agreement_version = c->version,
        .service = STR(EVENTS_SERVICE_NAME),
        .request_id = c->call.server_request_id,
        .transaction_id = c->call.txid,
        .subjects = subs,
        .n_subjects = n_subs,
        .periods = periods,
        .n_periods = n_periods,
        .fields = PAGE_FIELDS,
        .n_fields = sizeof PAGE_FIELDS / sizeof PAGE_FIELDS[0],
        .record_count = (int64_t)n,
        .outcome = AUDIT_DISCLOSED,
        .reason = STR(""),
        .supplier_cvr = str_from_cstr(c->principal.supplier_cvr),
    };
    struct audit_receipt receipt;
    int rc = audit_record(c->ex->deps.audit, &entry, &receipt, err);
    if (rc != 0) {
        json_decref(data);
        if (rc == DUPLA_EBUSY) {
            retry_after(c->req, c->ex->cfg.retry_after_s);
            return exposure_log_busy(c->ex, err);
        }
        return rc;
    }
    *seq = receipt.seq;
    atomic_fetch_add(&c->ex->answered, 1);
    json_t *doc = json_pack("{s:o}", "data", data);
    char *text = json_text(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(doc);
    if (!text)
        return err_set(err, DUPLA_ENOMEM, "out of memory");
    rc = buf_append_cstr(body, text);
    free(text);
    return rc ? err_set(err, rc, "events: the page does not fit") : 0;
}

/* A long-poll between its slices, in the request's arena: the request is
 * suspended meanwhile (events_wait_async wakes it), no thread waits. */
struct page_poll {
    struct ev c;
    struct page_args pa;
    struct events_change *ev;
    size_t n;
    int64_t until;
};

static int page_poll(http_request_t *req, struct page_poll *pp, err_t *err);

/* The events' waker: the generation moved or the slice ended. */
static void page_wake(void *ctx)
{
    http_wait_wake(ctx);
}

static int page_then(http_request_t *req, void *ctx, bool abandoned, err_t *err)
{
    struct page_poll *pp = ctx;
    if (abandoned) {
        retry_after(req, pp->c.ex->cfg.retry_after_s);
        return ev_end(&pp->c, exposure_busy(pp->c.ex, err, PROBLEM_SATURATED,
                                            "The server is stopping; try again."));
    }
    return page_poll(req, pp, err);
}

/* Reads the page; an empty one waits (suspended) for a change or the next
 * slice, until the Vent time is up. */
static int page_poll(http_request_t *req, struct page_poll *pp, err_t *err)
{
    struct ev *c = &pp->c;
    uint64_t gen = events_generation(); /* before the read: no wake-up lost */
    int rc = read_page(c, &pp->pa, pp->ev, &pp->n, err);
    if (rc != 0)
        return ev_end(c, rc == DUPLA_EBUSY ? exposure_busy(c->ex, err, PROBLEM_SATURATED,
                                                           "The store is busy; try again.")
                                           : rc);
    int64_t now = clock_now_ms();
    if (pp->n == 0 && now < pp->until) {
        int64_t slice =
            now + EVENTS_WAIT_SLICE_MS < pp->until ? now + EVENTS_WAIT_SLICE_MS : pp->until;
        http_wait_t *w = http_req_wait(req, page_then, pp);
        if (!w)
            return ev_end(c, err_set(err, DUPLA_ENOMEM, "out of memory"));
        rc = events_wait_async(gen, slice, page_wake, w);
        if (rc == 0)
            return HTTP_SUSPENDED;
        if (rc == DUPLA_EBUSY) {
            retry_after(req, c->ex->cfg.retry_after_s);
            return ev_end(c, exposure_busy(c->ex, err, PROBLEM_SATURATED,
                                           "Too many clients wait for events; try again."));
        }
        return ev_end(c, err_set(err, rc, "out of memory"));
    }
    buf_t body;
    buf_init(&body, (size_t)pp->pa.count * 512 + 64);
    int64_t seq = 0;
    rc = record_and_write(c, pp->ev, pp->n, &seq, &body, err);
    if (rc == 0) {
        char sq[24];
        snprintf(sq, sizeof sq, "%lld", (long long)seq);
        http_reply_header(req, EXPOSURE_H_DISCLOSURE, sq);
        rc = http_reply_data(req, 200, "application/json", buf_str(&body));
    }
    buf_free(&body);
    return ev_end(c, rc);
}

static int h_page(http_request_t *req, void *ctx, err_t *err)
{
    struct page_poll *pp = arena_alloc(http_req_arena(req), sizeof *pp);
    if (!pp)
        return err_set(err, DUPLA_ENOMEM, "out of memory");
    struct ev *c = &pp->c;
    *c = (struct ev){.ex = ctx, .req = req};
    int rc = ev_admit(c, err);
    ev_headers(c);
    if (rc)
        return ev_end(c, rc);
    if ((rc = page_args(c, &pp->pa, err)) != 0)
        return ev_end(c, refuse(c, rc, err));
    pp->ev = arena_alloc(http_req_arena(req), (size_t)pp->pa.count * sizeof *pp->ev);
    if (!pp->ev)
        return ev_end(c, err_set(err, DUPLA_ENOMEM, "out of memory"));
    pp->until = clock_now_ms() + pp->pa.wait_s * 1000;
    return page_poll(req, pp, err);
}

/* ---- GET /Haendelser/start ---- */

static int h_start(http_request_t *req, void *ctx, err_t *err)
{
    struct ev c = {.ex = ctx, .req = req};
    int rc = ev_admit(&c, err);
    ev_headers(&c);
    if (rc)
        return ev_end(&c, rc);
    int32_t day = 0;
    bool given = false;
    size_t nq = http_req_query_count(req);
    for (size_t i = 0; i < nq; i++) {
        str_t name, v;
        http_req_query_at(req, i, &name, &v);
        if (!str_eq_cstr(name, P_DATE)) {
            char nm[64];
            snprintf(nm, sizeof nm, "%.*s", (int)(name.len < 60 ? name.len : 60), name.ptr);
            err_param(err, DUPLA_EINVAL, nm, "unknown parameter (only %s)", P_DATE);
            err_http(err, 400, PROBLEM_INVALID_PARAMETER);
            return ev_end(&c, refuse(&c, DUPLA_EINVAL, err));
        }
        if (given || clock_parse_date(v, &day) != 0)
            return ev_end(&c, refuse(&c, bad_param(err, P_DATE, "is one date yyyy-mm-dd"), err));
        given = true;
    }
    if (!given)
        return ev_end(&c, refuse(&c, bad_param(err, P_DATE, "is required (yyyy-mm-dd)"), err));
    store_conn_t *conn;
    if ((rc = store_conn_get(c.ex->deps.store, &conn, err)) != 0)
        return ev_end(&c, rc);
    int64_t seq = 0;
    rc = events_start(conn, (int64_t)day * 86400000LL, &seq, err);
    store_conn_put(conn);
    if (rc)
        return ev_end(&c, rc);
    return ev_end(&c,
                  http_reply_json(req, 200, json_pack("{s:I}", "Sekvensnummer", (json_int_t)seq)));
}

/* ---- /Haendelser/abonnement ---- */

static int reply_list_problems(http_request_t *req, const struct events_list_problem *p, size_t n,
                               size_t total)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n && i < EVENTS_LIST_PROBLEMS_MAX; i++)
        json_array_append_new(
            arr, json_pack("{s:I, s:s}", "line", (json_int_t)p[i].line, "reason", p[i].reason));
    json_t *doc = json_pack(
        "{s:s, s:s, s:i, s:s, s:s, s:s, s:o, s:I}", "type", PROBLEM_BASE PROBLEM_INVALID_REQUEST,
        "title", "Unprocessable Content", "status", 422, "detail",
        "Lines of the list are not subjects; nothing was changed.", "instance", http_req_id(req),
        "parameter", "body", "problems", arr, "problems_total", (json_int_t)total);
    char *text = json_text(doc, JSON_COMPACT);
    json_decref(doc);
    if (!text)
        return DUPLA_ENOMEM;
    int rc = http_reply_data(req, 422, "application/problem+json", str_from_cstr(text));
    free(text);
    return rc;
}

static int h_subscription_change(http_request_t *req, struct ev *c, err_t *err)
{
    arena_t *a = http_req_arena(req);
    struct events_subject *subjects;
    size_t n = 0, n_problems = 0;
    struct events_list_problem *problems =
        arena_alloc(a, EVENTS_LIST_PROBLEMS_MAX * sizeof *problems);
    if (!problems)
        return err_set(err, DUPLA_ENOMEM, "out of memory");
    int rc = events_list_parse(http_req_body(req), EVENTS_DEFAULT_MAX_FOLLOWED, a, &subjects, &n,
                               problems, EVENTS_LIST_PROBLEMS_MAX, &n_problems);
    if (rc == DUPLA_ENOMEM)
        return err_set(err, rc, "out of memory");
    if (rc != 0)
        return reply_list_problems(req, problems,
                                   n_problems < EVENTS_LIST_PROBLEMS_MAX ? n_problems
                                                                         : EVENTS_LIST_PROBLEMS_MAX,
                                   n_problems);
    size_t added = 0, removed = 0;
    store_t *st = c->ex->deps.store;
    int64_t now = clock_now_ms();
    str_t path = http_req_path(req);
    if (str_eq_cstr(path, "/Haendelser/abonnement/fjern"))
        rc = events_unfollow(st, c->agreement_id, subjects, n, &removed, err);
    else if (http_req_method(req) == HTTP_PUT)
        rc = events_replace(st, c->agreement_id, subjects, n, EVENTS_DEFAULT_MAX_FOLLOWED, now,
                            &added, &removed, err);
    else
        rc = events_follow(st, c->agreement_id, subjects, n, EVENTS_DEFAULT_MAX_FOLLOWED, now,
                           &added, err);
    if (rc == DUPLA_ELIMIT) {
        err_http(err, 413, PROBLEM_LIMIT_EXCEEDED);
        return rc;
    }
    if (rc)
        return rc;
    int64_t total = 0;
    if ((rc = events_count(st, c->agreement_id, &total, err)) != 0)
        return rc;
    log_json(LOG_INFO, "event subscription changed",
             json_pack("{s:s%, s:I, s:I, s:I}", "agreement", c->agreement_id.ptr,
                       c->agreement_id.len, "added", (json_int_t)added, "removed",
                       (json_int_t)removed, "followed", (json_int_t)total));
    return http_reply_json(req, 200,
                           json_pack("{s:I, s:I, s:I}", "tilfoejet", (json_int_t)added, "fjernet",
                                     (json_int_t)removed, "antal", (json_int_t)total));
}

static int h_subscription_list(http_request_t *req, struct ev *c, err_t *err)
{
    int64_t count = EVENTS_PAGE_DEFAULT;
    struct events_subject after;
    bool has_after = false;
    size_t nq = http_req_query_count(req);
    for (size_t i = 0; i < nq; i++) {
        str_t name, v;
        http_req_query_at(req, i, &name, &v);
        if (str_eq_cstr(name, P_COUNT)) {
            if (!parse_count(v, &count) || count < 1 || count > EVENTS_PAGE_MAX)
                return bad_param(err, P_COUNT, "is a number from 1 to 1000");
        } else if (str_eq_cstr(name, P_AFTER)) {
            err_t e2;
            if (events_subject_parse(v, &after, &e2) != 0)
                return bad_param(err, P_AFTER,
                                 "is the last subject of the page before (CPR:0101901234)");
            has_after = true;
        } else {
            char nm[64];
            snprintf(nm, sizeof nm, "%.*s", (int)(name.len < 60 ? name.len : 60), name.ptr);
            err_param(err, DUPLA_EINVAL, nm, "unknown parameter (%s and %s are known)", P_COUNT,
                      P_AFTER);
            err_http(err, 400, PROBLEM_INVALID_PARAMETER);
            return DUPLA_EINVAL;
        }
    }
    arena_t *a = http_req_arena(req);
    struct events_followed *rows = arena_alloc(a, (size_t)count * sizeof *rows);
    if (!rows)
        return err_set(err, DUPLA_ENOMEM, "out of memory");
    size_t n = 0;
    int64_t total = 0;
    int rc = events_list(c->ex->deps.store, c->agreement_id, has_after ? &after : NULL, rows,
                         (size_t)count, &n, err);
    if (rc == 0)
        rc = events_count(c->ex->deps.store, c->agreement_id, &total, err);
    if (rc)
        return rc;
    json_t *data = json_array();
    for (size_t i = 0; i < n; i++) {
        char num[24], at[40];
        events_subject_text(&rows[i].subject, num, sizeof num);
        clock_format_ms(rows[i].added_ms, at, sizeof at);
        json_array_append_new(data, json_pack("{s:s, s:s, s:s}", "IdentifikatorType",
                                              events_kind_word(rows[i].subject.kind),
                                              "Identifikator", num, "Tilfoejet", at));
    }
    return http_reply_json(req, 200,
                           json_pack("{s:I, s:o}", "antal", (json_int_t)total, "data", data));
}

static int h_subscription(http_request_t *req, void *ctx, err_t *err)
{
    struct ev c = {.ex = ctx, .req = req};
    int rc = ev_admit(&c, err);
    ev_headers(&c);
    if (rc)
        return ev_end(&c, rc);
    if (http_req_method(req) == HTTP_GET)
        rc = h_subscription_list(req, &c, err);
    else
        rc = h_subscription_change(req, &c, err);
    if (rc && err_status(err) < 500 && err_status(err) != 429)
        record_refusal(&c, err);
    return ev_end(&c, rc);
}

int exposure_events_register(http_server_t *srv, exposure_t *ex, const char *listener, err_t *err)
{
    const struct http_route routes[] = {
        {.methods = HTTP_GET,
         .path = "/" EVENTS_SERVICE_NAME,
         .handler = h_page,
         .flags = HTTP_ROUTE_NO_HEAD,
         .name = EVENTS_SERVICE_NAME},
        {.methods = HTTP_GET,
         .path = "/" EVENTS_SERVICE_NAME "/start",
         .handler = h_start,
         .flags = HTTP_ROUTE_NO_HEAD},
        {.methods = HTTP_GET | HTTP_PUT | HTTP_POST,
         .path = "/" EVENTS_SERVICE_NAME "/abonnement",
         .handler = h_subscription,
         .flags = HTTP_ROUTE_NO_HEAD,
         .max_body = EVENTS_LIST_BODY_MAX},
        {.methods = HTTP_POST,
         .path = "/" EVENTS_SERVICE_NAME "/abonnement/fjern",
         .handler = h_subscription,
         .max_body = EVENTS_LIST_BODY_MAX},
    };
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        struct http_route r = routes[i];
        r.ctx = ex;
        r.listener = listener;
        int rc = http_route_add(srv, &r, err);
        if (rc)
            return rc;
    }
    return 0;
}

/* ---- the OpenAPI document ---- */

static json_t *ref(const char *where)
{
    return json_pack("{s:s}", "$ref", where);
}

static json_t *protocol_params(void)
{
    return json_pack("[o, o, o]", ref("#/components/parameters/XRequestID"),
                     ref("#/components/parameters/XTransaktionsID"),
                     ref("#/components/parameters/UFSTAdgangsgrundlag"));
}

static json_t *query_param(const char *name, bool required, json_t *schema, const char *desc)
{
    return json_pack("{s:s, s:s, s:b, s:o, s:s}", "name", name, "in", "query", "required", required,
                     "schema", schema, "description", desc);
}

static json_t *responses(json_t *ok)
{
    return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "200", ok, "400",
                     ref("#/components/responses/BadRequest"), "401",
                     ref("#/components/responses/Unauthorized"), "403",
                     ref("#/components/responses/Forbidden"), "429",
                     ref("#/components/responses/TooManyRequests"), "500",
                     ref("#/components/responses/InternalError"), "503",
                     ref("#/components/responses/ServiceUnavailable"));
}

static json_t *operation(const char *opid, const char *summary, const char *desc, json_t *params,
                         json_t *ok)
{
    return json_pack("{s:s, s:s, s:s, s:[s], s:o, s:o, s:[{s:[]}]}", "operationId", opid, "summary",
                     summary, "description", desc, "tags", EVENTS_SERVICE_NAME, "parameters",
                     params, "responses", responses(ok), "security", "bearer");
}

static json_t *ok_json(const char *desc, json_t *schema)
{
    return json_pack("{s:s, s:{s:{s:o}}}", "description", desc, "content", "application/json",
                     "schema", schema);
}

int exposure_events_openapi(json_t *doc)
{
    json_t *paths = json_object_get(doc, "paths");
    if (!json_is_object(paths))
        return DUPLA_EINVAL;
    json_t *event = json_pack(
        "{s:s, s:[s, s, s, s, s, s, s, s], s:{s:{s:s}, s:{s:s}, s:{s:s, s:[s, s, s]}, s:{s:s}, "
        "s:{s:s}, s:{s:s}, s:{s:s, s:s}, s:{s:s, s:[s, s, s]}}}",
        "type", "object", "required", "Sekvensnummer", "Tjeneste", "IdentifikatorType",
        "Identifikator", "Periode", "Version", "RegistreringTidspunkt", "Type", "properties",
        "Sekvensnummer", "type", "integer", "Tjeneste", "type", "string", "IdentifikatorType",
        "type", "string", "enum", "CPR", "CVR", "SE", "Identifikator", "type", "string", "Periode",
        "type", "string", "Version", "type", "integer", "RegistreringTidspunkt", "type", "string",
        "format", "date-time", "Type", "type", "string", "enum", "ny", "ændret", "tilbagekaldt");
    json_t *page_params = protocol_params();
    json_array_append_new(page_params,
                          query_param(P_FROM, true,
                                      json_pack("{s:s, s:i}", "type", "integer", "minimum", 1),
                                      "Det første sekvensnummer (1, siden det sidste set plus "
                                      "én). English: the first sequence number asked."));
    json_array_append_new(
        page_params,
        query_param(P_COUNT, false,
                    json_pack("{s:s, s:i, s:i, s:i}", "type", "integer", "minimum", 1, "maximum",
                              EVENTS_PAGE_MAX, "default", EVENTS_PAGE_DEFAULT),
                    "Højst så mange hændelser. English: at most this many events."));
    json_array_append_new(
        page_params,
        query_param(P_WAIT, false,
                    json_pack("{s:s, s:i, s:i}", "type", "integer", "minimum", 0, "maximum",
                              EVENTS_WAIT_MAX_S),
                    "Vent op til så mange sekunder, hvis der ingen hændelser er endnu. English: "
                    "long-poll: wait up to this many seconds for a first event."));
    json_array_append_new(
        page_params,
        query_param(P_SERVICE, false,
                    json_pack("{s:s, s:{s:s}}", "type", "array", "items", "type", "string"),
                    "Kun disse tjenester (aftalens). English: only these services."));
    json_t *page_ok =
        ok_json("En side hændelser. English: a page of events.",
                json_pack("{s:s, s:[s], s:{s:{s:s, s:o}}}", "type", "object", "required", "data",
                          "properties", "data", "type", "array", "items", event));
    json_object_set_new(
        page_ok, "headers",
        json_pack("{s:o}", "X-Dupla-Udlevering", ref("#/components/headers/XDuplaUdlevering")));
    json_object_set_new(
        paths, "/" EVENTS_SERVICE_NAME,
        json_pack(
            "{s:o}", "get",
            operation("getHaendelser", "Hændelser (event list)",
                      "Nye versioner, rettelser og tilbagekaldelser for de fulgte personer og "
                      "virksomheder i aftalens tjenester, i sekvensorden; en tom side betyder "
                      "intet nyt. Hver side logges som en udlevering (X-Dupla-Udlevering). "
                      "English: thin events for the followed subjects; an empty page ends; "
                      "each page is recorded in the disclosure log.",
                      page_params, page_ok)));
    json_t *start_params = protocol_params();
    json_array_append_new(start_params,
                          query_param(P_DATE, true,
                                      json_pack("{s:s, s:s}", "type", "string", "format", "date"),
                                      "Dagen (UTC). English: the day (UTC)."));
    json_object_set_new(
        paths, "/" EVENTS_SERVICE_NAME "/start",
        json_pack("{s:o}", "get",
                  operation("getHaendelserStart", "Første sekvensnummer på en dato",
                            "Det første sekvensnummer registreret på eller efter datoen, eller "
                            "det næste, der kommer. English: the first sequence number on or "
                            "after the date.",
                            start_params,
                            ok_json("Sekvensnummeret. English: the sequence number.",
                                    json_pack("{s:s, s:{s:{s:s}}}", "type", "object", "properties",
                                              "Sekvensnummer", "type", "integer")))));
    json_t *list_body = json_pack(
        "{s:b, s:s, s:{s:{s:{s:s}}}}", "required", 1, "description",
        "Én person eller virksomhed pr. linje: 6601760061, CVR 12345674, SE 12345678. English: one "
        "subject a line.",
        "content", "text/plain", "schema", "type", "string");
    json_t *changed = ok_json("Ændret. English: changed.",
                              json_pack("{s:s, s:{s:{s:s}, s:{s:s}, s:{s:s}}}", "type", "object",
                                        "properties", "tilfoejet", "type", "integer", "fjernet",
                                        "type", "integer", "antal", "type", "integer"));
    json_t *sub_params = protocol_params();
    json_array_append_new(sub_params,
                          query_param(P_AFTER, false, json_pack("{s:s}", "type", "string"),
                                      "Den sidste på forrige side. English: the last subject "
                                      "of the page before."));
    json_array_append_new(sub_params,
                          query_param(P_COUNT, false,
                                      json_pack("{s:s, s:i, s:i}", "type", "integer", "minimum", 1,
                                                "maximum", EVENTS_PAGE_MAX),
                                      "Højst så mange. English: at most this many."));
    json_t *put = operation("putHaendelserAbonnement", "Erstat listen af fulgte",
                            "Erstatter hele listen (højst 50.000). English: replaces the list "
                            "of followed subjects.",
                            protocol_params(), json_deep_copy(changed));
    json_object_set_new(put, "requestBody", json_deep_copy(list_body));
    json_t *post = operation("postHaendelserAbonnement", "Følg flere",
                             "Tilføjer listens personer og virksomheder. English: follows more.",
                             protocol_params(), json_deep_copy(changed));
    json_object_set_new(post, "requestBody", json_deep_copy(list_body));
    json_object_set_new(
        paths, "/" EVENTS_SERVICE_NAME "/abonnement",
        json_pack("{s:o, s:o, s:o}", "get",
                  operation("getHaendelserAbonnement", "De fulgte",
                            "De fulgte personer og virksomheder, en side ad gangen. English: "
                            "the followed subjects, a page at a time.",
                            sub_params,
                            ok_json("De fulgte. English: the followed subjects.",
                                    json_pack("{s:s}", "type", "object"))),
                  "put", put, "post", post));
    json_t *del = operation("postHaendelserAbonnementFjern", "Følg ikke længere",
                            "Holder op med at følge listens personer og virksomheder. English: "
                            "stops following them.",
                            protocol_params(), changed);
    json_object_set_new(del, "requestBody", list_body);
    json_object_set_new(paths, "/" EVENTS_SERVICE_NAME "/abonnement/fjern",
                        json_pack("{s:o}", "post", del));
    json_t *tags = json_object_get(doc, "tags");
    if (json_is_array(tags))
        json_array_append_new(tags, json_pack("{s:s, s:s}", "name", EVENTS_SERVICE_NAME,
                                              "description", "Hændelser (event lists)"));
    return 0;
}
