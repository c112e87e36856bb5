/*
 * mailparse.c: one delivered message read with GMime into what maildir.c
 * decides on (struct inc_mail): the sender and reply address, the
 * Message-ID, the subject, the text body cleaned to UTF-8, whether it is
 * automatic mail, and the attachments within the configured limits (those
 * past them are kept as names with the reason they were dropped).
 */
#include <gmime/gmime.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "incident/internal.h"

#define ATTACHMENT_NAME_MAX 200

void incident_mail_free(struct inc_mail *p)
{
    for (size_t i = 0; i < p->n_att; i++) {
        g_free(p->att[i].name);
        g_free(p->att[i].content_type);
        if (p->att[i].data)
            g_byte_array_unref(p->att[i].data);
    }
    free(p->att);
    free(p->body);
    if (p->msg)
        g_object_unref(p->msg);
}

static void first_mailbox(InternetAddressList *list, char *addr, size_t cap, char *name,
                          size_t ncap)
{
    addr[0] = '\0';
    if (name)
        name[0] = '\0';
    if (!list)
        return;
    int n = internet_address_list_length(list);
    for (int i = 0; i < n; i++) {
        InternetAddress *ia = internet_address_list_get_address(list, i);
        if (!INTERNET_ADDRESS_IS_MAILBOX(ia))
            continue;
        const char *a = internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(ia));
        if (!a || strlen(a) >= cap)
            continue;
        snprintf(addr, cap, "%s", a);
        mail_address_lower(addr);
        if (!mail_address_valid(addr)) {
            addr[0] = '\0';
            continue;
        }
        const char *nm = internet_address_get_name(ia);
        if (name && nm) {
            char *c = mail_text_clip(nm, strlen(nm), ncap - 1);
            if (c) {
                snprintf(name, ncap, "%s", c);
                free(c);
            }
        }
        return;
    }
}

static bool is_automatic(GMimeMessage *msg, const char *sender)
{
    const char *as = g_mime_object_get_header(GMIME_OBJECT(msg), "Auto-Submitted");
    if (as) {
        /* anything but "no" is automatic (RFC 3834) */
        char *t = g_strstrip(g_strdup(as));
        bool no = g_ascii_strcasecmp(t, "no") == 0;
        g_free(t);
        if (!no)
            return true;
    }
    const char *prec = g_mime_object_get_header(GMIME_OBJECT(msg), "Precedence");
    if (prec && (g_ascii_strcasecmp(prec, "bulk") == 0 || g_ascii_strcasecmp(prec, "junk") == 0 ||
                 g_ascii_strcasecmp(prec, "list") == 0))
        return true;
    if (!sender[0] || strncmp(sender, "mailer-daemon@", 14) == 0 ||
        strncmp(sender, "postmaster@", 11) == 0)
        return true;
    return false;
}

static void add_attachment(struct inc_mail *p, const char *name, const char *type, GByteArray *data)
{
    struct inc_attachment *na = realloc(p->att, (p->n_att + 1) * sizeof *na);
    if (!na) {
        g_byte_array_unref(data);
        return;
    }
    p->att = na;
    struct inc_attachment *a = &p->att[p->n_att++];
    memset(a, 0, sizeof *a);
    a->name = g_strdup(name);
    a->content_type = g_strdup(type);
    a->size = data->len;
    if (p->kept_count >= p->limit_count)
        a->dropped = "too many attachments";
    else if (data->len > p->limit_each)
        a->dropped = "attachment too large";
    else if (p->kept_total + data->len > p->limit_total)
        a->dropped = "attachments too large in all";
    if (a->dropped) {
        g_byte_array_unref(data);
    } else {
        a->data = data;
        p->kept_total += data->len;
        p->kept_count++;
    }
}

static void collect_part(GMimeObject *parent, GMimeObject *part, gpointer user)
{
    (void)parent;
    struct inc_mail *p = user;
    if (p->n_att >= INCIDENT_PARTS_RECORDED_MAX) {
        /* Past the recorded parts: counted, not decoded. A body part (no
         * file name, not an attachment) is not counted either. */
        if (GMIME_IS_MESSAGE_PART(part) ||
            (GMIME_IS_PART(part) && (g_mime_part_is_attachment(GMIME_PART(part)) ||
                                     g_mime_part_get_filename(GMIME_PART(part)))))
            p->n_unrecorded++;
        return;
    }
    GMimeStream *mem = NULL;
    char *name = NULL, *type = NULL;
    if (GMIME_IS_MESSAGE_PART(part)) {
        GMimeMessage *inner = g_mime_message_part_get_message(GMIME_MESSAGE_PART(part));
        if (!inner)
            return;
        mem = g_mime_stream_mem_new();
        g_mime_object_write_to_stream(GMIME_OBJECT(inner), NULL, mem);
        name = g_strdup("message.eml");
        type = g_strdup("message/rfc822");
    } else if (GMIME_IS_PART(part)) {
        GMimePart *mp = GMIME_PART(part);
        const char *fn = g_mime_part_get_filename(mp);
        if (!g_mime_part_is_attachment(mp) && !fn)
            return; /* a body part */
        GMimeDataWrapper *w = g_mime_part_get_content(mp);
        if (!w)
            return;
        mem = g_mime_stream_mem_new();
        g_mime_data_wrapper_write_to_stream(w, mem);
        name = g_strdup(fn ? fn : "attachment");
        type = g_mime_content_type_get_mime_type(g_mime_object_get_content_type(part));
    } else {
        return;
    }
    /* Take the bytes over: a stream that owns its array empties it when it
     * goes, whatever references the array has. */
    GByteArray *ba = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
    g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(mem), FALSE);
    g_object_unref(mem);
    char *cn = mail_text_clip(name, strlen(name), ATTACHMENT_NAME_MAX);
    char *ct = mail_text_clip(type ? type : "application/octet-stream",
                              strlen(type ? type : "application/octet-stream"), 100);
    if (cn && ct)
        add_attachment(p, cn, ct, ba);
    else
        g_byte_array_unref(ba);
    free(cn);
    free(ct);
    g_free(name);
    g_free(type);
}

/* Parses raw into *p (the contract is in internal.h). */
int incident_mail_parse(const struct incident *inc, str_t raw, struct inc_mail *p, err_t *err)
{
    memset(p, 0, sizeof *p);
    p->subject = "";
    p->limit_count = inc->set.attachments_max;
    p->limit_each = inc->set.attachment_max_bytes;
    p->limit_total = inc->set.attachments_total_bytes;
    GMimeStream *stream = g_mime_stream_mem_new_with_buffer(raw.ptr, raw.len);
    GMimeParser *parser = g_mime_parser_new_with_stream(stream);
    g_object_unref(stream);
    p->msg = g_mime_parser_construct_message(parser, NULL);
    g_object_unref(parser);
    if (!p->msg)
        return 0;
    /* A "message" without any header is not one. */
    const char *from_hdr = g_mime_object_get_header(GMIME_OBJECT(p->msg), "From");
    if (!from_hdr && !g_mime_message_get_subject(p->msg)) {
        g_object_unref(p->msg);
        p->msg = NULL;
        return 0;
    }
    first_mailbox(g_mime_message_get_from(p->msg), p->sender, sizeof p->sender, p->sender_name,
                  sizeof p->sender_name);
    first_mailbox(g_mime_message_get_reply_to(p->msg), p->reply_to, sizeof p->reply_to, NULL, 0);
    const char *mid = g_mime_message_get_message_id(p->msg);
    if (mid && strlen(mid) < sizeof p->message_id)
        snprintf(p->message_id, sizeof p->message_id, "%s", mid);
    const char *subj = g_mime_message_get_subject(p->msg);
    p->subject = subj ? subj : "";
    p->automatic = is_automatic(p->msg, p->sender);
    GMimeObject *body = g_mime_message_get_body(p->msg);
    char *text = NULL;
    if (body && GMIME_IS_TEXT_PART(body))
        text = g_mime_text_part_get_text(GMIME_TEXT_PART(body));
    p->body = mail_text_clip(text ? text : "", text ? strlen(text) : 0, INCIDENT_DESCRIPTION_MAX);
    g_free(text);
    if (!p->body)
        return err_set(err, DUPLA_ENOMEM, "out of memory");
    g_mime_message_foreach(p->msg, collect_part, p);
    return 0;
}
