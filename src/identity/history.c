/*
 * history.c: reading the history of identity changes (history entries are
 * written by identity_history_record in util.c, inside each change's own
 * transaction, so that no change goes unrecorded).
 */
#include <stdio.h>
#include <string.h>

#include "core/json.h"
#include "identity/internal.h"

static json_t *parse_or_null(str_t text)
{
    if (text.len == 0)
        return json_null();
    json_t *j = json_parse(text.ptr, text.len, 0, NULL, NULL);
    return j ? j : json_null();
}

static int history_row(store_stmt_t *s, void *ctx)
{
    json_t *e = json_pack(
        "{s:I, s:I, s:s%, s:s%, s:s%, s:s%, s:s%, s:o, s:o}", "seq",
        (json_int_t)store_col_int64(s, 0), "at_ms", (json_int_t)store_col_int64(s, 1), "actor",
        store_col_text(s, 2).ptr ? store_col_text(s, 2).ptr : "", store_col_text(s, 2).len,
        "action", store_col_text(s, 3).ptr, store_col_text(s, 3).len, "object_type",
        store_col_text(s, 4).ptr, store_col_text(s, 4).len, "object_id", store_col_text(s, 5).ptr,
        store_col_text(s, 5).len, "org_id", store_col_text(s, 6).ptr, store_col_text(s, 6).len,
        "before", parse_or_null(store_col_text(s, 7)), "after",
        parse_or_null(store_col_text(s, 8)));
    if (e)
        json_array_append_new(ctx, e);
    return 0;
}

int identity_history_list(identity_t *id, str_t org, long limit, json_t **out, err_t *err)
{
    if (limit <= 0)
        limit = IDENTITY_HISTORY_DEFAULT;
    if (limit > IDENTITY_LIST_MAX)
        return err_param(err, DUPLA_EINVAL, "limit", "limit is at most %d", IDENTITY_LIST_MAX);
    json_t *a = json_array();
    if (!a)
        return err_set(err, DUPLA_ENOMEM, "out of memory");
    int rc = identity_list_org(id, org,
                               "SELECT seq, at_ms, actor, action, object_type, object_id, org_id,"
                               " before_json, after_json FROM identity_history"
                               " WHERE (? = '' OR org_id = ?) ORDER BY seq DESC LIMIT ?",
                               2, limit, history_row, a, err);
    if (rc) {
        json_decref(a);
        return rc;
    }
    *out = a;
    return 0;
}
