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
posternctl_SOURCES = src/posternctl.c
posternctl_LDADD = $(POSTERN_LIBS)
dist_man_MANS += man/postern.conf.5 man/posternd.8 man/posternctl.8

# delivery (deliver helper): dns (the only c-ares user), routing, engine, bounces
libpostern_a_SOURCES += src/dns.c src/route.c src/bounce.c
noinst_HEADERS += include/dns.h include/route.h include/bounce.h tests/unit/testdns.h
check_PROGRAMS += tests/unit/test_dns tests/unit/test_route tests/unit/test_bounce
tests_unit_test_bounce_LDADD = $(POSTERN_LIBS)
tests_unit_test_dns_LDADD = $(POSTERN_LIBS)
tests_unit_test_route_LDADD = $(POSTERN_LIBS)
TESTS += tests/unit/test_dns tests/unit/test_route tests/unit/test_bounce
