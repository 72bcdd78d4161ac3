# SPDX-License-Identifier: ISC
# src/daemon/: posternd: process life cycle, the module table, module glue.
libpostern_a_SOURCES += src/daemon/daemon.c src/daemon/queue_module.c \
	src/daemon/control_module.c src/daemon/delivery_module.c \
	src/daemon/smtpd_module.c src/daemon/auth_module.c src/daemon/feedback_module.c \
	src/daemon/spam_module.c
noinst_HEADERS += include/daemon.h
sbin_PROGRAMS += posternd
posternd_SOURCES = src/daemon/posternd.c
posternd_LDADD = $(POSTERN_LIBS)
dist_man_MANS += man/postern.conf.5 man/posternd.8
