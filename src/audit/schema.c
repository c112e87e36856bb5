/*
 * schema.c: the disclosure log's tables, and its configuration section.
 *
 * audit_entry holds one row per entry; lists of periods and fields are JSON
 * arrays of strings. The subjects live in a child table, audit_entry_subject,
 * indexed by number, so that "who received data about me" is an index
 * lookup. Checkpoints carry the public key beside the signature so that they
 * can be exported without the private key. Triggers make the tables
 * append-only for every client of the database; they are a guard against
 * mistakes, not against someone with the file: that is the chain's job.
 */
#include <stdio.h>
#include <string.h>

#include "audit/internal.h"

static const struct store_migration audit_migrations[] = {
    {1,
     "CREATE TABLE audit_entry ("
     " seq INTEGER PRIMARY KEY,"
     " time_ms INTEGER NOT NULL,"
     " environment TEXT NOT NULL,"
     " org_cvr TEXT NOT NULL,"
     " system_id TEXT NOT NULL,"
     " agreement_id TEXT NOT NULL,"
     " agreement_version INTEGER NOT NULL,"
     " service TEXT NOT NULL,"
     " request_id TEXT NOT NULL,"
     " transaction_id TEXT NOT NULL,"
     " periods TEXT NOT NULL,"
     " fields TEXT NOT NULL,"
     " record_count INTEGER NOT NULL,"
     " outcome TEXT NOT NULL,"
     " reason TEXT NOT NULL,"
     " prev_hash BLOB NOT NULL,"
     " entry_hash BLOB NOT NULL);"
     "CREATE TABLE audit_entry_subject ("
     " seq INTEGER NOT NULL,"
     " position INTEGER NOT NULL,"
     " kind TEXT NOT NULL,"
     " subject TEXT NOT NULL,"
     " PRIMARY KEY (seq, position)) WITHOUT ROWID;"
     "CREATE INDEX audit_entry_subject_by_subject ON audit_entry_subject (subject, seq);"
     "CREATE INDEX audit_entry_by_org ON audit_entry (org_cvr, seq);"
     "CREATE INDEX audit_entry_by_agreement ON audit_entry (agreement_id, seq);"
     "CREATE INDEX audit_entry_by_time ON audit_entry (time_ms);"
     "CREATE TABLE audit_checkpoint ("
     " seq INTEGER PRIMARY KEY,"
     " time_ms INTEGER NOT NULL,"
     " chain_hash BLOB NOT NULL,"
     " environment TEXT NOT NULL,"
     " kid TEXT NOT NULL,"
     " public_key BLOB NOT NULL,"
     " signature BLOB NOT NULL);"
     "CREATE TRIGGER audit_entry_no_update BEFORE UPDATE ON audit_entry"
     " BEGIN SELECT RAISE(ABORT, 'the disclosure log is append-only'); END;"
     "CREATE TRIGGER audit_entry_no_delete BEFORE DELETE ON audit_entry"
     " BEGIN SELECT RAISE(ABORT, 'the disclosure log is append-only'); END;"
     "CREATE TRIGGER audit_subject_no_update BEFORE UPDATE ON audit_entry_subject"
     " BEGIN SELECT RAISE(ABORT, 'the disclosure log is append-only'); END;"
     "CREATE TRIGGER audit_subject_no_delete BEFORE DELETE ON audit_entry_subject"
     " BEGIN SELECT RAISE(ABORT, 'the disclosure log is append-only'); END;"
     "CREATE TRIGGER audit_checkpoint_no_update BEFORE UPDATE ON audit_checkpoint"
     " BEGIN SELECT RAISE(ABORT, 'the disclosure log is append-only'); END;"
     "CREATE TRIGGER audit_checkpoint_no_delete BEFORE DELETE ON audit_checkpoint"
     " BEGIN SELECT RAISE(ABORT, 'the disclosure log is append-only'); END;",
     /* PostgreSQL */
     "CREATE TABLE audit_entry ("
     " seq BIGINT PRIMARY KEY,"
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
     " entry_hash BYTEA NOT NULL);"
     "CREATE TABLE audit_entry_subject ("
     " seq BIGINT NOT NULL,"
     " position INTEGER NOT NULL,"
     " kind TEXT NOT NULL,"
     " subject TEXT NOT NULL,"
     " PRIMARY KEY (seq, position));"
     "CREATE INDEX audit_entry_subject_by_subject ON audit_entry_subject (subject, seq);"
     "CREATE INDEX audit_entry_by_org ON audit_entry (org_cvr, seq);"
     "CREATE INDEX audit_entry_by_agreement ON audit_entry (agreement_id, seq);"
     "CREATE INDEX audit_entry_by_time ON audit_entry (time_ms);"
     "CREATE TABLE audit_checkpoint ("
     " seq BIGINT PRIMARY KEY,"
     " time_ms BIGINT NOT NULL,"
     " chain_hash BYTEA NOT NULL,"
     " environment TEXT NOT NULL,"
     " kid TEXT NOT NULL,"
     " public_key BYTEA NOT NULL,"
     " signature BYTEA NOT NULL);"
     "CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS"
     " $$ BEGIN RAISE EXCEPTION 'the disclosure log is append-only'; END $$;"
     "CREATE TRIGGER audit_entry_append_only BEFORE UPDATE OR DELETE ON audit_entry"
     " FOR EACH ROW EXECUTE FUNCTION audit_append_only();"
     "CREATE TRIGGER audit_subject_append_only BEFORE UPDATE OR DELETE ON audit_entry_subject"
     " FOR EACH ROW EXECUTE FUNCTION audit_append_only();"
     "CREATE TRIGGER audit_checkpoint_append_only BEFORE UPDATE OR DELETE ON audit_checkpoint"
     " FOR EACH ROW EXECUTE FUNCTION audit_append_only();"},
    /* 2: PostgreSQL only (see partition.c): the entries and their subjects
     * move into tables partitioned by month of time_ms, with a DEFAULT
     * partition each; the subjects carry their entry's time_ms. SQLite keeps
     * its tables; the version is recorded on both backends alike. */
    {2, "SELECT 1", audit_partition_migration},
    /* 3: the Merkle tree (tree.c): the hash of every perfect subtree, keyed
     * by the tree size at which it completed and its height, and the signed
     * tree heads (C2SP checkpoint notes, note.c). An existing log's tree is
     * built from its entries when the writer next opens (audit_tree_build). */
    {3,
     "CREATE TABLE audit_tree_node ("
     " end_size INTEGER NOT NULL,"
     " level INTEGER NOT NULL,"
     " hash BLOB NOT NULL,"
     " PRIMARY KEY (end_size, level)) WITHOUT ROWID;"
     "CREATE TABLE audit_tree_head ("
     " tree_size INTEGER PRIMARY KEY,"
     " time_ms INTEGER NOT NULL,"
     " root_hash BLOB NOT NULL,"
     " note TEXT NOT NULL);"
     "CREATE TRIGGER audit_tree_node_no_update BEFORE UPDATE ON audit_tree_node"
     " BEGIN SELECT RAISE(ABORT, 'the disclosure log is append-only'); END;"
     "CREATE TRIGGER audit_tree_node_no_delete BEFORE DELETE ON audit_tree_node"
     " BEGIN SELECT RAISE(ABORT, 'the disclosure log is append-only'); END;"
     "CREATE TRIGGER audit_tree_head_no_update BEFORE UPDATE ON audit_tree_head"
     " BEGIN SELECT RAISE(ABORT, 'the disclosure log is append-only'); END;"
     "CREATE TRIGGER audit_tree_head_no_delete BEFORE DELETE ON audit_tree_head"
     " BEGIN SELECT RAISE(ABORT, 'the disclosure log is append-only'); END;",
     /* PostgreSQL */
     "CREATE TABLE audit_tree_node ("
     " end_size BIGINT NOT NULL,"
     " level INTEGER NOT NULL,"
     " hash BYTEA NOT NULL,"
     " PRIMARY KEY (end_size, level));"
     "CREATE TABLE audit_tree_head ("
     " tree_size BIGINT PRIMARY KEY,"
     " time_ms BIGINT NOT NULL,"
     " root_hash BYTEA NOT NULL,"
     " note TEXT NOT NULL);"
     "CREATE TRIGGER audit_tree_node_append_only BEFORE UPDATE OR DELETE ON audit_tree_node"
     " FOR EACH ROW EXECUTE FUNCTION audit_append_only();"
     "CREATE TRIGGER audit_tree_head_append_only BEFORE UPDATE OR DELETE ON audit_tree_head"
     " FOR EACH ROW EXECUTE FUNCTION audit_append_only();"},
    /* 4: the canonical entry's version 2 (canonical.c): each entry's
     * encoding version (1 for every entry before), the recipient's case
     * reference, and what it disclosed: the deliveries of the record
     * versions sent, and the versions, in child tables indexed for tracing a
     * delivery or a version to the disclosures that sent it. */
    {4,
     "ALTER TABLE audit_entry ADD COLUMN format INTEGER NOT NULL DEFAULT 1;"
     "ALTER TABLE audit_entry ADD COLUMN case_ref TEXT NOT NULL DEFAULT '';"
     "CREATE TABLE audit_entry_delivery ("
     " seq INTEGER NOT NULL,"
     " position INTEGER NOT NULL,"
     " delivery_id TEXT NOT NULL,"
     " PRIMARY KEY (seq, position)) WITHOUT ROWID;"
     "CREATE INDEX audit_entry_delivery_by_id ON audit_entry_delivery (delivery_id, seq);"
     "CREATE TABLE audit_entry_version ("
     " seq INTEGER NOT NULL,"
     " position INTEGER NOT NULL,"
     " delivery INTEGER NOT NULL,"
     " kind TEXT NOT NULL,"
     " subject TEXT NOT NULL,"
     " period TEXT NOT NULL,"
     " version INTEGER NOT NULL,"
     " PRIMARY KEY (seq, position)) WITHOUT ROWID;"
     "CREATE INDEX audit_entry_version_by_subject ON audit_entry_version"
     " (subject, period, version, seq);"
     "CREATE TRIGGER audit_delivery_no_update BEFORE UPDATE ON audit_entry_delivery"
     " BEGIN SELECT RAISE(ABORT, 'the disclosure log is append-only'); END;"
     "CREATE TRIGGER audit_delivery_no_delete BEFORE DELETE ON audit_entry_delivery"
     " BEGIN SELECT RAISE(ABORT, 'the disclosure log is append-only'); END;"
     "CREATE TRIGGER audit_version_no_update BEFORE UPDATE ON audit_entry_version"
     " BEGIN SELECT RAISE(ABORT, 'the disclosure log is append-only'); END;"
     "CREATE TRIGGER audit_version_no_delete BEFORE DELETE ON audit_entry_version"
     " BEGIN SELECT RAISE(ABORT, 'the disclosure log is append-only'); END;",
     /* PostgreSQL (the new tables are not partitioned: they are read by
      * seq, and by delivery or subject when tracing) */
     "ALTER TABLE audit_entry ADD COLUMN format INTEGER NOT NULL DEFAULT 1;"
     "ALTER TABLE audit_entry ADD COLUMN case_ref TEXT NOT NULL DEFAULT '';"
     "CREATE TABLE audit_entry_delivery ("
     " seq BIGINT NOT NULL,"
     " position INTEGER NOT NULL,"
     " delivery_id TEXT NOT NULL,"
     " PRIMARY KEY (seq, position));"
     "CREATE INDEX audit_entry_delivery_by_id ON audit_entry_delivery (delivery_id, seq);"
     "CREATE TABLE audit_entry_version ("
     " seq BIGINT NOT NULL,"
     " position INTEGER NOT NULL,"
     " delivery INTEGER NOT NULL,"
     " kind TEXT NOT NULL,"
     " subject TEXT NOT NULL,"
     " period TEXT NOT NULL,"
     " version BIGINT NOT NULL,"
     " PRIMARY KEY (seq, position));"
     "CREATE INDEX audit_entry_version_by_subject ON audit_entry_version"
     " (subject, period, version, seq);"
     "CREATE TRIGGER audit_delivery_append_only BEFORE UPDATE OR DELETE ON audit_entry_delivery"
     " FOR EACH ROW EXECUTE FUNCTION audit_append_only();"
     "CREATE TRIGGER audit_version_append_only BEFORE UPDATE OR DELETE ON audit_entry_version"
     " FOR EACH ROW EXECUTE FUNCTION audit_append_only();"},
    /* 5: data errors (erratum.c): a delivery or record versions marked
     * erroneous by the data owner (keyed by what they mark, so that marking
     * again finds the first), and the notices sent, one per recipient
     * organisation, with the disclosures each named. */
    {5,
     "CREATE TABLE audit_erratum ("
     " id INTEGER PRIMARY KEY,"
     " time_ms INTEGER NOT NULL,"
     " actor TEXT NOT NULL,"
     " reason TEXT NOT NULL,"
     " replacement TEXT NOT NULL,"
     " delivery_id TEXT NOT NULL,"
     " mark_key TEXT NOT NULL UNIQUE);"
     "CREATE TABLE audit_erratum_version ("
     " erratum_id INTEGER NOT NULL,"
     " position INTEGER NOT NULL,"
     " service TEXT NOT NULL,"
     " kind TEXT NOT NULL,"
     " subject TEXT NOT NULL,"
     " period TEXT NOT NULL,"
     " version INTEGER NOT NULL,"
     " PRIMARY KEY (erratum_id, position)) WITHOUT ROWID;"
     "CREATE TABLE audit_erratum_notice ("
     " erratum_id INTEGER NOT NULL,"
     " org_cvr TEXT NOT NULL,"
     " time_ms INTEGER NOT NULL,"
     " mailbox TEXT NOT NULL,"
     " disclosures TEXT NOT NULL,"
     " PRIMARY KEY (erratum_id, org_cvr)) WITHOUT ROWID;",
     /* PostgreSQL */
     "CREATE TABLE audit_erratum ("
     " id BIGINT PRIMARY KEY,"
     " time_ms BIGINT NOT NULL,"
     " actor TEXT NOT NULL,"
     " reason TEXT NOT NULL,"
     " replacement TEXT NOT NULL,"
     " delivery_id TEXT NOT NULL,"
     " mark_key TEXT NOT NULL UNIQUE);"
     "CREATE TABLE audit_erratum_version ("
     " erratum_id BIGINT NOT NULL,"
     " position INTEGER NOT NULL,"
     " service TEXT NOT NULL,"
     " kind TEXT NOT NULL,"
     " subject TEXT NOT NULL,"
     " period TEXT NOT NULL,"
     " version BIGINT NOT NULL,"
     " PRIMARY KEY (erratum_id, position));"
     "CREATE TABLE audit_erratum_notice ("
     " erratum_id BIGINT NOT NULL,"
     " org_cvr TEXT NOT NULL,"
     " time_ms BIGINT NOT NULL,"
     " mailbox TEXT NOT NULL,"
     " disclosures TEXT NOT NULL,"
     " PRIMARY KEY (erratum_id, org_cvr));"},
    /* 6: the canonical entry's version 3 (canonical.c): the supplier whose
     * certificate made a call, and the company (SE number) a call acted for
     * under its authorisation; "" in every entry before. */
    {6,
     "ALTER TABLE audit_entry ADD COLUMN supplier_cvr TEXT NOT NULL DEFAULT '';"
     "ALTER TABLE audit_entry ADD COLUMN on_behalf_se TEXT NOT NULL DEFAULT '';",
     /* PostgreSQL */
     "ALTER TABLE audit_entry ADD COLUMN supplier_cvr TEXT NOT NULL DEFAULT '';"
     "ALTER TABLE audit_entry ADD COLUMN on_behalf_se TEXT NOT NULL DEFAULT '';"},
    /* 7: PostgreSQL only (record.c, expect_head): the writer's check, inside
     * a batch's transaction and with the write lock held, that the log's
     * head is the one it holds in memory; it fails the transaction with
     * SQLSTATE 40001 when another writer moved it. A procedure, so that
     * the check is a command that goes out in the batch's pipeline. Times
     * never go backwards along the chain, so every entry from the head on
     * has a time_ms at least the head's: only the newest partitions are
     * read. (When the head in memory is no entry of the store's, whatever
     * the query finds differs from it: the hash binds the time.) */
    {7, "SELECT 1",
     "CREATE PROCEDURE audit_expect_head(p_seq BIGINT, p_hash BYTEA, p_time BIGINT)"
     " LANGUAGE plpgsql AS $$"
     " DECLARE h RECORD;"
     " BEGIN"
     "  SELECT seq, entry_hash INTO h FROM audit_entry WHERE time_ms >= p_time"
     "   ORDER BY seq DESC LIMIT 1;"
     "  IF (NOT FOUND AND p_seq = 0) OR (FOUND AND h.seq = p_seq AND h.entry_hash = p_hash) THEN"
     "   RETURN;"
     "  END IF;"
     "  RAISE EXCEPTION 'the disclosure log''s head moved' USING ERRCODE = 'serialization_failure';"
     " END $$;"},
    /* 8: PostgreSQL only (record.c, expect_head): the same check as 7's
     * procedure, now a plain SELECT whose only PL/pgSQL is the raise: a
     * CALL cost the server 90 us of a batch's time (pg_stat_statements,
     * bench/data.sh at 8 connections), its query 25 of them, the most of
     * any statement on the data path. 7's procedure stays for nodes of the
     * previous version during a rolling upgrade. */
    {8, "SELECT 1",
     "CREATE FUNCTION audit_head_moved_unless(ok BOOLEAN) RETURNS BOOLEAN"
     " LANGUAGE plpgsql AS $$"
     " BEGIN"
     "  IF ok THEN RETURN true; END IF;"
     "  RAISE EXCEPTION 'the disclosure log''s head moved' USING ERRCODE = 'serialization_failure';"
     " END $$;"},
};

int audit_migrate(store_t *st, err_t *err)
{
    return store_migrate(st, "audit", audit_migrations,
                         sizeof audit_migrations / sizeof audit_migrations[0], err);
}

int audit_migrate_to(store_t *st, int version, err_t *err)
{
    size_t n = 0;
    while (n < sizeof audit_migrations / sizeof audit_migrations[0] &&
           audit_migrations[n].version <= version)
        n++;
    return store_migrate(st, "audit", audit_migrations, n, err);
}

/* The relay's keys (audit.h: struct audit_relay_config): an address
 * needs the three files, which are resolved like every path. */
static int relay_config(const struct dupla_config *cfg, const char *listen, const char *to,
                        const char *cert, const char *key, const char *ca,
                        struct audit_relay_config *out, err_t *err)
{
    if (strlen(listen) >= sizeof out->listen || strlen(to) >= sizeof out->to)
        return err_param(err, DUPLA_EINVAL, listen[0] ? "relay_listen" : "relay_to",
                         "%s: audit.relay_listen and relay_to: at most %zu bytes", cfg->path,
                         sizeof out->to - 1);
    snprintf(out->listen, sizeof out->listen, "%s", listen);
    snprintf(out->to, sizeof out->to, "%s", to);
    if (!listen[0] && !to[0])
        return 0;
    const char *names[] = {"relay_cert", "relay_key", "relay_ca"};
    const char *values[] = {cert, key, ca};
    char *paths[] = {out->cert, out->key, out->ca};
    for (int i = 0; i < 3; i++) {
        if (!values[i][0])
            return err_param(err, DUPLA_EINVAL, names[i],
                             "%s: audit.%s is needed with audit.relay_listen or relay_to (the "
                             "links between nodes are mutually authenticated TLS)",
                             cfg->path, names[i]);
        if (config_resolve_path(cfg, values[i], paths[i], CONFIG_PATH_MAX))
            return err_param(err, DUPLA_EINVAL, names[i], "%s: audit.%s: path too long", cfg->path,
                             names[i]);
    }
    return 0;
}

int audit_config_read(const struct dupla_config *cfg, struct audit_config *out, err_t *err)
{
    memset(out, 0, sizeof *out);
    json_t *sec = config_section(cfg, "audit");
    static const char *const keys[] = {
        "checkpoint_every", "checkpoint_seconds", "queue_max",        "signing_key", "origin",
        "commit_barrier",   "linger_us",          "relay_listen",     "relay_to",    "relay_cert",
        "relay_key",        "relay_ca",           "relay_timeout_ms", NULL};
    long long every, seconds, queue, linger, relay_timeout;
    int barrier;
    const char *key, *origin, *r_listen, *r_to, *r_cert, *r_key, *r_ca;
    int rc;
    if ((rc = config_only_keys(sec, "audit", keys, err)) ||
        (rc = config_get_int(sec, "audit", "checkpoint_every", 1, 100000000,
                             AUDIT_CHECKPOINT_EVERY_DEFAULT, &every, err)) ||
        (rc = config_get_int(sec, "audit", "checkpoint_seconds", 1, 86400,
                             AUDIT_CHECKPOINT_SECONDS_DEFAULT, &seconds, err)) ||
        (rc = config_get_int(sec, "audit", "queue_max", 1, AUDIT_QUEUE_MAX, AUDIT_QUEUE_DEFAULT,
                             &queue, err)) ||
        (rc = config_get_string(sec, "audit", "signing_key", "", &key, err)) ||
        (rc = config_get_string(sec, "audit", "origin", "", &origin, err)) ||
        (rc = config_get_bool(sec, "audit", "commit_barrier", 1, &barrier, err)) ||
        (rc = config_get_int(sec, "audit", "linger_us", 0, AUDIT_LINGER_US_MAX,
                             AUDIT_LINGER_US_DEFAULT, &linger, err)) ||
        (rc = config_get_string(sec, "audit", "relay_listen", "", &r_listen, err)) ||
        (rc = config_get_string(sec, "audit", "relay_to", "", &r_to, err)) ||
        (rc = config_get_string(sec, "audit", "relay_cert", "", &r_cert, err)) ||
        (rc = config_get_string(sec, "audit", "relay_key", "", &r_key, err)) ||
        (rc = config_get_string(sec, "audit", "relay_ca", "", &r_ca, err)) ||
        (rc = config_get_int(sec, "audit", "relay_timeout_ms", 100, 60000,
                             AUDIT_RELAY_TIMEOUT_MS_DEFAULT, &relay_timeout, err)))
        return rc;
    if ((rc = relay_config(cfg, r_listen, r_to, r_cert, r_key, r_ca, &out->relay, err)))
        return rc;
    out->relay.timeout_ms = (unsigned)relay_timeout;
    out->commit_barrier = barrier;
    out->linger_us = (unsigned)linger;
    if (strlen(origin) >= sizeof out->origin || strchr(origin, ' ') || strchr(origin, '+'))
        return err_param(err, DUPLA_EINVAL, "origin",
                         "%s: audit.origin must be at most %zu bytes, without spaces or '+'",
                         cfg->path, sizeof out->origin - 1);
    snprintf(out->origin, sizeof out->origin, "%s", origin);
    out->checkpoint_every = (unsigned)every;
    out->checkpoint_seconds = (unsigned)seconds;
    out->queue_max = (unsigned)queue;
    if (key[0] && config_resolve_path(cfg, key, out->signing_key, sizeof out->signing_key))
        return err_param(err, DUPLA_EINVAL, "signing_key", "%s: audit.signing_key: path too long",
                         cfg->path);
    return 0;
}
