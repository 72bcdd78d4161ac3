# SPDX-License-Identifier: ISC
# src/control/: the control socket server, roles, audit.
libpostern_a_SOURCES += src/control/control.c
noinst_HEADERS += include/control.h
