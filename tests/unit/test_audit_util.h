/*
 * test_audit_util.h: what the disclosure log's tests share: a scratch
 * folder with a store and a signing key, and entries made up from a number.
 */
#ifndef DUPLA_TEST_AUDIT_UTIL_H
#define DUPLA_TEST_AUDIT_UTIL_H

#include "audit/audit.h"

struct audit_fixture {
    char dir[64];
    char db[128];
    char url[160];
    char key[128];
    store_t *st;
    pki_signer_t *signer;
};

/* Makes the folder, a signing key and an open store (synchronous FULL). */
void audit_fixture_init(struct audit_fixture *fx);
/* Closes what is open and removes the folder. */
void audit_fixture_fini(struct audit_fixture *fx);
/* Opens a log on fx's store with the given checkpoint interval (0 = default). */
audit_log_t *audit_fixture_log(struct audit_fixture *fx, unsigned checkpoint_every);

/* An entry made up from n: organisation, agreement, service vary with n;
 * n % 4 + 1 subjects, 2 fields, refusal when n % 5 == 4; a case reference,
 * deliveries and versions when n % 3 == 2 (and not a refusal). Strings live
 * in *m. */
struct made_entry {
    struct audit_entry e;
    struct audit_subject subjects[4];
    str_t periods[2];
    str_t fields[3];
    char org[16], agreement[40], service[32], request[48], transaction[48], subj[4][16],
        field[3][32];
    /* version 2 (disclosures with n % 3 == 2): a case reference, two
     * deliveries and one version per subject */
    char case_ref[32], delivery[2][32];
    str_t deliveries[2];
    struct audit_version versions[4];
};
void audit_make_entry(struct made_entry *m, int n);

/* Turns b, the canonical version 2 of an entry without a case reference,
 * deliveries or versions, into its version 1 (what the log recorded before
 * version 2). */
void audit_canonical_to_v1(buf_t *b);

/* Runs SQL on fx's store (drops the append-only triggers first when
 * tamper is set: what someone editing the file would do). */
void audit_fixture_sql(struct audit_fixture *fx, const char *sql, int tamper);

/* Recomputes the stored hashes from entry `from` to the end, as someone
 * who rewrites the log consistently would. */
void audit_fixture_rechain(struct audit_fixture *fx, int64_t from);

#endif
