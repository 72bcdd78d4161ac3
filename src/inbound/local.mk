# SPDX-License-Identifier: ISC
# src/inbound/: the receiving composition root: listeners and relay.
libpostern_a_SOURCES += src/inbound/listener.c src/inbound/relay.c \
	src/inbound/policy_params.c src/inbound/feedback.c src/inbound/dnsbl.c
noinst_HEADERS += include/listener.h include/relay.h include/feedback.h
check_PROGRAMS += tests/unit/test_listener
tests_unit_test_listener_LDADD = $(POSTERN_LIBS)
TESTS += tests/unit/test_listener
TESTS += tests/integration/test_smtp_relay.py tests/integration/test_smtp_submission.py \
	tests/integration/test_smtp_backpressure.py
EXTRA_DIST += tests/integration/test_smtp_relay.py tests/integration/test_smtp_submission.py \
	tests/integration/test_smtp_backpressure.py \
	tests/integration/rawsmtp.py
# The feedback listener and the one-click endpoint (issue 14).
TESTS += tests/integration/test_feedback.py tests/integration/test_feedback_msgid.py \
	tests/integration/test_feedback_verp.py
EXTRA_DIST += tests/integration/test_feedback.py tests/integration/test_feedback_msgid.py \
	tests/integration/test_feedback_verp.py
# issue 12 item 12: TLS handshake, command and session deadlines
TESTS += tests/integration/test_smtp_deadlines.py
EXTRA_DIST += tests/integration/test_smtp_deadlines.py
# one slow message holds neither the loop nor the others' 250 (issue 20 item 4)
TESTS += tests/integration/test_eom_pool.py
EXTRA_DIST += tests/integration/test_eom_pool.py
TESTS += tests/integration/test_eom_inline.py tests/integration/test_eom_inline_faults.py
EXTRA_DIST += tests/integration/test_eom_inline.py tests/integration/test_eom_inline_faults.py
# issue 20 item 3: several SMTP event loops (smtpd_loops)
TESTS += tests/integration/test_smtpd_loops.py tests/integration/test_loops_existing.sh
EXTRA_DIST += tests/integration/test_smtpd_loops.py tests/integration/test_loops_existing.sh
# the relay's address-hash memo stores the writer's own hashes (issue 20 item 2)
TESTS += tests/integration/test_addr_memo.py
EXTRA_DIST += tests/integration/test_addr_memo.py
