/* SPDX-License-Identifier: ISC */
/*
 * test_config: the postern.conf parser, table-driven: every value type,
 * every kind of error with its file:line, continuation lines, comments,
 * defaults, and the sample config naming every key.
 */
#include "autoconfig.h"

#include <stdlib.h>

#include "config.h"
#include "tap.h"
#include "util.h"

struct err_case {
	const char *text;
	const char *want;	/* substring expected in the error */
};

static const struct err_case err_cases[] = {
	{ "bogus_key = 1\n", "t.conf:1: unknown key 'bogus_key'" },
	{ "# c\n\nsmtpd_max_recipients = many\n", "t.conf:3: smtpd_max_recipients: 'many' is not an integer" },
	{ "smtpd_max_recipients = 0\n", "t.conf:1: smtpd_max_recipients: 0 is out of range (1 to 100000)" },
	{ "smtpd_auth_in_clear = maybe\n", "t.conf:1: smtpd_auth_in_clear: 'maybe' is not a boolean" },
	{ "message_size_limit = 10q\n", "t.conf:1: message_size_limit: '10q' is not a size" },
	{ "message_size_limit = 1\n", "t.conf:1: message_size_limit: '1' is out of range" },
	{ "smtpd_timeout = soon\n", "t.conf:1: smtpd_timeout: 'soon' is not a duration" },
	{ "smtpd_timeout = 2d\n", "t.conf:1: smtpd_timeout: '2d' is out of range" },
	{ "smtp_tls_policy = always\n", "t.conf:1: smtp_tls_policy: 'always' is not one of none|may|encrypt|verify" },
	{ "smtpd_relay_listen = 127.0.0.1\n", "t.conf:1: smtpd_relay_listen: '127.0.0.1' is not an address" },
	{ "retry_schedule = 1m, 5x\n", "t.conf:1: retry_schedule: '5x' is not a duration" },
	{ "hostname\n", "t.conf:1: expected 'key = value'" },
	{ "hostname = a\nhostname = b\n", "t.conf:2: 'hostname' already set at line 1" },
	{ "  continued\n", "t.conf:1: continuation line without a key" },
	{ "hostname = a\nbad = 1\nsmtpd_max_errors = x\n", "t.conf:3: smtpd_max_errors" },
};

static void
test_errors(void)
{
	char err[4096];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(err_cases); i++) {
		struct config *c = config_parse("t.conf", err_cases[i].text,
		    strlen(err_cases[i].text), err, sizeof(err));
		int good = c == NULL && strstr(err, err_cases[i].want) != NULL;
		if (!ok(good, "error case %zu: %s", i, err_cases[i].want))
			diag("got: %s", c ? "(accepted)" : err);
		config_free(c);
	}
}

static void
test_values(void)
{
	const char *text =
	    "# comment\n"
	    "hostname = mx.example.test\n"
	    "smtpd_max_recipients = 7\n"
	    "smtpd_auth_in_clear = yes\n"
	    "message_size_limit = 10m\n"
	    "smtpd_timeout = 1500ms\n"
	    "max_queue_lifetime = 2d\n"
	    "smtpd_relay_listen = 127.0.0.1:2525, [::1]:2525\n"
	    "retry_schedule = 1s,\n"
	    "   2s 3m\n"
	    "\n"
	    "spf_action = reject\n";
	char err[4096];
	struct config *c = config_parse("t.conf", text, strlen(text), err, sizeof(err));

	if (!ok(c != NULL, "valid config parses"))
		diag("%s", err);
	if (c == NULL)
		return;
	is_str(c->hostname, "mx.example.test", "string");
	is_int(c->smtpd_max_recipients, 7, "int");
	is_int(c->smtpd_auth_in_clear, 1, "bool");
	is_int(c->message_size_limit, 10 * 1024 * 1024, "size with suffix");
	is_int(c->smtpd_timeout, 1500, "duration in ms");
	is_int(c->max_queue_lifetime, 2LL * 86400 * 1000, "duration in days");
	is_int(c->smtpd_relay_listen.n, 2, "address list");
	is_str(c->smtpd_relay_listen.items[1], "[::1]:2525", "bracketed IPv6 address");
	is_int(c->retry_schedule.n, 3, "continuation line extends a list");
	is_str(c->retry_schedule.items[2], "3m", "continued item");
	is_int(c->retry_schedule.ms[2], 180000, "duration list typed in ms");
	is_int(c->spf_action, CONFIG_SPF_REJECT, "enum");
	is_int(c->smtpd_max_connections, 1000, "untouched key keeps its default");
	is_int(c->log_pseudonymise, 1, "pseudonymisation on by default");
	config_free(c);
}

static void
test_helpers(void)
{
	char host[64];
	uint64_t v;
	int port;

	ok(config_parse_address("[::1]:25", host, sizeof(host), &port) == 0 &&
	    strcmp(host, "::1") == 0 && port == 25, "parse [::1]:25");
	ok(config_parse_address("::1:25", host, sizeof(host), &port) == -1,
	    "bare IPv6 refused");
	ok(config_parse_address("h:70000", host, sizeof(host), &port) == -1,
	    "port out of range refused");
	ok(config_parse_duration("99999999999999999999d", &v) == -1,
	    "duration overflow refused");
	ok(config_parse_size("16777216g", &v) == 0 && v == 16777216ULL << 30,
	    "large size");
	ok(config_parse_size("18446744073709551615g", &v) == -1, "size overflow refused");
}

/* Every key in the table is documented in the sample config and the man page. */
static void
test_sample_names_every_key(void)
{
	const char *srcdir = getenv("POSTERN_SRCDIR");
	char path[1024], err[4096], *sample = NULL, *man = NULL;
	size_t len;
	struct config *def = config_load(NULL, err, sizeof(err));
	FILE *mem;
	char *dump = NULL, *line, *save = NULL;
	size_t dumplen = 0;
	int missing = 0;

	snprintf(path, sizeof(path), "%s/contrib/postern.conf", srcdir ? srcdir : ".");
	file_read_all(path, 1 << 20, &sample, &len);
	snprintf(path, sizeof(path), "%s/man/postern.conf.5", srcdir ? srcdir : ".");
	file_read_all(path, 1 << 20, &man, &len);
	mem = open_memstream(&dump, &dumplen);
	config_dump(def, mem);
	fclose(mem);
	for (line = strtok_r(dump, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char key[128];
		sscanf(line, "%127s", key);
		if (sample == NULL || strstr(sample, key) == NULL ||
		    man == NULL || strstr(man, key) == NULL) {
			diag("key %s not documented in contrib/postern.conf and man/postern.conf.5", key);
			missing++;
		}
	}
	ok(sample && man && missing == 0, "sample config and man page name every key");
	free(dump);
	free(sample);
	free(man);
	config_free(def);
}

int
main(void)
{
	plan((int)ARRAY_SIZE(err_cases) + 15 + 6 + 1);
	test_errors();
	test_values();
	test_helpers();
	test_sample_names_every_key();
	return done();
}
