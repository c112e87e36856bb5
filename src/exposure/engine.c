/*
 * engine.c: one data call, without HTTP (routes.c feeds it a struct
 * exposure_call and sends what it answers), in the five phases exposure.h
 * names:
 *
 *     admit -> decide -> census -> record -> answer
 *
 * Each phase takes the call's state (struct call), leaves its result there
 * for the next, or stops the call and says how (call_exit). exposure_call
 * runs them in order; call_end is the one way out: it gives back the read
 * state still held and ends the call as the phase that stopped it said.
 *
 * Record before data, exactly what is sent. The read runs inside one read
 * snapshot of the store (a deferred SQLite transaction; REPEATABLE READ on
 * PostgreSQL). The census walks the answer once: it counts the records,
 * marks the subjects that have any, collects the distinct periods and,
 * while the JSON stays under EXPOSURE_INLINE_MAX bytes, keeps it. Then the
 * disclosure is recorded and the engine waits until it is durable: the
 * answer phase takes the log's receipt as a parameter, so there is no path
 * to it that has not passed the record. A small answer is then sent from
 * memory (its snapshot already closed); a larger one is read again, from
 * the same snapshot, and streamed (stream.c): the store cannot show the
 * second pass anything the first did not see, so the log holds exactly the
 * subjects, periods, fields and count of what leaves. Memory per request is
 * bounded (the inline buffer, one record, the subject and period sets)
 * whatever the answer's size.
 */
#include <errno.h>
#include <inttypes.h>
#include <semaphore.h>
#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/uuid.h"
#include "dataset/dataset.h"
#include "exposure/internal.h"

/* ---- the call's state ---- */

/* Distinct periods, as (start << 32 | end) in a small open-addressing set. */
#define PERIOD_SLOTS (2 * EXPOSURE_MAX_PERIODS)

/* What the census saw: the subjects and periods the answer concerns. */
struct census {
    int64_t *subject_values; /* the asked subjects as integers (query order) */
    bool *subject_sent;      /* ... and whether any record was about each */
    size_t n_subjects;
    size_t cursor; /* where the last record's subject was found */
    uint64_t *period_set;
    bool *period_used;
    size_t n_periods;
    int64_t records;
    /* What went out, for the log (canonical version 2): the deliveries, each
     * once (their store seqs in the order first sent, found by an open
     * hash of slots 2^k places), and the first AUDIT_VERSIONS_MAX versions. */
    int64_t *delivery_seq;
    int64_t *delivery_slot; /* a delivery's seq + 1 there, or 0 */
    uint32_t *delivery_at;  /* ... and its place in delivery_seq */
    size_t n_deliveries, delivery_slots;
    str_t *delivery_ids; /* filled once the walk is done */
    struct sent_version *versions;
    size_t n_versions, versions_cap;
};

/* One record version sent (the log lists them by subject and period). */
struct sent_version {
    uint32_t delivery;
    int64_t subject; /* the stored key: digits, tagged by the subject kind's place */
    int32_t period_start, period_end;
    int64_t version;
};

/* How a phase that stops the call wants it ended (see call_end). */
enum call_exit {
    CALL_FAILED = 0, /* the platform failed: 500, or 503 when it was only busy */
    CALL_REFUSED,    /* the question is refused: counted, and recorded in the log */
    CALL_LIMITED,    /* 429 or 503 with Retry-After, counted; not recorded */
};

/*
 * One call's state, filled by the phases in order. The read state (the
 * connection with its read snapshot, the cursor, the kept answer) belongs
 * to it until call_end gives it back, or until the answer phase hands the
 * connection to a stream.
 */
struct call {
    exposure_t *ex;
    const struct exposure_call *in;
    arena_t *arena; /* the request's */
    enum call_exit exit;
    unsigned retry_after_s;     /* CALL_LIMITED */
    struct exposure_rate *rate; /* the answer's: the budget as admit left it */
    /* admit */
    str_t agreement_id;
    const struct token_principal *p; /* the caller, bound to an organisation */
    struct token_principal bound;    /* a supplier's token bound by the agreement */
    /* decide */
    int64_t version; /* the agreement's, once known */
    struct exposure_query q;
    bool include[CATALOG_MAX_FIELDS]; /* what goes: the keys, and granted ∩ asked */
    struct dataset_query dq;
    /* census */
    struct census cs;
    store_conn_t *conn; /* set only while its read snapshot is open */
    dataset_cursor_t *cur;
    buf_t inline_body; /* the whole answer, while it fits */
    bool overflow;     /* it did not: the answer streams from conn's snapshot */
    /* record: the entry handed to the log (what it points to is in the
     * arena), and the log's word on it, given by logged() */
    struct audit_entry entry;
    exposure_wake_fn wake;
    void *wake_ctx;
    int logged_rc;
    struct audit_receipt receipt;
    err_t logged_err;
    /* a refusal waits for its entry too, then answers with these */
    bool refusal;
    int refused_rc;
    err_t refused_err;
};

static int refused(struct call *c, int rc)
{
    c->exit = CALL_REFUSED;
    return rc;
}

static int limited(struct call *c, unsigned retry_after_s, int rc)
{
    c->exit = CALL_LIMITED;
    c->retry_after_s = retry_after_s;
    return rc;
}

/* Ends the read snapshot and gives the connection back. */
static void read_end(struct call *c)
{
    dataset_cursor_close(c->cur);
    c->cur = NULL;
    if (c->conn) {
        store_end_read(c->conn);
        store_conn_put(c->conn);
        c->conn = NULL;
    }
}

/* ---- admit: the protocol headers and the rate (steps 3-4) ---- */

static bool visible_ascii(str_t s)
{
    for (size_t i = 0; i < s.len; i++)
        if ((unsigned char)s.ptr[i] < 0x21 || (unsigned char)s.ptr[i] > 0x7e)
            return false;
    return true;
}

static int bad_header(err_t *err, const char *name, const char *why)
{
    err_param(err, DUPLA_EINVAL, name, "%s %s", name, why);
    err_http(err, 400, PROBLEM_INVALID_HEADER);
    return DUPLA_EINVAL;
}

int exposure_check_headers(const struct exposure_call *call, str_t *agreement_id, err_t *err)
{
    if (!call->has_request_id)
        return bad_header(err, EXPOSURE_H_REQUEST_ID, "is required (a UUID, new for each call)");
    if (!uuid_valid(call->request_id))
        return bad_header(err, EXPOSURE_H_REQUEST_ID,
                          "must be a UUID (8-4-4-4-12 hexadecimal digits)");
    if (!call->has_txid || call->txid.len == 0)
        return bad_header(err, EXPOSURE_H_TXID, "is required (the job's transaction id)");
    if (call->txid.len > EXPOSURE_TXID_MAX || !visible_ascii(call->txid))
        return bad_header(err, EXPOSURE_H_TXID,
                          "must be at most 128 visible ASCII characters (a UUID is usual)");
    if (!call->has_agreement)
        return bad_header(err, EXPOSURE_H_AGREEMENT,
                          "is required: urn:ufst:adgangsgrundlag:aftale:<agreement id>");
    if (!agreement_urn_id(call->agreement, agreement_id))
        return bad_header(err, EXPOSURE_H_AGREEMENT,
                          "must have the form urn:ufst:adgangsgrundlag:aftale:<agreement id>");
    if (call->has_case_ref && !audit_case_ref_valid(call->case_ref))
        return bad_header(err, EXPOSURE_H_CASE_REF,
                          "must be 1 to 64 characters of A-Z a-z 0-9, space and . _ / : # ( ) + - "
                          "(no space first or last)");
    return 0;
}

int exposure_bind_supplier(exposure_t *ex, struct token_principal *p, str_t agreement_id,
                           int64_t now_ms, err_t *err)
{
    char cvr[CVR_LEN + 1];
    /* No such agreement: left unbound, the agreement decision refuses it
     * (agreement-not-found). No registration of the certificate by the
     * agreement's recipient: the same answer, as for another
     * organisation's agreement (nobody learns that an id exists). */
    if (!agreement_recipient_cvr(ex->deps.agreements, agreement_id, cvr))
        return 0;
    err_t e;
    err_clear(&e);
    int rc = token_principal_bind(ex->deps.token, p, str_from_cstr(cvr), now_ms, &e);
    if (rc == DUPLA_ENOTFOUND)
        return 0;
    if (rc) {
        *err = e;
        if (rc == DUPLA_EBUSY)
            return rc;
        /* the registration is not usable (revoked, suspended...): 403 with
         * the registry's reason, naming the header that chose it; the
         * refusal is logged as the agreement's recipient's */
        snprintf(p->org_cvr, sizeof p->org_cvr, "%s", cvr);
        err_param(err, DUPLA_EFORBIDDEN, EXPOSURE_H_AGREEMENT, "%s", e.detail);
        err_http(err, 403, e.type);
        return DUPLA_EFORBIDDEN;
    }
    return 0;
}

/* Leaves the agreement id claimed. A bad header is a refusal (recorded); an
 * exhausted rate is a 429, not recorded: it protects the log too. */
static int admit(struct call *c, err_t *err)
{
    int rc = exposure_check_headers(c->in, &c->agreement_id, err);
    if (rc != 0)
        return refused(c, rc);
    if (c->in->principal->any_org) {
        c->bound = *c->in->principal;
        c->p = &c->bound;
        if ((rc = exposure_bind_supplier(c->ex, &c->bound, c->agreement_id, c->in->now_ms, err)))
            return rc == DUPLA_EBUSY ? rc : refused(c, rc);
    }
    char key[256];
    int n = snprintf(key, sizeof key, "%.*s|%s",
                     (int)(c->agreement_id.len > 128 ? 128 : c->agreement_id.len),
                     c->agreement_id.ptr, c->p->system_id);
    unsigned rate, burst; /* the agreement's own budget, 0: the configured one */
    agreement_rate_budget(c->ex->deps.agreements, c->agreement_id, &rate, &burst);
    if (!exposure_limiter_take_budget(c->ex->limiter, (str_t){key, n > 0 ? (size_t)n : 0}, rate,
                                      burst, c->in->now_ms, c->rate)) {
        atomic_fetch_add(&c->ex->refused, 1);
        agreement_note_limited(c->ex->deps.agreements, c->agreement_id,
                               str_from_cstr(c->p->system_id), c->in->now_ms);
        err_set(err, DUPLA_ERATE,
                "The rate limit of this agreement and system is reached; "
                "try again after Retry-After seconds.");
        err_http(err, 429, PROBLEM_RATE_LIMITED);
        return limited(c, c->rate->reset_s, DUPLA_ERATE);
    }
    return 0;
}

/* ---- decide: the parameters and the agreement (steps 5-6) ---- */

static int forbidden(err_t *err, enum agreement_verdict v, const char *field, const char *param)
{
    int status = agreement_verdict_status(v);
    int code = status == 503 ? DUPLA_EBUSY : status == 400 ? DUPLA_EINVAL : DUPLA_EFORBIDDEN;
    if (field)
        err_param(err, code, param, "%s (%s)", agreement_verdict_detail(v), field);
    else
        err_set(err, code, "%s", agreement_verdict_detail(v));
    err_http(err, status, agreement_verdict_name(v));
    return code;
}

/* The non-key fields asked (all of them unless the fields parameter names
 * some): their names into ask[] and their indexes in the service into
 * ask_index[]; returns how many. */
static size_t fields_asked(const struct catalog_service *svc, const struct exposure_query *q,
                           str_t *ask, size_t *ask_index)
{
    size_t n_ask = 0;
    for (size_t i = 0; i < svc->n_fields; i++) {
        const struct catalog_field *f = &svc->fields[i];
        if (catalog_field_is_key(f))
            continue;
        bool asked = !q->fields_given;
        for (size_t j = 0; !asked && j < q->n_fields; j++)
            asked = str_eq_cstr(q->fields[j], f->name);
        if (asked) {
            ask_index[n_ask] = i;
            ask[n_ask++] = (str_t){f->name, f->name_len};
        }
    }
    return n_ask;
}

/* A token acting for a company (onbehalfofse): the company's authorisation
 * must stand for this service, and every subject asked must be the
 * company: its SE number, or its CVR number. 403 naming onbehalfofse, or
 * the subject parameter. */
static int on_behalf(struct call *c, err_t *err)
{
    const struct catalog_service *svc = c->in->svc;
    char company[CVR_LEN + 1] = "";
    err_t e;
    err_clear(&e);
    int rc = token_authorisation_check(c->ex->deps.token, c->p, str_from_cstr(svc->path),
                                       c->in->now_ms, company, &e);
    if (rc) {
        *err = e;
        if (rc == DUPLA_EBUSY)
            return rc;
        err_param(err, DUPLA_EFORBIDDEN, "onbehalfofse", "%s", e.detail);
        err_http(err, 403, e.type);
        return DUPLA_EFORBIDDEN;
    }
    const struct catalog_subject *sk = &svc->subjects[c->q.subject_index];
    const char *own = sk->kind == CATALOG_IDENT_SE    ? c->p->on_behalf_se
                      : sk->kind == CATALOG_IDENT_CVR ? company
                                                      : NULL;
    for (size_t i = 0; i < c->q.n_subjects || i == 0; i++)
        if (!own || c->q.n_subjects == 0 || !str_eq_cstr(c->q.subjects[i], own)) {
            err_param(err, DUPLA_EFORBIDDEN, sk->param->name,
                      "acting for a company (onbehalfofse), a call asks about that company "
                      "only: its SE number or CVR number");
            err_http(err, 403, PROBLEM_SUBJECT_NOT_AUTHORISED);
            return DUPLA_EFORBIDDEN;
        }
    return 0;
}

/* Leaves the question (q, dq), the agreement's version and the fields that
 * go: the keys always, and granted ∩ asked. */
static int decide(struct call *c, err_t *err)
{
    exposure_t *ex = c->ex;
    const struct catalog_service *svc = c->in->svc;
    const struct token_principal *p = c->p;
    int rc =
        exposure_query_parse(svc, c->in->args, c->in->n_args, ex->cfg.max_subjects, c->in->now_ms,
                             (int64_t)ex->cfg.window_margin_s * 1000, c->arena, &c->q, err);
    if (rc != 0)
        return refused(c, rc);
    if (p->on_behalf_se[0] && (rc = on_behalf(c, err)) != 0)
        return rc == DUPLA_EBUSY ? limited(c, ex->cfg.retry_after_s, rc) : refused(c, rc);
    str_t *ask = arena_alloc(c->arena, (svc->n_fields + 1) * sizeof *ask);
    size_t *ask_index = arena_alloc(c->arena, (svc->n_fields + 1) * sizeof *ask_index);
    bool *granted = arena_alloc(c->arena, (svc->n_fields + 1) * sizeof *granted);
    if (!ask || !ask_index || !granted)
        return err_set(err, DUPLA_ENOMEM, "out of memory");
    size_t n_ask = fields_asked(svc, &c->q, ask, ask_index);
    struct agreement_caller caller = {.org_cvr = str_from_cstr(p->org_cvr),
                                      .system_id = str_from_cstr(p->system_id),
                                      .env = ex->deps.env};
    struct agreement_decision dec;
    rc = agreement_decide(ex->deps.agreements, &caller, c->agreement_id, str_from_cstr(svc->path),
                          ask, n_ask, c->q.fields_given, c->in->now_ms, granted, &dec);
    c->version = dec.version;
    if (rc != 0) {
        const struct catalog_param *pf = catalog_param_by_role(svc, CATALOG_PARAM_FIELDS);
        const char *field = dec.verdict == AGREEMENT_DENY_FIELD && dec.field_index < n_ask
                                ? svc->fields[ask_index[dec.field_index]].name
                                : NULL;
        rc = forbidden(err, dec.verdict, field, pf ? pf->name : "fields");
        if (dec.verdict == AGREEMENT_DENY_UNAVAILABLE) {
            atomic_fetch_add(&ex->saturated, 1);
            return limited(c, ex->cfg.retry_after_s, rc);
        }
        return refused(c, rc);
    }
    for (size_t i = 0; i < svc->n_fields; i++)
        c->include[i] = catalog_field_is_key(&svc->fields[i]);
    for (size_t j = 0; j < n_ask; j++)
        if (granted[j])
            c->include[ask_index[j]] = true;
    c->dq = (struct dataset_query){
        .svc = svc,
        .mode = c->q.window ? DATASET_WINDOW : DATASET_CURRENT,
        .subjects = c->q.subjects,
        .n_subjects = c->q.n_subjects,
        .period_from = c->q.period_from,
        .period_to = c->q.period_to,
        .years = c->q.years,
        .n_years = c->q.n_years,
        .registered_from = c->q.registered_from,
        .registered_to = c->q.registered_to,
        .subject_index = c->q.subject_index,
        .n_filters = c->q.n_filters,
        .valid = c->q.valid,
        .valid_from = c->q.valid_from,
        .valid_to = c->q.valid_to,
    };
    memcpy(c->dq.filters, c->q.filters, sizeof c->dq.filters);
    return 0;
}

/* ---- census: the first pass over the read snapshot (step 7) ---- */

static int census_init(struct census *cs, const struct catalog_service *svc,
                       const struct exposure_query *q, arena_t *a, err_t *err)
{
    *cs = (struct census){.n_subjects = q->n_subjects};
    cs->subject_values = arena_alloc(a, (q->n_subjects + 1) * sizeof *cs->subject_values);
    cs->subject_sent = arena_alloc(a, (q->n_subjects + 1) * sizeof *cs->subject_sent);
    cs->period_set = arena_alloc(a, PERIOD_SLOTS * sizeof *cs->period_set);
    cs->period_used = arena_alloc(a, PERIOD_SLOTS * sizeof *cs->period_used);
    if (!cs->subject_values || !cs->subject_sent || !cs->period_set || !cs->period_used)
        return err_set(err, DUPLA_ENOMEM, "out of memory");
    for (size_t i = 0; i < q->n_subjects; i++)
        if (dataset_subject_key(svc, q->subject_index, q->subjects[i], &cs->subject_values[i]) != 0)
            return err_internal(err, DUPLA_EINTERNAL, "exposure: a checked subject does not parse");
    return 0;
}

static bool census_subject(struct census *c, int64_t subject)
{
    for (size_t k = 0; k < c->n_subjects; k++) {
        size_t i = (c->cursor + k) % c->n_subjects;
        if (c->subject_values[i] == subject) {
            c->subject_sent[i] = true;
            c->cursor = i;
            return true;
        }
    }
    return false;
}

/* false when there are more distinct periods than the log takes. */
static bool census_period(struct census *c, int32_t start, int32_t end)
{
    uint64_t key = ((uint64_t)(uint32_t)start << 32) | (uint32_t)end;
    size_t i = (size_t)((key * 0x9E3779B97F4A7C15ULL) >> 40) % PERIOD_SLOTS;
    for (;; i = (i + 1) % PERIOD_SLOTS) {
        if (!c->period_used[i]) {
            if (c->n_periods == EXPOSURE_MAX_PERIODS)
                return false;
            c->period_used[i] = true;
            c->period_set[i] = key;
            c->n_periods++;
            return true;
        }
        if (c->period_set[i] == key)
            return true;
    }
}

/* Notes the delivery and the version of rec: false when more deliveries
 * than the log takes, or out of memory (*oom). */
static bool census_sent(struct census *c, arena_t *a, const struct dataset_record *rec, bool *oom)
{
    *oom = false;
    if (c->n_deliveries * 2 >= c->delivery_slots) {
        if (c->n_deliveries == AUDIT_DELIVERIES_MAX)
            goto find; /* full: only deliveries already seen may come */
        size_t slots = c->delivery_slots ? c->delivery_slots * 2 : 64;
        int64_t *seqs = arena_alloc(a, slots / 2 * sizeof *seqs);
        int64_t *slot = arena_alloc(a, slots * sizeof *slot);
        uint32_t *at = arena_alloc(a, slots * sizeof *at);
        if (!seqs || !slot || !at) {
            *oom = true;
            return false;
        }
        if (c->n_deliveries)
            memcpy(seqs, c->delivery_seq, c->n_deliveries * sizeof *seqs);
        for (size_t k = 0; k < c->n_deliveries; k++) {
            size_t i = (size_t)(((uint64_t)seqs[k] * 0x9E3779B97F4A7C15ULL) >> 20) & (slots - 1);
            while (slot[i])
                i = (i + 1) & (slots - 1);
            slot[i] = seqs[k] + 1;
            at[i] = (uint32_t)k;
        }
        c->delivery_seq = seqs, c->delivery_slot = slot, c->delivery_at = at;
        c->delivery_slots = slots;
    }
find:;
    size_t i = (size_t)(((uint64_t)rec->delivery_seq * 0x9E3779B97F4A7C15ULL) >> 20) &
               (c->delivery_slots - 1);
    while (c->delivery_slot[i] && c->delivery_slot[i] != rec->delivery_seq + 1)
        i = (i + 1) & (c->delivery_slots - 1);
    if (!c->delivery_slot[i]) {
        if (c->n_deliveries == AUDIT_DELIVERIES_MAX)
            return false;
        c->delivery_slot[i] = rec->delivery_seq + 1;
        c->delivery_at[i] = (uint32_t)c->n_deliveries;
        c->delivery_seq[c->n_deliveries++] = rec->delivery_seq;
    }
    if (c->records >= AUDIT_VERSIONS_MAX)
        return true; /* the log lists the deliveries only */
    if (c->n_versions == c->versions_cap) {
        size_t cap = c->versions_cap ? c->versions_cap * 2 : 16;
        if (cap > AUDIT_VERSIONS_MAX)
            cap = AUDIT_VERSIONS_MAX;
        struct sent_version *v = arena_alloc(a, cap * sizeof *v);
        if (!v) {
            *oom = true;
            return false;
        }
        if (c->n_versions)
            memcpy(v, c->versions, c->n_versions * sizeof *v);
        c->versions = v;
        c->versions_cap = cap;
    }
    c->versions[c->n_versions++] =
        (struct sent_version){c->delivery_at[i], rec->key.subject, rec->key.period_start,
                              rec->key.period_end, rec->version};
    return true;
}

static int too_many_deliveries(err_t *err)
{
    err_set(err, DUPLA_EINVAL,
            "The answer would hold records of more than %d deliveries; narrow the question.",
            AUDIT_DELIVERIES_MAX);
    err_http(err, 400, PROBLEM_TOO_MANY_DELIVERIES);
    return DUPLA_EINVAL;
}

/* A delivery's id, from the engine's cache or else the store (and then
 * kept). */
static int delivery_id(exposure_t *ex, store_conn_t *conn, int64_t seq,
                       char id[DATASET_DELIVERY_ID_MAX + 1], err_t *err)
{
    struct exposure_delivery_cache *dc = &ex->deliveries;
    size_t k = (size_t)((uint64_t)seq % EXPOSURE_DELIVERY_CACHE);
    bool hit;
    pthread_mutex_lock(&dc->mu);
    if ((hit = seq != 0 && dc->slot[k].seq == seq))
        memcpy(id, dc->slot[k].id, strlen(dc->slot[k].id) + 1);
    pthread_mutex_unlock(&dc->mu);
    if (hit)
        return 0;
    int rc = dataset_delivery_id(conn, seq, id, DATASET_DELIVERY_ID_MAX + 1, err);
    if (rc)
        return rc;
    pthread_mutex_lock(&dc->mu);
    dc->slot[k].seq = seq;
    memcpy(dc->slot[k].id, id, strlen(id) + 1);
    pthread_mutex_unlock(&dc->mu);
    return 0;
}

/* The ids of the deliveries sent (on the census's connection, its cursor
 * closed). */
static int census_delivery_ids(struct call *c, err_t *err)
{
    struct census *cs = &c->cs;
    cs->delivery_ids = arena_alloc(c->arena, (cs->n_deliveries + 1) * sizeof *cs->delivery_ids);
    if (!cs->delivery_ids)
        return err_set(err, DUPLA_ENOMEM, "out of memory");
    for (size_t i = 0; i < cs->n_deliveries; i++) {
        char id[DATASET_DELIVERY_ID_MAX + 1];
        int rc = delivery_id(c->ex, c->conn, cs->delivery_seq[i], id, err);
        if (rc)
            return rc;
        char *t = arena_strdup(c->arena, str_from_cstr(id));
        if (!t)
            return err_set(err, DUPLA_ENOMEM, "out of memory");
        cs->delivery_ids[i] = str_from_cstr(t);
    }
    return 0;
}

static int too_many_periods(const struct catalog_service *svc, err_t *err)
{
    const struct catalog_param *pp = catalog_param_by_role(svc, CATALOG_PARAM_PERIOD_FROM);
    if (!pp)
        pp = catalog_param_by_role(svc, CATALOG_PARAM_YEAR);
    err_param(err, DUPLA_EINVAL, pp ? pp->name : "period",
              "The answer would concern more than %d periods; narrow the question.",
              EXPOSURE_MAX_PERIODS);
    err_http(err, 400, PROBLEM_TOO_MANY_PERIODS);
    return DUPLA_EINVAL;
}

/* Opens the read snapshot and walks the answer once. Leaves the census, and
 * either the whole answer kept (snapshot closed) or, for a larger one, the
 * connection with its snapshot open for the second pass. */
static int census(struct call *c, err_t *err)
{
    exposure_t *ex = c->ex;
    const struct catalog_service *svc = c->in->svc;
    store_conn_t *conn;
    int rc = census_init(&c->cs, svc, &c->q, c->arena, err);
    if (rc != 0)
        return rc;
    if ((rc = store_conn_get(ex->deps.store, &conn, err)) != 0) {
        if (rc == DUPLA_EBUSY)
            return limited(
                c, ex->cfg.retry_after_s,
                exposure_busy(ex, err, PROBLEM_SATURATED, "The store is busy; try again."));
        return rc;
    }
    /* Point reads of a partitioned table: generic plans (store.h). */
    if ((rc = store_begin_read(conn, err)) != 0 ||
        (rc = store_read_generic_plans(conn, err)) != 0) {
        store_end_read(conn);
        store_conn_put(conn);
        return rc;
    }
    c->conn = conn;
    if ((rc = dataset_cursor_open(c->conn, &c->dq, &c->cur, err)) != 0)
        return rc;
    if (buf_append_cstr(&c->inline_body, "{\"data\":[") != 0)
        return err_set(err, DUPLA_ENOMEM, "out of memory");
    for (;;) {
        const struct dataset_record *rec;
        rc = dataset_cursor_next(c->cur, &rec, err);
        if (rc < 0)
            return rc;
        if (rc == STORE_DONE)
            break;
        if (c->q.n_subjects && !census_subject(&c->cs, rec->key.subject))
            return err_internal(err, DUPLA_EINTERNAL, "exposure: a record of a subject not asked");
        /* a number service's records have no period: the log names none */
        if (svc->period_kind != CATALOG_PERIOD_NUMBER &&
            !census_period(&c->cs, rec->key.period_start, rec->key.period_end))
            return refused(c, too_many_periods(svc, err));
        bool oom;
        if (!census_sent(&c->cs, c->arena, rec, &oom))
            return oom ? err_set(err, DUPLA_ENOMEM, "out of memory")
                       : refused(c, too_many_deliveries(err));
        if (!c->overflow) {
            if (c->cs.records > 0 && buf_append(&c->inline_body, ",", 1) != 0)
                return err_set(err, DUPLA_ENOMEM, "out of memory");
            if ((rc = dataset_record_to_json(rec, c->include, &c->inline_body, err)) != 0)
                return rc;
            if (c->inline_body.len > EXPOSURE_INLINE_MAX) {
                c->overflow = true;
                buf_free(&c->inline_body);
            }
        }
        c->cs.records++;
    }
    dataset_cursor_close(c->cur);
    c->cur = NULL;
    if ((rc = census_delivery_ids(c, err)) != 0)
        return rc;
    if (!c->overflow) {
        if (buf_append_cstr(&c->inline_body, "]}") != 0)
            return err_set(err, DUPLA_ENOMEM, "out of memory");
        read_end(c);
    }
    return 0;
}

/* ---- record: the durable disclosure entry (step 8) ---- */

static enum audit_subject_kind audit_kind(enum catalog_ident k)
{
    return k == CATALOG_IDENT_CPR   ? AUDIT_SUBJECT_CPR
           : k == CATALOG_IDENT_CVR ? AUDIT_SUBJECT_CVR
                                    : AUDIT_SUBJECT_SE;
}

static void period_text(const struct catalog_service *svc, uint64_t key, char *out, size_t cap)
{
    int32_t start = (int32_t)(uint32_t)(key >> 32), end = (int32_t)(uint32_t)key;
    if (svc->period_kind == CATALOG_PERIOD_YEAR) {
        int y, m, d;
        clock_civil_from_days(start, &y, &m, &d);
        snprintf(out, cap, "%04d", y);
        return;
    }
    char a[16], b[16];
    clock_format_date(start, a, sizeof a);
    clock_format_date(end, b, sizeof b);
    snprintf(out, cap, "%s/%s", a, b);
}

/* The versions the census saw, as the log lists them (none when more were
 * sent than it lists). */
static int sent_versions(struct call *c, struct audit_entry *e)
{
    const struct catalog_service *svc = c->in->svc;
    if (c->cs.records > AUDIT_VERSIONS_MAX || c->cs.n_versions == 0)
        return 0;
    struct audit_version *v = arena_alloc(c->arena, c->cs.n_versions * sizeof *v);
    if (!v)
        return DUPLA_ENOMEM;
    for (size_t i = 0; i < c->cs.n_versions; i++) {
        const struct sent_version *s = &c->cs.versions[i];
        size_t place = (size_t)(s->subject / DATASET_SUBJECT_TAG);
        enum catalog_ident kind =
            place < svc->n_subjects ? svc->subjects[place].kind : svc->subject_kind;
        char subject[24], period[32];
        dataset_subject_format(kind, s->subject % DATASET_SUBJECT_TAG, subject, sizeof subject);
        if (svc->period_kind == CATALOG_PERIOD_NUMBER)
            snprintf(period, sizeof period, "%" PRId32, s->period_start);
        else
            period_text(svc, ((uint64_t)(uint32_t)s->period_start << 32) | (uint32_t)s->period_end,
                        period, sizeof period);
        char *st = arena_strdup(c->arena, str_from_cstr(subject));
        char *pt = arena_strdup(c->arena, str_from_cstr(period));
        if (!st || !pt)
            return DUPLA_ENOMEM;
        v[i] = (struct audit_version){s->delivery, audit_kind(kind), str_from_cstr(st),
                                      str_from_cstr(pt), s->version};
    }
    e->versions = v;
    e->n_versions = c->cs.n_versions;
    return 0;
}

/* The log's writer, once the call's entry is durable (or its batch
 * failed): keeps the log's word and wakes the call's request. */
static void logged(void *ctx, int rc, const struct audit_receipt *receipt, const err_t *err)
{
    struct call *c = ctx;
    c->logged_rc = rc;
    if (rc == 0)
        c->receipt = *receipt;
    else
        c->logged_err = *err;
    c->wake(c->wake_ctx); /* the last touch of c: the request may end at once */
}

/* Hands what the census saw to the log (audit_submit): logged() wakes the
 * call once it is durable, and only then does the answer phase run. A full
 * log queue is a 503. */
static int record(struct call *c, err_t *err)
{
    exposure_t *ex = c->ex;
    const struct catalog_service *svc = c->in->svc;
    const struct token_principal *p = c->p;
    arena_t *a = c->arena;
    struct audit_subject *subs = arena_alloc(a, (c->q.n_subjects + 1) * sizeof *subs);
    str_t *periods = arena_alloc(a, (c->cs.n_periods + 1) * sizeof *periods);
    str_t *fields = arena_alloc(a, (svc->n_fields + 1) * sizeof *fields);
    if (!subs || !periods || !fields)
        return err_set(err, DUPLA_ENOMEM, "out of memory");
    c->entry = (struct audit_entry){
        .org_cvr = str_from_cstr(p->org_cvr),
        .system_id = str_from_cstr(p->system_id),
        .agreement_id = c->agreement_id,
        .agreement_version = c->version,
        .service = str_from_cstr(svc->path),
        .request_id = c->in->server_request_id,
        .transaction_id = c->in->txid,
        .subjects = subs,
        .periods = periods,
        .fields = fields,
        .record_count = c->cs.records,
        .outcome = AUDIT_DISCLOSED,
        .reason = STR(""),
        .case_ref = c->in->has_case_ref ? c->in->case_ref : STR(""),
        .supplier_cvr = str_from_cstr(p->supplier_cvr),
        .on_behalf_se = str_from_cstr(p->on_behalf_se),
        .deliveries = c->cs.delivery_ids,
        .n_deliveries = c->cs.n_deliveries,
    };
    struct audit_entry *e = &c->entry;
    for (size_t i = 0; i < c->q.n_subjects; i++)
        if (c->cs.subject_sent[i])
            subs[e->n_subjects++] = (struct audit_subject){
                audit_kind(svc->subjects[c->q.subject_index].kind), c->q.subjects[i]};
    for (size_t i = 0; i < PERIOD_SLOTS; i++)
        if (c->cs.period_used[i]) {
            char text[32];
            period_text(svc, c->cs.period_set[i], text, sizeof text);
            char *t = arena_strdup(a, str_from_cstr(text));
            if (!t)
                return err_set(err, DUPLA_ENOMEM, "out of memory");
            periods[e->n_periods++] = str_from_cstr(t);
        }
    for (size_t i = 0; i < svc->n_fields; i++)
        if (c->include[i])
            fields[e->n_fields++] = (str_t){svc->fields[i].name, svc->fields[i].name_len};
    int rc = sent_versions(c, e);
    if (rc != 0)
        return err_set(err, rc, "out of memory");
    rc = audit_submit(ex->deps.audit, e, logged, c, err);
    if (rc == DUPLA_EBUSY)
        return limited(c, ex->cfg.retry_after_s, exposure_log_busy(ex, err));
    return rc;
}

static void refusal_not_recorded(const struct call *c, const err_t *aerr)
{
    str_t id = c->in->server_request_id;
    log_json(
        LOG_WARN, "refusal not recorded",
        json_pack("{s:s%, s:s}", "request_id", id.ptr ? id.ptr : "", id.len, "error", aerr->log));
}

/* Hands a refusal to the log (best effort: a full log queue does not
 * change the answer, which is a refusal anyway). 0: logged() will wake the
 * call; the refusal is answered once its entry is durable, as before. */
static int record_refusal(struct call *c, const err_t *refusal)
{
    const struct exposure_call *in = c->in;
    c->entry = (struct audit_entry){
        .org_cvr = str_from_cstr(c->p->org_cvr),
        .system_id = str_from_cstr(c->p->system_id),
        .agreement_id = str_sub(c->agreement_id, 0, AUDIT_TEXT_MAX),
        .agreement_version = c->version,
        .service = str_from_cstr(in->svc->path),
        .request_id = in->server_request_id,
        .transaction_id = in->has_txid ? str_sub(in->txid, 0, EXPOSURE_TXID_MAX) : STR(""),
        .outcome = AUDIT_REFUSED,
        .case_ref = in->has_case_ref && audit_case_ref_valid(in->case_ref) ? in->case_ref : STR(""),
        .supplier_cvr = str_from_cstr(c->p->supplier_cvr),
        .on_behalf_se = str_from_cstr(c->p->on_behalf_se),
    };
    /* the reason outlives refusal (the caller's err): the arena's copy */
    const char *reason = refusal->type[0] ? refusal->type : err_code_name(refusal->code);
    char *r = arena_strdup(c->arena, str_from_cstr(reason));
    c->entry.reason = r ? str_from_cstr(r) : STR("internal-error");
    err_t aerr;
    err_clear(&aerr);
    int rc = audit_submit(c->ex->deps.audit, &c->entry, logged, c, &aerr);
    if (rc != 0)
        refusal_not_recorded(c, &aerr);
    return rc;
}

/* ---- answer: the data, once recorded (step 9) ---- */

/* Only with the receipt of the durable disclosure. Leaves in *ans the kept
 * answer (copied into the request's arena) or a stream that takes over the
 * connection and its snapshot. */
static int answer(struct call *c, const struct audit_receipt *receipt, struct exposure_answer *ans,
                  err_t *err)
{
    ans->audit_seq = receipt->seq;
    ans->records = c->cs.records;
    if (c->q.window)
        clock_format_s(c->q.registered_to, ans->window_end, sizeof ans->window_end);
    if (!c->overflow) {
        char *body = arena_alloc(c->arena, c->inline_body.len + 1);
        if (!body)
            return err_set(err, DUPLA_ENOMEM, "out of memory");
        memcpy(body, c->inline_body.data, c->inline_body.len);
        ans->body = (str_t){body, c->inline_body.len};
        return 0;
    }
    int rc = exposure_stream_open(c->ex, c->conn, &c->dq, c->include, c->cs.records,
                                  c->in->server_request_id, &ans->stream, err);
    if (rc != 0)
        return rc;
    c->conn = NULL; /* the stream's now */
    return 0;
}

/* ---- the call ---- */

/* The one way out: gives back the read state still held, then ends the
 * call as the phase that stopped it said (rc 0: the answer is in *ans). */
static int call_end(struct call *c, int rc, struct exposure_answer *ans, err_t *err)
{
    read_end(c);
    buf_free(&c->inline_body);
    if (rc == 0)
        return 0;
    switch (c->exit) {
    case CALL_REFUSED: /* its entry was handed to the log (exposure_call_begin) */
        atomic_fetch_add(&c->ex->refused, 1);
        return rc;
    case CALL_LIMITED:
        ans->retry_after_s = c->retry_after_s;
        return rc;
    case CALL_FAILED:
        break;
    }
    if (rc == DUPLA_EBUSY) {
        ans->retry_after_s = c->ex->cfg.retry_after_s;
        return exposure_busy(c->ex, err, PROBLEM_SATURATED, "The platform is busy; try again.");
    }
    if (err_status(err) < 500) {
        /* a store or decoding failure is never the client's fault */
        char why[ERR_LOG_MAX];
        snprintf(why, sizeof why, "%s", err->log);
        err_internal(err, DUPLA_EINTERNAL, "exposure: %s", why);
    }
    return rc;
}

int exposure_call_begin(exposure_t *ex, const struct exposure_call *call, exposure_wake_fn wake,
                        void *wake_ctx, struct exposure_answer *ans, exposure_pending_t **out,
                        err_t *err)
{
    *out = NULL;
    memset(ans, 0, sizeof *ans);
    struct call *c = arena_alloc(call->arena, sizeof *c);
    if (!c)
        return err_set(err, DUPLA_ENOMEM, "out of memory");
    *c = (struct call){.ex = ex,
                       .in = call,
                       .arena = call->arena,
                       .agreement_id = STR(""),
                       .rate = &ans->rate,
                       .p = call->principal,
                       .wake = wake,
                       .wake_ctx = wake_ctx};
    buf_init(&c->inline_body, EXPOSURE_INLINE_MAX + DATASET_ENCODED_MAX);
    int rc;
    if ((rc = admit(c, err)) == 0 && (rc = decide(c, err)) == 0 && (rc = census(c, err)) == 0 &&
        (rc = record(c, err)) == 0) {
        *out = (exposure_pending_t *)c; /* the read state stays the call's */
        return 0;
    }
    if (c->exit == CALL_REFUSED) {
        read_end(c);
        c->refused_rc = rc;
        c->refused_err = *err;
        if (record_refusal(c, err) == 0) {
            c->refusal = true;
            *out = (exposure_pending_t *)c;
            return 0;
        }
        *err = c->refused_err;
    }
    return call_end(c, rc, ans, err);
}

int exposure_call_finish(exposure_pending_t *pending, bool abandoned, struct exposure_answer *ans,
                         err_t *err)
{
    struct call *c = (struct call *)pending;
    int rc;
    if (c->refusal) {
        if (!abandoned && c->logged_rc != 0)
            refusal_not_recorded(c, &c->logged_err);
        *err = c->refused_err;
        rc = c->refused_rc;
    } else if (abandoned) {
        /* the server is stopping before the entry was durable: no data */
        rc = limited(
            c, c->ex->cfg.retry_after_s,
            exposure_busy(c->ex, err, PROBLEM_SATURATED, "The server is stopping; try again."));
    } else if (c->logged_rc == DUPLA_EBUSY) { /* the batch's commit: a full disk, ... */
        *err = c->logged_err;
        rc = limited(c, c->ex->cfg.retry_after_s, exposure_log_busy(c->ex, err));
    } else if (c->logged_rc != 0) {
        *err = c->logged_err;
        rc = c->logged_rc;
    } else {
        atomic_fetch_add(&c->ex->answered, 1);
        atomic_fetch_add(&c->ex->records, (uint64_t)c->cs.records);
        rc = answer(c, &c->receipt, ans, err);
    }
    return call_end(c, rc, ans, err);
}

/* exposure_call's wake: the caller sleeps on it. */
static void wake_sleeper(void *ctx)
{
    sem_post(ctx);
}

int exposure_call(exposure_t *ex, const struct exposure_call *call, struct exposure_answer *ans,
                  err_t *err)
{
    sem_t done;
    if (sem_init(&done, 0, 0) != 0)
        return err_internal(err, DUPLA_EINTERNAL, "exposure: sem_init failed");
    exposure_pending_t *pending;
    int rc = exposure_call_begin(ex, call, wake_sleeper, &done, ans, &pending, err);
    if (rc == 0 && pending) {
        while (sem_wait(&done) != 0 && errno == EINTR)
            ;
        rc = exposure_call_finish(pending, false, ans, err);
    }
    sem_destroy(&done);
    return rc;
}
