/* Unit tests: suspending and re-activating a single user
 * (identity_user_set_status): who may, the sessions that end, login refused
 * while suspended, the last administrator kept, and the history. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "identity/identity.h"

#define CVR_A  "12345674"
#define CVR_B  "20000007"
#define PASSWD "correct horse battery"

static char dir[64];
static struct dupla_config cfg;
static store_t *st;
static identity_t *id;
static identity_actor_t local;

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/dupla-userstatus-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    err_t err;
    cr_assert_eq(config_load_string("{\"environment\":\"test\", \"store\":\"sqlite:t.db\"}", dir,
                                    &cfg, &err),
                 0, "%s", err.log);
    cr_assert_eq(store_open(cfg.store_url, NULL, &st, &err), 0, "%s", err.log);
    cr_assert_eq(identity_open(st, &cfg, &id, &err), 0, "%s", err.log);
    identity_actor_local(&local);
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

TestSuite(user_status, .init = setup, .fini = teardown);

static void onboard(const char *cvr, const char *admin)
{
    struct identity_org_new in = {.name = STR("Kommune"),
                                  .cvr = str_from_cstr(cvr),
                                  .contact_email = STR("kontakt@example.dk"),
                                  .admin_username = str_from_cstr(admin)};
    struct identity_org o;
    struct identity_setup_secret sec;
    err_t err;
    cr_assert_eq(identity_org_create(id, &local, &in, &o, &sec, &err), 0, "%s", err.log);
    cr_assert_eq(identity_user_set_password(id, &local, str_from_cstr(admin), STR(PASSWD), &err), 0,
                 "%s", err.log);
}

static void add_user(const char *cvr, const char *username, unsigned roles)
{
    err_t err;
    struct identity_user u;
    struct identity_setup_secret sec;
    cr_assert_eq(identity_user_create(id, &local, str_from_cstr(cvr), str_from_cstr(username),
                                      STR_NULL, roles, &u, &sec, &err),
                 0, "%s", err.log);
    cr_assert_eq(identity_user_set_password(id, &local, str_from_cstr(username), STR(PASSWD), &err),
                 0, "%s", err.log);
}

static int login(const char *username, struct identity_session *s)
{
    long retry;
    err_t err;
    identity_throttle_reset(id);
    return identity_login(id, str_from_cstr(username), STR(PASSWD), "127.0.0.1", s, &retry, &err);
}

static void actor_of(const char *username, identity_actor_t *a, struct identity_session *s)
{
    err_t err;
    cr_assert_eq(login(username, s), 0);
    cr_assert_eq(identity_session_actor(id, str_from_cstr(s->id), a, &err), 0, "%s", err.log);
}

static enum user_status status_of(const char *username)
{
    struct identity_user u;
    err_t err;
    cr_assert_eq(identity_user_get(id, str_from_cstr(username), &u, &err), 0, "%s", err.log);
    return u.status;
}

Test(user_status, administrator_suspends_and_reactivates_a_user)
{
    onboard(CVR_A, "admin@a.dk");
    add_user(CVR_A, "bo@a.dk", ROLE_PROCESSOR);
    identity_actor_t adm, bo;
    struct identity_session sa, sb;
    actor_of("admin@a.dk", &adm, &sa);
    actor_of("bo@a.dk", &bo, &sb);
    err_t err;
    cr_assert_eq(
        identity_user_set_status(id, &adm, STR("bo@a.dk"), USER_SUSPENDED, STR("Fratrådt"), &err),
        0, "%s", err.log);
    cr_assert_eq(status_of("bo@a.dk"), USER_SUSPENDED);
    /* It cannot log in. */
    identity_actor_t again;
    struct identity_session s2;
    cr_assert_eq(login("bo@a.dk", &s2), DUPLA_EUNAUTH);
    /* The administrator's own session goes on. */
    cr_assert_eq(identity_session_actor(id, str_from_cstr(sa.id), &again, &err), 0, "%s", err.log);
    /* Suspending again is a conflict; re-activation lets it log in. */
    cr_assert_eq(identity_user_set_status(id, &adm, STR("bo@a.dk"), USER_SUSPENDED, STR(""), &err),
                 DUPLA_ECONFLICT);
    cr_assert(err_is(&err, PROBLEM_ALREADY_SUSPENDED), "%s", err.type);
    cr_assert_eq(identity_user_set_status(id, &adm, STR("bo@a.dk"), USER_ACTIVE, STR(""), &err), 0,
                 "%s", err.log);
    cr_assert_eq(status_of("bo@a.dk"), USER_ACTIVE);
    cr_assert_eq(login("bo@a.dk", &s2), 0);
    /* The session it had when suspended ended then: re-activation does not
     * bring it back. */
    cr_assert_eq(identity_session_actor(id, str_from_cstr(sb.id), &again, &err), DUPLA_EUNAUTH);
    cr_assert_eq(identity_session_actor(id, str_from_cstr(s2.id), &again, &err), 0, "%s", err.log);
    cr_assert_eq(identity_user_set_status(id, &adm, STR("bo@a.dk"), USER_ACTIVE, STR(""), &err),
                 DUPLA_ECONFLICT);
    cr_assert(err_is(&err, PROBLEM_ALREADY_ACTIVE), "%s", err.type);
}

Test(user_status, only_the_own_administrator_may)
{
    onboard(CVR_A, "admin@a.dk");
    onboard(CVR_B, "admin@b.dk");
    add_user(CVR_A, "bo@a.dk", ROLE_PROCESSOR);
    add_user(CVR_A, "sig@a.dk", ROLE_SIGNATORY);
    identity_actor_t other_admin, processor;
    struct identity_session s;
    actor_of("admin@b.dk", &other_admin, &s);
    actor_of("sig@a.dk", &processor, &s);
    err_t err;
    cr_assert_eq(
        identity_user_set_status(id, &other_admin, STR("bo@a.dk"), USER_SUSPENDED, STR(""), &err),
        DUPLA_EFORBIDDEN);
    cr_assert_eq(
        identity_user_set_status(id, &processor, STR("bo@a.dk"), USER_SUSPENDED, STR(""), &err),
        DUPLA_EFORBIDDEN);
    cr_assert_eq(status_of("bo@a.dk"), USER_ACTIVE);
    cr_assert_eq(identity_user_set_status(id, &other_admin, STR("nobody@a.dk"), USER_SUSPENDED,
                                          STR(""), &err),
                 DUPLA_ENOTFOUND);
}

Test(user_status, self_and_last_administrator_are_refused)
{
    onboard(CVR_A, "admin@a.dk");
    identity_actor_t adm;
    struct identity_session s;
    actor_of("admin@a.dk", &adm, &s);
    err_t err;
    cr_assert_eq(
        identity_user_set_status(id, &adm, STR("admin@a.dk"), USER_SUSPENDED, STR(""), &err),
        DUPLA_ECONFLICT);
    cr_assert_str_eq(err.param, "user");
    cr_assert(err_is(&err, PROBLEM_SELF_SUSPENSION), "%s", err.type);
    /* The console cannot suspend the last active administrator either... */
    cr_assert_eq(
        identity_user_set_status(id, &local, STR("admin@a.dk"), USER_SUSPENDED, STR(""), &err),
        DUPLA_ECONFLICT);
    cr_assert(err_is(&err, PROBLEM_LAST_ADMINISTRATOR), "%s", err.type);
    cr_assert_str_eq(err.param, "user");
    /* ... but can once there is a second one; then the second is the last. */
    add_user(CVR_A, "admin2@a.dk", ROLE_ADMINISTRATOR);
    cr_assert_eq(
        identity_user_set_status(id, &local, STR("admin@a.dk"), USER_SUSPENDED, STR(""), &err), 0,
        "%s", err.log);
    cr_assert_eq(
        identity_user_set_status(id, &local, STR("admin2@a.dk"), USER_SUSPENDED, STR(""), &err),
        DUPLA_ECONFLICT);
}

Test(user_status, the_last_administrator_keeps_the_role)
{
    onboard(CVR_A, "admin@a.dk");
    err_t err;
    /* Only the onboarded administrator: its role cannot go, from the console either. */
    cr_assert_eq(identity_role_revoke(id, &local, STR("admin@a.dk"), ROLE_ADMINISTRATOR, &err),
                 DUPLA_ECONFLICT);
    cr_assert(err_is(&err, PROBLEM_LAST_ADMINISTRATOR), "%s", err.type);
    cr_assert_str_eq(err.param, "role");
    cr_assert_eq(err_status(&err), 409);
    /* With a second one it can; then the second keeps it. */
    add_user(CVR_A, "admin2@a.dk", ROLE_ADMINISTRATOR);
    cr_assert_eq(identity_role_revoke(id, &local, STR("admin@a.dk"), ROLE_ADMINISTRATOR, &err), 0,
                 "%s", err.log);
    cr_assert_eq(identity_role_revoke(id, &local, STR("admin2@a.dk"), ROLE_ADMINISTRATOR, &err),
                 DUPLA_ECONFLICT);
}

Test(user_status, bad_input_is_refused)
{
    onboard(CVR_A, "admin@a.dk");
    err_t err;
    cr_assert_eq(
        identity_user_set_status(id, &local, STR("admin@a.dk"), (enum user_status)7, STR(""), &err),
        DUPLA_EINVAL);
    char long_reason[IDENTITY_REASON_MAX + 2];
    memset(long_reason, 'x', sizeof long_reason - 1);
    long_reason[sizeof long_reason - 1] = '\0';
    add_user(CVR_A, "bo@a.dk", ROLE_PROCESSOR);
    cr_assert_eq(identity_user_set_status(id, &local, STR("bo@a.dk"), USER_SUSPENDED,
                                          str_from_cstr(long_reason), &err),
                 DUPLA_EINVAL);
    cr_assert_str_eq(err.param, "reason");
    cr_assert_eq(
        identity_user_set_status(id, &local, STR("bo@a.dk"), USER_SUSPENDED, STR("a\x01"), &err),
        DUPLA_EINVAL);
    cr_assert_eq(status_of("bo@a.dk"), USER_ACTIVE);
}

Test(user_status, history_records_before_after_and_reason)
{
    onboard(CVR_A, "admin@a.dk");
    add_user(CVR_A, "bo@a.dk", ROLE_PROCESSOR);
    err_t err;
    cr_assert_eq(
        identity_user_set_status(id, &local, STR("bo@a.dk"), USER_SUSPENDED, STR("Orlov"), &err), 0,
        "%s", err.log);
    cr_assert_eq(identity_user_set_status(id, &local, STR("bo@a.dk"), USER_ACTIVE, STR(""), &err),
                 0, "%s", err.log);
    json_t *h;
    cr_assert_eq(identity_history_list(id, STR(CVR_A), 2, &h, &err), 0, "%s", err.log);
    cr_assert_eq(json_array_size(h), 2);
    json_t *act = json_array_get(h, 0), *sus = json_array_get(h, 1);
    cr_assert_str_eq(json_string_value(json_object_get(act, "action")), "user.activate");
    cr_assert_str_eq(json_string_value(json_object_get(sus, "action")), "user.suspend");
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(sus, "before"), "status")),
                     "active");
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(sus, "after"), "status")),
                     "suspended");
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(sus, "after"), "reason")),
                     "Orlov");
    json_decref(h);
}
