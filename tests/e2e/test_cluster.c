/*
 * End-to-end: several `dupla serve` nodes on one store behave as one
 * platform (#15). Node A is an ordinary test server; nodes B and C open
 * A's store ("sqlite:<A>/dupla.db", which the PostgreSQL pass maps to one
 * schema for all three) and serve with A's PKI (server certificate, trust
 * and CRL), as nodes behind one load balancer do. A system of A's PKI gets
 * a token from each node and calls the data path through all three at
 * once; every answer carries its log entry's seq, and afterwards the log
 * is one sequence without gaps or duplicates and `dupla audit verify`
 * passes (the chain, the Merkle tree and the checkpoints several nodes
 * signed).
 *
 * SQLite: three processes on one database file in WAL mode take turns
 * through BEGIN IMMEDIATE, so the same test runs there too (a supported
 * set-up for tests, not a deployment: SQLite is one machine).
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agreement/agreement.h"
#include "api_helpers.h"
#include "catalog/catalog.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/uuid.h"
#include "harness.h"
#include "identity/identity.h"
#include "store/store.h"

#define CVR_A    "12345674"
#define NODES    3
#define CLIENTS  2  /* per node, each on its own thread */
#define CALLS    20 /* per client */
#define CP_EVERY 7  /* checkpoints often, so that several nodes sign them */

#define SYSTEMS 3 /* sysa, sysb, sysc */
static const char *const system_names[SYSTEMS] = {"sysa", "sysb", "sysc"};

struct cluster {
    int n; /* nodes started */
    struct e2e_server node[NODES];
    char key[E2E_PATH_MAX]; /* the shared checkpoint signing key */
    char agreement[AGREEMENT_ID_LEN + 1];
    char agreement2[AGREEMENT_ID_LEN + 1];
    long poll_ms;         /* identity.registry_poll_ms */
    const char *exposure; /* the "exposure" section; NULL: no rate limit in the way */
    bool expiring;        /* agreement2 ends in 3 days (before B and C start) */
    char dir[64];         /* the shared folder: checkpoint key, token keys, maildir */
};

/* ---- set-up ---- */

static void must(const struct e2e_server *s, const char *const *args)
{
    int rc = e2e_cli(s, args);
    if (rc != 0) {
        char log[E2E_PATH_MAX], cmd[E2E_PATH_MAX + 16];
        snprintf(cmd, sizeof cmd, "tail -5 %s >&2", e2e_path(s, "cli.log", log));
        (void)system(cmd);
        cr_assert_fail("dupla %s %s exited %d", args[0], args[1], rc);
    }
}

static store_t *open_store(const struct e2e_server *s)
{
    struct dupla_config cfg;
    err_t err;
    cr_assert_eq(config_load(s->config, &cfg, &err), 0, "%s", err.log);
    store_t *st;
    cr_assert_eq(store_open(cfg.store_url, NULL, &st, &err), 0, "%s", err.log);
    config_free(&cfg);
    return st;
}

static struct agreement_actor actor(int64_t id, const char *org, unsigned roles)
{
    struct agreement_actor a = {.user_id = id, .roles = roles};
    snprintf(a.user_name, sizeof a.user_name, "e2e-%lld", (long long)id);
    snprintf(a.org_cvr, sizeof a.org_cvr, "%s", org);
    return a;
}

/* An approved agreement of CVR_A for every field of Aarsopgoerelse. */
static void approve(const struct e2e_server *s, char *id)
{
    char d[E2E_PATH_MAX];
    const char *root = getenv("DUPLA_SOURCE_ROOT");
    snprintf(d, sizeof d, "%s/catalog", root ? root : ".");
    catalog_t *cat;
    err_t err;
    cr_assert_eq(catalog_load_dir(d, &cat, &err), 0, "%s", err.log);
    json_t *fields = json_array();
    for (size_t i = 0; i < catalog_count(cat); i++) {
        const struct catalog_service *sv = catalog_service_at(cat, i);
        if (strcmp(sv->path, "Aarsopgoerelse") != 0)
            continue;
        for (size_t k = 0; k < sv->n_fields; k++)
            if (!catalog_field_is_key(&sv->fields[k]))
                json_array_append_new(fields, json_string(sv->fields[k].name));
    }
    catalog_free(cat);
    cr_assert_gt(json_array_size(fields), 0);
    char today[16];
    clock_format_date((int32_t)(clock_now_ms() / 86400000LL), today, sizeof today);
    json_t *app =
        json_pack("{s:s, s:s, s:[{s:s, s:s}], s:{s:o}, s:s, s:s, s:{s:i, s:i}, s:{s:s, s:s, s:s}}",
                  "title", "E2E", "purpose", "To test.", "legal_basis", "law", "Lov", "section",
                  "§ 1", "services", "Aarsopgoerelse", fields, "systems", "all", "valid_from",
                  today, "expected_volume", "calls_per_month", 10, "subjects_per_month", 10,
                  "contact", "name", "P", "email", "p@org.example", "phone", "+45 1234 5678");
    store_t *st = open_store(s);
    agreement_t *ag;
    cr_assert_eq(agreement_open(st, NULL, &ag, &err), 0, "%s", err.log);
    struct agreement_actor p = actor(1, CVR_A, AGREEMENT_ROLE_PROCESSOR),
                           sg = actor(2, CVR_A, AGREEMENT_ROLE_SIGNATORY),
                           r = actor(3, "", AGREEMENT_ROLE_DATAFORVALTNING);
    cr_assert_eq(agreement_create(ag, &p, ENV_TEST, app, id, &err), 0, "%s", err.detail);
    json_decref(app);
    cr_assert_eq(agreement_sign(ag, &sg, str_from_cstr(id), &err), 0, "%s", err.detail);
    cr_assert_eq(agreement_approve(ag, &r, str_from_cstr(id), "Ok.", NULL, NULL, &err), 0, "%s",
                 err.detail);
    agreement_close(ag);
    store_close(st);
}

/* The configuration every node shares (registry polls fast, no rate
 * limit in the way, checkpoints every CP_EVERY entries, one token key
 * folder and one incident maildir, as nodes of one platform have) plus,
 * for B and C, A's store. */
static void node_config(const struct cluster *c, const struct e2e_server *a, char *out, size_t cap)
{
    char store[E2E_PATH_MAX + 64] = "";
    if (a)
        snprintf(store, sizeof store, "\"store\": \"sqlite:%s/dupla.db\", ", a->dir);
    snprintf(out, cap,
             "{%s\"identity\": {\"registry_poll_ms\": %ld},"
             " \"exposure\": %s,"
             " \"token\": {\"key_dir\": \"%s/token-keys\"},"
             " \"incident\": {\"general_mailbox\": \"df@skat.example\","
             " \"maildir\": \"%s/Maildir\"},"
             " \"audit\": {\"signing_key\": \"%s\", \"checkpoint_every\": %d}}",
             store, c->poll_ms,
             c->exposure ? c->exposure : "{\"rate_per_second\": 100000, \"rate_burst\": 100000}",
             c->dir, c->dir, c->key, CP_EVERY);
}

/* Listeners "api" and "token" with A's PKI (absolute paths). */
static void node_listeners(const struct e2e_server *a, char *out, size_t cap)
{
    snprintf(out, cap,
             "[{\"name\": \"api\", \"client_cert\": \"none\", \"cert\": \"%s/server.pem\","
             " \"key\": \"%s/server.key\"},"
             " {\"name\": \"token\", \"client_cert\": \"request\", \"cert\": \"%s/server.pem\","
             " \"key\": \"%s/server.key\", \"trust\": \"%s/ca.pem\", \"crl\": \"%s/crl.pem\"}]",
             a->pki_dir, a->pki_dir, a->pki_dir, a->pki_dir, a->pki_dir, a->pki_dir);
}

/* Starts n nodes; registry_poll_ms poll; c->exposure as set before. */
static void cluster_start(struct cluster *c, int n, long poll)
{
    const char *exposure = c->exposure;
    bool expiring = c->expiring;
    memset(c, 0, sizeof *c);
    c->exposure = exposure;
    c->expiring = expiring;
    c->n = n;
    c->poll_ms = poll;
    char *dir = c->dir;
    snprintf(c->dir, sizeof c->dir, "/tmp/dupla-cluster-XXXXXX");
    cr_assert_not_null(mkdtemp(c->dir));
    snprintf(c->key, sizeof c->key, "%s/audit.key", dir);
    static const char *const sub[] = {"Maildir", "Maildir/new", "Maildir/cur", "Maildir/tmp"};
    for (size_t i = 0; i < sizeof sub / sizeof sub[0]; i++) {
        char p[E2E_PATH_MAX];
        snprintf(p, sizeof p, "%s/%s", dir, sub[i]);
        cr_assert_eq(mkdir(p, 0700), 0, "%s", p);
    }
    const char *gen[] = {"pki", "keygen", "--out", c->key, NULL};
    char out[E2E_PATH_MAX];
    snprintf(out, sizeof out, "%s/keygen.log", dir);
    cr_assert_eq(e2e_run_dupla(gen, out), 0);

    char cfg[4 * E2E_PATH_MAX], ls[8 * E2E_PATH_MAX];
    node_config(c, NULL, cfg, sizeof cfg);
    struct e2e_options oa = {.config_json = cfg};
    cr_assert_eq(e2e_start(&oa, &c->node[0]), 0);
    const struct e2e_server *a = &c->node[0];
    const char *org[] = {"org",     "create", "--name",          "Kommune A", "--cvr", CVR_A,
                         "--admin", "a@a.dk", "--contact-email", "k@a.dk",    NULL};
    must(a, org);
    for (int i = 0; i < SYSTEMS; i++) {
        cr_assert_eq(e2e_issue_system(a, system_names[i], CVR_A, NULL), 0);
        char pem[E2E_PATH_MAX], file[32];
        snprintf(file, sizeof file, "%s.pem", system_names[i]);
        const char *reg[] = {"system", "register",      "--org",  CVR_A,
                             "--name", system_names[i], "--cert", e2e_pki_path(a, file, pem),
                             NULL};
        must(a, reg);
    }
    approve(a, c->agreement);
    approve(a, c->agreement2);
    if (c->expiring) {
        store_t *st = open_store(a);
        store_conn_t *conn;
        err_t err;
        cr_assert_eq(store_conn_get(st, &conn, &err), 0, "%s", err.log);
        store_stmt_t *q;
        cr_assert_eq(store_prepare(conn,
                                   "UPDATE agreement_version SET valid_until = ? WHERE"
                                   " agreement_id = ?",
                                   &q, &err),
                     0, "%s", err.log);
        store_bind_int64(q, 1, clock_now_ms() + 3 * 86400000LL);
        store_bind_cstr(q, 2, c->agreement2);
        cr_assert_eq(store_step(q, &err), STORE_DONE, "%s", err.log);
        store_stmt_done(q);
        store_conn_put(conn);
        store_close(st);
    }

    node_config(c, a, cfg, sizeof cfg);
    node_listeners(a, ls, sizeof ls);
    struct e2e_options ob = {
        .config_json = cfg, .listeners_json = ls, .no_default_listeners = true};
    for (int i = 1; i < n; i++)
        cr_assert_eq(e2e_start(&ob, &c->node[i]), 0, "node %d", i);
    usleep(300 * 1000); /* A's registry poll sees the agreement */
}

static void remove_key_dir(const struct cluster *c)
{
    char cmd[E2E_PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf %.*s", (int)(strrchr(c->key, '/') - c->key), c->key);
    (void)system(cmd);
}

/* ---- a client of one node ---- */

struct client {
    const struct cluster *cl;
    const struct e2e_server *node;
    const char *system; /* NULL: sysa */
    char token[4096];
    int64_t seqs[CALLS];
    int ok;
    char failure[512];
};

static int get_token(struct client *k)
{
    const struct e2e_server *a = &k->cl->node[0];
    char p12[E2E_PATH_MAX], pwfile[E2E_PATH_MAX], pw[256], ca[E2E_PATH_MAX];
    char file[48];
    snprintf(file, sizeof file, "%s.p12", k->system ? k->system : "sysa");
    e2e_pki_path(a, file, p12);
    snprintf(file, sizeof file, "%s.p12.pass", k->system ? k->system : "sysa");
    if (e2e_read_line(e2e_pki_path(a, file, pwfile), pw, sizeof pw))
        return -1;
    const char *headers[] = {"x-transaktion-id: 6f1c2d3e-0000-4000-8000-000000000001",
                             "Content-Type: application/x-www-form-urlencoded", NULL};
    struct e2e_request rq = {.method = "POST",
                             .listener = "token",
                             .path = "/token",
                             .headers = headers,
                             .body = "client_id=api-gateway&scope=openid&grant_type=password",
                             .p12_file = p12,
                             .p12_password = pw,
                             .ca_file = e2e_pki_path(a, "ca.pem", ca)};
    struct e2e_response r;
    int rc = e2e_request(k->node, &rq, &r);
    if (rc == 0 && r.status == 200 && r.json)
        snprintf(k->token, sizeof k->token, "%s",
                 json_string_value(json_object_get(r.json, "access_token")));
    else
        snprintf(k->failure, sizeof k->failure, "token: %ld %s %s", r.status, r.error,
                 r.body ? r.body : "");
    rc = k->token[0] ? 0 : -1;
    e2e_response_free(&r);
    return rc;
}

/* One data call through k's node under agreement: its status (0: no
 * answer; -1: a 200 without its log entry's seq) and, on 200, the seq. */
static long one_call(struct client *k, const char *agreement, int64_t *seq_out)
{
    const struct e2e_server *a = &k->cl->node[0];
    char ca[E2E_PATH_MAX], auth[4200], rid[96], ag[160], id[UUID_STR_LEN + 1];
    e2e_pki_path(a, "ca.pem", ca);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", k->token);
    snprintf(ag, sizeof ag, "UFST-Adgangsgrundlag: %s%s", AGREEMENT_URN_PREFIX, agreement);
    uuid_v4(id);
    snprintf(rid, sizeof rid, "X-Request-ID: %s", id);
    const char *h[] = {auth, rid, "X-Transaktions-ID: 6f1c2d3e-0000-4000-8000-000000000002", ag,
                       NULL};
    struct e2e_request rq = {
        .path = "/Aarsopgoerelse?PersonCPRNummer=0101701234", .headers = h, .ca_file = ca};
    struct e2e_response r;
    int rc = e2e_request(k->node, &rq, &r);
    const char *seq = rc == 0 ? e2e_header(&r, "X-Dupla-Udlevering") : NULL;
    long status = rc == 0 ? r.status : 0;
    if (status == 200 && seq && seq_out)
        *seq_out = strtoll(seq, NULL, 10);
    /* the failure's text is cut short on purpose when it is long */
    if ((status != 200 || !seq) && snprintf(k->failure, sizeof k->failure, "%ld %s %.300s",
                                            r.status, r.error, r.body ? r.body : "") < 0)
        k->failure[0] = 0;
    e2e_response_free(&r);
    return status == 200 && !seq ? -1 : status;
}

static void *client_main(void *arg)
{
    struct client *k = arg;
    for (int i = 0; i < CALLS; i++) {
        if (one_call(k, k->cl->agreement, &k->seqs[i]) != 200)
            return NULL;
        k->ok++;
    }
    return NULL;
}

static int cmp_i64(const void *x, const void *y)
{
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
    return (a > b) - (a < b);
}

Test(cluster, three_nodes_append_one_log, .timeout = 170)
{
    struct cluster *c = calloc(1, sizeof *c);
    cr_assert_not_null(c);
    cluster_start(c, NODES, 50);
    static struct client k[NODES * CLIENTS];
    pthread_t t[NODES * CLIENTS];
    for (int i = 0; i < NODES * CLIENTS; i++) {
        memset(&k[i], 0, sizeof k[i]);
        k[i].cl = c;
        k[i].node = &c->node[i % NODES];
        /* one at a time: the harness turns the .p12 into PEM files named
         * by the process id */
        cr_assert_eq(get_token(&k[i]), 0, "%s", k[i].failure);
    }
    int64_t t0 = clock_mono_ns();
    for (int i = 0; i < NODES * CLIENTS; i++) {
        cr_assert_eq(pthread_create(&t[i], NULL, client_main, &k[i]), 0);
    }
    for (int i = 0; i < NODES * CLIENTS; i++)
        pthread_join(t[i], NULL);
    double secs = (double)(clock_mono_ns() - t0) / 1e9;
    int64_t all[NODES * CLIENTS * CALLS];
    size_t n = 0;
    for (int i = 0; i < NODES * CLIENTS; i++) {
        if (k[i].ok != CALLS)
            e2e_log_tail(k[i].node, 20);
        cr_assert_eq(k[i].ok, CALLS, "client %d (node %d): %s", i, i % NODES, k[i].failure);
        for (int j = 0; j < CALLS; j++)
            all[n++] = k[i].seqs[j];
    }
    fprintf(stderr, "cluster: %zu calls through %d nodes in %.2f s\n", n, NODES, secs);
    /* every answer its own entry; the entries 1..n, no gap, no duplicate */
    qsort(all, n, sizeof all[0], cmp_i64);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(all[i], (int64_t)i + 1, "answer %zu carries seq %lld", i, (long long)all[i]);
    store_t *st = open_store(&c->node[0]);
    store_conn_t *conn;
    err_t err;
    cr_assert_eq(store_conn_get(st, &conn, &err), 0, "%s", err.log);
    int64_t count = 0, max = 0, signers = 0;
    cr_assert_eq(store_query_int64(conn, "SELECT COUNT(*) FROM audit_entry", 0, &count, &err), 0);
    cr_assert_eq(store_query_int64(conn, "SELECT MAX(seq) FROM audit_entry", 0, &max, &err), 0);
    cr_assert_eq(
        store_query_int64(conn, "SELECT COUNT(*) FROM audit_checkpoint", 0, &signers, &err), 0);
    store_conn_put(conn);
    store_close(st);
    cr_assert_eq(count, (int64_t)n);
    cr_assert_eq(max, (int64_t)n);
    cr_assert_geq(signers, (int64_t)n / CP_EVERY - 1, "checkpoints: %lld", (long long)signers);
    /* the chain, the tree and every checkpoint verify, also after B and C
     * stopped (a clean stop signs a last checkpoint on each node) */
    const char *verify[] = {"audit", "verify", NULL};
    cr_assert_eq(e2e_cli(&c->node[0], verify), 0, "dupla audit verify (see cli.log)");
    for (int i = NODES - 1; i > 0; i--)
        cr_expect_eq(e2e_stop(&c->node[i]), 0, "node %d stopped cleanly", i);
    cr_assert_eq(e2e_cli(&c->node[0], verify), 0, "dupla audit verify after the stops");
    cr_expect_eq(e2e_stop(&c->node[0]), 0, "node A stopped cleanly");
    remove_key_dir(c);
    free(c);
}

/* ---- registries: a change through one node is enforced on the others ---- */

/* Calls through k's node every 5 ms until the answer is not 200 (at most
 * 5 s); the status then, and the ms from t0 (monotonic ns) to it. */
static long until_refused(struct client *k, const char *agreement, int64_t t0, double *ms)
{
    long status = 200;
    while (status == 200 && clock_mono_ns() - t0 < 5000 * 1000000LL) {
        status = one_call(k, agreement, NULL);
        if (status == 200)
            usleep(5000);
    }
    *ms = (double)(clock_mono_ns() - t0) / 1e6;
    return status;
}

/* The bound the test holds a node to: PostgreSQL pushes the change
 * (LISTEN/NOTIFY) and must be within 1 s; SQLite (not a deployment with
 * several nodes) has only the once-a-second generation check. */
static double bound_ms(void)
{
    const char *pg = getenv("DUPLA_TEST_STORE_PG");
    return pg && pg[0] ? 1000 : 2500;
}

Test(cluster, a_revocation_through_one_node_is_enforced_by_another, .timeout = 170)
{
    struct cluster *c = calloc(1, sizeof *c);
    cr_assert_not_null(c);
    /* identity's lookup poll at its default (1 s): what makes it faster
     * on PostgreSQL is the notification */
    cluster_start(c, 2, 1000);
    const struct e2e_server *a = &c->node[0], *b = &c->node[1];
    struct client k[SYSTEMS];
    for (int i = 0; i < SYSTEMS; i++) {
        memset(&k[i], 0, sizeof k[i]);
        k[i].cl = c;
        k[i].node = b;
        k[i].system = system_names[i];
        cr_assert_eq(get_token(&k[i]), 0, "%s", k[i].failure);
        cr_assert_eq(one_call(&k[i], c->agreement, NULL), 200, "%s: %s", system_names[i],
                     k[i].failure);
    }
    double ms, cli_ms;
    long st;
    /* the agreement, revoked by another process on the store */
    store_t *store = open_store(a);
    agreement_t *ag;
    err_t err;
    cr_assert_eq(agreement_open(store, NULL, &ag, &err), 0, "%s", err.log);
    struct agreement_actor r = actor(3, "", AGREEMENT_ROLE_DATAFORVALTNING);
    int64_t t0 = clock_mono_ns();
    cr_assert_eq(agreement_revoke(ag, &r, str_from_cstr(c->agreement), "Test.", &err), 0, "%s",
                 err.detail);
    st = until_refused(&k[0], c->agreement, t0, &ms);
    agreement_close(ag);
    store_close(store);
    fprintf(stderr, "cluster: agreement revoked; node B refused after %.1f ms (%ld)\n", ms, st);
    cr_assert(st == 403 || st == 401, "status %ld: %s", st, k[0].failure);
    cr_assert_lt(ms, bound_ms());
    /* the other agreement still serves */
    cr_assert_eq(one_call(&k[1], c->agreement2, NULL), 200, "%s", k[1].failure);

    /* a system, revoked through the CLI */
    const char *rs[] = {"system", "revoke", CVR_A "/sysb", NULL};
    t0 = clock_mono_ns();
    must(a, rs);
    cli_ms = (double)(clock_mono_ns() - t0) / 1e6;
    st = until_refused(&k[1], c->agreement2, t0, &ms);
    fprintf(stderr,
            "cluster: system revoked; node B refused %.1f ms after the CLI began (%.1f ms "
            "after it ended) (%ld)\n",
            ms, ms - cli_ms, st);
    cr_assert(st == 403 || st == 401, "status %ld: %s", st, k[1].failure);
    /* the commit is somewhere in the CLI's run, whose start-up (store,
     * migrations check) takes most of it on a busy machine */
    cr_assert_lt(ms - cli_ms, bound_ms());

    /* a certificate */
    char sha[65] = "";
    store = open_store(a);
    store_conn_t *conn;
    cr_assert_eq(store_conn_get(store, &conn, &err), 0);
    store_stmt_t *q;
    cr_assert_eq(store_prepare(conn,
                               "SELECT c.sha256 FROM identity_cert c JOIN identity_system s ON "
                               "s.id = c.system_id WHERE s.name = 'sysc'",
                               &q, &err),
                 0, "%s", err.log);
    cr_assert_eq(store_step(q, &err), STORE_ROW);
    str_copy(store_col_text(q, 0), sha, sizeof sha);
    store_stmt_done(q);
    store_conn_put(conn);
    store_close(store);
    const char *rc[] = {"system", "revoke-cert", sha, NULL};
    t0 = clock_mono_ns();
    must(a, rc);
    cli_ms = (double)(clock_mono_ns() - t0) / 1e6;
    st = until_refused(&k[2], c->agreement2, t0, &ms);
    fprintf(stderr,
            "cluster: certificate revoked; node B refused %.1f ms after the CLI began (%.1f ms "
            "after it ended) (%ld)\n",
            ms, ms - cli_ms, st);
    cr_assert(st == 403 || st == 401, "status %ld: %s", st, k[2].failure);
    /* the commit is somewhere in the CLI's run, whose start-up (store,
     * migrations check) takes most of it on a busy machine */
    cr_assert_lt(ms - cli_ms, bound_ms());

    /* PostgreSQL: node B heard of the changes */
    if (getenv("DUPLA_TEST_STORE_PG") && getenv("DUPLA_TEST_STORE_PG")[0]) {
        struct e2e_response m;
        char ca[E2E_PATH_MAX];
        struct e2e_request rq = {.path = "/metrics", .ca_file = e2e_pki_path(a, "ca.pem", ca)};
        cr_assert_eq(e2e_request(b, &rq, &m), 0, "%s", m.error);
        const char *line = strstr(m.body, "\ndupla_registry_notifications_total ");
        cr_assert_not_null(line, "no notification counter");
        cr_assert_gt(strtol(line + strlen("\ndupla_registry_notifications_total "), NULL, 10), 2);
        e2e_response_free(&m);
    }
    for (int i = c->n - 1; i >= 0; i--)
        cr_expect_eq(e2e_stop(&c->node[i]), 0, "node %d stopped cleanly", i);
    remove_key_dir(c);
    free(c);
}

Test(cluster, the_rate_limit_holds_across_nodes, .timeout = 170)
{
    struct cluster *c = calloc(1, sizeof *c);
    cr_assert_not_null(c);
    /* 12 calls at once, then one a second, for the agreement and system
     * whichever node a call reaches (#15.1) */
    c->exposure = "{\"rate_per_second\": 1, \"rate_burst\": 12, \"rate_shared\": true}";
    cluster_start(c, NODES, 50);
    struct client k[NODES];
    for (int i = 0; i < NODES; i++) {
        memset(&k[i], 0, sizeof k[i]);
        k[i].cl = c;
        k[i].node = &c->node[i];
        cr_assert_eq(get_token(&k[i]), 0, "%s", k[i].failure);
    }
    int64_t t0 = clock_mono_ns();
    int ok = 0, limited = 0;
    for (int round = 0; round < 10; round++)
        for (int i = 0; i < NODES; i++) {
            long st = one_call(&k[i], c->agreement, NULL);
            if (st == 200)
                ok++;
            else if (st == 429)
                limited++;
            else
                cr_assert_fail("node %d answered %ld: %s", i, st, k[i].failure);
        }
    double secs = (double)(clock_mono_ns() - t0) / 1e9;
    fprintf(stderr,
            "cluster: shared rate limit: %d of 30 calls through 3 nodes let through in %.2f s"
            " (budget 12 + 1/s), %d refused 429\n",
            ok, secs, limited);
    /* each node alone would have let its 10 through */
    cr_assert_geq(ok, 12);
    cr_assert_leq(ok, 12 + (int)secs + 1, "%d let through in %.2f s", ok, secs);
    cr_assert_eq(ok + limited, 30);
    for (int i = 0; i < NODES; i++)
        e2e_stop(&c->node[i]);
    remove_key_dir(c);
    free(c);
}

/* ---- the rest of the shared state: token keys, sessions, service windows ---- */

/* A request to node i with A's CA (the certificate every node shows). */
static long node_request(const struct cluster *c, int i, struct e2e_request *rq,
                         struct e2e_response *r)
{
    char ca[E2E_PATH_MAX];
    rq->ca_file = e2e_pki_path(&c->node[0], "ca.pem", ca);
    cr_assert_eq(e2e_request(&c->node[i], rq, r), 0, "node %d: %s", i, r->error);
    return r->status;
}

/* Node i's JWKS into out; the number of keys in it. */
static size_t jwks_of(const struct cluster *c, int i, char *out, size_t cap)
{
    struct e2e_request rq = {.path = "/.well-known/jwks.json"};
    struct e2e_response r;
    cr_assert_eq(node_request(c, i, &rq, &r), 200, "node %d: jwks %s", i, r.body);
    snprintf(out, cap, "%s", r.body);
    size_t n = json_array_size(json_object_get(r.json, "keys"));
    e2e_response_free(&r);
    return n;
}

/* Whether every node publishes the same JWKS with n keys (into out). */
static bool jwks_agree(const struct cluster *c, size_t n, char *out, size_t cap)
{
    char other[8192];
    if (jwks_of(c, 0, out, cap) != n)
        return false;
    for (int i = 1; i < c->n; i++)
        if (jwks_of(c, i, other, sizeof other) != n || strcmp(out, other) != 0)
            return false;
    return true;
}

/* The JOSE header of a JWT (its first part, which names the kid). */
static void jwt_header(const char *jwt, char *out, size_t cap)
{
    snprintf(out, cap, "%.*s", (int)strcspn(jwt, "."), jwt);
}

/* A call with the session se through node i: its status. */
static long session_call(const struct cluster *c, int i, const struct api_session *se,
                         const char *method)
{
    const char *h[] = {se->cookie, se->csrf, NULL};
    struct e2e_request rq = {.method = method, .path = "/api/session", .headers = h};
    struct e2e_response r;
    long st = node_request(c, i, &rq, &r);
    e2e_response_free(&r);
    return st;
}

/* A login with password through node i: its status; the answer's
 * Retry-After (seconds, 0 when none) into *retry. */
static long login_through(const struct cluster *c, int i, const char *user, const char *password,
                          long *retry)
{
    char body[256];
    snprintf(body, sizeof body, "{\"username\":\"%s\",\"password\":\"%s\"}", user, password);
    const char *h[] = {"Content-Type: application/json", NULL};
    struct e2e_request rq = {.method = "POST", .path = "/api/session", .body = body, .headers = h};
    struct e2e_response r;
    long st = node_request(c, i, &rq, &r);
    const char *ra = e2e_header(&r, "Retry-After");
    *retry = ra ? strtol(ra, NULL, 10) : 0;
    e2e_response_free(&r);
    return st;
}

/* Calls through k's node every 5 ms until the answer is want (at most
 * 5 s); the status then, and the ms from t0 to it. */
static long until_status(struct client *k, long want, int64_t t0, double *ms)
{
    long status = -2;
    while (status != want && clock_mono_ns() - t0 < 5000 * 1000000LL) {
        status = one_call(k, k->cl->agreement, NULL);
        if (status != want)
            usleep(5000);
    }
    *ms = (double)(clock_mono_ns() - t0) / 1e6;
    return status;
}

/* Runs the CLI args with node A's configuration, then waits until node B
 * (kb) answers want; prints and bounds the delay after the CLI ended. */
static void seen_on_b(const struct e2e_server *a, struct client *kb, const char *const *args,
                      long want, const char *what)
{
    int64_t t0 = clock_mono_ns();
    must(a, args);
    double cli_ms = (double)(clock_mono_ns() - t0) / 1e6, ms;
    long st = until_status(kb, want, t0, &ms);
    fprintf(stderr, "cluster: %s %.1f ms after the CLI began (%.1f ms after it ended)\n", what, ms,
            ms - cli_ms);
    cr_assert_eq(st, want, "%s", kb->failure);
    cr_assert_lt(ms - cli_ms, bound_ms());
}

static int64_t query_int(const struct cluster *c, const char *sql)
{
    store_t *st = open_store(&c->node[0]);
    store_conn_t *conn;
    err_t err;
    cr_assert_eq(store_conn_get(st, &conn, &err), 0, "%s", err.log);
    int64_t v = -1;
    cr_assert_eq(store_query_int64(conn, sql, -1, &v, &err), 0, "%s: %s", sql, err.log);
    store_conn_put(conn);
    store_close(st);
    return v;
}

Test(cluster, token_keys_sessions_and_service_windows_are_shared, .timeout = 170)
{
    struct cluster *c = calloc(1, sizeof *c);
    cr_assert_not_null(c);
    cluster_start(c, NODES, 1000);
    const struct e2e_server *a = &c->node[0];
    char jw[8192], old_header[512], header[512];

    /* tokens: one issued by each node verifies on every node; one JWKS */
    cr_assert(jwks_agree(c, 1, jw, sizeof jw), "the nodes publish different keys: %s", jw);
    struct client k[NODES];
    for (int i = 0; i < NODES; i++) {
        memset(&k[i], 0, sizeof k[i]);
        k[i].cl = c;
        k[i].node = &c->node[i];
        cr_assert_eq(get_token(&k[i]), 0, "%s", k[i].failure);
    }
    jwt_header(k[2].token, old_header, sizeof old_header);
    for (int i = 0; i < NODES; i++)
        for (int j = 0; j < NODES; j++) {
            struct client x = k[i];
            x.node = &c->node[j];
            cr_assert_eq(one_call(&x, c->agreement, NULL), 200,
                         "a token of node %d through node %d: %s", i, j, x.failure);
        }

    /* a key rotated with A's configuration is used and published by all */
    const char *rot[] = {"token", "rotate-key", NULL};
    int64_t t0 = clock_mono_ns();
    must(a, rot);
    double cli_ms = (double)(clock_mono_ns() - t0) / 1e6;
    while (!jwks_agree(c, 2, jw, sizeof jw) && clock_mono_ns() - t0 < 5000 * 1000000LL)
        usleep(20 * 1000);
    double ms = (double)(clock_mono_ns() - t0) / 1e6;
    fprintf(stderr,
            "cluster: token key rotated; every node published it %.1f ms after the CLI began"
            " (%.1f ms after it ended)\n",
            ms, ms - cli_ms);
    cr_assert(jwks_agree(c, 2, jw, sizeof jw), "the nodes do not agree on the new keys: %s", jw);
    /* the folder is looked at about every second */
    cr_assert_lt(ms - cli_ms, 2500);
    struct client n = {.cl = c, .node = &c->node[2]};
    cr_assert_eq(get_token(&n), 0, "%s", n.failure);
    jwt_header(n.token, header, sizeof header);
    cr_assert_str_neq(header, old_header, "node C still signs with the old key");
    for (int j = 0; j < NODES; j++) {
        struct client x = n, o = k[1];
        x.node = o.node = &c->node[j];
        cr_assert_eq(one_call(&x, c->agreement, NULL), 200, "a new token through node %d: %s", j,
                     x.failure);
        cr_assert_eq(one_call(&o, c->agreement, NULL), 200, "an old token through node %d: %s", j,
                     o.failure);
    }

    /* sessions: logged in through A, the session works through B and C;
     * logged out through B, it is gone on A */
    char pwfile[E2E_PATH_MAX];
    FILE *f = fopen(e2e_path(a, "pw.txt", pwfile), "w");
    cr_assert_not_null(f);
    fprintf(f, "%s\n", API_PASSWD);
    fclose(f);
    const char *pw[] = {"user", "set-password", "a@a.dk", "--password-file", pwfile, NULL};
    must(a, pw);
    struct api_session se;
    api_login(a, "a@a.dk", &se);
    for (int i = 0; i < NODES; i++)
        cr_assert_eq(session_call(c, i, &se, "GET"), 200, "the session through node %d", i);
    cr_assert_eq(session_call(c, 1, &se, "DELETE"), 200, "logging out through node B");
    for (int i = 0; i < NODES; i++)
        cr_assert_eq(session_call(c, i, &se, "GET"), 401, "a closed session through node %d", i);

    /* login throttling counts the failures of every node: a wrong password
     * tried through A, B and C in turn (at most two through each) is
     * throttled after the pair's free failures (LOGIN_FREE_FAILS_PAIR),
     * and then even the right password is refused through any node until
     * the wait is over */
    long st = 0, retry = 0;
    int tries = 0;
    while (st != 429 && tries < LOGIN_FREE_FAILS_PAIR + 3)
        st = login_through(c, tries++ % NODES, "a@a.dk", "wrong password 1", &retry);
    fprintf(stderr, "cluster: login throttled after %d wrong passwords through %d nodes\n", tries,
            NODES);
    cr_assert_eq(st, 429, "no throttling after %d failures through %d nodes", tries, NODES);
    cr_assert_leq(tries, LOGIN_FREE_FAILS_PAIR + 2);
    for (int i = 0; i < NODES; i++)
        cr_assert_eq(login_through(c, i, "a@a.dk", API_PASSWD, &retry), 429,
                     "the right password inside the wait through node %d", i);
    cr_assert_gt(retry, 0);
    cr_assert_leq(retry, 60);
    sleep((unsigned)retry + 1);
    cr_assert_eq(login_through(c, 2, "a@a.dk", API_PASSWD, &retry), 200,
                 "the right password after the wait");

    /* a service window posted with A's configuration closes the data
     * services of B (503), and its cancellation opens them again */
    const char *post[] = {"opslog", "post", "--kind", "servicevindue", "--title", "Vindue",
                          "--end",  "+10m", NULL};
    seen_on_b(a, &k[1], post, 503, "service window posted; node B answered 503");
    char id[32];
    snprintf(id, sizeof id, "%lld",
             (long long)query_int(c, "SELECT MAX(id) FROM opslog_entry WHERE kind = "
                                     "'servicevindue'"));
    const char *cancel[] = {"opslog", "update", id, "--status", "cancelled", NULL};
    seen_on_b(a, &k[1], cancel, 200, "service window cancelled; node B served");

    for (int i = c->n - 1; i >= 0; i--)
        cr_expect_eq(e2e_stop(&c->node[i]), 0, "node %d stopped cleanly", i);
    remove_key_dir(c);
    free(c);
}

/* ---- background jobs: each once, whichever node does it ---- */

/* A mail with an incident trigger into the shared maildir's new/. */
static void drop_mail(const struct cluster *c, int n)
{
    char tmp[E2E_PATH_MAX], p[E2E_PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s/Maildir/tmp/%d.cluster.host", c->dir, n);
    snprintf(p, sizeof p, "%s/Maildir/new/%d.cluster.host", c->dir, n);
    FILE *f = fopen(tmp, "w");
    cr_assert_not_null(f);
    fprintf(f,
            "From: <pia@kommune.example>\r\nTo: incident@skat.example\r\n"
            "Subject: DUPLA-Prod-Data: besked %d\r\nMessage-ID: <%d.cluster@mail.example>\r\n"
            "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
            "Beskrivelse %d\r\n",
            n, n, n);
    fclose(f);
    cr_assert_eq(rename(tmp, p), 0);
}

static int files_in(const struct cluster *c, const char *sub)
{
    char p[E2E_PATH_MAX];
    snprintf(p, sizeof p, "%s/Maildir/%s", c->dir, sub);
    DIR *d = opendir(p);
    cr_assert_not_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* Waits (at most 20 s) until every one of want mails is taken in: their
 * files out of new/ and want rows in incident_mail. */
static void until_taken(const struct cluster *c, int want)
{
    int64_t t0 = clock_mono_ns();
    while (clock_mono_ns() - t0 < 20000 * 1000000LL &&
           (files_in(c, "new") > 0 || query_int(c, "SELECT COUNT(*) FROM incident_mail") < want))
        usleep(100 * 1000);
    fprintf(stderr, "cluster: %d mails taken in %.2f s\n", want,
            (double)(clock_mono_ns() - t0) / 1e9);
}

/* Each mail made exactly one incident and one receipt. */
static void each_once(const struct cluster *c, int want)
{
    cr_assert_eq(files_in(c, "new"), 0, "mails left in new/");
    cr_assert_eq(files_in(c, "cur"), want);
    cr_assert_eq(query_int(c, "SELECT COUNT(*) FROM incident_mail"), want);
    cr_assert_eq(query_int(c, "SELECT COUNT(*) FROM incident_mail WHERE outcome = 'incident'"),
                 want, "a mail recorded as seen or duplicate: it was handled twice");
    cr_assert_eq(query_int(c, "SELECT COUNT(*) FROM incident"), want);
    cr_assert_eq(query_int(c, "SELECT COUNT(*) FROM mail_message WHERE kind = 'receipt'"), want);
}

Test(cluster, background_jobs_run_once_across_nodes, .timeout = 170)
{
    struct cluster *c = calloc(1, sizeof *c);
    cr_assert_not_null(c);
    c->expiring = true;
    cluster_start(c, NODES, 1000);

    /* expiry warnings: agreement2 ends in 3 days; B and C each ran the
     * warnings at start; one warning was queued */
    cr_assert_eq(query_int(c, "SELECT COUNT(*) FROM mail_message WHERE kind = 'expiry-agreement'"),
                 1);
    cr_assert_eq(query_int(c, "SELECT COUNT(*) FROM expiry_notice WHERE kind = 'agreement'"), 1);

    /* maildir pickup: three nodes take in one maildir every 5 s */
    enum { FIRST = 12, MORE = 40 };
    for (int i = 0; i < FIRST; i++)
        drop_mail(c, i);
    until_taken(c, FIRST);
    each_once(c, FIRST);

    /* nodes B and C SIGKILLed as soon as the pickup of the next mails has
     * begun (one of them is likely in the middle of it): A takes in the
     * rest, each once, within its next runs */
    for (int i = FIRST; i < FIRST + MORE; i++)
        drop_mail(c, i);
    int64_t t0 = clock_mono_ns();
    while (query_int(c, "SELECT COUNT(*) FROM incident_mail") == FIRST &&
           clock_mono_ns() - t0 < 10000 * 1000000LL)
        usleep(2 * 1000);
    for (int i = 1; i < NODES; i++) {
        cr_assert_eq(kill(c->node[i].pid, SIGKILL), 0);
        waitpid(c->node[i].pid, NULL, 0);
    }
    int64_t at_kill = query_int(c, "SELECT COUNT(*) FROM incident_mail");
    fprintf(stderr, "cluster: B and C killed with %lld of %d mails taken in\n",
            (long long)(at_kill - FIRST), MORE);
    until_taken(c, FIRST + MORE);
    each_once(c, FIRST + MORE);

    cr_expect_eq(e2e_stop(&c->node[0]), 0, "node A stopped cleanly");
    for (int i = 1; i < NODES; i++)
        e2e_remove_dir(&c->node[i]);
    remove_key_dir(c);
    free(c);
}
