/*
 * error.c: filling err_t values and mapping codes to HTTP statuses.
 */
#include "core/error.h"

#include "core/problem.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void err_clear(err_t *err)
{
    if (err)
        memset(err, 0, sizeof *err);
}

static void err_fill(err_t *err, int code, const char *param, const char *fmt, va_list ap)
{
    err->code = code;
    err->status = 0;
    snprintf(err->type, sizeof err->type, "%s", err_code_name(code));
    snprintf(err->param, sizeof err->param, "%s", param ? param : "");
    vsnprintf(err->detail, sizeof err->detail, fmt, ap);
    memcpy(err->log, err->detail,
           sizeof err->log < sizeof err->detail ? sizeof err->log : sizeof err->detail);
    err->log[sizeof err->log - 1] = '\0';
}

int err_set(err_t *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err_fill(err, code, NULL, fmt, ap);
        va_end(ap);
    }
    return code;
}

int err_param(err_t *err, int code, const char *param, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err_fill(err, code, param, fmt, ap);
        va_end(ap);
    }
    return code;
}

int err_internal(err_t *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err_fill(err, code, NULL, fmt, ap);
        va_end(ap);
        memcpy(err->log, err->detail, sizeof err->log);
        snprintf(err->detail, sizeof err->detail,
                 "The platform could not complete the request; it has been logged.");
    }
    return code;
}

void err_http(err_t *err, int status, const char *type)
{
    if (!err)
        return;
    err->status = status;
    if (type)
        snprintf(err->type, sizeof err->type, "%s", type);
}

int err_status(const err_t *err)
{
    if (err->status)
        return err->status;
    switch (err->code) {
    case DUPLA_OK:
        return 200;
    case DUPLA_EINVAL:
        return 400;
    case DUPLA_EUNAUTH:
        return 401;
    case DUPLA_EFORBIDDEN:
        return 403;
    case DUPLA_ENOTFOUND:
        return 404;
    case DUPLA_ECONFLICT:
        return 409;
    case DUPLA_ELIMIT:
        return 413;
    case DUPLA_ERATE:
        return 429;
    case DUPLA_EBUSY:
        return 503;
    default:
        return 500;
    }
}

const char *err_code_name(int code)
{
    switch (code) {
    case DUPLA_OK:
        return "ok";
    case DUPLA_ENOMEM:
        return PROBLEM_OUT_OF_MEMORY;
    case DUPLA_EINVAL:
        return PROBLEM_INVALID_REQUEST;
    case DUPLA_ENOTFOUND:
        return PROBLEM_NOT_FOUND;
    case DUPLA_ECONFLICT:
        return PROBLEM_CONFLICT;
    case DUPLA_EFORBIDDEN:
        return PROBLEM_FORBIDDEN;
    case DUPLA_EUNAUTH:
        return PROBLEM_UNAUTHORIZED;
    case DUPLA_ELIMIT:
        return PROBLEM_LIMIT_EXCEEDED;
    case DUPLA_EIO:
        return PROBLEM_IO_ERROR;
    case DUPLA_ESTORE:
        return PROBLEM_STORE_ERROR;
    case DUPLA_ECRYPTO:
        return PROBLEM_CRYPTO_ERROR;
    case DUPLA_EBUSY:
        return PROBLEM_UNAVAILABLE;
    case DUPLA_ERATE:
        return PROBLEM_RATE_LIMITED;
    default:
        return PROBLEM_INTERNAL_ERROR;
    }
}
