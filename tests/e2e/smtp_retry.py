#!/usr/bin/env python3
# smtp_retry.py - SMTP clients for the fault tests (tests/e2e/test_fault_*).
#
# smtp_retry.py load PORT FROM TO THREADS PER_THREAD OUT [SOURCE_ADDR]
#   Clients that behave like a sending MTA: THREADS sessions in parallel,
#   each sending PER_THREAD messages one after the other; a message that
#   gets a 4xx or loses its connection is sent again, byte for byte, until
#   it gets a 250 (or the deadline passes). The first try of every fifth
#   message hangs up right after the final dot without reading the reply,
#   as a client whose connection breaks there: the server has most likely
#   taken it, and it comes again. Every message has a Message-ID
#   of its own, <fault-T-N-RUN@client.test>. OUT gets one line per message
#   as soon as it is accepted, "MESSAGE-ID ATTEMPTS", and stderr one line
#   per refused attempt. Exit status 0 when every message got a 250, 1
#   when one got a 5xx or the deadline passed.
#
# smtp_retry.py once PORT FROM TO MESSAGE-ID KB [SOURCE_ADDR]
#   One try of one message of about KB kilobytes, the same bytes for the
#   same arguments; prints the server's code for it, or "dropped".
import os
import smtplib
import socket
import sys
import threading
import time

DEADLINE = 120.0	# seconds for the whole run


def message(sender, rcpt, mid, n):
    """A message with @n body lines of about 50 bytes."""
    body = "".join("line %d of message %s\r\n" % (i, mid) for i in range(n))
    return ("From: <%s>\r\nTo: <%s>\r\nSubject: fault test %s\r\n"
            "Message-ID: <%s>\r\nDate: Tue, 08 Dec 2026 04:00:00 +0000\r\n"
            "\r\n%s" % (sender, rcpt, mid, mid, body)).encode()


def send_once(port, src, sender, rcpt, data):
    """One SMTP transaction: None on 250, else the reason it failed and
    whether it is permanent."""
    try:
        s = smtplib.SMTP("127.0.0.1", port, local_hostname="client.test",
                         timeout=30, source_address=(src, 0))
    except (OSError, smtplib.SMTPException) as e:
        return ("connect: %s" % e, False)
    try:
        s.sendmail(sender, [rcpt], data)
        return None
    except smtplib.SMTPRecipientsRefused as e:
        code, msg = list(e.recipients.values())[0]
        return ("RCPT %d %s" % (code, msg), code >= 500)
    except smtplib.SMTPResponseException as e:
        return ("%d %s" % (e.smtp_code, e.smtp_error), e.smtp_code >= 500)
    except (OSError, smtplib.SMTPException) as e:
        return ("dropped: %s" % e, False)
    finally:
        try:
            s.quit()
        except (OSError, smtplib.SMTPException):
            s.close()


def send_and_hang_up(port, src, sender, rcpt, data):
    """A client that loses its connection right after the final dot,
    before it reads the reply: the server may well have taken the
    message, and the client will send it again."""
    try:
        s = smtplib.SMTP("127.0.0.1", port, local_hostname="client.test",
                         timeout=30, source_address=(src, 0))
        s.ehlo()
        s.mail(sender)
        s.rcpt(rcpt)
        if s.docmd("DATA")[0] == 354:
            s.send(data + b".\r\n")
        s.sock.shutdown(socket.SHUT_WR)
        s.sock.recv(1)
        s.close()
    except (OSError, smtplib.SMTPException):
        pass
    return ("hung up after the final dot, on purpose", False)


def once(argv):
    port, sender, rcpt, mid = int(argv[0]), argv[1], argv[2], argv[3]
    lines = max(1, int(argv[4]) * 1024 // (30 + len(mid)))
    src = argv[5] if len(argv) > 5 else "127.0.0.1"
    why = send_once(port, src, sender, rcpt, message(sender, rcpt, mid,
                                                     lines))
    if why is None:
        print(250)
    elif why[0][:3].isdigit():
        print(why[0][:3])
    elif why[0].startswith("RCPT "):
        print(why[0][5:8])
    else:
        print("dropped")
    return 0


def load(argv):
    port, sender, rcpt = int(argv[0]), argv[1], argv[2]
    threads, per = int(argv[3]), int(argv[4])
    out = open(argv[5], "a", buffering=1)
    src = argv[6] if len(argv) > 6 else "127.0.0.1"
    run = "%d-%d" % (os.getpid(), int(time.time()))
    lock = threading.Lock()
    failed = []
    end = time.monotonic() + DEADLINE

    def client(t):
        for n in range(per):
            mid = "fault-%d-%d-%s@client.test" % (t, n, run)
            data = message(sender, rcpt, mid, 20 + (t * per + n) % 40)
            attempts = 0
            while True:
                attempts += 1
                if attempts == 1 and n % 5 == 2:
                    why = send_and_hang_up(port, src, sender, rcpt, data)
                else:
                    why = send_once(port, src, sender, rcpt, data)
                if why is None:
                    with lock:
                        out.write("%s %d\n" % (mid, attempts))
                    break
                with lock:
                    sys.stderr.write("%s attempt %d: %s\n" %
                                     (mid, attempts, why[0]))
                if why[1] or time.monotonic() > end:
                    with lock:
                        failed.append(mid)
                    return
                time.sleep(0.2)

    ts = [threading.Thread(target=client, args=(t,)) for t in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    out.close()
    return 1 if failed else 0


if __name__ == "__main__":
    socket.setdefaulttimeout(30)
    if len(sys.argv) > 1 and sys.argv[1] == "once":
        sys.exit(once(sys.argv[2:]))
    if len(sys.argv) > 1 and sys.argv[1] == "load":
        sys.exit(load(sys.argv[2:]))
    sys.stderr.write("usage: smtp_retry.py load|once ...\n")
    sys.exit(2)
