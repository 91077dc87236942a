# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
import email
from email.policy import SMTP as SMTP_POLICY

from trytond.pool import Pool, PoolMeta
from trytond.transaction import Transaction

from digitale_balie.template import render

from .signature_code import CODE_KIND, message_code


class Message(metaclass=PoolMeta):
    __name__ = 'balie.message'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        for kind in [('decision', "Decision"), (CODE_KIND, "Signing Code")]:
            if kind not in cls.kind.selection:
                cls.kind.selection.append(kind)

    @classmethod
    def _prepare(cls, ids):
        """Put the one-time code into signing code messages as they leave:
        it is derived from the server secret, never stored."""
        from digitale_balie import channels
        from digitale_balie.exceptions import MessageError
        with Transaction().new_transaction(readonly=True):
            code_ids = {m.id for m in cls.search([
                        ('id', 'in', list(ids)),
                        ('kind', '=', CODE_KIND),
                        ])}
        prepared = cls._prepare_files([i for i in ids if i not in code_ids])
        if not code_ids:
            return prepared
        with Transaction().new_transaction(readonly=True):
            for message in cls.browse(list(code_ids)):
                try:
                    # only in memory: the row keeps "${code}"
                    message.body = render(message.body,
                        {'code': message_code(message)})
                    item = channels.prepare(message)
                except (channels.PermanentError,
                        channels.TemporaryError) as exception:
                    item = exception
                except MessageError as exception:
                    item = channels.TemporaryError(str(exception))
                prepared[message.id] = (
                    message.attempts, message.send_by, item)
        return prepared

    @classmethod
    def _prepare_files(cls, ids):
        """Attach the message's files (the decision letter) to e-mails:
        the outbox of digitale_balie builds e-mails without attachments,
        so they are added to the prepared e-mail here."""
        pool = Pool()
        Attachment = pool.get('ir.attachment')
        prepared = super()._prepare(ids)
        with Transaction().new_transaction(readonly=True):
            attachments = {}
            for attachment in Attachment.search([
                        ('resource', 'in',
                            ['%s,%s' % (cls.__name__, i) for i in ids]),
                        ('type', '=', 'data'),
                        ], order=[('id', 'ASC')]):
                attachments.setdefault(attachment.resource.id, []).append(
                    (attachment.name, bytes(attachment.data)))
        for id_, files in attachments.items():
            attempts, send_by, item = prepared[id_]
            if isinstance(item, Exception) or item.channel != 'email':
                continue
            item.data = attach_files(item.data, files)
        return prepared


def attach_files(data, files):
    "Add files to an e-mail in its wire form."
    message = email.message_from_bytes(data, policy=SMTP_POLICY)
    language = message['Content-Language']
    for name, content in files:
        maintype, subtype = (('application', 'pdf')
            if name.lower().endswith('.pdf')
            else ('application', 'octet-stream'))
        message.add_attachment(content, maintype=maintype, subtype=subtype,
            filename=name)
    # making the message mixed moves the Content-* headers into the part
    if language and not message['Content-Language']:
        message['Content-Language'] = language
    return message.as_bytes(policy=SMTP_POLICY)
