# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"Small building blocks shared by the models of the Digitale Balie modules."
from trytond import backend
from trytond.model import Model, fields
from trytond.pyson import Eval


def company_through(parent):
    """A mixin with a `company` read and searched through the Many2One
    `parent` (a record that has a company): what the record rules of a
    municipality's data need on records that hang under another one."""

    class CompanyThrough(Model):
        company = fields.Function(
            fields.Many2One('company.company', "Company"),
            'get_company', searcher='search_company')

        def get_company(self, name):
            record = getattr(self, parent)
            return record.company.id if record and record.company else None

        @classmethod
        def search_company(cls, name, clause):
            return [('%s.company' % parent,) + tuple(clause[1:])]

    return CompanyThrough


def party_through(parent):
    """A mixin with the citizen (`party`) read and searched through the
    Many2One `parent` (a record that has a party, like the dossier)."""

    class PartyThrough(Model):
        party = fields.Function(fields.Many2One('party.party', "Citizen",
                context={'company': Eval('company', -1)},
                depends={'company'}),
            'on_change_with_party', searcher='search_party')

        @fields.depends(parent, '_parent_%s.party' % parent)
        def on_change_with_party(self, name=None):
            record = getattr(self, parent)
            return record.party if record else None

        @classmethod
        def search_party(cls, name, clause):
            return [('%s.party' % parent,) + tuple(clause[1:])]

    return PartyThrough


def execute_planned(cursor, query, params=()):
    """Run a query that PostgreSQL plans for its values at every run.

    psycopg prepares a statement from its 5th run on a connection, and
    PostgreSQL may then use one generic plan for any parameters.  Such a
    plan cannot use a partial index whose predicate a parameter stands for
    (WHERE state = 'pending'): it reads the whole table instead."""
    if backend.name == 'postgresql':
        cursor.execute(query, params, prepare=False)
    else:
        cursor.execute(query, params)
