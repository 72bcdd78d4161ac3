# SPDX-License-Identifier: ISC
# smtp/ module: sources appended to libpostern.a, see Makefile.am.
libpostern_a_SOURCES += smtp/parse.c smtp/data.c smtp/server.c
noinst_HEADERS += include/smtp.h smtp/smtp_int.h
