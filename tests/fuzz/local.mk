# SPDX-License-Identifier: ISC
#
# tests/fuzz/: libFuzzer targets and their seed corpora (see README).
# Each target tests/fuzz/fuzz_NAME is built from fuzz_NAME.c + replay.c:
# in a normal build it is a TAP test replaying tests/fuzz/corpus/NAME/
# in `make check`; with --enable-fuzzing (clang) replay.c is empty, the
# binary is a libFuzzer fuzzer, and tests/fuzz/run-fuzzers.sh runs it.
#
# To add a target, append its three lines below (and nothing else):
#   FUZZ_TARGETS += tests/fuzz/fuzz_NAME
#   tests_fuzz_fuzz_NAME_SOURCES = tests/fuzz/fuzz_NAME.c tests/fuzz/replay.c
#   tests_fuzz_fuzz_NAME_LDADD = $(FUZZ_LDADD)

FUZZ_TARGETS =
FUZZ_LDADD = $(POSTERN_LIBS) $(FUZZ_LINK)

# config: config_parse() and the value helpers
FUZZ_TARGETS += tests/fuzz/fuzz_config
tests_fuzz_fuzz_config_SOURCES = tests/fuzz/fuzz_config.c tests/fuzz/replay.c
tests_fuzz_fuzz_config_LDADD = $(FUZZ_LDADD)

# dkim: From: parser, relaxed canonicalisation, Ed25519 signer (policy/dkim_*.c)
FUZZ_TARGETS += tests/fuzz/fuzz_dkim
tests_fuzz_fuzz_dkim_SOURCES = tests/fuzz/fuzz_dkim.c tests/fuzz/replay.c
tests_fuzz_fuzz_dkim_LDADD = $(FUZZ_LDADD)

# smtp_cmd: the pure SMTP command parsers (smtp/parse.c; private header)
FUZZ_TARGETS += tests/fuzz/fuzz_smtp_cmd
tests_fuzz_fuzz_smtp_cmd_SOURCES = tests/fuzz/fuzz_smtp_cmd.c tests/fuzz/replay.c
tests_fuzz_fuzz_smtp_cmd_LDADD = $(FUZZ_LDADD)
tests_fuzz_fuzz_smtp_cmd_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/smtp

# smtp_session: a whole SMTP server session over an in-memory transport
FUZZ_TARGETS += tests/fuzz/fuzz_smtp_session
tests_fuzz_fuzz_smtp_session_SOURCES = tests/fuzz/fuzz_smtp_session.c tests/fuzz/replay.c
tests_fuzz_fuzz_smtp_session_LDADD = $(FUZZ_LDADD)

# log_scrub: addresses in remote replies replaced by pseudonyms (src/lib/log.c)
FUZZ_TARGETS += tests/fuzz/fuzz_log_scrub
tests_fuzz_fuzz_log_scrub_SOURCES = tests/fuzz/fuzz_log_scrub.c tests/fuzz/replay.c
tests_fuzz_fuzz_log_scrub_LDADD = $(FUZZ_LDADD)

# journal: the erasure journal's parsers (queue/journal.c; private header)
FUZZ_TARGETS += tests/fuzz/fuzz_journal
tests_fuzz_fuzz_journal_SOURCES = tests/fuzz/fuzz_journal.c tests/fuzz/replay.c
tests_fuzz_fuzz_journal_LDADD = $(FUZZ_LDADD)
tests_fuzz_fuzz_journal_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/queue

# queue_record: stored message / recipient records (queue/records.c; private header)
FUZZ_TARGETS += tests/fuzz/fuzz_queue_record
tests_fuzz_fuzz_queue_record_SOURCES = tests/fuzz/fuzz_queue_record.c tests/fuzz/replay.c
tests_fuzz_fuzz_queue_record_LDADD = $(FUZZ_LDADD)
tests_fuzz_fuzz_queue_record_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/queue

# json: the control protocol's JSON parser (src/json.c), round trip
FUZZ_TARGETS += tests/fuzz/fuzz_json
tests_fuzz_fuzz_json_SOURCES = tests/fuzz/fuzz_json.c tests/fuzz/replay.c
tests_fuzz_fuzz_json_LDADD = $(FUZZ_LDADD)
# account: the stored account record (src/account.c)
FUZZ_TARGETS += tests/fuzz/fuzz_account
tests_fuzz_fuzz_account_SOURCES = tests/fuzz/fuzz_account.c tests/fuzz/replay.c
tests_fuzz_fuzz_account_LDADD = $(FUZZ_LDADD)
# mime: the MIME parser, the sensitive-data scan and redaction (issue 7)
FUZZ_TARGETS += tests/fuzz/fuzz_mime
tests_fuzz_fuzz_mime_SOURCES = tests/fuzz/fuzz_mime.c tests/fuzz/replay.c
tests_fuzz_fuzz_mime_LDADD = $(FUZZ_LDADD)

# dlp: the detectors, their folding, and mime_to_text() with every charset (issue 18)
FUZZ_TARGETS += tests/fuzz/fuzz_dlp
tests_fuzz_fuzz_dlp_SOURCES = tests/fuzz/fuzz_dlp.c tests/fuzz/replay.c
tests_fuzz_fuzz_dlp_LDADD = $(FUZZ_LDADD)

# smtp_reply: the client's SMTP reply parser and EHLO keyword reader
FUZZ_TARGETS += tests/fuzz/fuzz_smtp_reply
tests_fuzz_fuzz_smtp_reply_SOURCES = tests/fuzz/fuzz_smtp_reply.c tests/fuzz/replay.c
tests_fuzz_fuzz_smtp_reply_LDADD = $(FUZZ_LDADD)

# dns_answer: the DNS answer parser behind the resolver (src/dns.c)
FUZZ_TARGETS += tests/fuzz/fuzz_dns_answer
tests_fuzz_fuzz_dns_answer_SOURCES = tests/fuzz/fuzz_dns_answer.c tests/fuzz/replay.c
tests_fuzz_fuzz_dns_answer_LDADD = $(FUZZ_LDADD)

# spam: the spam tokenizer, rules and scorer (policy/spam*.c, issue 15)
FUZZ_TARGETS += tests/fuzz/fuzz_spam
tests_fuzz_fuzz_spam_SOURCES = tests/fuzz/fuzz_spam.c tests/fuzz/replay.c
tests_fuzz_fuzz_spam_LDADD = $(FUZZ_LDADD)

# report: the feedback listener's DSN/ARF parser and the tokens (issue 14)
FUZZ_TARGETS += tests/fuzz/fuzz_report
tests_fuzz_fuzz_report_SOURCES = tests/fuzz/fuzz_report.c tests/fuzz/replay.c
tests_fuzz_fuzz_report_LDADD = $(FUZZ_LDADD)
# review_view: the reviewer's masked view and the fingerprint (policy/review_view.c, issue 16)
FUZZ_TARGETS += tests/fuzz/fuzz_review_view
tests_fuzz_fuzz_review_view_SOURCES = tests/fuzz/fuzz_review_view.c tests/fuzz/replay.c
tests_fuzz_fuzz_review_view_LDADD = $(FUZZ_LDADD)
# dbfile: data.mdb's meta pages and tree pages, checked before LMDB maps it (queue/dbfile.c)
FUZZ_TARGETS += tests/fuzz/fuzz_dbfile
tests_fuzz_fuzz_dbfile_SOURCES = tests/fuzz/fuzz_dbfile.c tests/fuzz/replay.c
tests_fuzz_fuzz_dbfile_LDADD = $(FUZZ_LDADD)
tests_fuzz_fuzz_dbfile_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/queue

# receipt: the data-subject request receipt checker (src/control/cmd_subject.c)
FUZZ_TARGETS += tests/fuzz/fuzz_receipt
tests_fuzz_fuzz_receipt_SOURCES = tests/fuzz/fuzz_receipt.c tests/fuzz/replay.c
tests_fuzz_fuzz_receipt_LDADD = $(FUZZ_LDADD)

# dest_class: metrics_delivery_classes and the destination classifier (src/outbound/dest_class.c, issue 19)
FUZZ_TARGETS += tests/fuzz/fuzz_dest_class
tests_fuzz_fuzz_dest_class_SOURCES = tests/fuzz/fuzz_dest_class.c tests/fuzz/replay.c
tests_fuzz_fuzz_dest_class_LDADD = $(FUZZ_LDADD)

# ---- shared rules (no per-target edits below) ----
check_PROGRAMS += $(FUZZ_TARGETS)
if !FUZZING
TESTS += $(FUZZ_TARGETS)
endif
EXTRA_DIST += tests/fuzz/corpus tests/fuzz/README tests/fuzz/run-fuzzers.sh

# Used by run-fuzzers.sh: build the fuzzers, then list them.
fuzz-targets: $(FUZZ_TARGETS)
fuzz-list:
	@for t in $(FUZZ_TARGETS); do echo $$t; done
.PHONY: fuzz-targets fuzz-list

