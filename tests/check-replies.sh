#!/bin/sh
# SPDX-License-Identifier: ISC
#
# check-replies.sh: every reply postern produces itself comes from the
# one catalogue in src/lib/outcome.c (include/outcome.h, enum reply_id;
# issue 11 item 7).  TAP, run by `make check`, on the sources of
# src/, smtp/, queue/ and policy/ with comments removed:
#
#  1. No outcome_set( call outside src/lib/outcome.c has a literal reply
#     code and enhanced code (`451, "4.3.0"`), even split over lines.
#     outcome_set() stays for outcomes that carry data from elsewhere:
#     a remote server's reply (smtp/reply.c), an owner's outcome.
#  2. Nor does any other call (a file's own reply helper taking a code
#     and an enhanced code would bring the scattered literals back).
#  3. No string literal holds a ready-made reply line ("550 5.1.1 ...").
#
# Usage: check-replies.sh [SRCDIR]; by default the source directory
# `make check` exports (POSTERN_SRCDIR).  Offenders are printed as TAP
# comments, file:line: text.

set -u
S=${1:-${POSTERN_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}}

files=$(cd "$S" && find src smtp queue policy -name '*.c' ! -path src/lib/outcome.c 2>/dev/null | sort)
if [ -z "$files" ]; then
	echo "1..0 # SKIP no sources under $S"
	exit 0
fi
# Files whose literals are still being converted (issue 11); this list
# must end empty.
KNOWN=""

echo "1..3"
cd "$S" || exit 1
# shellcheck disable=SC2086
perl -e '
	my %known = map { $_ => 1 } split " ", shift @ARGV;
	my $pair = qr/\b[245][0-9][0-9]\s*,\s*"[245]\.[0-9]{1,3}\.[0-9]{1,3}"/;
	my (@r1, @r2, @r3, @k);
	for my $f (@ARGV) {
		open(my $fh, "<", $f) or die "$f: $!";
		local $/;
		my $src = <$fh>;
		close $fh;
		# Comments become spaces, newlines kept: line numbers stay true.
		$src =~ s{(/\*.*?\*/|//[^\n]*|"(?:\\.|[^"\\\n])*"|\x27(?:\\.|[^\x27\\\n])*\x27)}{
			my $t = $1;
			$t =~ m{^/} ? ($t =~ s/[^\n]/ /gr) : $t
		}gse;
		my $line = sub { 1 + (substr($src, 0, $_[0]) =~ tr/\n//) };
		my (%in_call, @hits);
		while ($src =~ /\boutcome_set\s*\(/g) {
			my ($start, $depth, $i) = ($-[0], 1, $+[0]);
			for (; $i < length($src) && $depth > 0; $i++) {
				my $c = substr($src, $i, 1);
				$depth++ if $c eq "(";
				$depth-- if $c eq ")";
			}
			my $args = substr($src, $start, $i - $start);
			if ($args =~ $pair) {
				$in_call{$start + $-[0]} = 1;
				push @hits, [1, $f . ":" . $line->($start) . ": " . ($args =~ s/\s+/ /gr)];
			}
		}
		while ($src =~ /$pair/g) {
			my $at = $-[0];
			next if $in_call{$at};
			my ($l) = $f . ":" . $line->($at) . ": " .
			    ((split /\n/, $src)[$line->($at) - 1] =~ s/^\s+//r);
			push @hits, [2, $l];
		}
		while ($src =~ /"[245][0-9][0-9][ -][245]\.[0-9]{1,3}\.[0-9]{1,3}[ \\"]/g) {
			push @hits, [3, $f . ":" . $line->($-[0]) . ": " .
			    ((split /\n/, $src)[$line->($-[0]) - 1] =~ s/^\s+//r)];
		}
		for my $h (@hits) {
			if ($known{$f}) { push @k, $h->[1]; next; }
			push @{ ($h->[0] == 1 ? \@r1 : $h->[0] == 2 ? \@r2 : \@r3) }, $h->[1];
		}
	}
	print "# known, to convert: $_\n" for @k;
	my $n = 0;
	for ([\@r1, "no outcome_set() call outside src/lib/outcome.c has a literal code and enhanced code"],
	    [\@r2, "no other literal code + enhanced code pair outside src/lib/outcome.c"],
	    [\@r3, "no string literal holds a ready-made reply line"]) {
		my ($r, $what) = @$_;
		$n++;
		print((@$r ? "not ok" : "ok") . " $n - $what\n");
		print "# $_\n" for @$r;
	}
	exit((@r1 || @r2 || @r3) ? 1 : 0);
' "$KNOWN" $files
