"""A real SMTP server for the tests: aiosmtpd on 127.0.0.1, an ephemeral port.

Usage: sink.py DIRECTORY [--auth USER:PASSWORD]

Prints {"port": N} on stdout once it listens. Every message it accepts is
parsed with the standard library's e-mail parser and written to DIRECTORY as
NNNN.json (envelope, decoded subject, headers, text and HTML parts, raw
source); the file appears whole (written aside, then renamed). It exits when
its standard input closes, so it never outlives the test that started it.

Magic recipients, by local part, for the client's error handling:
reject-550@… → 550 5.1.1 (no such mailbox), policy-550@… → 550 5.7.1
(policy), defer-451@… → 451 4.3.0 (try again later).
"""

import argparse
import asyncio
import json
import logging
import os
import sys
import threading
import warnings
from email import policy
from email.parser import BytesParser

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


class Sink:
    def __init__(self, directory):
        self.directory = directory
        self.count = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@", 1)[0].lower()
        if local.startswith("reject-550"):
            return f"550 5.1.1 <{address}>: Recipient address rejected: mailbox unavailable"
        if local.startswith("policy-550"):
            return "550 5.7.1 Message rejected by policy"
        if local.startswith("defer-451"):
            return "451 4.3.0 Mailbox temporarily unavailable, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        queue_id = f"SINK{self.count:04d}"
        content = envelope.original_content or envelope.content
        message = BytesParser(policy=policy.default).parsebytes(content)
        text = message.get_body(preferencelist=("plain",))
        html = message.get_body(preferencelist=("html",))
        auth = session.auth_data
        record = {
            "queueId": queue_id,
            "mailFrom": envelope.mail_from,
            "rcptTos": envelope.rcpt_tos,
            "authUser": auth.login.decode() if isinstance(auth, LoginPassword) else None,
            "contentType": message.get_content_type(),
            "subject": str(message["subject"]) if message["subject"] is not None else None,
            "messageId": message["message-id"],
            "from": str(message["from"]),
            "to": str(message["to"]),
            "headers": [[name, str(value)] for name, value in message.items()],
            "text": text.get_content() if text is not None else None,
            "html": html.get_content() if html is not None else None,
            "raw": content.decode("utf-8", "replace"),
        }
        path = os.path.join(self.directory, f"{self.count:04d}.json")
        with open(path + ".tmp", "w", encoding="utf-8") as out:
            json.dump(record, out, ensure_ascii=False)
        os.replace(path + ".tmp", path)
        return f"250 2.0.0 Ok: queued as {queue_id}"


def authenticator_for(user, password):
    def authenticate(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == user
            and auth_data.password.decode() == password
        )
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    return authenticate


async def main():
    # aiosmtpd warns that AUTH without TLS is unsafe: true, and the point here.
    warnings.simplefilter("ignore")
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    parser = argparse.ArgumentParser()
    parser.add_argument("directory")
    parser.add_argument("--auth", help="USER:PASSWORD the client must authenticate with")
    args = parser.parse_args()
    handler = Sink(args.directory)
    options = {}
    if args.auth:
        user, _, password = args.auth.partition(":")
        options = {
            "authenticator": authenticator_for(user, password),
            "auth_required": True,
            # Loopback only; the test relay speaks no TLS.
            "auth_require_tls": False,
        }
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="sink.wayfarer.test", ident="Wayfarer SMTP sink", **options),
        host="127.0.0.1",
        port=0,
    )
    port = server.sockets[0].getsockname()[1]
    print(json.dumps({"port": port}), flush=True)
    stop = asyncio.Event()

    def watch_stdin():
        sys.stdin.buffer.read()
        loop.call_soon_threadsafe(stop.set)

    threading.Thread(target=watch_stdin, daemon=True).start()
    await stop.wait()
    server.close()


if __name__ == "__main__":
    asyncio.run(main())
