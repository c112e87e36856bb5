/* The shared set-up of the agreement unit tests: a fresh store, a tiny
 * catalogue and identity given through the hooks, and the cast of actors. */
#ifndef DUPLA_TEST_AGREEMENT_FIXTURE_H
#define DUPLA_TEST_AGREEMENT_FIXTURE_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agreement/agreement.h"
#include "core/clock.h"

#define ORG  "12345674"
#define ORG2 "87654303"
#define DAY  86400000LL

static char fx_dir[64];
static store_t *fx_store;
static agreement_t *fx_ag;

/* Momsangivelse: A, B, C; Aarsopgoerelse: X, Y. */
static inline int fx_field_known(void *ctx, const char *service, const char *field)
{
    (void)ctx;
    static const char *const moms[] = {"A", "B", "C"}, *const aars[] = {"X", "Y"};
    const char *const *list = NULL;
    size_t n = 0;
    if (strcmp(service, "Momsangivelse") == 0)
        list = moms, n = 3;
    else if (strcmp(service, "Aarsopgoerelse") == 0)
        list = aars, n = 2;
    else
        return 0;
    if (!field)
        return 1;
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], field) == 0)
            return 1;
    return 0;
}

static inline int fx_system_known(void *ctx, const char *org, const char *system)
{
    (void)ctx;
    return strcmp(org, ORG) == 0 && (strcmp(system, "sys-1") == 0 || strcmp(system, "sys-2") == 0);
}

static inline int fx_mailbox(void *ctx, const char *org, char *out, size_t cap)
{
    (void)ctx;
    snprintf(out, cap, "kontakt-%s@org.example", org);
    return 0;
}

static const struct agreement_hooks fx_hooks = {
    .field_known = fx_field_known, .system_known = fx_system_known, .org_mailbox = fx_mailbox};

static inline struct agreement_actor fx_actor(int64_t id, const char *name, const char *org,
                                              unsigned roles)
{
    struct agreement_actor a = {.user_id = id, .roles = roles};
    snprintf(a.user_name, sizeof a.user_name, "%s", name);
    snprintf(a.org_cvr, sizeof a.org_cvr, "%s", org);
    return a;
}

#define PROCESSOR  fx_actor(1, "pia processor", ORG, AGREEMENT_ROLE_PROCESSOR)
#define PROCESSOR2 fx_actor(2, "per processor", ORG, AGREEMENT_ROLE_PROCESSOR)
#define SIGNATORY  fx_actor(3, "sif signatory", ORG, AGREEMENT_ROLE_SIGNATORY)
#define BOTH       fx_actor(4, "bo both", ORG, AGREEMENT_ROLE_PROCESSOR | AGREEMENT_ROLE_SIGNATORY)
#define ADMIN      fx_actor(5, "ada admin", ORG, AGREEMENT_ROLE_ADMINISTRATOR)
#define REVIEWER   fx_actor(10, "rita reviewer", "", AGREEMENT_ROLE_DATAFORVALTNING)
#define OPERATOR   fx_actor(11, "otto operator", "", AGREEMENT_ROLE_OPERATOR)
#define OTHER      fx_actor(20, "olga other", ORG2, AGREEMENT_ROLE_PROCESSOR | AGREEMENT_ROLE_SIGNATORY)

static inline void fx_setup(void)
{
    snprintf(fx_dir, sizeof fx_dir, "/tmp/dupla-agreement-XXXXXX");
    cr_assert_not_null(mkdtemp(fx_dir));
    char url[128];
    snprintf(url, sizeof url, "sqlite:%s/t.db", fx_dir);
    err_t err;
    cr_assert_eq(store_open(url, NULL, &fx_store, &err), 0, "%s", err.log);
    cr_assert_eq(agreement_open(fx_store, &fx_hooks, &fx_ag, &err), 0, "%s", err.log);
}

static inline void fx_teardown(void)
{
    agreement_close(fx_ag);
    store_close(fx_store);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", fx_dir);
    cr_assert_eq(system(cmd), 0);
}

/* A date offset days from today, "yyyy-mm-dd" (static buffer per slot). */
static inline const char *fx_date(int offset, int slot)
{
    static char buf[4][16];
    clock_format_date((int32_t)(clock_now_ms() / DAY) + offset, buf[slot], sizeof buf[slot]);
    return buf[slot];
}

/* A complete application for services (a JSON text), valid from from_off
 * days from today, until to_off (no end when to_off == 0). */
static inline json_t *fx_app(const char *services, int from_off, int to_off)
{
    json_error_t jerr;
    json_t *sv = json_loads(services, 0, &jerr);
    cr_assert_not_null(sv, "%s", jerr.text);
    json_t *app = json_pack(
        "{s:s, s:s, s:[{s:s, s:s}], s:o, s:s, s:s, s:{s:i, s:i}, s:{s:s, s:s, s:s}}", "title",
        "Kontrol af boligstøtte", "purpose", "To check entitlement to housing benefit.",
        "legal_basis", "law", "Lov om individuel boligstøtte", "section", "§ 48", "services", sv,
        "systems", "all", "valid_from", fx_date(from_off, 0), "expected_volume", "calls_per_month",
        1000, "subjects_per_month", 500, "contact", "name", "Pia", "email", "pia@org.example",
        "phone", "+45 1234 5678");
    cr_assert_not_null(app);
    if (to_off)
        json_object_set_new(app, "valid_to", json_string(fx_date(to_off, 1)));
    return app;
}

/* Drafts (PROCESSOR), signs (SIGNATORY) and approves (REVIEWER) app, which
 * is consumed; the id goes to id. */
static inline void fx_approved(json_t *app, char *id)
{
    err_t err;
    struct agreement_actor p = PROCESSOR, s = SIGNATORY, r = REVIEWER;
    cr_assert_eq(agreement_create(fx_ag, &p, ENV_TEST, app, id, &err), 0, "%s", err.detail);
    json_decref(app);
    cr_assert_eq(agreement_sign(fx_ag, &s, str_from_cstr(id), &err), 0, "%s", err.detail);
    cr_assert_eq(agreement_approve(fx_ag, &r, str_from_cstr(id), "Proportional.", NULL, NULL, &err),
                 0, "%s", err.detail);
}

static inline int64_t fx_count(const char *sql)
{
    store_conn_t *c;
    err_t err;
    int64_t n = -1;
    cr_assert_eq(store_conn_get(fx_store, &c, &err), 0);
    cr_assert_eq(store_query_int64(c, sql, -1, &n, &err), 0, "%s", err.log);
    store_conn_put(c);
    return n;
}

#endif
