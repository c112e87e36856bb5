/*
 * receipt.c: checking a recipient's receipt offline (docs/transparency.md
 * section 6): the entry, a checkpoint signed by the log's key that covers
 * it, and the inclusion proof of the entry's leaf against the checkpoint's
 * root.
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "audit/internal.h"

static int bad(err_t *err, const char *param, const char *msg)
{
    return err_param(err, DUPLA_EINVAL, param, "receipt: %s", msg);
}

int audit_receipt_check(str_t text, const char *name, const unsigned char pub[PKI_ED25519_PUB_LEN],
                        struct audit_receipt_info *out, err_t *err)
{
    memset(out, 0, sizeof *out);
    json_error_t je;
    json_t *o = json_parse(text.ptr, text.len, JSON_REJECT_DUPLICATES, &je, NULL);
    if (!json_is_object(o)) {
        json_decref(o);
        return bad(err, "receipt", "not a JSON object");
    }
    int rc = 0;
    unsigned char *entry = NULL;
    json_t *fmt = json_object_get(o, "format"), *seq = json_object_get(o, "seq"),
           *idx = json_object_get(o, "leaf_index"), *size = json_object_get(o, "tree_size"),
           *e = json_object_get(o, "entry"), *cp = json_object_get(o, "checkpoint"),
           *inc = json_object_get(o, "inclusion");
    if (!json_is_string(fmt) || strcmp(json_string_value(fmt), "dupla-receipt-1") != 0) {
        rc = bad(err, "format", "format must be \"dupla-receipt-1\"");
        goto done;
    }
    if (!json_is_integer(seq) || !json_is_integer(idx) || !json_is_integer(size) ||
        json_integer_value(seq) < 1 || json_integer_value(idx) != json_integer_value(seq) - 1 ||
        json_integer_value(size) < json_integer_value(seq)) {
        rc = bad(err, "seq", "seq, leaf_index (seq - 1) and tree_size (>= seq) do not agree");
        goto done;
    }
    out->seq = json_integer_value(seq);
    out->tree_size = json_integer_value(size);
    if (!json_is_string(e) || !json_is_string(cp) || !json_is_array(inc) ||
        json_array_size(inc) > AUDIT_PROOF_MAX) {
        rc = bad(err, "receipt", "entry, checkpoint (strings) and inclusion (a list) are needed");
        goto done;
    }
    str_t e64 = {json_string_value(e), json_string_length(e)};
    size_t cap = e64.len / 4 * 3 + 3;
    if (cap > AUDIT_CANONICAL_MAX || !(entry = malloc(cap + 1))) {
        rc = bad(err, "entry", "the entry is too large");
        goto done;
    }
    long n = audit_b64_decode(e64, entry, cap);
    if (n < 12) {
        rc = bad(err, "entry", "the entry is not a canonical entry in base64");
        goto done;
    }
    int64_t eseq = 0;
    for (int i = 4; i < 12; i++)
        eseq = (int64_t)((uint64_t)eseq << 8 | entry[i]);
    if (eseq != out->seq) {
        rc = bad(err, "entry", "the entry's seq is not the receipt's");
        goto done;
    }
    struct audit_note note;
    if ((rc = audit_note_open((str_t){json_string_value(cp), json_string_length(cp)}, name, pub,
                              &note, err)))
        goto done;
    if (note.size != out->tree_size) {
        rc = bad(err, "checkpoint", "the checkpoint's tree size is not the receipt's");
        goto done;
    }
    unsigned char path[AUDIT_PROOF_MAX][AUDIT_HASH_LEN], leaf[AUDIT_HASH_LEN];
    size_t np = json_array_size(inc);
    for (size_t i = 0; i < np; i++) {
        json_t *h = json_array_get(inc, i);
        if (!json_is_string(h) ||
            audit_b64_decode((str_t){json_string_value(h), json_string_length(h)}, path[i],
                             AUDIT_HASH_LEN) != AUDIT_HASH_LEN) {
            rc = bad(err, "inclusion", "a hash of the inclusion proof is not 32 bytes in base64");
            goto done;
        }
    }
    audit_tree_leaf_hash((str_t){(const char *)entry, (size_t)n}, leaf);
    if (!audit_tree_verify_inclusion(leaf, out->seq - 1, out->tree_size,
                                     (const unsigned char(*)[AUDIT_HASH_LEN])path, np, note.root)) {
        rc = err_param(err, DUPLA_ECRYPTO, "inclusion",
                       "receipt: the inclusion proof of entry %" PRId64
                       " does not verify against the signed checkpoint",
                       out->seq);
        goto done;
    }
    memcpy(out->root, note.root, AUDIT_HASH_LEN);
    memcpy(out->leaf, leaf, AUDIT_HASH_LEN);
done:
    free(entry);
    json_decref(o);
    return rc;
}
