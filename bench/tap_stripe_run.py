"""Run the unmodified tap-stripe against the sandbox (executed by the tap's own throwaway virtualenv).

tap-stripe talks to ``https://api.stripe.com`` through stripe-python's requests client; this wrapper only
routes those URLs to ``SANDBOX_STRIPE_URL`` and verifies TLS with ``SANDBOX_CA`` (the sandbox's generated
CA), then hands over to ``tap_stripe.main`` with the command-line arguments as given.
"""

import os

import requests

SANDBOX = os.environ["SANDBOX_STRIPE_URL"].rstrip("/")
CA = os.environ["SANDBOX_CA"]
STRIPE = "https://api.stripe.com"
_request = requests.Session.request


def _routed(self, method, url, *args, **kwargs):  # type: ignore[no-untyped-def]
    if isinstance(url, str) and url.startswith(STRIPE):
        url, kwargs["verify"] = SANDBOX + url[len(STRIPE):], CA
    return _request(self, method, url, *args, **kwargs)


requests.Session.request = _routed  # type: ignore[method-assign]

from tap_stripe import main  # noqa: E402

main()
