/*
 * corr.c - correlation with earlier outbox messages (see corr.h).
 *
 * Pure logic over a lookup interface: it neither opens transactions nor
 * logs, so the end-of-message path and the worker share it and the unit
 * tests drive it with a table.
 */
#include "config.h"

#include <string.h>

#include "corr.h"

static bool
by_msgid(const struct corr_source *src, const char *msgid,
    const struct corr_msg *m, uint64_t *id_r)
{
	uint64_t id;

	if (msgid == NULL || *msgid == '\0' || (m->message_id != NULL &&
	    strcmp(msgid, m->message_id) == 0) ||
	    src->find_message_id(src->arg, msgid, &id) != 0 || id == m->self)
		return false;
	*id_r = id;
	return true;
}

void
corr_find(const struct corr_msg *m, const struct corr_source *src,
    const struct token_key *key, const char *prefix, struct corr_result *r)
{
	uint64_t id;

	*r = (struct corr_result){ 0, CORR_NONE, false };
	if (by_msgid(src, m->in_reply_to, m, &r->id))
		r->how = CORR_IN_REPLY_TO;
	for (size_t i = m->nreferences; r->how == CORR_NONE && i > 0; i--)
		if (by_msgid(src, m->references[i - 1], m, &r->id))
			r->how = CORR_IN_REPLY_TO;
	/* The token is read even after a match, for its forgery flag. */
	if (key == NULL || prefix == NULL)
		return;
	if (token_find(key, prefix, m->subject, &id, &r->forged) == 0 &&
	    r->how == CORR_NONE && id != m->self && src->exists(src->arg, id)) {
		r->id = id;
		r->how = CORR_TOKEN;
	}
}

const char *
corr_how_name(enum corr_how how)
{
	switch (how) {
	case CORR_IN_REPLY_TO: return "in-reply-to";
	case CORR_TOKEN: return "tracking-token";
	default: return "none";
	}
}
