#!/usr/bin/python3
"""A real SMTP server on loopback for Meterdesk's tests (Debian's python3-aiosmtpd).

    smtp_server.py --port P --folder DIR [--tls starttls|tls|none]
                   [--cert PEM --key PEM] [--login USER:PASSWORD]

Each message it accepts is written to DIR as NNNNNN.eml (the bytes as
received) with NNNNNN.rcpt (the envelope's recipients, one per line) before
the server answers 250, so a client that saw the answer finds the file.
Prints "ready PORT" once it takes connections; stops when stdin closes.
"""
import argparse
import os
import ssl
import sys
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Saver:
    def __init__(self, folder):
        self.folder = folder
        self.count = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.count += 1
            n = self.count
        base = os.path.join(self.folder, "%06d" % n)
        with open(base + ".rcpt.tmp", "w") as f:
            f.write("\n".join(envelope.rcpt_tos) + "\n")
        with open(base + ".eml.tmp", "wb") as f:
            f.write(envelope.original_content or envelope.content)
        os.rename(base + ".rcpt.tmp", base + ".rcpt")
        os.rename(base + ".eml.tmp", base + ".eml")
        return "250 2.0.0 Ok: queued as T%06d" % n


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--folder", required=True)
    p.add_argument("--tls", choices=["starttls", "tls", "none"], default="none")
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--login")
    a = p.parse_args()

    context = None
    if a.tls != "none":
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(a.cert, a.key)

    kwargs = {}
    if a.login:
        user, password = a.login.split(":", 1)

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = (isinstance(auth_data, LoginPassword)
                  and auth_data.login.decode() == user and auth_data.password.decode() == password)
            return AuthResult(success=ok, handled=False)

        # (aiosmtpd counts only STARTTLS as TLS for auth_require_tls: on a
        # connection that is TLS from the start, it would offer no login.)
        kwargs.update(authenticator=authenticator, auth_required=True,
                      auth_require_tls=a.tls == "starttls")
    if a.tls == "starttls":
        kwargs.update(tls_context=context, require_starttls=True)
    elif a.tls == "tls":
        kwargs.update(ssl_context=context)

    controller = Controller(Saver(a.folder), hostname="127.0.0.1", port=a.port,
                            server_hostname="localhost", ready_timeout=20, **kwargs)
    controller.start()
    print("ready %d" % a.port, flush=True)
    sys.stdin.read()
    controller.stop()


if __name__ == "__main__":
    main()
