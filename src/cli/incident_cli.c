/*
 * incident_cli.c: see incident_cli.h. The identity hooks live here, in the
 * CLI layer, because the incident module must not include identity (both
 * are domain modules); `dupla serve` uses the same hooks.
 */
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/incident_cli.h"
#include "core/clock.h"

struct mailbox_match {
    const char *addr;
    char *cvr;
    int found;
};

static int match_contact(const struct identity_org *o, void *ctx)
{
    struct mailbox_match *m = ctx;
    if (strcasecmp(o->contact_email, m->addr) == 0 && !o->data_owner) {
        memcpy(m->cvr, o->cvr, CVR_LEN + 1);
        m->found = 1;
        return 1;
    }
    return 0;
}

static int hook_org_by_address(void *ctx, const char *addr, char cvr_out[9])
{
    identity_t *id = ctx;
    err_t err;
    struct identity_user u;
    struct identity_org o;
    if (identity_user_get(id, str_from_cstr(addr), &u, &err) == 0 &&
        identity_org_get(id, str_from_cstr(u.org_id), &o, &err) == 0 && !o.data_owner) {
        memcpy(cvr_out, o.cvr, CVR_LEN + 1);
        return 1;
    }
    struct mailbox_match m = {addr, cvr_out, 0};
    if (identity_org_list(id, match_contact, &m, &err) < 0)
        return -1;
    return m.found;
}

static int hook_org_mailbox(void *ctx, const char *cvr, char *out, size_t cap)
{
    struct identity_org o;
    err_t err;
    if (identity_org_get(ctx, str_from_cstr(cvr), &o, &err) != 0 || !o.contact_email[0])
        return -1;
    snprintf(out, cap, "%s", o.contact_email);
    return 0;
}

static int hook_org_exists(void *ctx, const char *cvr)
{
    struct identity_org o;
    err_t err;
    return identity_org_get(ctx, str_from_cstr(cvr), &o, &err) == 0 && o.status == ORG_ACTIVE &&
           !o.data_owner;
}

void incident_identity_hooks(identity_t *id, struct incident_hooks *out)
{
    memset(out, 0, sizeof *out);
    out->ctx = id;
    out->org_by_address = hook_org_by_address;
    out->org_mailbox = hook_org_mailbox;
    out->org_exists = hook_org_exists;
}

int inccli_open(const char *cmd, const char *config_path, struct inccli *c)
{
    memset(c, 0, sizeof *c);
    if (idcli_open(cmd, config_path, &c->id))
        return 1;
    err_t err;
    err_clear(&err);
    struct incident_settings set;
    struct mail_settings mset;
    struct incident_hooks hooks;
    incident_identity_hooks(c->id.id, &hooks);
    if (incident_settings_from_config(&c->id.cfg, &set, &err) ||
        mail_config_read(&c->id.cfg, &mset, &err) || mail_open(c->id.st, &mset, &c->mail, &err) ||
        incident_open(c->id.st, &hooks, &set, &c->inc, &err)) {
        mail_close(c->mail);
        fprintf(stderr, "dupla %s: %s\n", cmd, err.log[0] ? err.log : err.detail);
        idcli_close(&c->id);
        return 1;
    }
    struct passwd *pw = getpwuid(geteuid());
    snprintf(c->actor.name, sizeof c->actor.name, "cli:%.100s",
             pw && pw->pw_name ? pw->pw_name : "unknown");
    c->actor.roles = INCIDENT_ROLE_STAFF;
    return 0;
}

void inccli_close(struct inccli *c)
{
    incident_close(c->inc);
    mail_close(c->mail);
    idcli_close(&c->id);
    memset(c, 0, sizeof *c);
}

int inccli_parse_time(const char *s, int64_t now, int64_t *out)
{
    if (strcmp(s, "now") == 0) {
        *out = now;
        return 0;
    }
    if (s[0] == '+') {
        size_t n = strlen(s);
        if (n < 3)
            return -1;
        int64_t v;
        if (str_to_int64(str_sub(str_from_cstr(s), 1, n - 2), &v) != 0 || v < 0 || v > 100000)
            return -1;
        int64_t unit = s[n - 1] == 'm'   ? 60000
                       : s[n - 1] == 'h' ? 3600000
                       : s[n - 1] == 'd' ? 86400000
                                         : 0;
        if (!unit)
            return -1;
        *out = now + v * unit;
        return 0;
    }
    return clock_parse_timestamp(str_from_cstr(s), out, 0) == 0 ? 0 : -1;
}
