# SPDX-License-Identifier: ISC
# src/ctl/: posternctl: argv parsing and printing only (the command
# handlers it calls, also offline, live in src/control/).
noinst_HEADERS += include/ctl.h
sbin_PROGRAMS += posternctl
posternctl_SOURCES = src/ctl/posternctl.c src/ctl/ctl.c src/ctl/ctl_queue.c \
	src/ctl/ctl_account.c src/ctl/ctl_review.c src/ctl/ctl_auth.c src/ctl/ctl_dkim.c src/ctl/ctl_scan.c src/ctl/ctl_scan.h \
	src/ctl/ctl_suppress.c src/ctl/ctl_backup.c \
	src/ctl/ctl_spam.c src/ctl/ctl_status.c src/ctl/ctl_subject.c src/ctl/ctl_retention.c
posternctl_LDADD = $(POSTERN_LIBS)
dist_man_MANS += man/posternctl.8
# Operating postern: status, delivery pause, config, setup, the CLI rules.
TESTS += tests/integration/test_ops_cli.py tests/integration/test_setup_real.py tests/integration/test_cli_rules.py
EXTRA_DIST += tests/integration/test_ops_cli.py tests/integration/test_setup_real.py tests/integration/test_cli_rules.py
