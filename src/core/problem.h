/*
 * problem.h: the one list of refusal reasons (RFC 9457 problem type slugs).
 *
 * Every refusal a caller must tell apart carries one of these stable
 * kebab-case slugs in err_t.type; the HTTP edge answers it as
 * "type": "https://dupla.invalid/problems/<slug>", the OAuth token endpoint
 * as "error_code", and pages and the CLI decide on it (err_is), never on
 * the English detail text, which may change. docs/problem-types.md lists
 * every slug with its status, meaning and the modules that return it; a
 * unit test checks that the document and this header name the same slugs.
 *
 * Adding a reason: a PROBLEM_* constant here, its row in problem.c's table
 * (slug and HTTP status) and its row in docs/problem-types.md. A slug once
 * shipped is never renamed (clients key on it).
 */
#ifndef DUPLA_CORE_PROBLEM_H
#define DUPLA_CORE_PROBLEM_H

#include <stdbool.h>
#include <stddef.h>

#include "core/error.h"

/* ---- generic: the default slug of each DUPLA_E* code (err_code_name) ---- */
#define PROBLEM_INVALID_REQUEST "invalid-request" /* DUPLA_EINVAL */
#define PROBLEM_NOT_FOUND       "not-found"       /* DUPLA_ENOTFOUND */
#define PROBLEM_CONFLICT        "conflict"        /* DUPLA_ECONFLICT */
#define PROBLEM_FORBIDDEN       "forbidden"       /* DUPLA_EFORBIDDEN */
#define PROBLEM_UNAUTHORIZED    "unauthorized"    /* DUPLA_EUNAUTH */
#define PROBLEM_LIMIT_EXCEEDED  "limit-exceeded"  /* DUPLA_ELIMIT */
#define PROBLEM_RATE_LIMITED    "rate-limited"    /* DUPLA_ERATE; the data path's rate limit */
#define PROBLEM_UNAVAILABLE     "unavailable"     /* DUPLA_EBUSY */
#define PROBLEM_OUT_OF_MEMORY   "out-of-memory"   /* DUPLA_ENOMEM */
#define PROBLEM_IO_ERROR        "io-error"        /* DUPLA_EIO */
#define PROBLEM_STORE_ERROR     "store-error"     /* DUPLA_ESTORE */
/* DUPLA_EBUSY from the store: its disk is full (ENOSPC, SQLITE_FULL, SQLSTATE
 * 53100), or it refuses writes (EROFS, SQLITE_READONLY, SQLSTATE 25006) */
#define PROBLEM_STORE_FULL      "store-full"
#define PROBLEM_STORE_READ_ONLY "store-read-only"
#define PROBLEM_CRYPTO_ERROR    "crypto-error"   /* DUPLA_ECRYPTO */
#define PROBLEM_INTERNAL_ERROR  "internal-error" /* DUPLA_EINTERNAL and unknown codes */

/* ---- the HTTP server (before any handler runs) ---- */
#define PROBLEM_URI_TOO_LONG         "uri-too-long"
#define PROBLEM_HEADER_TOO_LARGE     "header-too-large"
#define PROBLEM_REQUEST_TIMEOUT      "request-timeout"
#define PROBLEM_METHOD_NOT_ALLOWED   "method-not-allowed"
#define PROBLEM_BODY_TOO_LARGE       "body-too-large"
#define PROBLEM_TOO_MANY_PARAMETERS  "too-many-parameters"
#define PROBLEM_CLIENT_CERT_REQUIRED "client-certificate-required"
#define PROBLEM_SHUTTING_DOWN        "shutting-down"
#define PROBLEM_NOT_READY            "not-ready"
#define PROBLEM_REGISTRY_UNAVAILABLE "registry-unavailable" /* a registry cannot load */
#define PROBLEM_KEYS_UNAVAILABLE     "keys-unavailable"     /* the key process is gone */
#define PROBLEM_REQUEST_FRAMING      "request-framing"  /* body length ambiguous (RFC 9112 6.3) */
#define PROBLEM_DUPLICATE_HEADER     "duplicate-header" /* a header that must be single, twice */
#define PROBLEM_MALFORMED_HEADER     "malformed-header" /* e.g. white space before the colon */
#define PROBLEM_UNSUPPORTED_MEDIA    "unsupported-media-type" /* a JSON API change not in JSON */

/* ---- identity: sessions ---- */
#define PROBLEM_NO_SESSION      "no-session"
#define PROBLEM_CSRF            "csrf"
#define PROBLEM_LOGIN_THROTTLED "login-throttled"

/* ---- identity: certificate and token-subject authentication ---- */
#define PROBLEM_CERT_UNREGISTERED "certificate-unregistered"
#define PROBLEM_CERT_REVOKED      "certificate-revoked"
#define PROBLEM_CERT_EXPIRED      "certificate-expired"
#define PROBLEM_SYSTEM_SUSPENDED  "system-suspended"
#define PROBLEM_SYSTEM_REVOKED    "system-revoked"
#define PROBLEM_SYSTEM_KIND       "system-kind"
#define PROBLEM_ORG_SUSPENDED     "organisation-suspended"
#define PROBLEM_CVR_MISMATCH      "cvr-mismatch"
/* identity/token: a supplier certificate is not registered as a system of
 * the organisation named (token form org_cvr) */
#define PROBLEM_SUPPLIER_NOT_REGISTERED "supplier-not-registered"
#define PROBLEM_ENV_NOT_ALLOWED         "environment-not-allowed"
/* acting for a company (onbehalfofse): no authorisation of the company for
 * the caller, revoked, past its day, not for this service; a subject other
 * than the company's */
#define PROBLEM_AUTHORISATION_MISSING  "authorisation-missing"
#define PROBLEM_AUTHORISATION_REVOKED  "authorisation-revoked"
#define PROBLEM_AUTHORISATION_EXPIRED  "authorisation-expired"
#define PROBLEM_SERVICE_NOT_AUTHORISED "service-not-authorised"
#define PROBLEM_SUBJECT_NOT_AUTHORISED "subject-not-authorised"

/* ---- identity: changes to organisations, users, roles and systems ---- */
#define PROBLEM_ALREADY_ACTIVE     "already-active"    /* the status asked for is the current one */
#define PROBLEM_ALREADY_SUSPENDED  "already-suspended" /* likewise */
#define PROBLEM_ORG_CLOSED         "organisation-closed"
#define PROBLEM_DATA_OWNER_FIXED   "data-owner-fixed"
#define PROBLEM_SELF_SUSPENSION    "self-suspension"
#define PROBLEM_LAST_ADMINISTRATOR "last-administrator"
#define PROBLEM_OWN_ADMIN_ROLE     "own-administrator-role"
#define PROBLEM_ROLE_HELD          "role-already-held"
#define PROBLEM_ROLE_NOT_HELD      "role-not-held"
#define PROBLEM_REVOCATION_FINAL   "revocation-final"
#define PROBLEM_ALREADY_REVOKED    "already-revoked"

/* ---- same-name conflicts: creating something that exists already ---- */
#define PROBLEM_USERNAME_TAKEN     "username-taken"         /* identity: a user has it */
#define PROBLEM_ORG_EXISTS         "organisation-exists"    /* identity: the CVR is onboarded */
#define PROBLEM_SYSTEM_NAME_TAKEN  "system-name-taken"      /* identity: in the organisation */
#define PROBLEM_CERT_REGISTERED    "certificate-registered" /* identity: same fingerprint */
#define PROBLEM_DELIVERY_ID_REUSED "delivery-id-reused"     /* ingest: other content, same id */
#define PROBLEM_FILE_EXISTS        "file-exists"            /* pki: a key or certificate file */
#define PROBLEM_ENROL_DECIDED      "application-decided" /* enrol: approved or rejected already */

/* ---- the token service: OAuth error_code values ---- */
#define PROBLEM_REQUEST_TOO_LARGE      "request-too-large"
#define PROBLEM_FORM_INVALID           "form-invalid"
#define PROBLEM_GRANT_TYPE_UNSUPPORTED "grant-type-unsupported"
#define PROBLEM_SCOPE_UNSUPPORTED      "scope-unsupported"
#define PROBLEM_CLIENT_ID_UNKNOWN      "client-id-unknown"
#define PROBLEM_CERT_MISSING           "certificate-missing"
#define PROBLEM_CERT_UNTRUSTED         "certificate-untrusted"

/* ---- the token service: bearer tokens on the data path ---- */
#define PROBLEM_TOKEN_MISSING     "token-missing"
#define PROBLEM_TOKEN_MALFORMED   "token-malformed"     /* not a JWS compact JWT */
#define PROBLEM_TOKEN_ALGORITHM   "token-algorithm"     /* alg is not EdDSA ("none" too) */
#define PROBLEM_TOKEN_UNKNOWN_KEY "token-unknown-key"   /* no such key id */
#define PROBLEM_TOKEN_SIGNATURE   "token-signature"     /* the signature does not verify */
#define PROBLEM_TOKEN_CLAIMS      "token-claims"        /* a claim is missing or of a wrong type */
#define PROBLEM_TOKEN_ISSUER      "token-issuer"        /* iss is not ours */
#define PROBLEM_TOKEN_AUDIENCE    "token-audience"      /* aud does not name us */
#define PROBLEM_TOKEN_EXPIRED     "token-expired"       /* exp + leeway has passed */
#define PROBLEM_TOKEN_NOT_YET     "token-not-yet-valid" /* nbf (or iat) - leeway is ahead */
#define PROBLEM_TOKEN_ENVIRONMENT "token-environment"   /* env is not this deployment's */
#define PROBLEM_TOKEN_BINDING     "token-binding" /* a certificate other than the token's cnf */
/* the system requires sender-constrained tokens; no certificate presented */
#define PROBLEM_TOKEN_BINDING_REQUIRED "token-binding-required"

/* ---- agreement: the data path's verdicts ---- */
#define PROBLEM_AGREEMENT_MALFORMED      "agreement-malformed"
#define PROBLEM_AGREEMENT_NOT_FOUND      "agreement-not-found"
#define PROBLEM_AGREEMENT_OTHER_ORG      "agreement-other-organisation" /* old log entries */
#define PROBLEM_AGREEMENT_WRONG_ENV      "agreement-wrong-environment"
#define PROBLEM_AGREEMENT_NOT_APPROVED   "agreement-not-approved"
#define PROBLEM_AGREEMENT_SUSPENDED      "agreement-suspended"
#define PROBLEM_AGREEMENT_REVOKED        "agreement-revoked"
#define PROBLEM_AGREEMENT_TERMINATED     "agreement-terminated"
#define PROBLEM_AGREEMENT_NOT_YET_ACTIVE "agreement-not-yet-active"
#define PROBLEM_AGREEMENT_EXPIRED        "agreement-expired"
#define PROBLEM_SYSTEM_NOT_ALLOWED       "system-not-allowed"
#define PROBLEM_SERVICE_NOT_GRANTED      "service-not-granted"
#define PROBLEM_FIELD_NOT_GRANTED        "field-not-granted"

/* ---- agreement: the life cycle ---- */
#define PROBLEM_FOUR_EYES         "four-eyes"
#define PROBLEM_CONCURRENT_CHANGE "concurrent-change"
#define PROBLEM_PERIOD_REVERSED   "period-reversed"

/* ---- exposure: the data path's request ---- */
#define PROBLEM_INVALID_HEADER      "invalid-header"
#define PROBLEM_INVALID_PARAMETER   "invalid-parameter"
#define PROBLEM_UNKNOWN_PARAMETER   "unknown-parameter"
#define PROBLEM_MISSING_PARAMETER   "missing-parameter"
#define PROBLEM_TOO_MANY_SUBJECTS   "too-many-subjects"
#define PROBLEM_TOO_MANY_PERIODS    "too-many-periods"
#define PROBLEM_TOO_MANY_DELIVERIES "too-many-deliveries"
#define PROBLEM_SATURATED           "saturated"
#define PROBLEM_SERVICE_WINDOW      "service-window"

/* ---- incident ---- */
#define PROBLEM_INCIDENT_CLOSED   "incident-closed"
#define PROBLEM_STATUS_TRANSITION "status-transition"

/* The HTTP status a slug is answered with, or 0 for a slug not in the list. */
int problem_status(const char *slug);

/* true if slug is in the list. */
bool problem_known(const char *slug);
/* The table's own copy of slug (static, lives as long as the process), or
 * NULL for a slug the table does not know: for keeping a reason past the
 * err_t it came in (the metrics' refusal counts). */
const char *problem_canonical(const char *slug);

/* The list, for tests and documentation: the i-th slug, or NULL past the end. */
const char *problem_slug_at(size_t i);

/* Sets the problem type of an error already set (err_set, err_param) to
 * slug, and its HTTP status to the slug's (left as it is for a slug not in
 * the list). err may be NULL. */
void err_problem(err_t *err, const char *slug);

/* err_param and err_problem in one: code, the parameter (NULL for none), the
 * slug and the message. Returns code. */
int err_refuse(err_t *err, int code, const char *slug, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* The reason of an error: its slug (err_t.type), or the code's default slug
 * when none was set. Never NULL. */
const char *err_reason(const err_t *err);

/* true if err's reason is slug. */
bool err_is(const err_t *err, const char *slug);

#endif
