/*
 * ctl_profile.c - "dvmilterctl profile ...": email server profiles.
 *
 * A profile records how a mailbox's mail server is reached (Dataverse's
 * emailserverprofile). Secrets are never stored: a profile names a file
 * that holds the password or client secret. URLs are checked with
 * libcurl's own parser, the one that will later use them.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "ctl_int.h"
#include "caps.h"
#include "status.h"
#include "utf8.h"

struct pr_opts {
	int server_type, tls, auth;	/* -1: not given */
	const char *smtp_url, *username, *secret_file;
	bool json;
	char **pos;
	int npos;
};

enum {
	OPT_SERVER = 256, OPT_URL, OPT_TLS, OPT_AUTH, OPT_USERNAME, OPT_SECRET,
	OPT_JSON
};

static const struct option pr_longopts[] = {
	{ "server-type", required_argument, NULL, OPT_SERVER },
	{ "smtp-url", required_argument, NULL, OPT_URL },
	{ "tls", required_argument, NULL, OPT_TLS },
	{ "auth", required_argument, NULL, OPT_AUTH },
	{ "username", required_argument, NULL, OPT_USERNAME },
	{ "secret-file", required_argument, NULL, OPT_SECRET },
	{ "json", no_argument, NULL, OPT_JSON },
	{ NULL, 0, NULL, 0 }
};

/* smtp:// or smtps:// with a host, as libcurl understands it. */
static int
check_url(const char *url)
{
	CURLU *u;
	char *scheme = NULL, *host = NULL;
	int rc = CTL_OK;

	if (strlen(url) > DV_URL_MAX)
		return ctl_fail("--smtp-url is longer than %d bytes", DV_URL_MAX);
	if ((u = curl_url()) == NULL)
		return ctl_fail("out of memory");
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK)
		rc = ctl_fail("--smtp-url \"%s\" is not a valid URL", url);
	else if (strcasecmp(scheme, "smtp") != 0 &&
	    strcasecmp(scheme, "smtps") != 0)
		rc = ctl_fail("--smtp-url must be smtp:// or smtps://, not "
		    "%s://", scheme);
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return rc;
}

static bool
name_ok(const char *s)
{
	size_t len = strlen(s);

	if (len == 0 || len > DV_NAME_MAX || s[0] == ' ' || s[len - 1] == ' ' ||
	    !utf8_valid(s, len))
		return false;
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

static int
pr_parse(int argc, char **argv, bool fields, bool json, struct pr_opts *o)
{
	const char *sub = argv[0];
	int ch;

	memset(o, 0, sizeof(*o));
	o->server_type = o->tls = o->auth = -1;
	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":", pr_longopts, NULL)) != -1) {
		if (ch == ':' || ch == '?')
			return ctl_usage_error("profile %s: unknown option or "
			    "missing value: %s", sub, argv[optind - 1]);
		if ((ch == OPT_JSON && !json) || (ch != OPT_JSON && !fields))
			return ctl_usage_error("profile %s does not take %s",
			    sub, argv[optind - 1]);
		switch (ch) {
		case OPT_SERVER:
			if ((o->server_type = profile_server_parse(optarg)) < 0)
				return ctl_fail("unknown server type \"%s\" "
				    "(exchange, other, exchange-hybrid, "
				    "exchange-online-hybrid, imap-smtp)", optarg);
			break;
		case OPT_URL:
			if (optarg[0] != '\0' && check_url(optarg) != CTL_OK)
				return CTL_FAIL;
			o->smtp_url = optarg;
			break;
		case OPT_TLS:
			if ((o->tls = profile_tls_parse(optarg)) < 0)
				return ctl_fail("unknown TLS mode \"%s\" (none, "
				    "starttls, implicit)", optarg);
			break;
		case OPT_AUTH:
			if ((o->auth = profile_auth_parse(optarg)) < 0)
				return ctl_fail("unknown authentication \"%s\" "
				    "(auto, negotiate, ntlm, basic, oauth, "
				    "none)", optarg);
			break;
		case OPT_USERNAME:
			if (!name_ok(optarg) && optarg[0] != '\0')
				return ctl_fail("bad username");
			o->username = optarg;
			break;
		case OPT_SECRET:
			if (optarg[0] != '\0' && (optarg[0] != '/' ||
			    strlen(optarg) > DV_PATH_MAX))
				return ctl_fail("--secret-file must be an "
				    "absolute path");
			o->secret_file = optarg;
			break;
		case OPT_JSON:
			o->json = true;
			break;
		}
	}
	o->pos = argv + optind;
	o->npos = argc - optind;
	if (o->npos == 1 && !name_ok(o->pos[0]))
		return ctl_fail("bad profile name \"%s\": 1 to %d characters, "
		    "no control characters or outer spaces", o->pos[0],
		    DV_NAME_MAX);
	return CTL_OK;
}

static void
pr_apply(struct profile *p, const struct pr_opts *o)
{
	if (o->server_type >= 0)
		p->server_type = (uint8_t)o->server_type;
	if (o->tls >= 0)
		p->tls = (uint8_t)o->tls;
	if (o->auth >= 0)
		p->auth = (uint8_t)o->auth;
	if (o->smtp_url != NULL)
		snprintf(p->smtp_url, sizeof(p->smtp_url), "%s", o->smtp_url);
	if (o->username != NULL)
		snprintf(p->username, sizeof(p->username), "%s", o->username);
	if (o->secret_file != NULL)
		snprintf(p->secret_file, sizeof(p->secret_file), "%s",
		    o->secret_file);
}

static json_t *
pr_json(const struct profile *p)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:o}",
	    "name", p->name,
	    "server_type", profile_server_name(p->server_type),
	    "tls", profile_tls_name(p->tls),
	    "auth", profile_auth_name(p->auth),
	    "smtp_url", p->smtp_url[0] ? json_string(p->smtp_url) : json_null(),
	    "username", p->username[0] ? json_string(p->username) : json_null(),
	    "secret_file", p->secret_file[0] ? json_string(p->secret_file) :
	    json_null());
}

static int
cmd_write(struct ctl *ctl, int argc, char **argv, bool create)
{
	struct pr_opts o;
	struct profile p;
	struct store_txn *txn;
	const char *err;
	int rc;

	if ((rc = pr_parse(argc, argv, true, false, &o)) != CTL_OK)
		return rc;
	if (o.npos != 1)
		return ctl_usage_error("profile %s takes one NAME", argv[0]);
	if ((rc = ctl_txn(ctl, true, &txn)) != CTL_OK)
		return rc;
	if (create)
		profile_init(&p, o.pos[0]);
	else if (store_profile_get(txn, o.pos[0], &p, &err) != 0)
		goto fail;
	pr_apply(&p, &o);
	if (store_profile_put(txn, &p, create ? STORE_PUT_CREATE :
	    STORE_PUT_UPDATE, &err) != 0)
		goto fail;
	if ((rc = ctl_commit(txn)) != CTL_OK)
		return rc;
	printf("%s profile %s\n", create ? "added" : "updated", p.name);
	return CTL_OK;
fail:
	store_txn_abort(txn);
	return ctl_fail("%s", err);
}

static const char *const pr_headers[] = {
	"NAME", "SERVER", "SMTP-URL", "TLS", "AUTH", "USERNAME"
};

static int
pr_row_cb(void *arg, const struct profile *p)
{
	const char *cells[] = {
		p->name, profile_server_name(p->server_type), p->smtp_url,
		profile_tls_name(p->tls), profile_auth_name(p->auth),
		p->username
	};
	return ctl_table_row(arg, cells);
}

static int
pr_json_cb(void *arg, const struct profile *p)
{
	json_t *o = pr_json(p);

	if (o == NULL || json_array_append_new(arg, o) != 0)
		return ENOMEM;
	return 0;
}

static int
cmd_list(struct ctl *ctl, int argc, char **argv)
{
	struct pr_opts o;
	struct store_txn *txn;
	struct ctl_table *t = NULL;
	json_t *arr = NULL;
	const char *err = "out of memory";
	int rc;

	if ((rc = pr_parse(argc, argv, false, true, &o)) != CTL_OK)
		return rc;
	if (o.npos != 0)
		return ctl_usage_error("profile list takes no NAME");
	if ((rc = ctl_txn(ctl, false, &txn)) != CTL_OK)
		return rc;
	if (o.json) {
		if ((arr = json_array()) == NULL)
			rc = ENOMEM;
		else
			rc = store_profile_foreach(txn, pr_json_cb, arr, &err);
	} else {
		if ((t = ctl_table_new(6, pr_headers)) == NULL)
			rc = ENOMEM;
		else
			rc = store_profile_foreach(txn, pr_row_cb, t, &err);
	}
	store_txn_abort(txn);
	if (rc != 0) {
		json_decref(arr);
		ctl_table_free(t);
		return ctl_fail("%s", rc == ENOMEM ? "out of memory" : err);
	}
	if (o.json)
		return ctl_print_json(arr);
	ctl_table_print(t, stdout);
	ctl_table_free(t);
	return CTL_OK;
}

static int
cmd_show(struct ctl *ctl, int argc, char **argv)
{
	struct pr_opts o;
	struct profile p;
	struct store_txn *txn;
	const char *err;
	int rc;

	if ((rc = pr_parse(argc, argv, false, true, &o)) != CTL_OK)
		return rc;
	if (o.npos != 1)
		return ctl_usage_error("profile show takes one NAME");
	if ((rc = ctl_txn(ctl, false, &txn)) != CTL_OK)
		return rc;
	rc = store_profile_get(txn, o.pos[0], &p, &err);
	store_txn_abort(txn);
	if (rc != 0)
		return ctl_fail("%s", err);
	if (o.json)
		return ctl_print_json(pr_json(&p));
	printf("name:         %s\n", p.name);
	printf("server_type:  %s\n", profile_server_name(p.server_type));
	printf("smtp_url:     %s\n", p.smtp_url[0] ? p.smtp_url : "-");
	printf("tls:          %s\n", profile_tls_name(p.tls));
	printf("auth:         %s\n", profile_auth_name(p.auth));
	printf("username:     %s\n", p.username[0] ? p.username : "-");
	printf("secret_file:  %s\n", p.secret_file[0] ? p.secret_file : "-");
	return CTL_OK;
}

static int
cmd_remove(struct ctl *ctl, int argc, char **argv)
{
	struct pr_opts o;
	struct store_txn *txn;
	const char *err;
	int rc;

	if ((rc = pr_parse(argc, argv, false, false, &o)) != CTL_OK)
		return rc;
	if (o.npos != 1)
		return ctl_usage_error("profile remove takes one NAME");
	if ((rc = ctl_txn(ctl, true, &txn)) != CTL_OK)
		return rc;
	if (store_profile_remove(txn, o.pos[0], &err) != 0) {
		store_txn_abort(txn);
		return ctl_fail("%s", err);
	}
	if ((rc = ctl_commit(txn)) != CTL_OK)
		return rc;
	printf("removed profile %s\n", o.pos[0]);
	return CTL_OK;
}

static int
cmd_add(struct ctl *ctl, int argc, char **argv)
{
	return cmd_write(ctl, argc, argv, true);
}

static int
cmd_set(struct ctl *ctl, int argc, char **argv)
{
	return cmd_write(ctl, argc, argv, false);
}

int
ctl_profile(struct ctl *ctl, int argc, char **argv)
{
	static const struct ctl_command cmds[] = {
		{ "add", cmd_add },
		{ "set", cmd_set },
		{ "list", cmd_list },
		{ "show", cmd_show },
		{ "remove", cmd_remove },
		{ NULL, NULL }
	};

	return ctl_dispatch(ctl, "profile", cmds, argc, argv);
}
