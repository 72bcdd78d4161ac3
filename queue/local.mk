# SPDX-License-Identifier: ISC
# queue/ module: sources appended to libpostern.a, see Makefile.am.
