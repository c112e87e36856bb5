/*
 * store.c: the dataset tables: schema, deliveries, writing versions.
 *
 * See dataset.h for the layout and why. All SQL goes through store/store.h with
 * parameters; the statements are static strings so the store's statement
 * cache finds them by address on the hot paths.
 */
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
    " d.records, d.new_versions, d.unchanged, d.rejected"
    " FROM dataset_delivery d JOIN dataset_service s ON s.id = d.service_id WHERE d.id = ?";
static const char SQL_DELIVERY_ADD[] =
    "INSERT INTO dataset_delivery (id, service_id, source, content_sha256, received_ms, "
    "synthetic) VALUES (?, ?, ?, ?, ?, ?)";
static const char SQL_DELIVERY_FINISH[] =
    "UPDATE dataset_delivery SET records = ?, new_versions = ?, unchanged = ?, rejected = ?"
    " WHERE seq = ?";

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
    }
    store_stmt_done(s);
    if (rc == STORE_ROW)
        return 0;
    if (rc == STORE_DONE)
        return err_set(err, DUPLA_ENOTFOUND, "no delivery with that id");
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
    store_bind_int64(s, 5, d->seq);
    rc = store_step(s, err);
    store_stmt_done(s);
    return rc < 0 ? rc : 0;
}

/* ---- writing versions ---- */

static const char SQL_CURRENT[] =
    "SELECT version, fields FROM dataset_record WHERE service_id = ? AND subject = ?"
    " AND period_start = ? AND period_end = ? ORDER BY version DESC LIMIT 1";
static const char SQL_INSERT[] =
    "INSERT INTO dataset_record (service_id, subject, period_start, period_end, version,"
    " registered_ms, delivery_seq, fields) VALUES (?, ?, ?, ?, ?, ?, ?, ?)";

int dataset_put(store_conn_t *c, int64_t service_id, const struct dataset_key *key, str_t fields,
                int64_t registered_ms, int64_t delivery_seq, enum dataset_put_outcome *outcome,
                int64_t *version, err_t *err)
{
    store_stmt_t *s;
    int rc = store_prepare(c, SQL_CURRENT, &s, err);
    if (rc)
        return rc;
    store_bind_int64(s, 1, service_id);
    store_bind_int64(s, 2, key->subject);
    store_bind_int64(s, 3, key->period_start);
    store_bind_int64(s, 4, key->period_end);
    rc = store_step(s, err);
    int64_t current = 0;
    bool same = false;
    if (rc == STORE_ROW) {
        current = store_col_int64(s, 0);
        str_t old = store_col_blob(s, 1);
        same = old.len == fields.len && memcmp(old.ptr, fields.ptr, fields.len) == 0;
    }
    store_stmt_done(s);
    if (rc < 0)
        return rc;
    if (same) {
        *outcome = DATASET_UNCHANGED;
        *version = current;
        return 0;
    }
    if ((rc = store_prepare(c, SQL_INSERT, &s, err)))
        return rc;
    store_bind_int64(s, 1, service_id);
    store_bind_int64(s, 2, key->subject);
    store_bind_int64(s, 3, key->period_start);
    store_bind_int64(s, 4, key->period_end);
    store_bind_int64(s, 5, current + 1);
    store_bind_int64(s, 6, registered_ms);
    store_bind_int64(s, 7, delivery_seq);
    store_bind_blob(s, 8, fields.ptr, fields.len);
    rc = store_step(s, err);
    store_stmt_done(s);
    if (rc < 0)
        return rc;
    *outcome = DATASET_NEW_VERSION;
    *version = current + 1;
    return 0;
}
