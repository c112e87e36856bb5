/* Unit tests: identity (organisations, users, roles, sessions, systems,
 * certificates, the registry and the history), against a real SQLite store. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/encode.h"
#include "core/rand.h"
#include "core/snapshot.h"
#include "identity/identity.h"

#define CVR_A "12345674"
#define CVR_B "20000007"
#define CVR_C "30000005"

static char dir[64];
static struct dupla_config cfg;
static store_t *st;
static identity_t *id;
static identity_actor_t local;

static void open_with(const char *identity_section)
{
    snprintf(dir, sizeof dir, "/tmp/dupla-identity-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    char text[512];
    snprintf(text, sizeof text, "{\"environment\":\"test\", \"store\":\"sqlite:t.db\"%s%s}",
             identity_section ? ", \"identity\":" : "", identity_section ? identity_section : "");
    err_t err;
    cr_assert_eq(config_load_string(text, dir, &cfg, &err), 0, "%s", err.log);
    cr_assert_eq(store_open(cfg.store_url, NULL, &st, &err), 0, "%s", err.log);
    cr_assert_eq(identity_open(st, &cfg, &id, &err), 0, "%s", err.log);
    identity_actor_local(&local);
}

static void setup(void)
{
    open_with(NULL);
}

static void teardown(void)
{
    identity_close(id);
    store_close(st);
    config_free(&cfg);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(identity, .init = setup, .fini = teardown);

/* Onboards an organisation with the local actor; returns its admin's secret. */
static void onboard(const char *name, const char *cvr, const char *admin, struct identity_org *o,
                    struct identity_setup_secret *sec)
{
    struct identity_org_new in = {.name = str_from_cstr(name),
                                  .cvr = str_from_cstr(cvr),
                                  .contact_email = STR("kontakt@example.dk"),
                                  .admin_username = str_from_cstr(admin)};
    err_t err;
    cr_assert_eq(identity_org_create(id, &local, &in, o, sec, &err), 0, "%s", err.log);
}

/* A user with a password and roles, and the actor a session for it gives. */
/* Organisation A with its administrator admin@a.dk, whose password is
 * "correct horse battery". */
static void admin_of_a(struct identity_org *a)
{
    struct identity_setup_secret sec;
    err_t err;
    onboard("A", CVR_A, "admin@a.dk", a, &sec);
    cr_assert_eq(identity_user_set_password(id, &local, STR("admin@a.dk"),
                                            STR("correct horse battery"), &err),
                 0, "%s", err.log);
}

static void user_actor(const char *org_cvr, const char *username, unsigned roles,
                       identity_actor_t *a)
{
    err_t err;
    struct identity_user u;
    struct identity_setup_secret sec;
    cr_assert_eq(identity_user_create(id, &local, str_from_cstr(org_cvr), str_from_cstr(username),
                                      STR_NULL, roles, &u, &sec, &err),
                 0, "%s", err.log);
    cr_assert_eq(identity_user_set_password(id, &local, str_from_cstr(username),
                                            STR("correct horse battery"), &err),
                 0, "%s", err.log);
    struct identity_session s;
    long retry;
    cr_assert_eq(identity_login(id, str_from_cstr(username), STR("correct horse battery"),
                                "127.0.0.1", &s, &retry, &err),
                 0, "%s", err.log);
    cr_assert_eq(identity_session_actor(id, str_from_cstr(s.id), a, &err), 0, "%s", err.log);
}

static void fake_cert(struct pki_cert_info *ci, const char *cvr)
{
    memset(ci, 0, sizeof *ci);
    cr_assert_eq(rand_bytes(ci->sha256, sizeof ci->sha256), 0);
    hex_encode(ci->sha256, sizeof ci->sha256, ci->sha256_hex);
    snprintf(ci->subject, sizeof ci->subject, "CN=sys,O=Org,organizationIdentifier=NTRDK-%s", cvr);
    snprintf(ci->issuer, sizeof ci->issuer, "CN=dupla local CA");
    snprintf(ci->serial_hex, sizeof ci->serial_hex, "01ab");
    snprintf(ci->cvr, sizeof ci->cvr, "%s", cvr);
    ci->not_before_ms = clock_now_ms() - 3600 * 1000;
    ci->not_after_ms = clock_now_ms() + 86400 * 1000;
}

static void exec_sql(const char *sql)
{
    store_conn_t *c;
    err_t err;
    cr_assert_eq(store_conn_get(st, &c, &err), 0);
    cr_assert_eq(store_exec(c, sql, &err), 0, "%s", err.log);
    store_conn_put(c);
}

Test(identity, password_hash_verifies_and_refuses)
{
    char enc[PASSWORD_ENCODED_MAX];
    err_t err;
    cr_assert_eq(identity_password_hash(STR("a long enough password"), enc, sizeof enc, &err), 0);
    cr_assert(strncmp(enc, "$argon2id$v=19$m=19456,t=2,p=1$", 31) == 0, "%s", enc);
    cr_assert_eq(identity_password_verify(STR("a long enough password"), enc), 0);
    cr_assert_eq(identity_password_verify(STR("a long enough passworD"), enc), DUPLA_EUNAUTH);
    cr_assert_eq(identity_password_verify(STR("x"), "$argon2i$bogus"), DUPLA_EUNAUTH);
    cr_assert_eq(identity_password_check_policy(STR("short"), &err), DUPLA_EINVAL);
    cr_assert_str_eq(err.param, "password");
}

Test(identity, data_owner_exists_after_open)
{
    struct identity_org o;
    err_t err;
    cr_assert_eq(identity_org_owner(id, &o, &err), 0, "%s", err.log);
    cr_assert(o.data_owner);
    cr_assert_str_eq(o.cvr, IDENTITY_DEFAULT_OWNER_CVR);
}

Test(identity, onboarding_creates_administrator_with_one_time_secret)
{
    struct identity_org o;
    struct identity_setup_secret sec;
    onboard("Aarhus Kommune", CVR_A, "admin@aarhus.dk", &o, &sec);
    cr_assert_str_eq(o.cvr, CVR_A);
    cr_assert_eq(o.status, ORG_ACTIVE);
    cr_assert_gt(strlen(sec.secret), 30);
    cr_assert_gt(sec.expires_ms, clock_now_ms());

    struct identity_user u;
    err_t err;
    cr_assert_eq(identity_user_get(id, STR("admin@aarhus.dk"), &u, &err), 0);
    cr_assert_eq(u.roles, ROLE_ADMINISTRATOR);
    cr_assert(!u.has_password);
    cr_assert_str_eq(u.org_id, o.id);

    /* The secret is stored hashed, never in clear. */
    store_conn_t *c;
    cr_assert_eq(store_conn_get(st, &c, &err), 0);
    store_stmt_t *s;
    cr_assert_eq(store_prepare(c, "SELECT setup_hash FROM identity_user WHERE id = ?", &s, &err),
                 0);
    store_bind_cstr(s, 1, u.id);
    cr_assert_eq(store_step(s, &err), STORE_ROW);
    cr_assert(!str_eq_cstr(store_col_text(s, 0), sec.secret));
    cr_assert_eq(store_col_text(s, 0).len, 64);
    store_stmt_done(s);
    store_conn_put(c);

    cr_assert_eq(identity_user_complete_setup(id, STR("admin@aarhus.dk"), STR("wrong"),
                                              STR("a brand new password"), &err),
                 DUPLA_EUNAUTH);
    cr_assert_eq(identity_user_complete_setup(id, STR("admin@aarhus.dk"), str_from_cstr(sec.secret),
                                              STR("a brand new password"), &err),
                 0, "%s", err.log);
    /* once only */
    cr_assert_eq(identity_user_complete_setup(id, STR("admin@aarhus.dk"), str_from_cstr(sec.secret),
                                              STR("another new password"), &err),
                 DUPLA_EUNAUTH);
    struct identity_session sess;
    long retry;
    cr_assert_eq(identity_login(id, STR("admin@aarhus.dk"), STR("a brand new password"), "ip",
                                &sess, &retry, &err),
                 0, "%s", err.log);
}

Test(identity, setup_secret_expires)
{
    struct identity_org o;
    struct identity_setup_secret sec;
    onboard("Odense Kommune", CVR_A, "admin@odense.dk", &o, &sec);
    exec_sql("UPDATE identity_user SET setup_expires_ms = 1");
    err_t err;
    cr_assert_eq(identity_user_complete_setup(id, STR("admin@odense.dk"), str_from_cstr(sec.secret),
                                              STR("a brand new password"), &err),
                 DUPLA_EUNAUTH);
}

Test(identity, onboarding_refuses_bad_input)
{
    struct identity_org o;
    struct identity_setup_secret sec;
    err_t err;
    struct identity_org_new in = {.name = STR("X"),
                                  .cvr = STR("12345678"),
                                  .contact_email = STR("k@x.dk"),
                                  .admin_username = STR("a@x.dk")};
    cr_assert_eq(identity_org_create(id, &local, &in, &o, &sec, &err), DUPLA_EINVAL);
    cr_assert_str_eq(err.param, "cvr");
    in.cvr = STR(CVR_A);
    in.contact_email = STR("not-an-address");
    cr_assert_eq(identity_org_create(id, &local, &in, &o, &sec, &err), DUPLA_EINVAL);
    cr_assert_str_eq(err.param, "contact_email");
    in.contact_email = STR("k@x.dk");
    in.name = STR("  ");
    cr_assert_eq(identity_org_create(id, &local, &in, &o, &sec, &err), DUPLA_EINVAL);
    cr_assert_str_eq(err.param, "name");
    in.name = STR("X");
    cr_assert_eq(identity_org_create(id, &local, &in, &o, &sec, &err), 0, "%s", err.log);
    in.admin_username = STR("b@x.dk");
    cr_assert_eq(identity_org_create(id, &local, &in, &o, &sec, &err), DUPLA_ECONFLICT);
    cr_assert_str_eq(err.param, "cvr");
    cr_assert(err_is(&err, PROBLEM_ORG_EXISTS), "%s", err.type);
    cr_assert_eq(err_status(&err), 409);
    /* a new CVR, but the administrator's username is taken: its own reason */
    in.cvr = STR(CVR_B);
    in.admin_username = STR("a@x.dk");
    cr_assert_eq(identity_org_create(id, &local, &in, &o, &sec, &err), DUPLA_ECONFLICT);
    cr_assert_str_eq(err.param, "admin_username");
    cr_assert(err_is(&err, PROBLEM_USERNAME_TAKEN), "%s", err.type);
}

Test(identity, only_dataforvaltning_creates_organisations)
{
    struct identity_org o, owner;
    struct identity_setup_secret sec;
    err_t err;
    onboard("Aarhus Kommune", CVR_A, "admin@aarhus.dk", &o, &sec);
    cr_assert_eq(identity_org_owner(id, &owner, &err), 0);
    identity_actor_t admin, proc, dfv, op;
    user_actor(CVR_A, "adm2@aarhus.dk", ROLE_ADMINISTRATOR, &admin);
    user_actor(CVR_A, "proc@aarhus.dk", ROLE_PROCESSOR, &proc);
    user_actor(owner.cvr, "dfv@skat.dk", ROLE_DATAFORVALTNING, &dfv);
    user_actor(owner.cvr, "op@skat.dk", ROLE_OPERATOR, &op);
    struct identity_org_new in = {.name = STR("Banken"),
                                  .cvr = STR(CVR_B),
                                  .contact_email = STR("k@bank.dk"),
                                  .admin_username = STR("a@bank.dk")};
    cr_assert_eq(identity_org_create(id, &admin, &in, &o, &sec, &err), DUPLA_EFORBIDDEN);
    cr_assert_eq(identity_org_create(id, &proc, &in, &o, &sec, &err), DUPLA_EFORBIDDEN);
    cr_assert_eq(identity_org_create(id, &op, &in, &o, &sec, &err), DUPLA_EFORBIDDEN);
    cr_assert_eq(identity_org_create(id, &dfv, &in, &o, &sec, &err), 0, "%s", err.log);
    cr_assert_eq(identity_org_set_status(id, &admin, STR(CVR_B), ORG_SUSPENDED, STR(""), &err),
                 DUPLA_EFORBIDDEN);
    cr_assert_eq(identity_org_set_status(id, &dfv, STR(CVR_B), ORG_SUSPENDED, STR("audit"), &err),
                 0, "%s", err.log);
}

Test(identity, role_rules)
{
    struct identity_org a, b, owner;
    struct identity_setup_secret sec;
    err_t err;
    onboard("A", CVR_A, "admin@a.dk", &a, &sec);
    onboard("B", CVR_B, "admin@b.dk", &b, &sec);
    cr_assert_eq(identity_org_owner(id, &owner, &err), 0);
    identity_actor_t admin_a, proc_a, dfv;
    user_actor(CVR_A, "adm@a.dk", ROLE_ADMINISTRATOR, &admin_a);
    user_actor(CVR_A, "proc@a.dk", ROLE_PROCESSOR, &proc_a);
    user_actor(owner.cvr, "dfv@skat.dk", ROLE_DATAFORVALTNING, &dfv);
    struct identity_user u;
    struct identity_setup_secret s2;
    cr_assert_eq(
        identity_user_create(id, &local, STR(CVR_A), STR("emp@a.dk"), STR("Emp"), 0, &u, &s2, &err),
        0);
    cr_assert_eq(
        identity_user_create(id, &local, STR(CVR_B), STR("emp@b.dk"), STR("Emp"), 0, &u, &s2, &err),
        0);

    /* a username is one user's */
    cr_assert_eq(
        identity_user_create(id, &local, STR(CVR_B), STR("emp@a.dk"), STR("Emp"), 0, &u, &s2, &err),
        DUPLA_ECONFLICT);
    cr_assert_str_eq(err.param, "username");
    cr_assert(err_is(&err, PROBLEM_USERNAME_TAKEN), "%s", err.type);

    /* an administrator grants inside its own organisation */
    cr_assert_eq(identity_role_grant(id, &admin_a, STR("emp@a.dk"), ROLE_SIGNATORY, &err), 0, "%s",
                 err.log);
    cr_assert_eq(identity_role_grant(id, &admin_a, STR("emp@a.dk"), ROLE_SIGNATORY, &err),
                 DUPLA_ECONFLICT);
    cr_assert(err_is(&err, PROBLEM_ROLE_HELD), "%s", err.type);
    /* ... not in another */
    cr_assert_eq(identity_role_grant(id, &admin_a, STR("emp@b.dk"), ROLE_PROCESSOR, &err),
                 DUPLA_EFORBIDDEN);
    cr_assert_eq(err_status(&err), 403);
    /* a processor grants nothing */
    cr_assert_eq(identity_role_grant(id, &proc_a, STR("emp@a.dk"), ROLE_PROCESSOR, &err),
                 DUPLA_EFORBIDDEN);
    /* the data owner's staff do not grant inside a recipient */
    cr_assert_eq(identity_role_grant(id, &dfv, STR("emp@a.dk"), ROLE_PROCESSOR, &err),
                 DUPLA_EFORBIDDEN);
    /* data owner roles do not fit a recipient */
    cr_assert_eq(identity_role_grant(id, &admin_a, STR("emp@a.dk"), ROLE_DATAFORVALTNING, &err),
                 DUPLA_EINVAL);
    /* nor recipient roles the data owner */
    cr_assert_eq(identity_user_create(id, &local, str_from_cstr(owner.cvr), STR("x@skat.dk"),
                                      STR_NULL, ROLE_PROCESSOR, &u, &s2, &err),
                 DUPLA_EINVAL);
    /* an administrator creates users only in its own organisation */
    cr_assert_eq(
        identity_user_create(id, &admin_a, STR(CVR_B), STR("new@b.dk"), STR_NULL, 0, &u, &s2, &err),
        DUPLA_EFORBIDDEN);
    cr_assert_eq(identity_role_revoke(id, &admin_a, STR("emp@a.dk"), ROLE_SIGNATORY, &err), 0);
    cr_assert_eq(identity_role_revoke(id, &admin_a, STR("adm@a.dk"), ROLE_ADMINISTRATOR, &err),
                 DUPLA_ECONFLICT);
    cr_assert(err_is(&err, PROBLEM_OWN_ADMIN_ROLE), "%s", err.type);
    unsigned r;
    cr_assert_eq(identity_role_parse(STR("aftager-underskriver"), &r), 0);
    cr_assert_eq(r, ROLE_SIGNATORY);
    cr_assert_eq(identity_role_parse(STR("root"), &r), DUPLA_EINVAL);
}

Test(identity, sessions_csrf_logout_and_expiry)
{
    struct identity_org a;
    err_t err;
    admin_of_a(&a);
    struct identity_session s;
    long retry;
    cr_assert_eq(
        identity_login(id, STR("admin@a.dk"), STR("correct horse battery"), "ip", &s, &retry, &err),
        0);
    identity_actor_t a1;
    cr_assert_eq(identity_session_actor(id, str_from_cstr(s.id), &a1, &err), 0);
    cr_assert_eq(a1.kind, ACTOR_USER);
    cr_assert_str_eq(a1.org_id, a.id);
    cr_assert(identity_session_csrf_ok(str_from_cstr(s.id), str_from_cstr(s.csrf)));
    cr_assert(!identity_session_csrf_ok(str_from_cstr(s.id), STR("forged")));
    cr_assert(!identity_session_csrf_ok(str_from_cstr(s.id), STR("")));
    cr_assert_eq(identity_session_actor(id, STR("not-a-session"), &a1, &err), DUPLA_EUNAUTH);

    /* idle expiry */
    exec_sql("UPDATE identity_session SET last_seen_ms = last_seen_ms - 31 * 60 * 1000");
    cr_assert_eq(identity_session_actor(id, str_from_cstr(s.id), &a1, &err), DUPLA_EUNAUTH);
    cr_assert(strstr(err.detail, "expired") != NULL);
    /* absolute expiry */
    cr_assert_eq(
        identity_login(id, STR("admin@a.dk"), STR("correct horse battery"), "ip", &s, &retry, &err),
        0);
    exec_sql("UPDATE identity_session SET expires_ms = 1");
    cr_assert_eq(identity_session_actor(id, str_from_cstr(s.id), &a1, &err), DUPLA_EUNAUTH);
    /* logout */
    cr_assert_eq(
        identity_login(id, STR("admin@a.dk"), STR("correct horse battery"), "ip", &s, &retry, &err),
        0);
    cr_assert_eq(identity_logout(id, str_from_cstr(s.id), &err), 0);
    cr_assert_eq(identity_session_actor(id, str_from_cstr(s.id), &a1, &err), DUPLA_EUNAUTH);
    /* a suspended organisation's sessions end */
    cr_assert_eq(
        identity_login(id, STR("admin@a.dk"), STR("correct horse battery"), "ip", &s, &retry, &err),
        0);
    cr_assert_eq(identity_org_set_status(id, &local, STR(CVR_A), ORG_SUSPENDED, STR(""), &err), 0);
    cr_assert_eq(identity_session_actor(id, str_from_cstr(s.id), &a1, &err), DUPLA_EUNAUTH);
    cr_assert_eq(
        identity_login(id, STR("admin@a.dk"), STR("correct horse battery"), "ip", &s, &retry, &err),
        DUPLA_EUNAUTH);
}

Test(identity, login_is_throttled_per_user)
{
    struct identity_org a;
    err_t err;
    admin_of_a(&a);
    struct identity_session s;
    long retry;
    /* The free failures from one address, then one more starts a wait. */
    for (int i = 0; i <= LOGIN_FREE_FAILS_PAIR; i++)
        cr_assert_eq(identity_login(id, STR("admin@a.dk"), STR("wrong password!"), "10.0.0.1", &s,
                                    &retry, &err),
                     DUPLA_EUNAUTH);
    /* ... which holds even for the right password, from that address ... */
    cr_assert_eq(identity_login(id, STR("admin@a.dk"), STR("correct horse battery"), "10.0.0.1", &s,
                                &retry, &err),
                 DUPLA_ERATE);
    cr_assert_gt(retry, 0);
    cr_assert_leq(retry, LOGIN_DELAY_BASE_MS / 1000);
    cr_assert_eq(err_status(&err), 429);
    /* ... but is no lock: the owner, from elsewhere, logs in (#18) */
    cr_assert_eq(identity_login(id, STR("admin@a.dk"), STR("correct horse battery"), "10.0.0.2", &s,
                                &retry, &err),
                 0, "%s", err.log);
    identity_throttle_reset(id);
}

Test(identity, guesses_from_many_addresses_make_the_user_wait_seconds_only)
{
    struct identity_org a;
    err_t err;
    admin_of_a(&a);
    struct identity_session s;
    long retry = 0;
    /* Guesses from many addresses (each inside its own free failures)
     * slow the user down, by waits that grow but never past the cap. */
    char peer[32];
    int refused = 0;
    for (int i = 0; i < 2 * LOGIN_FREE_FAILS_USER; i++) {
        snprintf(peer, sizeof peer, "10.1.%d.%d", i / 200, i % 200);
        int rc =
            identity_login(id, STR("admin@a.dk"), STR("wrong password!"), peer, &s, &retry, &err);
        if (rc == DUPLA_ERATE) {
            refused++;
            cr_assert(retry > 0 && retry <= LOGIN_MAX_DELAY_USER / 1000, "wait %ld", retry);
        }
    }
    cr_assert_gt(refused, 0, "the user was never slowed down");
    /* A wait is refused before the password is looked at, and not
     * counted: the guesses above did not lock the owner out for longer. */
    identity_throttle_reset(id);
}

Test(identity, login_throttling_is_shared_by_every_handle_on_the_store)
{
    /* Two handles on one store stand for two nodes of a cluster: the
     * failures counted through one make the other refuse (#15). */
    struct identity_org a;
    err_t err;
    admin_of_a(&a);
    identity_t *other;
    cr_assert_eq(identity_open(st, &cfg, &other, &err), 0, "%s", err.log);
    struct identity_session s;
    long retry;
    for (int i = 0; i <= LOGIN_FREE_FAILS_PAIR; i++)
        cr_assert_eq(identity_login(i % 2 ? other : id, STR("admin@a.dk"), STR("wrong password!"),
                                    "10.0.0.7", &s, &retry, &err),
                     DUPLA_EUNAUTH);
    cr_assert_eq(identity_login(other, STR("admin@a.dk"), STR("correct horse battery"), "10.0.0.7",
                                &s, &retry, &err),
                 DUPLA_ERATE, "the other node did not see the failures: %s", err.log);
    cr_assert_eq(identity_login(id, STR("admin@a.dk"), STR("correct horse battery"), "10.0.0.7", &s,
                                &retry, &err),
                 DUPLA_ERATE);
    cr_assert_gt(retry, 0);
    /* The table names neither the user nor the address. */
    store_conn_t *c;
    cr_assert_eq(store_conn_get(st, &c, &err), 0);
    store_stmt_t *q;
    cr_assert_eq(store_prepare(c, "SELECT key_hash FROM identity_login_throttle", &q, &err), 0);
    int rows = 0;
    while (store_step(q, &err) == STORE_ROW) {
        str_t k = store_col_text(q, 0);
        cr_assert_eq(k.len, 64);
        cr_assert_null(memmem(k.ptr, k.len, "admin", 5));
        rows++;
    }
    store_stmt_done(q);
    store_conn_put(c);
    cr_assert_eq(rows, 3, "one row per key (user, address, pair): %d", rows);
    identity_throttle_reset(id);
    cr_assert_eq(identity_login(other, STR("admin@a.dk"), STR("correct horse battery"), "10.0.0.7",
                                &s, &retry, &err),
                 0, "%s", err.log);
    identity_close(other);
}

Test(identity, systems_and_certificates_in_the_registry)
{
    struct identity_org a;
    struct identity_setup_secret sec;
    err_t err;
    onboard("A", CVR_A, "admin@a.dk", &a, &sec);
    struct pki_cert_info c1, c2, stranger, wrong_cvr;
    fake_cert(&c1, CVR_A);
    fake_cert(&c2, CVR_A);
    fake_cert(&stranger, CVR_A);
    fake_cert(&wrong_cvr, CVR_B);
    struct identity_system sy;
    int64_t g0 = identity_generation(id);
    cr_assert_eq(identity_system_register(id, &local, STR(CVR_A), STR("lønsystem"),
                                          SYSTEM_RECIPIENT, &c1, &sy, &err),
                 0, "%s", err.log);
    cr_assert_gt(identity_generation(id), g0);
    /* the CVR of the certificate must be the organisation's */
    cr_assert_eq(identity_system_register(id, &local, STR(CVR_A), STR("other"), SYSTEM_RECIPIENT,
                                          &wrong_cvr, NULL, &err),
                 DUPLA_EINVAL);
    cr_assert_eq(identity_system_register(id, &local, STR(CVR_A), STR("lønsystem"),
                                          SYSTEM_RECIPIENT, NULL, NULL, &err),
                 DUPLA_ECONFLICT);
    cr_assert(err_is(&err, PROBLEM_SYSTEM_NAME_TAKEN), "%s", err.type);
    cr_assert_str_eq(err.param, "name");

    struct identity_principal p;
    int64_t now = clock_now_ms();
    cr_assert_eq(identity_authenticate_cert(id, &c1, SYSTEM_RECIPIENT, ENV_TEST, now, &p, &err), 0,
                 "%s", err.log);
    cr_assert_str_eq(p.system_id, sy.id);
    cr_assert_str_eq(p.org_cvr, CVR_A);
    cr_assert_eq(
        identity_authenticate_cert(id, &stranger, SYSTEM_RECIPIENT, ENV_TEST, now, &p, &err),
        DUPLA_EUNAUTH);
    cr_assert_str_eq(err.type, PROBLEM_CERT_UNREGISTERED);
    cr_assert_eq(
        identity_authenticate_cert(id, &c1, SYSTEM_RECIPIENT, ENV_PRODUCTION, now, &p, &err),
        DUPLA_EFORBIDDEN);
    cr_assert_str_eq(err.type, PROBLEM_ENV_NOT_ALLOWED);
    cr_assert_eq(identity_authenticate_cert(id, &c1, SYSTEM_SOURCE, ENV_TEST, now, &p, &err),
                 DUPLA_EFORBIDDEN);
    cr_assert_str_eq(err.type, PROBLEM_SYSTEM_KIND);
    cr_assert_eq(identity_authenticate_cert(id, &c1, SYSTEM_RECIPIENT, ENV_TEST,
                                            c1.not_after_ms + 1, &p, &err),
                 DUPLA_EUNAUTH);
    cr_assert_str_eq(err.type, PROBLEM_CERT_EXPIRED);

    /* suspended system, at once */
    cr_assert_eq(
        identity_system_set_status(id, &local, str_from_cstr(sy.id), SYSTEM_SUSPENDED, &err), 0);
    cr_assert_eq(identity_authenticate_cert(id, &c1, SYSTEM_RECIPIENT, ENV_TEST, now, &p, &err),
                 DUPLA_EFORBIDDEN);
    cr_assert_str_eq(err.type, PROBLEM_SYSTEM_SUSPENDED);
    cr_assert_eq(
        identity_system_set_status(id, &local, STR(CVR_A "/lønsystem"), SYSTEM_ACTIVE, &err), 0,
        "%s", err.log);
    /* suspended organisation */
    cr_assert_eq(identity_org_set_status(id, &local, STR(CVR_A), ORG_SUSPENDED, STR("x"), &err), 0);
    cr_assert_eq(identity_authenticate_cert(id, &c1, SYSTEM_RECIPIENT, ENV_TEST, now, &p, &err),
                 DUPLA_EFORBIDDEN);
    cr_assert_str_eq(err.type, PROBLEM_ORG_SUSPENDED);
    cr_assert_eq(identity_org_set_status(id, &local, STR(CVR_A), ORG_ACTIVE, STR(""), &err), 0);

    /* roll-over: add the new, revoke the old */
    cr_assert_eq(identity_cert_add(id, &local, str_from_cstr(sy.id), &c2, NULL, &err), 0, "%s",
                 err.log);
    cr_assert_eq(identity_cert_revoke(id, &local, str_from_cstr(c1.sha256_hex), &err), 0, "%s",
                 err.log);
    cr_assert_eq(identity_authenticate_cert(id, &c1, SYSTEM_RECIPIENT, ENV_TEST, now, &p, &err),
                 DUPLA_EUNAUTH);
    cr_assert_str_eq(err.type, PROBLEM_CERT_REVOKED);
    cr_assert_eq(identity_authenticate_cert(id, &c2, SYSTEM_RECIPIENT, ENV_TEST, now, &p, &err), 0);

    /* a CVR that no longer matches (the organisation's record changed) */
    exec_sql("UPDATE identity_org SET cvr = '" CVR_C "' WHERE cvr = '" CVR_A "';"
             "UPDATE identity_generation SET gen = gen + 1");
    cr_assert_eq(identity_registry_refresh(id, &err), 0);
    cr_assert_eq(identity_authenticate_cert(id, &c2, SYSTEM_RECIPIENT, ENV_TEST, now, &p, &err),
                 DUPLA_EFORBIDDEN);
    cr_assert_str_eq(err.type, PROBLEM_CVR_MISMATCH);

    /* revoking the system revokes it for good */
    cr_assert_eq(identity_system_set_status(id, &local, str_from_cstr(sy.id), SYSTEM_REVOKED, &err),
                 0);
    cr_assert_eq(identity_system_set_status(id, &local, str_from_cstr(sy.id), SYSTEM_ACTIVE, &err),
                 DUPLA_ECONFLICT);
    cr_assert(err_is(&err, PROBLEM_REVOCATION_FINAL), "%s", err.type);
    cr_assert_eq(err_status(&err), 409);
}

Test(identity, system_rules)
{
    struct identity_org a, b, owner;
    struct identity_setup_secret sec;
    err_t err;
    onboard("A", CVR_A, "admin@a.dk", &a, &sec);
    onboard("B", CVR_B, "admin@b.dk", &b, &sec);
    cr_assert_eq(identity_org_owner(id, &owner, &err), 0);
    identity_actor_t admin_a, proc_a, dfv, op;
    user_actor(CVR_A, "adm@a.dk", ROLE_ADMINISTRATOR, &admin_a);
    user_actor(CVR_A, "proc@a.dk", ROLE_PROCESSOR, &proc_a);
    user_actor(owner.cvr, "dfv@skat.dk", ROLE_DATAFORVALTNING, &dfv);
    user_actor(owner.cvr, "op@skat.dk", ROLE_OPERATOR, &op);
    struct pki_cert_info ca, cb, cs;
    fake_cert(&ca, CVR_A);
    fake_cert(&cb, CVR_B);
    fake_cert(&cs, owner.cvr);
    struct identity_system sa, sb, ss;
    cr_assert_eq(identity_system_register(id, &admin_a, STR(CVR_A), STR("s"), SYSTEM_RECIPIENT, &ca,
                                          &sa, &err),
                 0, "%s", err.log);
    cr_assert_eq(identity_system_register(id, &admin_a, STR(CVR_B), STR("s"), SYSTEM_RECIPIENT, &cb,
                                          &sb, &err),
                 DUPLA_EFORBIDDEN);
    cr_assert_eq(identity_system_register(id, &proc_a, STR(CVR_A), STR("t"), SYSTEM_RECIPIENT, NULL,
                                          &sb, &err),
                 DUPLA_EFORBIDDEN);
    /* source systems: the data owner's dataforvaltning, at the data owner */
    cr_assert_eq(identity_system_register(id, &admin_a, STR(CVR_A), STR("src"), SYSTEM_SOURCE, NULL,
                                          &ss, &err),
                 DUPLA_EFORBIDDEN);
    cr_assert_eq(identity_system_register(id, &dfv, str_from_cstr(owner.cvr), STR("skattesystem"),
                                          SYSTEM_SOURCE, &cs, &ss, &err),
                 0, "%s", err.log);
    struct identity_principal p;
    cr_assert_eq(
        identity_authenticate_cert(id, &cs, SYSTEM_SOURCE, ENV_TEST, clock_now_ms(), &p, &err), 0,
        "%s", err.log);
    /* the operator suspends any system; a processor none */
    cr_assert_eq(
        identity_system_set_status(id, &proc_a, str_from_cstr(sa.id), SYSTEM_SUSPENDED, &err),
        DUPLA_EFORBIDDEN);
    cr_assert_eq(identity_system_set_status(id, &op, str_from_cstr(sa.id), SYSTEM_SUSPENDED, &err),
                 0, "%s", err.log);
}

Test(identity, history_records_who_what_before_after)
{
    struct identity_org a;
    struct identity_setup_secret sec;
    err_t err;
    onboard("A", CVR_A, "admin@a.dk", &a, &sec);
    cr_assert_eq(identity_org_set_status(id, &local, STR(CVR_A), ORG_SUSPENDED, STR("why"), &err),
                 0);
    json_t *h;
    cr_assert_eq(identity_history_list(id, STR(CVR_A), 10, &h, &err), 0, "%s", err.log);
    cr_assert_eq(json_array_size(h), 3); /* create, admin user, suspend */
    json_t *last = json_array_get(h, 0);
    cr_assert_str_eq(json_string_value(json_object_get(last, "action")), "org.suspend");
    cr_assert_str_eq(json_string_value(json_object_get(last, "actor")), local.label);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(last, "before"), "status")),
                     "active");
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(last, "after"), "status")),
                     "suspended");
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(last, "after"), "reason")),
                     "why");
    /* no secret in the history */
    char *text = json_dumps(h, 0);
    cr_assert_null(strstr(text, sec.secret));
    free(text);
    json_decref(h);
}

Test(identity, another_process_change_is_seen_after_the_poll_interval)
{
    /* A second identity_t on the same store plays the CLI process. */
    identity_t *other;
    err_t err;
    cr_assert_eq(identity_open(st, &cfg, &other, &err), 0);
    struct identity_org a;
    struct identity_setup_secret sec;
    struct identity_org_new in = {.name = STR("A"),
                                  .cvr = STR(CVR_A),
                                  .contact_email = STR("k@a.dk"),
                                  .admin_username = STR("admin@a.dk")};
    cr_assert_eq(identity_org_create(other, &local, &in, &a, &sec, &err), 0);
    struct pki_cert_info c;
    fake_cert(&c, CVR_A);
    cr_assert_eq(identity_system_register(other, &local, STR(CVR_A), STR("s"), SYSTEM_RECIPIENT, &c,
                                          NULL, &err),
                 0);
    /* id has not looked yet; after the interval it has */
    usleep((IDENTITY_DEFAULT_REGISTRY_POLL_MS + 50) * 1000);
    struct identity_principal p;
    cr_assert_eq(
        identity_authenticate_cert(id, &c, SYSTEM_RECIPIENT, ENV_TEST, clock_now_ms(), &p, &err), 0,
        "%s", err.log);
    cr_assert_eq(identity_generation(id), identity_generation(other));
    /* and invalidation (the LISTEN/NOTIFY hook) makes it immediate */
    cr_assert_eq(identity_system_set_status(other, &local, STR(CVR_A "/s"), SYSTEM_SUSPENDED, &err),
                 0);
    cr_assert_eq(identity_registry_invalidate(id, &err), 0, "%s", err.log);
    cr_assert_eq(
        identity_authenticate_cert(id, &c, SYSTEM_RECIPIENT, ENV_TEST, clock_now_ms(), &p, &err),
        DUPLA_EFORBIDDEN);
    identity_close(other);
}

/* A registered system of organisation A with certificate *c. */
static void registered(struct pki_cert_info *c)
{
    struct identity_org a;
    struct identity_setup_secret sec;
    err_t err;
    onboard("A", CVR_A, "admin@a.dk", &a, &sec);
    fake_cert(c, CVR_A);
    cr_assert_eq(
        identity_system_register(id, &local, STR(CVR_A), STR("s"), SYSTEM_RECIPIENT, c, NULL, &err),
        0, "%s", err.log);
}

Test(identity, a_certificate_revoked_elsewhere_is_refused_after_invalidate)
{
    teardown();
    open_with("{\"registry_poll_ms\": 0}");
    struct pki_cert_info c;
    registered(&c);
    struct identity_principal p;
    err_t err;
    cr_assert_eq(
        identity_authenticate_cert(id, &c, SYSTEM_RECIPIENT, ENV_TEST, clock_now_ms(), &p, &err), 0,
        "%s", err.log);
    /* Another process (the CLI) revokes it; polling is off here, so only
     * the invalidate (the LISTEN/NOTIFY hook) can make it seen. */
    identity_t *other;
    cr_assert_eq(identity_open(st, &cfg, &other, &err), 0);
    cr_assert_eq(identity_cert_revoke(other, &local, str_from_cstr(c.sha256_hex), &err), 0, "%s",
                 err.log);
    identity_close(other);
    cr_assert_eq(identity_registry_invalidate(id, &err), 0, "%s", err.log);
    cr_assert_eq(
        identity_authenticate_cert(id, &c, SYSTEM_RECIPIENT, ENV_TEST, clock_now_ms(), &p, &err),
        DUPLA_EUNAUTH);
    cr_assert_str_eq(err.type, PROBLEM_CERT_REVOKED);
}

Test(identity, a_failing_reload_serves_stale_within_the_bound_then_refuses_with_503)
{
    struct pki_cert_info c;
    registered(&c);
    struct identity_principal p;
    err_t err;
    /* The store loses the registry's tables: reloads fail. */
    exec_sql("ALTER TABLE identity_generation RENAME TO identity_generation_gone");
    cr_assert_neq(identity_registry_invalidate(id, &err), 0);
    /* Within the bound (10 s by default): the last good snapshot answers. */
    cr_assert_eq(
        identity_authenticate_cert(id, &c, SYSTEM_RECIPIENT, ENV_TEST, clock_now_ms(), &p, &err), 0,
        "%s", err.log);
    /* Past it: refused, 503 registry-unavailable, and the token path too. */
    snapshot_set_stale_max_ms(0);
    cr_assert_eq(
        identity_authenticate_cert(id, &c, SYSTEM_RECIPIENT, ENV_TEST, clock_now_ms(), &p, &err),
        DUPLA_EBUSY);
    cr_assert_eq(err_status(&err), 503);
    cr_assert_str_eq(err.type, SNAPSHOT_UNAVAILABLE_TYPE);
    cr_assert_eq(identity_check_principal(id, str_from_cstr(p.system_id), STR(CVR_A), NULL,
                                          ENV_TEST, clock_now_ms(), &p, &err),
                 DUPLA_EBUSY);
    /* The store comes back: the next refresh serves again. */
    exec_sql("ALTER TABLE identity_generation_gone RENAME TO identity_generation");
    cr_assert_eq(identity_registry_refresh(id, &err), 0, "%s", err.log);
    cr_assert_eq(
        identity_authenticate_cert(id, &c, SYSTEM_RECIPIENT, ENV_TEST, clock_now_ms(), &p, &err), 0,
        "%s", err.log);
    snapshot_set_stale_max_ms(SNAPSHOT_STALE_MAX_MS);
}

Test(identity, demo_setup_is_idempotent)
{
    char pki[128], pem[160];
    snprintf(pki, sizeof pki, "%s/pki", dir);
    err_t err;
    struct pki_init_options io = {.dir = pki};
    cr_assert_eq(pki_init(&io, &err), 0, "%s", err.log);
    struct pki_system_options so = {
        .dir = pki, .cvr = IDENTITY_DEMO_CVR, .name = IDENTITY_DEMO_SYSTEM};
    cr_assert_eq(pki_issue_system(&so, &err), 0, "%s", err.log);
    snprintf(pem, sizeof pem, "%s/%s.pem", pki, IDENTITY_DEMO_SYSTEM);
    struct identity_demo d1, d2;
    cr_assert_eq(identity_demo_setup(id, pem, dir, &d1, &err), 0, "%s", err.log);
    cr_assert_eq(identity_demo_setup(id, pem, dir, &d2, &err), 0, "%s", err.log);
    cr_assert_str_eq(d1.system_id, d2.system_id);
    struct pki_cert_info ci;
    cr_assert_eq(pki_cert_info_from_file(pem, &ci, &err), 0);
    struct identity_principal p;
    cr_assert_eq(
        identity_authenticate_cert(id, &ci, SYSTEM_RECIPIENT, ENV_TEST, clock_now_ms(), &p, &err),
        0, "%s", err.log);
    struct identity_session s;
    long retry;
    cr_assert_eq(identity_login(id, STR("underskriver@" IDENTITY_DEMO_DOMAIN),
                                STR(IDENTITY_DEMO_PASSWORD), "ip", &s, &retry, &err),
                 0, "%s", err.log);
    cr_assert_eq(access(d1.users_file, R_OK), 0);
}
