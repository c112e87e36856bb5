/*
 * expiry.h: warnings before what the platform depends on runs out.
 *
 * Four kinds of things expire: an organisation's system certificates, the
 * platform's server certificates (one per listener's file), the active
 * token signing key (due for rotation token.key_max_age_days after it was
 * made) and approved agreements. expiry_run, called by the server about
 * once an hour, gathers them through the owning modules' headers, and for
 * each that ends within EXPIRY_FIRST_DAYS sends one warning per threshold
 * (30 days, then 7) to the owner's contact mailbox: the organisation's, or
 * for the platform's own things the operators' (the "expiry" section's
 * "mailbox", by default the data owner organisation's contact mailbox). "Once" is kept in the
 * store (table expiry_notice, keyed by kind, subject, expiry and
 * threshold, written in the same transaction as the mail is queued), so a
 * restart or a second node sends nothing twice; a renewed certificate or
 * a new agreement version is a new expiry and is warned of again.
 *
 * The same run sets the metrics (core/metrics.h):
 *   dupla_expiry_items{kind,within="30d"|"7d"}      gauge
 *   dupla_expiry_next_timestamp_seconds{kind}       gauge (the soonest)
 *   dupla_expiry_warnings_total{kind,threshold}     counter
 * and keeps what expires within 30 days in memory for the organisation's
 * pages (expiry_for_org).
 */
#ifndef DUPLA_EXPIRY_EXPIRY_H
#define DUPLA_EXPIRY_EXPIRY_H

#include <stddef.h>
#include <stdint.h>

#include "agreement/agreement.h"
#include "core/config.h"
#include "core/error.h"
#include "identity/identity.h"
#include "store/store.h"
#include "token/token.h"

#define EXPIRY_FIRST_DAYS  30
#define EXPIRY_LAST_DAYS   7
#define EXPIRY_ITEMS_MAX   10000 /* kept for the pages per run; past it, only counted */
#define EXPIRY_SUBJECT_MAX 160
#define EXPIRY_LABEL_MAX   400
#define EXPIRY_MAILBOX_MAX 256

enum expiry_kind {
    EXPIRY_SYSTEM_CERT,
    EXPIRY_SERVER_CERT,
    EXPIRY_TOKEN_KEY,
    EXPIRY_AGREEMENT,
    EXPIRY_KINDS
};

/* "system_certificate", "server_certificate", "token_signing_key",
 * "agreement" (the metrics' kind label). */
const char *expiry_kind_name(enum expiry_kind k);

struct expiry_item {
    enum expiry_kind kind;
    char subject[EXPIRY_SUBJECT_MAX]; /* stable: a certificate's SHA-256, agreement id/version */
    char label[EXPIRY_LABEL_MAX];     /* what it is, in Danish, for the mail and the page */
    char org_cvr[CVR_LEN + 1];        /* whose it is (the platform's: the data owner's) */
    char mailbox[EXPIRY_MAILBOX_MAX]; /* where the warning goes ("" : nowhere known) */
    int64_t not_after_ms;             /* the first moment it is no longer valid */
    int warned_days;                  /* the last threshold warned of (30, 7), else 0 */
};

/* What expiry_run reads; every field may be NULL (that kind is skipped),
 * and all are borrowed and must outlive the handle. */
struct expiry_sources {
    identity_t *identity;
    agreement_t *agreement;
    token_service_t *token;
    const struct dupla_config *cfg; /* the listeners' certificate files; the "expiry" section */
};

typedef struct expiry expiry_t;

/* Applies the module's migrations (schema.c; also `dupla store migrate`). */
int expiry_migrate(store_t *st, err_t *err);

/* Applies the module's migrations and makes the handle (expiry_close). */
int expiry_open(store_t *st, const struct expiry_sources *src, expiry_t **out, err_t *err);
void expiry_close(expiry_t *ex);

struct expiry_run_stats {
    unsigned soon;   /* things ending within EXPIRY_FIRST_DAYS */
    unsigned warned; /* warnings queued by this run */
};
/* One pass at now_ms (see above). A kind whose source fails is logged and
 * skipped; the error returned is the store's, when warnings could not be
 * recorded. */
int expiry_run(expiry_t *ex, int64_t now_ms, struct expiry_run_stats *stats, err_t *err);

/* Copies up to cap of the last run's items of org_cvr (soonest first)
 * into out; returns how many there were in all. */
size_t expiry_for_org(expiry_t *ex, const char *org_cvr, struct expiry_item *out, size_t cap);

#endif
