/*
 * identity.h: who is who on the platform (the "central security solution").
 *
 * Organisations (agreement parties and the data owner), their users and the
 * users' roles, the machine systems of an organisation and the certificates
 * they present, the data owner's source systems, login sessions, and the
 * history of every change to any of it.
 *
 * All state lives in the store (tables identity_*, migrations in schema.c).
 * The hot path (token issue and verification, ingestion by certificate) never
 * reads the store: it asks the in-memory registry (registry.c), a snapshot of
 * organisations, systems and certificates tagged with the store's identity
 * generation. Every identity change bumps that generation in the same
 * transaction; the process that made the change reloads at once, and other
 * processes (the CLI changing a running server's store, other nodes) are
 * noticed by polling the generation at most every registry_poll_ms, or at
 * once when something calls identity_registry_invalidate() (the hook for a
 * PostgreSQL LISTEN/NOTIFY listener). The registry is a core/snapshot cell
 * and follows its one failure rule (stale for at most
 * registry.stale_max_ms, then 503).
 *
 * Every changing call takes an actor (who asks) and enforces the role rules:
 *   - only the data owner's `dataforvaltning` creates, suspends and activates
 *     organisations, and registers source systems;
 *   - only an organisation's `administrator` grants and revokes roles, users
 *     and systems, and only inside its own organisation;
 *   - `operator` (data owner) runs the platform: it may suspend and revoke
 *     systems and certificates of any organisation;
 *   - the local actor (the CLI on the server, with direct store access, and
 *     the demo set-up) is the platform's operator at the console and may do
 *     everything; its changes are recorded in the history as "local:<login>".
 */
#ifndef DUPLA_IDENTITY_IDENTITY_H
#define DUPLA_IDENTITY_IDENTITY_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/config.h"
#include "core/error.h"
#include "core/problem.h"
#include "core/ident.h"
#include "core/str.h"
#include "core/uuid.h"
#include "pki/pki.h"
#include "store/store.h"

typedef struct identity identity_t;

/* ---- limits (named once, checked everywhere) ---- */
#define IDENTITY_ID_LEN           UUID_STR_LEN /* every id is a v4 UUID */
#define IDENTITY_NAME_MAX         200          /* organisation / system / display name bytes */
#define IDENTITY_EMAIL_MAX        254          /* RFC 5321 path limit */
#define IDENTITY_USERNAME_MAX     IDENTITY_EMAIL_MAX
#define IDENTITY_REASON_MAX       500
#define IDENTITY_LIST_MAX         10000 /* rows a list call returns at most */
#define IDENTITY_HISTORY_DEFAULT  100
#define IDENTITY_SECRET_BYTES     24 /* one-time set-up secret (base64url: 32 chars) */
#define IDENTITY_SECRET_TEXT      64
#define IDENTITY_SESSION_ID_BYTES 32 /* session id (base64url: 43 chars) */
#define IDENTITY_SESSION_ID_TEXT  64
#define IDENTITY_CSRF_TEXT        64
/* Registrations of one supplier certificate a revocation goes through at once. */
#define IDENTITY_CERT_SHARED_MAX 1024

/* Defaults of the "identity" config section. */
#define IDENTITY_DEFAULT_SETUP_SECONDS      (7 * 24 * 3600) /* set-up secret lifetime */
#define IDENTITY_DEFAULT_SESSION_IDLE_S     (30 * 60)
#define IDENTITY_DEFAULT_SESSION_ABSOLUTE_S (12 * 3600)
#define IDENTITY_DEFAULT_REGISTRY_POLL_MS   1000
#define IDENTITY_DEFAULT_OWNER_NAME         "Skatteforvaltningen"
#define IDENTITY_DEFAULT_OWNER_CVR          "19552101"
/* A session's last-seen time is written at most this often (saves a write
 * per request; the idle expiry is therefore exact to within this). */
#define IDENTITY_SESSION_TOUCH_MS 60000

/* ---- passwords (password.c) ----
 * argon2id, t=2 passes, m=19 MiB, p=1, 16-byte salt, 32-byte hash: the
 * OWASP (2023) minimum profile, ~30-60 ms on one core of a small server,
 * which keeps a login cheap for us and a guess expensive for an attacker
 * holding the table. The encoded hash carries its parameters, so raising
 * them later keeps old hashes verifying. */
#define PASSWORD_ARGON2_T_COST 2
#define PASSWORD_ARGON2_M_KIB  19456
#define PASSWORD_ARGON2_LANES  1
#define PASSWORD_SALT_BYTES    16
#define PASSWORD_HASH_BYTES    32
#define PASSWORD_ENCODED_MAX   128
#define PASSWORD_MIN_LEN       12
#define PASSWORD_MAX_LEN       256
/* Login throttling (in the store, shared by every node): growing delays, no lock.
 * Each failure counts for three keys: the username from this address, the
 * address, and the username from anywhere. Past a key's free failures,
 * every further one makes the key wait LOGIN_DELAY_BASE_MS, doubled per
 * failure, at most the key's cap, before the next try is looked at. The
 * username alone is capped at seconds, so that nobody can shut a user out
 * by guessing from elsewhere; the pair and the address at minutes. */
#define LOGIN_WINDOW_MS       (15 * 60 * 1000) /* failures are forgotten after this quiet */
#define LOGIN_DELAY_BASE_MS   1000
#define LOGIN_FREE_FAILS_PAIR 3 /* username from one address */
#define LOGIN_FREE_FAILS_IP   10
#define LOGIN_FREE_FAILS_USER 20 /* username from every address together */
#define LOGIN_MAX_DELAY_PAIR  (15 * 60 * 1000)
#define LOGIN_MAX_DELAY_IP    (15 * 60 * 1000)
#define LOGIN_MAX_DELAY_USER  (30 * 1000)
#define LOGIN_KEY_MAX         (IDENTITY_USERNAME_MAX + 72) /* "p:<address>|<username>" */

/* Hashes password into encoded (PASSWORD_ENCODED_MAX bytes). */
int identity_password_hash(str_t password, char *encoded, size_t cap, err_t *err);
/* 0 if password matches encoded; DUPLA_EUNAUTH if not. The comparison is
 * constant-time (libargon2). */
int identity_password_verify(str_t password, const char *encoded);
/* Length and content rules; DUPLA_EINVAL naming "password". */
int identity_password_check_policy(str_t password, err_t *err);

/* ---- roles ---- */
enum identity_role {
    ROLE_ADMINISTRATOR = 1u << 0,   /* "administrator" (every organisation) */
    ROLE_PROCESSOR = 1u << 1,       /* "aftager-behandler" (recipients) */
    ROLE_SIGNATORY = 1u << 2,       /* "aftager-underskriver" (recipients) */
    ROLE_DATAFORVALTNING = 1u << 3, /* "dataforvaltning" (data owner) */
    ROLE_OPERATOR = 1u << 4,        /* "operator" (data owner) */
};
#define ROLE_RECIPIENT_ROLES (ROLE_ADMINISTRATOR | ROLE_PROCESSOR | ROLE_SIGNATORY)
#define ROLE_OWNER_ROLES     (ROLE_ADMINISTRATOR | ROLE_DATAFORVALTNING | ROLE_OPERATOR)

/* The role's wire name, or NULL for anything but a single known role. */
const char *identity_role_name(unsigned role);
/* Parses a wire name; 0 or DUPLA_EINVAL. */
int identity_role_parse(str_t name, unsigned *role);
/* The role set as a JSON array of names (new reference). */
json_t *identity_roles_json(unsigned roles);

/* ---- actors ---- */
enum identity_actor_kind {
    ACTOR_LOCAL = 1, /* the console (CLI, demo set-up): may do everything */
    ACTOR_USER = 2,  /* a logged-in user, bound by the role rules */
};

typedef struct identity_actor {
    enum identity_actor_kind kind;
    char user_id[IDENTITY_ID_LEN + 1]; /* ACTOR_USER */
    char org_id[IDENTITY_ID_LEN + 1];  /* ACTOR_USER: the user's organisation */
    char username[IDENTITY_USERNAME_MAX + 1];
    bool data_owner;                        /* the user belongs to the data owner */
    unsigned roles;                         /* enum identity_role bits */
    char label[IDENTITY_USERNAME_MAX + 16]; /* who, in the history */
} identity_actor_t;

/* The console actor, labelled "local:<login name>". */
void identity_actor_local(identity_actor_t *a);
/* true if the actor holds role (inside its own organisation). */
bool identity_actor_has(const identity_actor_t *a, unsigned role);

/* ---- opening ---- */

/* Applies the identity migrations, reads the "identity" config section,
 * makes sure the data owner organisation exists, and loads the registry.
 * cfg is borrowed and must outlive *out; st too. */
int identity_open(store_t *st, const struct dupla_config *cfg, identity_t **out, err_t *err);
void identity_close(identity_t *id);
store_t *identity_store(identity_t *id);
/* Applies only the migrations (tests, tools). */
int identity_migrate(store_t *st, err_t *err);

/* ---- organisations (org.c) ---- */
enum org_status { ORG_ACTIVE = 1, ORG_SUSPENDED = 2, ORG_CLOSED = 3 };
/* environment bits */
#define ORG_ENV_TEST       (1u << ENV_TEST)
#define ORG_ENV_PRODUCTION (1u << ENV_PRODUCTION)

struct identity_org {
    char id[IDENTITY_ID_LEN + 1];
    char name[IDENTITY_NAME_MAX + 1];
    char cvr[CVR_LEN + 1];
    char contact_email[IDENTITY_EMAIL_MAX + 1];
    enum org_status status;
    unsigned environments; /* ORG_ENV_* bits */
    bool data_owner;
    int64_t created_ms;
    int64_t updated_ms;
};

/* A one-time secret for a new user to choose a password. Shown once; only
 * its SHA-256 is stored. */
struct identity_setup_secret {
    char user_id[IDENTITY_ID_LEN + 1];
    char username[IDENTITY_USERNAME_MAX + 1];
    char secret[IDENTITY_SECRET_TEXT];
    int64_t expires_ms;
};

struct identity_org_new {
    str_t name;
    str_t cvr;
    str_t contact_email;
    unsigned environments; /* 0: test only */
    str_t admin_username;  /* the administrator's login (an e-mail address) */
    str_t admin_name;      /* display name; empty: "Administrator" */
    /* Optional: called inside the creating transaction on c, after the
     * organisation, its administrator and the set-up secret exist and before
     * the commit, so that a caller's own change (an application marked
     * approved, the set-up mail queued) commits with them or not at all. A
     * non-zero return rolls everything back and is returned. */
    int (*in_transaction)(store_conn_t *c, const struct identity_org *org,
                          const struct identity_setup_secret *admin, void *ctx, err_t *err);
    void *in_transaction_ctx;
};

const char *identity_org_status_name(enum org_status s);
int identity_org_status_parse(str_t s, enum org_status *out);
/* "test", "production", "test,production" <-> bits. */
int identity_envs_parse(str_t s, unsigned *out);
json_t *identity_envs_json(unsigned envs);

/* Onboarding (dataforvaltning or local): creates the organisation and its
 * administrator with a one-time set-up secret (returned in *admin, shown
 * once). Refuses a bad or already registered CVR, a bad e-mail address. */
int identity_org_create(identity_t *id, const identity_actor_t *actor,
                        const struct identity_org_new *in, struct identity_org *out,
                        struct identity_setup_secret *admin, err_t *err);
/* By id or by CVR. */
int identity_org_get(identity_t *id, str_t id_or_cvr, struct identity_org *out, err_t *err);
/* Calls fn for each organisation (name order) until it returns non-zero. */
int identity_org_list(identity_t *id, int (*fn)(const struct identity_org *, void *), void *ctx,
                      err_t *err);
/* Suspends, re-activates or closes (dataforvaltning or local). */
int identity_org_set_status(identity_t *id, const identity_actor_t *actor, str_t org,
                            enum org_status status, str_t reason, err_t *err);
/* The data owner organisation. */
int identity_org_owner(identity_t *id, struct identity_org *out, err_t *err);
json_t *identity_org_json(const struct identity_org *o);

/* ---- users (user.c) ---- */
enum user_status { USER_ACTIVE = 1, USER_SUSPENDED = 2 };

struct identity_user {
    char id[IDENTITY_ID_LEN + 1];
    char org_id[IDENTITY_ID_LEN + 1];
    char username[IDENTITY_USERNAME_MAX + 1];
    char display_name[IDENTITY_NAME_MAX + 1];
    enum user_status status;
    unsigned roles;
    bool has_password;
    int64_t created_ms;
};

/* Creates a user in org (an administrator of that organisation, or local)
 * with the given roles (each must fit the organisation: recipient roles in a
 * recipient, data owner roles at the data owner) and a set-up secret. */
int identity_user_create(identity_t *id, const identity_actor_t *actor, str_t org, str_t username,
                         str_t display_name, unsigned roles, struct identity_user *out,
                         struct identity_setup_secret *setup, err_t *err);
/* By id or by username. */
int identity_user_get(identity_t *id, str_t id_or_username, struct identity_user *out, err_t *err);
/* Users of org (empty: all), by username. */
int identity_user_list(identity_t *id, str_t org, int (*fn)(const struct identity_user *, void *),
                       void *ctx, err_t *err);
/* Sets a password: local, or the user for itself. */
int identity_user_set_password(identity_t *id, const identity_actor_t *actor, str_t user,
                               str_t password, err_t *err);
/* Suspends (USER_SUSPENDED) or re-activates (USER_ACTIVE) a user: the
 * administrator of the user's organisation, or local. Suspending ends every
 * session of the user at once (and login refuses it); refused
 * (DUPLA_ECONFLICT) for the actor itself and for the organisation's last
 * active administrator. reason (may be empty, at most IDENTITY_REASON_MAX
 * bytes) goes into the history. */
int identity_user_set_status(identity_t *id, const identity_actor_t *actor, str_t user,
                             enum user_status status, str_t reason, err_t *err);
/* Redeems a set-up secret: sets the password and voids the secret.
 * DUPLA_EUNAUTH for a wrong, used or expired secret (one message for all). */
int identity_user_complete_setup(identity_t *id, str_t username, str_t secret, str_t password,
                                 err_t *err);
json_t *identity_user_json(const struct identity_user *u);

/* ---- roles (user.c) ---- */
int identity_role_grant(identity_t *id, const identity_actor_t *actor, str_t user, unsigned role,
                        err_t *err);
int identity_role_revoke(identity_t *id, const identity_actor_t *actor, str_t user, unsigned role,
                         err_t *err);

/* ---- sessions (session.c) ---- */
struct identity_session {
    char id[IDENTITY_SESSION_ID_TEXT]; /* the cookie value; secret */
    char csrf[IDENTITY_CSRF_TEXT];     /* the X-CSRF-Token value */
    int64_t expires_ms;                /* absolute expiry */
};
#define IDENTITY_SESSION_COOKIE "dupla_session"
#define IDENTITY_CSRF_HEADER    "X-CSRF-Token"

/* Checks username and password (throttled with growing delays per user and
 * address, per address and per user, see LOGIN_*: DUPLA_ERATE with the
 * seconds to wait in *retry_after_s), and opens a
 * session. Wrong user, wrong password, no password yet and a suspended user
 * or organisation all give the same DUPLA_EUNAUTH. */
int identity_login(identity_t *id, str_t username, str_t password, const char *peer,
                   struct identity_session *out, long *retry_after_s, err_t *err);
/* The actor behind a session id; refreshes its idle expiry. DUPLA_EUNAUTH
 * when unknown, expired (idle or absolute) or its user/org was suspended. */
int identity_session_actor(identity_t *id, str_t session_id, identity_actor_t *actor, err_t *err);
/* The CSRF token that belongs to a session id (derived from it: SHA-256 of
 * "csrf:" + id, base64url), into out (IDENTITY_CSRF_TEXT bytes). */
void identity_session_csrf(str_t session_id, char *out);
/* true if csrf is the session's CSRF token (constant time). */
bool identity_session_csrf_ok(str_t session_id, str_t csrf);
int identity_logout(identity_t *id, str_t session_id, err_t *err);
/* Forgets the in-memory login throttling (tests). */
void identity_throttle_reset(identity_t *id);

/* ---- systems and certificates (system.c) ---- */
enum system_kind {
    SYSTEM_RECIPIENT = 1, /* "aftager-system": fetches data with tokens */
    SYSTEM_SOURCE = 2,    /* "kildesystem": delivers data (data owner) */
};
enum system_status { SYSTEM_ACTIVE = 1, SYSTEM_SUSPENDED = 2, SYSTEM_REVOKED = 3 };
enum cert_status { CERT_ACTIVE = 1, CERT_REVOKED = 2 };

struct identity_system {
    char id[IDENTITY_ID_LEN + 1];
    char org_id[IDENTITY_ID_LEN + 1];
    char name[IDENTITY_NAME_MAX + 1];
    enum system_kind kind;
    enum system_status status;
    int64_t created_ms;
    /* A supplier system: the system supplier (another organisation, by CVR
     * and name) whose certificate the organisation registered as one of its
     * systems; "" for the organisation's own. Set at registration, never
     * changed. */
    char supplier_cvr[CVR_LEN + 1];
    char supplier_name[IDENTITY_NAME_MAX + 1];
    /* Tokens of this (recipient) system are sender-constrained: a data call
     * must present the certificate the token is bound to (cnf), not only
     * the token. Off by default (clients call without a certificate). */
    bool sender_constrained;
};

struct identity_cert {
    char sha256_hex[PKI_SHA256_HEX];
    char system_id[IDENTITY_ID_LEN + 1];
    char subject[PKI_SUBJECT_MAX];
    char issuer[PKI_SUBJECT_MAX];
    char serial_hex[PKI_SERIAL_HEX];
    char cvr[PKI_CVR_MAX];
    int64_t not_before_ms;
    int64_t not_after_ms;
    enum cert_status status;
    int64_t created_ms;
};

const char *identity_system_kind_name(enum system_kind k);
const char *identity_system_status_name(enum system_status s);
const char *identity_cert_status_name(enum cert_status s);

/* Registers a system of org with (optionally, cert may be NULL) its first
 * certificate. A recipient system: the org's administrator, or local. A
 * source system (kind SYSTEM_SOURCE, always of the data owner):
 * dataforvaltning, or local. The certificate's CVR must be the org's. */
int identity_system_register(identity_t *id, const identity_actor_t *actor, str_t org, str_t name,
                             enum system_kind kind, const struct pki_cert_info *cert,
                             struct identity_system *out, err_t *err);
/* Registers a supplier system of org (a recipient system; the org's
 * administrator, or local): a system run by the system supplier
 * supplier_cvr (a valid CVR other than the org's; supplier_name its name),
 * known by the supplier's certificate, whose CVR must be supplier_cvr. The
 * same certificate may be registered by many organisations (each as a
 * supplier system of that supplier), never twice in one organisation and
 * never beside an organisation's own (non-supplier) registration of it.
 * Refusals name supplier_cvr, supplier_name or certificate. */
int identity_system_register_supplier(identity_t *id, const identity_actor_t *actor, str_t org,
                                      str_t name, str_t supplier_cvr, str_t supplier_name,
                                      const struct pki_cert_info *cert, struct identity_system *out,
                                      err_t *err);
/* By id, or by "<org cvr>/<name>". */
int identity_system_get(identity_t *id, str_t ref, struct identity_system *out, err_t *err);
int identity_system_list(identity_t *id, str_t org,
                         int (*fn)(const struct identity_system *, void *), void *ctx, err_t *err);
/* Suspends, re-activates (not after revocation) or revokes (final): the
 * org's administrator, operator, dataforvaltning, or local. */
int identity_system_set_status(identity_t *id, const identity_actor_t *actor, str_t system,
                               enum system_status status, err_t *err);
/* Requires (or no longer requires) that a data call with one of the
 * recipient system's tokens presents the certificate the token is bound to
 * (RFC 8705): the org's administrator, operator, or local. Setting what is
 * set already changes nothing. Refusals name system. */
int identity_system_set_sender_constrained(identity_t *id, const identity_actor_t *actor,
                                           str_t system, bool required, err_t *err);
/* Adds a certificate to a system (roll-over: add the new one before the old
 * expires, then revoke the old). */
int identity_cert_add(identity_t *id, const identity_actor_t *actor, str_t system,
                      const struct pki_cert_info *cert, struct identity_cert *out, err_t *err);
/* Revokes a certificate by its SHA-256 (hex). */
int identity_cert_revoke(identity_t *id, const identity_actor_t *actor, str_t sha256_hex,
                         err_t *err);
int identity_cert_list(identity_t *id, str_t system,
                       int (*fn)(const struct identity_cert *, void *), void *ctx, err_t *err);
json_t *identity_system_json(const struct identity_system *s);
json_t *identity_cert_json(const struct identity_cert *c);

/* ---- the registry (registry.c): the hot path, no store round trip ---- */

/* Who a certificate (or a token's subject) is. */
struct identity_principal {
    char system_id[IDENTITY_ID_LEN + 1];
    char system_name[IDENTITY_NAME_MAX + 1];
    enum system_kind kind;
    char org_id[IDENTITY_ID_LEN + 1];
    char org_cvr[CVR_LEN + 1];
    unsigned org_environments;
    unsigned char cert_sha256[PKI_SHA256_LEN];
    /* A supplier system: the supplier's CVR (the certificate's); else "". */
    char supplier_cvr[CVR_LEN + 1];
    /* The system requires sender-constrained tokens (identity_system's);
     * for a certificate alone (any_org): one of its registrations does. */
    bool sender_constrained;
    /* The certificate is a supplier's registered by several organisations
     * and none was named: the principal is the certificate alone (system_id,
     * org_id and org_cvr are ""), and each call names the organisation
     * through its agreement (identity_supplier_bind). */
    bool any_org;
};

/* The registry checks refuse with a distinct PROBLEM_* slug in err->type
 * (core/problem.h: PROBLEM_CERT_*, PROBLEM_SYSTEM_*, PROBLEM_ORG_SUSPENDED,
 * PROBLEM_CVR_MISMATCH, PROBLEM_ENV_NOT_ALLOWED); the token endpoint passes
 * them on as its OAuth "error_code". */

/* The principal a presented (already TLS-verified) certificate stands for:
 * registered and active, of an active system of kind `kind`, of an active
 * organisation that may use environment env, and whose CVR (from the
 * certificate's subject) is the organisation's. Refusals: DUPLA_EUNAUTH
 * (certificate problems) or DUPLA_EFORBIDDEN (system/organisation), with
 * err->type one of PROBLEM_*. */
int identity_authenticate_cert(identity_t *id, const struct pki_cert_info *cert,
                               enum system_kind kind, enum environment env, int64_t now_ms,
                               struct identity_principal *out, err_t *err);
/* identity_authenticate_cert for a recipient system, deciding which
 * organisation when one supplier certificate serves several:
 *   - org_cvr given (the token form's org_cvr): the certificate's
 *     registration in that organisation; none: DUPLA_EFORBIDDEN,
 *     PROBLEM_SUPPLIER_NOT_REGISTERED naming org_cvr;
 *   - else, registered to one system: that system (as always);
 *   - else (a supplier certificate of several organisations): the
 *     certificate alone (out->any_org), when at least one registration is
 *     usable; the data call's agreement then names the organisation. */
int identity_authenticate_cert_for(identity_t *id, const struct pki_cert_info *cert, str_t org_cvr,
                                   enum environment env, int64_t now_ms,
                                   struct identity_principal *out, err_t *err);
/* The registration of the certificate cert_sha256 in the organisation
 * org_cvr (empty: any usable one, leaving out->any_org set), with every
 * check of identity_check_principal. No registration in that organisation:
 * DUPLA_ENOTFOUND (err names no type; the caller answers as it must). */
int identity_supplier_bind(identity_t *id, const unsigned char *cert_sha256, str_t org_cvr,
                           enum environment env, int64_t now_ms, struct identity_principal *out,
                           err_t *err);
/* The same checks for a token's subject: system_id active (kind recipient),
 * its organisation active with CVR org_cvr and environment env, and the
 * certificate sha256 (PKI_SHA256_LEN bytes) still registered and active. */
int identity_check_principal(identity_t *id, str_t system_id, str_t org_cvr,
                             const unsigned char *cert_sha256, enum environment env, int64_t now_ms,
                             struct identity_principal *out, err_t *err);
/* The generation of the snapshot in use. */
int64_t identity_generation(identity_t *id);
/* The snapshot is out of date (after a change; the LISTEN/NOTIFY hook):
 * reloads now. On failure the failure rule of core/snapshot.h applies and
 * the error is returned. */
int identity_registry_invalidate(identity_t *id, err_t *err);
/* Reloads now if the store's generation moved (or reloads are failing).
 * While reloads fail, authentication serves the last good snapshot for at
 * most registry.stale_max_ms, then refuses with DUPLA_EBUSY (503,
 * "registry-unavailable"). */
int identity_registry_refresh(identity_t *id, err_t *err);

/* ---- authorisations: acting for a company (authorisation.c) ----
 *
 * A company's administrator authorises a third party (an accountant's
 * organisation, or one of its systems) to fetch the company's own data, for
 * one SE number of the company, for named services, until a day. The third
 * party's token then carries the SE number (token form onbehalfofse) and
 * its data calls may ask about that SE number (or the company's CVR) only,
 * and only while the authorisation stands. Revocable (by the company's
 * administrator or the platform's operator); every change is in the
 * history of both organisations. The SE number is the company
 * administrator's statement: the platform has no SE register to check it
 * against (README, Acting for a company). */
#define IDENTITY_AUTH_SERVICES_MAX 32  /* services one authorisation names */
#define IDENTITY_AUTH_SERVICE_MAX  100 /* bytes of a service's name */
#define IDENTITY_AUTH_SERVICES_TEXT                                                                \
    (IDENTITY_AUTH_SERVICES_MAX * (IDENTITY_AUTH_SERVICE_MAX + 3) + 3)
enum authorisation_status { AUTHORISATION_ACTIVE = 1, AUTHORISATION_REVOKED = 2 };

struct identity_authorisation {
    char id[IDENTITY_ID_LEN + 1];
    char company_org_id[IDENTITY_ID_LEN + 1];
    char company_cvr[CVR_LEN + 1];
    char se[SE_LEN + 1];
    char grantee_org_id[IDENTITY_ID_LEN + 1];
    char grantee_cvr[CVR_LEN + 1];
    char grantee_system_id[IDENTITY_ID_LEN + 1]; /* "": any system of the grantee */
    char services[IDENTITY_AUTH_SERVICES_TEXT];  /* a JSON array of service names */
    int64_t until_ms;                            /* valid before this moment */
    enum authorisation_status status;
    int64_t created_ms;
};

struct identity_authorisation_new {
    str_t company;         /* the company's organisation (id or CVR) */
    str_t se;              /* one of the company's SE numbers (8 digits) */
    str_t grantee;         /* the third party's organisation (id or CVR) */
    str_t grantee_system;  /* "" or one of its systems (id or CVR/name) */
    const str_t *services; /* service paths, 1..IDENTITY_AUTH_SERVICES_MAX */
    size_t n_services;
    int64_t until_ms; /* in the future */
};

/* Grants (the company's administrator, or local). Refusals name the member
 * at fault: se, grantee, grantee_system, services, until. */
int identity_authorisation_grant(identity_t *id, const identity_actor_t *actor,
                                 const struct identity_authorisation_new *in,
                                 struct identity_authorisation *out, err_t *err);
/* Revokes (the company's administrator, the operator, or local);
 * PROBLEM_ALREADY_REVOKED when it is. */
int identity_authorisation_revoke(identity_t *id, const identity_actor_t *actor, str_t auth_id,
                                  err_t *err);
/* The authorisations org (id or CVR) gave or received, newest first. */
int identity_authorisation_list(identity_t *id, str_t org,
                                int (*fn)(const struct identity_authorisation *, void *), void *ctx,
                                err_t *err);
json_t *identity_authorisation_json(const struct identity_authorisation *a, int64_t now_ms);

/* The hot-path check (the registry, no store): may system system_id of the
 * organisation grantee_cvr act for SE number se, for service (empty: any
 * service, the token request's check) at now_ms? 0 with the company's CVR
 * in company_cvr (CVR_LEN + 1 bytes), else DUPLA_EFORBIDDEN with err->type
 * one of PROBLEM_AUTHORISATION_MISSING, _REVOKED, _EXPIRED,
 * PROBLEM_SERVICE_NOT_AUTHORISED (or DUPLA_EBUSY). */
int identity_authorisation_check(identity_t *id, str_t grantee_cvr, str_t system_id, str_t se,
                                 str_t service, int64_t now_ms, char *company_cvr, err_t *err);

/* ---- history (history.c) ---- */
/* The newest changes first, of org (empty: all), at most limit
 * (<= IDENTITY_LIST_MAX). Returns a new JSON array in *out. */
int identity_history_list(identity_t *id, str_t org, long limit, json_t **out, err_t *err);

/* ---- demo (demo.c) ---- */
struct identity_demo {
    char org_id[IDENTITY_ID_LEN + 1];
    char org_cvr[CVR_LEN + 1];
    char system_id[IDENTITY_ID_LEN + 1];
    char users_file[CONFIG_PATH_MAX]; /* JSON: the demo users and their password */
};
#define IDENTITY_DEMO_CVR      "12345674"
#define IDENTITY_DEMO_ORG      "Demo Kommune"
#define IDENTITY_DEMO_SYSTEM   "demo-system"
#define IDENTITY_DEMO_PASSWORD "demo-password-1234"
#define IDENTITY_DEMO_DOMAIN   "demo.dupla.invalid"

/* Creates, once (later calls find what is there and add only what is
 * missing), the demo organisation (IDENTITY_DEMO_CVR) with an administrator,
 * a processor and a signatory, a data owner user with dataforvaltning and
 * operator, all with password IDENTITY_DEMO_PASSWORD (usernames written to
 * demo_dir/users.json), and the system IDENTITY_DEMO_SYSTEM bound to the
 * certificate in cert_file (issued by the local CA for IDENTITY_DEMO_CVR;
 * a re-issued certificate is added to the system). For `dupla demo` only:
 * the passwords are public. */
int identity_demo_setup(identity_t *id, const char *cert_file, const char *demo_dir,
                        struct identity_demo *out, err_t *err);

#endif
