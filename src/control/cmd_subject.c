/* SPDX-License-Identifier: ISC */
/*
 * cmd_subject.c: the data-subject request commands (issue 17,
 * posternctl(8) "subject", "receipt"): subject.erase, subject.export,
 * subject.restrict, subject.unrestrict, subject.status and
 * receipt.pubkey, registered by
 * control_commands_register(); posternctl's src/ctl/ctl_subject.c sends
 * them.  Operator role only; erase is a mutation whose audit record
 * commits with it, export an audited read (it returns plaintext
 * addresses and, with --content, decrypted mail).
 *
 * A subject is (account, address); the address is normalised (addr.h)
 * and looked up through the keyed hash the queue stores beside each
 * sealed envelope, never by opening envelopes to compare.  Audit
 * records name the request id, never the address.
 *
 * Every erase and export, refused or not, answers with a receipt: one
 * line of JSON {"receipt":{...},"key":PUB,"sig":SIG} where SIG is the
 * Ed25519 signature (src/lib/crypto.c) of every octet before
 * `,"sig":"`, made with the node's receipt key: a 0600 file
 * "receipt.key" beside the master key, created at first use.  The
 * receipt names the request id, kind, account, the keyed hash of the
 * address (not the address), what was done with counts, the time and
 * the node; an erasure's is written only once the queue has committed
 * and synced the shredding.  control_receipt_verify() checks one
 * (posternctl receipt verify).
 */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "addr.h"
#include "buf.h"
#include "control.h"
#include "control_int.h"
#include "crypto.h"
#include "hash.h"
#include "json.h"
#include "log.h"
#include "queue.h"
#include "suppress.h"
#include "util.h"

#define RECEIPT_KEY_NAME "receipt.key"

/* ---- the receipt key ---- */

/* DIR(master_key_file)/receipt.key (malloc'd). */
static char *
receipt_key_path(const struct config *cfg)
{
	const char *mk = cfg != NULL && cfg->master_key_file != NULL ? cfg->master_key_file : "";
	const char *slash = strrchr(mk, '/');

	if (slash == NULL)
		return xstrdup(RECEIPT_KEY_NAME);
	return xasprintf("%.*s/%s", (int)(slash - mk), mk, RECEIPT_KEY_NAME);
}

/* Load the receipt key; with CREATE make a new 0600 one when absent.
 * 0, or -1 with ERR. */
static int
receipt_key_load(const struct config *cfg, int create, unsigned char *priv, unsigned char *pub,
    char *err, size_t errlen)
{
	char *path = receipt_key_path(cfg);
	char text[CRYPTO_B64_SIZE(CRYPTO_ED25519_KEY_LEN) + 8];
	struct stat st;
	ssize_t n;
	size_t len;
	int fd, rc = -1;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0 && errno == ENOENT && create) {
		crypto_ed25519_keygen(priv, pub);
		crypto_base64_encode(priv, CRYPTO_ED25519_KEY_LEN, text);
		len = strlen(text);
		text[len++] = '\n';
		if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0 ||
		    write(fd, text, len) != (ssize_t)len || fsync(fd) != 0) {
			snprintf(err, errlen, "cannot create the receipt key %s: %s", path,
			    strerror(errno));
			if (fd >= 0) {
				close(fd);
				(void)unlink(path);
			}
			goto out;
		}
		close(fd);
		log_info("event=receipt_key_created path=%s", path);
		rc = 0;
		goto out;
	}
	if (fd < 0) {
		snprintf(err, errlen, "cannot open the receipt key %s: %s", path, strerror(errno));
		goto out;
	}
	if (fstat(fd, &st) != 0 || (st.st_mode & 077) != 0) {
		snprintf(err, errlen, "the receipt key %s must be mode 0600", path);
		close(fd);
		goto out;
	}
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	len = n > 0 ? (size_t)n : 0;
	while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
		len--;
	if (crypto_base64_decode(text, len, priv, CRYPTO_ED25519_KEY_LEN) != 0 ||
	    crypto_ed25519_public(priv, pub) != 0) {
		snprintf(err, errlen, "the receipt key %s is malformed", path);
		goto out;
	}
	rc = 0;
out:
	crypto_wipe(text, sizeof(text));
	free(path);
	return rc;
}

/* ---- receipts ---- */

struct subject {
	char account[256];
	char address[320];		/* normalised */
	unsigned char hash[ADDR_HASH_LEN];
	char hex[ADDR_HASH_HEX];
	char pseudo[64];
	char key[256 + ADDR_HASH_HEX + 2];	/* "ACCOUNT/HEX": suppressions, restrictions, subjects */
	char request[40];		/* request id */
	int all_accounts;
	int account_known;
};

/* Sign the receipt body BODY (a JSON object) into OUT as one line. */
static int
receipt_sign(const struct config *cfg, const struct buf *body, struct buf *out,
    char *err, size_t errlen)
{
	unsigned char priv[CRYPTO_ED25519_KEY_LEN], pub[CRYPTO_ED25519_KEY_LEN];
	unsigned char sig[CRYPTO_ED25519_SIG_LEN];
	char b64[CRYPTO_B64_SIZE(CRYPTO_ED25519_SIG_LEN)];

	if (receipt_key_load(cfg, 1, priv, pub, err, errlen) != 0)
		return -1;
	buf_append_str(out, "{\"receipt\":");
	buf_append(out, body->data, body->len);
	crypto_base64_encode(pub, sizeof(pub), b64);
	buf_append_str(out, ",\"key\":\"");
	buf_append_str(out, b64);
	buf_append_str(out, "\"");
	if (crypto_ed25519_sign(priv, out->data, out->len, sig) != 0) {
		crypto_wipe(priv, sizeof(priv));
		snprintf(err, errlen, "cannot sign the receipt");
		return -1;
	}
	crypto_wipe(priv, sizeof(priv));
	crypto_base64_encode(sig, sizeof(sig), b64);
	buf_append_str(out, ",\"sig\":\"");
	buf_append_str(out, b64);
	buf_append_str(out, "\"}");
	return 0;
}

int
control_receipt_verify(const char *text, size_t len, const unsigned char *pub,
    char *err, size_t errlen)
{
	static const char sigtag[] = ",\"sig\":\"";
	unsigned char sig[CRYPTO_ED25519_SIG_LEN], kpub[CRYPTO_ED25519_KEY_LEN];
	const char *p = NULL, *q, *s, *k;
	size_t signed_len, slen;
	struct json_value *root;
	const char *key;

	while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
		len--;
	/* the last ,"sig":" ends the signed part */
	for (q = text; (q = memmem(q, len - (size_t)(q - text), sigtag, sizeof(sigtag) - 1)) != NULL;
	    q++)
		p = q;
	if (len < 12 || memcmp(text, "{\"receipt\":{", 12) != 0 || p == NULL) {
		snprintf(err, errlen, "not a postern receipt");
		return -1;
	}
	signed_len = (size_t)(p - text);
	s = p + sizeof(sigtag) - 1;
	slen = len - (size_t)(s - text);
	if (slen < 2 || memcmp(s + slen - 2, "\"}", 2) != 0 ||
	    crypto_base64_decode(s, slen - 2, sig, sizeof(sig)) != 0) {
		snprintf(err, errlen, "the receipt's signature is malformed");
		return -1;
	}
	if ((root = json_parse(text, len, NULL, 0)) == NULL) {
		snprintf(err, errlen, "the receipt is not valid JSON");
		return -1;
	}
	key = json_get_str(root, "key", "");
	k = key;
	if (crypto_base64_decode(k, strlen(k), kpub, sizeof(kpub)) != 0 ||
	    !crypto_equal(kpub, pub, sizeof(kpub))) {
		json_free(root);
		snprintf(err, errlen, "the receipt was not signed by this key");
		return -1;
	}
	json_free(root);
	if (crypto_ed25519_verify(pub, text, signed_len, sig) != 0) {
		snprintf(err, errlen, "the receipt's signature does not verify");
		return -1;
	}
	return 0;
}

/* Begin a receipt body in B for S: kind, request, account, subject. */
static void
receipt_begin(struct json_out *j, const struct control_req *req, const struct subject *s,
    const char *kind)
{
	char host[256];

	json_obj_begin(j);
	json_kv_int(j, "version", 1);
	json_kv_str(j, "request", s->request);
	json_kv_str(j, "kind", kind);
	json_kv_str(j, "account", s->all_accounts ? "*" : s->account);
	json_kv_str(j, "subject", s->hex);
	json_kv_uint(j, "time", now_wall_ms());
	if (req->cfg != NULL && req->cfg->hostname != NULL && *req->cfg->hostname != '\0')
		str_copy(host, req->cfg->hostname, sizeof(host));
	else if (gethostname(host, sizeof(host)) != 0)
		str_copy(host, "localhost", sizeof(host));
	host[sizeof(host) - 1] = '\0';
	json_kv_str(j, "node", host);
}

/* Write "receipt": the signed text of BODY to OUT (or an error note). */
static void
receipt_emit(struct control_req *req, struct json_out *out, const struct buf *body)
{
	struct buf signed_;
	char err[256];

	buf_init(&signed_, 0);
	json_key(out, "receipt");
	if (receipt_sign(req->cfg, body, &signed_, err, sizeof(err)) == 0)
		json_strn(out, signed_.data, signed_.len);
	else {
		log_warn("event=receipt_failed request=%s error=\"%s\"", req->target, err);
		json_null(out);
		json_kv_str(out, "receipt_error", err);
	}
	buf_free(&signed_);
}

/*
 * A refused request still gets a receipt saying nothing was found
 * (issue 17): RESULT with the error and the receipt, then status STATUS.
 */
static int subject_refuse(struct control_req *req, struct json_out *out,
    const struct subject *s, const char *kind, int status, const char *fmt, ...)
    PRINTF_LIKE(6, 7);

static int
subject_refuse(struct control_req *req, struct json_out *out, const struct subject *s,
    const char *kind, int status, const char *fmt, ...)
{
	struct buf body;
	struct json_out j;
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	buf_init(&body, 0);
	json_out_init(&j, &body);
	receipt_begin(&j, req, s, kind);
	json_kv_bool(&j, "found", 0);
	json_kv_str(&j, "error", msg);
	json_obj_end(&j);
	json_obj_begin(out);
	json_kv_str(out, "request", s->request);
	json_kv_bool(out, "found", 0);
	json_kv_str(out, "error", msg);
	receipt_emit(req, out, &body);
	json_obj_end(out);
	buf_free(&body);
	req->result_on_error = 1;
	return control_error(req, status, "%s", msg);
}

/* Parse the subject of REQ's args.  CONTROL_OK, or a refusal (with receipt). */
static int
subject_parse(struct control_req *req, struct json_out *out, struct subject *s, const char *kind)
{
	const char *account = json_get_str(req->args, "account", NULL);
	const char *address = json_get_str(req->args, "address", NULL);
	unsigned char rnd[12];
	char *text = NULL;
	size_t i, len;
	int rc;

	memset(s, 0, sizeof(*s));
	crypto_random_bytes(rnd, sizeof(rnd));
	memcpy(s->request, "dsr-", 4);
	for (i = 0; i < sizeof(rnd); i++)
		snprintf(s->request + 4 + 2 * i, 3, "%02x", rnd[i]);
	str_copy(req->target, s->request, sizeof(req->target));
	s->all_accounts = json_get_bool(req->args, "all_accounts", 0);
	str_copy(s->account, account != NULL ? account : "", sizeof(s->account));
	str_copy(s->hex, "-", sizeof(s->hex));
	if (address == NULL || addr_normalise(address, strlen(address), s->address,
	    sizeof(s->address)) <= 0)
		return subject_refuse(req, out, s, kind, CONTROL_USAGE, "malformed address: %s",
		    address != NULL ? "not an address" : "none given");
	if (addr_index_hash_hex(s->address, strlen(s->address), s->hex) != 0 ||
	    addr_index_hash(s->address, strlen(s->address), s->hash) != 0)
		return subject_refuse(req, out, s, kind, CONTROL_FAIL, "%s",
		    "the keyed address index has no key (master key not loaded)");
	log_pseudonym(s->address, strlen(s->address), s->pseudo, sizeof(s->pseudo));
	if (account == NULL || *account == '\0')
		return subject_refuse(req, out, s, kind, CONTROL_USAGE, "%s",
		    "an account is required (--account)");
	snprintf(s->key, sizeof(s->key), "%s/%s", s->account, s->hex);
	if (req->queue == NULL)
		return subject_refuse(req, out, s, kind, CONTROL_FAIL, "%s", "the queue is not open");
	rc = queue_kv_get(req->queue, QUEUE_T_ACCOUNTS, s->account, &text, &len);
	free(text);
	if (rc == -ENOENT)
		return subject_refuse(req, out, s, kind, CONTROL_FAIL, "no such account: %s",
		    s->account);
	if (rc != 0)
		return subject_refuse(req, out, s, kind, CONTROL_FAIL, "cannot read the account: %s",
		    strerror(-rc));
	s->account_known = 1;
	return CONTROL_OK;
}

/* ---- finding a subject's messages by keyed hash ---- */

struct subject_find {
	const struct subject *s;
	struct hash *ids;		/* matched ids */
	struct hash *foreign;		/* ids of other accounts' messages */
	char (*list)[QUEUE_ID_LEN + 1];
	size_t n;
};

static int
subject_find_cb(void *arg, const struct queue_msg *m)
{
	struct subject_find *f = arg;
	size_t i;
	int hit = 0;

	if (!f->s->all_accounts && strcmp(m->account, f->s->account) != 0) {
		hash_put(f->foreign, m->id, QUEUE_ID_LEN, f);
		return 0;
	}
	if (m->has_sender_hash && memcmp(m->sender_hash, f->s->hash, ADDR_HASH_LEN) == 0)
		hit = 1;
	for (i = 0; i < m->nrcpts && !hit; i++)
		if (m->rcpts[i].has_hash &&
		    memcmp(m->rcpts[i].addr_hash, f->s->hash, ADDR_HASH_LEN) == 0)
			hit = 1;
	if (!hit)
		return 0;
	f->list = xrealloc(f->list, (f->n + 1) * sizeof(*f->list));
	memcpy(f->list[f->n], m->id, QUEUE_ID_LEN + 1);
	hash_put(f->ids, m->id, QUEUE_ID_LEN, f);
	f->n++;
	return 0;
}

static int
subject_find(struct queue *q, const struct subject *s, struct subject_find *f)
{
	memset(f, 0, sizeof(*f));
	f->s = s;
	f->ids = hash_new(NULL);
	f->foreign = hash_new(NULL);
	return queue_foreach_sealed(q, subject_find_cb, f);
}

static void
subject_find_free(struct subject_find *f)
{
	hash_free(f->ids);
	hash_free(f->foreign);
	free(f->list);
}

/* Events naming the subject (its pseudonym) or one of its messages. */
struct subject_events {
	const struct subject *s;
	struct subject_find *f;
	struct json_out *out;		/* NULL: count only */
	uint64_t n;
};

static int
subject_event_cb(void *arg, uint64_t when, const char *json, size_t len)
{
	static const char tag[] = "\"id\":\"";
	struct subject_events *e = arg;
	char want[96];
	const char *p, *id = NULL;
	int hit;

	(void)when;
	if ((p = memmem(json, len, tag, sizeof(tag) - 1)) != NULL &&
	    (size_t)(json + len - p) >= sizeof(tag) - 1 + QUEUE_ID_LEN)
		id = p + sizeof(tag) - 1;
	hit = id != NULL && hash_get(e->f->ids, id, QUEUE_ID_LEN) != NULL;
	/* the subject's pseudonym, unless about another account's message */
	if (!hit && (id == NULL || hash_get(e->f->foreign, id, QUEUE_ID_LEN) == NULL)) {
		snprintf(want, sizeof(want), "\"rcpt\":\"%s\"", e->s->pseudo);
		hit = memmem(json, len, want, strlen(want)) != NULL;
	}
	if (!hit)
		return 0;
	e->n++;
	if (e->out != NULL)
		json_raw(e->out, json, len);
	return 0;
}

/* Write the stored record of table T at S->key, or null. */
static int
kv_json(struct control_req *req, struct json_out *out, enum queue_table t, const char *key)
{
	char *v = NULL;
	size_t len = 0;
	struct json_value *tree;

	if (queue_kv_get(req->queue, t, key, &v, &len) != 0 ||
	    (tree = json_parse(v, len, NULL, 0)) == NULL) {
		free(v);
		json_null(out);
		return 0;
	}
	json_free(tree);
	json_raw(out, v, len);
	free(v);
	return 1;
}

/* The subject's suppression entry (account list, then global) or null;
 * 1 when suppressed. */
static int
suppression_json(struct control_req *req, struct json_out *out, const struct subject *s)
{
	struct suppress_rec r;
	const char *scope = s->account;

	if (suppress_get(req->queue, scope, s->hex, &r) != 0 || !suppress_active(&r, now_wall_ms())) {
		scope = SUPPRESS_GLOBAL;
		if (suppress_get(req->queue, scope, s->hex, &r) != 0 ||
		    !suppress_active(&r, now_wall_ms())) {
			json_null(out);
			return 0;
		}
	}
	json_obj_begin(out);
	json_kv_str(out, "scope", scope);
	json_kv_str(out, "reason", suppress_strreason(r.reason));
	json_kv_str(out, "source", r.source);
	json_kv_uint(out, "created", r.created);
	json_kv_uint(out, "expires", r.expires);
	json_obj_end(out);
	return 1;
}

/* ---- subject.export ---- */

/* One message of the export: the subject's address in the clear, every
 * other address as its pseudonym. */
static void
export_message(struct control_req *req, struct json_out *out, const struct subject *s,
    const char *id, int content)
{
	struct queue_msg *m;
	struct buf body;
	char ps[64];
	size_t i;
	int rc, mine;

	if (queue_get(req->queue, id, &m) != 0)
		return;
	json_obj_begin(out);
	json_kv_str(out, "id", m->id);
	json_kv_str(out, "account", m->account);
	json_kv_uint(out, "created", m->created);
	json_kv_str(out, "state", queue_strstate(m->state));
	json_kv_uint(out, "size", m->size);
	mine = m->has_sender_hash && memcmp(m->sender_hash, s->hash, ADDR_HASH_LEN) == 0;
	json_kv_str(out, "sender", mine ? s->address : *m->sender == '\0' && !m->has_sender_hash ?
	    "" : log_pseudonym(m->sender, strlen(m->sender), ps, sizeof(ps)));
	json_kv_bool(out, "subject_is_sender", mine);
	json_key(out, "verdicts");
	if (m->verdicts != NULL && *m->verdicts != '\0')
		json_raw(out, m->verdicts, strlen(m->verdicts));
	else
		json_null(out);
	json_key(out, "recipients");
	json_arr_begin(out);
	for (i = 0; i < m->nrcpts; i++) {
		const struct queue_rcpt *r = &m->rcpts[i];

		mine = r->has_hash && memcmp(r->addr_hash, s->hash, ADDR_HASH_LEN) == 0;
		json_obj_begin(out);
		json_kv_str(out, "address", mine ? s->address :
		    log_pseudonym(r->addr, strlen(r->addr), ps, sizeof(ps)));
		json_kv_bool(out, "subject", mine);
		json_kv_str(out, "state", queue_strstate(r->state));
		json_kv_uint(out, "attempts", r->attempts);
		json_kv_uint(out, "first_attempt", r->first_attempt);
		json_kv_uint(out, "last_attempt", r->last_attempt);
		if (r->last_reply != NULL)
			json_kv_str(out, "last_reply", r->last_reply);
		if (r->relay != NULL)
			json_kv_str(out, "relay", r->relay);
		json_obj_end(out);
	}
	json_arr_end(out);
	if (content) {
		buf_init(&body, 0);
		rc = queue_read_body(req->queue, id, &body);
		json_key(out, "content");
		if (rc == 0)
			json_strn(out, body.data ? body.data : "", body.len);
		else
			json_null(out);
		json_kv_str(out, "content_status", rc == 0 ? "available" : "past retention");
		if (body.data != NULL)
			crypto_wipe(body.data, body.cap);
		buf_free(&body);
	}
	json_obj_end(out);
	queue_msg_free(m);
}

static int
subject_cmd_export(struct control_req *req, struct json_out *out)
{
	struct subject s;
	struct subject_find f;
	struct subject_events ev;
	struct buf body;
	struct json_out j;
	int content = json_get_bool(req->args, "content", 0), plain, rc;
	size_t i;

	if ((rc = subject_parse(req, out, &s, "export")) != CONTROL_OK)
		return rc;
	if ((plain = control_audit_read(req)) < 0)
		return CONTROL_USAGE;
	if (plain == 0)
		return subject_refuse(req, out, &s, "export", CONTROL_FAIL, "%s",
		    "subject export is an audited read and needs a running posternd");
	if ((rc = subject_find(req->queue, &s, &f)) != 0) {
		subject_find_free(&f);
		return subject_refuse(req, out, &s, "export", CONTROL_FAIL, "queue: %s",
		    strerror(-rc));
	}
	json_obj_begin(out);
	json_kv_str(out, "request", s.request);
	json_kv_str(out, "account", s.account);
	json_kv_str(out, "address", s.address);
	json_kv_str(out, "subject", s.hex);
	json_key(out, "messages");
	json_arr_begin(out);
	for (i = 0; i < f.n; i++)
		export_message(req, out, &s, f.list[i], content);
	json_arr_end(out);
	json_key(out, "events");
	json_arr_begin(out);
	memset(&ev, 0, sizeof(ev));
	ev.s = &s;
	ev.f = &f;
	ev.out = out;
	(void)queue_log_foreach(req->queue, QUEUE_LOG_EVENTS, 0, subject_event_cb, &ev);
	json_arr_end(out);
	json_key(out, "suppression");
	(void)suppression_json(req, out, &s);
	json_key(out, "restriction");
	(void)kv_json(req, out, QUEUE_T_RESTRICTIONS, s.key);
	json_key(out, "requests");
	(void)kv_json(req, out, QUEUE_T_SUBJECTS, s.key);
	buf_init(&body, 0);
	json_out_init(&j, &body);
	receipt_begin(&j, req, &s, "export");
	json_kv_bool(&j, "found", f.n > 0 || ev.n > 0);
	json_kv_uint(&j, "messages", f.n);
	json_kv_uint(&j, "events", ev.n);
	json_kv_bool(&j, "content", content);
	json_obj_end(&j);
	receipt_emit(req, out, &body);
	buf_free(&body);
	json_obj_end(out);
	subject_find_free(&f);
	return CONTROL_OK;
}

/* ---- subject.status ---- */

static int
subject_cmd_status(struct control_req *req, struct json_out *out)
{
	struct subject s;
	struct subject_find f;
	struct subject_events ev;
	int rc;

	if ((rc = subject_parse(req, out, &s, "status")) != CONTROL_OK) {
		/* status is a read: no receipt for it, just the refusal */
		return rc;
	}
	/* audited when posternd runs (offline there is nobody to write it) */
	if (control_audit_read(req) < 0)
		return CONTROL_USAGE;
	if ((rc = subject_find(req->queue, &s, &f)) != 0) {
		subject_find_free(&f);
		return control_error(req, CONTROL_FAIL, "queue: %s", strerror(-rc));
	}
	memset(&ev, 0, sizeof(ev));
	ev.s = &s;
	ev.f = &f;
	(void)queue_log_foreach(req->queue, QUEUE_LOG_EVENTS, 0, subject_event_cb, &ev);
	json_obj_begin(out);
	json_kv_str(out, "account", s.account);
	json_kv_str(out, "subject", s.hex);
	json_kv_uint(out, "messages", f.n);
	json_kv_uint(out, "events", ev.n);
	json_key(out, "suppression");
	json_kv_bool(out, "suppressed", suppression_json(req, out, &s));
	json_key(out, "restriction");
	json_kv_bool(out, "restricted", kv_json(req, out, QUEUE_T_RESTRICTIONS, s.key));
	json_key(out, "requests");
	(void)kv_json(req, out, QUEUE_T_SUBJECTS, s.key);
	json_obj_end(out);
	subject_find_free(&f);
	return CONTROL_OK;
}

/* ---- subject.erase ---- */

struct erase_ctx {
	struct control_req *req;
	struct subject s;
	struct queue_subject_counts counts;
	int suppress;
};

/* The erasure is committed and synced: now the receipt. */
static void
subject_erased(void *arg, const struct outcome *o)
{
	struct erase_ctx *e = arg;
	struct control_req *req = e->req;
	struct json_out *out = control_out(req);
	const struct queue_subject_counts *c = &e->counts;
	struct buf body;
	struct json_out j;
	int found;

	if (o->kind != OUTCOME_TEMPFAIL)
		control_audit_committed(req);
	if (o->kind != OUTCOME_OK) {
		control_error(req, CONTROL_FAIL, "cannot erase: %s", o->text);
		control_finish(req, CONTROL_FAIL);
		free(e);
		return;
	}
	found = c->messages || c->partial || c->events || c->audit;
	buf_init(&body, 0);
	json_out_init(&j, &body);
	receipt_begin(&j, req, &e->s, "erase");
	json_kv_bool(&j, "found", found);
	json_kv_uint(&j, "messages_erased", c->messages);
	json_kv_uint(&j, "messages_kept_for_others", c->partial);
	json_kv_uint(&j, "recipient_rows_erased", c->recipients);
	json_kv_uint(&j, "events_erased", c->events);
	json_kv_uint(&j, "audit_records_scrubbed", c->audit);
	json_kv_str(&j, "suppression", !e->suppress ? "not kept" : c->suppression_added ?
	    "added (reason erased)" : "kept");
	json_kv_bool(&j, "synced", 1);
	json_obj_end(&j);
	json_obj_begin(out);
	json_kv_str(out, "request", e->s.request);
	json_kv_bool(out, "found", found);
	json_kv_uint(out, "messages_erased", c->messages);
	json_kv_uint(out, "messages_kept_for_others", c->partial);
	json_kv_uint(out, "recipient_rows_erased", c->recipients);
	json_kv_uint(out, "events_erased", c->events);
	json_kv_uint(out, "audit_records_scrubbed", c->audit);
	receipt_emit(req, out, &body);
	json_obj_end(out);
	buf_free(&body);
	log_info("event=subject_erased request=%s messages=%llu partial=%llu events=%llu",
	    e->s.request, (unsigned long long)c->messages, (unsigned long long)c->partial,
	    (unsigned long long)c->events);
	crypto_wipe(e->s.address, sizeof(e->s.address));
	free(e);
	control_finish(req, CONTROL_OK);
}

static int
subject_cmd_erase(struct control_req *req, struct json_out *out)
{
	struct erase_ctx *e = xcalloc(1, sizeof(*e));
	struct queue_subject_erase qe;
	struct suppress_rec sr;
	char *supp, entry[256];
	size_t slen;
	int rc;

	e->req = req;
	if ((rc = subject_parse(req, out, &e->s, "erase")) != CONTROL_OK) {
		free(e);
		return rc;
	}
	if (req->loop == NULL) {
		rc = subject_refuse(req, out, &e->s, "erase", CONTROL_FAIL, "%s",
		    "subject erase needs a running posternd");
		free(e);
		return rc;
	}
	e->suppress = json_get_bool(req->args, "suppress", 1);
	memset(&qe, 0, sizeof(qe));
	qe.account = e->s.account;
	qe.all_accounts = e->s.all_accounts;
	memcpy(qe.hash, e->s.hash, sizeof(qe.hash));
	qe.pseudonym = e->s.pseudo;
	qe.address = e->s.address;
	/* the opt-out that outlives the erasure: the suppression table's own
	 * record (src/account/suppress.c), reason erased, never expiring */
	memset(&sr, 0, sizeof(sr));
	sr.reason = SUPPRESS_ERASED;
	suppress_set_source(&sr, "subject.erase");
	sr.created = now_wall_ms();
	supp = suppress_format(&sr, &slen);
	if (e->suppress) {
		qe.suppression_key = e->s.key;
		qe.suppression_val = supp;
	}
	snprintf(entry, sizeof(entry), "{\"request\":\"%s\",\"kind\":\"erase\",\"time\":%llu}",
	    e->s.request, (unsigned long long)now_wall_ms());
	qe.record_key = e->s.key;
	qe.record_entry = entry;
	rc = queue_subject_erase(req->queue, &qe, control_audit_txn(req, 0), &e->counts,
	    subject_erased, e);
	free(supp);
	if (rc != 0) {
		rc = subject_refuse(req, out, &e->s, "erase", CONTROL_FAIL, "cannot erase: %s",
		    strerror(-rc));
		free(e);
		return rc;
	}
	return CONTROL_ASYNC;
}

/* ---- subject.restrict / subject.unrestrict ---- */

struct restrict_ctx {
	struct control_req *req;
	struct subject s;
	struct queue_subject_counts counts;
	int on;
};

static void
subject_restricted(void *arg, const struct outcome *o)
{
	struct restrict_ctx *e = arg;
	struct control_req *req = e->req;
	struct json_out *out = control_out(req);
	const char *kind = e->on ? "restrict" : "unrestrict";
	struct buf body;
	struct json_out j;

	if (o->kind != OUTCOME_TEMPFAIL)
		control_audit_committed(req);
	if (o->kind == OUTCOME_PERMFAIL && !e->on) {
		subject_refuse(req, out, &e->s, kind, CONTROL_FAIL, "%s", "the address is not restricted");
		control_finish(req, CONTROL_FAIL);
		free(e);
		return;
	}
	if (o->kind != OUTCOME_OK) {
		control_error(req, CONTROL_FAIL, "cannot %s: %s", kind, o->text);
		control_finish(req, CONTROL_FAIL);
		free(e);
		return;
	}
	buf_init(&body, 0);
	json_out_init(&j, &body);
	receipt_begin(&j, req, &e->s, kind);
	json_kv_bool(&j, "found", 1);
	json_kv_bool(&j, "restricted", e->on);
	json_kv_uint(&j, e->on ? "messages_held" : "messages_released", e->counts.messages);
	json_kv_uint(&j, e->on ? "recipients_held" : "recipients_released", e->counts.recipients);
	json_obj_end(&j);
	json_obj_begin(out);
	json_kv_str(out, "request", e->s.request);
	json_kv_bool(out, "restricted", e->on);
	json_kv_uint(out, e->on ? "messages_held" : "messages_released", e->counts.messages);
	json_kv_uint(out, e->on ? "recipients_held" : "recipients_released", e->counts.recipients);
	receipt_emit(req, out, &body);
	json_obj_end(out);
	buf_free(&body);
	crypto_wipe(e->s.address, sizeof(e->s.address));
	free(e);
	control_finish(req, CONTROL_OK);
}

static int
subject_cmd_restrict(struct control_req *req, struct json_out *out)
{
	struct restrict_ctx *e = xcalloc(1, sizeof(*e));
	struct queue_subject_erase qe;
	const char *reason = json_get_str(req->args, "reason", NULL);
	const char *kind;
	char entry[256];
	struct buf rec;
	struct json_out j;
	int rc;

	e->req = req;
	e->on = strcmp(req->cmd, "subject.restrict") == 0;
	kind = e->on ? "restrict" : "unrestrict";
	if ((rc = subject_parse(req, out, &e->s, kind)) != CONTROL_OK) {
		free(e);
		return rc;
	}
	if (e->on && (reason == NULL || *reason == '\0')) {
		rc = subject_refuse(req, out, &e->s, kind, CONTROL_USAGE, "%s",
		    "subject restrict needs --reason");
		free(e);
		return rc;
	}
	if (req->loop == NULL) {
		rc = subject_refuse(req, out, &e->s, kind, CONTROL_FAIL, "subject %s needs a running "
		    "posternd", kind);
		free(e);
		return rc;
	}
	memset(&qe, 0, sizeof(qe));
	qe.account = e->s.account;
	memcpy(qe.hash, e->s.hash, sizeof(qe.hash));
	qe.address = e->s.address;
	snprintf(entry, sizeof(entry), "{\"request\":\"%s\",\"kind\":\"%s\",\"time\":%llu}",
	    e->s.request, kind, (unsigned long long)now_wall_ms());
	qe.record_key = e->s.key;
	qe.record_entry = entry;
	buf_init(&rec, 0);
	if (e->on) {
		json_out_init(&j, &rec);
		json_obj_begin(&j);
		json_kv_str(&j, "reason", reason);
		json_kv_str(&j, "request", e->s.request);
		json_kv_uint(&j, "time", now_wall_ms());
		json_obj_end(&j);
		buf_append(&rec, "", 1);
	}
	rc = queue_subject_restrict(req->queue, &qe, e->s.key, e->on ? rec.data : NULL,
	    control_audit_txn(req, 0), &e->counts, subject_restricted, e);
	buf_free(&rec);
	if (rc != 0) {
		rc = subject_refuse(req, out, &e->s, kind, CONTROL_FAIL, "cannot %s: %s", kind,
		    strerror(-rc));
		free(e);
		return rc;
	}
	return CONTROL_ASYNC;
}

/* ---- receipt.pubkey ---- */

static int
receipt_cmd_pubkey(struct control_req *req, struct json_out *out)
{
	unsigned char priv[CRYPTO_ED25519_KEY_LEN], pub[CRYPTO_ED25519_KEY_LEN];
	char b64[CRYPTO_B64_SIZE(CRYPTO_ED25519_KEY_LEN)], err[256];

	str_copy(req->target, "receipt key", sizeof(req->target));
	if (receipt_key_load(req->cfg, req->loop != NULL, priv, pub, err, sizeof(err)) != 0)
		return control_error(req, CONTROL_FAIL, "%s", err);
	crypto_wipe(priv, sizeof(priv));
	crypto_base64_encode(pub, sizeof(pub), b64);
	json_obj_begin(out);
	json_kv_str(out, "algorithm", "ed25519");
	json_kv_str(out, "key", b64);
	json_obj_end(out);
	return CONTROL_OK;
}

static const struct control_cmd subject_cmds[] = {
	{ "subject.erase", CONTROL_ROLE_OPERATOR, 1, subject_cmd_erase },
	{ "subject.restrict", CONTROL_ROLE_OPERATOR, 1, subject_cmd_restrict },
	{ "subject.unrestrict", CONTROL_ROLE_OPERATOR, 1, subject_cmd_restrict },
	{ "subject.export", CONTROL_ROLE_OPERATOR, 0, subject_cmd_export },
	{ "subject.status", CONTROL_ROLE_OPERATOR, 0, subject_cmd_status },
	{ "receipt.pubkey", CONTROL_ROLE_OPERATOR, 0, receipt_cmd_pubkey },
};

void
cmd_subject_register(void)
{
	control_register(subject_cmds, ARRAY_SIZE(subject_cmds));
}
