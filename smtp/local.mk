# SPDX-License-Identifier: ISC
# smtp/ module: sources appended to libpostern.a, see Makefile.am.
noinst_HEADERS += include/smtp.h
