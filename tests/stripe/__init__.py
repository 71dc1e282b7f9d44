"""Stripe vertical tests (a package so the shared kit imports relatively under --import-mode=importlib)."""
