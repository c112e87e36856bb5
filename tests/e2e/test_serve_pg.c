/*
 * End-to-end: `dupla serve` on PostgreSQL: a wrong password, an unreachable
 * server or a database of a newer schema stop it at start-up with one line;
 * /health/ready answers 503 while the database is down and 200 again when
 * it is back, without a restart. Needs DUPLA_TEST_PG (the postgresql test
 * setup under scripts/pg-test-server.sh); skipped without it. The outage
 * test starts a server of its own, so that it stops no one else's.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "store/store.h"

static const char *test_pg(void)
{
    const char *pg = getenv("DUPLA_TEST_PG");
    if (!pg || !pg[0])
        cr_skip_test("no PostgreSQL server (DUPLA_TEST_PG)");
    return pg;
}

/* The value of key=... in a key/value connection string. */
static void conn_value(const char *conn, const char *key, char *out, size_t cap)
{
    char pat[32];
    snprintf(pat, sizeof pat, "%s=", key);
    const char *p = strstr(conn, pat);
    cr_assert_not_null(p, "%s in %s", key, conn);
    p += strlen(pat);
    size_t n = strcspn(p, " ");
    cr_assert_lt(n, cap);
    memcpy(out, p, n);
    out[n] = 0;
}

/* Starts serve with store = url, expecting it to refuse; returns the one
 * line it wrote about the store in line. */
static void refused(const char *url, char *line, size_t cap)
{
    char cfg[1024];
    snprintf(cfg, sizeof cfg, "{\"store\": \"%s\"}", url);
    struct e2e_options o = {.config_json = cfg};
    struct e2e_server s;
    memset(&s, 0, sizeof s);
    cr_assert_neq(e2e_start(&o, &s), 0, "serve started on %s", url);
    FILE *f = fopen(s.log, "r");
    cr_assert_not_null(f, "%s", s.log);
    char buf[2048];
    int found = 0;
    while (fgets(buf, sizeof buf, f))
        if (strstr(buf, "dupla serve:")) {
            found++;
            snprintf(line, cap, "%s", buf);
        }
    fclose(f);
    cr_assert_eq(found, 1, "one line from dupla serve (got %d)", found);
    e2e_remove_dir(&s);
}

Test(serve_pg, a_wrong_password_is_one_clear_line)
{
    const char *pg = test_pg();
    char dir[256], port[16], url[512], line[2048];
    conn_value(pg, "host", dir, sizeof dir);
    conn_value(pg, "port", port, sizeof port);
    snprintf(url, sizeof url,
             "postgresql://dupla:not-the-password@127.0.0.1:%s/dupla?connect_timeout=5", port);
    refused(url, line, sizeof line);
    cr_assert(strstr(line, "password authentication failed"), "%s", line);
    cr_assert_null(strstr(line, "not-the-password"), "the password is in the log: %s", line);
}

Test(serve_pg, an_unreachable_server_is_one_clear_line)
{
    test_pg();
    char line[2048];
    refused("postgresql://dupla@127.0.0.1:1/dupla?connect_timeout=3", line, sizeof line);
    cr_assert(strstr(line, "cannot connect to PostgreSQL"), "%s", line);
}

Test(serve_pg, a_newer_schema_is_one_clear_line)
{
    const char *pg = test_pg();
    char schema[64], url[1024], line[2048];
    snprintf(schema, sizeof schema, "newer_%ld", (long)getpid());
    /* a database that a later dupla has migrated */
    store_t *st;
    err_t err;
    cr_assert_eq(store_open(pg, NULL, &st, &err), 0, "%s", err.log);
    store_conn_t *c;
    cr_assert_eq(store_conn_get(st, &c, &err), 0);
    char sql[512];
    snprintf(sql, sizeof sql,
             "DROP SCHEMA IF EXISTS %s CASCADE; CREATE SCHEMA %s;"
             "CREATE TABLE %s.schema_migrations (module TEXT NOT NULL, version INTEGER NOT NULL,"
             " applied_ms BIGINT NOT NULL, PRIMARY KEY (module, version));"
             "INSERT INTO %s.schema_migrations VALUES ('identity', 999, 0)",
             schema, schema, schema, schema);
    cr_assert_eq(store_exec(c, sql, &err), 0, "%s", err.log);
    store_conn_put(c);
    store_close(st);
    snprintf(url, sizeof url, "%s options='-csearch_path=%s'", pg, schema);
    refused(url, line, sizeof line);
    cr_assert(strstr(line, "newer schema"), "%s", line);
}

/* Runs scripts/pg-test-server.sh with args; its first output line in out. */
static int pg_script(const char *args, char *out, size_t cap)
{
    const char *root = getenv("DUPLA_SOURCE_ROOT");
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s/scripts/pg-test-server.sh %s", root ? root : ".", args);
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    if (out) {
        out[0] = 0;
        char buf[1024];
        while (fgets(buf, sizeof buf, p))
            if (!out[0]) {
                buf[strcspn(buf, "\n")] = 0;
                snprintf(out, cap, "%s", buf);
            }
    }
    return pclose(p);
}

static int ready_status(const struct e2e_server *s)
{
    struct e2e_response r;
    int rc = e2e_get(s, "api", "/health/ready", &r);
    int status = rc == 0 ? (int)r.status : -1;
    e2e_response_free(&r);
    return status;
}

static bool wait_ready(const struct e2e_server *s, int want, int seconds)
{
    for (int i = 0; i < seconds * 10; i++) {
        if (ready_status(s) == want)
            return true;
        usleep(100 * 1000);
    }
    return false;
}

Test(serve_pg, ready_is_503_while_the_database_is_down_and_recovers_by_itself, .timeout = 170)
{
    test_pg();
    char first[1024], conn[512], dir[256];
    cr_assert_eq(pg_script("start", first, sizeof first), 0);
    /* DUPLA_TEST_PG='host=DIR port=N user=dupla dbname=dupla' */
    char *q = strchr(first, '\'');
    cr_assert_not_null(q, "%s", first);
    snprintf(conn, sizeof conn, "%s", q + 1);
    conn[strcspn(conn, "'")] = 0;
    conn_value(conn, "host", dir, sizeof dir);
    char cfg[1024];
    snprintf(cfg, sizeof cfg, "{\"store\": \"%s\"}", conn);
    struct e2e_options o = {.config_json = cfg};
    struct e2e_server s;
    int started = e2e_start(&o, &s);
    char args[512];
    if (started == 0) {
        cr_expect_eq(ready_status(&s), 200);
        snprintf(args, sizeof args, "pause %s", dir);
        cr_expect_eq(pg_script(args, NULL, 0), 0);
        cr_expect(wait_ready(&s, 503, 20), "not 503 while the database is down");
        struct e2e_response r;
        if (e2e_get(&s, "api", "/health/ready", &r) == 0) {
            cr_expect_eq(r.status, 503);
            cr_expect_not_null(e2e_header(&r, "Retry-After"));
            e2e_response_free(&r);
        }
        snprintf(args, sizeof args, "resume %s", dir);
        cr_expect_eq(pg_script(args, NULL, 0), 0);
        cr_expect(wait_ready(&s, 200, 30), "not ready again after the database came back");
        cr_expect_eq(e2e_stop(&s), 0);
    }
    snprintf(args, sizeof args, "stop %s", dir);
    pg_script(args, NULL, 0);
    cr_assert_eq(started, 0, "serve did not start on %s", conn);
}
