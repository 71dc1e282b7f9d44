"""Typed configuration, loaded from TOML and validated before anything runs.

Why this module is strict: admins edit the file by hand, and a typo that silently falls back to a default
is how a connector ends up writing to the wrong CRM field for a month.  Every model forbids unknown keys
(with a did-you-mean), every problem names the file, the key, what was expected and how to fix it, and the
CLI exits with status 2 on any of them (see :class:`ConfigError`).

Secrets are never values in this file: a system's credentials are *references* (``token_env`` naming an
environment variable, or ``token_file`` naming a file).  A literal secret is refused with a message saying
how to move it.  Resolution happens in :mod:`connector.secrets`, at the edge, when a client is built.
"""

from __future__ import annotations

import difflib
import tomllib
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from connector import registry
from connector.schedule import cron_trigger

#: Keys that hold a credential when given a literal value.  Seeing one of these with a string value in the
#: config file means a secret was pasted in; the fix is the matching ``*_env`` / ``*_file`` reference.
SECRET_KEYS = frozenset(
    {
        "token",
        "api_token",
        "api_key",
        "access_token",
        "refresh_token",
        "session_id",
        "password",
        "secret",
        "client_secret",
        "signing_secret",
        "webhook_secret",
        "private_key",
    }
)


_M = TypeVar("_M", bound=BaseModel)


class ConfigError(Exception):
    """A configuration problem an admin can fix; the message says where and how.

    ``problems`` lists each finding as ``(key, message)`` so the CLI can print all of them at once rather
    than making the admin fix one typo per run.
    """

    def __init__(self, path: Path | str, problems: list[tuple[str, str]]):
        self.path = str(path)
        self.problems = problems
        lines = [f"{self.path}: {key}: {msg}" if key else f"{self.path}: {msg}" for key, msg in problems]
        super().__init__("\n".join(lines))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SecretRef(_Strict):
    """Where a credential comes from: an environment variable or a file, never the config itself."""

    env: str | None = None
    file: Path | None = None


class SystemBase(_Strict):
    """What every external system shares: where it lives and which CA to trust.

    ``ca_bundle`` exists because EU data centres, customer proxies and our own sandbox all use certificates
    that the public trust store may not know.  There is deliberately no ``verify = false``: TLS verification
    can be pointed at a bundle, never silently switched off.
    """

    enabled: bool = True
    base_url: str
    ca_bundle: Path | None = None
    timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    max_retries: int = Field(default=6, ge=0, le=20)
    requests_per_second: float | None = Field(default=None, gt=0)
    allow_insecure_loopback: bool = Field(
        default=False, description="Accept an http:// base_url to a loopback address (local emulators, tests only)"
    )

    @field_validator("base_url")
    @classmethod
    def _url_has_scheme(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("must start with https:// (for example https://acme.my.salesforce.com)")
        return value.rstrip("/")

    def secret_ref(self, name: str) -> SecretRef:
        """The reference for credential ``name`` (``token`` → ``token_env``/``token_file``)."""
        return SecretRef(env=getattr(self, f"{name}_env", None), file=getattr(self, f"{name}_file", None))


class SalesforceConfig(SystemBase):
    base_url: str = Field(description="The org's instance URL, e.g. https://acme.my.salesforce.com")
    api_version: str = "59.0"
    session_id_env: str | None = Field(default=None, description="Env var holding an access token/session id")
    session_id_file: Path | None = None
    client_id_env: str | None = None
    client_id_file: Path | None = None
    client_secret_env: str | None = None
    client_secret_file: Path | None = None
    refresh_token_env: str | None = None
    refresh_token_file: Path | None = None
    token_url: str | None = Field(default=None, description="OAuth token endpoint for refresh-token grants")
    mapping: Path = Path("mappings/salesforce.toml")
    bulk_threshold: int = Field(default=2000, ge=1, description="Records per object above which Bulk 2.0 is used")
    bulk_poll_seconds: int = Field(default=2, ge=0, le=60, description="Wait between Bulk 2.0 job status polls")
    daily_api_share: float = Field(
        default=0.5, gt=0, le=1, description="Stop writing past this share of the daily API limit"
    )
    field_access_users: list[str] = Field(
        default_factory=list, description="Usernames `setup` grants read on the connector's fields (CSMs)"
    )
    field_access_profiles: list[str] = Field(
        default_factory=list, description="Profiles whose active users `setup` grants read on the connector's fields"
    )
    integration_username: str | None = Field(
        default=None, description="The user the connector writes as: `setup` grants it edit on the connector's fields"
    )
    write: bool = True

    @model_validator(mode="after")
    def _has_credentials(self) -> SalesforceConfig:
        refresh = self.refresh_token_env or self.refresh_token_file
        if self.enabled and not (self.session_id_env or self.session_id_file or refresh):
            raise ValueError(
                'no credentials: set session_id_env = "SF_ACCESS_TOKEN" (or session_id_file, or '
                "refresh_token_env with client_id_env/client_secret_env/token_url)"
            )
        return self


class HubSpotConfig(SystemBase):
    base_url: str = "https://api.hubapi.com"
    access_token_env: str | None = None
    access_token_file: Path | None = None
    client_id_env: str | None = None
    client_secret_env: str | None = None
    refresh_token_env: str | None = None
    mapping: Path = Path("mappings/hubspot.toml")
    requests_per_10s: int = Field(default=100, ge=1, description="100 on Free/Starter, 190 on Pro/Enterprise")
    write: bool = True

    @model_validator(mode="after")
    def _has_credentials(self) -> HubSpotConfig:
        if self.enabled and not (self.access_token_env or self.access_token_file or self.refresh_token_env):
            raise ValueError('no credentials: set access_token_env = "HUBSPOT_TOKEN" (a private-app token)')
        return self


class ZendeskConfig(SystemBase):
    base_url: str = Field(description="Your Zendesk URL, e.g. https://acme.zendesk.com")
    email: str = Field(description="The agent email the API token belongs to")
    token_env: str | None = None
    token_file: Path | None = None
    mapping: Path = Path("mappings/zendesk.toml")
    unresolved_after_days: int = Field(default=7, ge=1)
    resolution_window_days: int = Field(default=90, ge=1)
    requests_per_minute: int = Field(default=400, ge=1, description="200/400/700/2500 by plan")
    write: bool = True
    crm_id_field: str | None = Field(
        default=None, description="Key of the organization field holding the CRM account id, if any"
    )
    job_poll_seconds: float = Field(default=1.0, gt=0, le=60, description="First wait between job-status polls")
    job_timeout_seconds: float = Field(default=300.0, gt=0, description="Give up on a bulk job after this long")

    @model_validator(mode="after")
    def _has_credentials(self) -> ZendeskConfig:
        if self.enabled and not (self.token_env or self.token_file):
            raise ValueError('no credentials: set token_env = "ZENDESK_TOKEN" (an API token)')
        return self


class StripeConfig(SystemBase):
    base_url: str = "https://api.stripe.com"
    api_key_env: str | None = None
    api_key_file: Path | None = None
    webhook_secret_env: str | None = None
    failed_payment_window_days: int = Field(default=90, ge=1)
    card_expiry_window_days: int = Field(default=30, ge=1)

    @model_validator(mode="after")
    def _has_credentials(self) -> StripeConfig:
        if self.enabled and not (self.api_key_env or self.api_key_file):
            raise ValueError('no credentials: set api_key_env = "STRIPE_API_KEY" (a restricted read key)')
        return self


class UsageSignal(_Strict):
    """One usage column → one signal.  ``column`` is in the file or the query's result set."""

    column: str
    signal: str


class UsageConfig(_Strict):
    """Product-usage summaries: already aggregated per account, by a file export or by the warehouse."""

    enabled: bool = True
    kind: Literal["csv", "parquet", "sql"] = "csv"
    path: Path | None = None
    url_env: str | None = Field(default=None, description="Env var with the SQLAlchemy URL (it may hold a password)")
    url_file: Path | None = None
    query: str | None = None
    account_key_column: str = "account_key"
    account_key_kind: Literal["crm_id", "domain", "external_id"] = "crm_id"
    as_of_column: str | None = "as_of"
    batch_rows: int = Field(default=10_000, ge=100, description="Rows read per chunk (files are streamed)")
    signals: list[UsageSignal] = Field(
        default_factory=lambda: [
            UsageSignal(column="active_users", signal="active_users"),
            UsageSignal(column="licensed_seats", signal="licensed_seats"),
            UsageSignal(column="features_adopted", signal="features_adopted"),
            UsageSignal(column="key_features_total", signal="key_features_total"),
            UsageSignal(column="meaningful_events_30d", signal="meaningful_events_30d"),
        ]
    )

    @model_validator(mode="after")
    def _has_location(self) -> UsageConfig:
        if not self.enabled:
            return self
        if self.kind in ("csv", "parquet") and self.path is None:
            raise ValueError(f'kind = "{self.kind}" needs path = "usage.{self.kind}"')
        if self.kind == "sql" and not ((self.url_env or self.url_file) and self.query):
            raise ValueError('kind = "sql" needs url_env (env var with the database URL) and query')
        return self


class EnrichmentConfig(SystemBase):
    """A BuiltWith-style technology lookup.  Lookups cost money, hence the cache and the per-run cap."""

    base_url: str = "https://api.builtwith.com"
    api_key_env: str | None = None
    api_key_file: Path | None = None
    competitors: list[str] = Field(default_factory=list)
    own_technology: str | None = Field(default=None, description="Our widget's technology name, to spot its removal")
    cache_ttl_days: int = Field(default=30, ge=0)
    max_lookups_per_run: int = Field(default=500, ge=0)
    live_within_days: int = Field(
        default=60, ge=1, description="A technology last detected longer ago than this is treated as gone"
    )

    @model_validator(mode="after")
    def _has_credentials(self) -> EnrichmentConfig:
        if self.enabled and not (self.api_key_env or self.api_key_file):
            raise ValueError('no credentials: set api_key_env = "BUILTWITH_KEY"')
        return self


class Schedule(_Strict):
    """Cron (``cron = "*/15 * * * *"``) or interval (``every_minutes = 15`` / ``every_seconds = 30``) for one
    daemon job.

    ``jitter_seconds`` delays each run by a random 0…jitter so several installations do not hit a vendor at
    the same second; it must stay under half an interval, otherwise two consecutive runs could swap order.
    """

    cron: str | None = None
    every_minutes: float | None = Field(default=None, gt=0)
    every_seconds: float | None = Field(default=None, gt=0)
    jitter_seconds: int = Field(default=30, ge=0)
    misfire_grace_seconds: int = Field(default=300, ge=0)

    @model_validator(mode="after")
    def _one_trigger(self) -> Schedule:
        given = [v for v in (self.cron, self.every_minutes, self.every_seconds) if v is not None]
        if len(given) != 1:
            raise ValueError('give exactly one of cron = "*/15 * * * *", every_minutes = 15 or every_seconds = 30')
        if self.interval_seconds is not None and self.jitter_seconds * 2 >= self.interval_seconds:
            raise ValueError(
                f"jitter_seconds = {self.jitter_seconds} must be under half the interval "
                f"({self.interval_seconds:g} s); lower it, e.g. jitter_seconds = 0"
            )
        if self.cron is not None:
            try:
                cron_trigger(self.cron)
            except ValueError as exc:
                raise ValueError(f"cron = {self.cron!r} is not a 5-field crontab expression ({exc})") from None
        return self

    @property
    def interval_seconds(self) -> float | None:
        """The fixed interval in seconds, or ``None`` for a cron schedule."""
        if self.every_seconds is not None:
            return self.every_seconds
        return self.every_minutes * 60 if self.every_minutes is not None else None


class SchedulesConfig(_Strict):
    """The daemon's jobs: one pull per enabled source (``pull``, overridable per source) and the cycle that
    resolves identities, scores and writes (``score_and_write``)."""

    pull: Schedule = Schedule(every_minutes=15)
    score_and_write: Schedule = Schedule(every_minutes=60)
    sources: dict[str, Schedule] = Field(
        default_factory=dict,
        description="Per-source pull schedules, e.g. [schedules.sources.zendesk] every_minutes = 5",
    )
    health_max_missed: float = Field(
        default=3.0, ge=1, description="/healthz answers 503 when a job has not succeeded for this many intervals"
    )
    shutdown_grace_seconds: float = Field(
        default=60.0, ge=0, le=3600, description="On SIGTERM, how long a running job may take to finish"
    )

    @field_validator("sources")
    @classmethod
    def _known_sources(cls, value: dict[str, Schedule]) -> dict[str, Schedule]:
        known = tuple(name for name, system in registry.SYSTEMS.items() if system.source)
        unknown = sorted(set(value) - set(known))
        if unknown:
            raise ValueError(f"unknown source(s) {', '.join(unknown)}; known: {', '.join(known)}")
        return value

    def for_source(self, source: str) -> Schedule:
        return self.sources.get(source, self.pull)


class WebhooksConfig(_Strict):
    """The daemon's HTTP server: ``/healthz`` and ``/metrics`` always, ``/webhooks/*`` when ``enabled``.

    The Stripe endpoint secret is ``[stripe] webhook_secret_env``; Zendesk's signing secret and the HubSpot
    app's client secret are named here.  A vendor whose secret is not configured gets no route (404).
    """

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(default=8787, ge=1, le=65535)
    max_body_bytes: int = Field(default=1_000_000, ge=1024)
    signature_tolerance_seconds: int = Field(default=300, ge=1)
    zendesk_secret_env: str | None = None
    hubspot_client_secret_env: str | None = None
    public_url: str | None = Field(
        default=None,
        description="The externally visible base URL (e.g. https://cs.example.com) when behind a proxy: HubSpot "
        "signs the full URL it called, so verification must rebuild that URL, not the one the daemon sees",
    )


IdentityKey = Literal["external_id", "crm_id", "domain", "email_domain"]


class IdentityConfig(_Strict):
    """Which keys link source records to CRM accounts, strongest first."""

    precedence: list[IdentityKey] = Field(
        default_factory=lambda: list[IdentityKey](["crm_id", "external_id", "domain", "email_domain"])
    )
    stripe_metadata_key: str = "crm_account_id"
    ignore_email_domains: list[str] = Field(
        default_factory=lambda: ["gmail.com", "outlook.com", "hotmail.com", "yahoo.com", "icloud.com"]
    )
    overrides: Path = Field(
        default=Path("mappings/identity_overrides.toml"),
        description="Identity fixes as code (link / never lines, highest precedence); a missing file means none",
    )


class ConnectorSection(_Strict):
    state_url: str = Field(
        default="sqlite:///state/connector.db",
        description="SQLAlchemy URL of the state store (SQLite file, or postgresql+psycopg://...)",
    )
    state_url_env: str | None = Field(default=None, description="Env var with the state URL when it holds a password")
    success_model: Path = Path("mappings/success_model.toml")
    primary_crm: str = Field(default="salesforce", description="The CRM that holds the accounts (registry.crms())")
    output_dir: Path = Path("runs")
    sync_log_retention_days: int = Field(default=14, ge=1)
    score_history_retention_days: int = Field(
        default=400, ge=120,
        description="Days of score history kept (a point per account per day, ~1 KB each): the velocity reads "
                    "up to 120, the report's backtest a year")

    @field_validator("primary_crm")
    @classmethod
    def _a_crm(cls, value: str) -> str:
        if value not in registry.crms():
            raise ValueError(f"{value!r} is not a CRM; use {' or '.join(repr(c) for c in registry.crms())}")
        return value


class Config(_Strict):
    """The whole connector configuration.  Systems left out of the file are simply not used.

    The built-in systems' sections are typed attributes; a system added to the registry with its own
    ``settings`` model gets its section in ``plugins`` (see :func:`config_from_dict`).  Either way
    :meth:`section` is how code finds a system's section by name.
    """

    connector: ConnectorSection = ConnectorSection()
    salesforce: SalesforceConfig | None = None
    hubspot: HubSpotConfig | None = None
    zendesk: ZendeskConfig | None = None
    stripe: StripeConfig | None = None
    usage: UsageConfig | None = None
    enrichment: EnrichmentConfig | None = None
    identity: IdentityConfig = IdentityConfig()
    schedules: SchedulesConfig = SchedulesConfig()
    webhooks: WebhooksConfig = WebhooksConfig()

    #: Sections of systems the registry adds (validated by the system's own ``settings`` model).
    plugins: dict[str, Any] = Field(default_factory=dict, exclude=True)
    #: Directory the config file lives in; relative paths in it resolve against this, not the CWD (loading
    #: makes every path field absolute; :meth:`resolve` remains for paths inside other values).
    base_dir: Path = Field(default=Path("."), exclude=True)

    @model_validator(mode="after")
    def _primary_crm_configured(self) -> Config:
        if self.section(self.connector.primary_crm) is None:
            raise ValueError(
                f'connector.primary_crm is "{self.connector.primary_crm}" but there is no '
                f"[{self.connector.primary_crm}] section: add one or change primary_crm"
            )
        return self

    def resolve(self, path: Path) -> Path:
        """A path from the config, made absolute against the config file's directory."""
        return path if path.is_absolute() else (self.base_dir / path)

    def section(self, system: str) -> Any:
        """A system's section, or None when the file has none."""
        return getattr(self, system) if system in type(self).model_fields else self.plugins.get(system)

    def enabled_systems(self) -> list[str]:
        return [n for n in registry.names() if (s := self.section(n)) is not None and s.enabled]


# ---------------------------------------------------------------------------------------------------------
# Loading and error reporting
# ---------------------------------------------------------------------------------------------------------


def load_config(path: Path | str) -> Config:
    """Read, check for literal secrets, and validate ``path``; raise :class:`ConfigError` on any problem."""
    path = Path(path)
    try:
        raw_bytes = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(path, [("", "file not found; create one with `connector init`")]) from None
    except OSError as exc:
        raise ConfigError(path, [("", f"cannot read the file ({exc.strerror}); check its permissions")]) from None
    try:
        data = tomllib.loads(raw_bytes.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(path, [("", f"not valid UTF-8 at byte {exc.start}; save the file as UTF-8")]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, [("", f"invalid TOML: {exc}; fix the syntax on that line")]) from None
    return config_from_dict(data, path)


def config_from_dict(data: dict[str, Any], path: Path | str = "<config>") -> Config:
    from connector.config_safety import find_unsafe_values

    path = Path(path)
    problems = find_literal_secrets(data) + find_unsafe_values(data)
    if problems:
        raise ConfigError(path, problems)
    plugins: dict[str, Any] = {}
    for name, system in registry.SYSTEMS.items():
        if system.settings and name in data and name not in Config.model_fields:
            try:
                plugins[name] = registry.load(system.settings).model_validate(data[name])
            except ValidationError as exc:
                found = [_explain(err) for err in exc.errors()]
                raise ConfigError(path, [(f"{name}.{key}" if key else name, msg) for key, msg in found]) from None
    base_dir = path.parent.resolve()
    try:
        rest = {k: v for k, v in data.items() if k not in plugins}
        config = Config.model_validate({**rest, "plugins": plugins, "base_dir": base_dir})
    except ValidationError as exc:
        raise ConfigError(path, [_explain(err) for err in exc.errors()]) from None
    return _anchored(config, base_dir)


def _anchored(model: _M, base_dir: Path) -> _M:
    """``model`` with every relative path in it (nested sections included) made absolute against
    ``base_dir``: the one place paths are resolved, so a ``ca_bundle``, a secret file, a mapping or the
    usage file means the same file whichever directory the connector is started from."""
    updates: dict[str, Any] = {}
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, Path) and not value.is_absolute():
            updates[name] = base_dir / value
        elif isinstance(value, BaseModel) and (anchored := _anchored(value, base_dir)) is not value:
            updates[name] = anchored
        elif isinstance(value, dict) and any(isinstance(v, BaseModel) for v in value.values()):  # plugins
            updates[name] = {k: _anchored(v, base_dir) if isinstance(v, BaseModel) else v for k, v in value.items()}
    return model.model_copy(update=updates) if updates else model


def find_literal_secrets(data: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Every ``token = "…"``-style key, with the message telling the admin where to move it."""
    found: list[tuple[str, str]] = []
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict):
            found.extend(find_literal_secrets(value, f"{dotted}."))
        elif key.lower() in SECRET_KEYS and isinstance(value, str):
            env = f"{prefix.rstrip('.').upper().replace('.', '_')}_{key.upper()}".lstrip("_")
            found.append(
                (
                    dotted,
                    "a literal secret is not allowed in the config file (it ends up in backups and repos). "
                    f'Remove it, export it as an environment variable and reference it: `{key}_env = "{env}"` '
                    f'(or `{key}_file = "/run/secrets/{env.lower()}"`)',
                )
            )
    return found


def _explain(err: Any) -> tuple[str, str]:
    """Turn one pydantic error into (dotted key, what was expected and the fix)."""
    loc = [str(p) for p in err["loc"]]
    key = ".".join(loc)
    kind = err["type"]
    if kind == "extra_forbidden":
        return key, _unknown_key_message(loc)
    if kind == "missing":
        return key, "required key is missing; add it (see config.example.toml)"
    expected = err.get("msg", "invalid value").removeprefix("Value error, ")
    got = err.get("input")
    shown = "" if isinstance(got, dict) else f" (got {got!r:.60})"
    return key, f"{expected}{shown}"


def _unknown_key_message(loc: list[str]) -> str:
    model: type[BaseModel] = Config
    for part in loc[:-1]:
        field = model.model_fields.get(part)
        inner = _model_of(field.annotation) if field else None
        if inner is None:
            break
        model = inner
    allowed = [k for k in model.model_fields if k != "base_dir"]
    close = difflib.get_close_matches(loc[-1], allowed, n=1, cutoff=0.6)
    hint = f"did you mean `{close[0]}`?" if close else f"allowed keys: {', '.join(sorted(allowed))}"
    return f"unknown key; {hint}"


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def json_schema() -> dict[str, Any]:
    """JSON Schema of the config file, for editor completion (``connector config schema``)."""
    schema = Config.model_json_schema()
    schema.get("properties", {}).pop("base_dir", None)
    schema["title"] = "Customer Success connector configuration"
    return schema
