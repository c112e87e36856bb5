/*
 * compose.c: builds the RFC 5322 text of an outgoing message with GMime
 * (headers encoded per RFC 2047, the body quoted-printable UTF-8, an
 * original message attached as message/rfc822 for forwards), never by hand.
 *
 * The Date and Message-ID come from the outbox row, so a message sent again
 * after a crash is byte for byte the same and receivers can drop the copy.
 */
#include <gmime/gmime.h>
#include <string.h>

#include "mail/internal.h"

/* "<id>" -> "id" into out. */
static void strip_brackets(const char *in, char *out, size_t cap)
{
    size_t n = strlen(in);
    if (n >= 2 && in[0] == '<' && in[n - 1] == '>')
        snprintf(out, cap, "%.*s", (int)(n - 2), in + 1);
    else
        snprintf(out, cap, "%s", in);
}

static GMimeObject *attachment_part(str_t raw)
{
    GMimeStream *stream = g_mime_stream_mem_new_with_buffer(raw.ptr, raw.len);
    GMimeParser *parser = g_mime_parser_new_with_stream(stream);
    g_object_unref(stream);
    GMimeMessage *inner = g_mime_parser_construct_message(parser, NULL);
    g_object_unref(parser);
    if (inner) {
        GMimeMessagePart *mp = g_mime_message_part_new_with_message("rfc822", inner);
        g_object_unref(inner);
        g_mime_object_set_content_disposition(GMIME_OBJECT(mp),
                                              g_mime_content_disposition_parse(NULL, "attachment"));
        return GMIME_OBJECT(mp);
    }
    /* Not a message GMime can read: attach the bytes as they are. */
    GMimePart *part = g_mime_part_new_with_type("application", "octet-stream");
    GMimeStream *data = g_mime_stream_mem_new_with_buffer(raw.ptr, raw.len);
    GMimeDataWrapper *w = g_mime_data_wrapper_new_with_stream(data, GMIME_CONTENT_ENCODING_DEFAULT);
    g_object_unref(data);
    g_mime_part_set_content(part, w);
    g_object_unref(w);
    g_mime_part_set_filename(part, "original.eml");
    g_mime_part_set_content_encoding(part, GMIME_CONTENT_ENCODING_BASE64);
    return GMIME_OBJECT(part);
}

int mail_compose(const struct mail_compose_input *in, buf_t *out, err_t *err)
{
    mail_gmime_once();
    GMimeMessage *m = g_mime_message_new(TRUE);
    g_mime_message_add_mailbox(m, GMIME_ADDRESS_TYPE_FROM, in->from_name, in->from);
    g_mime_message_add_mailbox(m, GMIME_ADDRESS_TYPE_TO, NULL, in->to);
    if (in->cc && in->cc[0])
        g_mime_message_add_mailbox(m, GMIME_ADDRESS_TYPE_CC, NULL, in->cc);
    g_mime_message_set_subject(m, in->subject, "utf-8");
    GDateTime *dt = g_date_time_new_from_unix_utc(in->date_ms / 1000);
    g_mime_message_set_date(m, dt);
    g_date_time_unref(dt);
    char id[MAIL_ADDRESS_MAX + 1];
    strip_brackets(in->message_id, id, sizeof id);
    g_mime_message_set_message_id(m, id);
    if (in->in_reply_to && in->in_reply_to[0]) {
        char r[MAIL_ADDRESS_MAX + 1], hdr[MAIL_ADDRESS_MAX + 3];
        strip_brackets(in->in_reply_to, r, sizeof r);
        snprintf(hdr, sizeof hdr, "<%s>", r);
        g_mime_object_set_header(GMIME_OBJECT(m), "In-Reply-To", hdr, NULL);
        g_mime_object_set_header(GMIME_OBJECT(m), "References", hdr, NULL);
    }
    g_mime_object_set_header(GMIME_OBJECT(m), "Auto-Submitted", in->auto_submitted, NULL);
    /* The body as UTF-8 bytes, labelled so (g_mime_text_part_set_text would
     * pick the "best" charset, often Latin-1, which we do not want). */
    GMimeTextPart *text = g_mime_text_part_new_with_subtype("plain");
    GMimeStream *bs = g_mime_stream_mem_new_with_buffer(in->body, strlen(in->body));
    GMimeDataWrapper *bw = g_mime_data_wrapper_new_with_stream(bs, GMIME_CONTENT_ENCODING_DEFAULT);
    g_object_unref(bs);
    g_mime_part_set_content(GMIME_PART(text), bw);
    g_object_unref(bw);
    g_mime_text_part_set_charset(text, "utf-8");
    g_mime_part_set_content_encoding(GMIME_PART(text), GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE);
    if (in->attachment.len) {
        GMimeMultipart *mixed = g_mime_multipart_new_with_subtype("mixed");
        g_mime_multipart_add(mixed, GMIME_OBJECT(text));
        GMimeObject *att = attachment_part(in->attachment);
        g_mime_multipart_add(mixed, att);
        g_object_unref(att);
        g_mime_message_set_mime_part(m, GMIME_OBJECT(mixed));
        g_object_unref(mixed);
    } else {
        g_mime_message_set_mime_part(m, GMIME_OBJECT(text));
    }
    g_object_unref(text);
    char *s = g_mime_object_to_string(GMIME_OBJECT(m), NULL);
    g_object_unref(m);
    if (!s)
        return err_internal(err, DUPLA_EINTERNAL, "GMime could not write the message");
    /* SMTP wants CRLF line ends; GMime writes LF. */
    int rc = 0;
    for (const char *p = s; *p && rc == 0; p++) {
        if (*p == '\n' && (p == s || p[-1] != '\r'))
            rc = buf_append(out, "\r\n", 2);
        else
            rc = buf_append(out, p, 1);
    }
    g_free(s);
    if (rc)
        return err_internal(err, DUPLA_ELIMIT, "the message is too large to send");
    return 0;
}
