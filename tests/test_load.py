# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The load benchmark (bench/load.py), short and rate-scaled for CI.

bench/load.py runs an hour at ten times the peak of a city of 500,000
inhabitants (50 slot look-ups, 5 bookings, 10 personal pages and 1
personal link a second) against trytond server processes on PostgreSQL.
Here it runs 20 s after 5 s of warm-up, every rate scaled to 30 % (15
look-ups, 1.5 bookings and 3 pages a second) except the personal links,
kept at 1 a second so that the window holds 20 of them: CI machines are
small and shared, and the full rates take about a core of trytond and
PostgreSQL CPU (see docs/reliability.md).  It asserts that nothing failed and that every
kind's achieved rate is within 10 % of its target; the latencies are
printed, not asserted (timing is for bench/).  Run with -s to see them."""
import json
import os
import subprocess
import sys
import tempfile
import unittest

from trytond import backend
from trytond.tests.test_tryton import DB_NAME

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, 'bench', 'load.py')
SCALE = 0.3
ARGUMENTS = ['--duration', '20', '--warmup', '5', '--scale', str(SCALE),
    '--links', str(1 / SCALE), '--clerks', '10', '--citizens', '300',
    '--appointments', '2000', '--clients', '30', '--processes', '2']


class LoadTestCase(unittest.TestCase):
    "Test the load benchmark, scaled down"
    slow = True  # scheduled first (conftest.py)

    @classmethod
    def setUpClass(cls):
        if backend.name != 'postgresql':
            print("\nload test skipped: it runs trytond server processes "
                "on PostgreSQL")
            raise unittest.SkipTest(
                "the load runs trytond server processes on PostgreSQL")

    def test_load(self):
        "Test a short mixed load: no error, the rates kept"
        uri = os.environ['TRYTOND_DATABASE_URI']
        with tempfile.TemporaryDirectory() as directory:
            output = os.path.join(directory, 'load.json')
            process = subprocess.run([sys.executable, BENCH, '--uri', uri,
                    '--database', '%s_load' % DB_NAME, '--json', output,
                    *ARGUMENTS],
                capture_output=True, text=True, timeout=230)
            print('\n' + process.stdout[-3000:])
            self.assertTrue(os.path.exists(output),
                process.stdout[-3000:] + process.stderr[-3000:])
            with open(output) as fp:
                figures = json.load(fp)
        for kind, entry in figures['kinds'].items():
            print("load: %-6s target %5.2f/s achieved %5.2f/s, %s errors, "
                "p95 %s ms" % (kind, entry['target'], entry['rate'],
                    entry['errors'], round(entry.get('p95', -1))))
            self.assertGreater(entry['target'], 0)
            self.assertEqual(entry['errors'], 0, entry['first_errors'])
            self.assertLessEqual(abs(entry['rate'] - entry['target']),
                0.1 * entry['target'], (kind, entry))
        self.assertEqual(figures['overlaps'], 0)
        self.assertGreaterEqual(figures['booked_in_database'],
            figures['kinds']['book']['ok'])
        self.assertTrue(figures['result'])
        self.assertEqual(process.returncode, 0)
