# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"The citizen's presence in the waiting room (the page's heartbeat)."
from trytond.model import Index, ModelSQL, Unique, fields
from trytond.pool import Pool
from trytond.transaction import Transaction

from digitale_balie import clock


class Presence(ModelSQL):
    "The citizen's page open in the waiting room (technical data)."
    __name__ = 'balie.video.presence'

    appointment = fields.Many2One('balie.appointment', "Appointment",
        required=True, ondelete='CASCADE')
    first_seen = fields.DateTime("First Seen", required=True)
    last_seen = fields.DateTime("Last Seen", required=True)
    heartbeats = fields.Integer("Heartbeats", required=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('appointment_unique', Unique(t, t.appointment),
                'balie_video.msg_room_unique'),
            ]
        cls._sql_indexes.add(Index(t, (t.last_seen, Index.Range())))

    @classmethod
    def beat(cls, appointment):
        """Record that the citizen's page is open now; one row per
        appointment, updated in place."""
        pool = Pool()
        Room = pool.get('balie.video.room')
        now = clock.now()
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        cursor.execute(*table.update(
                [table.last_seen, table.heartbeats],
                [now, table.heartbeats + 1],
                where=table.appointment == appointment.id))
        if not cursor.rowcount:
            cls.create([{
                        'appointment': appointment.id,
                        'first_seen': now, 'last_seen': now,
                        'heartbeats': 1,
                        }])
        room = Room.for_appointment(appointment)
        values = {}
        if not room.citizen_present_at and room.state == 'waiting':
            values['citizen_present_at'] = now
        if room.state == 'open' and not room.citizen_joined_at:
            values['citizen_joined_at'] = now
        if values:
            Room.write([room], values)
        return room

    @classmethod
    def present_since(cls, timeout):
        return clock.now() - timeout
