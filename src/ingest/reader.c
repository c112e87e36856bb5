/*
 * reader.c: bounded line reading from a file or from memory, and the
 * SHA-256 of a delivery's content.
 *
 * A line longer than INGEST_MAX_LINE_BYTES is reported as too long and
 * skipped to its end, never buffered whole: a file without newlines cannot
 * make the reader grow without bound. Lines inside the current chunk are
 * handed out without a copy.
 */
#include <gnutls/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/encode.h"
#include "ingest/internal.h"

#define READER_CHUNK (256 * 1024)

int ingest_reader_open(struct reader *r, const struct ingest_source *src, err_t *err)
{
    memset(r, 0, sizeof *r);
    r->src = src;
    buf_init(&r->line, INGEST_MAX_LINE_BYTES);
    if (!src->path) {
        r->mem = src->data.ptr;
        r->mem_len = src->data.len;
        return 0;
    }
    r->f = fopen(src->path, "rb");
    if (!r->f)
        return err_set(err, DUPLA_EIO, "%s: cannot open: %m", src->name);
    r->chunk = malloc(READER_CHUNK);
    if (!r->chunk) {
        fclose(r->f);
        r->f = NULL;
        return err_set(err, DUPLA_ENOMEM, "out of memory");
    }
    return 0;
}

void ingest_reader_close(struct reader *r)
{
    if (r->f)
        fclose(r->f);
    free(r->chunk);
    buf_free(&r->line);
    memset(r, 0, sizeof *r);
}

static str_t strip_cr(str_t s)
{
    if (s.len > 0 && s.ptr[s.len - 1] == '\r')
        s.len--;
    return s;
}

/* Memory source: a line is the bytes up to the next newline. */
static int next_mem(struct reader *r, str_t *line, bool *too_long)
{
    if (r->mem_pos >= r->mem_len)
        return 0;
    const char *p = r->mem + r->mem_pos;
    size_t left = r->mem_len - r->mem_pos;
    const char *nl = memchr(p, '\n', left);
    size_t n = nl ? (size_t)(nl - p) : left;
    r->mem_pos += n + (nl ? 1 : 0);
    r->bytes = r->mem_pos;
    *line = strip_cr((str_t){p, n});
    if (n > INGEST_MAX_LINE_BYTES) {
        *too_long = true;
        line->len = 0;
    }
    return 1;
}

static int next_file(struct reader *r, str_t *line, bool *too_long, err_t *err)
{
    buf_reset(&r->line);
    bool long_line = false, any = false;
    for (;;) {
        if (r->chunk_pos >= r->chunk_len) {
            if (r->eof)
                break;
            r->chunk_len = fread(r->chunk, 1, READER_CHUNK, r->f);
            r->chunk_pos = 0;
            if (r->chunk_len < READER_CHUNK) {
                if (ferror(r->f))
                    return err_set(err, DUPLA_EIO, "%s: read error", r->src->name);
                r->eof = true;
            }
            if (r->chunk_len == 0)
                break;
        }
        any = true;
        const char *p = r->chunk + r->chunk_pos;
        size_t left = r->chunk_len - r->chunk_pos;
        const char *nl = memchr(p, '\n', left);
        size_t n = nl ? (size_t)(nl - p) : left;
        r->chunk_pos += n + (nl ? 1 : 0);
        r->bytes += n + (nl ? 1 : 0);
        if (nl && r->line.len == 0 && !long_line) {
            /* the common case: the whole line is inside the chunk */
            if (n > INGEST_MAX_LINE_BYTES) {
                *too_long = true;
                *line = STR_NULL;
            } else {
                *line = strip_cr((str_t){p, n});
            }
            return 1;
        }
        if (!long_line && buf_append(&r->line, p, n) != 0) {
            long_line = true;
            buf_reset(&r->line);
        }
        if (nl)
            break;
    }
    if (!any && r->line.len == 0)
        return 0;
    if (long_line) {
        *too_long = true;
        *line = STR_NULL;
    } else {
        *line = strip_cr(buf_str(&r->line));
    }
    return 1;
}

int ingest_reader_next(struct reader *r, str_t *line, bool *too_long, err_t *err)
{
    *too_long = false;
    int rc = r->f ? next_file(r, line, too_long, err) : next_mem(r, line, too_long);
    if (rc == 1)
        r->lineno++;
    return rc;
}

int ingest_hash_sources(const struct catalog_service *svc, const struct ingest_source *src,
                        size_t n, char hex[DATASET_SHA256_HEX + 1], uint64_t *total, err_t *err)
{
    gnutls_hash_hd_t h;
    if (gnutls_hash_init(&h, GNUTLS_DIG_SHA256) < 0)
        return err_internal(err, DUPLA_ECRYPTO, "ingest: SHA-256 unavailable");
    int rc = 0;
    gnutls_hash(h, svc->path, strlen(svc->path));
    gnutls_hash(h, "\n", 1);
    *total = 0;
    char *chunk = NULL;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        /* Sources are framed by "\0<index>\0", which cannot occur in NDJSON
         * text; a file and the same bytes in memory hash alike, so a
         * delivery sent by the CLI and again over HTTP has the same id. */
        char sep[32];
        int sl = snprintf(sep, sizeof sep, "%c%zu%c", 0, i, 0);
        gnutls_hash(h, sep, (size_t)sl);
        if (!src[i].path) {
            gnutls_hash(h, src[i].data.ptr, src[i].data.len);
            *total += src[i].data.len;
            continue;
        }
        if (!chunk && !(chunk = malloc(READER_CHUNK))) {
            rc = err_set(err, DUPLA_ENOMEM, "out of memory");
            break;
        }
        FILE *f = fopen(src[i].path, "rb");
        if (!f) {
            rc = err_set(err, DUPLA_EIO, "%s: cannot open: %m", src[i].name);
            break;
        }
        size_t got;
        while ((got = fread(chunk, 1, READER_CHUNK, f)) > 0) {
            gnutls_hash(h, chunk, got);
            *total += got;
        }
        if (ferror(f))
            rc = err_set(err, DUPLA_EIO, "%s: read error", src[i].name);
        fclose(f);
    }
    free(chunk);
    unsigned char digest[32];
    gnutls_hash_deinit(h, digest);
    if (rc == 0)
        hex_encode(digest, sizeof digest, hex);
    return rc;
}
