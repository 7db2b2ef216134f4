"""Attacks on the running app, one module per kind of attack; each test name says the attack and the defence."""
