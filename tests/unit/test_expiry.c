/* Unit tests: src/expiry, with time passed in (expiry_run takes now): a
 * server certificate valid 40 days is warned of once at 30 days and once
 * at 7, never twice (also after the handle is made again, as after a
 * restart), not at all once expired; a renewed certificate is a new
 * expiry; the gauges follow. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/config.h"
#include "core/metrics.h"
#include "expiry/expiry.h"
#include "fixture.h"
#include "mail/mail.h"
#include "pki/pki.h"

#define DAY (86400LL * 1000)

struct world {
    char dir[FX_DIR_MAX];
    store_t *st;
    mail_t *mail;
    struct dupla_config cfg;
    expiry_t *ex;
    int64_t not_after;
};

static void setup_world(struct world *w, unsigned days)
{
    fx_tmpdir(w->dir, "expiry");
    char pki[FX_DIR_MAX + 8];
    snprintf(pki, sizeof pki, "%s/pki", w->dir);
    err_t err;
    struct pki_init_options po = {.dir = pki, .days = days};
    cr_assert_eq(pki_init(&po, &err), 0, "%s", err.log);
    char cfg[1024];
    snprintf(cfg, sizeof cfg,
             "{\"environment\": \"test\", \"store\": \"sqlite:x.db\", \"listeners\": ["
             "{\"name\": \"api\", \"address\": \"127.0.0.1\", \"port\": 1, \"cert\": "
             "\"pki/server.pem\", \"key\": \"pki/server.key\", \"client_cert\": \"none\"}],"
             " \"expiry\": {\"mailbox\": \"drift@platform.invalid\"}}");
    cr_assert_eq(config_load_string(cfg, w->dir, &w->cfg, &err), 0, "%s", err.log);
    w->st = fx_store(w->dir, "x.db");
    cr_assert_eq(mail_open(w->st, NULL, &w->mail, &err), 0, "%s", err.log);
    struct expiry_sources src = {.cfg = &w->cfg};
    cr_assert_eq(expiry_open(w->st, &src, &w->ex, &err), 0, "%s", err.log);
    struct pki_cert_info ci;
    char pem[FX_DIR_MAX + 32];
    snprintf(pem, sizeof pem, "%s/server.pem", pki);
    cr_assert_eq(pki_cert_info_from_file(pem, &ci, &err), 0, "%s", err.log);
    w->not_after = ci.not_after_ms;
}

static void teardown_world(struct world *w)
{
    expiry_close(w->ex);
    mail_close(w->mail);
    store_close(w->st);
    config_free(&w->cfg);
    fx_rmtree(w->dir);
}

/* Runs at now and returns how many warnings it queued. */
static unsigned run_at(struct world *w, int64_t now)
{
    struct expiry_run_stats st;
    err_t err;
    err_clear(&err);
    cr_assert_eq(expiry_run(w->ex, now, &st, &err), 0, "%s", err.log);
    return st.warned;
}

/* The expiry mails in the outbox (kind expiry-server_certificate). */
static size_t mails(struct world *w, json_t **list)
{
    err_t err;
    cr_assert_eq(mail_list_json(w->mail, NULL, list, &err), 0, "%s", err.log);
    size_t n = 0, i;
    json_t *m;
    json_array_foreach(*list, i, m)
    {
        const char *kind = json_string_value(json_object_get(m, "kind"));
        if (kind && strcmp(kind, "expiry-server_certificate") == 0)
            n++;
    }
    return n;
}

Test(expiry, warns_once_per_threshold_across_restarts, .timeout = 60)
{
    struct world w;
    setup_world(&w, 40);
    metric_t *items = metrics_gauge("dupla_expiry_items", "", "kind,within");
    int64_t now = clock_now_ms();
    json_t *list;

    /* 40 days left: nothing to say yet, but the soonest expiry is known */
    cr_assert_eq(run_at(&w, now), 0);
    cr_assert_eq(mails(&w, &list), 0);
    json_decref(list);
    cr_assert_eq(metric_value(items, "server_certificate", "30d"), 0);
    metric_t *next = metrics_gauge("dupla_expiry_next_timestamp_seconds", "", "kind");
    cr_assert_eq((int64_t)metric_value(next, "server_certificate"), w.not_after / 1000);

    /* 20 days left: the 30-day warning, to expiry.mailbox, once */
    cr_assert_eq(run_at(&w, w.not_after - 20 * DAY), 1);
    cr_assert_eq(run_at(&w, w.not_after - 19 * DAY), 0);
    cr_assert_eq(mails(&w, &list), 1);
    json_t *m = json_array_get(list, 0);
    cr_assert_str_eq(json_string_value(json_object_get(m, "to")), "drift@platform.invalid");
    cr_assert(strstr(json_string_value(json_object_get(m, "subject")), "20 dage"), "%s",
              json_string_value(json_object_get(m, "subject")));
    json_decref(list);
    cr_assert_eq(metric_value(items, "server_certificate", "30d"), 1);
    cr_assert_eq(metric_value(items, "server_certificate", "7d"), 0);
    struct expiry_item it[4];
    cr_assert_eq(expiry_for_org(w.ex, "", it, 4), 1, "the platform's item (no owner known)");
    cr_assert_eq(it[0].kind, EXPIRY_SERVER_CERT);
    cr_assert_eq(it[0].warned_days, 30);

    /* a restart: a new handle on the same store sends nothing again */
    expiry_close(w.ex);
    struct expiry_sources src = {.cfg = &w.cfg};
    err_t err;
    cr_assert_eq(expiry_open(w.st, &src, &w.ex, &err), 0, "%s", err.log);
    cr_assert_eq(run_at(&w, w.not_after - 18 * DAY), 0);

    /* 5 days left: the 7-day warning, once; then expired: nothing */
    cr_assert_eq(run_at(&w, w.not_after - 5 * DAY), 1);
    cr_assert_eq(run_at(&w, w.not_after - 4 * DAY), 0);
    cr_assert_eq(metric_value(items, "server_certificate", "7d"), 1);
    cr_assert_eq(run_at(&w, w.not_after + DAY), 0);
    cr_assert_eq(mails(&w, &list), 2);
    json_decref(list);
    cr_assert_eq(metric_value(items, "server_certificate", "30d"), 0);
    teardown_world(&w);
}

Test(expiry, first_seen_within_7_days_sends_only_the_7_day_warning, .timeout = 60)
{
    struct world w;
    setup_world(&w, 40);
    json_t *list;
    cr_assert_eq(run_at(&w, w.not_after - 3 * DAY), 1);
    cr_assert_eq(run_at(&w, w.not_after - 2 * DAY), 0);
    cr_assert_eq(mails(&w, &list), 1);
    cr_assert(
        strstr(json_string_value(json_object_get(json_array_get(list, 0), "subject")), "3 dage"));
    json_decref(list);
    teardown_world(&w);
}

Test(expiry, refuses_a_bad_mailbox)
{
    char dir[FX_DIR_MAX];
    fx_tmpdir(dir, "expiry");
    struct dupla_config cfg;
    err_t err;
    cr_assert_eq(config_load_string("{\"environment\": \"test\", \"store\": \"sqlite:x.db\", "
                                    "\"expiry\": {\"mailbox\": \"not an address\"}}",
                                    dir, &cfg, &err),
                 0, "%s", err.log);
    store_t *st = fx_store(dir, "x.db");
    expiry_t *ex;
    struct expiry_sources src = {.cfg = &cfg};
    cr_assert_eq(expiry_open(st, &src, &ex, &err), DUPLA_EINVAL);
    cr_assert_str_eq(err.param, "mailbox");
    config_free(&cfg);
    store_close(st);
    fx_rmtree(dir);
}
