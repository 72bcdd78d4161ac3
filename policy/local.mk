# SPDX-License-Identifier: ISC
# policy/ module: sources appended to libpostern.a, see Makefile.am.
libpostern_a_SOURCES += policy/policy.c
noinst_HEADERS += include/policy.h include/queue.h
libpostern_a_SOURCES += policy/dkim.c
noinst_HEADERS += include/dkim.h
libpostern_a_SOURCES += policy/spf.c
noinst_HEADERS += include/spf.h
