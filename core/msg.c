/*
 * msg.c - message parsing with GMime 3 and libxml2.
 *
 * GMime does the MIME work (structure, transfer encodings, charsets,
 * RFC 2047/2231, addresses); libxml2's forgiving HTML parser turns an
 * HTML-only body into text. This module adds the choices tracking needs:
 * which part is "the text", what counts as an attachment, and caps.
 * It never rejects a message and never writes anywhere.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <gmime/gmime.h>
#include <openssl/evp.h>

#include "buf.h"
#include "html.h"
#include "mimescan.h"
#include "msg.h"
#include "status.h"

#define MSG_TEXT_MAX	(16u << 20)	/* cap on the extracted text */
/* Cap on the HTML given to libxml2, whose tree of a pathological page
 * costs 40 to 70 times its size (19 MB of <p> tags: 1.2 GB). */
#define MSG_HTML_MAX	(1u << 20)
#define MSG_PROBLEMS_MAX 32

/* The caps of msg_opts, defaults filled in, and what they left out. */
struct caps {
	size_t parts, atts, att_bytes, decoded;
	unsigned depth;
	size_t decoded_so_far, att_bytes_so_far;
	size_t skipped_atts, skipped_bytes;	/* over the attachment caps */
	size_t undecoded;		/* parts not decoded: max_decoded */
	struct dbuf note;		/* msg->omitted, built up */
};

struct parse_ctx {
	struct msg *m;
	const struct msg_opts *opts;
	struct caps caps;
	GMimeObject *body;	/* the chosen text part */
	GMimeObject *body_alt;	/* nearest multipart/alternative above it */
	int oom;
};

void
msg_init(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, g_mime_init);
}

/* --- small helpers -------------------------------------------------------- */

/* A copy that is always valid UTF-8: JSON and the CRM need it. */
static char *
xstrdup(struct parse_ctx *pc, const char *s)
{
	gchar *valid;
	char *p;

	if (s == NULL)
		return NULL;
	valid = g_utf8_make_valid(s, -1);
	p = valid != NULL ? strdup(valid) : NULL;
	g_free(valid);
	if (p == NULL)
		pc->oom = 1;
	return p;
}

static void
problem(struct parse_ctx *pc, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
problem(struct parse_ctx *pc, const char *fmt, ...)
{
	struct msg *m = pc->m;
	char buf[256], **np;
	va_list ap;

	if (m->nproblems >= MSG_PROBLEMS_MAX)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	for (size_t i = 0; i < m->nproblems; i++)
		if (strcmp(m->problems[i], buf) == 0)
			return;
	if ((np = realloc(m->problems, (m->nproblems + 1) * sizeof(*np))) == NULL) {
		pc->oom = 1;
		return;
	}
	m->problems = np;
	if ((np[m->nproblems] = strdup(buf)) == NULL)
		pc->oom = 1;
	else
		m->nproblems++;
}

static void
sha256_hex(const void *data, size_t len, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1)
		mdlen = 0;
	for (unsigned i = 0; i < mdlen && i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	out[mdlen ? 64 : 0] = '\0';
}

/* Trim white space at both ends, in place. */
static char *
trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' ||
	    e[-1] == '\n'))
		*--e = '\0';
	return s;
}

/* Strip <> and surrounding white space from a msg-id. */
static char *
msgid_dup(struct parse_ctx *pc, const char *id)
{
	char *p, *s;
	size_t n;

	if (id == NULL || (p = xstrdup(pc, id)) == NULL)
		return NULL;
	s = trim(p);
	if (*s == '<')
		s++;
	n = strlen(s);
	if (n > 0 && s[n - 1] == '>')
		s[--n] = '\0';
	memmove(p, s, n + 1);
	if (*p == '\0') {
		free(p);
		return NULL;
	}
	return p;
}

/*
 * The first @max msg-ids of an In-Reply-To or References value, in the
 * order written, without their brackets; *@ids_r is NULL when there are
 * none. Only a resource failure sets pc->oom.
 */
static void
ids_parse(struct parse_ctx *pc, GMimeParserOptions *popts, const char *v,
    size_t max, char ***ids_r, size_t *n_r)
{
	GMimeReferences *r = g_mime_references_parse(popts, v);
	size_t n = r != NULL ? (size_t)g_mime_references_length(r) : 0;

	*ids_r = NULL;
	*n_r = 0;
	if (n > max)
		n = max;
	if (n > 0 && (*ids_r = calloc(n, sizeof(char *))) == NULL)
		pc->oom = 1;
	for (size_t i = 0; i < n && *ids_r != NULL; i++) {
		char *id = msgid_dup(pc,
		    g_mime_references_get_message_id(r, (int)i));

		if (id != NULL)
			(*ids_r)[(*n_r)++] = id;
	}
	if (r != NULL)
		g_mime_references_free(r);
}

int
msg_ids_parse(const char *raw, char ***ids_r, size_t *n_r)
{
	struct parse_ctx pc = { 0 };

	*ids_r = NULL;
	*n_r = 0;
	if (raw == NULL)
		return 0;
	msg_init();
	ids_parse(&pc, NULL, raw, SIZE_MAX, ids_r, n_r);
	if (pc.oom) {
		msg_ids_free(*ids_r, *n_r);
		*ids_r = NULL;
		*n_r = 0;
		return ENOMEM;
	}
	return 0;
}

void
msg_ids_free(char **ids, size_t n)
{
	for (size_t i = 0; ids != NULL && i < n; i++)
		free(ids[i]);
	free(ids);
}

/* --- headers ---------------------------------------------------------------- */

static void
parse_warning(gint64 offset, GMimeParserWarning code, const gchar *item,
    gpointer user_data)
{
	struct parse_ctx *pc = user_data;
	const char *what;

	switch (code) {
	case GMIME_WARN_DUPLICATED_HEADER: return;	/* common, harmless */
	case GMIME_WARN_DUPLICATED_PARAMETER: what = "duplicated parameter"; break;
	case GMIME_WARN_UNENCODED_8BIT_HEADER: what = "unencoded 8-bit header"; break;
	case GMIME_WARN_INVALID_CONTENT_TYPE: what = "invalid Content-Type"; break;
	case GMIME_WARN_INVALID_RFC2047_HEADER_VALUE: what = "invalid encoded word"; break;
	case GMIME_WARN_MALFORMED_MULTIPART: what = "malformed multipart"; break;
	case GMIME_WARN_TRUNCATED_MESSAGE: what = "truncated message"; break;
	case GMIME_WARN_MALFORMED_MESSAGE: what = "malformed message"; break;
	case GMIME_CRIT_INVALID_HEADER_NAME: what = "invalid header name"; break;
	case GMIME_CRIT_CONFLICTING_HEADER: what = "conflicting header"; break;
	case GMIME_CRIT_CONFLICTING_PARAMETER: what = "conflicting parameter"; break;
	case GMIME_CRIT_MULTIPART_WITHOUT_BOUNDARY: what = "multipart without boundary"; break;
	case GMIME_WARN_INVALID_PARAMETER: what = "invalid parameter"; break;
	case GMIME_WARN_INVALID_ADDRESS_LIST: what = "invalid address list"; break;
	case GMIME_CRIT_NESTING_OVERFLOW: what = "MIME nesting too deep"; break;
	case GMIME_WARN_PART_WITHOUT_CONTENT: what = "part without content"; break;
	case GMIME_CRIT_PART_WITHOUT_HEADERS_OR_CONTENT: what = "empty part"; break;
	default: what = "MIME problem"; break;
	}
	problem(pc, "%s", what);
}

static void
addrs_from_list(struct parse_ctx *pc, InternetAddressList *list,
    struct msg_addr **out, size_t *n)
{
	int count;

	if (list == NULL)
		return;
	count = internet_address_list_length(list);
	for (int i = 0; i < count && !pc->oom; i++) {
		InternetAddress *ia = internet_address_list_get_address(list, i);
		struct msg_addr *na;
		const char *name;

		if (INTERNET_ADDRESS_IS_GROUP(ia)) {
			addrs_from_list(pc, internet_address_group_get_members(
			    INTERNET_ADDRESS_GROUP(ia)), out, n);
			continue;
		}
		if (!INTERNET_ADDRESS_IS_MAILBOX(ia))
			continue;
		if ((na = realloc(*out, (*n + 1) * sizeof(*na))) == NULL) {
			pc->oom = 1;
			return;
		}
		*out = na;
		name = internet_address_get_name(ia);
		na[*n].name = name != NULL && *name != '\0' ?
		    xstrdup(pc, name) : NULL;
		na[*n].address = xstrdup(pc, internet_address_mailbox_get_addr(
		    INTERNET_ADDRESS_MAILBOX(ia)));
		(*n)++;
	}
}

static char *
lower_keyword(struct parse_ctx *pc, const char *v)
{
	char *p, *s;
	size_t n;

	if (v == NULL || (p = xstrdup(pc, v)) == NULL)
		return NULL;
	s = trim(p);
	/* Auto-Submitted: auto-replied; comments and parameters follow. */
	n = strcspn(s, " \t;(");
	s[n] = '\0';
	for (char *c = s; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	memmove(p, s, n + 1);
	if (*p == '\0') {
		free(p);
		return NULL;
	}
	return p;
}

/*
 * The subject, decoded, with each fold (and the white space around it)
 * as one space: RFC 5322 unfolding alone would keep "a   \t  b".
 */
static char *
subject_of(struct parse_ctx *pc, GMimeHeaderList *hl,
    GMimeParserOptions *popts)
{
	GMimeHeader *h = g_mime_header_list_get_header(hl, "Subject");
	const char *raw;
	char *unfolded, *decoded, *r;
	size_t o = 0;

	if (h == NULL || (raw = g_mime_header_get_raw_value(h)) == NULL)
		return xstrdup(pc, "");
	if ((unfolded = malloc(strlen(raw) + 1)) == NULL) {
		pc->oom = 1;
		return NULL;
	}
	for (const char *p = raw; *p != '\0'; p++) {
		const char *q = p;

		while (*q == ' ' || *q == '\t')
			q++;
		if (*q == '\r' || *q == '\n') {
			while (*q == ' ' || *q == '\t' || *q == '\r' ||
			    *q == '\n')
				q++;
			unfolded[o++] = ' ';
			p = q - 1;
			continue;
		}
		unfolded[o++] = *p;
	}
	unfolded[o] = '\0';
	decoded = g_mime_utils_header_decode_text(popts, unfolded);
	free(unfolded);
	r = xstrdup(pc, decoded != NULL ? decoded : "");
	g_free(decoded);
	return r;
}

static void
parse_headers(struct parse_ctx *pc, GMimeMessage *message,
    GMimeParserOptions *popts)
{
	struct msg *m = pc->m;
	GMimeObject *obj = GMIME_OBJECT(message);
	GMimeHeaderList *hl = g_mime_object_get_header_list(obj);
	size_t max = pc->opts && pc->opts->max_headers ?
	    pc->opts->max_headers : 1000;
	int count = g_mime_header_list_get_count(hl);
	const char *v;
	GDateTime *dt;

	if ((size_t)count > max) {
		problem(pc, "more than %zu headers; the rest are ignored", max);
		count = (int)max;
	}
	if (count > 0 && (m->headers = calloc((size_t)count,
	    sizeof(*m->headers))) == NULL) {
		pc->oom = 1;
		return;
	}
	for (int i = 0; i < count; i++) {
		GMimeHeader *h = g_mime_header_list_get_header_at(hl, i);
		const char *hv = g_mime_header_get_value(h);

		m->headers[i].name = xstrdup(pc, g_mime_header_get_name(h));
		m->headers[i].value = xstrdup(pc, hv != NULL ? hv : "");
		if (m->headers[i].value != NULL)
			trim(m->headers[i].value);
		m->nheaders++;
	}

	m->message_id = msgid_dup(pc, g_mime_message_get_message_id(message));
	m->subject = subject_of(pc, hl, popts);
	if (m->subject != NULL) {
		char *t = trim(m->subject);
		memmove(m->subject, t, strlen(t) + 1);
	}
	if ((dt = g_mime_message_get_date(message)) != NULL) {
		m->date = g_date_time_to_unix(dt);
		m->has_date = true;
	} else if (g_mime_object_get_header(obj, "Date") != NULL)
		problem(pc, "unparsable Date");

	if ((v = g_mime_object_get_header(obj, "In-Reply-To")) != NULL) {
		char **ids = NULL;
		size_t n = 0;

		ids_parse(pc, popts, v, 1, &ids, &n);
		if (n > 0)
			m->in_reply_to = ids[0];
		free(ids);
	}
	if ((v = g_mime_object_get_header(obj, "References")) != NULL)
		ids_parse(pc, popts, v, SIZE_MAX, &m->references,
		    &m->nreferences);
	addrs_from_list(pc, g_mime_message_get_from(message), &m->from,
	    &m->nfrom);
	addrs_from_list(pc, g_mime_message_get_to(message), &m->to, &m->nto);
	addrs_from_list(pc, g_mime_message_get_cc(message), &m->cc, &m->ncc);
	addrs_from_list(pc, g_mime_message_get_reply_to(message),
	    &m->reply_to, &m->nreply_to);
	m->auto_submitted = lower_keyword(pc,
	    g_mime_object_get_header(obj, "Auto-Submitted"));
	m->precedence = lower_keyword(pc,
	    g_mime_object_get_header(obj, "Precedence"));
	if ((v = g_mime_object_get_header(obj, "List-Id")) != NULL &&
	    (m->list_id = xstrdup(pc, v)) != NULL) {
		char *t = trim(m->list_id);
		memmove(m->list_id, t, strlen(t) + 1);
	}
}

/* --- body ----------------------------------------------------------------------- */

static bool
is_attachment_disposition(GMimeObject *obj)
{
	GMimeContentDisposition *d = g_mime_object_get_content_disposition(obj);

	return d != NULL && g_mime_content_disposition_is_attachment(d);
}

/* RFC 2045 5.2: an unparsable Content-Type means text/plain. */
static bool
garbage_content_type(GMimeObject *obj)
{
	const char *raw = g_mime_object_get_header(obj, "Content-Type");
	size_t n;

	if (raw == NULL)
		return false;
	while (*raw == ' ' || *raw == '\t')
		raw++;
	n = strspn(raw, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789!#$&^_.+-");
	if (n == 0 || raw[n] != '/')
		return true;
	return strspn(raw + n + 1, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMN"
	    "OPQRSTUVWXYZ0123456789!#$&^_.+-") == 0;
}

static bool
is_text(GMimeObject *obj, const char *subtype)
{
	GMimeContentType *ct = g_mime_object_get_content_type(obj);

	if (!GMIME_IS_PART(obj))
		return false;
	if (ct != NULL && g_mime_content_type_is_type(ct, "text", subtype))
		return true;
	return strcmp(subtype, "plain") == 0 && garbage_content_type(obj);
}

/*
 * Whether decoding a part of @encoded bytes stays within max_decoded
 * (decoding never makes a part longer than its encoded form); counted
 * if it does, and noted if not.
 */
static bool
decode_allowed(struct parse_ctx *pc, size_t encoded)
{
	struct caps *c = &pc->caps;

	if (encoded > c->decoded - c->decoded_so_far ||
	    c->decoded_so_far > c->decoded) {
		c->undecoded++;
		return false;
	}
	c->decoded_so_far += encoded;
	return true;
}

/* The encoded size of a leaf's content: what decoding it may cost. */
static size_t
encoded_size(GMimeObject *obj)
{
	GMimeDataWrapper *dw = g_mime_part_get_content(GMIME_PART(obj));
	GMimeStream *st = dw != NULL ? g_mime_data_wrapper_get_stream(dw) :
	    NULL;
	gint64 n = st != NULL ? g_mime_stream_length(st) : 0;

	return n > 0 ? (size_t)n : 0;
}

/* The decoded bytes of a leaf part (transfer encoding undone). */
static GByteArray *
part_bytes(GMimeObject *obj, GMimeStream **keep_r)
{
	GMimeDataWrapper *dw = g_mime_part_get_content(GMIME_PART(obj));
	GMimeStream *out = g_mime_stream_mem_new();

	if (dw != NULL)
		g_mime_data_wrapper_write_to_stream(dw, out);
	*keep_r = out;
	return g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(out));
}

/*
 * A text part as UTF-8: its charset if it has a usable one, else UTF-8
 * if the bytes are valid, else windows-1252, else Latin-1 (which never
 * fails). NUL bytes are dropped rather than ending the text.
 */
static char *
part_text(struct parse_ctx *pc, GMimeObject *obj)
{
	GMimeStream *keep;
	GByteArray *ba;
	const char *cs = g_mime_object_get_content_type_parameter(obj, "charset");
	gchar *utf8 = NULL;
	gsize w = 0, len = 0;
	char *r;

	if (!decode_allowed(pc, encoded_size(obj)))
		return xstrdup(pc, "");
	ba = part_bytes(obj, &keep);
	for (guint i = 0; i < ba->len; i++)
		if (ba->data[i] != '\0')
			ba->data[len++] = ba->data[i];
	if (len < ba->len)
		problem(pc, "NUL bytes in a text part were dropped");
	if (len == 0)
		utf8 = g_strdup("");
	if (utf8 == NULL && cs != NULL)
		utf8 = g_convert((const gchar *)ba->data, (gssize)len, "UTF-8",
		    g_mime_charset_iconv_name(cs), NULL, &w, NULL);
	if (utf8 == NULL && g_utf8_validate((const gchar *)ba->data,
	    (gssize)len, NULL))
		utf8 = g_strndup((const gchar *)ba->data, len);
	if (utf8 == NULL)
		utf8 = g_convert((const gchar *)ba->data, (gssize)len, "UTF-8",
		    "WINDOWS-1252", NULL, &w, NULL);
	if (utf8 == NULL)
		utf8 = g_convert((const gchar *)ba->data, (gssize)len, "UTF-8",
		    "ISO-8859-1", NULL, &w, NULL);
	g_object_unref(keep);
	if (utf8 == NULL)
		return NULL;
	r = xstrdup(pc, utf8);
	g_free(utf8);
	return r;
}

/*
 * Depth-first search for the first non-attachment text/<subtype> leaf,
 * not descending into attached messages. Records the nearest enclosing
 * multipart/alternative.
 */
static GMimeObject *
find_text(GMimeObject *obj, const char *subtype, GMimeObject *alt,
    GMimeObject **alt_r, int depth)
{
	if (depth > 64)
		return NULL;
	if (GMIME_IS_MULTIPART(obj)) {
		GMimeMultipart *mp = GMIME_MULTIPART(obj);
		GMimeContentType *ct = g_mime_object_get_content_type(obj);
		int n = g_mime_multipart_get_count(mp);

		if (ct != NULL && g_mime_content_type_is_type(ct, "multipart",
		    "alternative"))
			alt = obj;
		for (int i = 0; i < n; i++) {
			GMimeObject *f = find_text(g_mime_multipart_get_part(mp,
			    i), subtype, alt, alt_r, depth + 1);
			if (f != NULL)
				return f;
		}
		return NULL;
	}
	if (is_text(obj, subtype) && !is_attachment_disposition(obj)) {
		*alt_r = alt;
		return obj;
	}
	return NULL;
}

/* Normalise line endings to \n and remove white space at the end. */
static char *
text_finish(char *t)
{
	char *r = t, *w = t;
	size_t n;

	for (; *r; r++) {
		if (*r == '\r') {
			if (r[1] != '\n')
				*w++ = '\n';
			continue;
		}
		*w++ = *r;
	}
	*w = '\0';
	n = strlen(t);
	while (n > 0 && isspace((unsigned char)t[n - 1]))
		t[--n] = '\0';
	return t;
}

static void omit(struct parse_ctx *pc, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
take_text(struct parse_ctx *pc, GMimeObject *part, bool html)
{
	char *raw = part_text(pc, part);
	size_t len, max = html ? MSG_HTML_MAX : MSG_TEXT_MAX;
	char *t;

	if (raw == NULL) {
		problem(pc, "text part could not be decoded");
		return;
	}
	len = strlen(raw);
	if (len > max) {
		size_t full = len;

		/* Cut on a character boundary. */
		len = max;
		while (len > 0 && ((unsigned char)raw[len] & 0xc0) == 0x80)
			len--;
		raw[len] = '\0';
		omit(pc, "the %s text was cut at %zu of its %zu bytes",
		    html ? "HTML" : "plain", len, full);
	}
	t = html ? html_to_text(raw, len) : strdup(raw);
	free(raw);
	if (t == NULL) {
		pc->oom = 1;
		return;
	}
	free(pc->m->text);
	pc->m->text = text_finish(t);
	pc->m->text_source = html ? MSG_TEXT_HTML : MSG_TEXT_PLAIN;
}

/* Whether one more attachment of @size bytes is kept; noted if not. */
static bool
attachment_fits(struct parse_ctx *pc, size_t size)
{
	struct caps *c = &pc->caps;

	if (pc->m->natt >= c->atts || size > c->att_bytes -
	    c->att_bytes_so_far) {
		c->skipped_atts++;
		c->skipped_bytes += size;
		return false;
	}
	c->att_bytes_so_far += size;
	return true;
}

static void
add_attachment(struct parse_ctx *pc, GMimeObject *obj)
{
	struct msg *m = pc->m;
	GMimeContentType *ct = g_mime_object_get_content_type(obj);
	GMimeStream *out;
	GByteArray *ba;
	struct msg_attachment *na, *a;
	const char *fn = NULL;
	char *type = NULL;

	if (!GMIME_IS_MESSAGE_PART(obj) && !GMIME_IS_PART(obj))
		return;
	if (m->natt >= pc->caps.atts) {
		/* Not even decoded: the count is all that is known. */
		pc->caps.skipped_atts++;
		return;
	}
	if (GMIME_IS_PART(obj) && !decode_allowed(pc, encoded_size(obj)))
		return;
	out = g_mime_stream_mem_new();
	if (GMIME_IS_MESSAGE_PART(obj)) {
		GMimeMessage *inner = g_mime_message_part_get_message(
		    GMIME_MESSAGE_PART(obj));
		if (inner != NULL)
			g_mime_object_write_to_stream(GMIME_OBJECT(inner), NULL,
			    out);
		fn = g_mime_object_get_content_disposition_parameter(obj,
		    "filename");
		if (fn == NULL)
			fn = g_mime_object_get_content_type_parameter(obj,
			    "name");
	} else {
		GMimeDataWrapper *dw = g_mime_part_get_content(GMIME_PART(obj));

		if (dw != NULL)
			g_mime_data_wrapper_write_to_stream(dw, out);
		fn = g_mime_part_get_filename(GMIME_PART(obj));
	}
	ba = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(out));
	if ((GMIME_IS_MESSAGE_PART(obj) && !decode_allowed(pc, ba->len)) ||
	    !attachment_fits(pc, ba->len)) {
		g_object_unref(out);
		return;
	}
	if ((na = realloc(m->att, (m->natt + 1) * sizeof(*na))) == NULL) {
		pc->oom = 1;
		g_object_unref(out);
		return;
	}
	m->att = na;
	a = &na[m->natt];
	memset(a, 0, sizeof(*a));
	if (ct != NULL)
		type = g_mime_content_type_get_mime_type(ct);
	a->content_type = xstrdup(pc, type != NULL ? type :
	    "application/octet-stream");
	g_free(type);
	for (char *c = a->content_type; c != NULL && *c; c++)
		*c = (char)tolower((unsigned char)*c);
	a->filename = fn != NULL && *fn != '\0' ? xstrdup(pc, fn) : NULL;
	a->size = ba->len;
	sha256_hex(ba->data, ba->len, a->sha256);
	if ((a->data = malloc(ba->len ? ba->len : 1)) == NULL)
		pc->oom = 1;
	else if (ba->len > 0)
		memcpy(a->data, ba->data, ba->len);
	m->natt++;
	g_object_unref(out);
}

/* Walk the leaves; everything but the body (and its alternatives) is an
 * attachment. */
static void
walk_attachments(struct parse_ctx *pc, GMimeObject *obj, bool in_body_alt,
    int depth)
{
	if (pc->oom)
		return;
	if (depth > 64) {
		problem(pc, "MIME nesting too deep");
		return;
	}
	if (GMIME_IS_MULTIPART(obj)) {
		GMimeMultipart *mp = GMIME_MULTIPART(obj);
		int n = g_mime_multipart_get_count(mp);

		if (obj == pc->body_alt)
			in_body_alt = true;
		for (int i = 0; i < n; i++)
			walk_attachments(pc, g_mime_multipart_get_part(mp, i),
			    in_body_alt, depth + 1);
		return;
	}
	if (obj == pc->body)
		return;
	if (in_body_alt && !is_attachment_disposition(obj) &&
	    (is_text(obj, "plain") || is_text(obj, "html")))
		return;
	add_attachment(pc, obj);
}

static void
parse_body(struct parse_ctx *pc, GMimeMessage *message)
{
	GMimeObject *root = g_mime_message_get_mime_part(message);
	GMimeObject *alt = NULL;

	if (root == NULL)
		return;
	if ((pc->body = find_text(root, "plain", NULL, &alt, 0)) != NULL)
		take_text(pc, pc->body, false);
	else if ((pc->body = find_text(root, "html", NULL, &alt, 0)) != NULL)
		take_text(pc, pc->body, true);
	pc->body_alt = alt;
	if (!pc->m->truncated)
		walk_attachments(pc, root, false, 0);
}

/* --- entry points ------------------------------------------------------------------ */

static void
caps_init(struct caps *c, const struct msg_opts *o)
{
	memset(c, 0, sizeof(*c));
	c->parts = o != NULL && o->max_parts ? o->max_parts : MSG_MAX_PARTS;
	c->depth = o != NULL && o->max_depth ? o->max_depth : MSG_MAX_DEPTH;
	c->atts = o != NULL && o->max_attachments ? o->max_attachments :
	    MSG_MAX_ATTACHMENTS;
	c->att_bytes = o != NULL && o->max_attachment_bytes ?
	    o->max_attachment_bytes : MSG_MAX_ATTACHMENT_BYTES;
	c->decoded = o != NULL && o->max_decoded ? o->max_decoded :
	    MSG_MAX_DECODED;
	dbuf_init(&c->note, 1024);
}

/* One thing a cap left out: into msg->omitted and the problems. */
static void
omit(struct parse_ctx *pc, const char *fmt, ...)
{
	char buf[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	problem(pc, "%s", buf);
	if ((pc->caps.note.len > 0 && dbuf_addstr(&pc->caps.note, "; ") != 0) ||
	    dbuf_addstr(&pc->caps.note, buf) != 0)
		return;		/* the note is cut; the log has it all */
}

/* One over-long header field GMime got shortened: its name and sizes. */
static void
omit_long(struct parse_ctx *pc, const char *raw,
    const struct mimescan_long *f)
{
	char name[48];
	size_t n = 0;

	while (n < f->keep && n < sizeof(name) - 1 && raw[f->at + n] != ':' &&
	    raw[f->at + n] != '\n') {
		unsigned char ch = (unsigned char)raw[f->at + n];

		name[n++] = ch > ' ' && ch < 127 && ch != '"' ? (char)ch : '?';
	}
	name[n] = '\0';
	omit(pc, "the \"%s\" header field%s of %zu bytes was cut to %zu",
	    name, f->part > 1 ? " of a MIME part" : "", f->len, f->keep +
	    (raw[f->at + f->keep - 1] != '\n'));
}

/* msg->omitted from what the scan cut and the caps skipped. */
static void
omitted_note(struct parse_ctx *pc, const char *raw,
    const struct mimescan_result *scan, size_t len)
{
	struct caps *c = &pc->caps;

	for (size_t i = 0; scan != NULL && i < scan->nlong; i++)
		omit_long(pc, raw, &scan->longf[i]);
	if (scan != NULL && scan->cut != MIMESCAN_WHOLE)
		omit(pc, "%s (caps: %zu parts, depth %u): only the first %zu "
		    "of %zu bytes were parsed, %zu parts", mimescan_cut_name(
		    scan->cut), c->parts, c->depth, scan->len, len,
		    scan->parts);
	if (c->skipped_atts > 0)
		omit(pc, "%zu attachments over the caps (%zu attachments, "
		    "%zu bytes) were not kept", c->skipped_atts, c->atts,
		    c->att_bytes);
	if (c->undecoded > 0)
		omit(pc, "%zu parts over the cap of %zu decoded bytes were "
		    "not decoded", c->undecoded, c->decoded);
	if (c->note.len > 0 && (pc->m->omitted = dbuf_take(&c->note,
	    NULL)) == NULL)
		pc->oom = 1;
	dbuf_free(&c->note);
}

/*
 * Parse what @scan gives GMime of the @len bytes at @raw, at @stream's
 * start (all of them without @scan).
 */
static int
parse_stream(GMimeStream *stream, const char *raw,
    const struct mimescan_result *scan, size_t len, bool truncated,
    const struct msg_opts *opts, struct msg **msg_r, const char **error_r)
{
	static const char *fallback[] = { "UTF-8", "windows-1252", NULL };
	struct parse_ctx pc = { 0 };
	GMimeParserOptions *popts;
	GMimeParser *parser;
	GMimeMessage *message;
	struct msg *m;

	if ((m = calloc(1, sizeof(*m))) == NULL) {
		*error_r = dv_error_set("out of memory");
		return ENOMEM;
	}
	pc.m = m;
	pc.opts = opts;
	caps_init(&pc.caps, opts);
	m->truncated = truncated;
	if (truncated)
		problem(&pc, "message over the size cap; attachments dropped");

	popts = g_mime_parser_options_new();
	g_mime_parser_options_set_warning_callback(popts, parse_warning, &pc);
	g_mime_parser_options_set_fallback_charsets(popts, fallback);
	g_mime_parser_options_set_rfc2047_compliance_mode(popts,
	    GMIME_RFC_COMPLIANCE_LOOSE);
	g_mime_parser_options_set_address_compliance_mode(popts,
	    GMIME_RFC_COMPLIANCE_LOOSE);
	g_mime_parser_options_set_parameter_compliance_mode(popts,
	    GMIME_RFC_COMPLIANCE_LOOSE);
	parser = g_mime_parser_new_with_stream(stream);
	g_mime_parser_set_format(parser, GMIME_FORMAT_MESSAGE);
	message = g_mime_parser_construct_message(parser, popts);
	if (message == NULL) {
		problem(&pc, "no message could be parsed");
	} else {
		parse_headers(&pc, message, popts);
		parse_body(&pc, message);
		g_object_unref(message);
	}
	g_object_unref(parser);
	g_mime_parser_options_free(popts);
	omitted_note(&pc, raw, scan, len);
	if (m->subject == NULL && !pc.oom)
		m->subject = strdup("");
	if (m->text == NULL && !pc.oom)
		m->text = strdup("");
	if (pc.oom || m->subject == NULL || m->text == NULL) {
		msg_free(m);
		*error_r = dv_error_set("out of memory while parsing a message");
		return ENOMEM;
	}
	*msg_r = m;
	return 0;
}

int
msg_parse(const void *raw, size_t len, const struct msg_opts *opts,
    struct msg **msg_r, const char **error_r)
{
	struct mimescan_result scan;
	GMimeStream *stream;
	GByteArray *ba;
	char *copy = NULL;
	size_t n;
	bool truncated = false;
	int rc;

	msg_init();
	if (opts != NULL && opts->max_size > 0 && len > opts->max_size) {
		len = opts->max_size;
		truncated = true;
	}
	/* GMime builds the whole tree at once: give it only what fits. */
	mimescan(raw, len, opts != NULL && opts->max_parts ? opts->max_parts :
	    MSG_MAX_PARTS, opts != NULL && opts->max_depth ? opts->max_depth :
	    MSG_MAX_DEPTH, &scan);
	/* Over-long header fields shortened: a copy, at most len + 16. */
	n = scan.len;
	if (scan.nlong > 0) {
		if ((copy = malloc(scan.len + scan.nlong)) == NULL) {
			*error_r = dv_error_set("out of memory");
			return ENOMEM;
		}
		n = mimescan_apply(raw, &scan, copy);
	}
	/*
	 * Let GMime read the caller's buffer (or the copy) where it is: a
	 * byte array that borrows it, and a stream that does not own the
	 * array. (A stream made with g_mime_stream_mem_new_with_buffer()
	 * copies the message, and, not being its owner, would never free
	 * the copy.)
	 */
	ba = g_byte_array_new_take((guint8 *)(uintptr_t)(copy != NULL ? copy :
	    raw), n);
	stream = g_mime_stream_mem_new_with_byte_array(ba);
	g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(stream), FALSE);
	rc = parse_stream(stream, raw, &scan, len, truncated, opts, msg_r,
	    error_r);
	g_object_unref(stream);
	g_byte_array_free(ba, FALSE);	/* the wrapper only */
	free(copy);
	return rc;
}

int
msg_parse_fd(int fd, const struct msg_opts *opts, struct msg **msg_r,
    const char **error_r)
{
	struct dbuf b;
	char chunk[65536];
	size_t cap = opts != NULL && opts->max_size ? opts->max_size + 1 :
	    (size_t)1 << 31;
	ssize_t n;
	int rc;

	dbuf_init(&b, cap);
	while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = errno;
			*error_r = dv_error_set("reading message: %s",
			    strerror(rc));
			dbuf_free(&b);
			return rc;
		}
		if (b.len + (size_t)n > cap) {
			/* Keep what fits: msg_parse() cuts and marks it. */
			n = (ssize_t)(cap - b.len);
		}
		if (dbuf_add(&b, chunk, (size_t)n) != 0) {
			*error_r = dv_error_set("out of memory");
			return ENOMEM;
		}
		if (b.len == cap)
			break;
	}
	rc = msg_parse(b.p != NULL ? b.p : "", b.len, opts, msg_r, error_r);
	dbuf_free(&b);
	return rc;
}

void
msg_free(struct msg *m)
{
	if (m == NULL)
		return;
	free(m->message_id);
	free(m->in_reply_to);
	for (size_t i = 0; i < m->nreferences; i++)
		free(m->references[i]);
	free(m->references);
	free(m->subject);
	struct { struct msg_addr *v; size_t n; } lists[] = {
		{ m->from, m->nfrom }, { m->to, m->nto }, { m->cc, m->ncc },
		{ m->reply_to, m->nreply_to },
	};
	for (size_t l = 0; l < 4; l++) {
		for (size_t i = 0; i < lists[l].n; i++) {
			free(lists[l].v[i].name);
			free(lists[l].v[i].address);
		}
		free(lists[l].v);
	}
	free(m->auto_submitted);
	free(m->precedence);
	free(m->list_id);
	for (size_t i = 0; i < m->nheaders; i++) {
		free(m->headers[i].name);
		free(m->headers[i].value);
	}
	free(m->headers);
	free(m->text);
	for (size_t i = 0; i < m->natt; i++) {
		free(m->att[i].filename);
		free(m->att[i].content_type);
		free(m->att[i].data);
	}
	free(m->att);
	free(m->omitted);
	for (size_t i = 0; i < m->nproblems; i++)
		free(m->problems[i]);
	free(m->problems);
	free(m);
}

char *
msg_header_decode(const char *raw)
{
	gchar *d, *v;
	char *r;

	msg_init();
	d = g_mime_utils_header_decode_text(NULL, raw);
	v = g_utf8_make_valid(d != NULL ? d : raw, -1);
	g_free(d);
	r = v != NULL ? strdup(v) : NULL;
	g_free(v);
	return r;
}

const char *
msg_header_get(const struct msg *m, const char *name)
{
	for (size_t i = 0; i < m->nheaders; i++)
		if (m->headers[i].name != NULL &&
		    strcasecmp(m->headers[i].name, name) == 0)
			return m->headers[i].value;
	return NULL;
}

/* --- JSON --------------------------------------------------------------------------------- */

static json_t *
json_str_or_null(const char *s)
{
	return s != NULL ? json_string(s) : json_null();
}

static json_t *
addrs_json(const struct msg_addr *a, size_t n)
{
	json_t *arr = json_array();

	for (size_t i = 0; arr != NULL && i < n; i++)
		json_array_append_new(arr, json_pack("{s:o, s:o}",
		    "name", json_str_or_null(a[i].name),
		    "address", json_str_or_null(a[i].address)));
	return arr;
}

json_t *
msg_to_json(const struct msg *m)
{
	json_t *refs = json_array(), *atts = json_array(), *date, *j;
	char stamp[32];

	if (refs == NULL || atts == NULL)
		goto fail;
	for (size_t i = 0; i < m->nreferences; i++)
		json_array_append_new(refs, json_string(m->references[i]));
	for (size_t i = 0; i < m->natt; i++)
		json_array_append_new(atts, json_pack("{s:o, s:s, s:I, s:s}",
		    "filename", json_str_or_null(m->att[i].filename),
		    "content_type", m->att[i].content_type,
		    "size", (json_int_t)m->att[i].size,
		    "sha256", m->att[i].sha256));
	if (m->has_date) {
		time_t t = (time_t)m->date;
		struct tm tm;

		gmtime_r(&t, &tm);
		strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
		date = json_string(stamp);
	} else
		date = json_null();
	j = json_pack("{s:o, s:o, s:o, s:s, s:o, s:o, s:o, s:o, s:o, s:o, "
	    "s:o, s:o, s:s, s:s, s:o, s:b}",
	    "message_id", json_str_or_null(m->message_id),
	    "in_reply_to", json_str_or_null(m->in_reply_to),
	    "references", refs,
	    "subject", m->subject,
	    "date", date,
	    "from", addrs_json(m->from, m->nfrom),
	    "to", addrs_json(m->to, m->nto),
	    "cc", addrs_json(m->cc, m->ncc),
	    "reply_to", addrs_json(m->reply_to, m->nreply_to),
	    "auto_submitted", json_str_or_null(m->auto_submitted),
	    "precedence", json_str_or_null(m->precedence),
	    "list_id", json_str_or_null(m->list_id),
	    "text", m->text,
	    "text_source", m->text_source == MSG_TEXT_PLAIN ? "plain" :
	    m->text_source == MSG_TEXT_HTML ? "html" : "none",
	    "attachments", atts,
	    "truncated", m->truncated);
	/* Only a capped message says what was left out. */
	if (j != NULL && m->omitted != NULL)
		json_object_set_new(j, "omitted", json_string(m->omitted));
	return j;
fail:
	json_decref(refs);
	json_decref(atts);
	return NULL;
}
