# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
import os
import re
import unittest

MODULES = os.path.dirname(os.path.dirname(os.path.dirname(
            os.path.abspath(__file__))))
ARCHITECTURE = os.path.join(
    os.path.dirname(MODULES), 'docs', 'architecture.md')


def file_maps():
    "The files named in the first column of each module's file map."
    with open(ARCHITECTURE, encoding='utf-8') as file:
        text = file.read()
    maps = {}
    for match in re.finditer(
            r'^### `(\w+)` file map\n(.*?)(?=^#)', text, re.M | re.S):
        module, body = match.groups()
        names = maps.setdefault(module, [])
        for line in body.splitlines():
            if not line.startswith('| `'):
                continue
            first = line.split('|')[1]
            names.extend(re.findall(r'`([^`]+)`', first))
    return maps


@unittest.skipUnless(os.path.exists(ARCHITECTURE),
    "docs/architecture.md is not next to the modules")
class ArchitectureTestCase(unittest.TestCase):
    "Test that docs/architecture.md's file maps match the tree"

    def test_every_module_has_a_file_map(self):
        "Test that every module has a file map"
        modules = {m for m in os.listdir(MODULES)
            if os.path.exists(os.path.join(MODULES, m, 'tryton.cfg'))}
        self.assertEqual(set(file_maps()), modules)

    def test_every_named_file_exists(self):
        "Test that every file the maps name exists"
        for module, names in file_maps().items():
            for name in names:
                with self.subTest(module=module, name=name):
                    self.assertTrue(os.path.exists(
                            os.path.join(MODULES, module, name)))

    def test_every_module_file_is_named(self):
        "Test that every .py and .xml file of a module is named"
        for module, names in file_maps().items():
            directory = os.path.join(MODULES, module)
            for name in sorted(os.listdir(directory)):
                if (not name.endswith(('.py', '.xml'))
                        or name == '__init__.py'):
                    continue
                with self.subTest(module=module, name=name):
                    self.assertIn(name, names)
