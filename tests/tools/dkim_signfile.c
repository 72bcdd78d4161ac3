/* SPDX-License-Identifier: ISC */
/*
 * dkim_signfile.c: test driver for the DKIM stage.  Reads a message on
 * stdin, runs dkimsign_stage on it with the config CONF and the account
 * record RECORD (';' stands for a newline, e.g. "domains=a.test;x=y"),
 * and writes the result to stdout.  Exit 0 when the stage said OK
 * (signed or not), 75 on a tempfail (the outcome goes to stderr), 1 on
 * usage or config errors.  Used by tests/integration/test_dkim.py to
 * feed the independent verifiers before the SMTP server exists.
 */
#include "autoconfig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "account.h"
#include "dkim.h"
#include "relay.h"
#include "log.h"

int
main(int argc, char **argv)
{
	struct policy_msg m;
	struct policy_params pp;
	struct outcome out;
	struct config *cfg;
	struct account *acct;
	char err[1024], chunk[65536], *record, *p;
	size_t n;
	int rc;

	if (argc != 3) {
		fprintf(stderr, "usage: dkim_signfile CONF RECORD < message > signed\n");
		return 1;
	}
	log_open("dkim_signfile", LOG_TO_STDERR, LOG_LEVEL_WARN);
	if ((cfg = config_load(argv[1], err, sizeof(err))) == NULL) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	record = xstrdup(argv[2]);
	for (p = record; *p; p++)
		if (*p == ';')
			*p = '\n';
	{
		/* the typed policy, as the relay hands it to the stage */
		size_t tl = strlen(record) + 16;
		char *text = xmalloc(tl);

		snprintf(text, tl, "name=test\n%s", record);
		acct = account_parse(text, strlen(text));
		free(text);
	}
	memset(&m, 0, sizeof(m));
	policy_params_from_config(&pp, cfg);
	m.params = &pp;
	m.account = "test";
	m.acct = acct ? &acct->pol : NULL;
	m.sender = "";
	buf_init(&m.data, 0);
	buf_init(&m.verdicts, 0);
	while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0)
		buf_append(&m.data, chunk, n);
	rc = dkimsign_stage.run(&m, &out);
	if (rc != 0 || out.kind != OUTCOME_OK) {
		fprintf(stderr, "%d %s %s\n", out.code, out.enhanced, out.text);
		rc = 75;
	} else {
		struct buf final;

		/* the message as it would be queued: signatures on top */
		buf_init(&final, 0);
		policy_msg_render(&m, &final);
		fwrite(final.data ? final.data : "", 1, final.len, stdout);
		buf_free(&final);
		rc = 0;
	}
	policy_msg_free(&m);
	free(record);
	account_free(acct);
	config_free(cfg);
	return rc;
}
