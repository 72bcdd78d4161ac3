# SPDX-License-Identifier: ISC
# src/conf/: the configuration table and parser (postern.conf(5)).
libpostern_a_SOURCES += src/conf/config.c
noinst_HEADERS += include/config.h
