/*
 * disclosed.c: what an entry disclosed (canonical version 2): the
 * deliveries whose record versions it sent and the versions themselves,
 * stored in audit_entry_delivery and audit_entry_version beside the entry.
 */
#include <inttypes.h>
#include <string.h>

#include "audit/internal.h"

struct disclosed_rows {
    int64_t seq;
    const struct audit_entry *e;
};

static void delivery_bind(store_stmt_t *s, int p, size_t row, const void *ctx)
{
    const struct disclosed_rows *d = ctx;
    store_bind_int64(s, p, d->seq);
    store_bind_int64(s, p + 1, (int64_t)row);
    store_bind_text(s, p + 2, d->e->deliveries[row]);
}

static void version_bind(store_stmt_t *s, int p, size_t row, const void *ctx)
{
    const struct disclosed_rows *d = ctx;
    const struct audit_version *v = &d->e->versions[row];
    store_bind_int64(s, p, d->seq);
    store_bind_int64(s, p + 1, (int64_t)row);
    store_bind_int64(s, p + 2, v->delivery);
    store_bind_cstr(s, p + 3, audit_subject_kind_name(v->kind));
    store_bind_text(s, p + 4, v->subject);
    store_bind_text(s, p + 5, v->period);
    store_bind_int64(s, p + 6, v->version);
}

int audit_insert_disclosed(store_conn_t *c, int64_t seq, const struct audit_entry *e, err_t *err)
{
    const struct disclosed_rows d = {seq, e};
    int rc = store_insert_rows(c, "INSERT INTO audit_entry_delivery (seq, position, delivery_id)",
                               3, e->n_deliveries, delivery_bind, &d, err);
    if (rc)
        return rc;
    return store_insert_rows(c,
                             "INSERT INTO audit_entry_version (seq, position, delivery, kind,"
                             " subject, period, version)",
                             7, e->n_versions, version_bind, &d, err);
}
