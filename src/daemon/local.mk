# SPDX-License-Identifier: ISC
# src/daemon/: posternd: process life cycle, the module table, module glue.
libpostern_a_SOURCES += src/daemon/daemon.c src/daemon/queue_module.c \
	src/daemon/control_module.c src/daemon/delivery_module.c \
	src/daemon/smtpd_module.c src/daemon/auth_module.c src/daemon/feedback_module.c \
	src/daemon/spam_module.c src/daemon/sdnotify.c src/daemon/webhook_module.c \
	src/daemon/metrics_module.c
noinst_HEADERS += include/daemon.h
sbin_PROGRAMS += posternd
posternd_SOURCES = src/daemon/posternd.c
posternd_LDADD = $(POSTERN_LIBS)
dist_man_MANS += man/postern.conf.5 man/posternd.8
# Running as a service: sd_notify, journald, make install, the unit.
TESTS += tests/integration/test_service.py
EXTRA_DIST += tests/integration/test_service.py
# Prometheus metrics, checked with promtool
TESTS += tests/integration/test_metrics.py tests/integration/test_metrics_class.py
EXTRA_DIST += tests/integration/test_metrics.py tests/integration/test_metrics_class.py
