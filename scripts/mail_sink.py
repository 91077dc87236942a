#!/usr/bin/env python3
# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""A local SMTP server for the demo that prints every mail it receives,
so that a person trying the demo sees what a citizen would get.

    .venv/bin/python scripts/mail_sink.py --port 8025 [--log var/log/mail.log]
"""
import argparse
import email
import email.policy
import time

from aiosmtpd.controller import Controller


class Printer:

    def __init__(self, log=None):
        self.log = log

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(
            envelope.content, policy=email.policy.default)
        body = message.get_body(('plain',))
        attachments = [p.get_filename() for p in message.iter_attachments()]
        text = '\n'.join([
                '--- mail to %s' % ', '.join(envelope.rcpt_tos),
                'Subject: %s' % message['Subject'],
                body.get_content().rstrip() if body else '',
                'Attachments: %s' % ', '.join(attachments)
                if attachments else '',
                ''])
        print(text, flush=True)
        if self.log:
            with open(self.log, 'a', encoding='utf-8') as file:
                file.write(text + '\n')
        return '250 OK'


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--host', default='127.0.0.1')
    parser.add_argument('--port', type=int, default=8025)
    parser.add_argument('--log', help="also append the mails to this file")
    args = parser.parse_args()
    controller = Controller(
        Printer(args.log), hostname=args.host, port=args.port)
    controller.start()
    print("Mail sink on smtp://%s:%s" % (args.host, args.port), flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()


if __name__ == '__main__':
    main()
