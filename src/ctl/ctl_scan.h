/* SPDX-License-Identifier: ISC */
/*
 * ctl_scan.h: `posternctl scan`, offline sensitive-data scan of .eml
 * files (src/ctl_scan.c).  ARGV[0] is "scan".
 */
#ifndef POSTERN_CTL_SCAN_H
#define POSTERN_CTL_SCAN_H

int ctl_scan_main(int argc, char **argv);

#endif
