/*
 * disclosed.c: what an entry disclosed (canonical version 2): the
 * deliveries whose record versions it sent and the versions themselves,
 * stored in audit_entry_delivery and audit_entry_version beside the entry.
 */
#include <inttypes.h>
#include <string.h>

#include "audit/internal.h"

int audit_insert_disclosed(store_conn_t *c, int64_t seq, const struct audit_entry *e, err_t *err)
{
    store_stmt_t *s;
    int rc;
    if (e->n_deliveries) {
        if ((rc = store_prepare(c,
                                "INSERT INTO audit_entry_delivery (seq, position, delivery_id) "
                                "VALUES (?, ?, ?)",
                                &s, err)))
            return rc;
        for (size_t i = 0; i < e->n_deliveries; i++) {
            store_bind_int64(s, 1, seq);
            store_bind_int64(s, 2, (int64_t)i);
            store_bind_text(s, 3, e->deliveries[i]);
            rc = store_step(s, err);
            store_stmt_done(s);
            if (rc < 0)
                return rc;
        }
    }
    if (e->n_versions) {
        if ((rc = store_prepare(c,
                                "INSERT INTO audit_entry_version (seq, position, delivery, kind, "
                                "subject, period, version) VALUES (?, ?, ?, ?, ?, ?, ?)",
                                &s, err)))
            return rc;
        for (size_t i = 0; i < e->n_versions; i++) {
            const struct audit_version *v = &e->versions[i];
            store_bind_int64(s, 1, seq);
            store_bind_int64(s, 2, (int64_t)i);
            store_bind_int64(s, 3, v->delivery);
            store_bind_cstr(s, 4, audit_subject_kind_name(v->kind));
            store_bind_text(s, 5, v->subject);
            store_bind_text(s, 6, v->period);
            store_bind_int64(s, 7, v->version);
            rc = store_step(s, err);
            store_stmt_done(s);
            if (rc < 0)
                return rc;
        }
    }
    return 0;
}
