/*
 * transparency.c: the log's transparency API (see routes.h and
 * docs/transparency.md): signed checkpoints and their history, inclusion
 * and consistency proofs (public: they hold only hashes), an entry's
 * canonical bytes and a recipient's receipt (only to whoever may see the
 * entry).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/internal.h"
#include "audit/routes.h"
#include "core/clock.h"
#include "core/encode.h"

#define TBASE "/transparency"

static int query_int(http_request_t *req, const char *name, bool required, int64_t *out, err_t *err)
{
    str_t v;
    if (!http_req_query(req, name, &v) || v.len == 0) {
        if (required)
            return err_param(err, DUPLA_EINVAL, name, "%s is required", name);
        *out = -1;
        return 0;
    }
    if (str_to_int64(v, out) != 0 || *out < 0)
        return err_param(err, DUPLA_EINVAL, name, "%s must be a whole number >= 0", name);
    return 0;
}

static int reply_json(http_request_t *req, buf_t *b)
{
    http_reply_header(req, "Cache-Control", "no-store");
    return http_reply_data(req, 200, "application/json", buf_str(b));
}

static int hashes_json(buf_t *b, const unsigned char (*h)[AUDIT_HASH_LEN], size_t n)
{
    int rc = buf_append_cstr(b, "[");
    for (size_t i = 0; !rc && i < n; i++) {
        char t[64];
        audit_b64_encode(h[i], AUDIT_HASH_LEN, t);
        rc = buf_printf(b, "%s\"%s\"", i ? "," : "", t);
    }
    return rc ? rc : buf_append_cstr(b, "]");
}

/* ---- checkpoints ---- */

static int h_checkpoint(http_request_t *req, void *ctx, err_t *err)
{
    struct audit_routes *r = ctx;
    int64_t size;
    int rc = query_int(req, "size", false, &size, err);
    if (rc)
        return rc;
    store_conn_t *c;
    if ((rc = store_conn_get(r->st, &c, err)))
        return rc;
    struct audit_tree_head *h = malloc(sizeof *h);
    if (!h) {
        store_conn_put(c);
        return err_set(err, DUPLA_ENOMEM, "out of memory");
    }
    rc = size < 0 ? audit_tree_head_latest(c, h, err) : audit_tree_head_at(c, size, h, err);
    store_conn_put(c);
    if (rc == 0) {
        http_reply_header(req, "Cache-Control", "no-store");
        rc = http_reply_data(req, 200, "text/plain; charset=utf-8", (str_t){h->note, h->note_len});
    } else if (rc == DUPLA_ENOTFOUND && size >= 0) {
        rc = err_param(
            err, DUPLA_ENOTFOUND, "size",
            "no checkpoint was signed at tree size %" PRId64 " (see " TBASE "/checkpoints)", size);
    }
    free(h);
    return rc;
}

static int h_checkpoints(http_request_t *req, void *ctx, err_t *err)
{
    struct audit_routes *r = ctx;
    int64_t after, limit;
    int rc = query_int(req, "after", false, &after, err);
    if (rc || (rc = query_int(req, "limit", false, &limit, err)))
        return rc;
    if (after < 0)
        after = 0;
    if (limit < 0)
        limit = AUDIT_PAGE_DEFAULT;
    if (limit < 1 || limit > AUDIT_PAGE_MAX)
        return err_param(err, DUPLA_EINVAL, "limit", "limit must be 1 to %d", AUDIT_PAGE_MAX);
    struct audit_tree_head *h;
    size_t n;
    if ((rc = audit_tree_heads(r->st, after, (unsigned)limit + 1, &h, &n, err)))
        return rc;
    bool more = n > (size_t)limit;
    if (more)
        n = (size_t)limit;
    buf_t b;
    buf_init(&b, AUDIT_HTTP_OUTPUT_MAX);
    rc = buf_append_cstr(&b, "{\"data\":[");
    for (size_t i = 0; !rc && i < n; i++) {
        char when[32], root[64];
        clock_format_ms(h[i].time_ms, when, sizeof when);
        audit_b64_encode(h[i].root, AUDIT_HASH_LEN, root);
        rc =
            buf_printf(&b, "%s{\"size\":%" PRId64 ",\"time\":\"%s\",\"root_hash\":\"%s\",\"note\":",
                       i ? "," : "", h[i].size, when, root);
        if (!rc)
            rc = buf_append_json_string(&b, (str_t){h[i].note, h[i].note_len});
        if (!rc)
            rc = buf_append_cstr(&b, "}");
    }
    if (!rc && more)
        rc = buf_printf(&b, "],\"next\":%" PRId64 "}", h[n - 1].size);
    else if (!rc)
        rc = buf_append_cstr(&b, "],\"next\":null}");
    free(h);
    if (rc)
        rc = err_param(err, DUPLA_ELIMIT, "limit",
                       "the page is too large; ask with a smaller limit");
    else
        rc = reply_json(req, &b);
    buf_free(&b);
    return rc;
}

/* The verifier key of the log: its origin (the newest note's first line)
 * and the key of the newest chain checkpoint. */
static int h_key(http_request_t *req, void *ctx, err_t *err)
{
    struct audit_routes *r = ctx;
    store_conn_t *c;
    int rc = store_conn_get(r->st, &c, err);
    if (rc)
        return rc;
    struct audit_tree_head *h = malloc(sizeof *h);
    if (!h) {
        store_conn_put(c);
        return err_set(err, DUPLA_ENOMEM, "out of memory");
    }
    rc = audit_tree_head_latest(c, h, err);
    store_conn_put(c);
    struct audit_checkpoint cp;
    if (!rc)
        rc = audit_checkpoint_latest(r->st, &cp, err);
    if (!rc) {
        char origin[AUDIT_ORIGIN_MAX] = "", vkey[AUDIT_VKEY_MAX];
        const char *nl = memchr(h->note, '\n', h->note_len);
        if (nl && (size_t)(nl - h->note) < sizeof origin)
            memcpy(origin, h->note, (size_t)(nl - h->note));
        size_t n = audit_note_vkey(origin, cp.public_key, vkey);
        vkey[n++] = '\n';
        http_reply_header(req, "Cache-Control", "no-store");
        rc = http_reply_data(req, 200, "text/plain; charset=utf-8", (str_t){vkey, n});
    }
    free(h);
    return rc;
}

/* ---- proofs ---- */

/* A connection and the store's tree size; the caller puts c back. */
static int tree_open(struct audit_routes *r, store_conn_t **c, int64_t *size, err_t *err)
{
    int rc = store_conn_get(r->st, c, err);
    if (rc)
        return rc;
    if ((rc = audit_tree_size(*c, size, err))) {
        store_conn_put(*c);
        *c = NULL;
    }
    return rc;
}

static int h_inclusion(http_request_t *req, void *ctx, err_t *err)
{
    struct audit_routes *r = ctx;
    int64_t seq, size, have;
    int rc = query_int(req, "seq", true, &seq, err);
    if (rc || (rc = query_int(req, "size", false, &size, err)))
        return rc;
    if (seq < 1)
        return err_param(err, DUPLA_EINVAL, "seq", "seq must be 1 or more");
    if (size >= 0 && seq > size)
        return err_param(err, DUPLA_EINVAL, "size",
                         "size must be at least seq (the tree of size entries holds 1..size)");
    store_conn_t *c;
    if ((rc = tree_open(r, &c, &have, err)))
        return rc;
    /* without a size: against the newest signed checkpoint, which the
     * answer carries (what an insight report's row links to) */
    struct audit_tree_head *head = NULL;
    if (size < 0) {
        if (!(head = malloc(sizeof *head))) {
            store_conn_put(c);
            return err_set(err, DUPLA_ENOMEM, "out of memory");
        }
        rc = audit_tree_head_latest(c, head, err);
        if (rc == 0 && head->size < seq)
            rc = DUPLA_ENOTFOUND;
        if (rc) {
            store_conn_put(c);
            free(head);
            return rc == DUPLA_ENOTFOUND ? err_param(err, DUPLA_ECONFLICT, "seq",
                                                     "no signed checkpoint covers entry %" PRId64
                                                     " yet; try again later, or name a size",
                                                     seq)
                                         : rc;
        }
        size = head->size;
    }
    if (size > have) {
        free(head);
        store_conn_put(c);
        return err_param(err, DUPLA_EINVAL, "size", "the log holds %" PRId64 " entries", have);
    }
    struct audit_tree_store ts;
    struct audit_tree_source src;
    audit_tree_store_source(&ts, c, &src);
    unsigned char path[AUDIT_PROOF_MAX][AUDIT_HASH_LEN], leaf[AUDIT_HASH_LEN];
    size_t n;
    rc = audit_tree_store_inclusion(c, seq - 1, size, path, &n, err);
    if (!rc)
        rc = src.node(src.ctx, 0, seq - 1, leaf, err);
    store_conn_put(c);
    if (rc) {
        free(head);
        return rc;
    }
    buf_t b;
    buf_init(&b, 16384);
    char lh[64];
    audit_b64_encode(leaf, AUDIT_HASH_LEN, lh);
    rc = buf_printf(&b,
                    "{\"seq\":%" PRId64 ",\"leaf_index\":%" PRId64 ",\"tree_size\":%" PRId64
                    ",\"leaf_hash\":\"%s\",\"hashes\":",
                    seq, seq - 1, size, lh);
    if (!rc)
        rc = hashes_json(&b, (const unsigned char(*)[AUDIT_HASH_LEN])path, n);
    if (!rc && head && !(rc = buf_append_cstr(&b, ",\"checkpoint\":")))
        rc = buf_append_json_string(&b, (str_t){head->note, head->note_len});
    free(head);
    if (!rc)
        rc = buf_append_cstr(&b, "}");
    rc = rc ? err_internal(err, DUPLA_ELIMIT, "audit: a proof does not fit") : reply_json(req, &b);
    buf_free(&b);
    return rc;
}

static int h_consistency(http_request_t *req, void *ctx, err_t *err)
{
    struct audit_routes *r = ctx;
    int64_t from, to, have;
    int rc = query_int(req, "from", true, &from, err);
    if (rc || (rc = query_int(req, "to", true, &to, err)))
        return rc;
    if (from > to)
        return err_param(err, DUPLA_EINVAL, "to", "to must be at least from");
    store_conn_t *c;
    if ((rc = tree_open(r, &c, &have, err)))
        return rc;
    if (to > have) {
        store_conn_put(c);
        return err_param(err, DUPLA_EINVAL, "to", "the log holds %" PRId64 " entries", have);
    }
    unsigned char proof[AUDIT_PROOF_MAX][AUDIT_HASH_LEN];
    size_t n;
    rc = audit_tree_store_consistency(c, from, to, proof, &n, err);
    store_conn_put(c);
    if (rc)
        return rc;
    buf_t b;
    buf_init(&b, 16384);
    rc = buf_printf(&b, "{\"from\":%" PRId64 ",\"to\":%" PRId64 ",\"hashes\":", from, to);
    if (!rc && !(rc = hashes_json(&b, (const unsigned char(*)[AUDIT_HASH_LEN])proof, n)))
        rc = buf_append_cstr(&b, "}");
    rc = rc ? err_internal(err, DUPLA_ELIMIT, "audit: a proof does not fit") : reply_json(req, &b);
    buf_free(&b);
    return rc;
}

/* ---- an entry, for whoever may see it ---- */

/* Whether the caller may see entry seq: the data owner's staff every entry,
 * an organisation's administrator its own organisation's. Fills *org. */
static int entry_allowed(struct audit_routes *r, http_request_t *req, store_conn_t *c, int64_t seq,
                         err_t *err)
{
    struct audit_http_caller who;
    memset(&who, 0, sizeof who);
    int rc = r->auth.caller ? r->auth.caller(req, r->auth.ctx, &who, err)
                            : err_internal(err, DUPLA_EINTERNAL, "audit routes: no auth");
    if (rc)
        return rc;
    store_stmt_t *s;
    if ((rc = store_prepare(c, "SELECT org_cvr FROM audit_entry WHERE seq = ?", &s, err)))
        return rc;
    store_bind_int64(s, 1, seq);
    rc = store_step(s, err);
    bool found = rc == STORE_ROW;
    bool own = found && who.org_cvr[0] && str_eq_cstr(store_col_text(s, 0), who.org_cvr);
    store_stmt_done(s);
    if (rc < 0)
        return rc;
    /* a recipient learns nothing of entries that are not its own, not even
     * whether they exist */
    if (!(who.roles & AUDIT_CALLER_STAFF) &&
        !(own && (who.roles & (AUDIT_CALLER_RECIPIENT_ADMIN | AUDIT_CALLER_SYSTEM))))
        return err_param(err, DUPLA_EFORBIDDEN, "seq",
                         "an entry is shown to the data owner's staff and to the administrators "
                         "and systems of the organisation that received it");
    if (!found)
        return err_param(err, DUPLA_ENOTFOUND, "seq", "the disclosure log has no entry %" PRId64,
                         seq);
    return 0;
}

static int h_entry(http_request_t *req, void *ctx, err_t *err)
{
    struct audit_routes *r = ctx;
    int64_t seq;
    int rc = query_int(req, "seq", true, &seq, err);
    if (rc)
        return rc;
    store_conn_t *c;
    if ((rc = store_conn_get(r->st, &c, err)))
        return rc;
    buf_t b;
    buf_init(&b, AUDIT_CANONICAL_MAX);
    if ((rc = entry_allowed(r, req, c, seq, err)) == 0)
        rc = audit_entry_canonical(c, seq, &b, err);
    store_conn_put(c);
    if (rc == 0) {
        http_reply_header(req, "Cache-Control", "no-store");
        rc = http_reply_data(req, 200, "application/octet-stream", buf_str(&b));
    }
    buf_free(&b);
    return rc;
}

/* ---- receipts ---- */

/* The receipt of entry seq into b (see routes.h); the oldest signed head
 * that covers it, signed now when none does yet. */
static int receipt_json(struct audit_routes *r, http_request_t *req, int64_t seq, buf_t *b,
                        err_t *err)
{
    store_conn_t *c;
    int rc = store_conn_get(r->st, &c, err);
    if (rc)
        return rc;
    buf_t canon;
    buf_init(&canon, AUDIT_CANONICAL_MAX);
    struct audit_tree_head *h = malloc(sizeof *h);
    if (!h) {
        store_conn_put(c);
        buf_free(&canon);
        return err_set(err, DUPLA_ENOMEM, "out of memory");
    }
    if ((rc = entry_allowed(r, req, c, seq, err)) == 0 &&
        (rc = audit_entry_canonical(c, seq, &canon, err)) == 0) {
        rc = audit_tree_head_covering(c, seq, h, err);
        if (rc == DUPLA_ENOTFOUND && r->log) {
            store_conn_put(c);
            c = NULL;
            if ((rc = audit_checkpoint_now(r->log, err)) == 0 &&
                (rc = store_conn_get(r->st, &c, err)) == 0)
                rc = audit_tree_head_covering(c, seq, h, err);
        }
    }
    unsigned char path[AUDIT_PROOF_MAX][AUDIT_HASH_LEN];
    size_t n = 0;
    if (!rc)
        rc = audit_tree_store_inclusion(c, seq - 1, h->size, path, &n, err);
    if (c)
        store_conn_put(c);
    if (rc == DUPLA_ENOTFOUND && err->param[0] == '\0')
        rc = err_set(err, DUPLA_ECONFLICT,
                     "no signed checkpoint covers entry %" PRId64 " yet; try again later", seq);
    if (!rc) {
        char *e64 = malloc(canon.len / 3 * 4 + 8);
        if (!e64)
            rc = err_set(err, DUPLA_ENOMEM, "out of memory");
        else {
            audit_b64_encode(canon.data, canon.len, e64);
            int wrc = buf_printf(b,
                                 "{\"format\":\"dupla-receipt-1\",\"seq\":%" PRId64
                                 ",\"leaf_index\":%" PRId64 ",\"tree_size\":%" PRId64
                                 ",\"entry\":\"%s\",\"checkpoint\":",
                                 seq, seq - 1, h->size, e64);
            if (!wrc)
                wrc = buf_append_json_string(b, (str_t){h->note, h->note_len});
            if (!wrc)
                wrc = buf_append_cstr(b, ",\"inclusion\":");
            if (!wrc)
                wrc = hashes_json(b, (const unsigned char(*)[AUDIT_HASH_LEN])path, n);
            if (!wrc)
                wrc = buf_append_cstr(b, "}\n");
            if (wrc)
                rc = err_internal(err, DUPLA_ELIMIT, "audit: a receipt does not fit");
            free(e64);
        }
    }
    free(h);
    buf_free(&canon);
    return rc;
}

static int h_receipt(http_request_t *req, void *ctx, err_t *err)
{
    struct audit_routes *r = ctx;
    str_t path = http_req_path(req);
    str_t tail = str_sub(path, sizeof "/api/receipts/" - 1, path.len);
    int64_t seq;
    if (tail.len == 0 || tail.len > 19 || str_to_int64(tail, &seq) != 0 || seq < 1)
        return err_param(err, DUPLA_EINVAL, "seq",
                         "a receipt is /api/receipts/<seq>, seq a whole number >= 1");
    for (size_t i = 0; i < tail.len; i++)
        if (tail.ptr[i] < '0' || tail.ptr[i] > '9')
            return err_param(err, DUPLA_EINVAL, "seq",
                             "a receipt is /api/receipts/<seq>, seq a whole number >= 1");
    buf_t b;
    buf_init(&b, AUDIT_HTTP_OUTPUT_MAX);
    int rc = receipt_json(r, req, seq, &b, err);
    if (!rc)
        rc = reply_json(req, &b);
    buf_free(&b);
    return rc;
}

/* ---- registration ---- */

static const struct http_param q_checkpoint[] = {
    {.name = "size", .type = HTTP_PARAM_INT, .min = 1},
    {0},
};
static const struct http_param q_checkpoints[] = {
    {.name = "after", .type = HTTP_PARAM_INT, .min = 0},
    {.name = "limit", .type = HTTP_PARAM_INT, .min = 1, .max = AUDIT_PAGE_MAX},
    {0},
};
static const struct http_param q_inclusion[] = {
    {.name = "seq", .type = HTTP_PARAM_INT, .required = true, .min = 1},
    {.name = "size", .type = HTTP_PARAM_INT, .min = 1},
    {0},
};
static const struct http_param q_consistency[] = {
    {.name = "from", .type = HTTP_PARAM_INT, .required = true, .min = 0},
    {.name = "to", .type = HTTP_PARAM_INT, .required = true, .min = 0},
    {0},
};
static const struct http_param q_entry[] = {
    {.name = "seq", .type = HTTP_PARAM_INT, .required = true, .min = 1},
    {0},
};

int audit_transparency_register(http_server_t *srv, struct audit_routes *r, err_t *err)
{
    const struct http_route routes[] = {
        {.methods = HTTP_GET | HTTP_HEAD,
         .path = TBASE "/checkpoint",
         .handler = h_checkpoint,
         .ctx = r,
         .query = q_checkpoint},
        {.methods = HTTP_GET | HTTP_HEAD,
         .path = TBASE "/checkpoints",
         .handler = h_checkpoints,
         .ctx = r,
         .query = q_checkpoints},
        {.methods = HTTP_GET | HTTP_HEAD,
         .path = TBASE "/key",
         .handler = h_key,
         .ctx = r,
         .query = http_params_none},
        {.methods = HTTP_GET | HTTP_HEAD,
         .path = TBASE "/proof/inclusion",
         .handler = h_inclusion,
         .ctx = r,
         .query = q_inclusion},
        {.methods = HTTP_GET | HTTP_HEAD,
         .path = TBASE "/proof/consistency",
         .handler = h_consistency,
         .ctx = r,
         .query = q_consistency},
        {.methods = HTTP_GET | HTTP_HEAD,
         .path = TBASE "/entry",
         .handler = h_entry,
         .ctx = r,
         .query = q_entry},
        {.methods = HTTP_GET | HTTP_HEAD,
         .path = "/api/receipts/",
         .flags = HTTP_ROUTE_PREFIX,
         .handler = h_receipt,
         .ctx = r,
         .query = http_params_none},
    };
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        int rc = http_route_add(srv, &routes[i], err);
        if (rc)
            return rc;
    }
    return 0;
}
