/* SPDX-License-Identifier: ISC */
/*
 * test_config: the postern.conf parser, table-driven: every value type,
 * every kind of error with its file:line, continuation lines, comments,
 * defaults, and the sample config naming every key.  Issue 11: typed
 * values (enums, duration lists in ms, parsed addresses with IPv6,
 * parsed CIDRs), reference counting, the line of each key, and the
 * keys that need a restart.
 */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "tap.h"
#include "util.h"

struct err_case {
	const char *text;
	const char *want;	/* substring expected in the error */
};

static const struct err_case err_cases[] = {
	{ "bogus_key = 1\n", "t.conf:1: unknown key 'bogus_key'" },
	{ "event_retention = 3d\naudit_retention = 1d\n", "t.conf:2: audit_retention is shorter than event_retention" },
	{ "# c\n\nsmtpd_max_recipients = many\n", "t.conf:3: smtpd_max_recipients: 'many' is not an integer" },
	{ "smtpd_max_recipients = 0\n", "t.conf:1: smtpd_max_recipients: 0 is out of range (1 to 100000)" },
	{ "smtpd_auth_in_clear = maybe\n", "t.conf:1: smtpd_auth_in_clear: 'maybe' is not a boolean" },
	{ "message_size_limit = 10q\n", "t.conf:1: message_size_limit: '10q' is not a size" },
	{ "message_size_limit = 1\n", "t.conf:1: message_size_limit: '1' is out of range" },
	{ "smtpd_timeout = soon\n", "t.conf:1: smtpd_timeout: 'soon' is not a duration" },
	{ "smtpd_timeout = 2d\n", "t.conf:1: smtpd_timeout: '2d' is out of range" },
	{ "smtp_tls_policy = always\n", "t.conf:1: smtp_tls_policy: 'always' is not one of none|may|encrypt|verify" },
	{ "smtpd_relay_listen = 127.0.0.1\n", "t.conf:1: smtpd_relay_listen: '127.0.0.1' is not an address" },
	{ "smtpd_relay_networks = 10.0.0.0/33\n", "t.conf:1: smtpd_relay_networks: '10.0.0.0/33' is not a network" },
	{ "smtpd_relay_networks = ::1/129\n", "t.conf:1: smtpd_relay_networks: '::1/129' is not a network" },
	{ "smtpd_relay_networks = 10.0.0.0/\n", "t.conf:1: smtpd_relay_networks: '10.0.0.0/' is not a network" },
	{ "smtpd_relay_networks = example.test/8\n", "t.conf:1: smtpd_relay_networks: 'example.test/8' is not a network" },
	{ "dns_servers = ::1:53\n", "t.conf:1: dns_servers: '::1:53' is not an address" },
	{ "spf_action = maybe\n", "t.conf:1: spf_action: 'maybe' is not one of ignore|warn|reject" },
	{ "dlp_action_card = shred\n", "t.conf:1: dlp_action_card: 'shred' is not one of ignore|tag|hold|redact|reject" },
	{ "retry_schedule = 1m, 5x\n", "t.conf:1: retry_schedule: '5x' is not a duration" },
	{ "hostname\n", "t.conf:1: expected 'key = value'" },
	{ "hostname = a\nhostname = b\n", "t.conf:2: 'hostname' already set at line 1" },
	{ "  continued\n", "t.conf:1: continuation line without a key" },
	{ "hostname = a\nbad = 1\nsmtpd_max_errors = x\n", "t.conf:3: smtpd_max_errors" },
	{ "smtpd_loops = 257\n", "t.conf:1: smtpd_loops: 257 is out of range (0 to 256)" },
	{ "smtpd_loops = -1\n", "t.conf:1: smtpd_loops: -1 is out of range (0 to 256)" },
	{ "delivery_loops = 257\n", "t.conf:1: delivery_loops: 257 is out of range (0 to 256)" },
	{ "queue_result_linger = 2s\n", "t.conf:1: queue_result_linger: '2s' is out of range (0 to 1000 ms)" },
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

/* Typed values: what modules read instead of parsing strings. */
static void
test_typed(void)
{
	const char *text =
	    "log_level = warn\n"
	    "smtpd_bare_line_ending = normalize\n"
	    "smtp_tls_policy = verify\n"
	    "smtp_address_preference = ipv4-only\n"
	    "dlp_action_card = redact\n"
	    "dlp_action_iban = hold\n"
	    "mime_limit_action = hold\n"
	    "retry_schedule = 500ms 2m 1h\n"
	    "dns_servers = 127.0.0.1:5353, [::1]:53\n"
	    "smtpd_submission_listen = *:587\n"
	    "smtpd_relay_networks = 10.1.0.0/16 2001:db8::/32 192.0.2.7\n";
	char err[4096];
	struct config *c = config_parse("t.conf", text, strlen(text), err, sizeof(err));
	unsigned char a[16];

	if (!ok(c != NULL, "typed config parses"))
		diag("%s", err);
	if (c == NULL)
		return;
	is_int(c->log_level, CONFIG_LOG_WARN, "log_level enum");
	is_int(c->smtpd_bare_line_ending, CONFIG_BARE_LF_NORMALIZE, "bare line ending enum");
	is_int(c->smtp_tls_policy, CONFIG_TLS_VERIFY, "tls policy enum");
	is_int(c->smtp_address_preference, CONFIG_IPV4_ONLY, "address preference enum");
	is_int(c->dlp_action_card, CONFIG_DLP_REDACT, "dlp action enum (redact)");
	is_int(c->dlp_action_iban, CONFIG_DLP_HOLD, "dlp action enum (hold)");
	is_int(c->dlp_action_ssn, CONFIG_DLP_TAG, "dlp action default (tag)");
	is_int(c->mime_limit_action, CONFIG_MIME_LIMIT_HOLD, "mime limit action enum");
	is_str(config_enum_name("smtp_tls_policy", c->smtp_tls_policy), "verify", "enum word back");
	ok(c->retry_schedule.n == 3 && c->retry_schedule.ms[0] == 500 &&
	    c->retry_schedule.ms[1] == 120000 && c->retry_schedule.ms[2] == 3600000,
	    "retry_schedule as ms");
	ok(c->dns_servers.n == 2 && strcmp(c->dns_servers.addrs[0].host, "127.0.0.1") == 0 &&
	    c->dns_servers.addrs[0].port == 5353, "dns_servers[0] host and port");
	ok(strcmp(c->dns_servers.addrs[1].host, "::1") == 0 && c->dns_servers.addrs[1].port == 53,
	    "dns_servers[1]: IPv6 without brackets, port");
	ok(c->smtpd_submission_listen.n == 1 &&
	    strcmp(c->smtpd_submission_listen.addrs[0].host, "*") == 0 &&
	    c->smtpd_submission_listen.addrs[0].port == 587, "listen *:587");
	ok(c->smtpd_relay_networks.n == 3 && c->smtpd_relay_networks.cidrs[0].family == AF_INET &&
	    c->smtpd_relay_networks.cidrs[0].bits == 16 &&
	    c->smtpd_relay_networks.cidrs[1].family == AF_INET6 &&
	    c->smtpd_relay_networks.cidrs[1].bits == 32 &&
	    c->smtpd_relay_networks.cidrs[2].bits == 32, "relay networks parsed (v4, v6, host)");
	inet_pton(AF_INET, "10.1.200.3", a);
	ok(config_cidr_contains(&c->smtpd_relay_networks.cidrs[0], AF_INET, a), "10.1.200.3 in 10.1/16");
	inet_pton(AF_INET, "10.2.0.1", a);
	ok(!config_cidr_contains(&c->smtpd_relay_networks.cidrs[0], AF_INET, a), "10.2.0.1 not in 10.1/16");
	inet_pton(AF_INET6, "2001:db8:ffff::1", a);
	ok(config_cidr_contains(&c->smtpd_relay_networks.cidrs[1], AF_INET6, a), "v6 address in /32");
	is_int(config_key_line(c, "dns_servers"), 9, "line of a key that was set");
	is_int(config_key_line(c, "hostname"), 0, "line of a default: 0");
	config_unref(c);
}

/* config_ref/config_unref: the last reference frees (ASan checks both ways). */
static void
test_refs(void)
{
	char err[256];
	struct config *c = config_parse("t.conf", "hostname = a\n", 13, err, sizeof(err));
	const struct config *r;

	is_int(c->refs, 1, "a new config has one reference");
	r = config_ref(c);
	ok(r == c && c->refs == 2, "config_ref returns it with two");
	config_unref(c);
	is_int(r->refs, 1, "config_unref drops one; still usable");
	is_str(r->hostname, "a", "values intact after an unref");
	config_unref(r);	/* frees; a leak or a double free fails under ASan */
	config_unref(NULL);
	ok(config_ref(NULL) == NULL, "NULL is allowed");
}

/* Which changes need a restart (postern.conf(5) says the same). */
static void
test_restart_keys(void)
{
	const char *a = "dns_servers = 127.0.0.1:53\nsmtpd_max_recipients = 5\nuser = x\n";
	const char *b = "dns_servers = 127.0.0.1:5353\nsmtpd_max_recipients = 9\nuser = x\n"
	    "smtpd_relay_listen = 127.0.0.1:2525\n";
	char err[256], out[256];
	struct config *ca = config_parse("a", a, strlen(a), err, sizeof(err));
	struct config *cb = config_parse("b", b, strlen(b), err, sizeof(err));

	is_int(config_restart_changes(ca, cb, out, sizeof(out)), 2, "two restart keys changed");
	is_str(out, "smtpd_relay_listen,dns_servers", "named in table order");
	is_int(config_restart_changes(ca, ca, out, sizeof(out)), 0, "no change, nothing named");
	ok(config_key_needs_restart("dns_servers") && !config_key_needs_restart("smtpd_max_recipients"),
	    "dns_servers needs a restart, smtpd_max_recipients does not");
	config_unref(ca);
	config_unref(cb);
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

	/* Each key's entry (".B key" then its "(type; default ...)" line)
	 * is marked restart exactly when a change needs a restart. */
	free(dump);
	dump = NULL;
	mem = open_memstream(&dump, &dumplen);
	config_dump(def, mem);
	fclose(mem);
	missing = 0;
	for (line = strtok_r(dump, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char key[128], head[160];
		const char *e, *nl;
		int marked;

		sscanf(line, "%127s", key);
		snprintf(head, sizeof(head), "\n.B %s\n(", key);
		if (man == NULL || (e = strstr(man, head)) == NULL) {
			missing++;
			continue;
		}
		e += strlen(head);
		nl = strchr(e, '\n');
		marked = nl != NULL && memmem(e, (size_t)(nl - e), "\\fIrestart\\fR", 13) != NULL;
		if (marked != config_key_needs_restart(key)) {
			diag("man/postern.conf.5: %s is %smarked restart", key, marked ? "" : "not ");
			missing++;
		}
	}
	ok(man && missing == 0, "man page marks exactly the keys that need a restart");
	free(dump);
	free(sample);
	free(man);
	config_free(def);
}

/* config_foreach() callback: count the keys that differ from the default. */
static int
count_changed(void *arg, const char *key, const char *value, int is_default, int line)
{
	(void)key;
	(void)value;
	(void)line;
	if (!is_default)
		(*(int *)arg)++;
	return 0;
}

/*
 * The sample config promises "every key ... commented out, with its
 * default value": each `#key = value` line, read back alone, must give
 * the default (an example belongs in the comment above, not on that
 * line).  Paths are written for the default prefix: they are mapped to
 * the configured one first, as `make install` does.
 */
static void
test_sample_values_are_defaults(void)
{
	const char *srcdir = getenv("POSTERN_SRCDIR");
	char path[1024], err[4096], *sample = NULL, *dump = NULL, *line, *save = NULL;
	size_t len, dumplen = 0;
	struct config *def = config_load(NULL, err, sizeof(err));
	FILE *mem;
	int wrong = 0, checked = 0;

	snprintf(path, sizeof(path), "%s/contrib/postern.conf", srcdir ? srcdir : ".");
	file_read_all(path, 1 << 20, &sample, &len);
	mem = open_memstream(&dump, &dumplen);
	config_dump(def, mem);
	fclose(mem);
	for (line = strtok_r(dump, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char key[128], head[160], text[2048], val[1024];
		const char *e, *nl;
		struct config *one;
		int changed = 0;

		sscanf(line, "%127s", key);
		snprintf(head, sizeof(head), "\n#%s =", key);
		if (sample == NULL || (e = strstr(sample, head)) == NULL)
			continue;	/* test_sample_names_every_key() reports it */
		e += strlen(head);
		nl = strchr(e, '\n');
		snprintf(val, sizeof(val), "%.*s", nl ? (int)(nl - e) : (int)strlen(e), e);
		if (strncmp(val, " /usr/local/var/", 16) == 0)
			snprintf(text, sizeof(text), "%s = %s/%s\n", key, LOCALSTATEDIR, val + 16);
		else if (strncmp(val, " /usr/local/etc/", 16) == 0)
			snprintf(text, sizeof(text), "%s = %s/%s\n", key, SYSCONFDIR, val + 16);
		else
			snprintf(text, sizeof(text), "%s =%s\n", key, val);
		checked++;
		if ((one = config_parse("sample", text, strlen(text), err, sizeof(err))) == NULL) {
			diag("contrib/postern.conf: #%s =%s does not parse: %s", key, val, err);
			wrong++;
			continue;
		}
		config_foreach(one, 0, count_changed, &changed);
		if (changed != 0) {
			diag("contrib/postern.conf: #%s =%s is not the default", key, val);
			wrong++;
		}
		config_free(one);
	}
	ok(checked > 100 && wrong == 0, "every #key = value line of the sample config is the default");
	free(dump);
	free(sample);
	config_free(def);
}

/* Issue 20: smtpd_loops defaults to one loop per online core. */
static void
test_loops(void)
{
	char err[512];
	struct config *def = config_parse("t.conf", "", 0, err, sizeof(err));
	struct config *two = config_parse("t.conf", "smtpd_loops = 2\n", 16, err, sizeof(err));
	long cores = sysconf(_SC_NPROCESSORS_ONLN);

	ok(def != NULL && def->smtpd_loops == 0, "smtpd_loops defaults to 0 (auto)");
	ok(def != NULL && config_smtpd_loops(def) == (unsigned)(cores > 0 ? cores : 1),
	    "0 means one loop per online core (%ld)", cores);
	ok(two != NULL && config_smtpd_loops(two) == 2, "smtpd_loops = 2 is 2");
	config_free(two);
	/* delivery_loops: the same rule, apart from smtpd_loops */
	two = config_parse("t.conf", "delivery_loops = 3\n", 19, err, sizeof(err));
	ok(def != NULL && def->delivery_loops == 0 &&
	    config_delivery_loops(def) == (unsigned)(cores > 0 ? cores : 1),
	    "delivery_loops defaults to one per online core");
	ok(two != NULL && config_delivery_loops(two) == 3 && config_smtpd_loops(two) ==
	    (unsigned)(cores > 0 ? cores : 1), "delivery_loops = 3 is 3, smtpd_loops unchanged");
	config_free(def);
	config_free(two);
	/* queue_result_linger: 5 ms unless set, 0 allowed */
	def = config_parse("t.conf", "", 0, err, sizeof(err));
	two = config_parse("t.conf", "queue_result_linger = 0\n", 24, err, sizeof(err));
	ok(def != NULL && def->queue_result_linger == 5 && two != NULL &&
	    two->queue_result_linger == 0, "queue_result_linger: 5 ms by default, 0 allowed");
	config_free(def);
	config_free(two);
}

int
main(void)
{
	plan((int)ARRAY_SIZE(err_cases) + 15 + 20 + 5 + 4 + 6 + 2 + 3 + 2 + 1 + 1);
	test_errors();
	test_values();
	test_typed();
	test_refs();
	test_restart_keys();
	test_helpers();
	test_sample_names_every_key();
	test_sample_values_are_defaults();
	test_loops();
	return done();
}
