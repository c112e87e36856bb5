/*
 * token.h: the token service: short-lived access tokens for recipient
 * systems that present their certificate over mutual TLS, and the
 * verification every data route runs on the bearer token.
 *
 * Tokens are JWTs (RFC 7519) signed with EdDSA over Ed25519 (RFC 8037), via
 * pki/sign.h. Why Ed25519 rather than ES256: signatures are deterministic
 * (no per-signature nonce whose reuse or bias leaks the key), verification
 * is fast and constant-time on every node, keys (32 bytes) and signatures
 * (64 bytes) are small, and there are no curve-point or DER-encoding
 * pitfalls in parsing signatures.
 *
 *   header  {"alg":"EdDSA","typ":"JWT","kid":"<RFC 7638 thumbprint>"}
 *   claims  iss, aud, sub (the system's id), org_cvr (the organisation's
 *           CVR), org_id, env ("test"|"production"), scope, iat, nbf, exp
 *           (seconds), jti (a v4 UUID), cnf {"x5t#S256": base64url SHA-256
 *           of the client certificate's DER} (RFC 8705: ties the token to
 *           the certificate it was issued for); supplier_cvr for a system
 *           registered with a system supplier's certificate
 *   A supplier certificate registered by several organisations, asked for
 *   without the form's org_cvr, gets a token for the certificate alone:
 *   sub "supplier:<supplier CVR>", supplier_cvr, no org_cvr or org_id;
 *   each data call's agreement (UFST-Adgangsgrundlag) then names the
 *   organisation, whose registration of the certificate is checked on that
 *   call (token_principal_bind).
 *
 * Keys live in a folder (token.key_dir), one PEM private key per file named
 * key-<created ms>.pem (mode 0600). The newest is the active signing key;
 * each older key keeps verifying until every token it signed has expired:
 * until its successor's creation + lifetime + leeway. `dupla token
 * rotate-key` adds a new key and deletes keys past that time. A running
 * server notices a changed folder within TOKEN_KEYSET_POLL_MS.
 *
 * The "token" configuration section (every key optional):
 *   path              the token endpoint's path ("/token")
 *   listener          serve it only on this listener ("": every listener;
 *                     it answers only over a connection with a client
 *                     certificate anyway); with other listeners beside it,
 *                     that listener then serves nothing else but health,
 *                     the JWKS and client-certificate routes
 *                     (http_server_dedicate_listener)
 *   issuer, audience  the iss and aud values ("urn:dupla:token",
 *                     "urn:dupla:api")
 *   client_id         the client_id the form may name ("api-gateway")
 *   key_dir           the key folder ("token-keys", relative to the config)
 *   lifetime_seconds  expires_in (300)
 *   leeway_seconds    clock skew accepted on exp/nbf/iat (30)
 *   key_max_age_days  the active signing key is due for rotation this many
 *                     days after its creation (365); the expiry warnings
 *                     (src/expiry) treat that day as the key's expiry
 */
#ifndef DUPLA_TOKEN_TOKEN_H
#define DUPLA_TOKEN_TOKEN_H

#include <jansson.h>
#include <stdint.h>

#include "core/config.h"
#include "core/error.h"
#include "core/problem.h"
#include "core/str.h"
#include "identity/identity.h"
#include "pki/sign.h"

typedef struct token_service token_service_t;

#define TOKEN_PATH_MAX             128
#define TOKEN_URI_MAX              256
#define TOKEN_CLIENT_ID_MAX        64
#define TOKEN_MAX_BYTES            4096 /* a JWT longer than this is refused unread */
#define TOKEN_HEADER_MAX           512  /* decoded JOSE header bytes */
#define TOKEN_PAYLOAD_MAX          2048 /* decoded claims bytes */
#define TOKEN_KEYS_MAX             16   /* keys held for verification at once */
#define TOKEN_KEYSET_POLL_MS       1000 /* how often the key folder is looked at */
#define TOKEN_THUMBPRINT_B64       44   /* base64url of 32 bytes + NUL */
#define TOKEN_DEFAULT_PATH         "/token"
#define TOKEN_DEFAULT_ISSUER       "urn:dupla:token"
#define TOKEN_DEFAULT_AUDIENCE     "urn:dupla:api"
#define TOKEN_DEFAULT_CLIENT_ID    "api-gateway"
#define TOKEN_DEFAULT_KEY_DIR      "token-keys"
#define TOKEN_DEFAULT_LIFETIME_S   300
#define TOKEN_MAX_LIFETIME_S       3600
#define TOKEN_DEFAULT_LEEWAY_S     30
#define TOKEN_MAX_LEEWAY_S         300
#define TOKEN_DEFAULT_KEY_AGE_DAYS 365 /* the active key is due for rotation after this */
#define TOKEN_MAX_KEY_AGE_DAYS     3650
#define TOKEN_SCOPE                "openid"
#define TOKEN_SUPPLIER_SUB         "supplier:" /* sub of a token for a certificate alone */

struct token_config {
    char path[TOKEN_PATH_MAX];
    char listener[CONFIG_NAME_MAX];
    char issuer[TOKEN_URI_MAX];
    char audience[TOKEN_URI_MAX];
    char client_id[TOKEN_CLIENT_ID_MAX];
    char key_dir[CONFIG_PATH_MAX];
    long lifetime_s;
    long leeway_s;
    long key_max_age_days;
    enum environment env;
};

/* Reads the "token" section of cfg (defaults above) into *out. */
int token_config_load(const struct dupla_config *cfg, struct token_config *out, err_t *err);

/* The service: loads the key folder (creating it, mode 0700, with a first
 * key when it holds none). id (the registry) is borrowed and must outlive
 * the service. The caller owns *out. */
int token_service_new(const struct token_config *cfg, identity_t *id, token_service_t **out,
                      err_t *err);
void token_service_free(token_service_t *ts);
const struct token_config *token_service_config(const token_service_t *ts);

/* What an issued token says (besides the JWT text). */
struct token_issued {
    char jti[UUID_STR_LEN + 1];
    char kid[PKI_KID_MAX];
    int64_t iat_s;
    int64_t exp_s;
    long expires_in;
};

/* Issues a token for principal p (a recipient system authenticated by its
 * certificate; p->cert_sha256 is its certificate's hash) at now_ms. *jwt is
 * malloc'd, owned by the caller. token_issue_for: acting for the company of
 * SE number on_behalf_se (claim onbehalfofse; NULL or "": for itself). */
int token_issue(token_service_t *ts, const struct identity_principal *p, int64_t now_ms, char **jwt,
                struct token_issued *info, err_t *err);
int token_issue_for(token_service_t *ts, const struct identity_principal *p,
                    const char *on_behalf_se, int64_t now_ms, char **jwt, struct token_issued *info,
                    err_t *err);

/* Who a verified token stands for: what the data routes use. */
struct token_principal {
    char system_id[IDENTITY_ID_LEN + 1];
    char system_name[IDENTITY_NAME_MAX + 1];
    char org_id[IDENTITY_ID_LEN + 1];
    char org_cvr[CVR_LEN + 1];
    enum environment env;
    unsigned char cert_sha256[PKI_SHA256_LEN];
    char cert_thumbprint[TOKEN_THUMBPRINT_B64]; /* x5t#S256, base64url */
    char jti[UUID_STR_LEN + 1];
    int64_t exp_s;
    char supplier_cvr[CVR_LEN + 1]; /* a supplier system's supplier, else "" */
    bool any_org;                   /* a supplier token for the certificate alone (see above) */
    /* Acting for a company (token form onbehalfofse, claim onbehalfofse):
     * its SE number, else "". Data calls then ask about that company only,
     * under its authorisation (token_authorisation_check). */
    char on_behalf_se[SE_LEN + 1];
    /* The system requires sender-constrained tokens: a data call must
     * present the certificate the token is bound to (token_http_authenticate). */
    bool sender_constrained;
};

/* May p act for its on_behalf_se company in service (empty: any service)
 * at now_ms? 0 with the company's CVR in company_cvr (CVR_LEN + 1 bytes), or
 * identity_authorisation_check's refusal (403 authorisation-*). */
int token_authorisation_check(token_service_t *ts, const struct token_principal *p, str_t service,
                              int64_t now_ms, char *company_cvr, err_t *err);

/* Binds a token for a supplier certificate alone (p->any_org) to the
 * organisation org_cvr (the agreement's recipient) at now_ms: fills the
 * system and organisation of that organisation's registration of the
 * certificate. DUPLA_ENOTFOUND when the organisation has none; the
 * registry's refusal (system-revoked, ...) when it is not usable. */
int token_principal_bind(token_service_t *ts, struct token_principal *p, str_t org_cvr,
                         int64_t now_ms, err_t *err);

/* token_verify refuses with a PROBLEM_TOKEN_* slug in err->type
 * (core/problem.h), besides the registry's for a system or organisation no
 * longer active. Every refusal is DUPLA_EUNAUTH (401). */

/* Verifies a bearer token at now_ms: the algorithm is pinned to EdDSA (no
 * "none", no HMAC, no other), the kid must name a key we hold, the signature
 * must verify, iss and aud must be ours, exp/nbf/iat are checked with the
 * configured leeway, env must be this deployment's, and the system, its
 * certificate (cnf) and its organisation must still be active in the
 * identity registry (a system revoked after issue is refused at once). No
 * store access. */
int token_verify(token_service_t *ts, str_t jwt, int64_t now_ms, struct token_principal *out,
                 err_t *err);

/* How many token_verify calls found the token's signature already verified
 * (the same token seen before under the current keys): the figure for
 * metrics and tests. */
uint64_t token_verify_cache_hits(token_service_t *ts);

/* The public keys as a JWKS document (new reference); NULL when the keys
 * cannot be served (core/snapshot.h's failure rule). */
json_t *token_jwks(token_service_t *ts);
/* The active signing key's id into kid (PKI_KID_MAX bytes; "" when the keys
 * cannot be served). */
void token_active_kid(token_service_t *ts, char *kid);

/* The active signing key's id into kid (PKI_KID_MAX bytes) and the day
 * it is due for rotation (its creation + key_max_age_days) into *due_ms.
 * DUPLA_EBUSY when the keys cannot be read. */
int token_active_key(token_service_t *ts, char *kid, int64_t *due_ms, err_t *err);

/* Rotation (the CLI): makes a new active key in key_dir (created if
 * missing), deletes keys that can no longer verify any unexpired token
 * (given lifetime and leeway), and writes the new kid to kid_out
 * (PKI_KID_MAX bytes). */
int token_rotate_key(const struct token_config *cfg, char *kid_out, err_t *err);

#endif
