/* The shared set-up of the incident unit tests: a fresh store and maildir,
 * identity given through the hooks, small attachment limits, and helpers
 * to drop messages into the maildir and count rows. */
#ifndef DUPLA_TEST_INCIDENT_FIXTURE_H
#define DUPLA_TEST_INCIDENT_FIXTURE_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/snapshot.h"
#include "incident/incident.h"
#include "mail/mail.h"

#define ORG  "12345674" /* kommune.example: pia@kommune.example */
#define ORG2 "87654303" /* bank.example: anyone @bank.example */

static char fx_dir[64], fx_maildir[128];
static store_t *fx_store;
static incident_t *fx_inc;
static struct incident_settings fx_set;
static mail_t *fx_mail; /* the queue incident hands its mail to */
static struct mail_settings fx_mset;

static inline int fx_org_by_address(void *ctx, const char *addr, char cvr[9])
{
    (void)ctx;
    if (strcmp(addr, "pia@kommune.example") == 0) {
        memcpy(cvr, ORG, 9);
        return 1;
    }
    const char *at = strrchr(addr, '@');
    if (at && strcmp(at, "@bank.example") == 0) {
        memcpy(cvr, ORG2, 9);
        return 1;
    }
    return 0;
}

static inline int fx_org_mailbox(void *ctx, const char *org, char *out, size_t cap)
{
    (void)ctx;
    snprintf(out, cap, "kontakt-%s@org.example", org);
    return 0;
}

static inline int fx_org_exists(void *ctx, const char *org)
{
    (void)ctx;
    return strcmp(org, ORG) == 0 || strcmp(org, ORG2) == 0;
}

static inline int fx_agreement_of_org(void *ctx, const char *org, const char *id)
{
    (void)ctx;
    return strcmp(org, ORG) == 0 && strcmp(id, "aaaabbbbccccddddeeeeffff00001111") == 0;
}

static const struct incident_hooks fx_hooks = {.org_by_address = fx_org_by_address,
                                               .org_mailbox = fx_org_mailbox,
                                               .org_exists = fx_org_exists,
                                               .agreement_of_org = fx_agreement_of_org};

static inline void fx_open(void)
{
    err_t err;
    cr_assert_eq(mail_open(fx_store, &fx_mset, &fx_mail, &err), 0, "%s", err.log);
    cr_assert_eq(incident_open(fx_store, &fx_hooks, &fx_set, &fx_inc, &err), 0, "%s", err.log);
}

static inline void fx_setup(void)
{
    snprintf(fx_dir, sizeof fx_dir, "/tmp/dupla-incident-XXXXXX");
    cr_assert_not_null(mkdtemp(fx_dir));
    snprintf(fx_maildir, sizeof fx_maildir, "%s/Maildir", fx_dir);
    char p[200];
    mkdir(fx_maildir, 0700);
    snprintf(p, sizeof p, "%s/new", fx_maildir);
    mkdir(p, 0700);
    snprintf(p, sizeof p, "%s/cur", fx_maildir);
    mkdir(p, 0700);
    snprintf(p, sizeof p, "%s/tmp", fx_maildir);
    mkdir(p, 0700);
    char url[128];
    snprintf(url, sizeof url, "sqlite:%s/t.db", fx_dir);
    err_t err;
    cr_assert_eq(store_open(url, NULL, &fx_store, &err), 0, "%s", err.log);
    incident_settings_default(&fx_set);
    snprintf(fx_set.general_mailbox, sizeof fx_set.general_mailbox, "dataforvaltning@skat.example");
    fx_set.attachments_max = 2;
    fx_set.attachment_max_bytes = 1000;
    fx_set.attachments_total_bytes = 1500;
    mail_settings_default(&fx_mset);
    snprintf(fx_mset.from, sizeof fx_mset.from, "dupla@skat.example");
    fx_mset.retry_base_seconds = 10;
    fx_mset.retry_max_seconds = 100;
    fx_mset.max_attempts = 4;
    fx_mset.smtp_timeout_seconds = 5;
    fx_open();
}

static inline void fx_teardown(void)
{
    incident_close(fx_inc);
    mail_close(fx_mail);
    store_close(fx_store);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", fx_dir);
    cr_assert_eq(system(cmd), 0);
}

static inline int64_t fx_count(const char *sql)
{
    store_conn_t *c;
    err_t err;
    int64_t n = -1;
    cr_assert_eq(store_conn_get(fx_store, &c, &err), 0);
    cr_assert_eq(store_query_int64(c, sql, -1, &n, &err), 0, "%s: %s", sql, err.log);
    store_conn_put(c);
    return n;
}

/* Writes text as maildir/sub/name. */
static inline void fx_drop(const char *sub, const char *name, const char *text)
{
    char p[300];
    snprintf(p, sizeof p, "%s/%s/%s", fx_maildir, sub, name);
    FILE *f = fopen(p, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

static inline bool fx_exists(const char *sub, const char *name)
{
    char p[300];
    snprintf(p, sizeof p, "%s/%s/%s", fx_maildir, sub, name);
    return access(p, F_OK) == 0;
}

/* A simple message from sender with subject. */
static inline char *fx_message(const char *sender, const char *subject, const char *body)
{
    static char buf[8192];
    snprintf(buf, sizeof buf,
             "From: Pia Hansen <%s>\r\nTo: hændelser <incident@skat.example>\r\n"
             "Subject: %s\r\nMessage-ID: <%08lx@mail.example>\r\n"
             "Date: Tue, 03 Mar 2026 10:00:00 +0100\r\nMIME-Version: 1.0\r\n"
             "Content-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n",
             sender, subject, (unsigned long)random(), body);
    return buf;
}

static inline struct incident_actor fx_actor(int64_t id, const char *name, const char *org,
                                             unsigned roles)
{
    struct incident_actor a = {.user_id = id, .roles = roles};
    snprintf(a.name, sizeof a.name, "%s", name);
    snprintf(a.org_cvr, sizeof a.org_cvr, "%s", org);
    return a;
}

#define STAFF  fx_actor(0, "cli:sofie", "", INCIDENT_ROLE_STAFF)
#define MEMBER fx_actor(7, "Pia Hansen", ORG, INCIDENT_ROLE_MEMBER)
#define OTHER  fx_actor(8, "Ole Bank", ORG2, INCIDENT_ROLE_MEMBER)

#endif
