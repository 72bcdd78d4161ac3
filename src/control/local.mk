# SPDX-License-Identifier: ISC
# src/control/: the control socket server, roles, audit, and the
# daemon-side command handlers (one file per command group).
libpostern_a_SOURCES += src/control/control.c src/control/cmd_queue.c \
	src/control/cmd_account.c src/control/cmd_dkim.c src/control/cmd_status.c src/control/control_int.h
noinst_HEADERS += include/control.h
TESTS += tests/integration/test_control_plane.py
EXTRA_DIST += tests/integration/test_control_plane.py
check_PROGRAMS += tests/unit/test_queue_audit
tests_unit_test_queue_audit_LDADD = $(POSTERN_LIBS)
TESTS += tests/unit/test_queue_audit
# Queue control by destination: list defaults and filters, summary.
TESTS += tests/integration/test_queue_ops.py
EXTRA_DIST += tests/integration/test_queue_ops.py
