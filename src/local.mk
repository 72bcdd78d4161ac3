# SPDX-License-Identifier: ISC
# src/: entry points, composition root, config, log, dns, tls, delivery.
libpostern_a_SOURCES += \
	src/buf.c \
	src/config.c \
	src/daemon.c \
	src/log.c \
	src/outcome.c \
	src/util.c

noinst_HEADERS = \
	include/buf.h \
	include/config.h \
	include/daemon.h \
	include/log.h \
	include/outcome.h \
	include/util.h

sbin_PROGRAMS += posternd posternctl
posternd_SOURCES = src/posternd.c
posternd_LDADD = $(POSTERN_LIBS)
posternctl_SOURCES = src/posternctl.c src/ctl_scan.c src/ctl_scan.h
posternctl_LDADD = $(POSTERN_LIBS)
dist_man_MANS += man/postern.conf.5 man/posternd.8
