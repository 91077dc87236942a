#!/usr/bin/env python3
# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The health check of the web containers (the image has no curl).

    healthcheck.py URL [TEXT]

Healthy when URL answers 200 within 5 seconds (and its body contains TEXT,
when given); anything else is unhealthy (exit 1)."""
import sys
import urllib.error
import urllib.request


def check(url, text=None, timeout=5):
    "Return None when healthy, else the reason."
    request = urllib.request.Request(url, headers={
            'User-Agent': 'balie-healthcheck'})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            if response.status != 200:
                return 'HTTP %s' % response.status
            body = response.read(1 << 20).decode('utf-8', 'replace')
    except urllib.error.HTTPError as error:
        return 'HTTP %s' % error.code
    except (urllib.error.URLError, OSError) as error:
        return str(getattr(error, 'reason', error))
    if text and text not in body:
        return '%r not in the answer' % text
    return None


def main(argv):
    if not 1 <= len(argv) <= 2:
        print(__doc__, file=sys.stderr)
        return 2
    reason = check(*argv)
    if reason:
        print('%s: %s' % (argv[0], reason), file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
