"""Integration tests: the app on a real database, its worker, its HTTP surface.

They hash and check thousands of passwords (each test's users, each login), so they ask for argon2id at its
cheapest unless the environment says otherwise; the processes they start inherit it. Production refuses it.
"""

import os

os.environ.setdefault("PASSWORD_HASHING", "fast")
