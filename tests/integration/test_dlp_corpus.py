#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""test_dlp_corpus: precision and recall of the sensitive-data scan.

Generates the deterministic ground-truth corpus (tests/dlp_corpus.py,
labelled with python3-stdnum) into a fresh directory under the build
tree, runs `posternctl scan --json` over every message and compares the
counts per type with the manifest: TP = min(expected, found), FP =
found - expected when positive, FN the other way round.  Prints
precision and recall per type (and the misses per message kind) and
fails unless precision is 1.000 and recall at least 0.99 for every type
(issue 18).  TAP output.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

TYPES = ("card", "card_test", "ssn", "iban")
PRECISION = 1.0
RECALL = 0.99
COUNT = 1500


def main():
    builddir = os.environ.get("POSTERN_BUILDDIR", ".")
    srcdir = os.environ.get("POSTERN_SRCDIR", os.path.join(os.path.dirname(__file__), "..", ".."))
    ctl = os.path.join(builddir, "posternctl")
    tmp = tempfile.mkdtemp(prefix="dlp-corpus-", dir=builddir if os.access(builddir, os.W_OK)
                           else None)
    try:
        print("1..%d" % (6 + 2 * len(TYPES)))
        corpus = os.path.join(tmp, "corpus")
        subprocess.run([sys.executable, os.path.join(srcdir, "tests", "dlp_corpus.py"), corpus,
                        "--count", str(COUNT), "--seed", "7"], check=True)
        with open(os.path.join(corpus, "manifest.json")) as f:
            manifest = json.load(f)
        files = sorted(manifest)
        res = subprocess.run([ctl, "scan", "--json"] + [os.path.join(corpus, n) for n in files],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        found = {}
        for line in res.stdout.splitlines():
            obj = json.loads(line)
            found[os.path.basename(obj["file"])] = obj
        print("%s 1 - posternctl scan read all %d messages (exit %d)" % (
            "ok" if len(found) == len(files) and res.returncode in (0, 1) else "not ok",
            len(files), res.returncode))
        limits = [n for n in files if n in found and found[n]["limit"] != "none"]
        print("%s 2 - no MIME limit hit in the corpus%s" % ("not ok" if limits else "ok",
              (" (%s)" % ", ".join(limits[:5])) if limits else ""))
        leaked = [f["value"] for obj in found.values() for f in obj["findings"]
                  if sum(c.isdigit() for c in f["value"]) > 4
                  or "*" not in f["value"]]
        print("%s 3 - every printed value is masked to its last four%s" % (
            "not ok" if leaked else "ok", (" (%d not)" % len(leaked)) if leaked else ""))
        # Text output of one message with one of each type in it.
        one = os.path.join(tmp, "one.eml")
        with open(one, "wb") as f:
            f.write(b"Subject: card 4556 7375 8689 9855\r\n\r\n"
                    b"SSN 536-22-1234, IBAN DE89 3704 0044 0532 0130 00\r\n")
        res = subprocess.run([ctl, "scan", one], stdout=subprocess.PIPE, text=True)
        want = ["%s: part=1 type=ssn confidence=95 offset=4 value=***-**-1234" % one,
                "%s: part=1 type=iban brand=DE confidence=98 offset=22 "
                "value=DE** **** **** **** **30 00" % one,
                "%s: part=0 type=card brand=visa confidence=95 offset=5 "
                "value=**** **** **** 9855" % one]
        good = res.stdout.splitlines() == want and res.returncode == 1
        print("%s 4 - text output masks values, exit 1 when found" % ("ok" if good else "not ok"))
        if not good:
            print("#   got %r" % res.stdout)
        # Exit status, the same with and without --json (issue 18 #18).
        clean = os.path.join(tmp, "clean.eml")
        with open(clean, "wb") as f:
            f.write(b"Subject: hello\r\n\r\nnothing here 1234\r\n")
        limited = os.path.join(tmp, "limited.eml")
        with open(limited, "wb") as f:
            f.write(b"Content-Type: multipart/mixed; boundary=\"" + b"x" * 1000 + b"\"\r\n\r\n"
                    b"--x\r\n\r\nnothing\r\n")
        want = [([one], 1), ([clean], 0), ([limited], 3), ([os.path.join(tmp, "nope.eml")], 2),
                ([clean, limited], 3), ([limited, one], 1), ([one, os.path.join(tmp, "no")], 2)]
        got = []
        for files_, rc in want:
            for mode in ([], ["--json"]):
                r = subprocess.run([ctl, "scan"] + mode + files_, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
                if r.returncode != rc:
                    got.append("%s %s: %d, want %d" % (" ".join(mode), [os.path.basename(x)
                               for x in files_], r.returncode, rc))
        print("%s 5 - exit status 0 clean, 1 found, 2 error, 3 limit; same with --json%s" % (
            "not ok" if got else "ok", (" (%s)" % "; ".join(got)) if got else ""))
        r = subprocess.run([ctl, "scan", "--json", limited], stdout=subprocess.PIPE, text=True)
        obj = json.loads(r.stdout or "{}")
        good = obj.get("limit") == "boundary" and obj.get("counts") == dict.fromkeys(TYPES, 0)
        print("%s 6 - --json names the limit and counts every type, zeros included" % (
            "ok" if good else "not ok"))
        n = 7
        for t in TYPES:
            tp = fp = fn = 0
            wrong = []
            for name in files:
                exp = manifest[name]["counts"][t]
                got = found.get(name, {}).get("counts", {}).get(t, 0)
                tp += min(exp, got)
                fp += max(0, got - exp)
                fn += max(0, exp - got)
                if exp != got:
                    wrong.append("%s(%s): want %d got %d" % (name, manifest[name]["kind"], exp,
                                                             got))
            precision = tp / (tp + fp) if tp + fp else 1.0
            recall = tp / (tp + fn) if tp + fn else 1.0
            print("# %-9s tp=%d fp=%d fn=%d precision=%.4f recall=%.4f" % (
                t, tp, fp, fn, precision, recall))
            for w in wrong[:10]:
                print("#   %s" % w)
            ok_p = precision >= PRECISION and tp > 0
            ok_r = recall >= RECALL and tp > 0
            print("%s %d - %s precision %.4f >= %.3f" % ("ok" if ok_p else "not ok", n, t,
                                                        precision, PRECISION))
            print("%s %d - %s recall %.4f >= %.2f" % ("ok" if ok_r else "not ok", n + 1, t,
                                                     recall, RECALL))
            n += 2
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
