/*
 * registry.c: the in-memory registry of agreements that the data path reads,
 * and the decision it makes on every call.
 *
 * A snapshot is an immutable table of every agreement (id, organisation,
 * environment, the serving version's state, validity, systems and granted
 * fields), built from the store in one pass and hashed by id. It is held in
 * a core/snapshot cell: a reader takes a reference, decides without any
 * lock, and drops the reference; a rebuild makes a new table and swaps it
 * in, the old one freed when its last reader lets go. So readers never wait
 * for a rebuild and never see a half-built table, and a change is seen by
 * every call that starts after the swap.
 *
 * Every change made through this module rebuilds the registry before the
 * call returns (lifecycle.c), so a revocation is refused on the very next
 * call in this process. If a rebuild fails, the one failure rule of
 * core/snapshot.h applies: the last good table decides for at most
 * registry.stale_max_ms, then every call is refused
 * (AGREEMENT_DENY_UNAVAILABLE, 503) until a rebuild succeeds.
 *
 * Other processes (the CLI) and other nodes: each change bumps the counter in
 * agreement_generation in its own transaction. agreement_registry_sync()
 * compares it with the counter the snapshot was built from and rebuilds when
 * it moved; the server calls it once a second. With PostgreSQL the same
 * transaction also sends a notification (store_notify, delivered only at
 * commit, so never before the change is visible), and each node's listener
 * (store_listen_start in `dupla serve`) calls agreement_registry_sync() as
 * soon as it arrives; the one-second poll stays as the safety net for a
 * lost connection (after reconnecting, the listener syncs once, since
 * notifications sent meanwhile are lost).
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "agreement/internal.h"
#include "core/arena.h"
#include "core/json.h"
#include "core/log.h"
#include "core/problem.h"
#include "core/snapshot.h"

/* A snapshot's arena may grow to this (about 100,000 agreements). */
#define REGISTRY_ARENA_MAX ((size_t)512 * 1024 * 1024)

struct reg_service {
    str_t name;
    str_t *fields; /* sorted */
    size_t n_fields;
};

struct reg_entry {
    str_t id;
    str_t org_cvr;
    enum environment env;
    int state; /* of the serving version, AG_STATE_NONE when never approved */
    int64_t version;
    int64_t from_ms, until_ms;
    bool all_systems;
    str_t *systems; /* sorted */
    size_t n_systems;
    struct reg_service *services; /* sorted by name */
    size_t n_services;
    unsigned rate, burst; /* the agreement's own budget; 0: the configured default */
};

/* One immutable table of every agreement. */
struct reg_table {
    arena_t *arena;
    struct reg_entry *entries;
    size_t n;
    uint32_t *slots; /* open addressing: entry index + 1, 0 when empty */
    size_t mask;
};

struct agreement_registry {
    snapshot_t *cell;                  /* of struct reg_table */
    struct agreement_limited *limited; /* 429s counted until flushed (usage.c) */
};

static void table_free(struct reg_table *t)
{
    if (!t)
        return;
    arena_free(t->arena);
    free(t->entries);
    free(t->slots);
    free(t);
}

uint64_t agreement_registry_generation(agreement_registry_t *reg)
{
    return snapshot_serial(reg->cell);
}

static int str_cmp(str_t a, str_t b)
{
    size_t n = a.len < b.len ? a.len : b.len;
    int c = n ? memcmp(a.ptr, b.ptr, n) : 0;
    if (c)
        return c;
    return a.len < b.len ? -1 : a.len > b.len;
}

static int str_qcmp(const void *a, const void *b)
{
    return str_cmp(*(const str_t *)a, *(const str_t *)b);
}

static int service_qcmp(const void *a, const void *b)
{
    return str_cmp(((const struct reg_service *)a)->name, ((const struct reg_service *)b)->name);
}

static bool str_bsearch(const str_t *arr, size_t n, str_t key)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = str_cmp(arr[mid], key);
        if (c == 0)
            return true;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

static uint64_t hash_id(str_t id)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < id.len; i++) {
        h ^= (unsigned char)id.ptr[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static str_t arena_str(arena_t *a, const char *s, size_t n)
{
    char *p = arena_alloc(a, n + 1);
    if (!p)
        return STR_NULL;
    memcpy(p, s, n);
    return (str_t){p, n};
}

/* A JSON array of strings as a sorted str_t array in the arena. */
static int strings_into(arena_t *a, const json_t *arr, str_t **out, size_t *n)
{
    *n = json_array_size(arr);
    *out = arena_alloc(a, (*n ? *n : 1) * sizeof **out);
    if (!*out)
        return DUPLA_ENOMEM;
    for (size_t i = 0; i < *n; i++) {
        json_t *e = json_array_get(arr, i);
        (*out)[i] =
            arena_str(a, json_string_value(e) ? json_string_value(e) : "", json_string_length(e));
        if (!(*out)[i].ptr)
            return DUPLA_ENOMEM;
    }
    qsort(*out, *n, sizeof **out, str_qcmp);
    return 0;
}

static int entry_fill(arena_t *a, store_stmt_t *s, struct reg_entry *e)
{
    str_t id = store_col_text(s, 0), org = store_col_text(s, 1);
    e->id = arena_str(a, id.ptr, id.len);
    e->org_cvr = arena_str(a, org.ptr, org.len);
    if (!e->id.ptr || !e->org_cvr.ptr)
        return DUPLA_ENOMEM;
    e->env = str_eq_cstr(store_col_text(s, 2), "production") ? ENV_PRODUCTION : ENV_TEST;
    e->rate = store_col_is_null(s, 9) ? 0 : (unsigned)store_col_int64(s, 9);
    e->burst = store_col_is_null(s, 10) ? 0 : (unsigned)store_col_int64(s, 10);
    e->state = AG_STATE_NONE;
    if (store_col_is_null(s, 3))
        return 0; /* never approved */
    char state[32];
    str_copy(store_col_text(s, 4), state, sizeof state);
    e->state = agreement_state_parse(state);
    if (e->state < 0)
        return DUPLA_ESTORE;
    e->version = store_col_int64(s, 3);
    e->from_ms = store_col_is_null(s, 5) ? 0 : store_col_int64(s, 5);
    e->until_ms = store_col_is_null(s, 6) ? INT64_MAX : store_col_int64(s, 6);
    str_t app_text = store_col_text(s, 7), granted_text = store_col_text(s, 8);
    json_t *app = json_parse(app_text.ptr, app_text.len, 0, NULL, NULL);
    json_t *granted = json_parse(granted_text.ptr, granted_text.len, 0, NULL, NULL);
    int rc = (app && json_is_object(granted)) ? 0 : DUPLA_ESTORE;
    json_t *systems = json_object_get(app, "systems");
    if (rc == 0) {
        e->all_systems = !json_is_array(systems);
        if (!e->all_systems)
            rc = strings_into(a, systems, &e->systems, &e->n_systems);
    }
    if (rc == 0) {
        e->n_services = json_object_size(granted);
        e->services = arena_alloc(a, (e->n_services ? e->n_services : 1) * sizeof *e->services);
        if (!e->services)
            rc = DUPLA_ENOMEM;
    }
    size_t i = 0;
    const char *name;
    json_t *fields;
    if (rc == 0) {
        json_object_foreach(granted, name, fields)
        {
            struct reg_service *sv = &e->services[i++];
            sv->name = arena_str(a, name, strlen(name));
            if (!sv->name.ptr || strings_into(a, fields, &sv->fields, &sv->n_fields) != 0) {
                rc = DUPLA_ENOMEM;
                break;
            }
        }
        qsort(e->services, e->n_services, sizeof *e->services, service_qcmp);
    }
    json_decref(app);
    json_decref(granted);
    return rc;
}

/* Builds a snapshot from the store: the change counter first, then the
 * rows, so that a change committed in between makes the next sync rebuild
 * again rather than be missed. */
static int table_build(store_t *st, struct reg_table **out, int64_t *gen, err_t *err)
{
    struct reg_table *snap = calloc(1, sizeof *snap);
    if (!snap || !(snap->arena = arena_new(REGISTRY_ARENA_MAX))) {
        table_free(snap);
        return err_set(err, DUPLA_ENOMEM, "out of memory");
    }
    store_conn_t *c;
    int rc = store_conn_get(st, &c, err);
    if (rc) {
        table_free(snap);
        return rc;
    }
    rc = agreement_schema_generation(c, gen, err);
    store_stmt_t *s = NULL;
    if (rc == 0)
        rc = store_prepare(c,
                           "SELECT a.id, a.org_cvr, a.environment, v.version, v.state,"
                           " v.valid_from, v.valid_until, v.application, v.granted,"
                           " a.rate_per_second, a.rate_burst FROM agreement a"
                           " LEFT JOIN agreement_version v ON v.agreement_id = a.id AND"
                           " v.version = a.serving_version",
                           &s, err);
    size_t cap = 0;
    while (rc == 0 && (rc = store_step(s, err)) == STORE_ROW) {
        if (snap->n == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            void *p = realloc(snap->entries, ncap * sizeof *snap->entries);
            if (!p) {
                rc = err_set(err, DUPLA_ENOMEM, "out of memory");
                break;
            }
            snap->entries = p;
            cap = ncap;
        }
        struct reg_entry *e = &snap->entries[snap->n];
        memset(e, 0, sizeof *e);
        rc = entry_fill(snap->arena, s, e);
        if (rc)
            rc = err_internal(err, rc, "agreement registry: cannot load agreement %.*s",
                              STR_FMT(store_col_text(s, 0)));
        else
            snap->n++;
    }
    if (rc == STORE_DONE)
        rc = 0;
    if (s)
        store_stmt_done(s);
    store_conn_put(c);
    if (rc == 0) {
        size_t slots = 16;
        while (slots < snap->n * 2)
            slots *= 2;
        snap->slots = calloc(slots, sizeof *snap->slots);
        snap->mask = slots - 1;
        if (!snap->slots)
            rc = err_set(err, DUPLA_ENOMEM, "out of memory");
        for (size_t i = 0; rc == 0 && i < snap->n; i++) {
            size_t h = hash_id(snap->entries[i].id) & snap->mask;
            while (snap->slots[h])
                h = (h + 1) & snap->mask;
            snap->slots[h] = (uint32_t)i + 1;
        }
    }
    if (rc) {
        table_free(snap);
        return rc;
    }
    *out = snap;
    return 0;
}

/* ---- the cell (core/snapshot.h) ---- */

static const struct reg_entry *lookup(const struct reg_table *s, str_t id);

static int cell_load(void *ctx, void **data, int64_t *gen, err_t *err)
{
    agreement_t *ag = ctx;
    struct reg_table *t = NULL;
    int rc = table_build(ag->st, &t, gen, err);
    if (rc == 0)
        *data = t;
    return rc;
}

static int cell_store_gen(void *ctx, const void *current, int64_t *gen, err_t *err)
{
    agreement_t *ag = ctx;
    (void)current;
    store_conn_t *c;
    int rc = store_conn_get(ag->st, &c, err);
    if (rc)
        return rc;
    rc = agreement_schema_generation(c, gen, err);
    store_conn_put(c);
    return rc;
}

static void cell_free(void *data)
{
    table_free(data);
}

int agreement_registry_new(agreement_t *ag, err_t *err)
{
    agreement_registry_t *reg = calloc(1, sizeof *reg);
    if (!reg)
        return err_set(err, DUPLA_ENOMEM, "out of memory");
    struct snapshot_source src = {"agreement registry", ag, cell_load, cell_store_gen, cell_free};
    int rc = agreement_limited_new(&reg->limited, err);
    if (rc == 0 && (rc = snapshot_new(&src, NULL, &reg->cell, err)) != 0)
        agreement_limited_free(reg->limited);
    if (rc) {
        free(reg);
        return rc;
    }
    ag->registry = reg;
    return 0;
}

void agreement_registry_free(agreement_registry_t *reg)
{
    if (!reg)
        return;
    snapshot_free(reg->cell);
    agreement_limited_free(reg->limited);
    free(reg);
}

/* See internal.h. */
struct agreement_limited *agreement_registry_limited(agreement_registry_t *reg)
{
    return reg->limited;
}

/* See agreement.h. */
bool agreement_rate_budget(agreement_registry_t *reg, str_t id, unsigned *rate, unsigned *burst)
{
    *rate = *burst = 0;
    snapshot_ref_t *ref;
    if (!agreement_id_well_formed(id) || snapshot_acquire(reg->cell, &ref, NULL) != 0)
        return false;
    const struct reg_entry *e = lookup(snapshot_data(ref), id);
    if (e) {
        *rate = e->rate;
        *burst = e->burst;
    }
    snapshot_release(ref);
    return e != NULL;
}

/* See agreement.h. */
int agreement_registry_reload(agreement_t *ag, err_t *err)
{
    return snapshot_invalidate(ag->registry->cell, err);
}

/* See agreement.h. */
int agreement_registry_sync(agreement_t *ag, err_t *err)
{
    return snapshot_poll(ag->registry->cell, 0, err);
}

static const struct reg_entry *lookup(const struct reg_table *s, str_t id)
{
    if (!s->slots)
        return NULL;
    size_t h = hash_id(id) & s->mask;
    while (s->slots[h]) {
        const struct reg_entry *e = &s->entries[s->slots[h] - 1];
        if (str_eq(e->id, id))
            return e;
        h = (h + 1) & s->mask;
    }
    return NULL;
}

static enum agreement_verdict decide_in(const struct reg_table *s,
                                        const struct agreement_caller *caller, str_t id,
                                        str_t service, const str_t *fields, size_t n, bool explicit,
                                        int64_t now_ms, bool *granted,
                                        struct agreement_decision *out)
{
    const struct reg_entry *e = lookup(s, id);
    if (!e)
        return AGREEMENT_DENY_NOT_FOUND;
    if (!str_eq(e->org_cvr, caller->org_cvr))
        return AGREEMENT_DENY_OTHER_ORG;
    if (e->env != caller->env)
        return AGREEMENT_DENY_WRONG_ENV;
    out->version = e->version;
    switch (e->state) {
    case AGREEMENT_APPROVED:
        break;
    case AGREEMENT_SUSPENDED:
        return AGREEMENT_DENY_SUSPENDED;
    case AGREEMENT_REVOKED:
        return AGREEMENT_DENY_REVOKED;
    case AGREEMENT_TERMINATED:
        return AGREEMENT_DENY_TERMINATED;
    default:
        return AGREEMENT_DENY_NOT_APPROVED;
    }
    if (now_ms < e->from_ms)
        return AGREEMENT_DENY_NOT_YET_ACTIVE;
    if (now_ms >= e->until_ms)
        return AGREEMENT_DENY_EXPIRED;
    if (!e->all_systems && !str_bsearch(e->systems, e->n_systems, caller->system_id))
        return AGREEMENT_DENY_SYSTEM;
    const struct reg_service *sv = NULL;
    size_t lo = 0, hi = e->n_services;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = str_cmp(e->services[mid].name, service);
        if (c == 0) {
            sv = &e->services[mid];
            break;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (!sv)
        return AGREEMENT_DENY_SERVICE;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        granted[i] = str_bsearch(sv->fields, sv->n_fields, fields[i]);
        if (!granted[i] && explicit) {
            out->field_index = i;
            return AGREEMENT_DENY_FIELD;
        }
        k += granted[i];
    }
    out->n_granted = k;
    return AGREEMENT_ALLOW;
}

/* See agreement.h. Returns 0 when allowed, DUPLA_EFORBIDDEN (or
 * DUPLA_EINVAL, DUPLA_EBUSY) when refused; out says why either way. */
int agreement_decide(agreement_registry_t *reg, const struct agreement_caller *caller, str_t id,
                     str_t service, const str_t *fields, size_t n, bool explicit, int64_t now_ms,
                     bool *granted, struct agreement_decision *out)
{
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < n; i++)
        granted[i] = false;
    if (!agreement_id_well_formed(id)) {
        out->verdict = AGREEMENT_DENY_MALFORMED;
        return DUPLA_EINVAL;
    }
    snapshot_ref_t *ref;
    if (snapshot_acquire(reg->cell, &ref, NULL) == 0) {
        out->generation = snapshot_ref_serial(ref);
        out->verdict = decide_in(snapshot_data(ref), caller, id, service, fields, n, explicit,
                                 now_ms, granted, out);
        snapshot_release(ref);
    } else {
        out->verdict = AGREEMENT_DENY_UNAVAILABLE; /* past the stale bound */
    }
    if (out->verdict != AGREEMENT_ALLOW) {
        for (size_t i = 0; i < n; i++)
            granted[i] = false;
        out->n_granted = 0;
        return out->verdict == AGREEMENT_DENY_UNAVAILABLE ? DUPLA_EBUSY : DUPLA_EFORBIDDEN;
    }
    return 0;
}

/* See agreement.h. */
bool agreement_recipient_cvr(agreement_registry_t *reg, str_t id, char out[9])
{
    out[0] = '\0';
    snapshot_ref_t *ref;
    if (!agreement_id_well_formed(id) || snapshot_acquire(reg->cell, &ref, NULL) != 0)
        return false;
    const struct reg_entry *e = lookup(snapshot_data(ref), id);
    if (e)
        str_copy(e->org_cvr, out, 9);
    snapshot_release(ref);
    return e != NULL;
}

/* See agreement.h. */
bool agreement_urn_id(str_t header, str_t *id)
{
    str_t h = str_trim(header);
    if (!str_has_prefix(h, STR(AGREEMENT_URN_PREFIX)))
        return false;
    *id = str_sub(h, sizeof AGREEMENT_URN_PREFIX - 1, h.len);
    return id->len > 0;
}

static const struct verdict_text {
    const char *name;
    const char *detail;
    int status;
} verdicts[AGREEMENT_VERDICT_COUNT] = {
    [AGREEMENT_ALLOW] = {"allowed", "The agreement allows the call.", 200},
    [AGREEMENT_DENY_MALFORMED] = {PROBLEM_AGREEMENT_MALFORMED,
                                  "UFST-Adgangsgrundlag does not name an agreement id.", 400},
    [AGREEMENT_DENY_NOT_FOUND] = {PROBLEM_AGREEMENT_NOT_FOUND, "There is no such agreement.", 403},
    /* Answered (and logged) as an unknown id, so that nobody learns from
     * the answer, or from the own log, that an id exists elsewhere. */
    [AGREEMENT_DENY_OTHER_ORG] = {PROBLEM_AGREEMENT_NOT_FOUND, "There is no such agreement.", 403},
    [AGREEMENT_DENY_WRONG_ENV] = {PROBLEM_AGREEMENT_WRONG_ENV,
                                  "The agreement is for the other environment.", 403},
    [AGREEMENT_DENY_NOT_APPROVED] = {PROBLEM_AGREEMENT_NOT_APPROVED,
                                     "The agreement has not been approved.", 403},
    [AGREEMENT_DENY_SUSPENDED] = {PROBLEM_AGREEMENT_SUSPENDED, "The agreement is suspended.", 403},
    [AGREEMENT_DENY_REVOKED] = {PROBLEM_AGREEMENT_REVOKED, "The agreement has been revoked.", 403},
    [AGREEMENT_DENY_TERMINATED] = {PROBLEM_AGREEMENT_TERMINATED,
                                   "The agreement has been terminated.", 403},
    [AGREEMENT_DENY_NOT_YET_ACTIVE] = {PROBLEM_AGREEMENT_NOT_YET_ACTIVE,
                                       "The agreement's validity has not begun.", 403},
    [AGREEMENT_DENY_EXPIRED] = {PROBLEM_AGREEMENT_EXPIRED, "The agreement has expired.", 403},
    [AGREEMENT_DENY_SYSTEM] = {PROBLEM_SYSTEM_NOT_ALLOWED,
                               "The agreement does not allow the calling system.", 403},
    [AGREEMENT_DENY_SERVICE] = {PROBLEM_SERVICE_NOT_GRANTED,
                                "The agreement does not grant this service.", 403},
    [AGREEMENT_DENY_FIELD] = {PROBLEM_FIELD_NOT_GRANTED,
                              "The agreement does not grant a field that was asked for.", 403},
    [AGREEMENT_DENY_UNAVAILABLE] = {PROBLEM_REGISTRY_UNAVAILABLE,
                                    "Agreements cannot be checked right now; try again.", 503},
};

const char *agreement_verdict_name(enum agreement_verdict v)
{
    return (unsigned)v < AGREEMENT_VERDICT_COUNT ? verdicts[v].name : "unknown";
}

const char *agreement_verdict_detail(enum agreement_verdict v)
{
    return (unsigned)v < AGREEMENT_VERDICT_COUNT ? verdicts[v].detail : "Refused.";
}

int agreement_verdict_status(enum agreement_verdict v)
{
    return (unsigned)v < AGREEMENT_VERDICT_COUNT ? verdicts[v].status : 403;
}

/* See agreement.h. */
int agreement_open(store_t *st, const struct agreement_hooks *hooks, agreement_t **out, err_t *err)
{
    int rc = agreement_schema_migrate(st, err);
    if (rc)
        return rc;
    agreement_t *ag = calloc(1, sizeof *ag);
    if (!ag)
        return err_set(err, DUPLA_ENOMEM, "out of memory");
    ag->st = st;
    if (hooks)
        ag->hooks = *hooks;
    rc = agreement_registry_new(ag, err);
    if (rc) {
        free(ag);
        return rc;
    }
    *out = ag;
    return 0;
}

void agreement_close(agreement_t *ag)
{
    if (!ag)
        return;
    agreement_registry_free(ag->registry);
    free(ag);
}

agreement_registry_t *agreement_registry(agreement_t *ag)
{
    return ag->registry;
}
