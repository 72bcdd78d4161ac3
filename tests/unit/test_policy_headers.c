/* SPDX-License-Identifier: ISC */
/*
 * test_policy_headers: the "headers" EOM stage: Received: with and
 * without the client IP, Date:/Message-ID: added only when missing
 * (names matched case-insensitively), every Bcc: field removed with its
 * continuation lines, the body never touched.
 */
#include "autoconfig.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "policy.h"
#include "relay.h"
#include "tap.h"

/* The final message of M (added fields joined), malloc'd. */
static char *
render(struct policy_msg *m)
{
	struct buf b;

	buf_init(&b, 0);
	policy_msg_render(m, &b);
	return buf_steal(&b, NULL);
}

static char last_msgid[256];

static char *
run_id(struct config *cfg, const char *msg, const char *addr, const char *qid,
    struct outcome *o)
{
	struct policy_msg m;
	struct policy_params pp;
	char *s;

	memset(&m, 0, sizeof(m));
	policy_params_from_config(&pp, cfg);
	m.params = &pp;
	m.client_helo = "app1.example";
	m.client_addr = addr;
	m.protocol = "ESMTPSA";
	if (qid != NULL)
		str_copy(m.msgid, qid, sizeof(m.msgid));
	buf_init(&m.data, 0);
	buf_append_str(&m.data, msg);
	policy_headers(&m, o);
	s = render(&m);
	memcpy(last_msgid, m.message_id, sizeof(last_msgid));
	policy_msg_free(&m);
	return s;
}

static char *
run(struct config *cfg, const char *msg, const char *addr, struct outcome *o)
{
	return run_id(cfg, msg, addr, NULL, o);
}

/* The header section of S (through the empty line). */
static int
has_header(const char *s, const char *line)
{
	const char *end = strstr(s, "\r\n\r\n");
	const char *hit = strstr(s, line);

	return hit && (!end || hit < end);
}

int
main(void)
{
	char err[256];
	static const char c1[] = "hostname = mx.test\n";
	static const char c2[] = "hostname = mx.test\nsmtpd_received_client_ip = no\n";
	struct config *cfg = config_parse("t", c1, strlen(c1), err, sizeof(err));
	struct config *cfg_noip = config_parse("t", c2, strlen(c2), err, sizeof(err));
	struct outcome o;
	char *s;

	plan(29);
	if (!cfg || !cfg_noip) {
		diag("config: %s", err);
		return 1;
	}
	s = run(cfg, "Subject: x\r\nTo: a@example.org\r\n\r\nbody\r\n", "192.0.2.7", &o);
	is_int(o.kind, OUTCOME_OK, "stage ok");
	ok(strncmp(s, "Received: from app1.example ([192.0.2.7])\r\n\tby mx.test (postern) with ESMTPSA;\r\n\t", 81) == 0,
	    "Received: first, with the client IP");
	ok(has_header(s, "\r\nDate: "), "Date: added");
	ok(has_header(s, "\r\nMessage-ID: <") && strstr(s, "@mx.test>\r\n"), "Message-ID: added");
	ok(strstr(s, "\r\n\r\nbody\r\n") != NULL && strcmp(s + strlen(s) - 6, "body\r\n") == 0, "body kept");
	ok(strstr(s, "for <") == NULL, "no recipient in Received:");
	free(s);

	{
		/* issue 20: without a hostname, Received: names gethostname(),
		 * looked up once in policy_params_from_config */
		static const char c0[] = "log_level = info\n";
		struct config *cfg0 = config_parse("t", c0, strlen(c0), err, sizeof(err));
		struct policy_params pp;
		char host[256], want[300];

		if (gethostname(host, sizeof(host)) != 0)
			str_copy(host, "localhost", sizeof(host));
		host[sizeof(host) - 1] = '\0';
		policy_params_from_config(&pp, cfg0);
		ok(pp.headers.hostname != NULL && strcmp(pp.headers.hostname, host) == 0,
		    "no hostname configured: the params carry gethostname()'s (%s)", host);
		s = run(cfg0, "Subject: x\r\n\r\nbody\r\n", "192.0.2.7", &o);
		snprintf(want, sizeof(want), "\tby %s (postern) with ESMTPSA;", host);
		ok(strstr(s, want) != NULL, "and Received: says it");
		free(s);
		config_unref(cfg0);
	}
	s = run(cfg, "Subject: x\r\n\r\nbody\r\n", "2001:db8::7", &o);
	ok(strncmp(s, "Received: from app1.example ([IPv6:2001:db8::7])\r\n", 50) == 0, "IPv6 address literal");
	free(s);

	s = run(cfg_noip, "Subject: x\r\n\r\nbody\r\n", "192.0.2.7", &o);
	ok(strncmp(s, "Received: from app1.example\r\n\tby mx.test", 40) == 0, "no client IP when disabled");
	ok(strstr(s, "192.0.2.7") == NULL, "the IP appears nowhere");
	free(s);

	s = run(cfg, "date: Mon, 1 Jan 2024 00:00:00 +0000\r\nMESSAGE-ID: <x@y>\r\nSubject: s\r\n\r\nb\r\n", NULL, &o);
	ok(strstr(s, "\r\nDate: ") == NULL && strstr(s, "\r\ndate: Mon, 1 Jan 2024") != NULL, "existing Date: kept, none added");
	ok(strstr(s, "\r\nMessage-ID: ") == NULL && strstr(s, "MESSAGE-ID: <x@y>") != NULL, "existing Message-ID: kept");
	ok(strncmp(s, "Received: from app1.example\r\n", 29) == 0, "no address given: none shown");
	free(s);

	s = run(cfg, "To: a@example.org\r\nBcc: secret@example.net,\r\n  other@example.net\r\nbcc: x@example.net\r\n"
	    "Bccx: stays\r\nSubject: s\r\n\r\nBcc: in the body stays\r\n", NULL, &o);
	ok(strstr(s, "secret@") == NULL && strstr(s, "other@") == NULL && strstr(s, "x@example.net") == NULL,
	    "Bcc: fields and continuations removed");
	ok(strstr(s, "\r\nBccx: stays\r\n") != NULL, "Bccx: is not Bcc:");
	ok(strstr(s, "\r\nTo: a@example.org\r\n") != NULL && strstr(s, "\r\nSubject: s\r\n") != NULL, "other fields kept");
	ok(strstr(s, "\r\n\r\nBcc: in the body stays\r\n") != NULL, "body Bcc: untouched");
	free(s);

	s = run(cfg, "Bcc: only@example.net\r\n", NULL, &o);
	ok(strstr(s, "only@") == NULL && has_header(s, "\r\nDate: "), "header-only message");
	free(s);

	s = run(cfg, "Subject: no crlf", NULL, &o);
	ok(strstr(s, "\r\nSubject: no crlf\r\nDate: ") != NULL, "last line without CRLF ended before additions");
	free(s);

	s = run(cfg, "\r\nno headers at all\r\n", NULL, &o);
	ok(strstr(s, "\r\nDate: ") != NULL && strstr(s, ">\r\n\r\nno headers at all\r\n") != NULL,
	    "no header section: fields go before the empty line");
	free(s);

	s = run(cfg, "", NULL, &o);
	ok(strncmp(s, "Received: ", 10) == 0 && strstr(s, "Message-ID: ") != NULL, "empty message");
	free(s);

	/* issue 19: the queue id in Received:, the Message-ID for the log */
	s = run_id(cfg, "Message-ID:\r\n <app.42@customer.example>\r\nSubject: s\r\n\r\nb\r\n",
	    "192.0.2.7", "01M8S01GTX5Q3Z2NGD1J", &o);
	ok(strncmp(s, "Received: from app1.example ([192.0.2.7])\r\n\tby mx.test (postern) with "
	    "ESMTPSA id 01M8S01GTX5Q3Z2NGD1J;\r\n\t", 104) == 0, "Received: carries id QID");
	is_str(last_msgid, "<app.42@customer.example>", "the customer's (folded) Message-ID kept for the log");
	free(s);
	s = run_id(cfg, "Subject: s\r\n\r\nb\r\n", NULL, "01M8S01GTX5Q3Z2NGD1K", &o);
	ok(last_msgid[0] == '<' && strstr(s, last_msgid) != NULL && strstr(last_msgid, "@mx.test>") != NULL,
	    "an added Message-ID is the one kept for the log");
	free(s);
	s = run(cfg, "Subject: s\r\n\r\nb\r\n", NULL, &o);
	ok(strstr(s, " id ") == NULL, "no queue id given: no id clause");
	free(s);

	{
		struct policy_msg m;
		struct policy_params pp;

		memset(&m, 0, sizeof(m));
		policy_params_from_config(&pp, cfg);
		m.params = &pp;
		m.client_helo = "evil(\r\nX-Injected: 1)";
		m.protocol = "ESMTP";
		buf_init(&m.data, 0);
		buf_append_str(&m.data, "Subject: s\r\n\r\nb\r\n");
		policy_headers(&m, &o);
		s = render(&m);
		ok(strstr(s, "X-Injected: 1") == NULL || strstr(s, "\r\nX-Injected") == NULL,
		    "HELO cannot inject a header line");
		ok(strstr(s, "evil_") != NULL, "HELO sanitised");
		free(s);
		policy_msg_free(&m);
	}
	{
		struct policy_stage st[] = { { .name = "headers", .run = policy_headers } };
		struct policy_msg m;
		struct policy_params pp;

		memset(&m, 0, sizeof(m));
		policy_params_from_config(&pp, cfg);
		m.params = &pp;
		buf_init(&m.data, 0);
		buf_append_str(&m.data, "Subject: s\r\n\r\nb\r\n");
		is_int(policy_run(st, 1, &m, &o), 0, "runs as a policy stage");
		policy_msg_free(&m);
	}
	config_free(cfg);
	config_free(cfg_noip);
	return done();
}
