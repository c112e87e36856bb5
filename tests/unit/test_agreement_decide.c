/* Unit tests: the decision on the data path and the in-memory registry. */
#include <pthread.h>

#include "agreement_fixture.h"
#include "core/snapshot.h"

TestSuite(decide, .init = fx_setup, .fini = fx_teardown);

static char id_all[AGREEMENT_ID_LEN + 1]; /* Momsangivelse A, C; all systems */
static char id_sys[AGREEMENT_ID_LEN + 1]; /* Momsangivelse A; only sys-2 */

static void two_agreements(void)
{
    json_t *app = fx_app("{\"Momsangivelse\": [\"A\", \"C\"]}", -1, 0);
    fx_approved(app, id_all);
    app = fx_app("{\"Momsangivelse\": [\"A\"]}", -1, 0);
    json_object_set_new(app, "systems", json_pack("[s]", "sys-2"));
    fx_approved(app, id_sys);
}

static enum agreement_verdict verdict(const char *org, const char *sys, enum environment env,
                                      const char *id, const char *service, const char *field,
                                      bool explicit)
{
    struct agreement_caller caller = {str_from_cstr(org), str_from_cstr(sys), env};
    str_t fields[] = {str_from_cstr(field)};
    bool gr[1];
    struct agreement_decision d;
    int rc = agreement_decide(agreement_registry(fx_ag), &caller, str_from_cstr(id),
                              str_from_cstr(service), fields, 1, explicit, clock_now_ms(), gr, &d);
    cr_assert_eq(rc == 0, d.verdict == AGREEMENT_ALLOW);
    return d.verdict;
}

Test(decide, every_reason_of_refusal)
{
    two_agreements();
    cr_assert_eq(verdict(ORG, "sys-1", ENV_TEST, id_all, "Momsangivelse", "A", true),
                 AGREEMENT_ALLOW);
    cr_assert_eq(verdict(ORG, "sys-1", ENV_TEST, "not-an-id", "Momsangivelse", "A", true),
                 AGREEMENT_DENY_MALFORMED);
    cr_assert_eq(verdict(ORG, "sys-1", ENV_TEST, "0123456789abcdef0123456789abcdef",
                         "Momsangivelse", "A", true),
                 AGREEMENT_DENY_NOT_FOUND);
    cr_assert_eq(verdict(ORG2, "sys-1", ENV_TEST, id_all, "Momsangivelse", "A", true),
                 AGREEMENT_DENY_OTHER_ORG);
    cr_assert_eq(verdict(ORG, "sys-1", ENV_PRODUCTION, id_all, "Momsangivelse", "A", true),
                 AGREEMENT_DENY_WRONG_ENV);
    cr_assert_eq(verdict(ORG, "sys-1", ENV_TEST, id_sys, "Momsangivelse", "A", true),
                 AGREEMENT_DENY_SYSTEM);
    cr_assert_eq(verdict(ORG, "sys-2", ENV_TEST, id_sys, "Momsangivelse", "A", true),
                 AGREEMENT_ALLOW);
    cr_assert_eq(verdict(ORG, "sys-1", ENV_TEST, id_all, "Aarsopgoerelse", "X", true),
                 AGREEMENT_DENY_SERVICE);
    cr_assert_eq(verdict(ORG, "sys-1", ENV_TEST, id_all, "momsangivelse", "A", true),
                 AGREEMENT_DENY_SERVICE, "names are exact");
    cr_assert_eq(verdict(ORG, "sys-1", ENV_TEST, id_all, "Momsangivelse", "B", true),
                 AGREEMENT_DENY_FIELD);
    cr_assert_eq(verdict(ORG, "sys-1", ENV_TEST, id_all, "Momsangivelse", "B", false),
                 AGREEMENT_ALLOW, "not asked explicitly: B is simply left out");

    /* Drafted and signed but never approved. */
    char pending[AGREEMENT_ID_LEN + 1];
    err_t err;
    struct agreement_actor p = PROCESSOR, s = SIGNATORY;
    json_t *app = fx_app("{\"Momsangivelse\": [\"A\"]}", -1, 0);
    cr_assert_eq(agreement_create(fx_ag, &p, ENV_TEST, app, pending, &err), 0);
    json_decref(app);
    cr_assert_eq(agreement_sign(fx_ag, &s, str_from_cstr(pending), &err), 0);
    cr_assert_eq(verdict(ORG, "sys-1", ENV_TEST, pending, "Momsangivelse", "A", true),
                 AGREEMENT_DENY_NOT_APPROVED);

    /* Every verdict has a name, a detail and a status. */
    for (int v = 0; v < AGREEMENT_VERDICT_COUNT; v++) {
        cr_assert_not_null(agreement_verdict_name(v));
        cr_assert_not_null(agreement_verdict_detail(v));
        cr_assert(agreement_verdict_status(v) >= 200);
    }
    cr_assert_eq(agreement_verdict_status(AGREEMENT_DENY_MALFORMED), 400);
    cr_assert_eq(agreement_verdict_status(AGREEMENT_DENY_REVOKED), 403);
    cr_assert_str_eq(agreement_verdict_name(AGREEMENT_DENY_REVOKED), "agreement-revoked");
}

Test(decide, granted_is_approved_intersected_with_requested)
{
    two_agreements();
    struct agreement_caller caller = {STR(ORG), STR("sys-1"), ENV_TEST};
    str_t fields[] = {STR("C"), STR("B"), STR("A"), STR("Z")};
    bool gr[4] = {true, true, true, true};
    struct agreement_decision d;
    cr_assert_eq(agreement_decide(agreement_registry(fx_ag), &caller, str_from_cstr(id_all),
                                  STR("Momsangivelse"), fields, 4, false, clock_now_ms(), gr, &d),
                 0);
    cr_assert(gr[0] && !gr[1] && gr[2] && !gr[3]);
    cr_assert_eq(d.n_granted, 2);
    /* Asked explicitly for A and C only: both granted. */
    str_t ac[] = {STR("A"), STR("C")};
    cr_assert_eq(agreement_decide(agreement_registry(fx_ag), &caller, str_from_cstr(id_all),
                                  STR("Momsangivelse"), ac, 2, true, clock_now_ms(), gr, &d),
                 0);
    cr_assert_eq(d.n_granted, 2);
    /* Asked explicitly for A and B: refused, naming B, and nothing granted. */
    str_t ab[] = {STR("A"), STR("B")};
    cr_assert_eq(agreement_decide(agreement_registry(fx_ag), &caller, str_from_cstr(id_all),
                                  STR("Momsangivelse"), ab, 2, true, clock_now_ms(), gr, &d),
                 DUPLA_EFORBIDDEN);
    cr_assert_eq(d.verdict, AGREEMENT_DENY_FIELD);
    cr_assert_eq(d.field_index, 1);
    cr_assert(!gr[0] && !gr[1]);
    cr_assert_eq(d.n_granted, 0);
}

Test(decide, the_urn_header_is_parsed)
{
    str_t id;
    cr_assert(agreement_urn_id(STR("urn:ufst:adgangsgrundlag:aftale:abc"), &id));
    cr_assert(str_eq_cstr(id, "abc"));
    cr_assert(agreement_urn_id(STR(" urn:ufst:adgangsgrundlag:aftale:abc "), &id));
    cr_assert(str_eq_cstr(id, "abc"));
    cr_assert_not(agreement_urn_id(STR("urn:ufst:adgangsgrundlag:aftale:"), &id));
    cr_assert_not(agreement_urn_id(STR("abc"), &id));
    cr_assert_not(agreement_urn_id(STR("urn:other:abc"), &id));
}

Test(decide, every_change_bumps_the_generation)
{
    agreement_registry_t *reg = agreement_registry(fx_ag);
    uint64_t g0 = agreement_registry_generation(reg);
    char id[AGREEMENT_ID_LEN + 1];
    fx_approved(fx_app("{\"Momsangivelse\": [\"A\"]}", -1, 0), id);
    cr_assert_eq(agreement_registry_generation(reg), g0 + 3, "create, sign, approve");
}

/* Another process (the CLI) revokes: this one sees it at its next sync. */
Test(decide, a_change_by_another_process_is_seen_at_sync)
{
    two_agreements();
    agreement_t *cli;
    err_t err;
    cr_assert_eq(agreement_open(fx_store, NULL, &cli, &err), 0, "%s", err.log);
    struct agreement_actor r = fx_actor(0, "cli:root", "", AGREEMENT_ROLE_DATAFORVALTNING);
    cr_assert_eq(agreement_revoke(cli, &r, str_from_cstr(id_all), "Revoked at the console.", &err),
                 0, "%s", err.detail);
    agreement_close(cli);
    uint64_t g = agreement_registry_generation(agreement_registry(fx_ag));
    cr_assert_eq(agreement_registry_sync(fx_ag, &err), 0);
    cr_assert_gt(agreement_registry_generation(agreement_registry(fx_ag)), g);
    cr_assert_eq(verdict(ORG, "sys-1", ENV_TEST, id_all, "Momsangivelse", "A", true),
                 AGREEMENT_DENY_REVOKED);
    /* Nothing changed since: a sync does not rebuild. */
    g = agreement_registry_generation(agreement_registry(fx_ag));
    cr_assert_eq(agreement_registry_sync(fx_ag, &err), 0);
    cr_assert_eq(agreement_registry_generation(agreement_registry(fx_ag)), g);
    /* The console actor is in the history as itself. */
    cr_assert_eq(fx_count("SELECT COUNT(*) FROM agreement_history WHERE actor = 'name:cli:root'"
                          " AND action = 'revoke'"),
                 1);
}

struct race {
    const char *id;
    int allowed, revoked, other;
};

static void *decide_loop(void *arg)
{
    struct race *r = arg;
    struct agreement_caller caller = {STR(ORG), STR("sys-1"), ENV_TEST};
    str_t fields[] = {STR("A"), STR("C")};
    bool gr[2];
    struct agreement_decision d;
    for (int i = 0; i < 20000; i++) {
        agreement_decide(agreement_registry(fx_ag), &caller, str_from_cstr(r->id),
                         STR("Momsangivelse"), fields, 2, true, clock_now_ms(), gr, &d);
        if (d.verdict == AGREEMENT_ALLOW)
            r->allowed++;
        else if (d.verdict == AGREEMENT_DENY_REVOKED)
            r->revoked++;
        else
            r->other++;
    }
    return NULL;
}

/* Deciding on several threads while the registry is rebuilt underneath:
 * every answer is either allowed or revoked, never torn (and ASan/TSan-clean
 * under the sanitizer build). */
Test(decide, concurrent_decisions_during_rebuilds)
{
    two_agreements();
    pthread_t t[3];
    struct race r[3] = {{id_all, 0, 0, 0}, {id_all, 0, 0, 0}, {id_all, 0, 0, 0}};
    for (int i = 0; i < 3; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, decide_loop, &r[i]), 0);
    err_t err;
    for (int i = 0; i < 10; i++)
        cr_assert_eq(agreement_registry_reload(fx_ag, &err), 0);
    struct agreement_actor rv = REVIEWER;
    cr_assert_eq(agreement_revoke(fx_ag, &rv, str_from_cstr(id_all), "stop", &err), 0);
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(r[i].other, 0);
        cr_assert_eq(r[i].allowed + r[i].revoked, 20000);
    }
    cr_assert_eq(verdict(ORG, "sys-1", ENV_TEST, id_all, "Momsangivelse", "A", true),
                 AGREEMENT_DENY_REVOKED);
}

static void fx_exec(const char *sql)
{
    store_conn_t *c;
    err_t err;
    cr_assert_eq(store_conn_get(fx_store, &c, &err), 0);
    cr_assert_eq(store_exec(c, sql, &err), 0, "%s", err.log);
    store_conn_put(c);
}

static int decide_rc(const char *id, struct agreement_decision *d)
{
    struct agreement_caller caller = {STR(ORG), STR("sys-1"), ENV_TEST};
    str_t fields[] = {STR("A")};
    bool gr[1];
    return agreement_decide(agreement_registry(fx_ag), &caller, str_from_cstr(id),
                            STR("Momsangivelse"), fields, 1, true, clock_now_ms(), gr, d);
}

/* Another process revokes; an invalidate (the LISTEN/NOTIFY hook, or the
 * local write's own rebuild) makes it seen by the very next call. */
Test(decide, a_revocation_elsewhere_is_refused_after_invalidate)
{
    two_agreements();
    agreement_t *cli;
    err_t err;
    cr_assert_eq(agreement_open(fx_store, NULL, &cli, &err), 0, "%s", err.log);
    struct agreement_actor r = fx_actor(0, "cli:root", "", AGREEMENT_ROLE_DATAFORVALTNING);
    cr_assert_eq(agreement_revoke(cli, &r, str_from_cstr(id_all), "Revoked.", &err), 0, "%s",
                 err.detail);
    agreement_close(cli);
    cr_assert_eq(verdict(ORG, "sys-1", ENV_TEST, id_all, "Momsangivelse", "A", true),
                 AGREEMENT_ALLOW, "not looked yet");
    cr_assert_eq(agreement_registry_reload(fx_ag, &err), 0, "%s", err.log);
    cr_assert_eq(verdict(ORG, "sys-1", ENV_TEST, id_all, "Momsangivelse", "A", true),
                 AGREEMENT_DENY_REVOKED);
}

/* The store fails: the last good registry decides within the bound, then
 * every call is refused with 503; a sync after the store is back serves. */
Test(decide, a_failing_rebuild_past_the_bound_refuses_with_503)
{
    two_agreements();
    err_t err;
    struct agreement_decision d;
    fx_exec("ALTER TABLE agreement_generation RENAME TO agreement_generation_gone");
    cr_assert_neq(agreement_registry_reload(fx_ag, &err), 0);
    cr_assert_eq(decide_rc(id_all, &d), 0, "within the bound: the last good registry");
    cr_assert_eq(d.verdict, AGREEMENT_ALLOW);
    snapshot_set_stale_max_ms(0);
    cr_assert_eq(decide_rc(id_all, &d), DUPLA_EBUSY);
    cr_assert_eq(d.verdict, AGREEMENT_DENY_UNAVAILABLE);
    cr_assert_eq(agreement_verdict_status(d.verdict), 503);
    cr_assert_neq(agreement_registry_sync(fx_ag, &err), 0, "still failing");
    fx_exec("ALTER TABLE agreement_generation_gone RENAME TO agreement_generation");
    cr_assert_eq(agreement_registry_sync(fx_ag, &err), 0, "%s", err.log);
    cr_assert_eq(decide_rc(id_all, &d), 0);
    snapshot_set_stale_max_ms(SNAPSHOT_STALE_MAX_MS);
}
