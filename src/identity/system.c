/*
 * system.c: machine systems of an organisation (recipient systems and the
 * data owner's source systems) and the certificates they are known by.
 *
 * A certificate is bound to exactly one system, by the SHA-256 of its DER
 * encoding; its subject must carry the organisation's CVR. Roll-over: add
 * the new certificate while the old one is still valid, then revoke the old.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/encode.h"
#include "identity/internal.h"

#define SYSTEM_COLUMNS                                                                             \
    "id, org_id, name, kind, status, created_ms, supplier_cvr, supplier_name, sender_constrained"
#define CERT_COLUMNS                                                                               \
    "sha256, system_id, subject, issuer, serial, cvr, not_before_ms, not_after_ms, status,"        \
    " created_ms"

const char *identity_system_kind_name(enum system_kind k)
{
    return k == SYSTEM_SOURCE ? "kildesystem" : "aftager-system";
}

const char *identity_system_status_name(enum system_status s)
{
    switch (s) {
    case SYSTEM_ACTIVE:
        return "active";
    case SYSTEM_SUSPENDED:
        return "suspended";
    case SYSTEM_REVOKED:
        return "revoked";
    }
    return "unknown";
}

const char *identity_cert_status_name(enum cert_status s)
{
    return s == CERT_ACTIVE ? "active" : "revoked";
}

json_t *identity_system_json(const struct identity_system *s)
{
    json_t *j =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:I}", "id", s->id, "org_id", s->org_id, "name",
                  s->name, "kind", identity_system_kind_name(s->kind), "status",
                  identity_system_status_name(s->status), "created_ms", (json_int_t)s->created_ms);
    if (j && s->kind == SYSTEM_RECIPIENT)
        json_object_set_new(j, "sender_constrained", json_boolean(s->sender_constrained));
    if (j && s->supplier_cvr[0])
        json_object_set_new(
            j, "supplier",
            json_pack("{s:s, s:s}", "cvr", s->supplier_cvr, "name", s->supplier_name));
    return j;
}

json_t *identity_cert_json(const struct identity_cert *c)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:s, s:I}", "sha256", c->sha256_hex,
                     "system_id", c->system_id, "subject", c->subject, "issuer", c->issuer,
                     "serial", c->serial_hex, "cvr", c->cvr, "not_before_ms",
                     (json_int_t)c->not_before_ms, "not_after_ms", (json_int_t)c->not_after_ms,
                     "status", identity_cert_status_name(c->status), "created_ms",
                     (json_int_t)c->created_ms);
}

static void system_from_row(store_stmt_t *s, struct identity_system *o)
{
    memset(o, 0, sizeof *o);
    str_copy(store_col_text(s, 0), o->id, sizeof o->id);
    str_copy(store_col_text(s, 1), o->org_id, sizeof o->org_id);
    str_copy(store_col_text(s, 2), o->name, sizeof o->name);
    o->kind = (enum system_kind)store_col_int64(s, 3);
    o->status = (enum system_status)store_col_int64(s, 4);
    o->created_ms = store_col_int64(s, 5);
    str_copy(store_col_text(s, 6), o->supplier_cvr, sizeof o->supplier_cvr);
    str_copy(store_col_text(s, 7), o->supplier_name, sizeof o->supplier_name);
    o->sender_constrained = store_col_int64(s, 8) != 0;
}

static void cert_from_row(store_stmt_t *s, struct identity_cert *c)
{
    memset(c, 0, sizeof *c);
    str_copy(store_col_text(s, 0), c->sha256_hex, sizeof c->sha256_hex);
    str_copy(store_col_text(s, 1), c->system_id, sizeof c->system_id);
    str_copy(store_col_text(s, 2), c->subject, sizeof c->subject);
    str_copy(store_col_text(s, 3), c->issuer, sizeof c->issuer);
    str_copy(store_col_text(s, 4), c->serial_hex, sizeof c->serial_hex);
    str_copy(store_col_text(s, 5), c->cvr, sizeof c->cvr);
    c->not_before_ms = store_col_int64(s, 6);
    c->not_after_ms = store_col_int64(s, 7);
    c->status = (enum cert_status)store_col_int64(s, 8);
    c->created_ms = store_col_int64(s, 9);
}

int identity_system_find(store_conn_t *c, str_t ref, struct identity_system *out, err_t *err)
{
    store_stmt_t *s;
    int rc;
    str_t cvr, name;
    if (str_split(ref, '/', &cvr, &name)) {
        rc = store_prepare(c,
                           "SELECT s.id, s.org_id, s.name, s.kind, s.status, s.created_ms,"
                           " s.supplier_cvr, s.supplier_name, s.sender_constrained"
                           " FROM identity_system s JOIN identity_org o ON o.id = s.org_id"
                           " WHERE o.cvr = ? AND s.name = ?",
                           &s, err);
        if (rc)
            return rc;
        store_bind_text(s, 1, cvr);
        store_bind_text(s, 2, name);
    } else {
        rc = store_prepare(c, "SELECT " SYSTEM_COLUMNS " FROM identity_system WHERE id = ?", &s,
                           err);
        if (rc)
            return rc;
        store_bind_text(s, 1, ref);
    }
    rc = store_step(s, err);
    if (rc == STORE_ROW)
        system_from_row(s, out);
    store_stmt_done(s);
    return identity_found(rc, "system", "system", ref, 80, err);
}

int identity_system_get(identity_t *id, str_t ref, struct identity_system *out, err_t *err)
{
    store_conn_t *c;
    int rc = store_conn_get(id->st, &c, err);
    if (rc)
        return rc;
    rc = identity_system_find(c, ref, out, err);
    store_conn_put(c);
    return rc;
}

struct identity_system_list_each {
    int (*fn)(const struct identity_system *, void *);
    void *ctx;
};

static int identity_system_list_row(store_stmt_t *s, void *ctx)
{
    struct identity_system_list_each *e = ctx;
    struct identity_system sy;
    system_from_row(s, &sy);
    return e->fn(&sy, e->ctx);
}

int identity_system_list(identity_t *id, str_t org,
                         int (*fn)(const struct identity_system *, void *), void *ctx, err_t *err)
{
    struct identity_system_list_each e = {fn, ctx};
    return identity_list_org(id, org,
                             "SELECT " SYSTEM_COLUMNS " FROM identity_system"
                             " WHERE (? = '' OR org_id = ?) ORDER BY name LIMIT ?",
                             2, IDENTITY_LIST_MAX, identity_system_list_row, &e, err);
}

int identity_cert_list(identity_t *id, str_t system,
                       int (*fn)(const struct identity_cert *, void *), void *ctx, err_t *err)
{
    store_conn_t *c;
    int rc = store_conn_get(id->st, &c, err);
    if (rc)
        return rc;
    struct identity_system sy;
    if ((rc = identity_system_find(c, system, &sy, err)))
        goto out;
    store_stmt_t *s;
    if ((rc = store_prepare(c,
                            "SELECT " CERT_COLUMNS " FROM identity_cert WHERE system_id = ?"
                            " ORDER BY not_after_ms LIMIT ?",
                            &s, err)))
        goto out;
    store_bind_cstr(s, 1, sy.id);
    store_bind_int64(s, 2, IDENTITY_LIST_MAX);
    while ((rc = store_step(s, err)) == STORE_ROW) {
        struct identity_cert ce;
        cert_from_row(s, &ce);
        if (fn(&ce, ctx))
            break;
    }
    store_stmt_done(s);
    rc = rc < 0 ? rc : 0;
out:
    store_conn_put(c);
    return rc;
}

/* May actor manage the systems of org? Recipient systems: the org's own
 * administrator. Source systems (data owner): dataforvaltning. The operator
 * may suspend/revoke (not register) anywhere: `change` says which. */
static bool may_manage(const identity_actor_t *a, const struct identity_org *o,
                       enum system_kind kind, bool change_only)
{
    if (a->kind == ACTOR_LOCAL)
        return true;
    if (change_only && a->data_owner &&
        (identity_actor_has(a, ROLE_OPERATOR) || identity_actor_has(a, ROLE_DATAFORVALTNING)))
        return true;
    if (kind == SYSTEM_SOURCE)
        return a->data_owner && identity_actor_has(a, ROLE_DATAFORVALTNING);
    return identity_actor_has(a, ROLE_ADMINISTRATOR) && strcmp(a->org_id, o->id) == 0;
}

/* Inserts cert for system sy of org o, after the checks. */
static int cert_insert(store_conn_t *c, const identity_actor_t *actor,
                       const struct identity_system *sy, const struct identity_org *o,
                       const struct pki_cert_info *ci, struct identity_cert *out, err_t *err)
{
    if (ci->is_ca)
        return err_param(err, DUPLA_EINVAL, "certificate", "a CA certificate cannot be a system's");
    if (!ci->cvr[0])
        return err_param(err, DUPLA_EINVAL, "certificate",
                         "the certificate's subject names no CVR number");
    if (sy->supplier_cvr[0] && strcmp(ci->cvr, sy->supplier_cvr) != 0)
        return err_param(err, DUPLA_EINVAL, "certificate",
                         "the certificate's CVR is not the supplier's");
    if (!sy->supplier_cvr[0] && strcmp(ci->cvr, o->cvr) != 0)
        return err_param(err, DUPLA_EINVAL, "certificate",
                         "the certificate's CVR is not the organisation's");
    int64_t now = clock_now_ms();
    if (ci->not_after_ms <= now)
        return err_param(err, DUPLA_EINVAL, "certificate", "the certificate has expired");
    struct identity_cert ce;
    memset(&ce, 0, sizeof ce);
    snprintf(ce.sha256_hex, sizeof ce.sha256_hex, "%s", ci->sha256_hex);
    snprintf(ce.system_id, sizeof ce.system_id, "%s", sy->id);
    snprintf(ce.subject, sizeof ce.subject, "%s", ci->subject);
    snprintf(ce.issuer, sizeof ce.issuer, "%s", ci->issuer);
    snprintf(ce.serial_hex, sizeof ce.serial_hex, "%s", ci->serial_hex);
    snprintf(ce.cvr, sizeof ce.cvr, "%s", ci->cvr);
    ce.not_before_ms = ci->not_before_ms;
    ce.not_after_ms = ci->not_after_ms;
    ce.status = CERT_ACTIVE;
    ce.created_ms = now;
    /* A certificate is one system's, except a supplier's: that may be
     * registered by many organisations, once in each, always as a supplier
     * system. */
    store_stmt_t *s;
    int rc = store_prepare(c,
                           "SELECT y.org_id, y.supplier_cvr FROM identity_cert c"
                           " JOIN identity_system y ON y.id = c.system_id WHERE c.sha256 = ?",
                           &s, err);
    if (rc)
        return rc;
    store_bind_cstr(s, 1, ce.sha256_hex);
    bool clash = false;
    while ((rc = store_step(s, err)) == STORE_ROW)
        if (!sy->supplier_cvr[0] || store_col_text(s, 1).len == 0 ||
            str_eq_cstr(store_col_text(s, 0), o->id))
            clash = true;
    store_stmt_done(s);
    if (rc < 0)
        return rc;
    if (clash)
        return err_refuse(err, DUPLA_ECONFLICT, PROBLEM_CERT_REGISTERED, "certificate",
                          sy->supplier_cvr[0]
                              ? "the certificate is registered already in this organisation or "
                                "as an organisation's own"
                              : "the certificate is registered already");
    rc = store_prepare(
        c, "INSERT INTO identity_cert (" CERT_COLUMNS ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", &s,
        err);
    if (rc)
        return rc;
    store_bind_cstr(s, 1, ce.sha256_hex);
    store_bind_cstr(s, 2, ce.system_id);
    store_bind_cstr(s, 3, ce.subject);
    store_bind_cstr(s, 4, ce.issuer);
    store_bind_cstr(s, 5, ce.serial_hex);
    store_bind_cstr(s, 6, ce.cvr);
    store_bind_int64(s, 7, ce.not_before_ms);
    store_bind_int64(s, 8, ce.not_after_ms);
    store_bind_int64(s, 9, ce.status);
    store_bind_int64(s, 10, ce.created_ms);
    rc = store_step(s, err);
    store_stmt_done(s);
    if (rc < 0)
        return rc;
    json_t *after = identity_cert_json(&ce);
    rc = identity_history_record(c, actor, "cert.add", "cert", ce.sha256_hex, o->id, NULL, after,
                                 err);
    json_decref(after);
    if (!rc && out)
        *out = ce;
    return rc;
}

static int system_register(identity_t *id, const identity_actor_t *actor, str_t org, str_t name,
                           enum system_kind kind, str_t supplier_cvr, str_t supplier_name,
                           const struct pki_cert_info *cert, struct identity_system *out,
                           err_t *err)
{
    struct identity_system sy;
    memset(&sy, 0, sizeof sy);
    int rc =
        identity_text_field(name, "name", IDENTITY_NAME_MAX, false, sy.name, sizeof sy.name, err);
    if (rc)
        return rc;
    bool supplier = supplier_cvr.len || supplier_name.len;
    if (supplier) {
        if (kind != SYSTEM_RECIPIENT)
            return err_param(err, DUPLA_EINVAL, "supplier_cvr",
                             "only a recipient system can be a supplier's");
        if (!ident_cvr_valid(supplier_cvr))
            return err_param(err, DUPLA_EINVAL, "supplier_cvr",
                             "supplier_cvr must be a CVR number (8 digits, modulus 11)");
        str_copy(supplier_cvr, sy.supplier_cvr, sizeof sy.supplier_cvr);
        if ((rc = identity_text_field(supplier_name, "supplier_name", IDENTITY_NAME_MAX, false,
                                      sy.supplier_name, sizeof sy.supplier_name, err)))
            return rc;
        if (!cert)
            return err_param(err, DUPLA_EINVAL, "certificate",
                             "a supplier system is registered with the supplier's certificate");
    }
    if (strchr(sy.name, '/'))
        return err_param(err, DUPLA_EINVAL, "name", "a system's name cannot hold '/'");
    if (kind != SYSTEM_RECIPIENT && kind != SYSTEM_SOURCE)
        return err_param(err, DUPLA_EINVAL, "kind", "unknown system kind");
    store_conn_t *c;
    if ((rc = store_conn_get(id->st, &c, err)))
        return rc;
    if ((rc = store_begin(c, err)))
        goto out;
    struct identity_org o;
    if ((rc = identity_org_find(c, org, &o, err)))
        goto out;
    if (!may_manage(actor, &o, kind, false)) {
        rc = identity_forbidden(err, kind == SYSTEM_SOURCE
                                         ? "only the data owner's dataforvaltning registers "
                                           "source systems"
                                         : "only the organisation's administrator registers its "
                                           "systems");
        goto out;
    }
    if (kind == SYSTEM_SOURCE && !o.data_owner) {
        rc = err_param(err, DUPLA_EINVAL, "org", "source systems belong to the data owner");
        goto out;
    }
    if (kind == SYSTEM_RECIPIENT && o.data_owner) {
        rc = err_param(err, DUPLA_EINVAL, "org", "the data owner registers source systems");
        goto out;
    }
    if (supplier && strcmp(o.cvr, sy.supplier_cvr) == 0) {
        rc = err_param(err, DUPLA_EINVAL, "supplier_cvr",
                       "the supplier is another organisation than the one registering");
        goto out;
    }
    struct identity_system probe;
    char ref[CVR_LEN + 2 + IDENTITY_NAME_MAX];
    snprintf(ref, sizeof ref, "%s/%s", o.cvr, sy.name);
    err_t e2;
    err_clear(&e2);
    rc = identity_system_find(c, str_from_cstr(ref), &probe, &e2);
    if (rc == 0) {
        rc = err_refuse(err, DUPLA_ECONFLICT, PROBLEM_SYSTEM_NAME_TAKEN, "name",
                        "the organisation has a system of that name");
        goto out;
    }
    if (rc != DUPLA_ENOTFOUND) {
        *err = e2;
        goto out;
    }
    if ((rc = identity_new_id(sy.id, err)))
        goto out;
    snprintf(sy.org_id, sizeof sy.org_id, "%s", o.id);
    sy.kind = kind;
    sy.status = SYSTEM_ACTIVE;
    sy.created_ms = clock_now_ms();
    store_stmt_t *s;
    if ((rc = store_prepare(c,
                            "INSERT INTO identity_system (" SYSTEM_COLUMNS
                            ", updated_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                            &s, err)))
        goto out;
    store_bind_cstr(s, 1, sy.id);
    store_bind_cstr(s, 2, sy.org_id);
    store_bind_cstr(s, 3, sy.name);
    store_bind_int64(s, 4, sy.kind);
    store_bind_int64(s, 5, sy.status);
    store_bind_int64(s, 6, sy.created_ms);
    store_bind_cstr(s, 7, sy.supplier_cvr);
    store_bind_cstr(s, 8, sy.supplier_name);
    store_bind_int64(s, 9, 0);
    store_bind_int64(s, 10, sy.created_ms);
    rc = store_step(s, err);
    store_stmt_done(s);
    if (rc < 0)
        goto out;
    json_t *after = identity_system_json(&sy);
    rc = identity_history_record(c, actor, "system.register", "system", sy.id, o.id, NULL, after,
                                 err);
    json_decref(after);
    if (rc)
        goto out;
    if (cert && (rc = cert_insert(c, actor, &sy, &o, cert, NULL, err)))
        goto out;
    rc = identity_commit(id, c, err);
    if (!rc && out)
        *out = sy;
out:
    store_conn_put(c);
    return rc;
}

int identity_system_register(identity_t *id, const identity_actor_t *actor, str_t org, str_t name,
                             enum system_kind kind, const struct pki_cert_info *cert,
                             struct identity_system *out, err_t *err)
{
    return system_register(id, actor, org, name, kind, STR(""), STR(""), cert, out, err);
}

int identity_system_register_supplier(identity_t *id, const identity_actor_t *actor, str_t org,
                                      str_t name, str_t supplier_cvr, str_t supplier_name,
                                      const struct pki_cert_info *cert, struct identity_system *out,
                                      err_t *err)
{
    if (!supplier_cvr.len)
        return err_param(err, DUPLA_EINVAL, "supplier_cvr", "supplier_cvr is required");
    return system_register(id, actor, org, name, SYSTEM_RECIPIENT, supplier_cvr, supplier_name,
                           cert, out, err);
}

int identity_system_set_status(identity_t *id, const identity_actor_t *actor, str_t system,
                               enum system_status status, err_t *err)
{
    if (status != SYSTEM_ACTIVE && status != SYSTEM_SUSPENDED && status != SYSTEM_REVOKED)
        return err_param(err, DUPLA_EINVAL, "status", "unknown status");
    store_conn_t *c;
    int rc = store_conn_get(id->st, &c, err);
    if (rc)
        return rc;
    if ((rc = store_begin(c, err)))
        goto out;
    struct identity_system sy;
    struct identity_org o;
    if ((rc = identity_system_find(c, system, &sy, err)) ||
        (rc = identity_org_find(c, str_from_cstr(sy.org_id), &o, err)))
        goto out;
    if (!may_manage(actor, &o, sy.kind, true)) {
        rc = identity_forbidden(err, "only the organisation's administrator or the platform's "
                                     "operator changes a system's status");
        goto out;
    }
    if (sy.status == SYSTEM_REVOKED) {
        rc = err_refuse(err, DUPLA_ECONFLICT, PROBLEM_REVOCATION_FINAL, "status",
                        "a revoked system stays revoked");
        goto out;
    }
    if (sy.status == status) {
        rc =
            err_refuse(err, DUPLA_ECONFLICT,
                       status == SYSTEM_ACTIVE ? PROBLEM_ALREADY_ACTIVE : PROBLEM_ALREADY_SUSPENDED,
                       "status", "the system is already %s", identity_system_status_name(status));
        goto out;
    }
    json_t *before = identity_system_json(&sy);
    sy.status = status;
    json_t *after = identity_system_json(&sy);
    store_stmt_t *s;
    if ((rc = store_prepare(c, "UPDATE identity_system SET status = ?, updated_ms = ? WHERE id = ?",
                            &s, err)) == 0) {
        store_bind_int64(s, 1, status);
        store_bind_int64(s, 2, clock_now_ms());
        store_bind_cstr(s, 3, sy.id);
        rc = store_step(s, err);
        store_stmt_done(s);
        rc = rc < 0 ? rc : 0;
    }
    const char *action = status == SYSTEM_ACTIVE      ? "system.activate"
                         : status == SYSTEM_SUSPENDED ? "system.suspend"
                                                      : "system.revoke";
    if (!rc)
        rc = identity_history_record(c, actor, action, "system", sy.id, o.id, before, after, err);
    json_decref(before);
    json_decref(after);
    /* A revoked system's certificates are revoked with it. */
    if (!rc && status == SYSTEM_REVOKED &&
        (rc = store_prepare(c,
                            "UPDATE identity_cert SET status = 2, revoked_ms = ?"
                            " WHERE system_id = ? AND status = 1",
                            &s, err)) == 0) {
        store_bind_int64(s, 1, clock_now_ms());
        store_bind_cstr(s, 2, sy.id);
        rc = store_step(s, err);
        store_stmt_done(s);
        rc = rc < 0 ? rc : 0;
    }
    if (!rc)
        rc = identity_commit(id, c, err);
out:
    store_conn_put(c);
    return rc;
}

int identity_system_set_sender_constrained(identity_t *id, const identity_actor_t *actor,
                                           str_t system, bool required, err_t *err)
{
    store_conn_t *c;
    int rc = store_conn_get(id->st, &c, err);
    if (rc)
        return rc;
    if ((rc = store_begin(c, err)))
        goto out;
    struct identity_system sy;
    struct identity_org o;
    if ((rc = identity_system_find(c, system, &sy, err)) ||
        (rc = identity_org_find(c, str_from_cstr(sy.org_id), &o, err)))
        goto out;
    if (!may_manage(actor, &o, sy.kind, true)) {
        rc = identity_forbidden(err, "only the organisation's administrator or the platform's "
                                     "operator changes how a system's tokens are bound");
        goto out;
    }
    if (sy.kind != SYSTEM_RECIPIENT) {
        rc = err_param(err, DUPLA_EINVAL, "system",
                       "only a recipient system fetches data with tokens");
        goto out;
    }
    if (sy.status == SYSTEM_REVOKED) {
        rc = err_refuse(err, DUPLA_ECONFLICT, PROBLEM_REVOCATION_FINAL, "system",
                        "the system is revoked");
        goto out;
    }
    if (sy.sender_constrained == required)
        goto out; /* idempotent: nothing to record */
    json_t *before = identity_system_json(&sy);
    sy.sender_constrained = required;
    json_t *after = identity_system_json(&sy);
    store_stmt_t *s;
    if ((rc = store_prepare(c,
                            "UPDATE identity_system SET sender_constrained = ?, updated_ms = ?"
                            " WHERE id = ?",
                            &s, err)) == 0) {
        store_bind_int64(s, 1, required);
        store_bind_int64(s, 2, clock_now_ms());
        store_bind_cstr(s, 3, sy.id);
        rc = store_step(s, err);
        store_stmt_done(s);
        rc = rc < 0 ? rc : 0;
    }
    if (!rc)
        rc = identity_history_record(c, actor,
                                     required ? "system.require-binding" : "system.allow-unbound",
                                     "system", sy.id, o.id, before, after, err);
    json_decref(before);
    json_decref(after);
    if (!rc)
        rc = identity_commit(id, c, err);
out:
    store_conn_put(c);
    return rc;
}

int identity_cert_add(identity_t *id, const identity_actor_t *actor, str_t system,
                      const struct pki_cert_info *cert, struct identity_cert *out, err_t *err)
{
    store_conn_t *c;
    int rc = store_conn_get(id->st, &c, err);
    if (rc)
        return rc;
    if ((rc = store_begin(c, err)))
        goto out;
    struct identity_system sy;
    struct identity_org o;
    if ((rc = identity_system_find(c, system, &sy, err)) ||
        (rc = identity_org_find(c, str_from_cstr(sy.org_id), &o, err)))
        goto out;
    if (!may_manage(actor, &o, sy.kind, false)) {
        rc = identity_forbidden(err, "only the organisation's administrator adds certificates "
                                     "to its systems");
        goto out;
    }
    if (sy.status == SYSTEM_REVOKED) {
        rc = err_refuse(err, DUPLA_ECONFLICT, PROBLEM_REVOCATION_FINAL, "system",
                        "the system is revoked");
        goto out;
    }
    if ((rc = cert_insert(c, actor, &sy, &o, cert, out, err)))
        goto out;
    rc = identity_commit(id, c, err);
out:
    store_conn_put(c);
    return rc;
}

int identity_cert_revoke(identity_t *id, const identity_actor_t *actor, str_t sha256_hex,
                         err_t *err)
{
    if (sha256_hex.len != PKI_SHA256_HEX - 1)
        return err_param(err, DUPLA_EINVAL, "sha256",
                         "a certificate is named by its SHA-256 "
                         "fingerprint (64 hex digits)");
    char fp[PKI_SHA256_HEX];
    for (size_t i = 0; i < sha256_hex.len; i++) {
        char ch = sha256_hex.ptr[i];
        if (ch >= 'A' && ch <= 'F')
            ch = (char)(ch - 'A' + 'a');
        if (hex_digit(ch) < 0)
            return err_param(err, DUPLA_EINVAL, "sha256", "the fingerprint must be hex");
        fp[i] = ch;
    }
    fp[sha256_hex.len] = '\0';
    store_conn_t *c;
    struct identity_cert *ces = NULL;
    int rc = store_conn_get(id->st, &c, err);
    if (rc)
        return rc;
    if ((rc = store_begin(c, err)))
        goto out;
    /* A supplier's certificate may be registered by several organisations:
     * each registration the actor may manage is revoked (an organisation's
     * administrator: its own; the operator: all). */
    ces = calloc(IDENTITY_CERT_SHARED_MAX, sizeof *ces);
    size_t n = 0;
    if (!ces) {
        rc = err_internal(err, DUPLA_ENOMEM, "identity: out of memory");
        goto out;
    }
    store_stmt_t *s;
    if ((rc = store_prepare(c,
                            "SELECT " CERT_COLUMNS " FROM identity_cert WHERE sha256 = ?"
                            " ORDER BY system_id",
                            &s, err)))
        goto out;
    store_bind_cstr(s, 1, fp);
    while ((rc = store_step(s, err)) == STORE_ROW && n < IDENTITY_CERT_SHARED_MAX)
        cert_from_row(s, &ces[n++]);
    store_stmt_done(s);
    if (rc < 0)
        goto out;
    if (n == 0) {
        rc = err_param(err, DUPLA_ENOTFOUND, "sha256", "no certificate with that fingerprint");
        goto out;
    }
    size_t managed = 0, revoked = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        struct identity_system sy;
        struct identity_org o;
        if ((rc = identity_system_find(c, str_from_cstr(ces[i].system_id), &sy, err)) ||
            (rc = identity_org_find(c, str_from_cstr(sy.org_id), &o, err)))
            goto out;
        if (!may_manage(actor, &o, sy.kind, true))
            continue;
        managed++;
        if (ces[i].status == CERT_REVOKED)
            continue;
        json_t *before = identity_cert_json(&ces[i]);
        ces[i].status = CERT_REVOKED;
        json_t *after = identity_cert_json(&ces[i]);
        if ((rc = store_prepare(c,
                                "UPDATE identity_cert SET status = 2, revoked_ms = ?"
                                " WHERE sha256 = ? AND system_id = ?",
                                &s, err)) == 0) {
            store_bind_int64(s, 1, clock_now_ms());
            store_bind_cstr(s, 2, fp);
            store_bind_cstr(s, 3, sy.id);
            rc = store_step(s, err);
            store_stmt_done(s);
            rc = rc < 0 ? rc : 0;
        }
        if (!rc)
            rc = identity_history_record(c, actor, "cert.revoke", "cert", fp, o.id, before, after,
                                         err);
        json_decref(before);
        json_decref(after);
        revoked++;
    }
    if (rc)
        goto out;
    if (managed == 0) {
        rc = identity_forbidden(err, "only the organisation's administrator or the platform's "
                                     "operator revokes its certificates");
        goto out;
    }
    if (revoked == 0) {
        rc = err_refuse(err, DUPLA_ECONFLICT, PROBLEM_ALREADY_REVOKED, "sha256",
                        "the certificate is revoked already");
        goto out;
    }
    rc = identity_commit(id, c, err);
out:
    free(ces);
    store_conn_put(c);
    return rc;
}
