#!/usr/bin/python3
# armilter.py - a stand-in for OpenDMARC/OpenDKIM in the end-to-end tests:
# a milter that runs before dvmilter in smtpd_milters and adds an
# Authentication-Results header with its authserv-id, as a verifier does.
#
# What it reports for a message is looked up in RESULTS, a file of lines
# "ENVELOPE-SENDER RESINFO" (e.g. "ann@ext.example dmarc=pass
# header.from=ext.example"); a sender not listed gets "dmarc=none". With
# --strip it first removes every Authentication-Results header the client
# sent that claims its own authserv-id (RFC 8601 section 5), as a border
# verifier must. With --log it appends each header it sees, "NAME: VALUE"
# per line, and "--" after each message, so a test can see what a milter
# later in the chain is shown. Loopback only: its socket is a unix path.
import argparse
import sys

import Milter


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("--socket", required=True)
    p.add_argument("--authserv-id", required=True)
    p.add_argument("--results", required=True)
    p.add_argument("--strip", action="store_true")
    p.add_argument("--index", type=int, default=0,
                   help="where to insert the header (0: the top)")
    p.add_argument("--log")
    return p.parse_args()


ARGS = None


def claims(value, authserv_id):
    """Whether an Authentication-Results value names authserv_id."""
    head = value.strip().split(";", 1)[0].split()
    return bool(head) and head[0].strip('"').lower() == authserv_id.lower()


class ARMilter(Milter.Base):
    def __init__(self):
        self.sender = ""
        self.ar = []

    def envfrom(self, f, *rest):
        self.sender = f.strip("<>").lower()
        self.ar = []
        return Milter.CONTINUE

    def header(self, name, value):
        if name.lower() == "authentication-results":
            self.ar.append(value)
        if ARGS.log:
            with open(ARGS.log, "a", encoding="utf-8") as fp:
                fp.write("%s: %s\n" % (name, value))
        return Milter.CONTINUE

    def lookup(self):
        try:
            with open(ARGS.results, encoding="utf-8") as fp:
                for line in fp:
                    parts = line.strip().split(None, 1)
                    if len(parts) == 2 and parts[0].lower() == self.sender:
                        return parts[1]
        except FileNotFoundError:
            pass
        return "dmarc=none"

    def eom(self):
        if ARGS.log:
            with open(ARGS.log, "a", encoding="utf-8") as fp:
                fp.write("--\n")
        if ARGS.strip:
            # Indexes count the headers of this name, from 1; deleting
            # from the last keeps the earlier ones' indexes.
            for i in range(len(self.ar), 0, -1):
                if claims(self.ar[i - 1], ARGS.authserv_id):
                    self.chgheader("Authentication-Results", i, "")
        self.addheader("Authentication-Results",
                       "%s; %s" % (ARGS.authserv_id, self.lookup()),
                       ARGS.index)
        return Milter.CONTINUE


def main():
    global ARGS
    ARGS = parse_args()
    Milter.factory = ARMilter
    Milter.set_flags(Milter.ADDHDRS | Milter.CHGHDRS)
    Milter.runmilter("armilter", ARGS.socket, 60)
    return 0


if __name__ == "__main__":
    sys.exit(main())
