/*
 * partition.c: the disclosure log's partitions on PostgreSQL.
 *
 * The log only grows, is read by time windows, by recipient and by subject,
 * and old months are what retention would remove: so on PostgreSQL
 * audit_entry and audit_entry_subject are partitioned by RANGE of time_ms,
 * one partition per calendar month (UTC), named audit_entry_pYYYY_MM and
 * audit_entry_subject_pYYYY_MM. The subjects carry their entry's time_ms
 * (PostgreSQL only) so that both tables split on the same bounds, and so
 * that a subject's entries are found with (seq, time_ms): one partition's
 * index per entry instead of every partition's.
 *
 * Each table also has a DEFAULT partition, so that an insert never fails for
 * want of a partition (a disclosure refused because nobody ran a command
 * would be an outage). Partitions are created ahead: by the migration, by
 * every audit_open (serve start) and once a day by the writer, each time for
 * the current month and AUDIT_PARTITIONS_AHEAD_DEFAULT months after it, and
 * on demand by `dupla audit partitions --ahead N`. Whenever rows did land in
 * the DEFAULT partition, audit_partitions_ensure() splits it: it detaches it,
 * creates the partitions of the months it holds, re-inserts its rows through
 * the parent (which routes them) and drops the detached table. No row is
 * updated or deleted, so the append-only triggers stay in force throughout;
 * the hash chain is untouched (rows keep every column).
 *
 * The work is done by SQL functions the migration installs (dynamic DDL
 * needs identifiers, which cannot be bound as parameters); the C side only
 * calls them with bound values. They take a transaction-scoped advisory lock
 * so that several nodes doing upkeep at once take turns.
 *
 * Unique seq: a partitioned table's primary key must hold the partition key,
 * so it is (seq, time_ms); seq itself is unique because the one writer hands
 * it out densely from the head, and `dupla audit verify` would report a
 * duplicate as an inserted entry.
 *
 * SQLite keeps its single tables: every call here answers DUPLA_EINVAL there
 * with a message saying so.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/internal.h"
#include "core/clock.h"
#include "core/log.h"

/* Migration audit/2 on PostgreSQL: the tables become partitioned ones with
 * their rows, indexes, triggers; then the upkeep functions. */
const char audit_partition_migration[] =
    /* the old tables step aside with their rows */
    "ALTER TABLE audit_entry RENAME TO audit_entry_unpartitioned;"
    "ALTER TABLE audit_entry_subject RENAME TO audit_entry_subject_unpartitioned;"
    "ALTER INDEX audit_entry_pkey RENAME TO audit_entry_unpartitioned_pkey;"
    "ALTER INDEX audit_entry_subject_pkey RENAME TO audit_entry_subject_unpartitioned_pkey;"
    "DROP INDEX audit_entry_subject_by_subject, audit_entry_by_org, audit_entry_by_agreement,"
    " audit_entry_by_time;"
    "CREATE TABLE audit_entry ("
    " seq BIGINT NOT NULL,"
    " time_ms BIGINT NOT NULL,"
    " environment TEXT NOT NULL,"
    " org_cvr TEXT NOT NULL,"
    " system_id TEXT NOT NULL,"
    " agreement_id TEXT NOT NULL,"
    " agreement_version BIGINT NOT NULL,"
    " service TEXT NOT NULL,"
    " request_id TEXT NOT NULL,"
    " transaction_id TEXT NOT NULL,"
    " periods TEXT NOT NULL,"
    " fields TEXT NOT NULL,"
    " record_count BIGINT NOT NULL,"
    " outcome TEXT NOT NULL,"
    " reason TEXT NOT NULL,"
    " prev_hash BYTEA NOT NULL,"
    " entry_hash BYTEA NOT NULL,"
    " PRIMARY KEY (seq, time_ms)) PARTITION BY RANGE (time_ms);"
    "CREATE TABLE audit_entry_subject ("
    " seq BIGINT NOT NULL,"
    " position INTEGER NOT NULL,"
    " kind TEXT NOT NULL,"
    " subject TEXT NOT NULL,"
    " time_ms BIGINT NOT NULL,"
    " PRIMARY KEY (seq, position, time_ms)) PARTITION BY RANGE (time_ms);"
    /* The three questions: the data owner pages by seq (the primary key) or
     * a time window (pruning, then by_time); a recipient by org_cvr; a
     * citizen or company by subject, index-only to (seq, time_ms). */
    "CREATE INDEX audit_entry_by_org ON audit_entry (org_cvr, seq);"
    "CREATE INDEX audit_entry_by_agreement ON audit_entry (agreement_id, seq);"
    "CREATE INDEX audit_entry_by_time ON audit_entry (time_ms);"
    "CREATE INDEX audit_entry_subject_by_subject ON audit_entry_subject (subject, seq, time_ms);"
    "CREATE TABLE audit_entry_default PARTITION OF audit_entry DEFAULT;"
    "CREATE TABLE audit_entry_subject_default PARTITION OF audit_entry_subject DEFAULT;"
    "CREATE TRIGGER audit_entry_append_only BEFORE UPDATE OR DELETE ON audit_entry"
    " FOR EACH ROW EXECUTE FUNCTION audit_append_only();"
    "CREATE TRIGGER audit_subject_append_only BEFORE UPDATE OR DELETE ON audit_entry_subject"
    " FOR EACH ROW EXECUTE FUNCTION audit_append_only();"
    /* the month (UTC) of a time, and the first millisecond of a month */
    "CREATE FUNCTION audit_month_of(ms BIGINT) RETURNS DATE LANGUAGE sql IMMUTABLE AS"
    " $$ SELECT date_trunc('month', to_timestamp(ms / 1000.0) AT TIME ZONE 'UTC')::date $$;"
    "CREATE FUNCTION audit_month_ms(m DATE) RETURNS BIGINT LANGUAGE sql IMMUTABLE AS"
    " $$ SELECT (extract(epoch FROM m::timestamp AT TIME ZONE 'UTC') * 1000)::bigint $$;"
    /* one month's pair of partitions; false when they exist */
    "CREATE FUNCTION audit_partition_add(m DATE) RETURNS BOOLEAN LANGUAGE plpgsql AS $$"
    " DECLARE"
    "  suffix TEXT := to_char(m, '\"p\"YYYY\"_\"MM');"
    "  lo BIGINT := audit_month_ms(m);"
    "  hi BIGINT := audit_month_ms((m + INTERVAL '1 month')::date);"
    " BEGIN"
    "  IF to_regclass('audit_entry_' || suffix) IS NOT NULL THEN RETURN false; END IF;"
    "  EXECUTE format('CREATE TABLE %I PARTITION OF audit_entry FOR VALUES FROM (%s) TO (%s)',"
    "   'audit_entry_' || suffix, lo, hi);"
    "  EXECUTE format('CREATE TABLE %I PARTITION OF audit_entry_subject"
    " FOR VALUES FROM (%s) TO (%s)', 'audit_entry_subject_' || suffix, lo, hi);"
    "  RETURN true;"
    " END $$;"
    /* the current month and `ahead` after it, and the months that rows in
     * the DEFAULT partitions belong to (which are moved there) */
    "CREATE FUNCTION audit_partitions_ensure(now_ms BIGINT, ahead INTEGER) RETURNS INTEGER"
    " LANGUAGE plpgsql AS $$"
    " DECLARE"
    "  first DATE := audit_month_of(now_ms);"
    "  months DATE[];"
    "  m DATE;"
    "  n INTEGER := 0;"
    " BEGIN"
    "  PERFORM pg_advisory_xact_lock(4242140003);"
    "  SELECT array_agg(DISTINCT x) INTO months FROM ("
    "   SELECT audit_month_of(time_ms) AS x FROM audit_entry_default"
    "   UNION SELECT audit_month_of(time_ms) FROM audit_entry_subject_default) d;"
    "  IF months IS NOT NULL THEN"
    "   ALTER TABLE audit_entry DETACH PARTITION audit_entry_default;"
    "   ALTER TABLE audit_entry_subject DETACH PARTITION audit_entry_subject_default;"
    "   ALTER TABLE audit_entry_default RENAME TO audit_entry_split;"
    "   ALTER TABLE audit_entry_subject_default RENAME TO audit_entry_subject_split;"
    "   FOREACH m IN ARRAY months LOOP"
    "    IF audit_partition_add(m) THEN n := n + 1; END IF;"
    "   END LOOP;"
    "   CREATE TABLE audit_entry_default PARTITION OF audit_entry DEFAULT;"
    "   CREATE TABLE audit_entry_subject_default PARTITION OF audit_entry_subject DEFAULT;"
    "   INSERT INTO audit_entry SELECT * FROM audit_entry_split;"
    "   INSERT INTO audit_entry_subject SELECT * FROM audit_entry_subject_split;"
    "   DROP TABLE audit_entry_split, audit_entry_subject_split;"
    "  END IF;"
    "  FOR i IN 0..greatest(ahead, 0) LOOP"
    "   IF audit_partition_add((first + make_interval(months => i))::date) THEN"
    "    n := n + 1;"
    "   END IF;"
    "  END LOOP;"
    "  RETURN n;"
    " END $$;"
    /* the partitions of the log, oldest first, DEFAULT last, with their rows */
    "CREATE FUNCTION audit_partitions() RETURNS TABLE (p_name TEXT, p_from BIGINT, p_to BIGINT,"
    " p_entries BIGINT, p_subjects BIGINT) LANGUAGE plpgsql AS $$"
    " DECLARE"
    "  r RECORD;"
    "  b TEXT[];"
    " BEGIN"
    "  FOR r IN SELECT c.relname::text AS rel, pg_get_expr(c.relpartbound, c.oid) AS bound"
    "   FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
    "   WHERE i.inhparent = 'audit_entry'::regclass ORDER BY c.relname LOOP"
    "   p_name := substr(r.rel, 13);"
    "   b := regexp_match(r.bound, 'FROM \\(''?(-?[0-9]+)''?\\) TO \\(''?(-?[0-9]+)''?\\)');"
    "   p_from := b[1]::bigint;"
    "   p_to := b[2]::bigint;"
    "   EXECUTE format('SELECT count(*) FROM %I', r.rel) INTO p_entries;"
    "   p_subjects := NULL;"
    "   IF to_regclass('audit_entry_subject_' || p_name) IS NOT NULL THEN"
    "    EXECUTE format('SELECT count(*) FROM %I', 'audit_entry_subject_' || p_name)"
    "     INTO p_subjects;"
    "   END IF;"
    "   RETURN NEXT;"
    "  END LOOP;"
    " END $$;"
    /* one month's pair of partitions goes (audit_partitions_drop_before
     * decides which may) */
    "CREATE FUNCTION audit_partition_drop(suffix TEXT) RETURNS VOID LANGUAGE plpgsql AS $$"
    " BEGIN"
    "  PERFORM pg_advisory_xact_lock(4242140003);"
    "  EXECUTE format('DROP TABLE %I, %I', 'audit_entry_' || suffix,"
    "   'audit_entry_subject_' || suffix);"
    " END $$;"
    /* the rows: months first, so that nothing lands in DEFAULT */
    "SELECT audit_partition_add(m) FROM (SELECT DISTINCT audit_month_of(time_ms) AS m"
    " FROM audit_entry_unpartitioned ORDER BY 1) x;"
    "INSERT INTO audit_entry SELECT * FROM audit_entry_unpartitioned;"
    /* an orphan subject row (only tampering makes one) is kept, at time 0,
     * so that verify still reports it */
    "INSERT INTO audit_entry_subject SELECT s.seq, s.position, s.kind, s.subject,"
    " COALESCE(e.time_ms, 0) FROM audit_entry_subject_unpartitioned s"
    " LEFT JOIN audit_entry_unpartitioned e ON e.seq = s.seq;"
    "DO $$ BEGIN"
    " IF (SELECT count(*) FROM audit_entry) <> (SELECT count(*) FROM audit_entry_unpartitioned)"
    "  OR (SELECT count(*) FROM audit_entry_subject)"
    "   <> (SELECT count(*) FROM audit_entry_subject_unpartitioned) THEN"
    "  RAISE EXCEPTION 'audit: the partitioned log does not hold every row';"
    " END IF;"
    "END $$;"
    "DROP TABLE audit_entry_subject_unpartitioned, audit_entry_unpartitioned;"
    "SELECT audit_partitions_ensure((extract(epoch FROM now()) * 1000)::bigint, 3);";

bool audit_partitioned(store_t *st)
{
    return strcmp(store_backend(st), "postgresql") == 0;
}

static int not_partitioned(store_t *st, err_t *err)
{
    return err_set(err, DUPLA_EINVAL,
                   "partitions are a PostgreSQL feature; this store is %s, whose disclosure log "
                   "is one table and needs no upkeep",
                   store_backend(st));
}

int audit_partitions_ensure_conn(store_conn_t *c, int64_t now_ms, unsigned ahead, int *created,
                                 err_t *err)
{
    if (ahead > AUDIT_PARTITIONS_AHEAD_MAX)
        return err_param(err, DUPLA_EINVAL, "ahead", "at most %d months ahead",
                         AUDIT_PARTITIONS_AHEAD_MAX);
    int rc = store_begin(c, err);
    if (rc)
        return rc;
    store_stmt_t *s;
    if ((rc = store_prepare(c,
                            "SELECT audit_partitions_ensure(CAST(? AS BIGINT), CAST(? AS INTEGER))",
                            &s, err)) == 0) {
        store_bind_int64(s, 1, now_ms);
        store_bind_int64(s, 2, (int64_t)ahead);
        rc = store_step(s, err);
        if (rc == STORE_ROW && created)
            *created = (int)store_col_int64(s, 0);
        store_stmt_done(s);
        rc = rc < 0 ? rc : 0;
    }
    if (rc == 0)
        rc = store_commit(c, err);
    if (rc)
        store_rollback(c);
    return rc;
}

int audit_partitions_ensure(store_t *st, int64_t now_ms, unsigned ahead, int *created, err_t *err)
{
    if (created)
        *created = 0;
    if (!audit_partitioned(st))
        return not_partitioned(st, err);
    store_conn_t *c;
    int rc = store_conn_get(st, &c, err);
    if (rc)
        return rc;
    rc = audit_partitions_ensure_conn(c, now_ms, ahead, created, err);
    store_conn_put(c);
    return rc;
}

int audit_partitions_list(store_t *st, struct audit_partition **out, size_t *n, err_t *err)
{
    *out = NULL;
    *n = 0;
    if (!audit_partitioned(st))
        return not_partitioned(st, err);
    store_conn_t *c;
    int rc = store_conn_get(st, &c, err);
    if (rc)
        return rc;
    store_stmt_t *s;
    if ((rc = store_prepare(c,
                            "SELECT p_name, p_from, p_to, p_entries, p_subjects "
                            "FROM audit_partitions()",
                            &s, err))) {
        store_conn_put(c);
        return rc;
    }
    size_t cap = 0;
    struct audit_partition *v = NULL;
    while ((rc = store_step(s, err)) == STORE_ROW) {
        if (*n == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            struct audit_partition *nv = realloc(v, ncap * sizeof *nv);
            if (!nv) {
                rc = err_set(err, DUPLA_ENOMEM, "out of memory");
                break;
            }
            v = nv;
            cap = ncap;
        }
        struct audit_partition *p = &v[*n];
        memset(p, 0, sizeof *p);
        str_t name = store_col_text(s, 0);
        snprintf(p->name, sizeof p->name, "%.*s", (int)name.len, name.ptr);
        p->is_default = store_col_is_null(s, 1);
        p->from_ms = store_col_int64(s, 1);
        p->to_ms = store_col_int64(s, 2);
        p->entries = store_col_int64(s, 3);
        p->subjects = store_col_int64(s, 4);
        (*n)++;
    }
    store_stmt_done(s);
    store_conn_put(c);
    if (rc < 0) {
        free(v);
        *n = 0;
        return rc;
    }
    /* the function orders by name: pYYYY_MM chronologically, "default" before them */
    for (size_t i = 0; i + 1 < *n; i++)
        if (v[i].is_default) {
            struct audit_partition d = v[i];
            memmove(&v[i], &v[i + 1], (*n - i - 1) * sizeof *v);
            v[*n - 1] = d;
            break;
        }
    *out = v;
    return 0;
}

int audit_partitions_drop_before(store_t *st, int64_t before_ms, int *dropped, err_t *err)
{
    *dropped = 0;
    struct audit_partition *v;
    size_t n;
    int rc = audit_partitions_list(st, &v, &n, err);
    if (rc)
        return rc;
    /* The chain is verified from entry 1 (prev_hash of entry 1 is zero):
     * an entry gone is a broken log. So only empty months may go. */
    for (size_t i = 0; i < n; i++) {
        if (v[i].is_default || v[i].to_ms > before_ms)
            continue;
        if (v[i].entries > 0 || v[i].subjects > 0) {
            rc = err_param(err, DUPLA_ECONFLICT, "drop-before",
                           "partition %s holds %" PRId64
                           " entries: dropping it would break the chain that `dupla audit "
                           "verify` checks from the first entry; nothing was dropped",
                           v[i].name, v[i].entries);
            free(v);
            return rc;
        }
    }
    store_conn_t *c;
    if ((rc = store_conn_get(st, &c, err))) {
        free(v);
        return rc;
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (v[i].is_default || v[i].to_ms > before_ms)
            continue;
        store_stmt_t *s;
        if ((rc = store_begin(c, err)))
            break;
        /* the counts again, under the lock the drop takes: rows may have
         * come since the list */
        if ((rc = store_prepare(c,
                                "SELECT p_entries + COALESCE(p_subjects, 0) FROM "
                                "audit_partitions() WHERE p_name = ?",
                                &s, err)) == 0) {
            store_bind_cstr(s, 1, v[i].name);
            rc = store_step(s, err);
            int64_t rows = rc == STORE_ROW ? store_col_int64(s, 0) : 0;
            store_stmt_done(s);
            rc = rc < 0 ? rc : 0;
            if (rc == 0 && rows > 0)
                rc = err_param(err, DUPLA_ECONFLICT, "drop-before",
                               "partition %s received entries meanwhile; not dropped", v[i].name);
        }
        if (rc == 0 && (rc = store_prepare(c, "SELECT audit_partition_drop(?)", &s, err)) == 0) {
            store_bind_cstr(s, 1, v[i].name);
            rc = store_step(s, err);
            store_stmt_done(s);
            rc = rc < 0 ? rc : 0;
        }
        if (rc == 0)
            rc = store_commit(c, err);
        if (rc)
            store_rollback(c);
        else
            (*dropped)++;
    }
    store_conn_put(c);
    free(v);
    return rc;
}
