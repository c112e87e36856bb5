/*
 * internal.h: what the mail module's files share, and nothing else
 * includes. Prototypes are grouped by the file that defines them.
 */
#ifndef DUPLA_MAIL_INTERNAL_H
#define DUPLA_MAIL_INTERNAL_H

#include "core/buf.h"
#include "mail/mail.h"

#define MS_PER_SECOND 1000LL

struct mail {
    store_t *st;
    struct mail_settings set;
};

/* smtp.c */
struct mail_smtp_outcome {
    bool permanent; /* a 5xx answer: retrying will not help */
    long response;  /* the last SMTP response code, or 0 */
    char error[MAIL_ERROR_MAX];
};
/* Sends one message over SMTP. rcpts: n addresses. 0, or < 0 with *out
 * filled. */
int mail_smtp_send(const struct mail_settings *set, const char *rcpts[], size_t n, str_t message,
                   struct mail_smtp_outcome *out);

/* compose.c */
/* What one message's RFC 5322 text is built from. */
struct mail_compose_input {
    const char *from, *from_name, *to, *cc, *subject, *body, *message_id, *in_reply_to;
    int64_t date_ms;
    const char *auto_submitted; /* "auto-generated" or "auto-replied" */
    str_t attachment;           /* message/rfc822, or empty */
};
/* Builds the text with GMime into out (caller frees with buf_free). */
int mail_compose(const struct mail_compose_input *in, buf_t *out, err_t *err);

#endif
