/*
 * problem.c: the refusal reasons' HTTP statuses, and reading an error's
 * reason (see problem.h; docs/problem-types.md says what each one means).
 */
#include "core/problem.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const struct problem {
    const char *slug;
    int status;
} problems[] = {
    {PROBLEM_INVALID_REQUEST, 400},
    {PROBLEM_NOT_FOUND, 404},
    {PROBLEM_CONFLICT, 409},
    {PROBLEM_FORBIDDEN, 403},
    {PROBLEM_UNAUTHORIZED, 401},
    {PROBLEM_LIMIT_EXCEEDED, 413},
    {PROBLEM_RATE_LIMITED, 429},
    {PROBLEM_UNAVAILABLE, 503},
    {PROBLEM_OUT_OF_MEMORY, 500},
    {PROBLEM_IO_ERROR, 500},
    {PROBLEM_STORE_ERROR, 500},
    {PROBLEM_STORE_FULL, 503},
    {PROBLEM_KEYS_UNAVAILABLE, 503},
    {PROBLEM_STORE_READ_ONLY, 503},
    {PROBLEM_CRYPTO_ERROR, 500},
    {PROBLEM_INTERNAL_ERROR, 500},

    {PROBLEM_URI_TOO_LONG, 414},
    {PROBLEM_HEADER_TOO_LARGE, 431},
    {PROBLEM_REQUEST_TIMEOUT, 408},
    {PROBLEM_METHOD_NOT_ALLOWED, 405},
    {PROBLEM_BODY_TOO_LARGE, 413},
    {PROBLEM_TOO_MANY_PARAMETERS, 400},
    {PROBLEM_CLIENT_CERT_REQUIRED, 401},
    {PROBLEM_SHUTTING_DOWN, 503},
    {PROBLEM_NOT_READY, 503},
    {PROBLEM_REGISTRY_UNAVAILABLE, 503},
    {PROBLEM_REQUEST_FRAMING, 400},
    {PROBLEM_DUPLICATE_HEADER, 400},
    {PROBLEM_MALFORMED_HEADER, 400},
    {PROBLEM_UNSUPPORTED_MEDIA, 415},

    {PROBLEM_NO_SESSION, 401},
    {PROBLEM_CSRF, 403},
    {PROBLEM_LOGIN_THROTTLED, 429},

    {PROBLEM_CERT_UNREGISTERED, 401},
    {PROBLEM_CERT_REVOKED, 401},
    {PROBLEM_CERT_EXPIRED, 401},
    {PROBLEM_SYSTEM_SUSPENDED, 403},
    {PROBLEM_SYSTEM_REVOKED, 403},
    {PROBLEM_SYSTEM_KIND, 403},
    {PROBLEM_ORG_SUSPENDED, 403},
    {PROBLEM_CVR_MISMATCH, 403},
    {PROBLEM_SUPPLIER_NOT_REGISTERED, 403},
    {PROBLEM_AUTHORISATION_MISSING, 403},
    {PROBLEM_AUTHORISATION_REVOKED, 403},
    {PROBLEM_AUTHORISATION_EXPIRED, 403},
    {PROBLEM_SERVICE_NOT_AUTHORISED, 403},
    {PROBLEM_SUBJECT_NOT_AUTHORISED, 403},
    {PROBLEM_ENV_NOT_ALLOWED, 403},

    {PROBLEM_ALREADY_ACTIVE, 409},
    {PROBLEM_ALREADY_SUSPENDED, 409},
    {PROBLEM_ORG_CLOSED, 409},
    {PROBLEM_DATA_OWNER_FIXED, 409},
    {PROBLEM_SELF_SUSPENSION, 409},
    {PROBLEM_LAST_ADMINISTRATOR, 409},
    {PROBLEM_OWN_ADMIN_ROLE, 409},
    {PROBLEM_ROLE_HELD, 409},
    {PROBLEM_ROLE_NOT_HELD, 409},
    {PROBLEM_REVOCATION_FINAL, 409},
    {PROBLEM_ALREADY_REVOKED, 409},

    {PROBLEM_USERNAME_TAKEN, 409},
    {PROBLEM_ORG_EXISTS, 409},
    {PROBLEM_ENROL_DECIDED, 409},
    {PROBLEM_SYSTEM_NAME_TAKEN, 409},
    {PROBLEM_CERT_REGISTERED, 409},
    {PROBLEM_DELIVERY_ID_REUSED, 409},
    {PROBLEM_FILE_EXISTS, 409},

    {PROBLEM_REQUEST_TOO_LARGE, 413},
    {PROBLEM_FORM_INVALID, 400},
    {PROBLEM_GRANT_TYPE_UNSUPPORTED, 400},
    {PROBLEM_SCOPE_UNSUPPORTED, 400},
    {PROBLEM_CLIENT_ID_UNKNOWN, 401},
    {PROBLEM_CERT_MISSING, 401},
    {PROBLEM_CERT_UNTRUSTED, 401},

    {PROBLEM_TOKEN_MISSING, 401},
    {PROBLEM_TOKEN_MALFORMED, 401},
    {PROBLEM_TOKEN_ALGORITHM, 401},
    {PROBLEM_TOKEN_UNKNOWN_KEY, 401},
    {PROBLEM_TOKEN_SIGNATURE, 401},
    {PROBLEM_TOKEN_CLAIMS, 401},
    {PROBLEM_TOKEN_ISSUER, 401},
    {PROBLEM_TOKEN_AUDIENCE, 401},
    {PROBLEM_TOKEN_EXPIRED, 401},
    {PROBLEM_TOKEN_NOT_YET, 401},
    {PROBLEM_TOKEN_ENVIRONMENT, 401},
    {PROBLEM_TOKEN_BINDING, 401},
    {PROBLEM_TOKEN_BINDING_REQUIRED, 401},

    {PROBLEM_AGREEMENT_MALFORMED, 400},
    {PROBLEM_AGREEMENT_NOT_FOUND, 403},
    {PROBLEM_AGREEMENT_OTHER_ORG, 403},
    {PROBLEM_AGREEMENT_WRONG_ENV, 403},
    {PROBLEM_AGREEMENT_NOT_APPROVED, 403},
    {PROBLEM_AGREEMENT_SUSPENDED, 403},
    {PROBLEM_AGREEMENT_REVOKED, 403},
    {PROBLEM_AGREEMENT_TERMINATED, 403},
    {PROBLEM_AGREEMENT_NOT_YET_ACTIVE, 403},
    {PROBLEM_AGREEMENT_EXPIRED, 403},
    {PROBLEM_SYSTEM_NOT_ALLOWED, 403},
    {PROBLEM_SERVICE_NOT_GRANTED, 403},
    {PROBLEM_FIELD_NOT_GRANTED, 403},

    {PROBLEM_FOUR_EYES, 403},
    {PROBLEM_CONCURRENT_CHANGE, 409},
    {PROBLEM_PERIOD_REVERSED, 400},

    {PROBLEM_INVALID_HEADER, 400},
    {PROBLEM_INVALID_PARAMETER, 400},
    {PROBLEM_UNKNOWN_PARAMETER, 400},
    {PROBLEM_MISSING_PARAMETER, 400},
    {PROBLEM_TOO_MANY_SUBJECTS, 400},
    {PROBLEM_TOO_MANY_PERIODS, 400},
    {PROBLEM_TOO_MANY_DELIVERIES, 400},
    {PROBLEM_SATURATED, 503},
    {PROBLEM_SERVICE_WINDOW, 503},

    {PROBLEM_INCIDENT_CLOSED, 409},
    {PROBLEM_STATUS_TRANSITION, 409},
};

#define N_PROBLEMS (sizeof problems / sizeof problems[0])

static const struct problem *find(const char *slug)
{
    for (size_t i = 0; slug && i < N_PROBLEMS; i++)
        if (strcmp(problems[i].slug, slug) == 0)
            return &problems[i];
    return NULL;
}

int problem_status(const char *slug)
{
    const struct problem *p = find(slug);
    return p ? p->status : 0;
}

bool problem_known(const char *slug)
{
    return find(slug) != NULL;
}

const char *problem_canonical(const char *slug)
{
    const struct problem *p = find(slug);
    return p ? p->slug : NULL;
}

const char *problem_slug_at(size_t i)
{
    return i < N_PROBLEMS ? problems[i].slug : NULL;
}

void err_problem(err_t *err, const char *slug)
{
    if (!err || !slug)
        return;
    snprintf(err->type, sizeof err->type, "%s", slug);
    int status = problem_status(slug);
    if (status)
        err->status = status;
}

int err_refuse(err_t *err, int code, const char *slug, const char *param, const char *fmt, ...)
{
    if (!err)
        return code;
    char msg[ERR_DETAIL_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    err_param(err, code, param, "%s", msg);
    err_problem(err, slug);
    return code;
}

const char *err_reason(const err_t *err)
{
    if (!err)
        return PROBLEM_INTERNAL_ERROR;
    return err->type[0] ? err->type : err_code_name(err->code);
}

bool err_is(const err_t *err, const char *slug)
{
    return err && slug && strcmp(err_reason(err), slug) == 0;
}
