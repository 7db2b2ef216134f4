"""Attacks on the running app, one module per kind of attack; each module's docstring lists the attacks it
makes and each test's name says the attack and the defence. They run in both integration runs (SQLite with
the embedded worker, PostgreSQL + Redis with real arq processes).

- ``test_hostile_text``: markup and bare ``%`` in every field a channel, a file or a user controls, on every page.
- ``test_headers``: the Content-Security-Policy and the other security headers on every kind of response.
- ``test_personal_data``: buyers' phones and streets absent from the database file and its WAL, masked for
  viewers and read tokens, revealed only to an admin with an audit row; oversized fields cut.
- ``test_rule_engine_attacks``: ReDoS, huge literals, output blow-ups, deep nesting and slow rules through the
  simulators and backtests, while ``/healthz`` keeps answering.
- ``test_webhook_input``: malformed webhook bodies, each a 4xx with one error-queue row, replayable after a fix.
- ``test_import_files``: oversized files, zip bombs and too many rows, cells or columns in an import.
- ``test_parameters`` and ``test_parameter_fuzz``: hostile path, query and form parameters, then a
  property-based fuzz over every route the app has; nothing answers 5xx.
- ``test_sessions``: planted CSRF pairs, locking the admin out, forged forwarded addresses, disabled users,
  the demo seed in production.
- ``test_request_limits``: huge bodies and forms with millions of fields (413 before parsing), repeated fields.
- ``test_secrets``: webhook and pull secrets at rest, and the sandbox carrier in production.
"""
