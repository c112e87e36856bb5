/*
 * internal.h: what the incident module's files share, and nothing else
 * includes. Prototypes are grouped by the file that defines them.
 */
#ifndef DUPLA_INCIDENT_INTERNAL_H
#define DUPLA_INCIDENT_INTERNAL_H

#include <pthread.h>

#include "core/snapshot.h"
#include "incident/incident.h"
#include "mail/mail.h"

#define MS_PER_SECOND 1000LL

/* One service window, as the data path needs it. */
struct opslog_window {
    int64_t start_ms, end_ms;
};

/* The service windows held (a core/snapshot cell's data, immutable). */
struct opslog_windows {
    size_t n;
    struct opslog_window w[];
};

struct opslog {
    struct incident *inc;
    snapshot_t *windows; /* of struct opslog_windows, tagged with the log's generation */
};

struct incident {
    store_t *st;
    struct incident_hooks hooks;
    struct incident_settings set;
    struct opslog log;
};

/* The fields of an incident row that steps need. */
struct inc_row {
    char id[INCIDENT_ID_LEN + 1];
    enum incident_type type;
    enum incident_status status;
    enum incident_channel channel;
    char org_cvr[INCIDENT_CVR_MAX];
    char reporter[INCIDENT_NAME_MAX];
    char reporter_email[INCIDENT_ADDRESS_MAX + 1];
    char assignee[INCIDENT_NAME_MAX];
    char title[INCIDENT_TITLE_MAX + 1];
    char mail_message_id[INCIDENT_ADDRESS_MAX + 1];
};

/* What a new incident is made of (strings borrowed). */
struct inc_new {
    enum incident_type type;
    enum incident_channel channel;
    const char *org_cvr; /* "" when unknown */
    bool unknown_sender;
    const char *agreement_id; /* or NULL */
    const char *reporter;     /* a name, or the sender's address */
    const char *reporter_email;
    const char *title;
    const char *description;
    const char *actor;           /* who recorded it ("mail", "cli:alice", "user:7 (name)") */
    const char *mail_message_id; /* of the message it came from, or NULL */
};

/* schema.c */
int incident_schema_migrate(store_t *st, err_t *err);
/* Bumps the operations log's change counter inside the caller's transaction. */
int incident_schema_bump_opslog(store_conn_t *c, err_t *err);
int incident_schema_opslog_generation(store_conn_t *c, int64_t *out, err_t *err);

/* incident.c */
/* Makes the incident, its first history row and the receipt, on c inside
 * the caller's transaction. id_out: INCIDENT_ID_LEN + 1 bytes. */
int incident_insert(struct incident *inc, store_conn_t *c, const struct inc_new *n, int64_t now,
                    char *id_out, err_t *err);
int incident_row_load(store_conn_t *c, str_t id, struct inc_row *row, err_t *err);
int incident_history_add(store_conn_t *c, const char *incident_id, int64_t now, const char *actor,
                         const char *kind, const char *from_status, const char *to_status,
                         const char *text, err_t *err);
/* "user:7 (Pia)" or the console name, into out. */
void incident_actor_label(const struct incident_actor *a, char *out, size_t cap);
/* May actor see row? Staff see all, members their organisation's. */
bool incident_may_see(const struct incident_actor *a, const struct inc_row *row);
/* The mailbox a receipt for org_cvr goes to (hooks), or fallback, or "". */
void incident_receipt_recipient(struct incident *inc, const char *org_cvr, const char *fallback,
                                char *out, size_t cap);

/* text.c */
/* true for "INC-yyyy-nnnnnn". */
bool incident_id_valid(str_t s);
/* Finds the first "INC-yyyy-nnnnnn" in s (a reply's subject); false if none. */
bool incident_id_find(str_t s, char out[INCIDENT_ID_LEN + 1]);

/* mailparse.c */
/* What the parser found in one delivered message. */
struct inc_attachment {
    char *name;
    char *content_type;
    struct _GByteArray *data; /* NULL when dropped */
    size_t size;
    const char *dropped; /* why, or NULL */
};
struct inc_mail {
    struct _GMimeMessage *msg;             /* NULL: not a message */
    char sender[INCIDENT_ADDRESS_MAX + 1]; /* lower-cased, "" if none */
    char sender_name[INCIDENT_NAME_MAX];
    char reply_to[INCIDENT_ADDRESS_MAX + 1];
    char message_id[INCIDENT_ADDRESS_MAX + 1];
    const char *subject; /* owned by msg; "" if none */
    char *body;          /* cleaned UTF-8, malloc'd */
    bool automatic;
    struct inc_attachment *att;
    size_t n_att;        /* at most INCIDENT_PARTS_RECORDED_MAX */
    size_t n_unrecorded; /* attachments past that: dropped, only counted */
    unsigned limit_count, kept_count;
    size_t limit_each, limit_total, kept_total;
};
/* Parses raw into *p (the attachment limits from inc's settings); p->msg
 * stays NULL when GMime finds no message. The caller frees *p with
 * incident_mail_free, whatever the result. */
int incident_mail_parse(const struct incident *inc, str_t raw, struct inc_mail *p, err_t *err);
void incident_mail_free(struct inc_mail *p);

/* opslog.c */
int opslog_init(struct opslog *log, struct incident *inc, err_t *err);
void opslog_fini(struct opslog *log);
int opslog_reload(struct opslog *log, err_t *err);

#endif
