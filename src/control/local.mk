# SPDX-License-Identifier: ISC
# src/control/: the control socket server, roles, audit, and the
# daemon-side command handlers (one file per command group).
libpostern_a_SOURCES += src/control/control.c src/control/cmd_queue.c \
	src/control/cmd_account.c src/control/cmd_dkim.c src/control/cmd_review.c src/control/cmd_auth.c \
	src/control/cmd_suppress.c src/control/cmd_spam.c src/control/cmd_status.c \
	src/control/cmd_subject.c src/control/cmd_retention.c \
	src/control/control_int.h
noinst_HEADERS += include/control.h
TESTS += tests/integration/test_control_plane.py
EXTRA_DIST += tests/integration/test_control_plane.py
check_PROGRAMS += tests/unit/test_queue_audit
tests_unit_test_queue_audit_LDADD = $(POSTERN_LIBS)
TESTS += tests/unit/test_queue_audit
# The abuse review workflow end to end (issue 16): reviewer role as a real
# user, masked views, decisions, suspension, triggers, expiry.
TESTS += tests/integration/test_review.py tests/integration/test_review_masking.py
EXTRA_DIST += tests/integration/test_review.py tests/integration/test_review_masking.py
# issue 12 item 13: NUL refused by default; stored ones readable by queue show
TESTS += tests/integration/test_nul_bytes.py
EXTRA_DIST += tests/integration/test_nul_bytes.py
# issue 17: data-subject export, erase (raw-file scan), receipts, bad requests
TESTS += tests/integration/test_subject.py tests/integration/test_subject_restrict.py \
	tests/integration/test_held_retention.py
EXTRA_DIST += tests/integration/test_subject.py tests/integration/test_subject_restrict.py \
	tests/integration/test_held_retention.py
# Queue control by destination: list defaults and filters, summary, suspend.
TESTS += tests/integration/test_queue_control.py
EXTRA_DIST += tests/integration/test_queue_control.py
# issue 20 verifier: an operator's account write racing a status move
TESTS += tests/integration/test_account_cas.py
EXTRA_DIST += tests/integration/test_account_cas.py
