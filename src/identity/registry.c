/*
 * registry.c: the in-memory registry of organisations, systems and
 * certificates that token issue, token verification and certificate
 * authentication read instead of the store.
 *
 * The registry is an immutable snapshot (sorted arrays, binary search)
 * tagged with the store's identity generation (identity_generation.gen),
 * held in a core/snapshot cell (readers take a reference and never wait
 * for a reload). It is replaced when:
 *   - this process commits an identity change (identity_commit invalidates,
 *     which reloads at once, so the very next call sees it);
 *   - someone calls identity_registry_invalidate() (the hook for a
 *     PostgreSQL LISTEN/NOTIFY listener thread);
 *   - the generation in the store has moved when it is polled, at most every
 *     registry_poll_ms on the lookup path (so a change by another process,
 *     e.g. the CLI against a running server, is seen within that time; one
 *     small query per interval, not per call).
 * A failed reload follows the one failure rule of core/snapshot.h: the last
 * good snapshot serves for at most registry.stale_max_ms, then every lookup
 * is refused (503 registry-unavailable) until a reload succeeds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/encode.h"
#include "core/log.h"
#include "identity/internal.h"

struct reg_org {
    char id[IDENTITY_ID_LEN + 1];
    char cvr[CVR_LEN + 1];
    enum org_status status;
    unsigned envs;
};

struct reg_system {
    char id[IDENTITY_ID_LEN + 1];
    char name[IDENTITY_NAME_MAX + 1];
    size_t org; /* index into orgs */
    enum system_kind kind;
    enum system_status status;
    char supplier_cvr[CVR_LEN + 1]; /* a supplier system's supplier, else "" */
    bool sender_constrained;
};

struct reg_cert {
    unsigned char sha256[PKI_SHA256_LEN];
    size_t system; /* index into systems */
    enum cert_status status;
    int64_t not_before_ms;
    int64_t not_after_ms;
};

/* An authorisation to act for a company, by (grantee CVR, SE number). */
struct reg_auth {
    char key[CVR_LEN + SE_LEN + 2]; /* "<grantee cvr>|<se>" */
    char company_cvr[CVR_LEN + 1];
    char system_id[IDENTITY_ID_LEN + 1]; /* "": any system of the grantee */
    char *services;                      /* the JSON array text (names hold no '"') */
    int64_t until_ms;
    enum authorisation_status status;
};

struct registry_snapshot {
    int64_t gen;
    size_t n_orgs, n_systems, n_certs, n_auths;
    struct reg_auth *auths;     /* by key */
    struct reg_org *orgs;       /* by id */
    struct reg_system *systems; /* by id */
    struct reg_cert *certs;     /* by sha256, then system (a supplier's: several) */
};

static void registry_snapshot_free(struct registry_snapshot *s)
{
    if (!s)
        return;
    free(s->orgs);
    free(s->systems);
    free(s->certs);
    for (size_t i = 0; i < s->n_auths; i++)
        free(s->auths[i].services);
    free(s->auths);
    free(s);
}

static int cmp_org(const void *a, const void *b)
{
    return strcmp(((const struct reg_org *)a)->id, ((const struct reg_org *)b)->id);
}

static int cmp_auth(const void *a, const void *b)
{
    return strcmp(((const struct reg_auth *)a)->key, ((const struct reg_auth *)b)->key);
}

static int cmp_system(const void *a, const void *b)
{
    return strcmp(((const struct reg_system *)a)->id, ((const struct reg_system *)b)->id);
}

static int cmp_cert(const void *a, const void *b)
{
    const struct reg_cert *x = a, *y = b;
    int c = memcmp(x->sha256, y->sha256, PKI_SHA256_LEN);
    return c ? c : (x->system > y->system) - (x->system < y->system);
}

static const struct reg_org *find_org(const struct registry_snapshot *s, const char *oid)
{
    struct reg_org key;
    snprintf(key.id, sizeof key.id, "%s", oid);
    return bsearch(&key, s->orgs, s->n_orgs, sizeof key, cmp_org);
}

static const struct reg_system *find_system(const struct registry_snapshot *s, str_t sid)
{
    struct reg_system key;
    if (sid.len != IDENTITY_ID_LEN)
        return NULL;
    str_copy(sid, key.id, sizeof key.id);
    return bsearch(&key, s->systems, s->n_systems, sizeof key, cmp_system);
}

/* The registrations of a certificate: the first (NULL: none) and how many
 * (*n; more than one only for a supplier's certificate). */
static const struct reg_cert *find_cert(const struct registry_snapshot *s,
                                        const unsigned char *sha256, size_t *n)
{
    size_t lo = 0, hi = s->n_certs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (memcmp(s->certs[mid].sha256, sha256, PKI_SHA256_LEN) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t k = lo;
    while (k < s->n_certs && memcmp(s->certs[k].sha256, sha256, PKI_SHA256_LEN) == 0)
        k++;
    *n = k - lo;
    return k > lo ? &s->certs[lo] : NULL;
}

/* Counts the rows of a table (sizes the arrays). */
static int count_rows(store_conn_t *c, const char *sql, size_t *n, err_t *err)
{
    int64_t v;
    int rc = store_query_int64(c, sql, 0, &v, err);
    if (!rc)
        *n = (size_t)v;
    return rc;
}

static int read_gen(store_conn_t *c, int64_t *gen, err_t *err)
{
    return store_query_int64(c, "SELECT gen FROM identity_generation WHERE id = 1", 0, gen, err);
}

/* Builds a snapshot from the store inside one transaction. */
static int registry_build(store_t *st, struct registry_snapshot **out, err_t *err)
{
    struct registry_snapshot *s = calloc(1, sizeof *s);
    if (!s)
        return err_internal(err, DUPLA_ENOMEM, "registry: out of memory");
    store_conn_t *c;
    int rc = store_conn_get(st, &c, err);
    if (rc) {
        free(s);
        return rc;
    }
    store_stmt_t *q;
    size_t cap_o, cap_s, cap_c;
    if ((rc = store_begin(c, err)) || (rc = read_gen(c, &s->gen, err)) ||
        (rc = count_rows(c, "SELECT COUNT(*) FROM identity_org", &cap_o, err)) ||
        (rc = count_rows(c, "SELECT COUNT(*) FROM identity_system", &cap_s, err)) ||
        (rc = count_rows(c, "SELECT COUNT(*) FROM identity_cert", &cap_c, err)))
        goto out;
    s->orgs = calloc(cap_o + 1, sizeof *s->orgs);
    s->systems = calloc(cap_s + 1, sizeof *s->systems);
    s->certs = calloc(cap_c + 1, sizeof *s->certs);
    if (!s->orgs || !s->systems || !s->certs) {
        rc = err_internal(err, DUPLA_ENOMEM, "registry: out of memory");
        goto out;
    }
    if ((rc = store_prepare(c, "SELECT id, cvr, status, environments FROM identity_org", &q, err)))
        goto out;
    while (s->n_orgs < cap_o && (rc = store_step(q, err)) == STORE_ROW) {
        struct reg_org *o = &s->orgs[s->n_orgs++];
        str_copy(store_col_text(q, 0), o->id, sizeof o->id);
        str_copy(store_col_text(q, 1), o->cvr, sizeof o->cvr);
        o->status = (enum org_status)store_col_int64(q, 2);
        o->envs = (unsigned)store_col_int64(q, 3);
    }
    store_stmt_done(q);
    if (rc < 0)
        goto out;
    qsort(s->orgs, s->n_orgs, sizeof *s->orgs, cmp_org);

    if ((rc =
             store_prepare(c,
                           "SELECT id, name, org_id, kind, status, supplier_cvr, sender_constrained"
                           " FROM identity_system",
                           &q, err)))
        goto out;
    while (s->n_systems < cap_s && (rc = store_step(q, err)) == STORE_ROW) {
        char oid[IDENTITY_ID_LEN + 1];
        str_copy(store_col_text(q, 2), oid, sizeof oid);
        const struct reg_org *o = find_org(s, oid);
        if (!o)
            continue;
        struct reg_system *y = &s->systems[s->n_systems++];
        str_copy(store_col_text(q, 0), y->id, sizeof y->id);
        str_copy(store_col_text(q, 1), y->name, sizeof y->name);
        y->org = (size_t)(o - s->orgs);
        y->kind = (enum system_kind)store_col_int64(q, 3);
        y->status = (enum system_status)store_col_int64(q, 4);
        str_copy(store_col_text(q, 5), y->supplier_cvr, sizeof y->supplier_cvr);
        y->sender_constrained = store_col_int64(q, 6) != 0;
    }
    store_stmt_done(q);
    if (rc < 0)
        goto out;
    qsort(s->systems, s->n_systems, sizeof *s->systems, cmp_system);

    if ((rc = store_prepare(c,
                            "SELECT sha256, system_id, status, not_before_ms, not_after_ms"
                            " FROM identity_cert",
                            &q, err)))
        goto out;
    while (s->n_certs < cap_c && (rc = store_step(q, err)) == STORE_ROW) {
        const struct reg_system *y = find_system(s, store_col_text(q, 1));
        struct reg_cert *ce = &s->certs[s->n_certs];
        if (!y || hex_decode(store_col_text(q, 0), ce->sha256, PKI_SHA256_LEN) != PKI_SHA256_LEN)
            continue;
        ce->system = (size_t)(y - s->systems);
        ce->status = (enum cert_status)store_col_int64(q, 2);
        ce->not_before_ms = store_col_int64(q, 3);
        ce->not_after_ms = store_col_int64(q, 4);
        s->n_certs++;
    }
    store_stmt_done(q);
    if (rc < 0)
        goto out;
    qsort(s->certs, s->n_certs, sizeof *s->certs, cmp_cert);

    size_t cap_a;
    if ((rc = count_rows(c, "SELECT COUNT(*) FROM identity_authorisation", &cap_a, err)))
        goto out;
    if (!(s->auths = calloc(cap_a + 1, sizeof *s->auths))) {
        rc = err_internal(err, DUPLA_ENOMEM, "registry: out of memory");
        goto out;
    }
    if ((rc = store_prepare(c,
                            "SELECT g.cvr, a.se, c.cvr, a.grantee_system_id, a.services,"
                            " a.until_ms, a.status FROM identity_authorisation a"
                            " JOIN identity_org c ON c.id = a.company_org_id"
                            " JOIN identity_org g ON g.id = a.grantee_org_id",
                            &q, err)))
        goto out;
    while (s->n_auths < cap_a && (rc = store_step(q, err)) == STORE_ROW) {
        struct reg_auth *au = &s->auths[s->n_auths];
        char cvr[CVR_LEN + 1], se[SE_LEN + 1];
        str_copy(store_col_text(q, 0), cvr, sizeof cvr);
        str_copy(store_col_text(q, 1), se, sizeof se);
        snprintf(au->key, sizeof au->key, "%s|%s", cvr, se);
        str_copy(store_col_text(q, 2), au->company_cvr, sizeof au->company_cvr);
        str_copy(store_col_text(q, 3), au->system_id, sizeof au->system_id);
        str_t sv = store_col_text(q, 4);
        if (!(au->services = calloc(1, sv.len + 1))) {
            rc = err_internal(err, DUPLA_ENOMEM, "registry: out of memory");
            break;
        }
        memcpy(au->services, sv.ptr, sv.len);
        au->until_ms = store_col_int64(q, 5);
        au->status = (enum authorisation_status)store_col_int64(q, 6);
        s->n_auths++;
    }
    store_stmt_done(q);
    if (rc < 0)
        goto out;
    qsort(s->auths, s->n_auths, sizeof *s->auths, cmp_auth);
    rc = 0;
out:
    store_rollback(c);
    store_conn_put(c);
    if (rc)
        registry_snapshot_free(s);
    else
        *out = s;
    return rc;
}

/* ---- the cell (core/snapshot.h) ---- */

static int registry_load(void *ctx, void **data, int64_t *gen, err_t *err)
{
    identity_t *id = ctx;
    struct registry_snapshot *s = NULL;
    int rc = registry_build(id->st, &s, err);
    if (rc == 0 && s) {
        *data = s;
        *gen = s->gen;
    }
    return rc;
}

static int registry_store_gen(void *ctx, const void *current, int64_t *gen, err_t *err)
{
    identity_t *id = ctx;
    (void)current;
    store_conn_t *c;
    int rc = store_conn_get(id->st, &c, err);
    if (rc)
        return rc;
    rc = read_gen(c, gen, err);
    store_conn_put(c);
    return rc;
}

static void registry_free_data(void *data)
{
    registry_snapshot_free(data);
}

int identity_registry_init(identity_t *id, err_t *err)
{
    struct snapshot_source src = {"identity registry", id, registry_load, registry_store_gen,
                                  registry_free_data};
    return snapshot_new(&src, NULL, &id->registry, err);
}

void identity_registry_free(identity_t *id)
{
    snapshot_free(id->registry);
    id->registry = NULL;
}

int identity_registry_invalidate(identity_t *id, err_t *err)
{
    return snapshot_invalidate(id->registry, err);
}

int64_t identity_generation(identity_t *id)
{
    return snapshot_generation(id->registry);
}

int identity_registry_refresh(identity_t *id, err_t *err)
{
    return snapshot_poll(id->registry, 0, err);
}

/* Looks for changes by other processes at most every registry_poll_ms (and,
 * while reloads fail, retries that often even when polling is off). Only one
 * thread does the work; the others go on with the snapshot there is. */
static void maybe_refresh(identity_t *id)
{
    int64_t interval = id->registry_poll_ms;
    if (interval <= 0 && snapshot_failing(id->registry))
        interval = IDENTITY_DEFAULT_REGISTRY_POLL_MS;
    if (interval <= 0)
        return;
    err_t err;
    err_clear(&err);
    snapshot_poll(id->registry, interval, &err); /* a failure is logged by the cell */
}

static int refuse(err_t *err, int code, const char *type, const char *detail)
{
    return err_refuse(err, code, type, NULL, "%s", detail);
}

/* The checks shared by certificate and token-subject authentication, on a
 * snapshot the caller holds a reference to. */
/* cert_cvr (NULL: not checked) is the certificate's CVR, which must be the
 * organisation's, or a supplier system's supplier's; org_cvr (NULL: not
 * checked) the organisation's as a token names it. */
static int check_system(const struct registry_snapshot *s, const struct reg_system *y,
                        enum system_kind kind, enum environment env, const str_t *cert_cvr,
                        const str_t *org_cvr, struct identity_principal *out, err_t *err)
{
    if (y->kind != kind)
        return refuse(err, DUPLA_EFORBIDDEN, PROBLEM_SYSTEM_KIND,
                      kind == SYSTEM_SOURCE ? "the certificate is not a source system's"
                                            : "the certificate is not a recipient system's");
    if (y->status == SYSTEM_SUSPENDED)
        return refuse(err, DUPLA_EFORBIDDEN, PROBLEM_SYSTEM_SUSPENDED, "the system is suspended");
    if (y->status != SYSTEM_ACTIVE)
        return refuse(err, DUPLA_EFORBIDDEN, PROBLEM_SYSTEM_REVOKED, "the system is revoked");
    const struct reg_org *o = &s->orgs[y->org];
    if (o->status != ORG_ACTIVE)
        return refuse(err, DUPLA_EFORBIDDEN, PROBLEM_ORG_SUSPENDED,
                      "the organisation is suspended or closed");
    if (cert_cvr && !str_eq_cstr(*cert_cvr, y->supplier_cvr[0] ? y->supplier_cvr : o->cvr))
        return refuse(err, DUPLA_EFORBIDDEN, PROBLEM_CVR_MISMATCH,
                      y->supplier_cvr[0] ? "the certificate's CVR is not the supplier's"
                                         : "the certificate's CVR is not the organisation's");
    if (org_cvr && !str_eq_cstr(*org_cvr, o->cvr))
        return refuse(err, DUPLA_EFORBIDDEN, PROBLEM_CVR_MISMATCH,
                      "the token's organisation is not the system's");
    if (!(o->envs & (1u << env)))
        return refuse(err, DUPLA_EFORBIDDEN, PROBLEM_ENV_NOT_ALLOWED,
                      "the organisation may not use this environment");
    memset(out, 0, sizeof *out);
    snprintf(out->system_id, sizeof out->system_id, "%s", y->id);
    snprintf(out->system_name, sizeof out->system_name, "%s", y->name);
    out->kind = y->kind;
    snprintf(out->org_id, sizeof out->org_id, "%s", o->id);
    snprintf(out->org_cvr, sizeof out->org_cvr, "%s", o->cvr);
    out->org_environments = o->envs;
    snprintf(out->supplier_cvr, sizeof out->supplier_cvr, "%s", y->supplier_cvr);
    out->sender_constrained = y->sender_constrained;
    return 0;
}

static int check_cert(const struct reg_cert *ce, int64_t now_ms, err_t *err)
{
    if (!ce)
        return refuse(err, DUPLA_EUNAUTH, PROBLEM_CERT_UNREGISTERED,
                      "the certificate is not registered to any system");
    if (ce->status != CERT_ACTIVE)
        return refuse(err, DUPLA_EUNAUTH, PROBLEM_CERT_REVOKED,
                      "the certificate's registration is revoked");
    if (now_ms < ce->not_before_ms || now_ms >= ce->not_after_ms)
        return refuse(err, DUPLA_EUNAUTH, PROBLEM_CERT_EXPIRED,
                      "the certificate is outside its validity");
    return 0;
}

/* The registration (of those n at ce) that belongs to an organisation of
 * CVR org_cvr, or NULL. */
static const struct reg_cert *cert_in_org(const struct registry_snapshot *s,
                                          const struct reg_cert *ce, size_t n, str_t org_cvr)
{
    for (size_t i = 0; i < n; i++)
        if (str_eq_cstr(org_cvr, s->orgs[s->systems[ce[i].system].org].cvr))
            return &ce[i];
    return NULL;
}

/* One registration checked in full into out. */
static int check_one(const struct registry_snapshot *s, const struct reg_cert *ce,
                     enum system_kind kind, enum environment env, int64_t now_ms,
                     const str_t *cert_cvr, const unsigned char *sha256,
                     struct identity_principal *out, err_t *err)
{
    int rc = check_cert(ce, now_ms, err);
    if (!rc)
        rc = check_system(s, &s->systems[ce->system], kind, env, cert_cvr, NULL, out, err);
    if (!rc)
        memcpy(out->cert_sha256, sha256, PKI_SHA256_LEN);
    return rc;
}

/* The first usable registration of several (a supplier certificate) as a
 * principal for the certificate alone; else the first one's refusal. */
static int check_any(const struct registry_snapshot *s, const struct reg_cert *ce, size_t n,
                     enum environment env, int64_t now_ms, const str_t *cert_cvr,
                     const unsigned char *sha256, struct identity_principal *out, err_t *err)
{
    err_t first;
    err_clear(&first);
    int first_rc = 0;
    for (size_t i = 0; i < n; i++) {
        err_t e;
        err_clear(&e);
        int rc = check_one(s, &ce[i], SYSTEM_RECIPIENT, env, now_ms, cert_cvr, sha256, out, &e);
        if (rc == 0) {
            char supplier[CVR_LEN + 1];
            snprintf(supplier, sizeof supplier, "%s", out->supplier_cvr);
            memset(out, 0, sizeof *out);
            out->kind = SYSTEM_RECIPIENT;
            snprintf(out->supplier_cvr, sizeof out->supplier_cvr, "%s", supplier);
            out->org_environments = 1u << env;
            memcpy(out->cert_sha256, sha256, PKI_SHA256_LEN);
            out->any_org = true;
            /* which organisation is not known until the call names it:
             * bound if any registration of the certificate wants it */
            for (size_t j = 0; j < n; j++)
                out->sender_constrained |= s->systems[ce[j].system].sender_constrained;
            return 0;
        }
        if (!first_rc) {
            first_rc = rc;
            first = e;
        }
    }
    if (err)
        *err = first;
    return first_rc;
}

static int authenticate(identity_t *id, const struct pki_cert_info *cert, enum system_kind kind,
                        str_t org_cvr, enum environment env, int64_t now_ms,
                        struct identity_principal *out, err_t *err)
{
    maybe_refresh(id);
    snapshot_ref_t *ref;
    int rc = snapshot_acquire(id->registry, &ref, err);
    if (rc)
        return rc;
    const struct registry_snapshot *s = snapshot_data(ref);
    size_t n;
    const struct reg_cert *ce = find_cert(s, cert->sha256, &n);
    str_t cvr = str_from_cstr(cert->cvr);
    if (!ce) {
        rc = check_cert(NULL, now_ms, err);
    } else if (org_cvr.len) {
        const struct reg_cert *mine = cert_in_org(s, ce, n, org_cvr);
        rc = mine ? check_one(s, mine, kind, env, now_ms, &cvr, cert->sha256, out, err)
                  : err_refuse(err, DUPLA_EFORBIDDEN, PROBLEM_SUPPLIER_NOT_REGISTERED, "org_cvr",
                               "the certificate is not registered as a system of organisation "
                               "%.*s",
                               (int)(org_cvr.len > CVR_LEN ? CVR_LEN : org_cvr.len), org_cvr.ptr);
    } else if (n == 1 || kind != SYSTEM_RECIPIENT) {
        rc = check_one(s, ce, kind, env, now_ms, &cvr, cert->sha256, out, err);
    } else {
        rc = check_any(s, ce, n, env, now_ms, &cvr, cert->sha256, out, err);
    }
    snapshot_release(ref);
    return rc;
}

int identity_authenticate_cert(identity_t *id, const struct pki_cert_info *cert,
                               enum system_kind kind, enum environment env, int64_t now_ms,
                               struct identity_principal *out, err_t *err)
{
    return authenticate(id, cert, kind, STR(""), env, now_ms, out, err);
}

int identity_authenticate_cert_for(identity_t *id, const struct pki_cert_info *cert, str_t org_cvr,
                                   enum environment env, int64_t now_ms,
                                   struct identity_principal *out, err_t *err)
{
    return authenticate(id, cert, SYSTEM_RECIPIENT, org_cvr, env, now_ms, out, err);
}

int identity_supplier_bind(identity_t *id, const unsigned char *cert_sha256, str_t org_cvr,
                           enum environment env, int64_t now_ms, struct identity_principal *out,
                           err_t *err)
{
    maybe_refresh(id);
    snapshot_ref_t *ref;
    int rc = snapshot_acquire(id->registry, &ref, err);
    if (rc)
        return rc;
    const struct registry_snapshot *s = snapshot_data(ref);
    size_t n;
    const struct reg_cert *ce = find_cert(s, cert_sha256, &n);
    if (!ce) {
        rc = check_cert(NULL, now_ms, err);
    } else if (!org_cvr.len) {
        rc = check_any(s, ce, n, env, now_ms, NULL, cert_sha256, out, err);
    } else {
        const struct reg_cert *mine = cert_in_org(s, ce, n, org_cvr);
        rc = mine ? check_one(s, mine, SYSTEM_RECIPIENT, env, now_ms, NULL, cert_sha256, out, err)
                  : err_set(err, DUPLA_ENOTFOUND, "no registration in that organisation");
    }
    snapshot_release(ref);
    return rc;
}

int identity_check_principal(identity_t *id, str_t system_id, str_t org_cvr,
                             const unsigned char *cert_sha256, enum environment env, int64_t now_ms,
                             struct identity_principal *out, err_t *err)
{
    maybe_refresh(id);
    snapshot_ref_t *ref;
    int rc = snapshot_acquire(id->registry, &ref, err);
    if (rc)
        return rc;
    const struct registry_snapshot *s = snapshot_data(ref);
    const struct reg_system *y = find_system(s, system_id);
    if (!y)
        rc = refuse(err, DUPLA_EUNAUTH, PROBLEM_CERT_UNREGISTERED, "unknown system");
    if (!rc && cert_sha256) {
        size_t n;
        const struct reg_cert *ce = find_cert(s, cert_sha256, &n), *mine = NULL;
        for (size_t i = 0; ce && i < n && !mine; i++)
            if (&s->systems[ce[i].system] == y)
                mine = &ce[i];
        rc = !ce     ? check_cert(NULL, now_ms, err)
             : !mine ? refuse(err, DUPLA_EUNAUTH, PROBLEM_CERT_UNREGISTERED,
                              "the certificate is not the system's")
                     : check_cert(mine, now_ms, err);
    }
    if (!rc)
        rc = check_system(s, y, SYSTEM_RECIPIENT, env, NULL, &org_cvr, out, err);
    if (!rc && cert_sha256)
        memcpy(out->cert_sha256, cert_sha256, PKI_SHA256_LEN);
    snapshot_release(ref);
    return rc;
}

int identity_authorisation_check(identity_t *id, str_t grantee_cvr, str_t system_id, str_t se,
                                 str_t service, int64_t now_ms, char *company_cvr, err_t *err)
{
    maybe_refresh(id);
    snapshot_ref_t *ref;
    int rc = snapshot_acquire(id->registry, &ref, err);
    if (rc)
        return rc;
    const struct registry_snapshot *s = snapshot_data(ref);
    struct reg_auth key;
    snprintf(key.key, sizeof key.key, "%.*s|%.*s",
             (int)(grantee_cvr.len > CVR_LEN ? CVR_LEN : grantee_cvr.len), grantee_cvr.ptr,
             (int)(se.len > SE_LEN ? SE_LEN : se.len), se.ptr);
    size_t lo = 0, hi = s->n_auths;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(s->auths[mid].key, key.key) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    /* the best of several: one that allows, else the nearest miss */
    enum { MISSING, REVOKED, EXPIRED, SERVICE, ALLOWED } best = MISSING;
    char want[IDENTITY_AUTH_SERVICE_MAX + 3];
    snprintf(
        want, sizeof want, "\"%.*s\"",
        (int)(service.len > IDENTITY_AUTH_SERVICE_MAX ? IDENTITY_AUTH_SERVICE_MAX : service.len),
        service.ptr);
    for (size_t i = lo; i < s->n_auths && strcmp(s->auths[i].key, key.key) == 0; i++) {
        const struct reg_auth *au = &s->auths[i];
        if (au->system_id[0] && !str_eq_cstr(system_id, au->system_id))
            continue;
        int v = au->status != AUTHORISATION_ACTIVE           ? REVOKED
                : now_ms >= au->until_ms                     ? EXPIRED
                : service.len && !strstr(au->services, want) ? SERVICE
                                                             : ALLOWED;
        if (v > (int)best) {
            best = v;
            snprintf(company_cvr, CVR_LEN + 1, "%s", au->company_cvr);
        }
    }
    snapshot_release(ref);
    switch (best) {
    case ALLOWED:
        return 0;
    case SERVICE:
        return refuse(err, DUPLA_EFORBIDDEN, PROBLEM_SERVICE_NOT_AUTHORISED,
                      "the company's authorisation does not name this service");
    case EXPIRED:
        return refuse(err, DUPLA_EFORBIDDEN, PROBLEM_AUTHORISATION_EXPIRED,
                      "the company's authorisation has expired");
    case REVOKED:
        return refuse(err, DUPLA_EFORBIDDEN, PROBLEM_AUTHORISATION_REVOKED,
                      "the company has revoked its authorisation");
    case MISSING:
        break;
    }
    return refuse(err, DUPLA_EFORBIDDEN, PROBLEM_AUTHORISATION_MISSING,
                  "no authorisation of the company with this SE number for this organisation "
                  "and system");
}
