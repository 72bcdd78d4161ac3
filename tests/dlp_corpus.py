#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""dlp_corpus.py: deterministic ground-truth corpus for the sensitive-data
detectors (issues 7 and 18).

    dlp_corpus.py OUTDIR [--count N] [--seed S]

writes OUTDIR/NNNN.eml and OUTDIR/manifest.json, which maps each file to
its kind and the number of values of each type (card, card_test, ssn,
iban) a correct detector finds in it, counting every MIME part where a
value appears (multipart/alternative carries it twice; a value in an
HTML attribute and in the text twice) and the Subject.

Ground truth comes from Debian's python3-stdnum, never from postern's
code: every card number is checked with stdnum.luhn, every IBAN with
stdnum.iban (check digits from stdnum.iso7064.mod_97_10), every SSN with
stdnum.us.ssn, every ISBN near-miss with stdnum.isbn.  A generated value
is labelled positive only when the validator says it is valid *and* it
is written the way the detection policy (postern.conf(5), "Sensitive
data") counts: a card is an IIN/length of the table below plus Luhn; an
SSN written 3-2-4 with dashes or dots, or with blanks or no separator
only next to its keyword (same line, a label line before, an HTML cell or a
CSV column header); a look-alike that a validator accepts but the policy
excludes (a Luhn-valid number glued to a SKU, a spaced 3-2-4 phone
number) is labelled 0 and named in the kind.

Formats: contiguous; grouped by spaces, dashes, dots, double spaces,
tabs, U+00A0 / U+2007 / U+202F, with U+200B / U+00AD inside, NUL-split;
full-width and Arabic-Indic digits; four-digit groups with a short last
group (13-19 digits); an expiry / CVV after the number; label words glued
on the left ("No.", "PAN/", "Visa-", "card_") and "/MMYY" on the right;
lower- and mixed-case IBANs; SSN context on the line before, in the cell
before, in a CSV header.  Containers: 7bit, quoted-printable (soft breaks
inside numbers), base64, HTML (tags inside numbers, entities, &nbsp;,
line breaks in numbers, values in href/value attributes),
multipart/alternative, nested multipart/mixed, CSV attachments,
message/rfc822 plain and base64-encoded (with a base64 inner part), a
boundary of 71-200 characters, 900 padding header fields (over 64 KiB)
before Content-Type, format=flowed with soft breaks inside numbers,
charsets UTF-16 (BOM, none LE, BE), ISO-8859-1/2/5/7/15, Windows-1250/
1251/1252, numbers in the Subject (plain or RFC 2047), and mixed
messages carrying every type.  Same seed, same bytes.
"""
import base64
import json
import os
import random
import sys

from stdnum import iban as std_iban
from stdnum import isbn as std_isbn
from stdnum import luhn as std_luhn
from stdnum.iso7064 import mod_97_10
from stdnum.us import ssn as std_ssn

TYPES = ("card", "card_test", "ssn", "iban")

# (prefix, lengths): the published IIN ranges (see policy/dlp.c's table
# for the sources) — written out here again on purpose, not imported.
BRANDS = [
    ("4", (13, 16, 19)), ("51", (16,)), ("52", (16,)), ("53", (16,)), ("54", (16,)),
    ("55", (16,)), ("2221", (16,)), ("2500", (16,)), ("2720", (16,)), ("34", (15,)),
    ("37", (15,)), ("6011", (16, 19)), ("644", (16,)), ("649", (16,)), ("65", (16, 19)),
    ("3528", (16,)), ("3589", (16, 19)), ("300", (14,)), ("305", (14,)), ("3095", (14, 16)),
    ("36", (14,)), ("38", (14, 16)), ("62", (16, 17, 18, 19)), ("81", (16,)),
    ("5018", (12, 16, 19)), ("6304", (16,)), ("6759", (16,)), ("2200", (16,)),
    ("2204", (16, 19)),
]

# Published test numbers (Stripe, Adyen, Braintree, Worldpay, the schemes).
TEST_CARDS = [
    "4111111111111111", "4012888888881881", "4242424242424242", "5555555555554444",
    "5105105105105100", "378282246310005", "371449635398431", "6011111111111117",
    "6011000990139424", "30569309025904", "3530111333300000", "3566002020360505",
    "2223003122003222", "4000056655665556", "5200828282828210", "6011981111111113",
    "3056930009020004", "4111111145551142", "6304000000000000",
]

# Countries whose BBAN we generate: (code, BBAN pattern: n digit, a capital, c either).
IBAN_FORMATS = [
    ("DE", "n" * 18), ("FR", "n" * 10 + "c" * 11 + "n" * 2), ("ES", "n" * 20),
    ("AT", "n" * 16), ("BE", "n" * 12), ("NL", "aaaa" + "n" * 10),
    ("GB", "aaaa" + "n" * 14), ("IT", "a" + "n" * 10 + "c" * 12), ("CH", "n" * 5 + "c" * 12),
    ("PL", "n" * 24), ("NO", "n" * 11), ("IE", "aaaa" + "n" * 14), ("SE", "n" * 20),
    ("DK", "n" * 14), ("FI", "n" * 14), ("PT", "n" * 21), ("LU", "nnn" + "c" * 13),
]

WORDS = ("the order was shipped today and your invoice is attached please review "
         "the details below thanks for your business we will contact you if anything "
         "changes regards support team summary payment received balance due "
         "reference customer delivery address meeting tomorrow at the office").split()

NBSP, FIGSP, NNBSP, ZWSP, SHY = "\u00a0", "\u2007", "\u202f", "\u200b", "\u00ad"


def luhn_complete(body):
    return body + std_luhn.calc_check_digit(body)


def brand_ok(num):
    """Card per the policy: a prefix/length of the table and Luhn (stdnum)."""
    return std_luhn.is_valid(num) and any(
        num.startswith(p) and len(num) in lens for p, lens in BRANDS)


class Gen:
    def __init__(self, seed):
        self.r = random.Random(seed)
        self.charset = None     # set while writing a part in a legacy charset

    def digits(self, n):
        return "".join(self.r.choice("0123456789") for _ in range(n))

    def words(self, n):
        return " ".join(self.r.choice(WORDS) for _ in range(n))

    # ---- positives ----
    def card_number(self):
        while True:
            prefix, lens = self.r.choice(BRANDS)
            n = self.r.choice(lens)
            num = luhn_complete(prefix + self.digits(n - len(prefix) - 1))
            if num not in TEST_CARDS and brand_ok(num):
                return num

    def groups(self, num):
        """The printed grouping: 4-6-5 Amex, 4-6-4 Diners, else fours."""
        if len(num) == 15 and num[:2] in ("34", "37"):
            return [num[:4], num[4:10], num[10:]]
        if len(num) == 14 and self.r.random() < 0.5:
            return [num[:4], num[4:10], num[10:]]
        return [num[i:i + 4] for i in range(0, len(num), 4)]

    def fmt_card(self, num, plain_only=False):
        """NUM written in one of the formats of issues 7 and 18 (one the
        current part's charset can carry)."""
        v = self.fmt_card_any(num, plain_only)
        if self.charset is not None:
            try:
                v.encode(self.charset)
            except UnicodeEncodeError:
                v = " ".join(self.groups(num))
        return v

    def fmt_card_any(self, num, plain_only=False):
        r = self.r
        styles = ["plain", "space", "dash", "space", "dot", "double", "tab", "nbsp", "figsp",
                  "nnbsp", "zwsp", "shy", "fullwidth", "arabic", "label", "slash", "expiry",
                  "expcvv"]
        style = "plain" if plain_only else r.choice(styles)
        g = self.groups(num)
        if style == "plain":
            return num
        if style == "space":
            return " ".join(g)
        if style == "dash":
            return "-".join(g)
        if style == "dot":
            return ".".join(g)
        if style == "double":
            return "  ".join(g)
        if style == "tab":
            return "\t".join(g)
        if style == "nbsp":
            return r.choice((NBSP, "&nbsp;" if False else NBSP + " ")).join(g)
        if style == "figsp":
            return FIGSP.join(g)
        if style == "nnbsp":
            return NNBSP.join(g)
        if style == "zwsp":
            return ZWSP.join(g) if r.random() < 0.5 else " ".join(g[:-1]) + " " + \
                g[-1][:1] + ZWSP + g[-1][1:]
        if style == "shy":
            return SHY.join(g)
        if style == "fullwidth":
            return " ".join("".join(chr(0xff10 + int(c)) for c in x) for x in g)
        if style == "arabic":
            return " ".join("".join(chr(0x0660 + int(c)) for c in x) for x in g)
        if style == "label":
            return r.choice(("No.", "Nr.", "PAN/", "Visa-", "card_", "no.")) + num
        if style == "slash":
            return num + "/%02d%02d" % (r.randint(1, 12), r.randint(26, 35))
        if style == "expiry":
            if len(g) == 4 and all(len(x) == 4 for x in g):
                return " ".join(g) + " %02d%02d" % (r.randint(1, 12), r.randint(26, 35))
            return " ".join(g)
        # expcvv
        if len(g) == 4 and all(len(x) == 4 for x in g):
            return " ".join(g) + " %02d%02d %03d" % (r.randint(1, 12), r.randint(26, 35),
                                                      r.randint(100, 999))
        return " ".join(g)

    def ssn(self):
        while True:
            s = "%03d%02d%04d" % (self.r.randint(1, 899), self.r.randint(1, 99),
                                  self.r.randint(1, 9999))
            if std_ssn.is_valid(s):
                return s

    def fmt_ssn(self, s):
        """Returns (text, context-needed-lines-before) — text may span lines."""
        r = self.r
        style = r.choice(("dash", "dash", "kwdash", "kwspace", "kwdot", "dot", "kwbare",
                          "labelline", "labelbare"))
        a, g, n = s[:3], s[3:5], s[5:]
        if style == "dash":
            return "%s-%s-%s" % (a, g, n)
        if style == "kwdash":
            return "SSN %s-%s-%s" % (a, g, n)
        if style == "kwspace":
            return r.choice(("SSN ", "ssn: ", "SSN\t")) + "%s %s %s" % (a, g, n)
        if style == "kwdot":
            return "SSN %s.%s.%s" % (a, g, n)
        if style == "dot":
            return "%s.%s.%s" % (a, g, n)
        if style == "kwbare":
            return r.choice(("SSN: ", "social security number ", "SSN ")) + s
        if style == "labelline":
            return "\nSocial Security Number:\n%s-%s-%s" % (a, g, n)
        return "\n" + r.choice(("Social Security Number:", "SSN", "Your SSN")) + "\n" + s

    def iban(self, valid=True, case="upper"):
        cc, pat = self.r.choice(IBAN_FORMATS)
        while True:
            bban = ""
            for p in pat:
                if p == "n":
                    bban += self.r.choice("0123456789")
                elif p == "a":
                    bban += self.r.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
                else:
                    bban += self.r.choice("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")
            check = mod_97_10.calc_check_digits(bban + cc)
            if not valid:
                check = "%02d" % ((int(check) + self.r.randint(1, 90)) % 97 + 2)
            s = cc + check + bban
            if std_iban.is_valid(s) == valid:
                break
        if self.r.random() < 0.5:
            s = " ".join(s[i:i + 4] for i in range(0, len(s), 4))
        elif self.r.random() < 0.2:
            s = "-".join(s[i:i + 4] for i in range(0, len(s), 4))
        if case == "lower":
            s = s.lower()
        elif case == "mixed":
            s = s[0] + s[1:].lower()
        return s

    # ---- near misses (labelled 0 by validator or by policy) ----
    def luhn_fail_number(self):
        prefix, lens = self.r.choice(BRANDS)
        n = self.r.choice(lens)
        body = prefix + self.digits(n - len(prefix) - 1)
        good = std_luhn.calc_check_digit(body)
        return body + str((int(good) + self.r.randint(1, 9)) % 10)

    def isbn10(self):
        """A valid ISBN-10: try check digits until stdnum accepts one."""
        b = self.digits(9)
        for c in "0123456789X":
            if std_isbn.is_valid(b + c):
                return b + c
        raise AssertionError("no ISBN-10 check digit for " + b)

    def negative(self):
        r = self.r
        k = r.randrange(26)
        if k == 0:
            return "Order #%s" % self.luhn_fail_number()
        if k == 1:
            # grouped, and no printed card + CVV either (4-4-4-4-3 whose
            # first sixteen digits would be a card by themselves)
            while True:
                num = self.luhn_fail_number()
                if len(num) <= 16 or not brand_ok(num[:16]):
                    return "Invoice %s" % " ".join(self.groups(num))
        if k == 2:
            return "sent 2026-%02d-%02dT%02d:%02d:%02d.%03dZ" % (
                r.randint(1, 12), r.randint(1, 28), r.randint(0, 23), r.randint(0, 59),
                r.randint(0, 59), r.randint(0, 999))
        if k == 3:
            return "ts %d" % r.randint(1600000000000, 1800000000000)
        if k == 4:
            return r.choice(("call +1 %d 555 %04d", "phone (%d) 555-%04d",
                             "tel +44 20 %d %04d")) % (r.randint(200, 999), r.randint(0, 9999))
        if k == 5:
            return "+49%s" % self.digits(11)
        if k == 6:
            return "UPS 1Z%s%s" % ("".join(r.choice("ABCDEFGHJKLMNPRSTUVWXYZ0123456789")
                                           for _ in range(6)), self.digits(10))
        if k == 7:
            d = "94" + self.digits(20)
            return "USPS " + (" ".join(d[i:i + 4] for i in range(0, 22, 4))
                              if r.random() < 0.5 else d)
        if k == 8:
            return "FedEx 7%s" % self.digits(11)
        if k == 9:
            h = "".join(r.choice("0123456789abcdef") for _ in range(32))
            return "id %s-%s-%s-%s-%s" % (h[:8], h[8:12], h[12:16], h[16:20], h[20:])
        if k == 10:
            # a card number inside a longer digit run (the run not a card)
            while True:
                run = self.digits(3) + self.card_number() + self.digits(2)
                if len(run) > 19 or not std_luhn.is_valid(run):
                    return "ref " + run
        if k == 11:
            area = r.choice((0, 666, r.randint(900, 999)))
            v = "%03d-%02d-%04d" % (area, r.randint(1, 99), r.randint(1, 9999))
            assert not std_ssn.is_valid(v.replace("-", ""))
            return v
        if k == 12:
            return r.choice(("078-05-1120", "219-09-9999",
                             "%03d-00-%04d" % (r.randint(1, 899), r.randint(1, 9999)),
                             "%03d-%02d-0000" % (r.randint(1, 665), r.randint(1, 99))))
        if k == 13:
            return "IBAN %s" % self.iban(valid=False)
        if k == 14:
            return "code %s" % self.ssn()   # bare nine digits, no keyword
        if k == 15:
            # Luhn-valid card-shaped number glued to a SKU (policy: not a card)
            return r.choice(("SKU-", "ORD-", "ref_", "item/", "A1.")) + self.card_number()
        if k == 16:
            # ISBN-13 and ISBN-10 (stdnum-valid; not cards: no IIN)
            b = std_isbn.to_isbn13(self.isbn10())
            assert std_isbn.is_valid(b)
            return r.choice(("ISBN %s", "ISBN-13: %s")) % b
        if k == 17:
            # spaced 3-2-4 without SSN context (issue 18 #16)
            return r.choice(("Widget A %03d %02d %04d", "Tel. %03d %02d %04d",
                             "part %03d %02d.%04d")) % (r.randint(1, 899), r.randint(1, 99),
                                                        r.randint(1, 9999))
        if k == 18:
            # a Luhn-valid number whose prefix is no card's (order numbers)
            while True:
                num = luhn_complete(r.choice("0179") + self.digits(14))
                if not brand_ok(num):
                    return "Order %s" % num
        if k == 19:
            # five groups of four, not a card with an expiry
            while True:
                g = [self.digits(4) for _ in range(5)]
                if int(g[4][:2]) > 12 and g[4][:2] != "20":
                    return "Account " + " ".join(g)
        if k == 20:
            return "price %d.%02d, version %d.%d.%d" % (r.randint(1, 9999), r.randint(0, 99),
                                                        r.randint(0, 9), r.randint(0, 99),
                                                        r.randint(0, 999))
        if k == 21:
            return "ISBN %s" % self.isbn10()
        if k == 22:
            return "ip 10.%d.%d.%d" % (r.randint(0, 255), r.randint(0, 255), r.randint(0, 255))
        if k == 23:
            return "decimal %s.%s" % (self.card_number(), self.digits(2))
        if k == 24:
            return "IBAN %s" % self.iban(valid=False, case="lower")
        return "total %d,%03d.%02d EUR, qty %d" % (r.randint(1, 99), r.randint(0, 999),
                                                  r.randint(0, 99), r.randint(1, 50))

    # ---- a message body: text lines with values and look-alikes ----
    def value(self, t, counts):
        if t == "card":
            v = self.r.choice(("card ", "Visa: ", "", "pay with ", "Kreditkarte ")) + \
                self.fmt_card(self.card_number())
        elif t == "card_test":
            v = "test " + self.fmt_card(self.r.choice(TEST_CARDS))
        elif t == "ssn":
            v = self.fmt_ssn(self.ssn())
        else:
            v = self.r.choice(("IBAN ", "account ", "")) + \
                self.iban(case=self.r.choice(("upper", "upper", "lower", "mixed")))
        counts[t] += 1
        return v

    def content(self, counts, positive, every_type=False):
        lines = []
        for _ in range(self.r.randint(2, 6)):
            parts = [self.words(self.r.randint(3, 10))]
            if self.r.random() < 0.7:
                parts.append(self.negative())
            lines.append(" ".join(parts) + ".")
        if positive:
            types = list(TYPES) if every_type else \
                [self.r.choice(TYPES) for _ in range(self.r.randint(1, 3))]
            for t in types:
                v = self.value(t, counts)
                lines.insert(self.r.randrange(len(lines) + 1),
                             "%s %s, %s." % (self.words(3), v, self.words(2)))
        return lines


def qp_encode(data, rng):
    """QP of bytes DATA with soft breaks at random columns (often inside numbers)."""
    out = []
    for line in data.split(b"\n"):
        enc = ""
        for ch in line:
            c = chr(ch)
            if ch == 61 or ch > 126 or (ch < 32 and ch != 9):
                enc += "=%02X" % ch
            else:
                enc += c
        if enc.endswith(" ") or enc.endswith("\t"):
            enc = enc[:-1] + "=%02X" % ord(enc[-1])
        while len(enc) > 0:
            width = rng.randint(12, 75)
            if len(enc) <= width:
                out.append(enc)
                enc = ""
                break
            cut = width
            for back in (1, 2):         # never split an =XX escape
                if enc[cut - back] == "=":
                    cut -= back
            out.append(enc[:cut] + "=")
            enc = enc[cut:]
        else:
            out.append("")
    return "\r\n".join(out)


def b64_lines(data):
    b = base64.b64encode(data).decode()
    return "\r\n".join(b[i:i + 76] for i in range(0, len(b), 76))


def html_of(lines, rng, counts=None):
    """HTML where digit groups may be split by tags, entities or line breaks.
    With COUNTS, some values also go into an href (counted once more)."""
    out = ["<html><body>"]
    for line in lines:
        s = ""
        for ch in line:
            if ch.isdigit() and rng.random() < 0.1:
                s += "&#%d;" % ord(ch)
            elif ch == " " and rng.random() < 0.1:
                s += rng.choice(("&nbsp;", "\r\n", "&nbsp; "))
            elif ch.isdigit() and rng.random() < 0.05:
                s += "<span>%s</span>" % ch
            elif ch == "&":
                s += "&amp;"
            elif ch == "<":
                s += "&lt;"
            elif ch == "\n":
                s += "<br>"
            else:
                s += ch
        out.append("<p>%s</p>" % s)
    if counts is not None:
        g = Gen(rng.random())
        num = g.card_number()
        out.append('<a class="btn" href="https://pay.example.test/c?pan=%s&amp;x=1">pay</a>'
                   % num)
        counts["card"] += 1
        s = g.ssn()
        out.append("<table><tr><td>SSN</td><td>%s</td></tr></table>" % s)
        counts["ssn"] += 1
    out.append("</body></html>")
    return "\r\n".join(out)


def encode_text(text, charset):
    if charset in ("utf-16", "utf-16-nobom", "utf-16be"):
        raw = {"utf-16": lambda t: t.encode("utf-16-le") and b"\xff\xfe" + t.encode("utf-16-le"),
               "utf-16-nobom": lambda t: t.encode("utf-16-le"),
               "utf-16be": lambda t: t.encode("utf-16-be")}[charset](text)
        return raw, "utf-16" if charset != "utf-16be" else "utf-16be"
    return text.encode(charset), charset


def leaf(ctype, body_text, rng, cte=None, extra="", charset="utf-8"):
    if cte is None:
        cte = rng.choice(("7bit", "quoted-printable", "base64"))
    raw, label = encode_text(body_text, charset)
    if cte == "base64":
        body = b64_lines(raw)
    elif cte == "quoted-printable":
        body = qp_encode(raw, rng)
    else:
        body = raw.decode("latin-1").replace("\r\n", "\n").replace("\n", "\r\n")   # 8bit: bytes as latin-1
    return ("Content-Type: %s; charset=%s%s\r\nContent-Transfer-Encoding: %s\r\n\r\n%s\r\n"
            % (ctype, label, extra, cte, body))


def multipart(subtype, parts, boundary):
    s = "Content-Type: multipart/%s; boundary=\"%s\"\r\n\r\n" % (subtype, boundary)
    for p in parts:
        s += "--%s\r\n%s" % (boundary, p)
    return s + "--%s--\r\n" % boundary


# Charsets and a local word each, encodable in it (NBSP too).
CHARSETS = [
    ("iso-8859-1", "caf\u00e9 \u00fcber"), ("iso-8859-15", "\u20ac co\u00fbt"),
    ("iso-8859-2", "\u0141\u00f3d\u017a"), ("iso-8859-5", "\u0441\u0447\u0435\u0442"),
    ("iso-8859-7", "\u03bb\u03bf\u03b3\u03b1\u03c1\u03b9\u03b1\u03c3\u03bc\u03cc\u03c2"),
    ("windows-1250", "\u0141\u00f3d\u017a \u201e"), ("windows-1251", "\u0441\u0447\u0451\u0442"),
    ("windows-1252", "caf\u00e9 \u201cok\u201d"),
]

KINDS = ("plain", "qp", "base64", "html", "alternative", "nested", "csv", "charset",
         "forward", "forward_b64", "long_boundary", "padded_header", "utf16", "flowed",
         "nul", "mixed")


def flowed_of(lines, rng):
    """RFC 3676 text: long lines broken after a space, often inside a number."""
    out = []
    for line in lines:
        line = line.replace("\n", " ")
        while len(line) > 20:
            cut = line.find(" ", rng.randint(8, 20))
            if cut < 0 or cut >= len(line) - 1:
                break
            out.append(line[:cut + 1])      # trailing space: soft break
            line = line[cut + 1:]
        out.append((" " + line) if line.startswith((" ", ">", "From ")) else line)
    return "\n".join(out)


def message(g, idx, positive):
    rng = g.r
    counts = dict.fromkeys(TYPES, 0)
    kind = rng.choice(KINDS)
    subject = g.words(4)
    if rng.random() < 0.25:
        subject, subj_counts = subject_with_counts(g, positive)
        for t in TYPES:
            counts[t] += subj_counts[t]
    if any(ord(c) > 127 for c in subject) or rng.random() < 0.3:
        subj_hdr = "=?UTF-8?B?%s?=" % base64.b64encode(subject.encode()).decode()
    else:
        subj_hdr = subject
    hdr = ("From: a@example.com\r\nTo: user%d@example.org\r\nSubject: %s\r\n"
           "Message-ID: <%d@example.com>\r\nMIME-Version: 1.0\r\n" % (idx, subj_hdr, idx))

    def text(mult=1, every_type=False):
        c = dict.fromkeys(TYPES, 0)
        lines = g.content(c, positive, every_type)
        for t in TYPES:
            counts[t] += c[t] * mult
        return lines

    def ascii_text(mult=1):
        # lines for parts that must stay 7bit-safe in a 7bit leaf
        return text(mult)

    if kind == "plain":
        body = leaf("text/plain", "\n".join(ascii_text()), rng, "8bit")
    elif kind == "qp":
        body = leaf("text/plain", "\n".join(text()), rng, "quoted-printable")
    elif kind == "base64":
        body = leaf("text/plain", "\n".join(text()), rng, "base64")
    elif kind == "charset":
        cs, word = rng.choice(CHARSETS)
        g.charset = cs
        t = "\n".join([word] + text())
        g.charset = None
        body = leaf("text/plain", t, rng, rng.choice(("quoted-printable", "base64")), charset=cs)
    elif kind == "utf16":
        cs = rng.choice(("utf-16", "utf-16-nobom", "utf-16be"))
        body = leaf("text/plain", "\n".join(text()), rng, "base64", charset=cs)
    elif kind == "flowed":
        body = leaf("text/plain", flowed_of(text(), rng), rng,
                    rng.choice(("quoted-printable", "base64")), extra="; format=flowed")
    elif kind == "nul":
        c = dict.fromkeys(TYPES, 0)
        lines = [g.words(5) + "."]
        for _ in range(rng.randint(0, 2) if positive else 0):
            num = g.card_number()
            lines.append("card " + "\0".join(g.groups(num)))
            c["card"] += 1
        lines.append(g.negative())
        for t in TYPES:
            counts[t] += c[t]
        body = leaf("application/octet-stream", "\n".join(lines), rng, "base64",
                    extra="; name=\"export.txt\"")
    elif kind in ("forward", "forward_b64"):
        inner_subject, sc = subject_with_counts(g, positive)
        for t in TYPES:
            counts[t] += sc[t]
        inner = ("From: someone@example.com\r\nSubject: %s\r\nMIME-Version: 1.0\r\n%s"
                 % (inner_subject, leaf("text/plain", "\n".join(text()), rng,
                                        "base64" if kind == "forward_b64" else None)))
        if kind == "forward_b64":
            part = ("Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n"
                    + b64_lines(inner.encode("latin-1")) + "\r\n")
        else:
            part = "Content-Type: message/rfc822\r\n\r\n" + inner
        body = multipart("mixed", [leaf("text/plain", "\n".join(text()), rng), part],
                         "fwd-%d" % idx)
    elif kind == "html":
        c = dict.fromkeys(TYPES, 0)
        h = html_of(text(), rng, c if positive and rng.random() < 0.5 else None)
        for t in TYPES:
            counts[t] += c[t]
        body = leaf("text/html", h, rng)
    elif kind == "alternative":
        lines = text(mult=2)
        body = multipart("alternative", [leaf("text/plain", "\n".join(lines), rng),
                                         leaf("text/html", html_of(lines, rng), rng)],
                         "alt-%d" % idx)
    elif kind == "long_boundary":
        b = "".join(rng.choice("abcdefxyz0123456789") for _ in range(rng.randint(71, 200)))
        body = multipart("mixed", [leaf("text/plain", "\n".join(text()), rng, "base64"),
                                   leaf("text/plain", "\n".join(text()), rng)], b)
    elif kind == "padded_header":
        pad = "".join("X-Pad-%d: %s\r\n" % (i, "p" * 70) for i in range(900))
        hdr += pad
        body = leaf("text/plain", "\n".join(text()), rng, "base64")
    elif kind == "nested":
        lines = text(mult=2)
        alt = multipart("alternative", [leaf("text/plain", "\n".join(lines), rng),
                                        leaf("text/html", html_of(lines, rng), rng)],
                        "alt-%d" % idx)
        att = leaf("text/plain", "\n".join(text()), rng, extra="; name=\"notes.txt\"")
        img = ("Content-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\n%s\r\n"
               % b64_lines(bytes(rng.randrange(256) for _ in range(300))))
        body = multipart("mixed", [alt, att, img], "mix-%d" % idx)
    elif kind == "mixed":
        # every type at once, over several encodings and charsets
        cs, word = rng.choice(CHARSETS[:2])
        g.charset = cs
        t = "\n".join([word] + text(every_type=True))
        g.charset = None
        parts = [leaf("text/plain", t, rng, "quoted-printable", charset=cs),
                 leaf("text/html", html_of(text(every_type=True), rng), rng, "base64"),
                 leaf("text/plain", "\n".join(text(every_type=True)), rng, "base64",
                      charset="utf-16")]
        body = multipart("mixed", parts, "mixed-%d" % idx)
    else:
        body = csv_message(g, idx, positive, counts, text)
    return hdr + body, counts, kind


def csv_message(g, idx, positive, counts, text):
    rng = g.r
    ssn_col = positive and rng.random() < 0.5
    rows = ["name,ssn,amount" if ssn_col else "name,value,amount"]
    c = dict.fromkeys(TYPES, 0)
    for _ in range(rng.randint(3, 12)):
        v = g.negative().replace(",", " ") if rng.random() < 0.5 else g.words(1)
        if ssn_col:
            # the column header is the context: bare nine digits
            if rng.random() < 0.5:
                v = g.ssn()
                c["ssn"] += 1
            else:
                v = g.words(1)
        elif positive and rng.random() < 0.3:
            t = rng.choice(("card", "iban", "ssn"))
            if t == "card":
                v = " ".join(g.groups(g.card_number()))
            elif t == "iban":
                v = g.iban()
            else:
                s = g.ssn()
                v = "%s-%s-%s" % (s[:3], s[3:5], s[5:])
            c[t] += 1
        rows.append("%s,%s,%d.%02d" % (rng.choice(WORDS), v, rng.randint(1, 999),
                                       rng.randint(0, 99)))
    if positive and sum(c.values()) == 0:
        rows.append("zed,%s,1.00" % " ".join(g.groups(g.card_number())))
        c["card"] += 1
    for t in TYPES:
        counts[t] += c[t]
    csv = leaf("text/csv", "\n".join(rows) + "\n", rng, "base64", extra="; name=\"export.csv\"")
    return multipart("mixed", [leaf("text/plain", "\n".join(text()), rng), csv], "csv-%d" % idx)


def subject_with_counts(g, positive):
    c = dict.fromkeys(TYPES, 0)
    if positive:
        t = g.r.choice(("card", "ssn", "iban"))
        if t == "card":
            v = "Your card " + " ".join(g.groups(g.card_number()))
        elif t == "ssn":
            s = g.ssn()
            v = "SSN %s-%s-%s" % (s[:3], s[3:5], s[5:])
        else:
            v = "IBAN " + g.iban()
        c[t] += 1
        return v, c
    return "Order " + g.negative(), c


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: dlp_corpus.py OUTDIR [--count N] [--seed S]")
    out = sys.argv[1]
    count, seed = 400, 7
    args = sys.argv[2:]
    for i in range(0, len(args) - 1, 2):
        if args[i] == "--count":
            count = int(args[i + 1])
        elif args[i] == "--seed":
            seed = int(args[i + 1])
    os.makedirs(out, exist_ok=True)
    g = Gen(seed)
    manifest = {}
    for i in range(count):
        positive = g.r.random() < 0.6
        msg, counts, kind = message(g, i, positive)
        name = "%04d.eml" % i
        with open(os.path.join(out, name), "wb") as f:
            f.write(msg.encode("latin-1"))     # parts hold their bytes as latin-1
        manifest[name] = {"kind": kind, "counts": counts}
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
