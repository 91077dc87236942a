# Digitale Balie: developer shortcuts.  The logic lives in scripts/.
#   make demo                  set everything up and start the demo server
#   make test [ARGS="-k x"]    run all tests on SQLite and on PostgreSQL
#   make test-quick            before a commit: SQLite, no browser (< 5 min)
#   make test-sqlite / test-postgresql   one backend only
#   make venv                  Debian packages + .venv with the project
#   make sao                   the Tryton web client into var/sao
#   make axe                   axe-core (browser tests) into var/axe
#   make postgres              make sure a PostgreSQL server is running
#   make clean                 remove the demo database, caches, artifacts
#   make distclean             clean + .venv, var/ (sao, admin password, throwaway PostgreSQL)
SHELL := /bin/bash
ARGS ?=

.PHONY: help demo test test-quick test-sqlite test-postgresql venv sao axe postgres clean distclean

help:
	@sed -n '2,11p' Makefile | sed 's/^# \{0,1\}//'

demo:
	scripts/demo

# scripts/bootstrap is idempotent (seconds when nothing changed): the test
# commands work on a fresh machine
test:
	scripts/bootstrap
	scripts/test $(ARGS)

test-quick:
	scripts/bootstrap --without-postgresql
	BALIE_BACKENDS=sqlite BALIE_QUICK=1 scripts/test $(ARGS)

test-sqlite:
	scripts/bootstrap --without-postgresql
	BALIE_BACKENDS=sqlite scripts/test $(ARGS)

test-postgresql:
	scripts/bootstrap
	BALIE_BACKENDS=postgresql scripts/test $(ARGS)

venv:
	scripts/bootstrap

sao:
	scripts/sao

axe:
	scripts/axe

postgres:
	scripts/postgres

clean:
	rm -rf var/db var/cache var/filestore var/log var/demo_users.txt artifacts build
	find modules tests bench scripts -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	-scripts/postgres --stop
	rm -rf .venv var
