"""The ``connector`` command line: thin commands over the library, one JSON object on stdout with --json.

Exit codes: 0 success, 1 the run failed or was partial, 2 bad input (config, mapping, model, arguments).
Logs go to stderr (structlog), so ``connector sync --json | jq`` always works.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from connector import logging as connector_logging
from connector.config import Config, ConfigError, json_schema, load_config
from connector.safe_output import dumps, for_terminal, plain

if TYPE_CHECKING:
    from connector.observe import RunObserver

app = typer.Typer(
    help="Customer Success connector: Success Vector and Milestones into your CRM and help desk.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
config_app = typer.Typer(help="Inspect the configuration format.", no_args_is_help=True)
app.add_typer(config_app, name="config")
identity_app = typer.Typer(
    help="Fix identity matches as code: edits the overrides file (identity.overrides, versioned with the config).",
    no_args_is_help=True,
)
app.add_typer(identity_app, name="identity")
quarantine_app = typer.Typer(
    help="Records a source could not use: list them with their reason; re-read them once the data is fixed.",
    no_args_is_help=True,
)
app.add_typer(quarantine_app, name="quarantine")

out = Console()
err = Console(stderr=True, soft_wrap=True)

ConfigOpt = Annotated[
    Path, typer.Option("--config", "-c", envvar="CONNECTOR_CONFIG", help="Config file (env CONNECTOR_CONFIG).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]
NowOpt = Annotated[
    str | None, typer.Option("--now", hidden=True, help="Evaluate as of this ISO time (sandbox clocks).")
]
DEFAULT_CONFIG = Path("connector.toml")
REPO_ROOT = Path(__file__).resolve().parent.parent


def _fail_config(*errors: ConfigError) -> typer.Exit:
    lines = "\n".join(f"  {plain(line)}" for exc in errors for line in str(exc).splitlines())
    count = sum(len(exc.problems) for exc in errors)
    sys.stderr.write(f"configuration error ({count} problem(s)):\n{lines}\n")
    return typer.Exit(2)


def _load(path: Path, *, with_files: bool = False) -> Config:
    """The config, with its identity overrides checked too: a bad override line stops every command (exit 2);
    ``with_files`` (commands that connect, score or write) also checks every mapping file and the success
    model it names, before anything starts."""
    from connector.identity_overrides import load_for

    try:
        config = load_config(path)
        load_for(config)
    except ConfigError as exc:
        raise _fail_config(exc) from None
    if with_files:
        from connector.runtime import file_problems

        if errors := file_problems(config, path):
            raise _fail_config(*errors)
    return config


def _now(value: str | None) -> datetime:
    if not value:
        return datetime.now(UTC)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        err.print(f"--now: {for_terminal(repr(value))} is not an ISO date-time (e.g. 2026-11-23T09:00:00+00:00)")
        raise typer.Exit(2) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _emit(data: dict[str, Any]) -> None:
    """One strict-JSON line: NaN/Infinity become null (strict parsers such as jq refuse them)."""
    sys.stdout.write(dumps(data, default=str, ensure_ascii=False) + "\n")


def _store(config: Config) -> Any:
    from connector.runtime import open_store

    try:
        return open_store(config)
    except ConfigError as exc:
        raise _fail_config(exc) from None


@app.callback()
def main(log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING, ERROR")] = "INFO") -> None:
    connector_logging.configure(log_level)


@app.command()
def init(
    path: Annotated[Path, typer.Argument(help="Where to write the config.")] = DEFAULT_CONFIG,
    force: Annotated[bool, typer.Option(help="Overwrite an existing file.")] = False,
) -> None:
    """Write a starter config (and the default mappings next to it) to edit."""
    if path.exists() and not force:
        err.print(f"{for_terminal(path)} exists; use --force to overwrite")
        raise typer.Exit(2)
    path.write_text((REPO_ROOT / "config.example.toml").read_text(encoding="utf-8"), encoding="utf-8")
    mappings = path.parent / "mappings"
    if not mappings.exists():
        shutil.copytree(REPO_ROOT / "mappings", mappings)
    out.print(f"wrote {for_terminal(path)} and {for_terminal(mappings)}/ — next: set the *_env variables, then "
              f"`connector check -c {for_terminal(path)}`")


@app.command()
def check(config: ConfigOpt = DEFAULT_CONFIG, json_out: JsonOpt = False) -> None:
    """Validate the config; then connectivity, field presence and identity match rates per system."""
    from connector.runtime import run_checks

    cfg = _load(config, with_files=True)
    report = run_checks(cfg)
    if json_out:
        _emit(report)
    else:
        from connector.render import render_check

        render_check(out, report)
    raise typer.Exit(0 if report["ok"] else 1)


@app.command()
def setup(
    config: ConfigOpt = DEFAULT_CONFIG,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only say what would be created.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Create the custom fields, properties and organization fields the mappings need (idempotent)."""
    from connector.runtime import run_setup

    cfg = _load(config, with_files=True)
    result = run_setup(cfg, dry_run=dry_run)
    if json_out:
        _emit(result)
    else:
        from connector.render import render_setup

        render_setup(out, result, dry_run)
    raise typer.Exit(0 if not result["errors"] else 1)


@app.command()
def sync(
    config: ConfigOpt = DEFAULT_CONFIG,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Write nothing; print and save what would change.")
    ] = False,
    json_out: JsonOpt = False,
    full: Annotated[bool, typer.Option(
        "--full", help="Ignore cursors, re-read every source and score every account (even when nothing changed)."
    )] = False,
    skip_preflight: Annotated[bool, typer.Option(
        "--skip-preflight",
        help="Do not check, before pulling, that every mapped field exists and is writable in each destination.",
    )] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log every retry and rate-limit wait.")] = False,
    now: NowOpt = None,
) -> None:
    """Pull, resolve, score and write once.

    First a pre-flight (one describe/list call per destination object) checks that every mapped field
    exists and is writable; if not, the sync stops before pulling anything (exit 1).
    """
    from connector.preflight import run_preflight
    from connector.runtime import http_layer, run_sync

    cfg = _load(config, with_files=True)
    if verbose:
        connector_logging.configure("DEBUG")
    layer, when = http_layer(cfg), _now(now)  # one layer: the pre-flight's calls count in the run's summary
    with _watching(json_out) as observer:
        checked = None if skip_preflight else run_preflight(cfg, layer, observer)
        result = None if checked and not checked.ok else run_sync(
            cfg, dry_run=dry_run, full=full, now=when, http=layer, observer=observer)
    if result is None:
        assert checked is not None
        _stopped_by_preflight(checked.as_json(), json_out)
    elif json_out:
        _emit(result.as_json())
    else:
        from connector.render import render_sync

        render_sync(out, result)
    raise typer.Exit(1 if result is None or result.status != "ok" else 0)


@contextmanager
def _watching(json_out: bool) -> Iterator[RunObserver]:
    """A live line per stage on a terminal; structured log lines otherwise (CI, cron, ``--json``)."""
    from connector.observe import RunObserver

    console = Console(stderr=True)
    if json_out or not console.is_terminal:
        yield RunObserver()
        return
    from connector.progress import TerminalProgress

    with TerminalProgress(console) as progress:
        yield progress


def _stopped_by_preflight(report: dict[str, Any], json_out: bool) -> None:
    """Why the sync stopped before any pull: a destination lacks mapped fields or could not be checked."""
    if json_out:
        _emit({"status": "preflight_failed", "preflight": report})
    else:
        from connector.render import render_preflight

        render_preflight(out, report)


@app.command()
def run(
    config: ConfigOpt = DEFAULT_CONFIG,
    skip_preflight: Annotated[bool, typer.Option(
        "--skip-preflight", help="Start even if a destination lacks mapped fields (checked before the first cycle).",
    )] = False,
) -> None:
    """Run as a daemon: scheduled pulls and writes, webhooks, /healthz and /metrics."""
    from connector.daemon import serve_forever

    serve_forever(_load(config, with_files=True), preflight=not skip_preflight)


@app.command()
def explain(
    account: Annotated[str, typer.Argument(help="CRM account id (or exact name).")],
    config: ConfigOpt = DEFAULT_CONFIG,
    json_out: JsonOpt = False,
    now: NowOpt = None,
) -> None:
    """Everything the model knows about one account: vector, drivers, milestones, quadrant, plays."""
    from connector.runtime import explain_account

    cfg = _load(config, with_files=True)
    data = explain_account(cfg, account, _now(now))
    if data is None:
        err.print(f"no account {for_terminal(repr(account))} in the state store; run `connector sync` first")
        raise typer.Exit(1)
    if json_out:
        _emit(data)
    else:
        from connector.scoring.explain import render_explain

        out.print(render_explain(data))


@app.command()
def status(config: ConfigOpt = DEFAULT_CONFIG, json_out: JsonOpt = False) -> None:
    """What needs attention: last run per job, quarantine, drift, deferred tasks, API calls today, match rate."""
    from connector.status import collect_status, validated

    data = validated(collect_status(_store(_load(config))))
    if json_out:
        _emit(data)
    else:
        from connector.render import render_status

        render_status(out, data)


@app.command()
def backtest(
    config: ConfigOpt = DEFAULT_CONFIG,
    json_out: JsonOpt = False,
    horizon: Annotated[float, typer.Option("--horizon", min=1, help="Days after a warning an outcome counts as "
                                           "foreseen.")] = 90.0,
    below: Annotated[float, typer.Option("--below", min=0, max=100, help="The 'vector below' signal's "
                                         "threshold.")] = 40.0,
    days: Annotated[float | None, typer.Option("--days", min=1, help="Replay only the last N days of runs "
                                               "(default: all).")] = None,
    now: NowOpt = None,
) -> None:
    """Replay the score history against churn, downgrades and expansions: lead time, precision, recall, lift."""
    from connector.backtest import run_backtest

    since = _now(now) - timedelta(days=days) if days else None
    data = run_backtest(_store(_load(config)), horizon_days=horizon, below=below, since=since)
    if json_out:
        _emit(data)
    else:
        from connector.render import render_backtest

        render_backtest(out, data)


@app.command()
def report(
    config: ConfigOpt = DEFAULT_CONFIG,
    out_file: Annotated[Path | None, typer.Option("--out", help="HTML file to write.")] = None,
) -> None:
    """Build a self-contained HTML report from the state store."""
    from connector.report import build_report

    cfg = _load(config, with_files=True)
    path = build_report(cfg, _store(cfg), out_file)
    out.print(f"report written to {for_terminal(path)}")


@app.command()
def sandbox(
    accounts: Annotated[int, typer.Option(help="Accounts in the synthetic world (10 – 1,000,000).")] = 500,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic world.")] = 7,
    faults: Annotated[str, typer.Option(help="e.g. 'rate_429=0.1,rate_5xx=0.05,latency_ms=50:150'.")] = "",
    write_config: Annotated[Path, typer.Option("--write-config", help="Write a ready connector config here.")] = Path(
        "sandbox.toml"
    ),
    port: Annotated[int, typer.Option(help="Port of the web view (emulators take free ports).")] = 8700,
) -> None:
    """Run every emulator (HTTPS) in the foreground with a synthetic world, and write a config for it."""
    from connector.sandbox.cluster import run_foreground

    run_foreground(accounts=accounts, seed=seed, faults=faults, config_path=write_config, web_port=port)


@app.command()
def demo(
    accounts: Annotated[int, typer.Option(help="Accounts in the demo world.")] = 500,
    out_dir: Annotated[Path, typer.Option("--out", help="Where the demo writes its state and report.")] = Path(
        "demo-output"
    ),
    runs: Annotated[int, typer.Option(help="Weekly syncs to simulate.")] = 6,
    keep: Annotated[
        float | None,
        typer.Option("--keep", help="Seconds to keep the sandbox up afterwards (default 900 on a terminal, else 0)."),
    ] = None,
) -> None:
    """The whole job end to end on the sandbox: setup, syncs over simulated weeks, summary and report."""
    from connector.demo import run_demo

    console = out if out.is_terminal else Console(width=150)  # logs and CI: wide enough to keep tables whole
    raise typer.Exit(run_demo(accounts=accounts, out_dir=out_dir, console=console, runs=runs, keep_seconds=keep))


SourceOpt = Annotated[list[str] | None, typer.Option("--source", help="Only this source (repeatable).")]


@quarantine_app.command("list")
def quarantine_list(config: ConfigOpt = DEFAULT_CONFIG, source: SourceOpt = None, json_out: JsonOpt = False,
                    limit: Annotated[int, typer.Option(help="Records shown (--json lists all).")] = 50) -> None:
    """One line per quarantined record: its source, id and latest reason, and how often it was seen."""
    from connector.quarantine import open_items

    store = _store(_load(config))
    try:
        items = open_items(store, source)
    finally:
        store.close()
    if json_out:
        _emit({"total": len(items), "items": items})
    else:
        from connector.render import render_quarantine

        render_quarantine(out, items, limit)


@quarantine_app.command("retry")
def quarantine_retry(
    config: ConfigOpt = DEFAULT_CONFIG,
    source: SourceOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only say which sources would be re-read.")] = False,
    json_out: JsonOpt = False,
    now: NowOpt = None,
) -> None:
    """After fixing the data: re-read the sources of quarantined records (a full read of each) and sync."""
    from connector.quarantine import retry

    result = retry(_load(config, with_files=True), source, now=_now(now), dry_run=dry_run)
    if json_out:
        _emit(result)
    else:
        from connector.render import render_retry

        render_retry(out, result, dry_run)
    raise typer.Exit(0 if result["status"] in (None, "ok") else 1)


RefArg = Annotated[str, typer.Argument(help="The source record as SOURCE:ENTITY:ID, e.g. zendesk:organization:42.")]
NoteOpt = Annotated[str, typer.Option("--note", help="Why (kept as a comment on the line).")]


@identity_app.command("link")
def identity_link(ref: RefArg, account: Annotated[str, typer.Argument(help="CRM account id it belongs to.")],
                  config: ConfigOpt = DEFAULT_CONFIG, note: NoteOpt = "") -> None:
    """Match this source record to this account, whatever its keys say (replaces its earlier link)."""
    _edit_identity(config, "link", ref, account, note)


@identity_app.command("never")
def identity_never(ref: RefArg, account: Annotated[str, typer.Argument(help="CRM account id it must not match.")],
                   config: ConfigOpt = DEFAULT_CONFIG, note: NoteOpt = "") -> None:
    """Never match this source record to this account."""
    _edit_identity(config, "never", ref, account, note)


@identity_app.command("unlink")
def identity_unlink(
    ref: RefArg,
    account: Annotated[str | None, typer.Argument(help="Only the overrides naming this account.")] = None,
    config: ConfigOpt = DEFAULT_CONFIG,
) -> None:
    """Remove this record's overrides (link and never), so its keys decide again."""
    _edit_identity(config, None, ref, account, "")


def _edit_identity(config: Path, kind: Any, ref: str, account: str | None, note: str) -> None:
    from connector.identity_overrides import edit, overrides_path, parse_ref

    cfg = _load(config)
    try:
        parsed = parse_ref(ref)
    except ValueError as exc:
        err.print(str(exc), markup=False)
        raise typer.Exit(2) from None
    if kind is not None and account is not None:
        _warn_unknown(cfg, parsed, account)
    path = overrides_path(cfg)
    try:
        changes = edit(path, kind, parsed, account, note)
    except ConfigError as exc:
        raise _fail_config(exc) from None
    for line in changes or ["nothing to change"]:
        out.print(line, markup=False, highlight=False)
    out.print(f"{path}: applies from the next sync; commit it with the rest of the config", markup=False)


def _warn_unknown(cfg: Config, ref: tuple[str, str, str], account: str) -> None:
    """A typo in an id would silently leave the record unmatched: say so when the store does not know it."""
    store = _store(cfg)
    try:
        if not any(a.account_id == account for a in store.accounts()):
            err.print(f"warning: account {account} is not in the state store (yet): check the id", markup=False)
        if not any(o.entity == ref[1] and o.entity_id == ref[2] for o in store.observations(ref[0])):
            err.print(f"warning: no {ref[0]} {ref[1]} {ref[2]} was read so far: check the reference", markup=False)
    finally:
        store.close()


@config_app.command("schema")
def config_schema() -> None:
    """Print the JSON Schema of the config file (for editor completion)."""
    _emit(json_schema())


@config_app.command("validate")
def config_validate(config: ConfigOpt = DEFAULT_CONFIG) -> None:
    """Validate the config file only (no network)."""
    cfg = _load(config, with_files=True)
    out.print(f"{for_terminal(config)}: OK ({', '.join(cfg.enabled_systems()) or 'no systems'})")
