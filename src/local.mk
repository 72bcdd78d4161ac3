# SPDX-License-Identifier: ISC
# src/: entry points, composition root, config, log, dns, tls, delivery.
libpostern_a_SOURCES += \
	src/buf.c \
	src/config.c \
	src/control.c \
	src/ctl.c \
	src/ctl_queue.c \
	src/daemon.c \
	src/log.c \
	src/outcome.c \
	src/queue_module.c \
	src/json.c \
	src/util.c

noinst_HEADERS = \
	include/buf.h \
	include/config.h \
	include/control.h \
	include/ctl.h \
	include/daemon.h \
	include/json.h \
	include/log.h \
	include/outcome.h \
	include/util.h

sbin_PROGRAMS += posternd posternctl
posternd_SOURCES = src/posternd.c
posternd_LDADD = $(POSTERN_LIBS)
posternctl_SOURCES = src/posternctl.c src/ctl_dkim.c src/ctl_scan.c src/ctl_scan.h
posternctl_LDADD = $(POSTERN_LIBS)
dist_man_MANS += man/postern.conf.5 man/posternd.8 man/posternctl.8

# smtpfront: TLS (OpenSSL), listeners, relay composition root, accounts.
libpostern_a_SOURCES += src/tls.c
noinst_HEADERS += include/tls.h
check_PROGRAMS += tests/unit/test_tls
tests_unit_test_tls_LDADD = $(POSTERN_LIBS)
TESTS += tests/unit/test_tls
libpostern_a_SOURCES += src/account.c
noinst_HEADERS += include/account.h
check_PROGRAMS += tests/unit/test_account
tests_unit_test_account_LDADD = $(POSTERN_LIBS)
TESTS += tests/unit/test_account
libpostern_a_SOURCES += src/listener.c src/relay.c src/ctl_account.c
noinst_HEADERS += include/listener.h include/relay.h
check_PROGRAMS += tests/unit/test_listener
tests_unit_test_listener_LDADD = $(POSTERN_LIBS)
TESTS += tests/unit/test_listener
TESTS += tests/integration/test_smtp_relay.py tests/integration/test_smtp_submission.py
EXTRA_DIST += tests/integration/test_smtp_relay.py tests/integration/test_smtp_submission.py \
	tests/integration/rawsmtp.py

# delivery (deliver helper): dns (the only c-ares user), routing, engine, bounces
libpostern_a_SOURCES += src/dns.c src/route.c src/bounce.c src/delivery.c
noinst_HEADERS += include/dns.h include/route.h include/bounce.h include/delivery.h tests/unit/testdns.h
check_PROGRAMS += tests/unit/test_dns tests/unit/test_route tests/unit/test_bounce
tests_unit_test_bounce_LDADD = $(POSTERN_LIBS)
tests_unit_test_dns_LDADD = $(POSTERN_LIBS)
tests_unit_test_route_LDADD = $(POSTERN_LIBS)
TESTS += tests/unit/test_dns tests/unit/test_route tests/unit/test_bounce
TESTS += tests/integration/test_delivery.py tests/integration/test_delivery_tls.py \
	tests/integration/test_delivery_retry.py tests/integration/test_delivery_reuse.py \
	tests/integration/test_delivery_e2e.py
EXTRA_DIST += tests/integration/test_delivery.py tests/integration/test_delivery_tls.py \
	tests/integration/test_delivery_retry.py tests/integration/test_delivery_reuse.py \
	tests/integration/test_delivery_e2e.py
