/*
 * internal.h: what the enrol module's files share (not a contract).
 */
#ifndef DUPLA_ENROL_INTERNAL_H
#define DUPLA_ENROL_INTERNAL_H

#include "enrol/enrol.h"

struct enrol {
    store_t *st;
    identity_t *id;
    struct enrol_settings settings;
};

/* mail.c: queues, on c inside the caller's transaction, the mail a
 * decision sends. admin is the approval's set-up secret (NULL for a
 * rejection). */
int enrol_mail_approved(const enrol_t *e, store_conn_t *c, const struct enrol_application *a,
                        const struct identity_setup_secret *admin, int64_t now_ms, err_t *err);
int enrol_mail_rejected(const enrol_t *e, store_conn_t *c, const struct enrol_application *a,
                        int64_t now_ms, err_t *err);

#endif
