/*
 * expiry.c: gathering what expires, warning of it once per threshold, and
 * the figures (expiry.h).
 *
 * A run first gathers every item (the sources are read with no
 * transaction open), then for each that ends within EXPIRY_FIRST_DAYS
 * records and queues its warning in one short transaction of its own, so
 * a failure leaves the others done and is tried again next run.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/metrics.h"
#include "expiry/internal.h"
#include "mail/mail.h"
#include "pki/pki.h"

#define MS_DAY (86400LL * 1000)

struct expiry {
    store_t *st;
    struct expiry_sources src;
    pthread_mutex_t mu; /* guards soon, n_soon (read by the pages) */
    struct expiry_item *soon;
    size_t n_soon;
    char mailbox[EXPIRY_MAILBOX_MAX]; /* expiry.mailbox: the platform's warnings; "" = owner's */
    metric_t *m_items, *m_next, *m_warnings;
};

/* A run's gathering. */
struct gather {
    int64_t now;
    struct expiry_item *items; /* ending within EXPIRY_FIRST_DAYS */
    size_t n, cap;
    int64_t next[EXPIRY_KINDS]; /* the soonest end after now, 0: none */
    unsigned dropped;           /* past EXPIRY_ITEMS_MAX */
    char owner_cvr[CVR_LEN + 1];
    char owner_mailbox[EXPIRY_MAILBOX_MAX];
};

static const char *const kind_names[EXPIRY_KINDS] = {"system_certificate", "server_certificate",
                                                     "token_signing_key", "agreement"};

const char *expiry_kind_name(enum expiry_kind k)
{
    return k < EXPIRY_KINDS ? kind_names[k] : "unknown";
}

/* Notes one thing's end; keeps it when it is within the first threshold. */
static int note(struct gather *g, enum expiry_kind kind, int64_t not_after, const char *subject,
                const char *label, const char *org_cvr, const char *mailbox)
{
    if (not_after <= g->now)
        return 0; /* already over: refused where it is used, nothing to warn of */
    if (!g->next[kind] || not_after < g->next[kind])
        g->next[kind] = not_after;
    if (not_after > g->now + EXPIRY_FIRST_DAYS * MS_DAY)
        return 0;
    if (g->n == EXPIRY_ITEMS_MAX) {
        g->dropped++;
        return 0;
    }
    if (g->n == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 32;
        void *p = realloc(g->items, cap * sizeof *g->items);
        if (!p)
            return DUPLA_ENOMEM;
        g->items = p;
        g->cap = cap;
    }
    struct expiry_item *it = &g->items[g->n++];
    memset(it, 0, sizeof *it);
    it->kind = kind;
    it->not_after_ms = not_after;
    snprintf(it->subject, sizeof it->subject, "%s", subject);
    snprintf(it->label, sizeof it->label, "%s", label);
    snprintf(it->org_cvr, sizeof it->org_cvr, "%s", org_cvr ? org_cvr : "");
    snprintf(it->mailbox, sizeof it->mailbox, "%s", mailbox ? mailbox : "");
    return 0;
}

/* ---- the sources ---- */

struct list {
    void *items;
    size_t n, cap, size;
};

static int list_add(struct list *l, const void *item)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        void *p = realloc(l->items, cap * l->size);
        if (!p)
            return 1;
        l->items = p;
        l->cap = cap;
    }
    memcpy((char *)l->items + l->n * l->size, item, l->size);
    l->n++;
    return 0;
}

static int add_org(const struct identity_org *o, void *ctx)
{
    return list_add(ctx, o);
}

static int add_system(const struct identity_system *s, void *ctx)
{
    return s->status == SYSTEM_ACTIVE ? list_add(ctx, s) : 0;
}

static int add_cert(const struct identity_cert *c, void *ctx)
{
    return c->status == CERT_ACTIVE ? list_add(ctx, c) : 0;
}

/* Every active certificate of every active system of every organisation
 * that is not closed. The lists are read one after the other (never
 * nested), so no callback holds a connection while another is taken. */
static int gather_system_certs(expiry_t *ex, struct gather *g, err_t *err)
{
    struct list orgs = {.size = sizeof(struct identity_org)};
    int rc = identity_org_list(ex->src.identity, add_org, &orgs, err);
    for (size_t i = 0; rc == 0 && i < orgs.n; i++) {
        const struct identity_org *o = (const struct identity_org *)orgs.items + i;
        if (o->status == ORG_CLOSED)
            continue;
        struct list systems = {.size = sizeof(struct identity_system)};
        rc =
            identity_system_list(ex->src.identity, str_from_cstr(o->id), add_system, &systems, err);
        for (size_t j = 0; rc == 0 && j < systems.n; j++) {
            const struct identity_system *s = (const struct identity_system *)systems.items + j;
            struct list certs = {.size = sizeof(struct identity_cert)};
            rc = identity_cert_list(ex->src.identity, str_from_cstr(s->id), add_cert, &certs, err);
            for (size_t k = 0; rc == 0 && k < certs.n; k++) {
                const struct identity_cert *c = (const struct identity_cert *)certs.items + k;
                char label[EXPIRY_LABEL_MAX];
                snprintf(label, sizeof label, "Certifikatet til systemet %s (serienummer %s)",
                         s->name, c->serial_hex);
                rc = note(g, EXPIRY_SYSTEM_CERT, c->not_after_ms, c->sha256_hex, label, o->cvr,
                          o->contact_email);
            }
            free(certs.items);
        }
        free(systems.items);
    }
    free(orgs.items);
    return rc;
}

static int gather_server_certs(expiry_t *ex, struct gather *g)
{
    const struct dupla_config *cfg = ex->src.cfg;
    for (size_t i = 0; i < cfg->n_listeners; i++) {
        const struct listener_config *l = &cfg->listeners[i];
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++)
            seen = strcmp(cfg->listeners[j].cert_file, l->cert_file) == 0;
        if (seen || !l->cert_file[0])
            continue;
        struct pki_cert_info ci;
        err_t e;
        err_clear(&e);
        if (pki_cert_info_from_file(l->cert_file, &ci, &e) != 0) {
            log_warn("expiry: cannot read the server certificate of listener %s: %s", l->name,
                     e.log);
            continue;
        }
        char subject[EXPIRY_SUBJECT_MAX], label[EXPIRY_LABEL_MAX];
        snprintf(subject, sizeof subject, "%s", ci.sha256_hex);
        /* a label for a mail and a page: a very long path is cut short */
        if (snprintf(label, sizeof label, "Platformens servercertifikat (lytteren %s, %s)", l->name,
                     l->cert_file) >= (int)sizeof label)
            label[sizeof label - 1] = '\0';
        int rc = note(g, EXPIRY_SERVER_CERT, ci.not_after_ms, subject, label, g->owner_cvr,
                      g->owner_mailbox);
        if (rc)
            return rc;
    }
    return 0;
}

static int gather_token_key(expiry_t *ex, struct gather *g)
{
    char kid[PKI_KID_MAX];
    int64_t due;
    err_t e;
    err_clear(&e);
    if (token_active_key(ex->src.token, kid, &due, &e) != 0) {
        log_warn("expiry: cannot read the token signing key: %s", e.log);
        return 0;
    }
    char label[EXPIRY_LABEL_MAX];
    snprintf(label, sizeof label,
             "Tokenservicens signeringsnøgle %s skal roteres (dupla token rotate-key)", kid);
    return note(g, EXPIRY_TOKEN_KEY, due, kid, label, g->owner_cvr, g->owner_mailbox);
}

static int add_agreement(const struct agreement_expiring *a, void *ctx)
{
    struct gather *g = ctx;
    char subject[EXPIRY_SUBJECT_MAX], label[EXPIRY_LABEL_MAX];
    snprintf(subject, sizeof subject, "%s/%lld", a->id, (long long)a->version);
    snprintf(label, sizeof label, "Dataudvekslingsaftalen \"%.200s\" (id %s, version %lld)",
             a->title, a->id, (long long)a->version);
    size_t before = g->n;
    int rc = note(g, EXPIRY_AGREEMENT, a->valid_until_ms, subject, label, a->org_cvr, a->mailbox);
    /* the agreement module's own 30-day warning (before this module) counts */
    if (rc == 0 && a->warned && g->n > before)
        g->items[g->n - 1].warned_days = EXPIRY_FIRST_DAYS;
    return rc;
}

/* ---- warning ---- */

static int cmp_item(const void *a, const void *b)
{
    const struct expiry_item *x = a, *y = b;
    return (x->not_after_ms > y->not_after_ms) - (x->not_after_ms < y->not_after_ms);
}

/* Records the warning of it at threshold days and queues its mail, in one
 * transaction; *sent is 1 when this call queued it (0: sent before). */
static int warn_one(expiry_t *ex, const struct expiry_item *it, int threshold, bool mail,
                    int64_t now, int *sent, err_t *err)
{
    *sent = 0;
    store_conn_t *c;
    int rc = store_conn_get(ex->st, &c, err);
    if (rc)
        return rc;
    rc = store_begin(c, err);
    store_stmt_t *s;
    if (rc == 0)
        rc = store_prepare(c,
                           "INSERT INTO expiry_notice (kind, subject, not_after, threshold_days,"
                           " org_cvr, recipient, warned_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
                           " ON CONFLICT DO NOTHING",
                           &s, err);
    if (rc == 0) {
        store_bind_cstr(s, 1, expiry_kind_name(it->kind));
        store_bind_cstr(s, 2, it->subject);
        store_bind_int64(s, 3, it->not_after_ms);
        store_bind_int64(s, 4, threshold);
        store_bind_cstr(s, 5, it->org_cvr[0] ? it->org_cvr : NULL);
        store_bind_cstr(s, 6, mail ? it->mailbox : NULL);
        store_bind_int64(s, 7, now);
        rc = store_step(s, err);
        store_stmt_done(s);
        rc = rc < 0 ? rc : 0;
    }
    bool inserted = rc == 0 && store_changes(c) == 1;
    if (inserted && mail) {
        char last_day[16], subject[600], kind[64];
        clock_format_date((int32_t)((it->not_after_ms - 1) / MS_DAY), last_day, sizeof last_day);
        long long days = (it->not_after_ms - now + MS_DAY - 1) / MS_DAY;
        snprintf(subject, sizeof subject, "Udløber om %lld dage / Expires in %lld days: %.400s",
                 days, days, it->label);
        snprintf(kind, sizeof kind, "expiry-%s", expiry_kind_name(it->kind));
        buf_t body;
        buf_init(&body, 8192);
        char until[32];
        clock_format_s(it->not_after_ms, until, sizeof until);
        buf_printf(&body,
                   "%s udløber %s (sidste gyldige dag %s), om %lld dage.\n"
                   "Forny i god tid: efter udløbet afvises kald, der bruger det.\n\n"
                   "%s expires at %s (last valid day %s), in %lld days.\n"
                   "Renew it in good time: once it has expired, calls that use it are "
                   "refused.\n",
                   it->label, until, last_day, days, it->label, until, last_day, days);
        if (it->kind == EXPIRY_SERVER_CERT || it->kind == EXPIRY_TOKEN_KEY)
            buf_printf(&body, "\nMeld fornyelsen i driftsloggen, fx:\n"
                              "  dupla opslog post --config dupla.json --kind servicevindue "
                              "--title 'Fornyelse af platformens certifikat' --start ... --end "
                              "...\n");
        struct mail_message m = {.kind = kind,
                                 .to = it->mailbox,
                                 .subject = subject,
                                 .body = body.data ? body.data : "",
                                 .ref = it->subject};
        rc = mail_enqueue(c, &m, now, err);
        buf_free(&body);
    }
    if (rc == 0)
        rc = store_commit(c, err);
    if (rc)
        store_rollback(c);
    store_conn_put(c);
    if (rc == 0 && inserted && mail)
        *sent = 1;
    return rc;
}

/* The highest threshold already recorded for it (30, 7), or 0. */
static int warned_before(expiry_t *ex, const struct expiry_item *it, err_t *err, int *out)
{
    *out = 0;
    store_conn_t *c;
    int rc = store_conn_get(ex->st, &c, err);
    if (rc)
        return rc;
    store_stmt_t *s;
    rc = store_prepare(c,
                       "SELECT MIN(threshold_days) FROM expiry_notice WHERE kind = ? AND"
                       " subject = ? AND not_after = ?",
                       &s, err);
    if (rc == 0) {
        store_bind_cstr(s, 1, expiry_kind_name(it->kind));
        store_bind_cstr(s, 2, it->subject);
        store_bind_int64(s, 3, it->not_after_ms);
        rc = store_step(s, err);
        if (rc == STORE_ROW && !store_col_is_null(s, 0))
            *out = (int)store_col_int64(s, 0);
        store_stmt_done(s);
        rc = rc < 0 ? rc : 0;
    }
    store_conn_put(c);
    return rc;
}

/* ---- the public calls ---- */

int expiry_open(store_t *st, const struct expiry_sources *src, expiry_t **out, err_t *err)
{
    *out = NULL;
    int rc = expiry_migrate(st, err);
    if (rc)
        return rc;
    expiry_t *ex = calloc(1, sizeof *ex);
    if (!ex)
        return err_set(err, DUPLA_ENOMEM, "out of memory");
    ex->st = st;
    if (src)
        ex->src = *src;
    if (ex->src.cfg) {
        const json_t *sec = config_section(ex->src.cfg, "expiry");
        static const char *const keys[] = {"mailbox", NULL};
        const char *mailbox = NULL;
        if ((rc = config_only_keys(sec, "expiry", keys, err)) ||
            (rc = config_get_string(sec, "expiry", "mailbox", "", &mailbox, err))) {
            free(ex);
            return rc;
        }
        if (mailbox[0] && !mail_address_valid(mailbox)) {
            free(ex);
            return err_param(err, DUPLA_EINVAL, "mailbox", "expiry.mailbox: not a mail address");
        }
        snprintf(ex->mailbox, sizeof ex->mailbox, "%s", mailbox);
    }
    pthread_mutex_init(&ex->mu, NULL);
    ex->m_items = metrics_gauge("dupla_expiry_items",
                                "Things that expire within 30 or 7 days (within=\"30d\" includes "
                                "the 7), by kind: system_certificate, server_certificate, "
                                "token_signing_key, agreement.",
                                "kind,within");
    ex->m_next = metrics_gauge("dupla_expiry_next_timestamp_seconds",
                               "When the soonest of each kind expires (Unix time); absent "
                               "when nothing of that kind expires.",
                               "kind");
    ex->m_warnings = metrics_counter("dupla_expiry_warnings_total",
                                     "Expiry warnings queued for mail, by kind and threshold "
                                     "(\"30d\", \"7d\").",
                                     "kind,threshold");
    *out = ex;
    return 0;
}

void expiry_close(expiry_t *ex)
{
    if (!ex)
        return;
    pthread_mutex_destroy(&ex->mu);
    free(ex->soon);
    free(ex);
}

int expiry_run(expiry_t *ex, int64_t now_ms, struct expiry_run_stats *stats, err_t *err)
{
    struct expiry_run_stats st = {0};
    struct gather g = {.now = now_ms};
    int rc = 0;
    if (ex->src.identity) {
        struct identity_org owner;
        err_t e;
        err_clear(&e);
        if (identity_org_owner(ex->src.identity, &owner, &e) == 0) {
            snprintf(g.owner_cvr, sizeof g.owner_cvr, "%s", owner.cvr);
            snprintf(g.owner_mailbox, sizeof g.owner_mailbox, "%s", owner.contact_email);
        }
        err_clear(&e);
        if ((rc = gather_system_certs(ex, &g, &e)) != 0 && rc != DUPLA_ENOMEM) {
            log_warn("expiry: cannot read the system certificates: %s", e.log);
            rc = 0;
        }
    }
    if (ex->mailbox[0])
        snprintf(g.owner_mailbox, sizeof g.owner_mailbox, "%s", ex->mailbox);
    if (rc == 0 && ex->src.cfg)
        rc = gather_server_certs(ex, &g);
    if (rc == 0 && ex->src.token)
        rc = gather_token_key(ex, &g);
    if (rc == 0 && ex->src.agreement) {
        err_t e;
        err_clear(&e);
        if ((rc = agreement_expiring(ex->src.agreement, now_ms, now_ms + EXPIRY_FIRST_DAYS * MS_DAY,
                                     add_agreement, &g, &e)) != 0 &&
            rc != DUPLA_ENOMEM) {
            log_warn("expiry: cannot read the agreements: %s", e.log);
            rc = 0;
        }
    }
    if (rc) {
        free(g.items);
        return err_set(err, rc, "expiry: out of memory");
    }
    if (g.dropped)
        log_warn("expiry: %u more things expire within %d days than are kept (%d)", g.dropped,
                 EXPIRY_FIRST_DAYS, EXPIRY_ITEMS_MAX);
    if (g.n) /* g.items is NULL when nothing expires soon */
        qsort(g.items, g.n, sizeof *g.items, cmp_item);

    /* warn: the 7-day threshold when it is that close, else the 30-day */
    unsigned count[EXPIRY_KINDS][2] = {{0}};
    for (size_t i = 0; i < g.n; i++) {
        struct expiry_item *it = &g.items[i];
        bool last = it->not_after_ms <= now_ms + EXPIRY_LAST_DAYS * MS_DAY;
        count[it->kind][0]++;
        if (last)
            count[it->kind][1]++;
        st.soon++;
        int threshold = last ? EXPIRY_LAST_DAYS : EXPIRY_FIRST_DAYS;
        int before = 0, sent = 0;
        err_t e;
        err_clear(&e);
        if (it->warned_days == EXPIRY_FIRST_DAYS && !last) {
            /* warned by the agreement module: remember it, mail nothing */
            if (warn_one(ex, it, threshold, false, now_ms, &sent, &e) != 0)
                log_warn("expiry: %s %s: %s", expiry_kind_name(it->kind), it->subject, e.log);
            continue;
        }
        if (!it->mailbox[0]) {
            log_warn("expiry: %s %s expires within %d days, and there is no mailbox to warn",
                     expiry_kind_name(it->kind), it->subject, threshold);
            continue;
        }
        rc = warn_one(ex, it, threshold, true, now_ms, &sent, &e);
        if (rc) {
            *err = e;
            break;
        }
        if (sent) {
            st.warned++;
            metric_add(ex->m_warnings, 1, expiry_kind_name(it->kind), last ? "7d" : "30d");
            log_info("expiry: warned %s of %s %s (%d days)", it->mailbox,
                     expiry_kind_name(it->kind), it->subject, threshold);
        }
        if (warned_before(ex, it, &e, &before) == 0)
            it->warned_days = before;
    }

    metric_clear(ex->m_items);
    metric_clear(ex->m_next);
    for (int k = 0; k < EXPIRY_KINDS; k++) {
        metric_set(ex->m_items, count[k][0], kind_names[k], "30d");
        metric_set(ex->m_items, count[k][1], kind_names[k], "7d");
        if (g.next[k])
            metric_set(ex->m_next, (double)(g.next[k] / 1000), kind_names[k]);
    }
    pthread_mutex_lock(&ex->mu);
    free(ex->soon);
    ex->soon = g.items;
    ex->n_soon = g.n;
    pthread_mutex_unlock(&ex->mu);
    if (stats)
        *stats = st;
    return rc;
}

size_t expiry_for_org(expiry_t *ex, const char *org_cvr, struct expiry_item *out, size_t cap)
{
    size_t n = 0;
    if (!ex || !org_cvr)
        return 0;
    pthread_mutex_lock(&ex->mu);
    for (size_t i = 0; i < ex->n_soon; i++) {
        if (strcmp(ex->soon[i].org_cvr, org_cvr) != 0)
            continue;
        if (n < cap)
            out[n] = ex->soon[i];
        n++;
    }
    pthread_mutex_unlock(&ex->mu);
    return n;
}
