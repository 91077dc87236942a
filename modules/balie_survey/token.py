# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
from trytond.pool import PoolMeta
from trytond.transaction import without_check_access


class AccessToken(metaclass=PoolMeta):
    __name__ = 'balie.access.token'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        if ('survey', "Survey") not in cls.purpose.selection:
            cls.purpose.selection.append(('survey', "Survey"))

    @classmethod
    def purpose_scopes(cls):
        "A survey link opens the survey and nothing else."
        scopes = super().purpose_scopes()
        scopes['survey'] = 'survey'
        return scopes

    @classmethod
    def purpose_of(cls, raw):
        "The purpose of a raw token, whether valid or not (or None)."
        from digitale_balie.token import hash_token, normalize_token
        if normalize_token(raw) is None:
            return None
        with without_check_access():
            tokens = cls.search([('token_hash', '=', hash_token(raw))],
                limit=1)
        return tokens[0].purpose if tokens else None
