"""Checks on the raw config that keep credentials out of the file and off the wire in clear text.

They run on the parsed TOML *before* model validation, for one reason: their findings must never echo the
value.  A token pasted into ``token_env``, or a URL with ``user:password@`` in it, is itself the secret;
pydantic's messages quote the input, and a message is printed, logged and kept in CI output.  So every
message here names the file, the key and the fix, and never the value.

* ``*_env`` keys must hold an environment variable *name*.  A value that is not a name is refused; one that
  looks like a token is refused with advice to rotate it (it has been in a file).
* URLs the connector sends credentials to (``base_url``, ``token_url``) must be ``https://``.  ``http://``
  is allowed only to a loopback address and only with ``allow_insecure_loopback = true`` in that section
  (local emulators and tests): a remote ``http://`` would send the API key in clear text.
* No URL may carry credentials: no ``user:password@``, no ``?api_key=``-style query parameter; a state
  store DSN with a password goes in an environment variable named by ``state_url_env``.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any
from urllib.parse import parse_qsl, urlsplit

#: A POSIX-portable environment variable name (what a shell can ``export``).
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}", re.ASCII)
#: Prefixes of the credentials the connector handles (Stripe, webhook secrets, HubSpot private apps, JWTs,
#: Salesforce session ids start with the org id ``00D``, Slack/GitHub/AWS for the usual copy-paste slips).
_TOKEN_PREFIXES = ("sk_", "rk_", "pk_", "whsec_", "pat-", "eyJ", "00D", "xox", "ghp_", "github_pat_", "AKIA",
                   "Bearer ")
#: URL keys the connector sends credentials to: plain HTTP is refused there.
_CREDENTIAL_URLS = ("base_url", "token_url")
#: URL keys checked for embedded credentials only.
_OTHER_URLS = ("public_url",)
_SECRET_PARAMS = frozenset({"api_key", "apikey", "key", "token", "access_token", "refresh_token", "auth",
                            "secret", "client_secret", "password", "pass", "pwd", "session_id", "sig",
                            "signature", "code"})
LOOPBACK_FLAG = "allow_insecure_loopback"


def find_unsafe_values(data: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """``(dotted key, message)`` for each credential in the wrong place or URL that would leak one."""
    found: list[tuple[str, str]] = []
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict):
            found.extend(find_unsafe_values(value, f"{dotted}."))
        elif not isinstance(value, str):
            continue
        elif key.endswith("_env"):
            found.extend(_env_name(dotted, key, value, prefix))
        elif key in _CREDENTIAL_URLS:
            found.extend(_url(dotted, value, prefix, insecure_allowed=data.get(LOOPBACK_FLAG) is True))
        elif key in _OTHER_URLS:
            found.extend(_url(dotted, value, prefix, insecure_allowed=True))
        elif key == "state_url":
            found.extend(_state_url(dotted, value))
    return found


def looks_like_token(value: str) -> bool:
    """A credential rather than a variable name: a known token prefix, or a long run of mixed characters.

    Variable names are words joined by ``_`` (``STRIPE_API_KEY``); tokens are long runs of letters and digits
    (``a1B2c3…``).  Either signal is enough: a false alarm costs the admin a rename, a miss costs a leak.
    """
    if value.startswith(_TOKEN_PREFIXES):
        return True
    runs = re.split(r"[_\W]+", value)
    if any(len(run) >= 16 and re.search(r"[0-9]", run) and re.search(r"[A-Za-z]", run) for run in runs):
        return True
    return len(value) >= 20 and bool(re.search(r"[a-z]", value) and re.search(r"[A-Z]", value)
                                     and re.search(r"[0-9]", value))


def _suggested_name(key: str, prefix: str) -> str:
    section = prefix.rstrip(".").split(".")[-1] if prefix else "connector"
    return f"{section}_{key.removesuffix('_env')}".upper()


def _env_name(dotted: str, key: str, value: str, prefix: str) -> list[tuple[str, str]]:
    name = _suggested_name(key, prefix)
    if looks_like_token(value):
        return [(dotted, "holds what looks like a secret, not the name of an environment variable; the value is "
                 "not shown. Remove it from the file and rotate it (it may already be in backups or version "
                 f'control), export the new one as {name} and set {key} = "{name}"')]
    if _ENV_NAME.fullmatch(value) is None:
        return [(dotted, "must be the name of an environment variable (ASCII letters, digits and _, not starting "
                 f'with a digit); the value is not shown. Example: {key} = "{name}"')]
    return []


def _url(dotted: str, value: str, prefix: str, *, insecure_allowed: bool) -> list[tuple[str, str]]:
    section = prefix.rstrip(".") or "connector"
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:
        return [(dotted, "is not a valid URL (the value is not shown); give it as https://host[:port][/path]")]
    problems = []
    if "@" in parts.netloc:
        problems.append((dotted, "holds credentials (user:password@…); the value is not shown. Remove them from "
                         f"the URL: credentials come only by reference (the *_env / *_file keys of [{section}])"))
    secret_params = sorted({k for k, _ in parse_qsl(parts.query, keep_blank_values=True)
                            if k.lower().replace("-", "_") in _SECRET_PARAMS})
    if secret_params:
        problems.append((dotted, f"carries a credential in its query ({', '.join(secret_params)}=…); the value is not "
                         f"shown. Remove the parameter: credentials come only by reference (the *_env / *_file "
                         f"keys of [{section}])"))
    if parts.scheme == "http" and not (insecure_allowed and _loopback(host)):
        hint = (f"for a local emulator on a loopback address add {LOOPBACK_FLAG} = true to [{section}]"
                if _loopback(host) else "plain HTTP is accepted only to a loopback address, for tests")
        problems.append((dotted, f"is http://, which would send credentials in clear text; use https:// ({hint})"))
    return problems


def _loopback(host: str | None) -> bool:
    if host is None:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _state_url(dotted: str, value: str) -> list[tuple[str, str]]:
    try:
        parts = urlsplit(value)
        password = parts.password
    except ValueError:
        return [(dotted, "is not a valid database URL (the value is not shown); e.g. sqlite:///state/connector.db")]
    query = {k.lower() for k, _ in parse_qsl(parts.query, keep_blank_values=True)}
    if password is not None or query & {"password", "pass", "pwd"}:
        return [(dotted, "holds a password; the value is not shown. Move the whole URL into an environment "
                 'variable, e.g. CONNECTOR_STATE_URL, and set state_url_env = "CONNECTOR_STATE_URL" instead')]
    return []
