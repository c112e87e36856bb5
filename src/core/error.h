/*
 * error.h: the one error convention.
 *
 * Functions return 0 on success and a negative DUPLA_E* code on failure, and
 * fill an err_t the caller passes in. The err_t carries two messages: one safe
 * to show the client (detail, and the parameter it concerns), which becomes an
 * RFC 9457 problem+json, and one for the log, which may name internals but
 * never a secret or a personal identifier.
 */
#ifndef DUPLA_CORE_ERROR_H
#define DUPLA_CORE_ERROR_H

enum dupla_error_code {
    DUPLA_OK = 0,
    DUPLA_ENOMEM = -1,     /* out of memory (500) */
    DUPLA_EINVAL = -2,     /* the request or input is wrong (400) */
    DUPLA_ENOTFOUND = -3,  /* no such thing (404) */
    DUPLA_ECONFLICT = -4,  /* state does not allow it (409) */
    DUPLA_EFORBIDDEN = -5, /* authenticated, but not allowed (403) */
    DUPLA_EUNAUTH = -6,    /* not authenticated (401) */
    DUPLA_ELIMIT = -7,     /* a size or count limit was exceeded (413 and kin) */
    DUPLA_EIO = -8,        /* file or network I/O failed (500) */
    DUPLA_ESTORE = -9,     /* the database failed (500) */
    DUPLA_ECRYPTO = -10,   /* a cryptographic operation failed (500) */
    DUPLA_EBUSY = -11,     /* overloaded or unavailable now; try later (503) */
    DUPLA_EINTERNAL = -12, /* a bug or an impossible state (500) */
    DUPLA_ERATE = -13,     /* rate limit (429) */
};

#define ERR_TYPE_MAX   48
#define ERR_PARAM_MAX  64
#define ERR_DETAIL_MAX 320
#define ERR_LOG_MAX    320

typedef struct err {
    int code;                    /* a DUPLA_E* value */
    int status;                  /* HTTP status; 0 means derived from code */
    char type[ERR_TYPE_MAX];     /* problem type slug, e.g. "invalid-parameter" */
    char param[ERR_PARAM_MAX];   /* the parameter or field at fault, or "" */
    char detail[ERR_DETAIL_MAX]; /* for the client */
    char log[ERR_LOG_MAX];       /* for the log */
} err_t;

/* Clears *err. */
void err_clear(err_t *err);

/* Sets code and a message that serves both client and log. Returns code, so
 * that callers can write `return err_set(err, DUPLA_EINVAL, "...")`. err may be
 * NULL. */
int err_set(err_t *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* As err_set, and names the parameter (or field) the message is about. */
int err_param(err_t *err, int code, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* An internal failure: the log gets the message, the client a generic detail. */
int err_internal(err_t *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Overrides the HTTP status and the problem type slug of an error already set. */
void err_http(err_t *err, int status, const char *type);

/* The HTTP status for err (its own, or the one its code implies). */
int err_status(const err_t *err);

/* The default problem type slug of a code (PROBLEM_INVALID_REQUEST, ...;
 * see core/problem.h). */
const char *err_code_name(int code);

#endif
