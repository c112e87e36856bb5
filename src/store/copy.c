/*
 * copy.c: a whole database from one store to another (`dupla store copy`),
 * on either backend, through the portable calls of store.h.
 *
 * What to copy comes from the target's catalogue (sqlite_master and
 * pragma_table_info / pg_class and pg_attribute): every table but
 * schema_migrations, which the target's own migrations fill. Each column is
 * read and written by the kind its declared type gives (integer, text,
 * bytes), so that ids and 64-bit integers stay numbers and blobs stay
 * bytes. Tables are copied parents first (the foreign keys of the target's
 * catalogue, sorted), each read in primary-key order in pages (keyset: the
 * next page begins after the last key seen), all pages in one read snapshot
 * of the source. The target is written in one transaction with multi-row
 * INSERTs (explicit ids: OVERRIDING SYSTEM VALUE for PostgreSQL's identity
 * columns); before the commit each table's row count is compared with the
 * source's, and PostgreSQL's sequences are moved past the copied ids
 * (SQLite's AUTOINCREMENT follows explicit ids by itself).
 *
 * "Fresh" is a store migrated by every module of this binary and nothing
 * else (an in-memory SQLite database): its schema_migrations are the
 * versions this binary knows, and its rows are what a migration puts in by
 * itself (generation counters), which a target may hold and still count as
 * empty.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "store/internal.h"

#define COPY_COLS_MAX    64
#define COPY_DEPS_MAX    16
#define COPY_MODULES_MAX 64
#define COPY_BATCH_ROWS  1000
#define COPY_PARAMS_MAX  900 /* parameters of one INSERT (both backends take 999) */
#define COPY_INSERT_ROWS 100 /* rows of one INSERT at most */
#define COPY_SQL_MAX     (64 * 1024)

enum col_kind { COL_INT, COL_TEXT, COL_BLOB };

struct col {
    char name[STORE_NAME_MAX];
    enum col_kind kind;
    int pk;           /* position in the primary key, 1-based; 0: not in it */
    const char *expr; /* read from the source as this (store_copy_derived) */
};

struct table {
    char name[STORE_NAME_MAX];
    struct col cols[COPY_COLS_MAX];
    int n_cols;
    int pk[COPY_COLS_MAX]; /* column indexes in key order */
    int n_pk;
    char deps[COPY_DEPS_MAX][STORE_NAME_MAX]; /* tables it references */
    int n_deps;
    int64_t rows;   /* in the source */
    int64_t fresh;  /* rows a fresh migration puts in */
    bool missing;   /* not in the source: the target keeps what its migration put in */
    int64_t expect; /* rows in the target after the copy */
    bool placed;
    /* Reading: the target's columns, then the source's key columns that are
     * not among them; key: the source's primary key, as indexes into that
     * list (pages follow it). */
    struct col extra[COPY_COLS_MAX];
    int n_extra;
    int key[COPY_COLS_MAX];
    int n_key;
};

static const struct col *sel_col(const struct table *t, int i)
{
    return i < t->n_cols ? &t->cols[i] : &t->extra[i - t->n_cols];
}

static bool is_pg(const store_t *st)
{
    return strcmp(store_backend(st), "postgresql") == 0;
}

static bool is_pg_conn(const store_conn_t *c)
{
    return strcmp(((const struct store_conn *)c)->ops->name, "postgresql") == 0;
}

/* Names from the catalogue go into SQL text: only plain identifiers. */
static int check_name(const char *name, err_t *err)
{
    if (!name[0] || strlen(name) >= STORE_NAME_MAX)
        return err_set(err, DUPLA_EINVAL, "store copy: a table or column name is too long");
    for (const char *p = name; *p; p++)
        if (!islower((unsigned char)*p) && !isdigit((unsigned char)*p) && *p != '_')
            return err_set(err, DUPLA_EINVAL,
                           "store copy: '%s' is not a plain identifier; cannot copy it", name);
    return 0;
}

static void copy_col(store_stmt_t *s, int col, char *out, size_t cap)
{
    str_t v = store_col_text(s, col);
    size_t n = v.len < cap - 1 ? v.len : cap - 1;
    memcpy(out, v.ptr, n);
    out[n] = 0;
}

/* ---- the catalogue ---- */

static int list_tables(store_conn_t *c, char (*names)[STORE_NAME_MAX], size_t cap, size_t *n,
                       err_t *err)
{
    const char *sql =
        is_pg_conn(c)
            ? "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
              " WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')"
              " AND NOT c.relispartition AND c.relname <> 'schema_migrations' ORDER BY 1"
            : "SELECT name FROM sqlite_master WHERE type = 'table'"
              " AND name NOT LIKE 'sqlite!_%' ESCAPE '!' AND name <> 'schema_migrations'"
              " ORDER BY 1";
    store_stmt_t *s;
    int rc = store_prepare(c, sql, &s, err);
    if (rc)
        return rc;
    *n = 0;
    while ((rc = store_step(s, err)) == STORE_ROW) {
        if (*n == cap) {
            rc = err_set(err, DUPLA_ELIMIT, "store copy: more than %zu tables", cap);
            break;
        }
        copy_col(s, 0, names[*n], STORE_NAME_MAX);
        if ((rc = check_name(names[*n], err)))
            break;
        (*n)++;
    }
    store_stmt_done(s);
    return rc == STORE_DONE ? 0 : rc;
}

static enum col_kind kind_of(const char *type, bool pg)
{
    char up[64];
    size_t i = 0;
    for (; type[i] && i + 1 < sizeof up; i++)
        up[i] = (char)toupper((unsigned char)type[i]);
    up[i] = 0;
    if (pg) {
        if (!strcmp(up, "INT2") || !strcmp(up, "INT4") || !strcmp(up, "INT8") ||
            !strcmp(up, "BOOL") || !strcmp(up, "NUMERIC") || !strcmp(up, "OID"))
            return COL_INT;
        return !strcmp(up, "BYTEA") ? COL_BLOB : COL_TEXT;
    }
    /* SQLite's affinity rules, in their order */
    if (strstr(up, "INT"))
        return COL_INT;
    if (strstr(up, "CHAR") || strstr(up, "CLOB") || strstr(up, "TEXT"))
        return COL_TEXT;
    if (!up[0] || strstr(up, "BLOB") || strstr(up, "BYTEA"))
        return COL_BLOB;
    return COL_TEXT;
}

/* The columns (and primary key) of t, and the tables it references. */
static int describe(store_conn_t *c, struct table *t, err_t *err)
{
    bool pg = is_pg_conn(c);
    const char *cols_sql =
        pg ? "SELECT a.attname, t.typname, COALESCE((SELECT k.pos FROM pg_index i,"
             " unnest(CAST(i.indkey AS int2[])) WITH ORDINALITY AS k(attnum, pos)"
             " WHERE i.indrelid = a.attrelid AND i.indisprimary AND k.attnum = a.attnum), 0)"
             " FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid"
             " WHERE a.attrelid = CAST(? AS regclass) AND a.attnum > 0 AND NOT a.attisdropped"
             " AND a.attgenerated = '' ORDER BY a.attnum"
           : "SELECT name, type, pk FROM pragma_table_info(?) ORDER BY cid";
    const char *deps_sql =
        pg ? "SELECT DISTINCT r.relname FROM pg_constraint k JOIN pg_class r ON r.oid = k.confrelid"
             " WHERE k.contype = 'f' AND k.conrelid = CAST(? AS regclass) ORDER BY 1"
           : "SELECT DISTINCT \"table\" FROM pragma_foreign_key_list(?) ORDER BY 1";
    store_stmt_t *s;
    int rc = store_prepare(c, cols_sql, &s, err);
    if (rc)
        return rc;
    store_bind_cstr(s, 1, t->name);
    t->n_cols = t->n_pk = t->n_deps = 0;
    int pk_pos[COPY_COLS_MAX];
    while ((rc = store_step(s, err)) == STORE_ROW) {
        if (t->n_cols == COPY_COLS_MAX) {
            rc = err_set(err, DUPLA_ELIMIT, "store copy: %s has more than %d columns", t->name,
                         COPY_COLS_MAX);
            break;
        }
        struct col *col = &t->cols[t->n_cols];
        char type[64];
        copy_col(s, 0, col->name, sizeof col->name);
        copy_col(s, 1, type, sizeof type);
        col->kind = kind_of(type, pg);
        col->pk = (int)store_col_int64(s, 2);
        if ((rc = check_name(col->name, err)))
            break;
        if (col->pk > 0 && col->pk <= COPY_COLS_MAX)
            pk_pos[t->n_pk++] = t->n_cols;
        t->n_cols++;
    }
    store_stmt_done(s);
    if (rc != STORE_DONE)
        return rc;
    /* key columns in key order */
    for (int i = 0; i < t->n_pk; i++)
        for (int j = 0; j < t->n_pk; j++)
            if (t->cols[pk_pos[j]].pk == i + 1)
                t->pk[i] = pk_pos[j];
    if ((rc = store_prepare(c, deps_sql, &s, err)))
        return rc;
    store_bind_cstr(s, 1, t->name);
    while ((rc = store_step(s, err)) == STORE_ROW)
        if (t->n_deps < COPY_DEPS_MAX)
            copy_col(s, 0, t->deps[t->n_deps++], STORE_NAME_MAX);
    store_stmt_done(s);
    return rc == STORE_DONE ? 0 : rc;
}

static int count_rows(store_conn_t *c, const char *table, int64_t *out, err_t *err)
{
    char sql[STORE_NAME_MAX + 48];
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM %s", table);
    return store_query_int64(c, sql, 0, out, err);
}

int store_tables(store_t *st, struct store_table *out, size_t cap, size_t *n, err_t *err)
{
    store_conn_t *c;
    int rc = store_conn_get(st, &c, err);
    if (rc)
        return rc;
    char(*names)[STORE_NAME_MAX] = calloc(STORE_TABLES_MAX, STORE_NAME_MAX);
    size_t k = 0;
    *n = 0;
    if (!names)
        rc = err_set(err, DUPLA_ENOMEM, "store: out of memory");
    if (rc == 0)
        rc = store_begin_read(c, err);
    if (rc == 0)
        rc = list_tables(c, names, STORE_TABLES_MAX, &k, err);
    for (size_t i = 0; rc == 0 && i < k; i++) {
        if (*n == cap) {
            rc = err_set(err, DUPLA_ELIMIT, "store: more than %zu tables", cap);
            break;
        }
        snprintf(out[*n].name, sizeof out[*n].name, "%s", names[i]);
        rc = count_rows(c, names[i], &out[*n].rows, err);
        (*n)++;
    }
    if (store_in_transaction(c))
        store_end_read(c);
    store_conn_put(c);
    free(names);
    return rc;
}

int store_open_memory(store_t **out, err_t *err)
{
    struct store_options o = {.pool_size = 1};
    return store_sqlite_open(":memory:", &o, out, err);
}

/* ---- the checks before copying ---- */

struct module_version {
    char module[STORE_NAME_MAX];
    int64_t version;
};

/* The highest version of each module in st's schema_migrations; *n = 0
 * when the table is missing. */
static int read_versions(store_t *st, struct module_version *out, size_t cap, size_t *n, err_t *err)
{
    store_conn_t *c;
    int rc = store_conn_get(st, &c, err);
    if (rc)
        return rc;
    *n = 0;
    int64_t exists = 0;
    rc = store_query_int64(
        c,
        is_pg(st) ? "SELECT CAST(to_regclass('schema_migrations') IS NOT NULL AS INTEGER)"
                  : "SELECT COUNT(*) FROM sqlite_master WHERE name = 'schema_migrations'",
        0, &exists, err);
    store_stmt_t *s = NULL;
    if (rc == 0 && exists)
        rc = store_prepare(c,
                           "SELECT module, MAX(version) FROM schema_migrations GROUP BY module"
                           " ORDER BY module",
                           &s, err);
    while (rc == 0 && s && (rc = store_step(s, err)) == STORE_ROW) {
        if (*n < cap) {
            copy_col(s, 0, out[*n].module, sizeof out[*n].module);
            out[*n].version = store_col_int64(s, 1);
            (*n)++;
        }
        rc = 0;
    }
    if (rc == STORE_DONE)
        rc = 0;
    store_stmt_done(s);
    store_conn_put(c);
    return rc;
}

int store_copy_check_versions(store_t *from, store_t *fresh, err_t *err)
{
    struct module_version src[COPY_MODULES_MAX], known[COPY_MODULES_MAX];
    size_t n_src, n_known;
    int rc = read_versions(from, src, COPY_MODULES_MAX, &n_src, err);
    if (rc == 0)
        rc = read_versions(fresh, known, COPY_MODULES_MAX, &n_known, err);
    if (rc)
        return rc;
    if (n_src == 0)
        return err_set(err, DUPLA_EINVAL,
                       "the source holds no dupla platform (no schema_migrations table)");
    for (size_t i = 0; i < n_src; i++) {
        const struct module_version *k = NULL;
        for (size_t j = 0; j < n_known; j++)
            if (strcmp(src[i].module, known[j].module) == 0)
                k = &known[j];
        if (!k)
            return err_set(err, DUPLA_ECONFLICT,
                           "the source has tables of module '%s', which this binary does not "
                           "know: copy it with the dupla that wrote it",
                           src[i].module);
        if (src[i].version > k->version)
            return err_set(err, DUPLA_ECONFLICT,
                           "the source has schema version %lld of module '%s', but this binary "
                           "knows only up to %lld: copy it with the dupla that wrote it",
                           (long long)src[i].version, src[i].module, (long long)k->version);
        if (src[i].version < k->version)
            return err_set(err, DUPLA_ECONFLICT,
                           "the source has schema version %lld of module '%s', older than this "
                           "binary's %lld: bring it up to date first (dupla store migrate "
                           "--store URL)",
                           (long long)src[i].version, src[i].module, (long long)k->version);
    }
    /* A module missing from the source was never started on it: its tables
     * do not exist there, and are copied as empty. */
    return 0;
}

/* Rows of table in fresh (0 if fresh has no such table). */
static int64_t fresh_rows(const struct store_table *f, size_t n, const char *table)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(f[i].name, table) == 0)
            return f[i].rows;
    return 0;
}

int store_copy_check_empty(store_t *to, store_t *fresh, err_t *err)
{
    struct store_table *have = calloc(STORE_TABLES_MAX, sizeof *have);
    struct store_table *base = calloc(STORE_TABLES_MAX, sizeof *base);
    size_t n_have = 0, n_base = 0;
    int rc = have && base ? 0 : err_set(err, DUPLA_ENOMEM, "store: out of memory");
    if (rc == 0)
        rc = store_tables(to, have, STORE_TABLES_MAX, &n_have, err);
    if (rc == 0 && fresh)
        rc = store_tables(fresh, base, STORE_TABLES_MAX, &n_base, err);
    for (size_t i = 0; rc == 0 && i < n_have; i++)
        if (have[i].rows > fresh_rows(base, n_base, have[i].name))
            rc = err_set(err, DUPLA_ECONFLICT,
                         "the target is not empty: table %s has %lld row%s; copy only into an "
                         "empty database",
                         have[i].name, (long long)have[i].rows, have[i].rows == 1 ? "" : "s");
    free(have);
    free(base);
    return rc;
}

/* ---- copying ---- */

/* Parents before children; what is left in a cycle keeps its order. */
static void sort_tables(struct table *t, size_t n, size_t *order)
{
    size_t k = 0;
    for (bool progress = true; progress && k < n;) {
        progress = false;
        for (size_t i = 0; i < n; i++) {
            if (t[i].placed)
                continue;
            bool ready = true;
            for (int d = 0; d < t[i].n_deps && ready; d++) {
                if (strcmp(t[i].deps[d], t[i].name) == 0)
                    continue;
                for (size_t j = 0; j < n; j++)
                    if (!t[j].placed && strcmp(t[j].name, t[i].deps[d]) == 0)
                        ready = false;
            }
            if (ready) {
                t[i].placed = true;
                order[k++] = i;
                progress = true;
            }
        }
    }
    for (size_t i = 0; i < n; i++)
        if (!t[i].placed) {
            t[i].placed = true;
            order[k++] = i;
        }
}

static void cat(char *sql, size_t *len, const char *a)
{
    size_t n = strlen(a);
    if (*len + n >= COPY_SQL_MAX)
        n = COPY_SQL_MAX - *len - 1;
    memcpy(sql + *len, a, n);
    *len += n;
    sql[*len] = 0;
}

static void column_list(const struct table *t, char *sql, size_t *len)
{
    for (int i = 0; i < t->n_cols; i++) {
        cat(sql, len, i ? ", " : "");
        cat(sql, len, t->cols[i].name);
    }
}

/* SELECT of one page: after the key in ? (when after), in key order. */
static void select_sql(const struct table *t, bool after, unsigned limit, char *sql)
{
    size_t len = 0;
    cat(sql, &len, "SELECT ");
    for (int i = 0; i < t->n_cols + t->n_extra; i++) {
        const struct col *c = sel_col(t, i);
        cat(sql, &len, i ? ", " : "");
        cat(sql, &len, c->expr ? c->expr : c->name);
    }
    cat(sql, &len, " FROM ");
    cat(sql, &len, t->name);
    if (t->n_key && after) {
        cat(sql, &len, " WHERE (");
        for (int i = 0; i < t->n_key; i++) {
            cat(sql, &len, i ? ", " : "");
            cat(sql, &len, sel_col(t, t->key[i])->name);
        }
        cat(sql, &len, ") > (");
        for (int i = 0; i < t->n_key; i++)
            cat(sql, &len, i ? ", ?" : "?");
        cat(sql, &len, ")");
    }
    if (t->n_key) {
        cat(sql, &len, " ORDER BY ");
        for (int i = 0; i < t->n_key; i++) {
            cat(sql, &len, i ? ", " : "");
            cat(sql, &len, sel_col(t, t->key[i])->name);
        }
        char lim[32];
        snprintf(lim, sizeof lim, " LIMIT %u", limit);
        cat(sql, &len, lim);
    }
}

static void insert_sql(const struct table *t, int rows, bool pg, char *sql)
{
    size_t len = 0;
    cat(sql, &len, "INSERT INTO ");
    cat(sql, &len, t->name);
    cat(sql, &len, " (");
    column_list(t, sql, &len);
    cat(sql, &len, pg ? ") OVERRIDING SYSTEM VALUE VALUES " : ") VALUES ");
    for (int r = 0; r < rows; r++) {
        cat(sql, &len, r ? ", (" : "(");
        for (int i = 0; i < t->n_cols; i++)
            cat(sql, &len, i ? ", ?" : "?");
        cat(sql, &len, ")");
    }
}

/* One value read from the source, kept until its INSERT. */
struct value {
    bool null;
    int64_t i;
    char *bytes;
    size_t len;
    size_t cap;
};

static int keep_value(struct value *v, store_stmt_t *src, int col, enum col_kind k)
{
    v->null = store_col_is_null(src, col);
    if (v->null)
        return 0;
    if (k == COL_INT) {
        v->i = store_col_int64(src, col);
        return 0;
    }
    str_t b = k == COL_BLOB ? store_col_blob(src, col) : store_col_text(src, col);
    if (b.len + 1 > v->cap) {
        char *p = realloc(v->bytes, b.len + 1);
        if (!p)
            return DUPLA_ENOMEM;
        v->bytes = p;
        v->cap = b.len + 1;
    }
    if (b.len)
        memcpy(v->bytes, b.ptr, b.len);
    v->bytes[b.len] = 0;
    v->len = b.len;
    return 0;
}

static int bind_value(store_stmt_t *s, int idx, const struct value *v, enum col_kind k)
{
    if (v->null)
        return store_bind_null(s, idx);
    if (k == COL_INT)
        return store_bind_int64(s, idx, v->i);
    if (k == COL_BLOB)
        return store_bind_blob(s, idx, v->bytes, v->len);
    return store_bind_text(s, idx, (str_t){v->bytes, v->len});
}

struct copy_run {
    store_conn_t *src, *dst;
    bool pg;
    const struct store_copy_options *opt;
    struct store_copy_progress p;
    char *sel_first, *sel_next, *ins_full, *ins_part;
};

static void report(struct copy_run *r)
{
    if (r->opt && r->opt->progress)
        r->opt->progress(r->opt->progress_ctx, &r->p);
}

/* Inserts n buffered rows (per: the size of the full INSERT). */
static int insert_rows(struct copy_run *r, const struct table *t, const struct value *buf, int n,
                       int per, err_t *err)
{
    if (n < per)
        insert_sql(t, n, r->pg, r->ins_part);
    int n_sel = t->n_cols + t->n_extra;
    store_stmt_t *s;
    int rc = store_prepare(r->dst, n < per ? r->ins_part : r->ins_full, &s, err);
    if (rc)
        return rc;
    for (int k = 0; k < n && rc == 0; k++)
        for (int i = 0; i < t->n_cols && rc == 0; i++)
            if (bind_value(s, k * t->n_cols + i + 1, &buf[k * n_sel + i], t->cols[i].kind))
                rc = err_set(err, DUPLA_ENOMEM, "store: out of memory");
    if (rc == 0)
        rc = store_step(s, err);
    store_stmt_done(s);
    if (rc != STORE_DONE)
        return rc ? rc : err_internal(err, DUPLA_ESTORE, "store copy: INSERT returned rows");
    r->p.table_done += n;
    r->p.done += n;
    return 0;
}

static int copy_table(struct copy_run *r, const struct table *t, err_t *err)
{
    unsigned batch = r->opt && r->opt->batch_rows ? r->opt->batch_rows : COPY_BATCH_ROWS;
    int per = COPY_PARAMS_MAX / t->n_cols;
    if (per > COPY_INSERT_ROWS)
        per = COPY_INSERT_ROWS;
    if (per < 1)
        per = 1;
    select_sql(t, false, batch, r->sel_first);
    select_sql(t, true, batch, r->sel_next);
    insert_sql(t, per, r->pg, r->ins_full);
    int n_sel = t->n_cols + t->n_extra;
    struct value *buf = calloc((size_t)per * (size_t)n_sel, sizeof *buf);
    if (!buf)
        return err_set(err, DUPLA_ENOMEM, "store: out of memory");
    int rc = 0, n_buf = 0, last = -1; /* last: the buffered row read last */
    for (bool first = true;; first = false) {
        store_stmt_t *sel;
        rc = store_prepare(r->src, first ? r->sel_first : r->sel_next, &sel, err);
        if (rc)
            break;
        for (int i = 0; !first && i < t->n_key && rc == 0; i++)
            if (bind_value(sel, i + 1, &buf[last * n_sel + t->key[i]], sel_col(t, t->key[i])->kind))
                rc = err_set(err, DUPLA_ENOMEM, "store: out of memory");
        int64_t page_rows = 0;
        while (rc == 0 && (rc = store_step(sel, err)) == STORE_ROW) {
            rc = 0;
            page_rows++;
            for (int i = 0; i < n_sel && rc == 0; i++)
                if (keep_value(&buf[n_buf * n_sel + i], sel, i, sel_col(t, i)->kind))
                    rc = err_set(err, DUPLA_ENOMEM, "store: out of memory");
            last = n_buf++;
            if (rc == 0 && n_buf == per) {
                rc = insert_rows(r, t, buf, n_buf, per, err);
                n_buf = 0;
            }
        }
        store_stmt_done(sel);
        if (rc == STORE_DONE)
            rc = 0;
        if (rc)
            break;
        report(r);
        if (!t->n_key || page_rows < (int64_t)batch)
            break;
    }
    if (rc == 0 && n_buf > 0 && (rc = insert_rows(r, t, buf, n_buf, per, err)) == 0)
        report(r);
    for (int i = 0; i < per * n_sel; i++)
        free(buf[i].bytes);
    free(buf);
    return rc;
}

/* PostgreSQL: every sequence of t's columns (BIGSERIAL, identity) to go on
 * after the largest id copied. */
static int fix_sequences(store_conn_t *c, const struct table *t, err_t *err)
{
    for (int i = 0; i < t->n_cols; i++) {
        if (t->cols[i].kind != COL_INT)
            continue;
        char sql[4 * STORE_NAME_MAX + 256];
        snprintf(sql, sizeof sql,
                 "SELECT CAST(pg_get_serial_sequence('%s', '%s') IS NOT NULL AS INTEGER)", t->name,
                 t->cols[i].name);
        int64_t has = 0;
        int rc = store_query_int64(c, sql, 0, &has, err);
        if (rc)
            return rc;
        if (!has)
            continue;
        snprintf(sql, sizeof sql,
                 "SELECT setval(pg_get_serial_sequence('%s', '%s'), COALESCE(MAX(%s), 0) + 1,"
                 " false) FROM %s",
                 t->name, t->cols[i].name, t->cols[i].name, t->name);
        int64_t next = 0;
        if ((rc = store_query_int64(c, sql, 0, &next, err)))
            return rc;
        log_debug("store copy: %s.%s continues at %lld", t->name, t->cols[i].name, (long long)next);
    }
    return 0;
}

static const char *derived_sql(const struct store_copy_options *opt, const char *table,
                               const char *column)
{
    for (size_t i = 0; opt && i < opt->n_derived; i++)
        if (strcmp(opt->derived[i].table, table) == 0 &&
            strcmp(opt->derived[i].column, column) == 0)
            return opt->derived[i].source_sql;
    return NULL;
}

static const struct col *find_col(const struct table *t, const char *name)
{
    for (int i = 0; i < t->n_cols; i++)
        if (strcmp(t->cols[i].name, name) == 0)
            return &t->cols[i];
    return NULL;
}

/* The target's tables, described, checked against the source's, counted. */
static int plan(struct copy_run *r, store_t *fresh, struct table *tables, size_t *n, err_t *err)
{
    char(*names)[STORE_NAME_MAX] = calloc(STORE_TABLES_MAX, STORE_NAME_MAX);
    char(*src_names)[STORE_NAME_MAX] = calloc(STORE_TABLES_MAX, STORE_NAME_MAX);
    struct store_table *base = calloc(STORE_TABLES_MAX, sizeof *base);
    struct table *probe = calloc(1, sizeof *probe);
    size_t n_src = 0, n_base = 0;
    int rc = names && src_names && base && probe
                 ? 0
                 : err_set(err, DUPLA_ENOMEM, "store: out of memory");
    if (rc == 0)
        rc = list_tables(r->dst, names, STORE_TABLES_MAX, n, err);
    if (rc == 0)
        rc = list_tables(r->src, src_names, STORE_TABLES_MAX, &n_src, err);
    if (rc == 0 && fresh)
        rc = store_tables(fresh, base, STORE_TABLES_MAX, &n_base, err);
    for (size_t i = 0; rc == 0 && i < n_src; i++) {
        bool known = false;
        for (size_t j = 0; j < *n; j++)
            known |= strcmp(src_names[i], names[j]) == 0;
        if (!known)
            rc = err_set(err, DUPLA_ECONFLICT,
                         "the source has a table %s that the target's schema does not have",
                         src_names[i]);
    }
    for (size_t i = 0; rc == 0 && i < *n; i++) {
        struct table *t = &tables[i];
        memset(t, 0, sizeof *t);
        snprintf(t->name, sizeof t->name, "%s", names[i]);
        bool in_src = false;
        for (size_t j = 0; j < n_src; j++)
            in_src |= strcmp(src_names[j], t->name) == 0;
        if ((rc = describe(r->dst, t, err)))
            break;
        t->fresh = fresh_rows(base, n_base, t->name);
        if (!in_src) { /* its module never ran on the source (see check_versions) */
            t->missing = true;
            continue;
        }
        snprintf(probe->name, sizeof probe->name, "%s", t->name);
        if ((rc = describe(r->src, probe, err)))
            break;
        for (int k = 0; rc == 0 && k < t->n_cols; k++)
            if (!find_col(probe, t->cols[k].name) &&
                !(t->cols[k].expr = derived_sql(r->opt, t->name, t->cols[k].name)))
                rc = err_set(err, DUPLA_ECONFLICT, "the source's table %s has no column %s",
                             t->name, t->cols[k].name);
        /* pages follow the source's primary key */
        for (int k = 0; rc == 0 && k < probe->n_pk; k++) {
            const struct col *pc = &probe->cols[probe->pk[k]];
            int at = -1;
            for (int c = 0; c < t->n_cols && at < 0; c++)
                if (!t->cols[c].expr && strcmp(t->cols[c].name, pc->name) == 0)
                    at = c;
            if (at < 0) {
                t->extra[t->n_extra] = *pc;
                at = t->n_cols + t->n_extra++;
            }
            t->key[t->n_key++] = at;
        }
        if (rc == 0)
            rc = count_rows(r->src, t->name, &t->rows, err);
        r->p.total += t->rows;
    }
    free(names);
    free(src_names);
    free(base);
    free(probe);
    return rc;
}

int store_copy(store_t *from, store_t *to, store_t *fresh, const struct store_copy_options *opt,
               struct store_table *out, size_t cap, size_t *n_out, err_t *err)
{
    if (n_out)
        *n_out = 0;
    struct copy_run r = {.pg = is_pg(to), .opt = opt};
    struct table *tables = calloc(STORE_TABLES_MAX, sizeof *tables);
    size_t *order = calloc(STORE_TABLES_MAX, sizeof *order);
    r.sel_first = malloc(COPY_SQL_MAX);
    r.sel_next = malloc(COPY_SQL_MAX);
    r.ins_full = malloc(COPY_SQL_MAX);
    r.ins_part = malloc(COPY_SQL_MAX);
    int rc = tables && order && r.sel_first && r.sel_next && r.ins_full && r.ins_part
                 ? 0
                 : err_set(err, DUPLA_ENOMEM, "store: out of memory");
    if (rc == 0)
        rc = store_conn_get(from, &r.src, err);
    if (rc == 0 && (rc = store_conn_get(to, &r.dst, err)) != 0) {
        store_conn_put(r.src);
        r.src = NULL;
    }
    /* one snapshot of the source; one transaction on the target */
    if (rc == 0)
        rc = store_begin_read(r.src, err);
    if (rc == 0)
        rc = store_begin(r.dst, err);
    if (rc == 0 && !r.pg)
        rc = store_exec(r.dst, "PRAGMA defer_foreign_keys = ON", err);
    size_t n = 0;
    if (rc == 0)
        rc = plan(&r, fresh, tables, &n, err);
    if (rc == 0)
        sort_tables(tables, n, order);
    /* the rows a migration put in by itself make way for the source's
     * (children first) */
    for (size_t k = n; rc == 0 && k-- > 0;) {
        const struct table *t = &tables[order[k]];
        int64_t have = 0;
        if ((rc = count_rows(r.dst, t->name, &have, err)))
            break;
        tables[order[k]].expect = t->missing ? have : t->rows;
        if (have > t->fresh) {
            rc = err_set(err, DUPLA_ECONFLICT, "the target is not empty: table %s has %lld rows",
                         t->name, (long long)have);
        } else if (have > 0 && !t->missing) {
            char sql[STORE_NAME_MAX + 32];
            snprintf(sql, sizeof sql, "DELETE FROM %s", t->name);
            rc = store_exec(r.dst, sql, err);
        }
    }
    r.p.n_tables = n;
    for (size_t k = 0; rc == 0 && k < n; k++) {
        const struct table *t = &tables[order[k]];
        r.p.table = t->name;
        r.p.table_no = k + 1;
        r.p.table_done = 0;
        r.p.table_rows = t->rows;
        report(&r);
        char why[ERR_LOG_MAX];
        if (!t->missing)
            rc = copy_table(&r, t, err);
        int64_t have = 0;
        if (rc == 0)
            rc = count_rows(r.dst, t->name, &have, err);
        if (rc == 0 && have != t->expect)
            rc = err_set(err, DUPLA_ESTORE,
                         "table %s: the target has %lld rows after the copy, not %lld", t->name,
                         (long long)have, (long long)t->expect);
        if (rc == 0 && r.pg)
            rc = fix_sequences(r.dst, t, err);
        if (rc && err) {
            snprintf(why, sizeof why, "%s", err->log[0] ? err->log : err->detail);
            int w = snprintf(err->log, sizeof err->log, "copying table %s: ", t->name);
            if (w > 0 && (size_t)w < sizeof err->log)
                memcpy(err->log + w, why, strnlen(why, sizeof err->log - (size_t)w - 1) + 1);
            err->log[sizeof err->log - 1] = 0;
        }
        if (rc == 0 && out && n_out && *n_out < cap) {
            snprintf(out[*n_out].name, sizeof out[*n_out].name, "%s", t->name);
            out[(*n_out)++].rows = have;
        }
    }
    if (rc == 0)
        rc = store_commit(r.dst, err);
    if (r.dst) {
        if (store_in_transaction(r.dst))
            store_rollback(r.dst);
        store_conn_put(r.dst);
    }
    if (r.src) {
        if (store_in_transaction(r.src))
            store_end_read(r.src);
        store_conn_put(r.src);
    }
    free(tables);
    free(order);
    free(r.sel_first);
    free(r.sel_next);
    free(r.ins_full);
    free(r.ins_part);
    return rc;
}
