#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""gen-unicode-digits.py: print the table of non-ASCII decimal digits
that policy/dlp.c folds to ASCII before the sensitive-data scan: every
code point with a Unicode decimal value (general category Nd) and every
one whose NFKC form is a single ASCII digit (superscripts, circled,
full-width, mathematical).  Rows are {first, last, value of first};
values go up by one, modulo 10, along a row.  Paste the output into
dlp.c's unicode_digits[] when moving to a newer Unicode version.
"""
import unicodedata

vals = {}
for cp in range(0x80, 0x110000):
    ch = chr(cp)
    v = unicodedata.decimal(ch, None)
    if v is None:
        n = unicodedata.normalize("NFKC", ch)
        if len(n) == 1 and n in "0123456789":
            v = int(n)
    if v is not None:
        vals[cp] = v
rows = []
for cp in sorted(vals):
    v = vals[cp]
    if rows and rows[-1][1] == cp - 1 and (rows[-1][2] + cp - rows[-1][0]) % 10 == v:
        rows[-1][1] = cp
    else:
        rows.append([cp, cp, v])
print("/* Unicode %s: %d rows, %d code points */" % (unicodedata.unidata_version, len(rows),
                                                   len(vals)))
line = "\t"
for a, b, v in rows:
    o = "{ 0x%x, 0x%x, %d }, " % (a, b, v)
    if len(line) + len(o) > 88:
        print(line.rstrip())
        line = "\t"
    line += o
print(line.rstrip())
