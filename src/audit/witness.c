/*
 * witness.c: a witness of the log (`dupla audit witness`): it fetches the
 * log's newest signed checkpoint, checks its signature with the log's
 * verifier key, and checks that it extends the last checkpoint it accepted
 * (an RFC 9162 consistency proof from the log). It keeps every checkpoint
 * it accepts, so that a log that later shows a tree which does not extend
 * one of them (a rewritten history, or another tree to someone else: a
 * split view) is caught, and the two signed checkpoints are kept as the
 * evidence.
 *
 * The state directory holds:
 *     key            the verifier key (set on the first run, never changed)
 *     latest         the last checkpoint accepted (a signed note)
 *     cp-<size>      every checkpoint accepted
 *     evidence-<ms>[-<n>]  on a failure: both checkpoints and the answer that
 *                    failed (-<n> when one came in the same millisecond)
 * Files are written to a temporary name, synced, and renamed into place.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit/internal.h"
#include "core/clock.h"
#include "core/json.h"

#define WITNESS_PATH_MAX   4096
#define WITNESS_ANSWER_MAX (256 * 1024)

const char *audit_witness_verdict_name(enum audit_witness_verdict v)
{
    switch (v) {
    case AUDIT_WITNESS_FIRST:
        return "first";
    case AUDIT_WITNESS_SAME:
        return "same";
    case AUDIT_WITNESS_EXTENDED:
        return "extended";
    case AUDIT_WITNESS_SPLIT:
        return "split-view";
    case AUDIT_WITNESS_ROLLED_BACK:
        return "rolled-back";
    case AUDIT_WITNESS_REWRITTEN:
        return "rewritten";
    }
    return "?";
}

static int path_of(char *out, const char *dir, const char *name, err_t *err)
{
    int n = snprintf(out, WITNESS_PATH_MAX, "%s/%s", dir, name);
    if (n < 0 || n >= WITNESS_PATH_MAX)
        return err_param(err, DUPLA_EINVAL, "state", "the state directory's path is too long");
    return 0;
}

/* Reads a small file into b: 0, DUPLA_ENOTFOUND when it does not exist. */
static int read_small(const char *path, buf_t *b, err_t *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno == ENOENT)
            return DUPLA_ENOTFOUND;
        return err_set(err, DUPLA_EIO, "%s: %s", path, strerror(errno));
    }
    char chunk[4096];
    size_t n;
    int rc = 0;
    while (!rc && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
        if (buf_append(b, chunk, n))
            rc = err_set(err, DUPLA_ELIMIT, "%s: too large", path);
    if (!rc && ferror(f))
        rc = err_set(err, DUPLA_EIO, "%s: cannot be read", path);
    fclose(f);
    return rc;
}

/* Writes text to dir/name through a synced temporary file. */
static int write_file(const char *dir, const char *name, str_t text, err_t *err)
{
    char path[WITNESS_PATH_MAX], tmp[WITNESS_PATH_MAX + 8];
    int rc = path_of(path, dir, name, err);
    if (rc)
        return rc;
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return err_set(err, DUPLA_EIO, "%s: %s", tmp, strerror(errno));
    size_t off = 0;
    while (off < text.len) {
        ssize_t w = write(fd, text.ptr + off, text.len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            close(fd);
            unlink(tmp);
            return err_set(err, DUPLA_EIO, "%s: %s", tmp, strerror(errno));
        }
        off += (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        unlink(tmp);
        return err_set(err, DUPLA_EIO, "%s: cannot be synced", tmp);
    }
    if (rename(tmp, path) != 0) {
        unlink(tmp);
        return err_set(err, DUPLA_EIO, "%s: %s", path, strerror(errno));
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
    return 0;
}

static void trim(buf_t *b)
{
    while (b->len && (b->data[b->len - 1] == '\n' || b->data[b->len - 1] == '\r'))
        b->len--;
}

/* Keeps both checkpoints and what the log answered, as evidence. */
static void keep_evidence(const char *dir, str_t old_note, str_t new_note, str_t answer,
                          struct audit_witness_result *out)
{
    buf_t b;
    buf_init(&b, 4 * AUDIT_NOTE_MAX + WITNESS_ANSWER_MAX);
    /* a name no earlier evidence has: two failures in one millisecond (a
     * split view, then a rollback) must not overwrite each other */
    char name[64], path[1024];
    int64_t now = clock_now_ms();
    snprintf(name, sizeof name, "evidence-%" PRId64, now);
    for (int i = 2; i < 1000; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, name);
        if (access(path, F_OK) != 0)
            break;
        snprintf(name, sizeof name, "evidence-%" PRId64 "-%d", now, i);
    }
    err_t e;
    if (buf_printf(&b,
                   "dupla audit witness: %s\n\nthe checkpoint accepted before:\n%.*s\n"
                   "the checkpoint the log signed now:\n%.*s\nthe log's answer:\n%.*s\n",
                   out->detail, STR_FMT(old_note), STR_FMT(new_note), STR_FMT(answer)) == 0 &&
        write_file(dir, name, buf_str(&b), &e) == 0)
        snprintf(out->evidence, sizeof out->evidence, "%s/%s", dir, name);
    buf_free(&b);
}

/* Checks the log's consistency proof from (m, r1) to (n, r2). */
static int check_consistency(const struct audit_witness_fetch *fetch, int64_t m, int64_t n,
                             const unsigned char r1[AUDIT_HASH_LEN],
                             const unsigned char r2[AUDIT_HASH_LEN], buf_t *answer, bool *ok,
                             err_t *err)
{
    char path[128];
    snprintf(path, sizeof path, "/transparency/proof/consistency?from=%" PRId64 "&to=%" PRId64, m,
             n);
    buf_reset(answer);
    int rc = fetch->get(fetch->ctx, path, answer, err);
    if (rc)
        return rc;
    json_t *o = json_parse(answer->data, answer->len, 0, NULL, NULL);
    json_t *hs = json_object_get(o, "hashes");
    if (!json_is_array(hs) || json_array_size(hs) > AUDIT_PROOF_MAX ||
        json_integer_value(json_object_get(o, "from")) != m ||
        json_integer_value(json_object_get(o, "to")) != n) {
        json_decref(o);
        return err_set(err, DUPLA_EINVAL,
                       "the log's consistency proof from %" PRId64 " to %" PRId64
                       " is not a proof of that",
                       m, n);
    }
    unsigned char proof[AUDIT_PROOF_MAX][AUDIT_HASH_LEN];
    size_t np = json_array_size(hs);
    for (size_t i = 0; i < np; i++) {
        json_t *h = json_array_get(hs, i);
        if (!json_is_string(h) ||
            audit_b64_decode((str_t){json_string_value(h), json_string_length(h)}, proof[i],
                             AUDIT_HASH_LEN) != AUDIT_HASH_LEN) {
            json_decref(o);
            return err_set(err, DUPLA_EINVAL,
                           "the log's consistency proof holds a hash that is not 32 bytes");
        }
    }
    json_decref(o);
    *ok = audit_tree_verify_consistency(m, n, r1, r2, (const unsigned char(*)[AUDIT_HASH_LEN])proof,
                                        np);
    return 0;
}

int audit_witness_run(const char *dir, str_t vkey, const struct audit_witness_fetch *fetch,
                      struct audit_witness_result *out, err_t *err)
{
    memset(out, 0, sizeof *out);
    struct stat stt;
    if (stat(dir, &stt) != 0) {
        if (errno != ENOENT || mkdir(dir, 0755) != 0)
            return err_param(err, DUPLA_EIO, "state", "%s: %s", dir, strerror(errno));
    } else if (!S_ISDIR(stt.st_mode)) {
        return err_param(err, DUPLA_EINVAL, "state", "%s is not a directory", dir);
    }
    char path[WITNESS_PATH_MAX];
    buf_t key, last, note, answer;
    buf_init(&key, AUDIT_VKEY_MAX);
    buf_init(&last, AUDIT_NOTE_MAX);
    buf_init(&note, AUDIT_NOTE_MAX);
    buf_init(&answer, WITNESS_ANSWER_MAX);
    int rc = path_of(path, dir, "key", err);
    int krc = rc ? rc : read_small(path, &key, err);
    trim(&key);
    if (krc && krc != DUPLA_ENOTFOUND) {
        rc = krc;
        goto done;
    }
    if (krc == DUPLA_ENOTFOUND) {
        if (vkey.len == 0) {
            rc = err_param(err, DUPLA_EINVAL, "key",
                           "the first run needs the log's verifier key (--key), from the data "
                           "owner");
            goto done;
        }
        if ((rc = buf_append_str(&key, vkey))) {
            rc = err_param(err, DUPLA_ELIMIT, "key", "the verifier key is too long");
            goto done;
        }
    } else if (vkey.len && !str_eq(vkey, buf_str(&key))) {
        rc = err_param(err, DUPLA_ECONFLICT, "key",
                       "%s/key holds another verifier key: a witness's state is for one log", dir);
        goto done;
    }
    char name[AUDIT_ORIGIN_MAX];
    unsigned char pub[PKI_ED25519_PUB_LEN];
    if ((rc = audit_note_vkey_parse(buf_str(&key), name, sizeof name, pub, err)))
        goto done;
    snprintf(out->origin, sizeof out->origin, "%s", name);

    /* the last checkpoint accepted */
    struct audit_note old;
    bool have_old = false;
    if ((rc = path_of(path, dir, "latest", err)))
        goto done;
    int lrc = read_small(path, &last, err);
    if (lrc && lrc != DUPLA_ENOTFOUND) {
        rc = lrc;
        goto done;
    }
    if (lrc == 0) {
        if ((rc = audit_note_open(buf_str(&last), name, pub, &old, err))) {
            rc = err_param(err, DUPLA_EINVAL, "state", "%s/latest is not a checkpoint of %s: %s",
                           dir, name, err->log);
            goto done;
        }
        have_old = true;
        out->old_size = old.size;
    }

    /* the log's newest */
    if ((rc = fetch->get(fetch->ctx, "/transparency/checkpoint", &note, err)))
        goto done;
    struct audit_note now;
    if ((rc = audit_note_open(buf_str(&note), name, pub, &now, err))) {
        err_t e2 = *err;
        rc = err_set(err, rc, "the log's checkpoint does not verify with the key of %s: %s", name,
                     e2.log);
        goto done;
    }
    out->new_size = now.size;
    if (!have_old) {
        out->verdict = AUDIT_WITNESS_FIRST;
        snprintf(out->detail, sizeof out->detail,
                 "first checkpoint of %s: tree size %" PRId64 " (trusted on first use)", name,
                 now.size);
    } else if (now.size < old.size) {
        out->verdict = AUDIT_WITNESS_ROLLED_BACK;
        snprintf(out->detail, sizeof out->detail,
                 "REWRITTEN HISTORY: %s now signs a tree of %" PRId64
                 " entries, but it signed a tree of %" PRId64
                 " entries before: entries were removed or the log was restored from an older "
                 "copy",
                 name, now.size, old.size);
    } else if (now.size == old.size) {
        bool same = memcmp(now.root, old.root, AUDIT_HASH_LEN) == 0;
        out->verdict = same ? AUDIT_WITNESS_SAME : AUDIT_WITNESS_SPLIT;
        if (same)
            snprintf(out->detail, sizeof out->detail,
                     "%s: tree size %" PRId64 ", unchanged since the last check", name, now.size);
        else
            snprintf(out->detail, sizeof out->detail,
                     "SPLIT VIEW: %s signed two different trees of %" PRId64
                     " entries (the log was rewritten, or shows another log to others)",
                     name, now.size);
    } else {
        bool ok = false;
        if ((rc = check_consistency(fetch, old.size, now.size, old.root, now.root, &answer, &ok,
                                    err)))
            goto done;
        out->verdict = ok ? AUDIT_WITNESS_EXTENDED : AUDIT_WITNESS_REWRITTEN;
        if (ok)
            snprintf(out->detail, sizeof out->detail,
                     "%s: tree size %" PRId64 " extends the tree of size %" PRId64
                     " seen before (consistency proof verified)",
                     name, now.size, old.size);
        else
            snprintf(
                out->detail, sizeof out->detail,
                "REWRITTEN HISTORY: %s's tree of %" PRId64
                " entries does not extend the tree of %" PRId64
                " entries it signed before (the consistency proof fails): entries up to %" PRId64
                " were changed, or this is a split view",
                name, now.size, old.size, old.size);
    }
    if (audit_witness_failed(out->verdict)) {
        keep_evidence(dir, buf_str(&last), buf_str(&note), buf_str(&answer), out);
        goto done;
    }
    /* keep it: the key (first run), every checkpoint accepted, and the latest */
    if (krc == DUPLA_ENOTFOUND) {
        buf_t kl;
        buf_init(&kl, AUDIT_VKEY_MAX + 2);
        rc = buf_append_str(&kl, buf_str(&key));
        if (!rc)
            rc = buf_append(&kl, "\n", 1);
        if (!rc)
            rc = write_file(dir, "key", buf_str(&kl), err);
        buf_free(&kl);
        if (rc)
            goto done;
    }
    if (out->verdict != AUDIT_WITNESS_SAME) {
        char cp[48];
        snprintf(cp, sizeof cp, "cp-%" PRId64, now.size);
        if ((rc = write_file(dir, cp, buf_str(&note), err)) ||
            (rc = write_file(dir, "latest", buf_str(&note), err)))
            goto done;
    }
done:
    buf_free(&key);
    buf_free(&last);
    buf_free(&note);
    buf_free(&answer);
    return rc;
}
