/*
 * demo.c: the demo organisation behind `make run` (dupla demo). Idempotent:
 * every step looks for what it would make first.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "identity/internal.h"

struct demo_user {
    const char *local; /* before the @ */
    const char *name;
    unsigned roles;
    bool owner; /* a data owner user */
};

static const struct demo_user demo_users[] = {
    {"admin", "Demo Administrator", ROLE_ADMINISTRATOR, false},
    {"behandler", "Demo Behandler", ROLE_PROCESSOR, false},
    {"underskriver", "Demo Underskriver", ROLE_SIGNATORY, false},
    {"dataforvaltning", "Demo Dataforvaltning", ROLE_DATAFORVALTNING | ROLE_OPERATOR, true},
};

/* Makes the user (with roles and the demo password) unless it exists. */
static int ensure_user(identity_t *id, const identity_actor_t *local, const char *org,
                       const struct demo_user *du, json_t *list, err_t *err)
{
    char username[IDENTITY_USERNAME_MAX + 1];
    snprintf(username, sizeof username, "%s@%s", du->local, IDENTITY_DEMO_DOMAIN);
    struct identity_user u;
    err_t e2;
    err_clear(&e2);
    int rc = identity_user_get(id, str_from_cstr(username), &u, &e2);
    if (rc == DUPLA_ENOTFOUND) {
        struct identity_setup_secret sec;
        rc = identity_user_create(id, local, str_from_cstr(org), str_from_cstr(username),
                                  str_from_cstr(du->name), du->roles, &u, &sec, err);
        if (rc)
            return rc;
        rc = identity_user_set_password(id, local, str_from_cstr(username),
                                        STR(IDENTITY_DEMO_PASSWORD), err);
    } else if (rc) {
        *err = e2;
    }
    if (!rc)
        json_array_append_new(list, json_pack("{s:s, s:s, s:o}", "username", username, "password",
                                              IDENTITY_DEMO_PASSWORD, "roles",
                                              identity_roles_json(du->roles)));
    return rc;
}

int identity_demo_setup(identity_t *id, const char *cert_file, const char *demo_dir,
                        struct identity_demo *out, err_t *err)
{
    memset(out, 0, sizeof *out);
    identity_actor_t local;
    identity_actor_local(&local);
    snprintf(local.label, sizeof local.label, "system:demo");
    struct pki_cert_info ci;
    int rc = pki_cert_info_from_file(cert_file, &ci, err);
    if (rc)
        return rc;
    struct identity_org o, owner;
    err_t e2;
    err_clear(&e2);
    rc = identity_org_get(id, STR(IDENTITY_DEMO_CVR), &o, &e2);
    if (rc == DUPLA_ENOTFOUND) {
        char admin[IDENTITY_USERNAME_MAX + 1], contact[IDENTITY_USERNAME_MAX + 1];
        snprintf(admin, sizeof admin, "admin@%s", IDENTITY_DEMO_DOMAIN);
        snprintf(contact, sizeof contact, "kontakt@%s", IDENTITY_DEMO_DOMAIN);
        struct identity_org_new in = {.name = STR(IDENTITY_DEMO_ORG),
                                      .cvr = STR(IDENTITY_DEMO_CVR),
                                      .contact_email = str_from_cstr(contact),
                                      .environments = ORG_ENV_TEST,
                                      .admin_username = str_from_cstr(admin),
                                      .admin_name = STR("Demo Administrator")};
        struct identity_setup_secret sec;
        if ((rc = identity_org_create(id, &local, &in, &o, &sec, err)))
            return rc;
        if ((rc = identity_user_set_password(id, &local, str_from_cstr(admin),
                                             STR(IDENTITY_DEMO_PASSWORD), err)))
            return rc;
    } else if (rc) {
        *err = e2;
        return rc;
    }
    if ((rc = identity_org_owner(id, &owner, err)))
        return rc;
    json_t *users = json_array();
    for (size_t i = 0; i < sizeof demo_users / sizeof demo_users[0] && !rc; i++)
        rc = ensure_user(id, &local, demo_users[i].owner ? owner.id : o.id, &demo_users[i], users,
                         err);
    if (rc) {
        json_decref(users);
        return rc;
    }

    char ref[CVR_LEN + 2 + sizeof IDENTITY_DEMO_SYSTEM];
    snprintf(ref, sizeof ref, "%s/%s", IDENTITY_DEMO_CVR, IDENTITY_DEMO_SYSTEM);
    struct identity_system sy;
    err_clear(&e2);
    rc = identity_system_get(id, str_from_cstr(ref), &sy, &e2);
    if (rc == DUPLA_ENOTFOUND) {
        rc = identity_system_register(id, &local, STR(IDENTITY_DEMO_CVR), STR(IDENTITY_DEMO_SYSTEM),
                                      SYSTEM_RECIPIENT, &ci, &sy, err);
    } else if (rc) {
        *err = e2;
    } else {
        /* A re-issued certificate: add it (a known one is a conflict: fine). */
        err_clear(&e2);
        int arc = identity_cert_add(id, &local, str_from_cstr(sy.id), &ci, NULL, &e2);
        if (arc && arc != DUPLA_ECONFLICT) {
            *err = e2;
            rc = arc;
        }
    }
    if (rc) {
        json_decref(users);
        return rc;
    }
    snprintf(out->org_id, sizeof out->org_id, "%s", o.id);
    snprintf(out->org_cvr, sizeof out->org_cvr, "%s", o.cvr);
    snprintf(out->system_id, sizeof out->system_id, "%s", sy.id);
    if (snprintf(out->users_file, sizeof out->users_file, "%s/users.json", demo_dir) >=
        (int)sizeof out->users_file) {
        json_decref(users);
        return err_set(err, DUPLA_EINVAL, "demo: the folder's path is too long");
    }
    json_t *doc = json_pack("{s:s, s:o}", "note",
                            "demo users of the test environment only; the password is public",
                            "users", users);
    if (json_dump_file(doc, out->users_file, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0)
        rc = err_set(err, DUPLA_EIO, "demo: cannot write %s: %s", out->users_file, strerror(errno));
    json_decref(doc);
    return rc;
}
