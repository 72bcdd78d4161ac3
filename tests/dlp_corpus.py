#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""dlp_corpus.py: deterministic corpus of positive and negative messages
for the sensitive-data detectors (issue 7).

    dlp_corpus.py OUTDIR [--count N] [--seed S]

writes OUTDIR/NNNN.eml and OUTDIR/manifest.json, which maps each file to
the number of values of each type (card, card_test, ssn, iban) a correct
detector finds in it, counting every MIME part where a value appears
(multipart/alternative carries it twice) and the Subject.

Values are generated from first principles, independently of the C
detector: card numbers from the IIN/length table with a Luhn digit,
SSNs in the valid ranges, IBANs with ISO 7064 check digits.  Negatives
are the look-alikes of the issue: order/invoice numbers that fail Luhn,
timestamps, phone numbers, tracking numbers, UUIDs, digits inside longer
runs, invalid SSN ranges and advertising numbers, IBANs with a wrong
check, bare nine digits without a keyword.  Containers: plain 7bit,
quoted-printable with soft breaks placed at random (often inside a
number), base64, HTML (numbers split by tags, digits as entities, &nbsp;
separators), multipart/alternative, nested multipart/mixed, CSV
attachments, forwarded message/rfc822 parts, numbers in the Subject (plain or
RFC 2047), ISO-8859-1.
Same seed, same bytes.
"""
import base64
import json
import os
import random
import sys

TYPES = ("card", "card_test", "ssn", "iban")

# (prefix, lengths) from the IIN table.
BRANDS = [
    ("4", (13, 16, 19)), ("51", (16,)), ("52", (16,)), ("53", (16,)), ("54", (16,)),
    ("55", (16,)), ("2221", (16,)), ("2500", (16,)), ("2720", (16,)), ("34", (15,)),
    ("37", (15,)), ("6011", (16, 19)), ("644", (16,)), ("649", (16,)), ("65", (16, 19)),
    ("3528", (16,)), ("3589", (16,)), ("300", (14,)), ("305", (14,)), ("36", (14,)),
    ("38", (14, 16)), ("62", (16, 19)), ("5018", (12, 16, 19)), ("6304", (16,)),
    ("6759", (16,)), ("2200", (16,)), ("2204", (16,)),
]

TEST_CARDS = [
    "4111111111111111", "4012888888881881", "4242424242424242", "5555555555554444",
    "5105105105105100", "378282246310005", "371449635398431", "6011111111111117",
    "6011000990139424", "30569309025904", "3530111333300000", "3566002020360505",
    "2223003122003222", "4000056655665556", "5200828282828210",
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
         "changes regards support team account summary payment received balance due "
         "reference customer number delivery address meeting tomorrow at the office").split()


def luhn_digit(body):
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def luhn_ok(num):
    return luhn_digit(num[:-1]) == num[-1]


class Gen:
    def __init__(self, seed):
        self.r = random.Random(seed)

    def digits(self, n):
        return "".join(self.r.choice("0123456789") for _ in range(n))

    def words(self, n):
        return " ".join(self.r.choice(WORDS) for _ in range(n))

    # ---- positives ----
    def card_number(self):
        while True:
            prefix, lens = self.r.choice(BRANDS)
            n = self.r.choice(lens)
            body = prefix + self.digits(n - len(prefix) - 1)
            num = body + luhn_digit(body)
            if num not in TEST_CARDS:
                return num

    def fmt_card(self, num):
        style = self.r.choice(("plain", "space", "dash", "space"))
        if style == "plain":
            return num
        sep = " " if style == "space" else "-"
        if len(num) == 15 and num[:2] in ("34", "37"):
            return sep.join((num[:4], num[4:10], num[10:]))
        if len(num) == 14:
            return sep.join((num[:4], num[4:10], num[10:]))
        groups = [num[i:i + 4] for i in range(0, len(num), 4)]
        if len(groups[-1]) < 3:
            last = groups.pop()
            groups[-1] += last
        return sep.join(groups)

    def ssn(self):
        while True:
            area = self.r.randint(1, 899)
            if area == 666:
                continue
            group = self.r.randint(1, 99)
            serial = self.r.randint(1, 9999)
            s = "%03d%02d%04d" % (area, group, serial)
            if s in ("078051120", "219099999", "123456789", "457555462"):
                continue
            return s

    def fmt_ssn(self, s):
        style = self.r.choice(("dash", "dash", "space", "bare"))
        if style == "dash":
            return "SSN %s-%s-%s" % (s[:3], s[3:5], s[5:]) if self.r.random() < 0.5 \
                else "%s-%s-%s" % (s[:3], s[3:5], s[5:])
        if style == "space":
            return "%s %s %s" % (s[:3], s[3:5], s[5:])
        return self.r.choice(("SSN: ", "social security number ", "SSN ")) + s

    def iban(self, valid=True):
        cc, pat = self.r.choice(IBAN_FORMATS)
        bban = ""
        for p in pat:
            if p == "n":
                bban += self.r.choice("0123456789")
            elif p == "a":
                bban += self.r.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
            else:
                bban += self.r.choice("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")
        num = int("".join(str(int(c, 36)) for c in bban + cc + "00"))
        check = 98 - num % 97
        if not valid:
            check = (check + self.r.randint(1, 96)) % 97 + 2
            if check == 98 - num % 97:
                check = (check % 97) + 2
        s = cc + "%02d" % check + bban
        if self.r.random() < 0.5:
            s = " ".join(s[i:i + 4] for i in range(0, len(s), 4))
        return s

    # ---- negatives ----
    def luhn_fail_number(self):
        prefix, lens = self.r.choice(BRANDS)
        n = self.r.choice(lens)
        body = prefix + self.digits(n - len(prefix) - 1)
        good = luhn_digit(body)
        bad = str((int(good) + self.r.randint(1, 9)) % 10)
        return body + bad

    def negative(self):
        k = self.r.randrange(16)
        r = self.r
        if k == 0:
            return "Order #%s" % self.luhn_fail_number()
        if k == 1:
            return "Invoice %s" % self.fmt_card(self.luhn_fail_number())
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
            # a card number inside a longer digit run (the run itself not
            # a valid card number)
            while True:
                run = self.digits(3) + self.card_number() + self.digits(2)
                if len(run) > 19 or not luhn_ok(run):
                    return "ref " + run
        if k == 11:
            area = r.choice((0, 666, r.randint(900, 999)))
            return "%03d-%02d-%04d" % (area, r.randint(1, 99), r.randint(1, 9999))
        if k == 12:
            return r.choice(("078-05-1120", "219-09-9999", "123-45-6789",
                             "%03d-00-%04d" % (r.randint(1, 899), r.randint(1, 9999)),
                             "%03d-%02d-0000" % (r.randint(1, 665), r.randint(1, 99))))
        if k == 13:
            return "IBAN %s" % self.iban(valid=False)
        if k == 14:
            return "code %s" % self.ssn()   # bare nine digits, no keyword
        return "total %d,%03d.%02d EUR, qty %d" % (r.randint(1, 99), r.randint(0, 999),
                                                  r.randint(0, 99), r.randint(1, 50))

    # ---- a message body: text lines with values and look-alikes ----
    def content(self, counts, positive):
        lines = []
        for _ in range(self.r.randint(2, 6)):
            parts = [self.words(self.r.randint(3, 10))]
            if self.r.random() < 0.6:
                parts.append(self.negative())
            lines.append(" ".join(parts) + ".")
        if positive:
            for _ in range(self.r.randint(1, 3)):
                t = self.r.choice(TYPES)
                if t == "card":
                    v = self.r.choice(("card ", "Visa: ", "", "pay with ")) + \
                        self.fmt_card(self.card_number())
                elif t == "card_test":
                    v = "test " + self.fmt_card(self.r.choice(TEST_CARDS))
                elif t == "ssn":
                    v = self.fmt_ssn(self.ssn())
                else:
                    v = self.r.choice(("IBAN ", "account ", "")) + self.iban()
                counts[t] += 1
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
            # never split an =XX escape
            for back in (1, 2):
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


def html_of(lines, rng):
    """HTML where digit groups may be split by tags or written as entities."""
    out = ["<html><body>"]
    for line in lines:
        s = ""
        for ch in line:
            if ch.isdigit() and rng.random() < 0.1:
                s += "&#%d;" % ord(ch)
            elif ch == " " and rng.random() < 0.1:
                s += "&nbsp;"
            elif ch.isdigit() and rng.random() < 0.05:
                s += "<span>%s</span>" % ch
            elif ch == "&":
                s += "&amp;"
            elif ch == "<":
                s += "&lt;"
            else:
                s += ch
        out.append("<p>%s</p>" % s)
    out.append("</body></html>")
    return "\r\n".join(out)


def leaf(ctype, body_text, rng, cte=None, extra="", charset="utf-8"):
    if cte is None:
        cte = rng.choice(("7bit", "quoted-printable", "base64"))
    if charset == "iso-8859-1":
        raw = body_text.encode("latin-1", "replace")
    else:
        raw = body_text.encode("utf-8")
    if cte == "base64":
        body = b64_lines(raw)
    elif cte == "quoted-printable":
        body = qp_encode(raw, rng)
    else:
        body = body_text.replace("\n", "\r\n")
    return ("Content-Type: %s; charset=%s%s\r\nContent-Transfer-Encoding: %s\r\n\r\n%s\r\n"
            % (ctype, charset, extra, cte, body))


def multipart(subtype, parts, boundary):
    s = "Content-Type: multipart/%s; boundary=\"%s\"\r\n\r\n" % (subtype, boundary)
    for p in parts:
        s += "--%s\r\n%s" % (boundary, p)
    return s + "--%s--\r\n" % boundary


def message(g, idx, positive):
    rng = g.r
    counts = dict.fromkeys(TYPES, 0)
    kind = rng.choice(("plain", "qp", "base64", "html", "alternative", "nested", "csv",
                       "latin1", "forward"))
    subject = g.words(4)
    if rng.random() < 0.25:
        subject, subj_counts = subject_with_counts(g, positive)
        for t in TYPES:
            counts[t] += subj_counts[t]
    if any(ord(c) > 127 for c in subject) or rng.random() < 0.3:
        subj_hdr = "=?UTF-8?B?%s?=" % base64.b64encode(subject.encode()).decode()
    else:
        subj_hdr = subject
    hdr = ("From: app@acme.test\r\nTo: user%d@example.test\r\nSubject: %s\r\n"
           "Message-ID: <%d@acme.test>\r\nMIME-Version: 1.0\r\n" % (idx, subj_hdr, idx))

    def text(mult=1):
        c = dict.fromkeys(TYPES, 0)
        lines = g.content(c, positive)
        for t in TYPES:
            counts[t] += c[t] * mult
        return lines

    if kind == "plain":
        body = leaf("text/plain", "\n".join(text()), rng, "7bit")
    elif kind == "qp":
        body = leaf("text/plain", "\n".join(text()), rng, "quoted-printable")
    elif kind == "base64":
        body = leaf("text/plain", "\n".join(text()), rng, "base64")
    elif kind == "latin1":
        body = leaf("text/plain", "caf\u00e9 \u00fcber\n" + "\n".join(text()), rng,
                    charset="iso-8859-1")
    elif kind == "forward":
        # message/rfc822: a forwarded message with its own Subject and body
        inner_subject, sc = subject_with_counts(g, positive)
        for t in TYPES:
            counts[t] += sc[t]
        inner = ("From: someone@example.test\r\nSubject: %s\r\n%s"
                 % (inner_subject, leaf("text/plain", "\n".join(text()), rng)))
        body = multipart("mixed", [leaf("text/plain", "\n".join(text()), rng),
                                   "Content-Type: message/rfc822\r\n\r\n" + inner],
                         "fwd-%d" % idx)
    elif kind == "html":
        body = leaf("text/html", html_of(text(), rng), rng)
    elif kind == "alternative":
        lines = text(mult=2)
        body = multipart("alternative", [leaf("text/plain", "\n".join(lines), rng),
                                         leaf("text/html", html_of(lines, rng), rng)],
                         "alt-%d" % idx)
    elif kind == "nested":
        lines = text(mult=2)
        alt = multipart("alternative", [leaf("text/plain", "\n".join(lines), rng),
                                        leaf("text/html", html_of(lines, rng), rng)],
                        "alt-%d" % idx)
        att = leaf("text/plain", "\n".join(text()), rng, extra="; name=\"notes.txt\"")
        img = ("Content-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\n%s\r\n"
               % b64_lines(bytes(rng.randrange(256) for _ in range(300))))
        body = multipart("mixed", [alt, att, img], "mix-%d" % idx)
    else:
        rows = ["name,value,amount"]
        c = dict.fromkeys(TYPES, 0)
        for i in range(rng.randint(3, 12)):
            v = g.negative().replace(",", " ") if rng.random() < 0.5 else g.words(1)
            if positive and rng.random() < 0.3:
                t = rng.choice(("card", "iban", "ssn"))
                v = {"card": lambda: g.fmt_card(g.card_number()),
                     "iban": g.iban, "ssn": lambda: g.fmt_ssn(g.ssn())}[t]()
                if t == "ssn" and not v[0].isdigit():
                    v = "SSN " + v.split()[-1]
                c[t] += 1
            rows.append("%s,%s,%d.%02d" % (rng.choice(WORDS), v, rng.randint(1, 999),
                                           rng.randint(0, 99)))
        if positive and sum(c.values()) == 0:
            rows.append("zed,%s,1.00" % g.fmt_card(g.card_number()))
            c["card"] += 1
        for t in TYPES:
            counts[t] += c[t]
        csv = leaf("text/csv", "\n".join(rows) + "\n", rng, "base64",
                   extra="; name=\"export.csv\"")
        body = multipart("mixed", [leaf("text/plain", "\n".join(text()), rng), csv],
                         "csv-%d" % idx)
    return hdr + body, counts, kind


def subject_with_counts(g, positive):
    c = dict.fromkeys(TYPES, 0)
    if positive:
        t = g.r.choice(("card", "ssn", "iban"))
        if t == "card":
            v = "Your card " + g.fmt_card(g.card_number())
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
        positive = g.r.random() < 0.5
        msg, counts, kind = message(g, i, positive)
        name = "%04d.eml" % i
        with open(os.path.join(out, name), "wb") as f:
            f.write(msg.encode("latin-1") if kind == "latin1" else msg.encode("utf-8"))
        manifest[name] = {"kind": kind, "counts": counts}
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
