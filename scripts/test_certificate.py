#!/usr/bin/env python3
# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Write a self-signed signing certificate (PKCS#12) for the demo, so that
balie_sign can seal signed PDFs.  Never use it in production: PDF readers
do not trust it, which is the point of a certificate from a trust service
provider.

    .venv/bin/python scripts/test_certificate.py var/signing.p12 \\
        --passphrase-file var/signing.pass [--name "Gemeente Voorbeeld"]

An existing file is kept (use --force to replace it).  The passphrase file
is created with a random passphrase when it does not exist."""
import argparse
import os
import secrets
import sys

from balie_sign.pades import make_test_certificate


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('path', help="where to write the PKCS#12 file")
    parser.add_argument('--passphrase-file', required=True,
        help="the passphrase (created with a random one if missing)")
    parser.add_argument('--name', default="Gemeente Voorbeeld",
        help="the municipality's name in the certificate")
    parser.add_argument('--force', action='store_true',
        help="replace an existing certificate")
    args = parser.parse_args(argv)

    if not os.path.exists(args.passphrase_file):
        with open(os.open(args.passphrase_file,
                    os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), 'w') as file:
            file.write(secrets.token_urlsafe(24) + '\n')
    with open(args.passphrase_file) as file:
        passphrase = file.read().strip()
    if os.path.exists(args.path) and not args.force:
        print("keeping the signing certificate %s" % args.path)
        return 0
    data = make_test_certificate(
        "%s (test certificate)" % args.name, args.name, passphrase)
    fd = os.open(args.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with open(fd, 'wb') as file:
        file.write(data)
    print("wrote a self-signed signing certificate to %s" % args.path)
    return 0


if __name__ == '__main__':
    sys.exit(main())
