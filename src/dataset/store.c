/*
 * store.c: the dataset tables: schema, deliveries, writing versions.
 *
 * See dataset.h for the layout and why. All SQL goes through store/store.h with
 * parameters; the statements are static strings so the store's statement
 * cache finds them by address on the hot paths.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "dataset/dataset.h"

static const struct store_migration dataset_migrations[] = {
    {1,
     "CREATE TABLE dataset_service ("
     " id INTEGER PRIMARY KEY,"
     " path TEXT NOT NULL UNIQUE);"
     "CREATE TABLE dataset_delivery ("
     " seq INTEGER PRIMARY KEY,"
     " id TEXT NOT NULL UNIQUE,"
     " service_id INTEGER NOT NULL REFERENCES dataset_service(id),"
     " source TEXT NOT NULL,"
     " content_sha256 TEXT NOT NULL,"
     " received_ms INTEGER NOT NULL,"
     " synthetic INTEGER NOT NULL,"
     " records INTEGER NOT NULL DEFAULT 0,"
     " new_versions INTEGER NOT NULL DEFAULT 0,"
     " unchanged INTEGER NOT NULL DEFAULT 0,"
     " rejected INTEGER NOT NULL DEFAULT 0);"
     "CREATE TABLE dataset_record ("
     " service_id INTEGER NOT NULL,"
     " subject INTEGER NOT NULL,"
     " period_start INTEGER NOT NULL,"
     " period_end INTEGER NOT NULL,"
     " version INTEGER NOT NULL,"
     " registered_ms INTEGER NOT NULL,"
     " delivery_seq INTEGER NOT NULL REFERENCES dataset_delivery(seq),"
     " fields BLOB NOT NULL,"
     " PRIMARY KEY (service_id, subject, period_start, period_end, version)"
     ") WITHOUT ROWID;"
     "CREATE INDEX dataset_record_registered ON dataset_record (service_id, registered_ms);",
     "CREATE TABLE dataset_service ("
     " id BIGSERIAL PRIMARY KEY,"
     " path TEXT NOT NULL UNIQUE);"
     "CREATE TABLE dataset_delivery ("
     " seq BIGSERIAL PRIMARY KEY,"
     " id TEXT NOT NULL UNIQUE,"
     " service_id BIGINT NOT NULL REFERENCES dataset_service(id),"
     " source TEXT NOT NULL,"
     " content_sha256 TEXT NOT NULL,"
     " received_ms BIGINT NOT NULL,"
     " synthetic BIGINT NOT NULL,"
     " records BIGINT NOT NULL DEFAULT 0,"
     " new_versions BIGINT NOT NULL DEFAULT 0,"
     " unchanged BIGINT NOT NULL DEFAULT 0,"
     " rejected BIGINT NOT NULL DEFAULT 0);"
     "CREATE TABLE dataset_record ("
     " service_id BIGINT NOT NULL,"
     " subject BIGINT NOT NULL,"
     " period_start BIGINT NOT NULL,"
     " period_end BIGINT NOT NULL,"
     " version BIGINT NOT NULL,"
     " registered_ms BIGINT NOT NULL,"
     " delivery_seq BIGINT NOT NULL REFERENCES dataset_delivery(seq),"
     " fields BYTEA NOT NULL,"
     " PRIMARY KEY (service_id, subject, period_start, period_end, version));"
     "CREATE INDEX dataset_record_registered ON dataset_record (service_id, registered_ms);"},
    /* 2: PostgreSQL only: dataset_record becomes partitioned by HASH of the
     * subject, 16 partitions dataset_record_h00 .. h15, keeping its
     * rows. Why by subject: every data call names its
     * subjects (one, or a bulk list looked up one by one), and ingest asks
     * "the current version of this subject's key", so each of those touches
     * one partition, whose indexes are a sixteenth of the whole; the batch
     * feed's registration window (service, registered_ms) reads all sixteen
     * indexes merged in order. Not by time or year: versions are never
     * deleted (bitemporal; a later correction must find the earlier
     * version), so time partitions would bring no retention and would make
     * the per-subject questions visit every year. Not by service: services
     * are catalogue data (a new one would need a partition made first) and
     * sizes differ widely. Hash partitions need no upkeep; changing their
     * number is a rewrite (a new migration). SQLite keeps its table; the
     * version is recorded on both backends alike. */
    {2, "SELECT 1",
     "ALTER TABLE dataset_record RENAME TO dataset_record_unpartitioned;"
     "ALTER INDEX dataset_record_pkey RENAME TO dataset_record_unpartitioned_pkey;"
     "DROP INDEX dataset_record_registered;"
     "CREATE TABLE dataset_record ("
     " service_id BIGINT NOT NULL,"
     " subject BIGINT NOT NULL,"
     " period_start BIGINT NOT NULL,"
     " period_end BIGINT NOT NULL,"
     " version BIGINT NOT NULL,"
     " registered_ms BIGINT NOT NULL,"
     " delivery_seq BIGINT NOT NULL REFERENCES dataset_delivery(seq),"
     " fields BYTEA NOT NULL,"
     " PRIMARY KEY (service_id, subject, period_start, period_end, version)"
     ") PARTITION BY HASH (subject);"
     "CREATE INDEX dataset_record_registered ON dataset_record (service_id, registered_ms);"
     "DO $$ BEGIN"
     " FOR i IN 0..15 LOOP"
     "  EXECUTE format('CREATE TABLE %I PARTITION OF dataset_record"
     " FOR VALUES WITH (MODULUS 16, REMAINDER %s)', 'dataset_record_h' || lpad(i::text, 2, '0'), "
     "i);"
     " END LOOP;"
     "END $$;"
     "INSERT INTO dataset_record SELECT * FROM dataset_record_unpartitioned;"
     "DO $$ BEGIN"
     " IF (SELECT count(*) FROM dataset_record)"
     "  <> (SELECT count(*) FROM dataset_record_unpartitioned) THEN"
     "  RAISE EXCEPTION 'dataset: the partitioned table does not hold every record';"
     " END IF;"
     "END $$;"
     "DROP TABLE dataset_record_unpartitioned;"},
    /* 3: withdrawals. A source system can withdraw (annul) the current
     * version of a key: that is a new version with withdrawn = 1 whose
     * fields hold only what identifies it (the subject fields of a service
     * with several subject kinds), so the history stays append-only and a
     * registration window shows the withdrawal. A later delivery of the
     * key is its next version again. */
    {3,
     "ALTER TABLE dataset_record ADD COLUMN withdrawn INTEGER NOT NULL DEFAULT 0;"
     "ALTER TABLE dataset_delivery ADD COLUMN withdrawn INTEGER NOT NULL DEFAULT 0",
     "ALTER TABLE dataset_record ADD COLUMN withdrawn BIGINT NOT NULL DEFAULT 0;"
     "ALTER TABLE dataset_delivery ADD COLUMN withdrawn BIGINT NOT NULL DEFAULT 0"},
};

int dataset_migrate(store_t *st, err_t *err)
{
    return store_migrate(st, "dataset", dataset_migrations,
                         sizeof dataset_migrations / sizeof dataset_migrations[0], err);
}

int dataset_migrate_to(store_t *st, int version, err_t *err)
{
    size_t n = 0;
    while (n < sizeof dataset_migrations / sizeof dataset_migrations[0] &&
           dataset_migrations[n].version <= version)
        n++;
    return store_migrate(st, "dataset", dataset_migrations, n, err);
}

static const char SQL_SERVICE_GET[] = "SELECT id FROM dataset_service WHERE path = ?";
static const char SQL_SERVICE_ADD[] = "INSERT INTO dataset_service (path) VALUES (?)";

int dataset_service_id(store_conn_t *c, const struct catalog_service *svc, bool create, int64_t *id,
                       err_t *err)
{
    store_stmt_t *s;
    int rc = store_prepare(c, SQL_SERVICE_GET, &s, err);
    if (rc)
        return rc;
    store_bind_cstr(s, 1, svc->path);
    rc = store_step(s, err);
    if (rc == STORE_ROW)
        *id = store_col_int64(s, 0);
    store_stmt_done(s);
    if (rc == STORE_ROW)
        return 0;
    if (rc < 0)
        return rc;
    if (!create)
        return err_set(err, DUPLA_ENOTFOUND, "dataset: no %s records yet", svc->path);
    if ((rc = store_prepare(c, SQL_SERVICE_ADD, &s, err)))
        return rc;
    store_bind_cstr(s, 1, svc->path);
    rc = store_step(s, err);
    store_stmt_done(s);
    if (rc < 0)
        return rc;
    *id = store_last_id(c);
    return 0;
}

static int ident_width(enum catalog_ident kind)
{
    return kind == CATALOG_IDENT_CPR ? 10 : 8;
}

int dataset_subject_parse(enum catalog_ident kind, str_t s, int64_t *out)
{
    if ((int)s.len != ident_width(kind) || !str_is_digits(s))
        return DUPLA_EINVAL;
    int64_t v = 0;
    for (size_t i = 0; i < s.len; i++)
        v = v * 10 + (s.ptr[i] - '0');
    *out = v;
    return 0;
}

int dataset_subject_key(const struct catalog_service *svc, size_t index, str_t s, int64_t *out)
{
    if (index >= svc->n_subjects || dataset_subject_parse(svc->subjects[index].kind, s, out) != 0)
        return DUPLA_EINVAL;
    *out += (int64_t)index * DATASET_SUBJECT_TAG;
    return 0;
}

void dataset_subject_format(enum catalog_ident kind, int64_t subject, char *out, size_t cap)
{
    snprintf(out, cap, "%0*lld", ident_width(kind), (long long)subject);
}

void dataset_year_period(int year, int32_t *start, int32_t *end)
{
    *start = clock_days_from_civil(year, 1, 1);
    *end = clock_days_from_civil(year, 12, 31);
}

/* ---- deliveries ---- */

static const char SQL_DELIVERY_FIND[] =
    "SELECT d.seq, d.id, s.path, d.source, d.content_sha256, d.received_ms, d.synthetic,"
    " d.records, d.new_versions, d.unchanged, d.rejected, d.withdrawn"
    " FROM dataset_delivery d JOIN dataset_service s ON s.id = d.service_id WHERE d.id = ?";
static const char SQL_DELIVERY_ADD[] =
    "INSERT INTO dataset_delivery (id, service_id, source, content_sha256, received_ms, "
    "synthetic) VALUES (?, ?, ?, ?, ?, ?)";
static const char SQL_DELIVERY_FINISH[] =
    "UPDATE dataset_delivery SET records = ?, new_versions = ?, unchanged = ?, rejected = ?,"
    " withdrawn = ? WHERE seq = ?";

int dataset_delivery_find(store_conn_t *c, str_t id, struct dataset_delivery *out, err_t *err)
{
    store_stmt_t *s;
    int rc = store_prepare(c, SQL_DELIVERY_FIND, &s, err);
    if (rc)
        return rc;
    store_bind_text(s, 1, id);
    rc = store_step(s, err);
    if (rc == STORE_ROW) {
        memset(out, 0, sizeof *out);
        out->seq = store_col_int64(s, 0);
        str_copy(store_col_text(s, 1), out->id, sizeof out->id);
        str_copy(store_col_text(s, 2), out->service, sizeof out->service);
        str_copy(store_col_text(s, 3), out->source, sizeof out->source);
        str_copy(store_col_text(s, 4), out->content_sha256, sizeof out->content_sha256);
        out->received_ms = store_col_int64(s, 5);
        out->synthetic = store_col_int64(s, 6) != 0;
        out->records = store_col_int64(s, 7);
        out->new_versions = store_col_int64(s, 8);
        out->unchanged = store_col_int64(s, 9);
        out->rejected = store_col_int64(s, 10);
        out->withdrawn = store_col_int64(s, 11);
    }
    store_stmt_done(s);
    if (rc == STORE_ROW)
        return 0;
    if (rc == STORE_DONE)
        return err_set(err, DUPLA_ENOTFOUND, "no delivery with that id");
    return rc;
}

int dataset_delivery_id(store_conn_t *c, int64_t seq, char *out, size_t cap, err_t *err)
{
    store_stmt_t *s;
    int rc = store_prepare(c, "SELECT id FROM dataset_delivery WHERE seq = ?", &s, err);
    if (rc)
        return rc;
    store_bind_int64(s, 1, seq);
    rc = store_step(s, err);
    if (rc == STORE_ROW)
        str_copy(store_col_text(s, 0), out, cap);
    store_stmt_done(s);
    if (rc == STORE_ROW)
        return 0;
    if (rc == STORE_DONE)
        return err_set(err, DUPLA_ENOTFOUND, "no delivery %lld", (long long)seq);
    return rc;
}

int dataset_delivery_begin(store_conn_t *c, const struct catalog_service *svc,
                           struct dataset_delivery *d, err_t *err)
{
    int64_t sid;
    int rc = dataset_service_id(c, svc, true, &sid, err);
    if (rc)
        return rc;
    store_stmt_t *s;
    if ((rc = store_prepare(c, SQL_DELIVERY_ADD, &s, err)))
        return rc;
    store_bind_cstr(s, 1, d->id);
    store_bind_int64(s, 2, sid);
    store_bind_cstr(s, 3, d->source);
    store_bind_cstr(s, 4, d->content_sha256);
    store_bind_int64(s, 5, d->received_ms);
    store_bind_int64(s, 6, d->synthetic);
    rc = store_step(s, err);
    store_stmt_done(s);
    if (rc < 0)
        return rc;
    d->seq = store_last_id(c);
    snprintf(d->service, sizeof d->service, "%s", svc->path);
    return 0;
}

int dataset_delivery_finish(store_conn_t *c, const struct dataset_delivery *d, err_t *err)
{
    store_stmt_t *s;
    int rc = store_prepare(c, SQL_DELIVERY_FINISH, &s, err);
    if (rc)
        return rc;
    store_bind_int64(s, 1, d->records);
    store_bind_int64(s, 2, d->new_versions);
    store_bind_int64(s, 3, d->unchanged);
    store_bind_int64(s, 4, d->rejected);
    store_bind_int64(s, 5, d->withdrawn);
    store_bind_int64(s, 6, d->seq);
    rc = store_step(s, err);
    store_stmt_done(s);
    return rc < 0 ? rc : 0;
}

/* ---- writing versions ---- */

/* The current version of up to DATASET_PUT_CHUNK keys in one statement: a
 * VALUES list of positions and keys, each joined to its newest version; a
 * short chunk repeats its last key, so the text (and the prepared
 * statement) stays the same. One round trip per chunk instead of one per
 * record, which is what a server backend (PostgreSQL) pays for.
 *
 * PostgreSQL gets a LATERAL subquery with LIMIT 1: a key at a time down the
 * primary key, whatever the statistics say. A plain join lets the planner,
 * on a table it believes small (a first delivery into a new platform,
 * before autovacuum has analyzed it), hash-join every chunk against a scan
 * of the whole service: quadratic in the delivery. SQLite has no LATERAL
 * and always loops over the VALUES, each key's MAX answered by the primary
 * key. */
#define PUT_SQL_MAX (640 + DATASET_PUT_CHUNK * 80)
static char current_text[2][PUT_SQL_MAX];
static pthread_once_t current_once = PTHREAD_ONCE_INIT;

static void current_make(void)
{
    for (int pg = 0; pg < 2; pg++) {
        char *out = current_text[pg];
        size_t n =
            (size_t)snprintf(out, PUT_SQL_MAX, "WITH want(pos, subject, ps, pe) AS (VALUES ");
        for (int i = 0; i < DATASET_PUT_CHUNK; i++)
            n += (size_t)snprintf(
                out + n, PUT_SQL_MAX - n,
                "%s(%d, CAST(? AS BIGINT), CAST(? AS INTEGER), CAST(? AS INTEGER))", i ? ", " : "",
                i);
        if (pg)
            snprintf(
                out + n, PUT_SQL_MAX - n,
                ") SELECT want.pos, r.version, r.fields, r.withdrawn FROM want CROSS JOIN LATERAL"
                " (SELECT version, fields, withdrawn FROM dataset_record WHERE service_id = ?"
                " AND subject = want.subject AND period_start = want.ps"
                " AND period_end = want.pe ORDER BY version DESC LIMIT 1) r");
        else
            snprintf(out + n, PUT_SQL_MAX - n,
                     ") SELECT want.pos, r.version, r.fields, r.withdrawn FROM want JOIN "
                     "dataset_record r"
                     " ON r.service_id = ? AND r.subject = want.subject"
                     " AND r.period_start = want.ps AND r.period_end = want.pe"
                     " WHERE r.version = (SELECT MAX(m.version) FROM dataset_record m"
                     " WHERE m.service_id = r.service_id AND m.subject = want.subject"
                     " AND m.period_start = want.ps AND m.period_end = want.pe)");
    }
}

static const char SQL_INSERT_HEAD[] =
    "INSERT INTO dataset_record (service_id, subject, period_start, period_end, version,"
    " registered_ms, delivery_seq, fields, withdrawn)";

/* Looks up the current versions of items[0..n), n <= DATASET_PUT_CHUNK:
 * item->version is set to it (0: none), item->was_withdrawn to whether it
 * is a withdrawal, and item->outcome to what storing the item will do:
 * DATASET_UNCHANGED for the same fields (or a withdrawal of a withdrawn
 * key), DATASET_NO_RECORD for a withdrawal of a key without versions. */
static int put_lookup(store_conn_t *c, int64_t service_id, struct dataset_put_item *items, size_t n,
                      err_t *err)
{
    pthread_once(&current_once, current_make);
    store_stmt_t *s;
    bool pg = strcmp(store_conn_backend(c), "postgresql") == 0;
    int rc = store_prepare(c, current_text[pg], &s, err);
    if (rc)
        return rc;
    int at = 1;
    for (size_t i = 0; i < DATASET_PUT_CHUNK; i++) {
        const struct dataset_key *k = &items[i < n ? i : n - 1].key;
        store_bind_int64(s, at++, k->subject);
        store_bind_int64(s, at++, k->period_start);
        store_bind_int64(s, at++, k->period_end);
    }
    store_bind_int64(s, at, service_id);
    for (size_t i = 0; i < n; i++) {
        items[i].version = 0;
        items[i].was_withdrawn = false;
        items[i].outcome = items[i].withdraw ? DATASET_NO_RECORD : DATASET_NEW_VERSION;
    }
    while ((rc = store_step(s, err)) == STORE_ROW) {
        int64_t pos = store_col_int64(s, 0);
        if (pos < 0 || (size_t)pos >= n) /* a repeat of the last key */
            continue;
        struct dataset_put_item *it = &items[pos];
        it->version = store_col_int64(s, 1);
        str_t old = store_col_blob(s, 2);
        it->was_withdrawn = store_col_int64(s, 3) != 0;
        if (it->withdraw)
            it->outcome = it->was_withdrawn ? DATASET_UNCHANGED : DATASET_WITHDRAWN;
        else if (!it->was_withdrawn && old.len == it->fields.len &&
                 memcmp(old.ptr, it->fields.ptr, old.len) == 0)
            it->outcome = DATASET_UNCHANGED;
    }
    store_stmt_done(s);
    return rc < 0 ? rc : 0;
}

/* The rows of one chunk's new versions (dataset_put_many). */
struct put_rows {
    int64_t service_id, registered_ms, delivery_seq;
    struct dataset_put_item *at[DATASET_PUT_CHUNK];
};

static void put_bind(store_stmt_t *s, int p, size_t row, const void *ctx)
{
    const struct put_rows *pr = ctx;
    const struct dataset_put_item *it = pr->at[row];
    store_bind_int64(s, p, pr->service_id);
    store_bind_int64(s, p + 1, it->key.subject);
    store_bind_int64(s, p + 2, it->key.period_start);
    store_bind_int64(s, p + 3, it->key.period_end);
    store_bind_int64(s, p + 4, it->version + 1);
    store_bind_int64(s, p + 5, pr->registered_ms);
    store_bind_int64(s, p + 6, pr->delivery_seq);
    store_bind_blob(s, p + 7, it->fields.ptr, it->fields.len);
    store_bind_int64(s, p + 8, it->withdraw);
}

int dataset_put_many(store_conn_t *c, int64_t service_id, struct dataset_put_item *items, size_t n,
                     int64_t registered_ms, int64_t delivery_seq, err_t *err)
{
    struct put_rows pr = {service_id, registered_ms, delivery_seq, {0}};
    for (size_t at = 0; at < n; at += DATASET_PUT_CHUNK) {
        size_t m = n - at < DATASET_PUT_CHUNK ? n - at : DATASET_PUT_CHUNK;
        struct dataset_put_item *chunk = items + at;
        int rc = put_lookup(c, service_id, chunk, m, err);
        if (rc)
            return rc;
        size_t k = 0;
        for (size_t i = 0; i < m; i++)
            if (chunk[i].outcome != DATASET_UNCHANGED && chunk[i].outcome != DATASET_NO_RECORD)
                pr.at[k++] = &chunk[i];
        if ((rc = store_insert_rows(c, SQL_INSERT_HEAD, 9, k, put_bind, &pr, err)))
            return rc;
        for (size_t i = 0; i < k; i++)
            pr.at[i]->version++;
    }
    return 0;
}

int dataset_put(store_conn_t *c, int64_t service_id, const struct dataset_key *key, str_t fields,
                int64_t registered_ms, int64_t delivery_seq, enum dataset_put_outcome *outcome,
                int64_t *version, err_t *err)
{
    struct dataset_put_item it = {.key = *key, .fields = fields};
    int rc = dataset_put_many(c, service_id, &it, 1, registered_ms, delivery_seq, err);
    if (rc)
        return rc;
    *outcome = it.outcome;
    *version = it.version;
    return 0;
}
