/*
 * log.h: one JSON object per line on standard error.
 *
 * Every line has "time", "level" and "msg"; callers add fields as a jansson
 * object. Never log a secret, a token, a password or a personal identifier
 * (CPR/CVR/SE of a data subject): log ids, counts and fingerprints instead.
 */
#ifndef DUPLA_CORE_LOG_H
#define DUPLA_CORE_LOG_H

#include <jansson.h>

enum log_level { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3 };

void log_set_level(enum log_level level);
/* Parses "debug", "info", "warn", "error"; -1 if none. */
int log_level_parse(const char *name);
/* Sends log lines to fd instead of standard error (tests). */
void log_set_fd(int fd);

/* Writes one line. fields (may be NULL) is stolen. Thread-safe. */
void log_json(enum log_level level, const char *msg, json_t *fields);

void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
