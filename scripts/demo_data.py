#!/usr/bin/env python3
# This file is part of Digitale Balie.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""Load the Digitale Balie demo data into a database, through proteus.

    python scripts/demo_data.py -d balie_demo -c config/trytond.conf

Creates the municipality (company), its configuration, three clerks and a
manager with their logins, opening hours, closing days, services, a dozen
citizens and appointments booked this week and next through the same
methods the clients use (balie.appointment.free_slots / book_slot).

Meant for a fresh database; running it again finds what exists and only
adds what is missing.  The passwords of the demo users are kept in
var/demo_users.txt (not committed) so that a re-run does not change them.
"""
import argparse
import datetime as dt
import os
import random
import secrets
import sys
from zoneinfo import ZoneInfo

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIMEZONE = ZoneInfo('Europe/Brussels')

MUNICIPALITY = "Gemeente Voorbeeld"
STAFF_DOMAIN = 'gemeente-voorbeeld.example'

CLERKS = [
    # party name, login, weekdays (0 = Monday)
    ("Anna Peeters", 'anna.peeters', [0, 1, 2, 3, 4]),
    ("Youssef El Amrani", 'youssef.elamrani', [0, 1, 2, 3, 4]),
    ("Sofie Claes", 'sofie.claes', [0, 1, 3]),  # part-time
    ]
MANAGER = ("Marc Wouters", 'marc.wouters')
OPENING_HOURS = [(dt.time(9, 0), dt.time(12, 0)),
    (dt.time(13, 30), dt.time(16, 30))]
CLOSING_DAYS = [
    (dt.date(2026, 12, 25), "Kerstmis", "Noël"),
    (dt.date(2027, 1, 1), "Nieuwjaar", "Nouvel An"),
    (dt.date(2027, 3, 29), "Paasmaandag", "Lundi de Pâques"),
    ]

SERVICES = [{
        'code': 'MANTELZORG',
        'name': "Mantelzorgpremie aanvragen",
        'name_fr': "Demander la prime pour aidants proches",
        'duration': 30, 'buffer': 10,
        'channels': ['video', 'counter'],
        'clerks': ["Anna Peeters", "Youssef El Amrani", "Sofie Claes"],
        'description': (
            "Zorgt u thuis voor iemand die hulp nodig heeft? Dan kunt u "
            "een mantelzorgpremie krijgen van de gemeente. Samen met u "
            "vullen we de aanvraag in. Dat duurt ongeveer een half uur."),
        'description_fr': (
            "Vous aidez à la maison une personne qui a besoin de soins ? "
            "La commune peut vous accorder une prime. Nous remplissons "
            "la demande avec vous, en une demi-heure environ."),
        'preparation': (
            "- uw identiteitskaart\n"
            "- het rekeningnummer waarop we de premie mogen storten\n"
            "- de naam en het rijksregisternummer van de persoon voor wie "
            "u zorgt\n"
            "- als u het hebt: het attest van de zorgkas of de dokter"),
        'preparation_fr': (
            "- votre carte d'identité\n"
            "- le numéro de compte pour le versement de la prime\n"
            "- le nom et le numéro de registre national de la personne "
            "aidée\n"
            "- si vous l'avez : l'attestation de la caisse de soins ou du "
            "médecin"),
        }, {
        'code': 'EID',
        'name': "Identiteitskaart aanvragen",
        'name_fr': "Demander une carte d'identité",
        'duration': 15, 'buffer': 0,
        'channels': ['counter'],
        'clerks': ["Anna Peeters", "Sofie Claes"],
        'description': (
            "Een nieuwe elektronische identiteitskaart (eID) aanvragen. "
            "Dit kan alleen aan de balie in het gemeentehuis: we nemen "
            "uw vingerafdrukken."),
        'description_fr': (
            "Demander une nouvelle carte d'identité électronique (eID). "
            "Uniquement au guichet de la maison communale : nous prenons "
            "vos empreintes digitales."),
        'preparation': (
            "- uw oude identiteitskaart (of het attest van verlies)\n"
            "- een recente pasfoto op wit papier\n"
            "- geld of bankkaart: de kaart kost ongeveer 25 euro"),
        'preparation_fr': (
            "- votre ancienne carte d'identité (ou l'attestation de perte)\n"
            "- une photo d'identité récente\n"
            "- de quoi payer : la carte coûte environ 25 euros"),
        }, {
        'code': 'ADRES',
        'name': "Adreswijziging doorgeven",
        'name_fr': "Déclarer un changement d'adresse",
        'duration': 20, 'buffer': 5,
        'channels': ['video', 'counter'],
        'clerks': ["Youssef El Amrani", "Sofie Claes"],
        'description': (
            "Bent u verhuisd binnen of naar de gemeente? Geef uw nieuwe "
            "adres door. Daarna komt de wijkagent langs."),
        'description_fr': (
            "Vous avez déménagé dans la commune ? Déclarez votre nouvelle "
            "adresse. L'agent de quartier passera ensuite chez vous."),
        'preparation': (
            "- de identiteitskaarten van iedereen die verhuist\n"
            "- het nieuwe adres, met bus- of appartementsnummer"),
        'preparation_fr': (
            "- les cartes d'identité de toutes les personnes qui "
            "déménagent\n"
            "- la nouvelle adresse, avec le numéro de boîte"),
        }]

# name, language, street, number, postal code, city, mobile, e-mail?,
# birth date (national register number) or None, notify_by
CITIZENS = [
    ("Maria Janssens", 'nl', "Kerkstraat", "12", "8000", "Brugge",
        "+32 470 12 34 56", True, dt.date(1948, 3, 14), 'sms'),
    ("Jan De Smet", 'nl', "Stationsstraat", "5", "8000", "Brugge",
        "+32 471 23 45 67", True, dt.date(1961, 11, 2), 'email_sms'),
    ("Claire Dubois", 'fr', "Rue de la Gare", "18", "8000", "Brugge",
        "+32 485 11 22 33", True, dt.date(1975, 6, 30), 'email'),
    ("Marc Lambert", 'fr', "Langestraat", "101", "8000", "Brugge",
        "+32 496 55 44 33", True, None, 'email_sms'),
    ("Fatima Benali", 'nl', "Sint-Jorisstraat", "44", "8000", "Brugge",
        "+32 468 12 34 56", True, dt.date(1989, 1, 21), 'sms'),
    ("Pieter Vermeulen", 'nl', "Gistelse Steenweg", "230", "8200",
        "Sint-Andries", "+32 477 98 76 54", True, None, 'email'),
    ("Elif Yilmaz", 'nl', "Kortrijkse Steenweg", "7", "8200",
        "Sint-Michiels", "+32 499 12 12 12", True, dt.date(2001, 8, 9),
        'sms'),
    ("Luc Maes", 'nl', "Dorpsstraat", "3", "8310", "Assebroek",
        "+32 475 20 30 40", False, dt.date(1944, 12, 5), 'sms'),
    ("Nathalie Leroy", 'fr', "Vlamingstraat", "60", "8000", "Brugge",
        "+32 478 45 67 89", True, None, 'email'),
    ("Tom Willems", 'nl', "Moerkerkse Steenweg", "150", "8310",
        "Sint-Kruis", "+32 472 33 22 11", True, None, 'email_sms'),
    ("Olena Kovalenko", 'en', "Ezelstraat", "25", "8000", "Brugge",
        "+32 493 10 20 30", True, dt.date(1992, 4, 17), 'email'),
    ("Hilde Goossens", 'nl', "Torhoutse Steenweg", "412", "8200",
        "Sint-Andries", None, False, dt.date(1939, 9, 1), 'paper'),
    ]

# citizen, service, channel, note for the citizen (Tom Willems has none:
# book one for him live with the wizard)
BOOKINGS = [
    ("Maria Janssens", 'MANTELZORG', 'video',
        "Breng de bankkaart van uw moeder mee."),
    ("Jan De Smet", 'MANTELZORG', 'video', ""),
    ("Claire Dubois", 'EID', 'counter', ""),
    ("Marc Lambert", 'ADRES', 'video', ""),
    ("Fatima Benali", 'MANTELZORG', 'video',
        "U mag iemand meebrengen die u helpt."),
    ("Pieter Vermeulen", 'ADRES', 'video', ""),
    ("Elif Yilmaz", 'EID', 'counter', ""),
    ("Luc Maes", 'MANTELZORG', 'counter',
        "U kunt gratis parkeren achter het gemeentehuis."),
    ("Nathalie Leroy", 'MANTELZORG', 'video', ""),
    ("Olena Kovalenko", 'ADRES', 'video', ""),
    ("Hilde Goossens", 'EID', 'counter', "Uw dochter mag mee komen."),
    ]


def national_number(birth, serial):
    "A valid Belgian national register number for a birth date and serial."
    from stdnum.be import nn
    base = '%s%03d' % (birth.strftime('%y%m%d'), serial)
    number = int(('2' if birth.year >= 2000 else '') + base)
    code = nn.validate(base + '%02d' % (97 - number % 97))
    return nn.format(code)


def load_passwords(path):
    passwords = {}
    if os.path.exists(path):
        with open(path) as file:
            for line in file:
                if line.strip() and not line.startswith('#'):
                    login, password = line.split()[:2]
                    passwords[login] = password
    return passwords


def save_passwords(path, passwords):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, 'w') as file:
        file.write("# Digitale Balie demo logins (login password), "
            "generated by scripts/demo_data.py\n")
        for login, password in sorted(passwords.items()):
            file.write('%s %s\n' % (login, password))


def offline_email_validation():
    """The demo addresses are fictitious: validate their syntax only.

    Outside the test suite trytond checks that an e-mail domain accepts
    mail (a DNS look-up), which rejects every demo address, and on a
    machine without DNS any address at all."""
    from email_validator import validate_email

    import trytond.modules.party.contact_mechanism as contact_mechanism
    import trytond.res.user as user

    def validate_email_offline(email):
        return validate_email(email, check_deliverability=False).normalized
    contact_mechanism.validate_email = validate_email_offline
    user.validate_email = validate_email_offline


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('-d', '--database', default='balie_demo')
    parser.add_argument('-c', '--config',
        default=os.path.join(ROOT, 'config', 'trytond.conf'))
    parser.add_argument('--users-file',
        default=os.path.join(ROOT, 'var', 'demo_users.txt'))
    parser.add_argument('--admin-email', default='admin@' + STAFF_DOMAIN)
    parser.add_argument('--today', type=dt.date.fromisoformat,
        help="book as if it were this day (default: today)")
    args = parser.parse_args(argv)

    # an absolute path: see config/trytond.conf
    os.environ.setdefault(
        'TRYTOND_DATABASE__PATH', os.path.join(ROOT, 'var', 'db'))
    from proteus import Model
    from proteus import config as pconfig

    config = pconfig.set_trytond(
        database=args.database, config_file=args.config)
    offline_email_validation()

    Lang = Model.get('ir.lang')
    ModelData = Model.get('ir.model.data')
    langs = {lang.code: lang
        for lang in Lang.find([('code', 'in', ['nl', 'fr', 'en'])])}

    company = setup_company(config)
    set_configuration(config)
    employees = setup_clerks(config, company, langs)
    passwords = load_passwords(args.users_file)
    setup_users(config, company, employees, langs, passwords, ModelData,
        args.admin_email)
    save_passwords(args.users_file, passwords)
    setup_schedules(config, company, employees)
    setup_closing_days(config, company)
    services = setup_services(config, company, employees)
    citizens = setup_citizens(config, langs)
    booked = book_appointments(config, services, citizens, args.today)
    close_config_wizard()

    Appointment = Model.get('balie.appointment')
    print("Demo data for %s in database %s:" % (MUNICIPALITY, args.database))
    print("  %d clerks, %d services, %d citizens, %d appointments "
        "(%d booked by this run)" % (len(CLERKS), len(services),
            len(citizens), len(Appointment.find([])), booked))
    print("  logins (also in %s):" % os.path.relpath(args.users_file))
    for login, password in sorted(passwords.items()):
        print("    %-18s %s" % (login, password))
    return 0


def close_config_wizard():
    "Do not open the module configuration wizard at the first login."
    from proteus import Model
    Item = Model.get('ir.module.config_wizard.item')
    items = Item.find([('state', '=', 'open')])
    for item in items:
        item.state = 'done'
    Item.save(items)


def setup_company(config):
    from proteus import Model
    from trytond.modules.company.tests.tools import create_company

    Company = Model.get('company.company')
    Party = Model.get('party.party')
    Currency = Model.get('currency.currency')
    User = Model.get('res.user')

    belgium = get_belgium()
    companies = Company.find([('party.name', '=', MUNICIPALITY)])
    if companies:
        company, = companies
    else:
        currencies = Currency.find([('code', '=', 'EUR')])
        if currencies:
            euro, = currencies
        else:
            euro = Currency(name="Euro", code='EUR', symbol='€',
                numeric_code='978')
            euro.save()
        party = Party(name=MUNICIPALITY)
        address, = party.addresses
        address.street_name = "Marktplein"
        address.building_number = "1"
        address.postal_code = "8000"
        address.city = "Brugge"
        address.country = belgium
        party.save()
        create_company(party=party, currency=euro)
        company, = Company.find([('party.name', '=', MUNICIPALITY)])
        company.timezone = 'Europe/Brussels'
        company.save()
    config._context = User.get_preferences(True, {})
    return company


def get_belgium():
    from proteus import Model
    Country = Model.get('country.country')
    countries = Country.find([('code', '=', 'BE')])
    if countries:
        return countries[0]
    belgium = Country(name="België", code='BE', code3='BEL',
        code_numeric='056')
    belgium.save()
    return belgium


def set_configuration(config):
    from proteus import Model
    Configuration = Model.get('balie.configuration')
    configuration = Configuration(1)
    configuration.municipality_name = MUNICIPALITY
    configuration.help_phone = "+32 50 12 34 56"
    configuration.portal_base_url = "http://127.0.0.1:8000"
    configuration.tutorial_url = (
        "https://www.gemeente-voorbeeld.be/digitale-balie/zo-werkt-het")
    configuration.default_language = 'nl'
    # the demo's addresses are fictitious and demo machines may be offline
    configuration.check_email_domain = False
    # the local SMS gateway that scripts/demo starts (tests/sms_server.py)
    configuration.sms_url = 'http://127.0.0.1:8026/sms/json'
    configuration.sms_api_key = 'test-key'
    configuration.sms_api_secret = 'test-secret'
    configuration.sms_signature_secret = os.environ.get(
        'BALIE_DEMO_SMS_SECRET', 'demo-sms-secret')
    configuration.sms_sender = 'Voorbeeld'
    # video calls are built in (browser to browser, docs/video.md): no
    # setting needed.  A Jitsi server with token authentication is used
    # instead when the environment gives one (BALIE_DEMO_JITSI_DOMAIN, ...)
    jitsi = False
    for field in ['jitsi_domain', 'jitsi_app_id', 'jitsi_secret',
            'jitsi_xmpp_domain']:
        value = os.environ.get('BALIE_DEMO_' + field.upper())
        if value and hasattr(configuration, field):
            setattr(configuration, field, value)
            jitsi = True
    if hasattr(configuration, 'call_backend'):
        configuration.call_backend = 'jitsi' if jitsi else 'builtin'
    configuration.save()


def setup_clerks(config, company, langs):
    from proteus import Model
    Employee = Model.get('company.employee')
    Party = Model.get('party.party')
    employees = {}
    for name, login, _ in CLERKS + [MANAGER + (None,)]:
        found = Employee.find([
                ('party.name', '=', name),
                ('company', '=', company.id),
                ])
        if found:
            employees[name] = found[0]
            continue
        party = Party(name=name, lang=langs['nl'])
        party.contact_mechanisms.new(type='email',
            value='%s@%s' % (login, STAFF_DOMAIN))
        party.save()
        employee = Employee(party=party, company=company,
            start_date=dt.date(2024, 1, 1))
        employee.save()
        employees[name] = employee
    return employees


def setup_users(config, company, employees, langs, passwords, ModelData,
        admin_email):
    from proteus import Model
    User = Model.get('res.user')
    Group = Model.get('res.group')
    clerk = Group(ModelData.get_id(
            'digitale_balie', 'group_balie_clerk', config.context))
    manager = Group(ModelData.get_id(
            'digitale_balie', 'group_balie_manager', config.context))

    Company = Model.get('company.company')
    Employee = Model.get('company.employee')

    # the admin may act as any of the clerks (switch in the status bar)
    admin, = User.find([('login', '=', 'admin')])
    if not admin.email:
        admin.email = admin_email
    if not admin.employees:
        for name, _, _ in CLERKS:
            admin.employees.append(Employee(employees[name].id))
        admin.employee = Employee(employees[CLERKS[0][0]].id)
    admin.save()

    people = [(name, login, clerk) for name, login, _ in CLERKS]
    people.append(MANAGER + (manager,))
    for name, login, group in people:
        employee = employees[name]
        if User.find([('login', '=', login)]):
            continue
        password = passwords.get(login) or secrets.token_urlsafe(9)
        user = User(name=name, login=login, password=password,
            email='%s@%s' % (login, STAFF_DOMAIN), language=langs['nl'])
        user.groups.append(Group(group.id))
        user.companies.append(Company(company.id))
        user.company = Company(company.id)
        user.employees.append(Employee(employee.id))
        user.employee = Employee(employee.id)
        user.save()
        passwords[login] = password


def setup_schedules(config, company, employees):
    from proteus import Model
    Schedule = Model.get('balie.schedule')
    for name, _, weekdays in CLERKS:
        employee = employees[name]
        if Schedule.find([('employee', '=', employee.id)]):
            continue
        rows = []
        for weekday in weekdays:
            for start, end in OPENING_HOURS:
                rows.append(Schedule(company=company, employee=employee,
                        weekday=str(weekday), start_time=start,
                        end_time=end))
        Schedule.save(rows)


def setup_closing_days(config, company):
    from proteus import Model
    ClosingDay = Model.get('balie.closing.day')
    for date, name, name_fr in CLOSING_DAYS:
        if ClosingDay.find([('date', '=', date)]):
            continue
        day = ClosingDay(company=company, date=date, name=name)
        day.save()
        with config.set_context(language='fr'):
            day = ClosingDay(day.id)
            day.name = name_fr
            day.save()


def setup_services(config, company, employees):
    from proteus import Model
    Service = Model.get('balie.service')
    Employee = Model.get('company.employee')
    services = {}
    for values in SERVICES:
        found = Service.find([('code', '=', values['code'])])
        if found:
            services[values['code']] = found[0]
            continue
        service = Service(company=company, code=values['code'],
            name=values['name'], description=values['description'],
            preparation=values['preparation'],
            duration=dt.timedelta(minutes=values['duration']),
            buffer=dt.timedelta(minutes=values['buffer']),
            channels=values['channels'])
        for name in values['clerks']:
            service.employees.append(Employee(employees[name].id))
        service.save()
        with config.set_context(language='fr'):
            service = Service(service.id)
            service.name = values['name_fr']
            service.description = values['description_fr']
            service.preparation = values['preparation_fr']
            service.save()
        services[values['code']] = Service(service.id)
    return services


def setup_citizens(config, langs):
    from proteus import Model
    Party = Model.get('party.party')
    belgium = get_belgium()
    citizens = []
    for i, (name, lang, street, number, postal_code, city, mobile, email,
            birth, notify_by) in enumerate(CITIZENS):
        found = Party.find([('name', '=', name)])
        if found:
            citizens.append((found[0], notify_by))
            continue
        party = Party(name=name, lang=langs[lang])
        address, = party.addresses
        address.street_name = street
        address.building_number = number
        address.postal_code = postal_code
        address.city = city
        address.country = belgium
        if mobile:
            party.contact_mechanisms.new(type='mobile', value=mobile)
        if email:
            first, *rest = name.lower().split()
            party.contact_mechanisms.new(type='email',
                value='%s.%s@example.be' % (first, ''.join(rest)))
        if birth:
            # odd serials for men, even for women; any valid one will do
            party.identifiers.new(type='be_nn',
                code=national_number(birth, 101 + 2 * i))
        party.save()
        citizens.append((party, notify_by))
    return citizens


def book_appointments(config, services, citizens, today):
    """Book the BOOKINGS from the next working day until the end of the
    following week, one working day after the other, through free_slots
    and book_slot (as the clients do)."""
    from proteus import Model
    Appointment = Model.get('balie.appointment')
    if Appointment.find([]):
        return 0
    today = today or dt.datetime.now(TIMEZONE).date()
    # "this week and next": from today to the Friday of next week; on a
    # weekend, the coming two weeks
    monday = today - dt.timedelta(days=today.weekday())
    if today.weekday() >= 5:
        monday += dt.timedelta(days=7)
    date_to = monday + dt.timedelta(days=11)
    rng = random.Random(20261130)
    parties = {p.name: (p, notify_by) for p, notify_by in citizens}
    booked = 0
    for i, (name, code, channel, note) in enumerate(BOOKINGS):
        party, notify_by = parties[name]
        service = services[code]
        slots = Appointment.free_slots(
            service.id, today, date_to, None, config.context)
        days = sorted({s['start'][:10] for s in slots})
        if not days:
            print("  no free slot left for %s" % service.code)
            continue
        day = days[(3 * i) % len(days)]
        slot = rng.choice([s for s in slots if s['start'][:10] == day])
        values = {
            'party': party.id,
            'service': service.id,
            'start': slot['start'],
            'employee': slot['employee'],
            'channel': channel,
            'origin': 'counter' if i % 3 else 'phone',
            'notify_by': notify_by,
            'note': note,
            }
        for mechanism in party.contact_mechanisms:
            if mechanism.type == 'email':
                values['contact_email'] = mechanism.value
            elif mechanism.type == 'mobile':
                values['contact_mobile'] = mechanism.value_compact
        Appointment.book_slot(values, config.context)
        booked += 1
    return booked


if __name__ == '__main__':
    sys.exit(main())
