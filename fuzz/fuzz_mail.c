/*
 * fuzz_mail.c: incoming mail, the maildir intake (incident/maildir.c:
 * incident_mail_accept, what a pickup run does with each file: GMime's
 * parse in incident/mailparse.c, the trigger in the subject, a new
 * incident with its attachments within the limits, or a reply to an open
 * one, or the no-trigger answer and the forward, all in one transaction in
 * a SQLite store). The first byte's low bit picks the intake (odd) or the
 * parse alone (even, much faster); the rest is the message. Properties:
 * the intake either records the message with an outcome or fails with a
 * message; the parse keeps within the attachment limits and yields text
 * that is valid UTF-8.
 */
#include <glib.h>
#include <string.h>

#include "core/config.h"
#include "fuzz.h"
#include "incident/incident.h"
#include "incident/internal.h"
#include "mail/mail.h"
#include "store/store.h"

#define FUZZ_MAIL_ORG "12345674"

static store_t *st;
static incident_t *inc;
static mail_t *mail;
static struct incident_settings set;

static int org_by_address(void *ctx, const char *addr, char cvr[9])
{
    (void)ctx;
    if (strcmp(addr, "pia@kommune.example") == 0) {
        memcpy(cvr, FUZZ_MAIL_ORG, 9);
        return 1;
    }
    return 0;
}

static int org_mailbox(void *ctx, const char *org, char *out, size_t cap)
{
    (void)ctx;
    snprintf(out, cap, "kontakt-%s@org.example", org);
    return 0;
}

static int org_exists(void *ctx, const char *org)
{
    (void)ctx;
    return strcmp(org, FUZZ_MAIL_ORG) == 0;
}

static int agreement_of_org(void *ctx, const char *org, const char *id)
{
    (void)ctx;
    return strcmp(org, FUZZ_MAIL_ORG) == 0 && strcmp(id, "aaaabbbbccccddddeeeeffff00001111") == 0;
}

static const struct incident_hooks hooks = {.org_by_address = org_by_address,
                                            .org_mailbox = org_mailbox,
                                            .org_exists = org_exists,
                                            .agreement_of_org = agreement_of_org};

/* Every intake adds rows, so the store is made anew every so many: a run
 * of 10^7 inputs otherwise grows it to some 10 GB (in /dev/shm) and slows
 * down as it grows. */
#define FUZZ_MAIL_STORE_INPUTS 100000

static char db_path[128];

static void open_all(void)
{
    char url[160];
    snprintf(url, sizeof url, "sqlite:%s", db_path);
    err_t err;
    err_clear(&err);
    fuzz_must(store_open(url, NULL, &st, &err), &err, "store");
    struct mail_settings ms;
    mail_settings_default(&ms);
    snprintf(ms.from, sizeof ms.from, "dupla@skat.example");
    fuzz_must(mail_open(st, &ms, &mail, &err), &err, "mail");
    fuzz_must(incident_open(st, &hooks, &set, &inc, &err), &err, "incident");
}

static void renew_store(void)
{
    incident_close(inc);
    mail_close(mail);
    store_close(st);
    const char *suffix[] = {"", "-wal", "-shm", "-journal"};
    for (size_t i = 0; i < sizeof suffix / sizeof suffix[0]; i++) {
        char p[160];
        snprintf(p, sizeof p, "%s%s", db_path, suffix[i]);
        unlink(p);
    }
    open_all();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *dir = fuzz_tmpdir("mail");
    snprintf(db_path, sizeof db_path, "%s/t.db", dir);
    incident_settings_default(&set);
    snprintf(set.general_mailbox, sizeof set.general_mailbox, "dataforvaltning@skat.example");
    set.attachments_max = 3;
    set.attachment_max_bytes = 1000;
    set.attachments_total_bytes = 2000;
    open_all();
    return 0;
}

static void parse_only(str_t raw)
{
    struct inc_mail p;
    err_t err;
    err_clear(&err);
    if (incident_mail_parse(inc, raw, &p, &err) == 0 && p.msg) {
        size_t kept = 0, total = 0;
        for (size_t i = 0; i < p.n_att; i++) {
            if (!p.att[i].data) {
                FUZZ_CHECK(p.att[i].dropped != NULL);
                continue;
            }
            FUZZ_CHECK(p.att[i].data->len <= set.attachment_max_bytes);
            kept++;
            total += p.att[i].data->len;
        }
        FUZZ_CHECK(kept <= set.attachments_max && total <= set.attachments_total_bytes);
        FUZZ_CHECK(p.body != NULL && fuzz_utf8_valid(str_from_cstr(p.body)));
        FUZZ_CHECK(p.subject != NULL);
    }
    incident_mail_free(&p);
}

static void intake(str_t raw)
{
    static unsigned long n;
    if (n && n % FUZZ_MAIL_STORE_INPUTS == 0)
        renew_store();
    char name[64];
    snprintf(name, sizeof name, "%lu.fuzz.%lu", ++n, (unsigned long)getpid());
    enum incident_mail_outcome o = INCIDENT_MAIL_SEEN;
    char id[INCIDENT_ID_LEN + 1];
    err_t err;
    err_clear(&err);
    int rc = incident_mail_accept(inc, name, raw, false, &o, id, &err);
    if (rc == 0)
        FUZZ_CHECK(incident_mail_outcome_name(o)[0] != '?');
    else
        FUZZ_CHECK(err.log[0] != '\0' || err.detail[0] != '\0');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    str_t raw = fuzz_str(data + 1, size - 1);
    if (data[0] & 1)
        intake(raw);
    else
        parse_only(raw);
    return 0;
}
