/* Unit tests: events (the event lists): subjects and uploaded lists with
 * line numbers, following with its limit, replacing, pages that hold only
 * followed subjects' changes after they were followed, in granted
 * services, start by date, and the long-poll's wait and its bound. Ingest
 * writing the change log (and nothing when it fails) is tested here too. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "catalog/catalog.h"
#include "core/clock.h"
#include "dataset/dataset.h"
#include "events/events.h"
#include "fixture.h"
#include "ingest/ingest.h"
#include "store/store.h"

static char dir[FX_DIR_MAX];
static store_t *st;
static arena_t *arena;

static void setup(void)
{
    fx_tmpdir(dir, "events");
    st = fx_store(dir, "t.db");
    err_t err;
    cr_assert_eq(events_migrate(st, &err), 0, "%s", err.detail);
    arena = arena_new(1 << 20);
}

static void teardown(void)
{
    arena_free(arena);
    store_close(st);
    fx_rmtree(dir);
}

TestSuite(events, .init = setup, .fini = teardown);

Test(events, subjects_parse_by_kind_and_check)
{
    struct events_subject s;
    err_t err;
    cr_assert_eq(events_subject_parse(STR("6601760061"), &s, &err), 0);
    cr_assert_eq(s.kind, CATALOG_IDENT_CPR);
    cr_assert_eq(s.number, 6601760061LL);
    cr_assert_eq(events_subject_parse(STR(" cvr 12345674 "), &s, &err), 0);
    cr_assert_eq(s.kind, CATALOG_IDENT_CVR);
    cr_assert_eq(events_subject_parse(STR("SE;00000001"), &s, &err), DUPLA_EINVAL);
    cr_assert_eq(events_subject_parse(STR("SE;10000001"), &s, &err), 0);
    cr_assert_eq(s.kind, CATALOG_IDENT_SE);
    char t[16];
    events_subject_text(&s, t, sizeof t);
    cr_assert_str_eq(t, "10000001");
    cr_assert_eq(events_subject_parse(STR("CVR 12345678"), &s, &err), DUPLA_EINVAL, "mod 11");
    cr_assert_eq(events_subject_parse(STR("12345674"), &s, &err), DUPLA_EINVAL, "needs a kind");
    cr_assert_eq(events_subject_parse(STR("XYZ 12345674"), &s, &err), DUPLA_EINVAL);
    cr_assert_eq(events_subject_parse(STR("9999999999"), &s, &err), DUPLA_EINVAL, "no date");
}

Test(events, lists_name_every_bad_line_and_their_limit)
{
    const char *text = "# kommunens sager\n6601760061\r\n\nCVR 12345674\n6601760061\n"
                       "CVR 12345678\nhello\n";
    struct events_subject *out;
    size_t n, np;
    struct events_list_problem p[10];
    cr_assert_eq(events_list_parse(str_from_cstr(text), 10, arena, &out, &n, p, 10, &np),
                 DUPLA_EINVAL);
    cr_assert_eq(n, 2, "the repeated subject counts once");
    cr_assert_eq(np, 2);
    cr_assert_eq(p[0].line, 6);
    cr_assert(strstr(p[0].reason, "CVR"), "%s", p[0].reason);
    cr_assert_eq(p[1].line, 7);
    /* the limit: named at the first line too many */
    const char *three = "6601760061\n6701760061\n6801760061\n";
    cr_assert_eq(events_list_parse(str_from_cstr(three), 2, arena, &out, &n, p, 10, &np),
                 DUPLA_EINVAL);
    cr_assert_eq(np, 1);
    cr_assert_eq(p[0].line, 3);
    cr_assert(strstr(p[0].reason, "more than 2"), "%s", p[0].reason);
    cr_assert_eq(events_list_parse(str_from_cstr(three), 3, arena, &out, &n, p, 10, &np), 0);
    cr_assert_eq(n, 3);
}

static const struct events_subject A = {CATALOG_IDENT_CPR, 6601760061LL},
                                   B = {CATALOG_IDENT_CPR, 6701760061LL},
                                   C = {CATALOG_IDENT_CVR, 12345674LL};

static void change(const char *service, struct events_subject s, int64_t version,
                   enum events_kind kind, int64_t ms)
{
    store_conn_t *c;
    err_t err;
    cr_assert_eq(store_conn_get(st, &c, &err), 0);
    cr_assert_eq(store_begin(c, &err), 0);
    cr_assert_eq(events_lock(c, &err), 0, "%s", err.log);
    struct events_change ch = {.subject = s,
                               .period_start = 19358,
                               .period_end = 19722,
                               .version = version,
                               .kind = kind,
                               .registered_ms = ms};
    snprintf(ch.service, sizeof ch.service, "%s", service);
    cr_assert_eq(events_record(c, &ch, 1, &err), 0, "%s", err.log);
    cr_assert_eq(store_commit(c, &err), 0, "%s", err.log);
    store_conn_put(c);
}

static size_t page(const char *agreement, const char *const *services, size_t n_services,
                   int64_t from, size_t limit, struct events_change *out)
{
    store_conn_t *c;
    err_t err;
    cr_assert_eq(store_conn_get(st, &c, &err), 0);
    struct events_query q = {.agreement = str_from_cstr(agreement),
                             .services = services,
                             .n_services = n_services,
                             .from_seq = from,
                             .limit = limit};
    size_t n;
    cr_assert_eq(events_page(c, &q, out, &n, &err), 0, "%s", err.log);
    store_conn_put(c);
    return n;
}

Test(events, pages_hold_followed_subjects_after_following_in_granted_services)
{
    err_t err;
    change("Aarsopgoerelse", A, 1, EVENTS_NEW, 1000); /* before anyone follows A */
    size_t added;
    struct events_subject ab[] = {A, B};
    cr_assert_eq(events_follow(st, STR("ag1"), ab, 2, 10, 5000, &added, &err), 0, "%s", err.log);
    cr_assert_eq(added, 2);
    cr_assert_eq(events_follow(st, STR("ag1"), ab, 1, 10, 6000, &added, &err), 0);
    cr_assert_eq(added, 0, "following again changes nothing");
    change("Aarsopgoerelse", A, 2, EVENTS_CHANGED, 7000);
    change("Aarsopgoerelse", C, 1, EVENTS_NEW, 7000); /* not followed */
    change("Momsangivelse", B, 1, EVENTS_NEW, 8000);  /* a service not granted */
    change("Aarsopgoerelse", B, 1, EVENTS_NEW, 9000);
    change("Aarsopgoerelse", A, 3, EVENTS_WITHDRAWN, 9500);
    const char *aar[] = {"Aarsopgoerelse"};
    struct events_change ev[10];
    size_t n = page("ag1", aar, 1, 1, 10, ev);
    cr_assert_eq(n, 3);
    cr_assert_eq(ev[0].seq, 2);
    cr_assert_eq(ev[0].kind, EVENTS_CHANGED);
    cr_assert_eq(ev[1].subject.number, B.number);
    cr_assert_eq(ev[2].kind, EVENTS_WITHDRAWN);
    cr_assert_str_eq(events_kind_name(ev[2].kind), "tilbagekaldt");
    /* paging: two, then the rest, then an empty page */
    cr_assert_eq(page("ag1", aar, 1, 1, 2, ev), 2);
    cr_assert_eq(page("ag1", aar, 1, ev[1].seq + 1, 2, ev), 1);
    cr_assert_eq(page("ag1", aar, 1, ev[0].seq + 1, 2, ev), 0);
    /* both services; another agreement sees nothing */
    const char *both[] = {"Aarsopgoerelse", "Momsangivelse"};
    cr_assert_eq(page("ag1", both, 2, 1, 10, ev), 4);
    cr_assert_eq(page("ag2", both, 2, 1, 10, ev), 0);
    /* unfollowing stops them */
    size_t removed;
    cr_assert_eq(events_unfollow(st, STR("ag1"), ab + 1, 1, &removed, &err), 0);
    cr_assert_eq(removed, 1);
    cr_assert_eq(page("ag1", both, 2, 1, 10, ev), 2);
    /* start by time */
    store_conn_t *c;
    cr_assert_eq(store_conn_get(st, &c, &err), 0);
    int64_t seq;
    cr_assert_eq(events_start(c, 7000, &seq, &err), 0);
    cr_assert_eq(seq, 2);
    cr_assert_eq(events_start(c, 9001, &seq, &err), 0);
    cr_assert_eq(seq, 6);
    cr_assert_eq(events_start(c, 99999, &seq, &err), 0);
    cr_assert_eq(seq, 7, "none yet: the next to come");
    store_conn_put(c);
}

Test(events, the_limit_and_replacing_the_list)
{
    err_t err;
    size_t added, removed;
    struct events_subject abc[] = {A, B, C};
    cr_assert_eq(events_follow(st, STR("ag"), abc, 3, 2, 1, &added, &err), DUPLA_ELIMIT);
    cr_assert_str_eq(err.param, "body");
    cr_assert_eq(events_follow(st, STR("ag"), abc, 2, 2, 1, &added, &err), 0);
    cr_assert_eq(events_follow(st, STR("ag"), abc + 2, 1, 2, 1, &added, &err), DUPLA_ELIMIT,
                 "over the limit with what is followed already");
    int64_t count;
    cr_assert_eq(events_count(st, STR("ag"), &count, &err), 0);
    cr_assert_eq(count, 2, "nothing changed");
    struct events_subject bc[] = {C, B};
    cr_assert_eq(events_replace(st, STR("ag"), bc, 2, 2, 2, &added, &removed, &err), 0, "%s",
                 err.log);
    cr_assert_eq(added, 1);
    cr_assert_eq(removed, 1);
    struct events_followed rows[4];
    size_t n;
    cr_assert_eq(events_list(st, STR("ag"), NULL, rows, 4, &n, &err), 0);
    cr_assert_eq(n, 2);
    cr_assert_eq(rows[0].subject.number, B.number, "CPR before CVR");
    cr_assert_eq(rows[0].added_ms, 1, "a kept subject keeps its start");
    cr_assert_eq(rows[1].subject.kind, CATALOG_IDENT_CVR);
    cr_assert_eq(events_list(st, STR("ag"), &rows[0].subject, rows, 4, &n, &err), 0);
    cr_assert_eq(n, 1);
}

static void *notify_later(void *arg)
{
    (void)arg;
    usleep(200 * 1000);
    events_notify();
    return NULL;
}

static void *wait_a_while(void *arg)
{
    (void)arg;
    events_wait(events_generation(), clock_now_ms() + 5000);
    return NULL;
}

Test(events, a_waiter_wakes_on_notify_or_times_out_and_waiters_are_bounded)
{
    uint64_t g = events_generation();
    int64_t t0 = clock_now_ms();
    cr_assert_eq(events_wait(g, t0 + 150), 0);
    cr_assert_geq(clock_now_ms() - t0, 140);
    pthread_t th;
    pthread_create(&th, NULL, notify_later, NULL);
    t0 = clock_now_ms();
    cr_assert_eq(events_wait(g, t0 + 5000), 1);
    cr_assert_lt(clock_now_ms() - t0, 3000);
    pthread_join(th, NULL);
    /* a generation already past: at once */
    cr_assert_eq(events_wait(g, clock_now_ms() + 5000), 1);
    /* the bound: one waiter at a time here, the second is refused */
    events_wait_configure(1);
    pthread_create(&th, NULL, wait_a_while, NULL);
    for (int i = 0; i < 200 && events_waiting() == 0; i++)
        usleep(10 * 1000);
    cr_assert_eq(events_waiting(), 1);
    cr_assert_eq(events_wait(events_generation(), clock_now_ms() + 1000), DUPLA_EBUSY);
    events_notify();
    pthread_join(th, NULL);
    cr_assert_eq(events_waiting(), 0);
    events_wait_configure(0);
}

Test(events, ingest_records_changes_in_its_transaction)
{
    catalog_t *cat = fx_catalog();
    const struct catalog_service *aar = catalog_find(cat, STR("Aarsopgoerelse"));
    err_t err;
    cr_assert_eq(dataset_migrate(st, &err), 0);
    size_t added;
    struct events_subject a[] = {{CATALOG_IDENT_CPR, 101901234LL}};
    cr_assert_eq(events_follow(st, STR("ag"), a, 1, 10, 1, &added, &err), 0);
    char line[2048];
    snprintf(line, sizeof line,
             "{\"PersonCPRNummer\":\"0101901234\",\"IndkomstÅr\":2023,\"ÅrsopgørelseDato\":"
             "\"2024-03-15\",\"PersonligIndkomst\":1,\"LønIndkomst\":1,\"OverførselsIndkomst\":0,"
             "\"PensionIndkomst\":0,\"KapitalIndkomstNetto\":0,\"LigningsmæssigeFradrag\":0,"
             "\"Beskæftigelsesfradrag\":0,\"SkattepligtigIndkomst\":1,\"AktieIndkomst\":0,"
             "\"AMBidrag\":0,\"Bundskat\":0,\"Topskat\":0,\"Kommuneskat\":0,\"Kirkeskat\":0,"
             "\"AktieIndkomstSkat\":0,\"SkatIAlt\":%d,\"IndeholdtSkat\":0,\"Restskat\":0,"
             "\"OverskydendeSkat\":0,\"KommuneKode\":\"101\",\"Kirkeskattepligtig\":true}\n",
             1);
    struct ingest_options opt = {.environment = ENV_TEST, .synthetic = true, .now_ms = 1000};
    struct ingest_result res;
    struct ingest_source src = {.name = "d", .data = str_from_cstr(line)};
    cr_assert_eq(ingest_delivery(st, aar, &src, 1, &opt, &res, &err), 0, "%s", err.log);
    ingest_result_free(&res);
    /* a failing delivery (a bad second line) leaves no change */
    char two[4096];
    snprintf(two, sizeof two, "%s{\"PersonCPRNummer\":\"1\"}\n", line);
    two[strstr(two, "\"SkatIAlt\":1") - two + 11] = '2';
    src.data = str_from_cstr(two);
    cr_assert_eq(ingest_delivery(st, aar, &src, 1, &opt, &res, &err), DUPLA_EINVAL);
    ingest_result_free(&res);
    /* a withdrawal */
    src.data = STR("{\"withdraw\":true,\"PersonCPRNummer\":\"0101901234\",\"IndkomstÅr\":2023}\n");
    opt.now_ms = 2000;
    cr_assert_eq(ingest_delivery(st, aar, &src, 1, &opt, &res, &err), 0, "%s", err.log);
    ingest_result_free(&res);
    const char *svc[] = {"Aarsopgoerelse"};
    struct events_change ev[10];
    size_t n = page("ag", svc, 1, 1, 10, ev);
    cr_assert_eq(n, 2);
    cr_assert_eq(ev[0].kind, EVENTS_NEW);
    cr_assert_eq(ev[0].version, 1);
    cr_assert_eq(ev[0].subject.kind, CATALOG_IDENT_CPR);
    cr_assert_eq(ev[0].registered_ms, 1000);
    cr_assert_eq(ev[1].kind, EVENTS_WITHDRAWN);
    cr_assert_eq(ev[1].version, 2);
    catalog_free(cat);
}
