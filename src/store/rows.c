/*
 * rows.c: store_insert_rows on PostgreSQL, as one array per column.
 *
 * Multi-row VALUES statements take 32 rows each (store.c), so a disclosure
 * of 1,000 subjects (4,000 rows of what it disclosed) or an ingested chunk
 * was some 100 statements, each a plan execution on the server. Here,
 * when there are more rows than one VALUES statement takes, the rows of a
 * chunk of up to PG_ROWS rows go as one statement:
 *
 *   INSERT INTO t (a, b, c) SELECT * FROM unnest(CAST(? AS BIGINT[]),
 *                                                CAST(? AS TEXT[]), ...)
 *
 * with each column's values as the text of an array ({1,2,3},
 * {"a","b"}, {"\\x00ff"}), bound as one parameter. The callers' bind
 * callbacks are the same: they bind into a collector (a statement of its
 * own kind whose binds append to the column's array) and each column's
 * element type is the kind of value bound to it (BIGINT, TEXT or BYTEA;
 * the server's assignment casts take BIGINT into INTEGER columns, as the
 * VALUES form's parameters did). A chunk the collector cannot type (a
 * column of NULLs only, or of two kinds of value) or whose row left a
 * column unbound goes the VALUES way (store.c), which takes any.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "store/internal.h"

#define PG_ROWS      1024
#define PG_ROW_BYTES (1u << 20) /* a chunk ends once its arrays' text passes this */
#define PG_COL_MAX   (64u << 20)

enum kind { K_NONE, K_INT, K_TEXT, K_BLOB };

struct collector {
    struct store_stmt base;
    int ncols;
    buf_t col[STORE_INSERT_COLS_MAX]; /* each column's array text, without its braces */
    size_t count[STORE_INSERT_COLS_MAX];
    enum kind kind[STORE_INSERT_COLS_MAX];
    bool bad; /* two kinds in a column, or a buffer full */
};

#define COLLECTOR(s) ((struct collector *)(void *)(s))

/* The column's buffer, with the separator before a new element written. */
static buf_t *element(struct collector *k, int idx, enum kind kind)
{
    if (idx < 1 || idx > k->ncols) {
        k->bad = true;
        return NULL;
    }
    int c = idx - 1;
    if (kind != K_NONE) {
        if (k->kind[c] != K_NONE && k->kind[c] != kind)
            k->bad = true;
        k->kind[c] = kind;
    }
    buf_t *b = &k->col[c];
    if (k->count[c]++ && buf_append(b, ",", 1))
        k->bad = true;
    return b;
}

static int collect_int64(store_stmt_t *s, int idx, int64_t v)
{
    struct collector *k = COLLECTOR(s);
    buf_t *b = element(k, idx, K_INT);
    if (b && buf_append_int(b, v))
        k->bad = true;
    return 0;
}

/* A quoted element: backslash before each quote and backslash. */
static void quoted(struct collector *k, buf_t *b, const char *p, size_t n)
{
    int rc = buf_append(b, "\"", 1);
    size_t from = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        if (p[i] != '"' && p[i] != '\\')
            continue;
        rc = buf_append(b, p + from, i - from);
        if (!rc)
            rc = buf_append(b, "\\", 1);
        from = i;
    }
    if (!rc)
        rc = buf_append(b, p + from, n - from);
    if (rc || buf_append(b, "\"", 1))
        k->bad = true;
}

static int collect_text(store_stmt_t *s, int idx, str_t v)
{
    struct collector *k = COLLECTOR(s);
    buf_t *b = element(k, idx, K_TEXT);
    if (!v.ptr)
        v.len = 0;
    if (v.len && memchr(v.ptr, 0, v.len)) /* as pg_bind_text: text holds no NUL */
        v.len = strlen(v.ptr);
    if (b)
        quoted(k, b, v.len ? v.ptr : "", v.len);
    return 0;
}

/* bytea's hex input, \x..., whose backslash the quoting doubles */
static int collect_blob(store_stmt_t *s, int idx, const void *p, size_t n)
{
    struct collector *k = COLLECTOR(s);
    buf_t *b = element(k, idx, K_BLOB);
    if (b &&
        (buf_append(b, "\"\\\\x", 4) || (n && buf_append_hex(b, p, n)) || buf_append(b, "\"", 1)))
        k->bad = true;
    return 0;
}

static int collect_null(store_stmt_t *s, int idx)
{
    struct collector *k = COLLECTOR(s);
    buf_t *b = element(k, idx, K_NONE);
    if (b && buf_append(b, "NULL", 4))
        k->bad = true;
    return 0;
}

static const struct store_ops collector_ops = {
    .name = "collector",
    .bind_int64 = collect_int64,
    .bind_text = collect_text,
    .bind_blob = collect_blob,
    .bind_null = collect_null,
};

/* Binds rows at .. at + *k - 1 into the collector, ending the chunk early
 * when its text passes PG_ROW_BYTES; false when the chunk cannot go as
 * arrays. */
static bool collect(struct collector *k, size_t at, size_t *n,
                    void (*bind)(store_stmt_t *s, int first, size_t row, const void *ctx),
                    const void *ctx)
{
    size_t bytes = 0, r = 0;
    for (; r < *n && bytes < PG_ROW_BYTES; r++) {
        bind(&k->base, 1, at + r, ctx);
        bytes = 0;
        for (int c = 0; c < k->ncols; c++) {
            if (k->count[c] != r + 1)
                return false; /* a column left unbound, or bound twice */
            bytes += k->col[c].len;
        }
        if (k->bad)
            return false;
    }
    *n = r;
    for (int c = 0; c < k->ncols; c++)
        if (k->kind[c] == K_NONE)
            return false;
    return true;
}

static void collector_reset(struct collector *k)
{
    for (int c = 0; c < k->ncols; c++) {
        buf_reset(&k->col[c]);
        k->count[c] = 0;
        k->kind[c] = K_NONE;
    }
    k->bad = false;
}

/* One chunk's statement: the head, then an unnest of typed arrays. */
static int insert_chunk(store_conn_t *c, const char *head, struct collector *k, err_t *err)
{
    static const char *const type[] = {[K_INT] = "BIGINT", [K_TEXT] = "TEXT", [K_BLOB] = "BYTEA"};
    char sql[512 + STORE_INSERT_COLS_MAX * 24];
    int len = snprintf(sql, sizeof sql, "%s SELECT * FROM unnest(", head);
    if (len < 0 || (size_t)len >= 512)
        return err_internal(err, DUPLA_EINVAL, "store: a multi-row insert's head is too long");
    size_t used = (size_t)len;
    for (int col = 0; col < k->ncols; col++)
        used += (size_t)snprintf(sql + used, sizeof sql - used, "%sCAST(? AS %s[])",
                                 col ? ", " : "", type[k->kind[col]]);
    snprintf(sql + used, sizeof sql - used, ")");
    store_stmt_t *s;
    int rc = store_prepare(c, sql, &s, err);
    if (rc)
        return rc;
    buf_t arr;
    buf_init(&arr, PG_COL_MAX + 2);
    for (int col = 0; col < k->ncols && rc == 0; col++) {
        buf_reset(&arr);
        if (buf_append(&arr, "{", 1) || buf_append_str(&arr, buf_str(&k->col[col])) ||
            buf_append(&arr, "}", 1))
            rc = err_set(err, DUPLA_ENOMEM, "out of memory");
        else
            store_bind_text(s, col + 1, buf_str(&arr));
    }
    buf_free(&arr);
    if (rc == 0)
        rc = store_step(s, err);
    store_stmt_done(s);
    return rc < 0 ? rc : 0;
}

int store_pg_insert_rows(store_conn_t *c, const char *head, int ncols, size_t n,
                         void (*bind)(store_stmt_t *s, int first, size_t row, const void *ctx),
                         const void *ctx, size_t *done, err_t *err)
{
    *done = 0;
    /* Rows that one VALUES statement takes go that way: a statement of
     * arrays saves nothing there, and costs the server the arrays' parsing
     * (bench-audit, one writer: 6% fewer appends). */
    if (n <= STORE_INSERT_ROWS)
        return 0;
    if (ncols < 1 || ncols > STORE_INSERT_COLS_MAX)
        return 0; /* the VALUES way says what is wrong */
    struct collector k = {.base = {&collector_ops}, .ncols = ncols};
    for (int col = 0; col < ncols; col++)
        buf_init(&k.col[col], PG_COL_MAX);
    int rc = 0;
    while (*done < n) {
        size_t m = n - *done < PG_ROWS ? n - *done : PG_ROWS;
        collector_reset(&k);
        if (!collect(&k, *done, &m, bind, ctx))
            break; /* the rest the VALUES way */
        if ((rc = insert_chunk(c, head, &k, err)))
            break;
        *done += m;
    }
    for (int col = 0; col < ncols; col++)
        buf_free(&k.col[col]);
    return rc;
}
