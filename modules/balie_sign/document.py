# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Documents on a dossier: what the citizen sends from the portal, what the
clerk shares, what the system generates (the application form's PDF, a
signed PDF).  Every file is checked by its content before it is stored
(document_check), keeps its hash, and has a retention category from the
municipality's selection list."""
import secrets

from trytond.i18n import gettext
from trytond.model import Index, ModelSQL, ModelView, Unique, fields
from trytond.pool import Pool
from trytond.pyson import Bool, Eval
from trytond.transaction import Transaction, without_check_access

from digitale_balie import clock
from digitale_balie.model import company_through

from . import document_check
from .document_check import FORMATS, Refused
from .document_type import add_years
from .exceptions import DocumentError, DocumentRefused

SOURCES = [
    ('citizen', "Citizen"),
    ('clerk', "Clerk"),
    ('system', "Generated"),
    ]
class Document(company_through('dossier'), ModelSQL, ModelView):
    "Document"
    __name__ = 'balie.document'

    dossier = fields.Many2One('balie.dossier', "Dossier", required=True,
        ondelete='CASCADE',
        states={'readonly': Eval('id', -1) >= 0})
    party = fields.Function(
        fields.Many2One('party.party', "Citizen",
            context={'company': Eval('company', -1)}, depends={'company'}),
        'get_party', searcher='search_party')
    appointment = fields.Many2One('balie.appointment', "Appointment",
        ondelete='SET NULL',
        domain=[('dossier', '=', Eval('dossier', -1))],
        states={'readonly': Eval('id', -1) >= 0},
        help="The appointment during which the document was exchanged.")
    name = fields.Char("File Name", required=True,
        states={'readonly': Eval('id', -1) >= 0})
    type = fields.Many2One('balie.document.type', "Type", required=True,
        ondelete='RESTRICT')
    description = fields.Char("Description")
    data = fields.Binary("File", filename='name', required=True,
        states={'readonly': Eval('id', -1) >= 0})
    mime_type = fields.Char("Content Type", readonly=True)
    size = fields.Integer("Size (bytes)", readonly=True)
    sha256 = fields.Char("SHA-256", readonly=True,
        help="The fingerprint of the stored file: any change to it shows.")
    original_sha256 = fields.Char("SHA-256 as Received", readonly=True,
        help="The fingerprint of the file as it was received, before its "
        "metadata (such as a photo's location) was removed.")
    source = fields.Selection(SOURCES, "Uploaded By", required=True,
        readonly=True)
    uploaded_by = fields.Many2One('res.user', "Clerk", readonly=True,
        ondelete='SET NULL')
    uploaded_at = fields.DateTime("Uploaded At", required=True,
        readonly=True)
    shared = fields.Boolean("Visible to the Citizen", readonly=True,
        help="The citizen finds the document on their portal page.")
    shared_at = fields.DateTime("Shared At", readonly=True)
    retention = fields.Many2One('balie.document.retention',
        "Retention Category", required=True, ondelete='RESTRICT')
    keep_until = fields.Function(fields.Date("Keep Until",
            help="After this date the document is destroyed or archived, "
            "once its dossier is closed."),
        'get_keep_until')
    retention_ended = fields.Function(fields.Boolean("Retention Ended"),
        'get_retention_ended', searcher='search_retention_ended')
    portal_key = fields.Char("Portal Key", readonly=True, strip=False)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('portal_key_unique', Unique(t, t.portal_key),
                'balie_sign.msg_document_key_unique'),
            ]
        cls._sql_indexes.update({
                Index(t, (t.dossier, Index.Equality())),
                Index(t, (t.uploaded_at, Index.Range())),
                })
        cls._order = [('uploaded_at', 'DESC'), ('id', 'DESC')]
        cls._buttons.update({
                'share': {
                    'invisible': Bool(Eval('shared')),
                    'depends': ['shared'],
                    },
                'unshare': {
                    'invisible': (~Eval('shared')
                        | (Eval('source') == 'citizen')),
                    'depends': ['shared', 'source'],
                    },
                })

    @classmethod
    def default_source(cls):
        return 'clerk'

    @classmethod
    def default_uploaded_at(cls):
        return clock.now()

    @classmethod
    def default_shared(cls):
        return False

    @fields.depends('type', 'retention')
    def on_change_type(self):
        if self.type and not self.retention:
            self.retention = self.type.retention

    def get_party(self, name):
        return self.dossier.party.id

    @classmethod
    def search_party(cls, name, clause):
        return [('dossier.party',) + tuple(clause[1:])]

    def get_keep_until(self, name):
        if self.uploaded_at and self.retention:
            return add_years(self.uploaded_at,
                self.retention.years or 0).date()

    def get_retention_ended(self, name):
        return bool(self.retention
            and self.uploaded_at < self.retention.cutoff())

    @classmethod
    def search_retention_ended(cls, name, clause):
        Retention = Pool().get('balie.document.retention')
        _, operator, value = clause[:3]
        with Transaction().set_context(active_test=False):
            categories = Retention.search([])
        ended = ['OR'] + [[
                ('retention', '=', c.id),
                ('uploaded_at', '<', c.cutoff()),
                ] for c in categories]
        if len(ended) == 1:
            ended = [('id', '=', -1)]
        if (operator == '=') == bool(value):
            return ended
        return [('id', 'not in', cls.search(ended, query=True))]

    def get_rec_name(self, name):
        return self.name

    @property
    def visible_to_citizen(self):
        return self.source == 'citizen' or bool(self.shared)

    # -- storing ---------------------------------------------------------

    @classmethod
    def create(cls, vlist):
        transaction = Transaction()
        if transaction.check_access:
            # over RPC it is always a clerk's upload, whatever was sent
            # and shown to the citizen only with the Share button
            vlist = [{**v, 'source': 'clerk',
                    'uploaded_by': transaction.user, 'portal_key': None,
                    'shared': False, 'shared_at': None}
                for v in vlist]
        return super().create(vlist)

    @classmethod
    def preprocess_values(cls, mode, values):
        values = super().preprocess_values(mode, values)
        if mode == 'create':
            values = cls._prepare(values)
        return values

    @classmethod
    def _prepare(cls, values):
        "Check the file and fill in what follows from it."
        pool = Pool()
        Configuration = pool.get('balie.configuration')
        Type = pool.get('balie.document.type')
        source = values.get('source') or cls.default_source()
        config = Configuration(1)
        trusted = source == 'system'
        try:
            checked = document_check.check(values.get('data'),
                values.get('name'),
                allowed=None if trusted else config.document_allowed(),
                max_size=None if trusted else config.document_limit(),
                clean=not trusted)
        except Refused as refused:
            raise refused_error(refused)
        values.update({
                'source': source,
                'data': checked.data,
                'name': checked.name,
                'mime_type': FORMATS[checked.format].mime_type,
                'size': len(checked.data),
                'sha256': checked.sha256,
                'original_sha256': checked.original_sha256,
                'portal_key': values.get('portal_key') or new_portal_key(),
                })
        values.setdefault('uploaded_at', clock.now())
        if source == 'clerk':
            values.setdefault('uploaded_by', Transaction().user or None)
        if source == 'citizen':
            values['shared'] = True
        if values.get('shared'):
            values.setdefault('shared_at', values['uploaded_at'])
        if not values.get('retention') and values.get('type'):
            values['retention'] = Type(values['type']).retention.id
        return values

    @classmethod
    def check_modification(cls, mode, records, values=None, external=False):
        super().check_modification(
            mode, records, values=values, external=external)
        if mode == 'write' and values:
            fixed = {'data', 'dossier', 'name', 'sha256', 'original_sha256',
                'size', 'mime_type', 'source', 'uploaded_at', 'portal_key'}
            if fixed & set(values):
                raise DocumentError(gettext(
                        'balie_sign.msg_document_immutable'))

    @classmethod
    def on_modification(cls, mode, records, field_names=None):
        pool = Pool()
        Dossier = pool.get('balie.dossier')
        super().on_modification(mode, records, field_names=field_names)
        if mode == 'create':
            for document in records:
                Dossier.add_event(document.dossier, 'document', gettext(
                        'balie_sign.msg_document_event_%s' % document.source,
                        name=document.name, type=document.type.rec_name),
                    appointment=document.appointment)

    @classmethod
    def copy(cls, documents, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('portal_key', None)
        default.setdefault('shared', False)
        default.setdefault('shared_at', None)
        return super().copy(documents, default=default)

    @classmethod
    def store(cls, dossier, data, name, type, source='system', shared=False,
            appointment=None, description=None):
        """Store bytes as a document on a dossier and return it.

        type: a balie.document.type or its code ('application_form',
        'signed', 'decision', ...); source: 'system' for files the
        application made (kept byte for byte, any size), 'clerk' or
        'citizen' for uploads (checked, images cleaned, size limit);
        shared: visible to the citizen on the portal.  Raises
        DocumentRefused with a message for the citizen."""
        pool = Pool()
        Type = pool.get('balie.document.type')
        if isinstance(type, str):
            type = Type.from_code(type)
        # server code stores what it made (a clerk's RPC upload is create)
        with without_check_access():
            document, = cls.create([{
                        'dossier': dossier.id,
                        'data': data,
                        'name': name,
                        'type': type.id,
                        'source': source,
                        'shared': shared,
                        'appointment': (
                            appointment.id if appointment else None),
                        'description': description,
                        }])
        return document

    def get_bytes(self):
        """The stored file, after checking its fingerprint; DocumentError
        when it does not match (the file was changed behind our back)."""
        data = bytes(self.data or b'')
        if document_check.sha256(data) != self.sha256:
            raise DocumentError(gettext(
                    'balie_sign.msg_document_tampered', name=self.name))
        return data

    # -- sharing ---------------------------------------------------------

    @classmethod
    @ModelView.button
    def share(cls, documents):
        "Show the documents to the citizen on their portal page."
        pool = Pool()
        Dossier = pool.get('balie.dossier')
        documents = [d for d in documents if not d.shared]
        if not documents:
            return
        cls.write(documents, {'shared': True, 'shared_at': clock.now()})
        for document in documents:
            Dossier.add_event(document.dossier, 'document', gettext(
                    'balie_sign.msg_document_event_shared',
                    name=document.name))

    @classmethod
    @ModelView.button
    def unshare(cls, documents):
        documents = [d for d in documents
            if d.shared and d.source != 'citizen']
        if documents:
            cls.write(documents, {'shared': False, 'shared_at': None})

    # -- the portal ------------------------------------------------------

    @classmethod
    def portal_documents(cls, dossier):
        "What the citizen sees of the dossier: their own and shared files."
        return cls.search([
                ('dossier', '=', dossier.id),
                ['OR',
                    ('source', '=', 'citizen'),
                    ('shared', '=', True),
                    ],
                ])

    @classmethod
    def portal_document(cls, dossier, key):
        "One document of the portal by its key, or None: never by id."
        if not key or not isinstance(key, str) or len(key) > 64:
            return None
        documents = cls.search([
                ('portal_key', '=', key),
                ('dossier', '=', dossier.id),
                ], limit=1)
        if documents and documents[0].visible_to_citizen:
            return documents[0]
        return None

    # -- retention -------------------------------------------------------

    @classmethod
    def still_needed(cls, documents):
        "The documents that a Many2One with ondelete RESTRICT points at."
        pool = Pool()
        ids = [d.id for d in documents]
        needed = set()
        if not ids:
            return needed
        for _, Model in pool.iterobject():
            if not issubclass(Model, ModelSQL) or Model._is_table_query():
                continue
            for name, field in Model._fields.items():
                if (getattr(field, 'model_name', None) == cls.__name__
                        and field._type == 'many2one'
                        and getattr(field, 'ondelete', None) == 'RESTRICT'
                        and not isinstance(field, fields.Function)):
                    with Transaction().set_context(active_test=False):
                        for record in Model.search([(name, 'in', ids)]):
                            needed.add(getattr(record, name))
        return needed

    @classmethod
    def apply_retention(cls):
        """Delete the documents whose retention ended, of closed dossiers
        only, when their category says destroy; the timeline keeps a line
        with the name and fingerprint of each."""
        pool = Pool()
        Dossier = pool.get('balie.dossier')
        documents = cls.search([
                ('retention_ended', '=', True),
                ('retention.disposition', '=', 'destroy'),
                ('dossier.state', '=', 'closed'),
                ])
        # a document another record must keep (a signature request's
        # original) stays, and waits on the list of ended retentions
        needed = cls.still_needed(documents)
        documents = [d for d in documents if d not in needed]
        for document in documents:
            Dossier.add_event(document.dossier, 'document', gettext(
                    'balie_sign.msg_document_event_destroyed',
                    name=document.name, sha256=document.sha256,
                    retention=document.retention.rec_name))
        cls.delete(documents)
        return documents


def new_portal_key():
    return secrets.token_urlsafe(18)


def refused_error(refused):
    "The message for the citizen (and the clerk) of a refused file."
    values = dict(refused.values)
    if (Transaction().language or '')[:2] in {'nl', 'fr'}:
        # a decimal comma in Dutch and French
        for name in ['size', 'limit']:
            if name in values:
                values[name] = values[name].replace('.', ',')
    return DocumentRefused(gettext(
            'balie_sign.msg_document_refused_' + refused.reason, **values),
        reason=refused.reason)
