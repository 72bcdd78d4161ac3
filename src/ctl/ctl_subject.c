/* SPDX-License-Identifier: ISC */
/*
 * ctl_subject.c: `posternctl subject ...` and `posternctl receipt ...`
 * (posternctl(8), issue 17): argv parsing and printing only;
 * src/control/cmd_subject.c runs subject.* and receipt.pubkey in
 * posternd.
 *
 *   subject erase --account A ADDRESS [--all-accounts] [--no-suppress] [--receipt FILE]
 *   subject export --account A ADDRESS [--content] [--reason TEXT] [--receipt FILE]
 *   subject restrict --account A ADDRESS --reason TEXT [--receipt FILE]
 *   subject unrestrict --account A ADDRESS [--receipt FILE]
 *   subject status --account A ADDRESS
 *   receipt verify FILE [--key BASE64]
 *   receipt pubkey
 *
 * Every erase, export, restrict and unrestrict prints (or writes to --receipt FILE) the
 * signed receipt, also when the request is refused (exit 1, or 2 for a
 * malformed address).  receipt verify checks a receipt against the
 * node's key (asked of posternd, or read offline) or the --key given,
 * locally: exit 0 when it verifies, 1 when not.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "control.h"
#include "crypto.h"
#include "ctl.h"
#include "json.h"
#include "util.h"

static void
ctl_subject_usage(FILE *f)
{
	fprintf(f,
	    "usage: posternctl subject erase --account A ADDRESS [--all-accounts] [--no-suppress]"
	    " [--receipt FILE]\n"
	    "       posternctl subject export --account A ADDRESS [--content] [--reason TEXT]"
	    " [--receipt FILE]\n"
	    "       posternctl subject restrict --account A ADDRESS --reason TEXT [--receipt FILE]\n"
	    "       posternctl subject unrestrict --account A ADDRESS [--receipt FILE]\n"
	    "       posternctl subject status --account A ADDRESS\n");
}

/* Write the receipt of RES to FILE, or print it. */
static int
ctl_subject_receipt(const struct json_value *res, const char *file, int print)
{
	const char *r = json_get_str(res, "receipt", NULL);
	FILE *f;

	if (r == NULL) {
		fprintf(stderr, "posternctl: no receipt: %s\n",
		    json_get_str(res, "receipt_error", "none returned"));
		return -1;
	}
	if (file == NULL) {
		if (print)
			printf("receipt: %s\n", r);
		return 0;
	}
	if ((f = fopen(file, "w")) == NULL || fprintf(f, "%s\n", r) < 0 || fclose(f) != 0) {
		fprintf(stderr, "posternctl: cannot write %s: %s\n", file, strerror(errno));
		return -1;
	}
	return 0;
}

int
ctl_subject_main(struct ctl *c, int argc, char **argv)
{
	const char *account = NULL, *address = NULL, *receipt = NULL, *reason = NULL, *cmd;
	int all = 0, nosupp = 0, content = 0, i, rc;
	struct json_value *root = NULL;
	const struct json_value *res = NULL;
	struct json_out j;
	struct buf args;

	if (argc < 2 || strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0) {
		ctl_subject_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? CTL_EXIT_USAGE : CTL_EXIT_OK;
	}
	cmd = argv[1];
	if (strcmp(cmd, "erase") != 0 && strcmp(cmd, "export") != 0 && strcmp(cmd, "status") != 0 &&
	    strcmp(cmd, "restrict") != 0 && strcmp(cmd, "unrestrict") != 0) {
		ctl_usage_error(c, "subject: unknown command '%s'", cmd);
		return CTL_EXIT_USAGE;
	}
	for (i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--account") == 0 && i + 1 < argc)
			account = argv[++i];
		else if (strcmp(argv[i], "--receipt") == 0 && i + 1 < argc && strcmp(cmd, "status") != 0)
			receipt = argv[++i];
		else if (strcmp(argv[i], "--reason") == 0 && i + 1 < argc)
			reason = argv[++i];
		else if (strcmp(argv[i], "--all-accounts") == 0 && strcmp(cmd, "erase") == 0)
			all = 1;
		else if (strcmp(argv[i], "--no-suppress") == 0 && strcmp(cmd, "erase") == 0)
			nosupp = 1;
		else if (strcmp(argv[i], "--content") == 0 && strcmp(cmd, "export") == 0)
			content = 1;
		else if (argv[i][0] != '-' && address == NULL)
			address = argv[i];
		else {
			ctl_usage_error(c, "subject %s: unexpected '%s'", cmd, argv[i]);
			return CTL_EXIT_USAGE;
		}
	}
	if (account == NULL || address == NULL) {
		ctl_usage_error(c, "subject %s: needs --account A and an ADDRESS", cmd);
		return CTL_EXIT_USAGE;
	}
	buf_init(&args, 0);
	json_out_init(&j, &args);
	json_obj_begin(&j);
	json_kv_str(&j, "account", account);
	json_kv_str(&j, "address", address);
	if (all)
		json_kv_bool(&j, "all_accounts", 1);
	if (nosupp)
		json_kv_bool(&j, "suppress", 0);
	if (content)
		json_kv_bool(&j, "content", 1);
	if (reason != NULL)
		json_kv_str(&j, "reason", reason);
	json_obj_end(&j);
	if (strcmp(cmd, "erase") == 0)
		rc = ctl_call(c, "subject.erase", args.data, 0, &root, &res);
	else if (strcmp(cmd, "export") == 0)
		rc = ctl_call(c, "subject.export", args.data, 0, &root, &res);
	else if (strcmp(cmd, "restrict") == 0)
		rc = ctl_call(c, "subject.restrict", args.data, 0, &root, &res);
	else if (strcmp(cmd, "unrestrict") == 0)
		rc = ctl_call(c, "subject.unrestrict", args.data, 0, &root, &res);
	else
		rc = ctl_call(c, "subject.status", args.data, 1, &root, &res);
	buf_free(&args);
	if (res != NULL && res->type == JSON_OBJECT) {
		if (c->json || strcmp(cmd, "export") == 0)
			ctl_print_json(res, stdout);
		else if (strcmp(cmd, "erase") == 0 && rc == CTL_EXIT_OK)
			printf("request %s: %lld messages erased, %lld kept for other recipients "
			    "(%lld recipient rows erased), %lld events erased, %lld audit records "
			    "scrubbed\n", json_get_str(res, "request", "?"),
			    (long long)json_get_int(res, "messages_erased", 0),
			    (long long)json_get_int(res, "messages_kept_for_others", 0),
			    (long long)json_get_int(res, "recipient_rows_erased", 0),
			    (long long)json_get_int(res, "events_erased", 0),
			    (long long)json_get_int(res, "audit_records_scrubbed", 0));
		else if (strcmp(cmd, "restrict") == 0 && rc == CTL_EXIT_OK)
			printf("request %s: restricted; %lld messages held\n",
			    json_get_str(res, "request", "?"), (long long)json_get_int(res, "messages_held", 0));
		else if (strcmp(cmd, "unrestrict") == 0 && rc == CTL_EXIT_OK)
			printf("request %s: unrestricted; %lld messages released\n",
			    json_get_str(res, "request", "?"),
			    (long long)json_get_int(res, "messages_released", 0));
		else if (strcmp(cmd, "status") != 0)
			printf("request %s: nothing done\n", json_get_str(res, "request", "?"));
		else
			printf("subject %s: %lld messages, %lld events, %s, %s\n",
			    json_get_str(res, "subject", "?"), (long long)json_get_int(res, "messages", 0),
			    (long long)json_get_int(res, "events", 0),
			    json_get_bool(res, "suppressed", 0) ? "suppressed" : "not suppressed",
			    json_get_bool(res, "restricted", 0) ? "restricted" : "not restricted");
		if (strcmp(cmd, "status") != 0 &&
		    ctl_subject_receipt(res, receipt, !c->json && strcmp(cmd, "export") != 0) != 0 &&
		    rc == CTL_EXIT_OK)
			rc = CTL_EXIT_FAIL;
	}
	json_free(root);
	return rc;
}

/* The node's receipt key: from posternd, or read offline. */
static int
ctl_receipt_pubkey(struct ctl *c, unsigned char *pub, char *b64, size_t b64len)
{
	struct json_value *root = NULL;
	const struct json_value *res = NULL;
	const char *k;
	int rc = ctl_call(c, "receipt.pubkey", NULL, 1, &root, &res);

	if (rc == CTL_EXIT_OK) {
		k = json_get_str(res, "key", "");
		str_copy(b64, k, b64len);
		if (crypto_base64_decode(k, strlen(k), pub, CRYPTO_ED25519_KEY_LEN) != 0) {
			fprintf(stderr, "posternctl: malformed receipt key from the daemon\n");
			rc = CTL_EXIT_FAIL;
		}
	}
	json_free(root);
	return rc;
}

int
ctl_receipt_main(struct ctl *c, int argc, char **argv)
{
	unsigned char pub[CRYPTO_ED25519_KEY_LEN];
	char b64[128], err[256];
	const char *file = NULL, *key = NULL;
	struct buf text;
	FILE *f;
	int i, rc;

	if (argc >= 2 && strcmp(argv[1], "pubkey") == 0 && argc == 2) {
		if ((rc = ctl_receipt_pubkey(c, pub, b64, sizeof(b64))) != CTL_EXIT_OK)
			return rc;
		if (c->json)
			printf("{\"algorithm\":\"ed25519\",\"key\":\"%s\"}\n", b64);
		else
			printf("ed25519 %s\n", b64);
		return CTL_EXIT_OK;
	}
	if (argc < 3 || strcmp(argv[1], "verify") != 0) {
		fprintf(stderr, "usage: posternctl receipt verify FILE [--key BASE64]\n"
		    "       posternctl receipt pubkey\n");
		return CTL_EXIT_USAGE;
	}
	for (i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--key") == 0 && i + 1 < argc)
			key = argv[++i];
		else if (file == NULL)
			file = argv[i];
		else {
			ctl_usage_error(c, "receipt verify: unexpected '%s'", argv[i]);
			return CTL_EXIT_USAGE;
		}
	}
	if (key != NULL) {
		if (crypto_base64_decode(key, strlen(key), pub, sizeof(pub)) != 0) {
			ctl_usage_error(c, "receipt verify: --key is not a base64 Ed25519 key");
			return CTL_EXIT_USAGE;
		}
	} else if ((rc = ctl_receipt_pubkey(c, pub, b64, sizeof(b64))) != CTL_EXIT_OK)
		return rc;
	if ((f = fopen(file, "r")) == NULL) {
		return ctl_error(c, CTL_EXIT_FAIL, "cannot read %s: %s", file, strerror(errno));
	}
	buf_init(&text, 0);
	for (;;) {
		char chunk[4096];
		size_t n = fread(chunk, 1, sizeof(chunk), f);

		if (n == 0)
			break;
		buf_append(&text, chunk, n);
	}
	fclose(f);
	rc = control_receipt_verify(text.data ? text.data : "", text.len, pub, err, sizeof(err));
	if (rc != 0) {
		if (c->json)
			printf("{\"valid\":false,\"error\":\"%s\"}\n", err);
		fprintf(stderr, "posternctl: %s: %s\n", file, err);
	} else if (c->json)
		printf("{\"valid\":true}\n");
	else
		printf("%s: valid receipt\n", file);
	buf_free(&text);
	return rc == 0 ? CTL_EXIT_OK : CTL_EXIT_FAIL;
}
