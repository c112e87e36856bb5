/*
 * smtp_sink.h: a tiny SMTP server for tests. It listens on 127.0.0.1 (a
 * free port), answers enough of RFC 5321 for libcurl (EHLO/HELO, MAIL,
 * RCPT, DATA, RSET, NOOP, QUIT), and records every message it accepts.
 * A test can make it refuse recipients (550) or data (451), or stop it to
 * play a relay that is down.
 */
#ifndef DUPLA_TEST_SMTP_SINK_H
#define DUPLA_TEST_SMTP_SINK_H

#include <stddef.h>

#define SMTP_SINK_MAX_MESSAGES 256

enum smtp_sink_mode {
    SMTP_SINK_ACCEPT = 0,
    SMTP_SINK_REJECT_RCPT, /* 550 to every RCPT */
    SMTP_SINK_TEMPFAIL,    /* 451 after DATA */
};

struct smtp_sink_message {
    char *from;  /* MAIL FROM path, without <> */
    char *rcpts; /* RCPT paths, comma-separated */
    char *data;  /* the message, dot-unstuffed, CRLF kept */
};

typedef struct smtp_sink smtp_sink_t;

/* Starts on 127.0.0.1:port (0 = any free port). NULL on failure. */
smtp_sink_t *smtp_sink_start(unsigned port);
unsigned smtp_sink_port(const smtp_sink_t *s);
void smtp_sink_set_mode(smtp_sink_t *s, enum smtp_sink_mode mode);
/* Messages accepted so far. */
size_t smtp_sink_count(smtp_sink_t *s);
/* A copy of message i (caller frees each member with free), 0 or -1. */
int smtp_sink_get(smtp_sink_t *s, size_t i, struct smtp_sink_message *out);
/* How many accepted messages contain needle in their data. */
size_t smtp_sink_count_containing(smtp_sink_t *s, const char *needle);
/* Stops listening and frees it (the messages go with it). */
void smtp_sink_stop(smtp_sink_t *s);

#endif
