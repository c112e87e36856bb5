/*
 * basis.c: the purpose and legal basis of one agreement version, without an
 * actor: the disclosure log's answers (who received data about me, and on
 * which basis) join them to its entries, which store only id and version.
 * Who may see the answer is the disclosure log's routes' decision.
 */
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "agreement/internal.h"

/* "law section; law section" from [{"law", "section"}, ...] into b. */
static void basis_text(const json_t *list, buf_t *b)
{
    size_t i;
    json_t *lb;
    json_array_foreach(list, i, lb)
    {
        const char *law = json_string_value(json_object_get(lb, "law"));
        const char *sec = json_string_value(json_object_get(lb, "section"));
        buf_printf(b, "%s%s%s%s", i ? "; " : "", law ? law : "", sec && *sec ? " " : "",
                   sec ? sec : "");
    }
}

/* See agreement.h. */
int agreement_version_basis(agreement_t *ag, str_t id, int64_t version, char **purpose,
                            char **legal_basis, err_t *err)
{
    *purpose = *legal_basis = NULL;
    store_conn_t *c;
    int rc = store_conn_get(ag->st, &c, err);
    if (rc)
        return rc;
    store_stmt_t *s;
    rc = store_prepare(c,
                       "SELECT application FROM agreement_version WHERE agreement_id = ? AND"
                       " version = ?",
                       &s, err);
    json_t *app = NULL;
    if (rc == 0) {
        store_bind_text(s, 1, id);
        store_bind_int64(s, 2, version);
        rc = store_step(s, err);
        if (rc == STORE_ROW) {
            str_t t = store_col_text(s, 0);
            app = json_parse(t.ptr, t.len, 0, NULL, NULL);
            rc = 0;
        } else if (rc == STORE_DONE) {
            rc = err_param(err, DUPLA_ENOTFOUND, "id", "no such agreement version");
        }
        store_stmt_done(s);
    }
    store_conn_put(c);
    if (rc)
        return rc;
    const char *p = json_string_value(json_object_get(app, "purpose"));
    buf_t b;
    buf_init(&b, AGREEMENT_LEGAL_BASES_MAX * (AGREEMENT_LAW_MAX + AGREEMENT_SECTION_MAX + 4) + 1);
    basis_text(json_object_get(app, "legal_basis"), &b);
    *purpose = strdup(p ? p : "");
    *legal_basis = strndup(b.data ? b.data : "", b.len);
    buf_free(&b);
    json_decref(app);
    if (!*purpose || !*legal_basis) {
        free(*purpose);
        free(*legal_basis);
        *purpose = *legal_basis = NULL;
        return err_set(err, DUPLA_ENOMEM, "out of memory");
    }
    return 0;
}
