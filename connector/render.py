"""Terminal rendering of command results (rich).  Pure presentation: data in, tables out.

Every value that came from outside (names, ids, error messages, cursor values) goes through
:func:`connector.safe_output.terminal_safe` first: terminal escape sequences are stripped, and Rich markup
in it is escaped (there, or by ``escape`` on the cells of renderers that print with ``markup=False``), so
the markup written here is the only markup printed.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from connector.safe_output import for_terminal, terminal_safe
from connector.sync import SyncResult


def render_sync(console: Console, result: SyncResult) -> None:
    title = f"sync run {result.run_id}: {result.status}" + (" (dry run: nothing written)" if result.dry_run else "")
    table = Table(title=title, title_justify="left")
    written = "would write" if result.dry_run else "written"
    for col in ("system", "pulled", written, "tasks +/~/x", "drift", "calls", "retries", "waited", "failed"):
        table.add_column(col, justify="right" if col != "system" else "left", no_wrap=col == "system")
    systems = sorted(set(result.pulled) | set(result.sinks) | set(result.calls))
    for name in systems:
        pulled = result.pulled.get(name, {})
        sink = result.sinks.get(name, {})
        calls = result.calls.get(name, {})
        table.add_row(
            name,
            str(pulled.get("observations", 0) + pulled.get("accounts", 0)) if pulled else "-",
            str(sink.get("planned" if result.dry_run else "fields_written", "-")),
            f"{sink.get('tasks_created', 0)}/{sink.get('tasks_updated', 0)}/{sink.get('tasks_closed', 0)}"
            if sink
            else "-",
            str(len(sink.get("drift", []))) if sink else "-",
            str(calls.get("calls", 0)),
            str(calls.get("retries", 0)),
            _seconds(calls.get("rate_limit_wait_seconds", 0.0)),
            str(
                len(sink.get("failures", [])) + (1 if name in result.sink_errors or name in result.source_errors else 0)
            ),
        )
    console.print(table)
    if result.settled:
        console.print(f"nothing changed since run {result.settled['run_id']} ({result.settled['at']}), the same "
                      "UTC day: its scores and writes stand, so scoring and writing were skipped (new data or a "
                      "CSM's change to a task scores the accounts it touched; the next day or `sync --full` scores "
                      "every account)", highlight=False, markup=False)
    elif result.incremental:
        console.print(f"accounts scored: {result.scored} of {result.incremental['accounts']}, those changed since run "
                      f"{result.incremental['since_run']} (the others' scores and writes stand)",
                      highlight=False, markup=False)
    else:
        console.print(f"accounts scored: {result.scored}")
    render_backlog(console, result.tasks_deferred, result.task_backlog)
    drifted = sum(len(s.get("drift", [])) for s in result.sinks.values())
    if drifted:
        console.print(f"drift: {drifted} owned field(s) were edited in the CRM since we wrote them "
                      "(mapping setting on_drift decides); `sync --json` lists them under sinks.<system>.drift",
                      highlight=False, markup=False)
    for name, msg in {**result.source_errors, **result.sink_errors}.items():
        console.print(f"[red]{for_terminal(name)}[/]: {for_terminal(msg)}", markup=True, highlight=False)
    if result.plan_file:
        console.print(f"planned changes saved to {for_terminal(result.plan_file)}")


def render_backlog(console: Console, deferred: int, backlog: list[dict[str, Any]]) -> None:
    """The new tasks the per-owner cap held back: a CS lead's capacity signal, never silent."""
    if not deferred:
        return
    oldest = max((int(b["oldest_waiting_days"]) for b in backlog), default=0)
    console.print(f"tasks deferred by the per-owner cap: {deferred} (oldest waiting {oldest} days; retried next run)")
    for b in backlog[:8]:
        console.print(f"  {b['play']} for {b['owner']}: {b['deferred']} waiting, oldest {b['oldest_waiting_days']} "
                      "days", markup=False, highlight=False)


def _seconds(value: float) -> str:
    """Time spent waiting on rate limits and backoffs, as an admin reads it: ``-``, ``0.4 s``, ``41 s``."""
    if not value:
        return "-"
    return f"{value:.1f} s" if value < 10 else f"{value:,.0f} s"


def render_preflight(console: Console, report: dict[str, Any]) -> None:
    """Why the sync stopped before pulling: every field problem, then the fix."""
    problems, unchecked = report["problems"], report["unchecked"]
    console.print(f"[red]pre-flight failed[/]: nothing was pulled or written ({report['headline']})")
    for p in problems:
        console.print(f"  {p['system']} {p['object']}.{p['field']}: {p['problem']}", markup=False, highlight=False)
    for system, error in unchecked.items():
        console.print(f"  {system}: could not check its fields: {error}", markup=False, highlight=False)
    console.print(report["fix"], markup=False, highlight=False)


#: Field problems listed per system in the table; the rest are counted, never dropped silently.
FIELD_PROBLEMS_SHOWN = 5


def render_check(console: Console, report: dict[str, Any]) -> None:
    report = terminal_safe(report, markup=False)  # cells are escaped below; the paste lines must stay verbatim
    table = Table(title="connector check", title_justify="left")
    for col in ("system", "reachable", "field problems"):
        table.add_column(col)
    for name, info in report["systems"].items():
        problems = info.get("field_problems") or []
        shown = [f"{p['field']}: {p['problem']}" for p in problems[:FIELD_PROBLEMS_SHOWN]]
        if len(problems) > FIELD_PROBLEMS_SHOWN:
            shown.append(f"+{len(problems) - FIELD_PROBLEMS_SHOWN} more (`connector check --json` lists all)")
        detail = "; ".join(shown) or ("-" if info["reachable"] else info.get("error", ""))
        table.add_row(escape(name), "yes" if info["reachable"] else "[red]no[/]", escape(detail))
    console.print(table)
    rates = report["identity"]["rates"]
    if rates:
        ident = Table(title="identity match rate (from the last sync)", title_justify="left")
        for col in ("source", "records", "matched", "ambiguous", "unmatched", "rate"):
            ident.add_column(col, justify="right" if col != "source" else "left")
        for source, r in rates.items():
            ident.add_row(
                escape(source),
                str(r["total"]),
                str(r["matched"]),
                str(r["ambiguous"]),
                str(r["unmatched"]),
                f"{(r['match_rate'] or 0) * 100:.1f}%",
            )
        console.print(ident)
        _render_ambiguous(console, report["identity"])
        for source, examples in report["identity"]["top_unmatched"].items():
            for m in [e for e in examples if e["status"] == "unmatched"][:5]:
                console.print(
                    f"  {source} {m['entity']} {m['entity_id']}: {m['status']}"
                    f" (keys tried: {m['key'] or 'none'}; candidates: {', '.join(m['candidates']) or '-'})",
                    markup=False,
                    highlight=False,
                )
    console.print("OK" if report["ok"] else "[red]problems found[/]")


def _render_ambiguous(console: Console, identity: dict[str, Any]) -> None:
    """Each ambiguous match, with the line that fixes it (one per candidate: keep the right one)."""
    ambiguous = identity.get("ambiguous") or []
    if not ambiguous:
        return
    console.print(f"{len(ambiguous)} ambiguous match(es): to decide one, paste the right line into the `link = [` "
                  f"array of {identity['overrides_file']} (or run `connector identity link SOURCE:ENTITY:ID ACCOUNT`)",
                  markup=False, highlight=False)
    for m in ambiguous:
        console.print(f"  {m['source']} {m['entity']} {m['entity_id']} ({m['key']}):", markup=False, highlight=False)
        for line in m["paste"]:
            console.print(f"  {line}", markup=False, highlight=False, soft_wrap=True)


def render_setup(console: Console, result: dict[str, Any], dry_run: bool) -> None:
    result = terminal_safe(result, markup=False)  # printed with markup=False, or escaped where markup is used
    verb = "would create" if dry_run else "created"
    for system, items in result["created"].items():
        console.print(f"{system}: {verb} {len(items)}")
        for item in items:
            console.print(f"  {item['object']}.{item.get('field') or item['record_id']}", markup=False)
    for system, plan in result.get("access", {}).items():
        verb = "would change" if dry_run else "changed"
        if plan["changes"]:
            console.print(f"{system} access: {verb} {len(plan['changes'])}", markup=False)
        grants: dict[str, int] = {}  # one line per permission set and access, not one per field
        for c in plan["changes"]:
            if c["object"] == "FieldPermissions":
                key = f"  {c['action']} FieldPermissions {c['detail'].rsplit(' ', 1)[0]} on"
                grants[key] = grants.get(key, 0) + 1
            else:
                console.print(f"  {c['action']} {c['object']} {c['detail']}", markup=False, highlight=False)
        for line, n in grants.items():
            console.print(f"{line} {n} field(s)", markup=False, highlight=False)
        for problem in plan["problems"]:
            console.print(f"  [yellow]warning[/]: {escape(problem)}", highlight=False)
        for step in plan["next_steps"]:
            console.print(f"{system}, to do by hand: {step}", markup=False, highlight=False)
    for system, msg in result["errors"].items():
        console.print(f"[red]{escape(system)}[/]: {escape(msg)}", highlight=False)


def render_status(console: Console, data: dict[str, Any]) -> None:
    """The one view of what needs attention, most actionable first; ``--json`` has the same items."""
    data = terminal_safe(data, markup=False)
    jobs = Table(title=f"last run per job ({data['accounts']} accounts in the store)", title_justify="left")
    for col in ("job", "outcome", "started (UTC)", "duration", "last ok", "error"):
        jobs.add_column(col)
    for j in data["jobs"]:
        colour = "green" if j["status"] == "ok" else "yellow" if j["status"] in ("partial", "running") else "red"
        jobs.add_row(escape(j["kind"]), f"[{colour}]{j['status']}[/]", str(j["started_at"])[:19],
                     "-" if j["duration_seconds"] is None else f"{j['duration_seconds']:.1f} s",
                     str(j["last_ok_at"] or "never")[:19], escape((j["error"] or "")[:80]))
    console.print(jobs)
    _render_quarantine_counts(console, data["quarantine"])
    _render_drift(console, data["drift"])
    _render_budget(console, data["api_budget_today"])
    _render_identity(console, data["identity"])
    backlog = data.get("task_backlog") or {}
    render_backlog(console, int(backlog.get("deferred") or 0), list(backlog.get("by_play_owner") or []))


def _render_quarantine_counts(console: Console, quarantine: dict[str, Any]) -> None:
    console.print(f"quarantined records: {quarantine['records']}"
                  + (" (`connector quarantine list`; fix at the source, then `connector quarantine retry`)"
                     if quarantine["records"] else ""), markup=False, highlight=False)
    for source, reasons in quarantine["by_source"].items():
        for reason, n in list(reasons.items())[:5]:
            console.print(f"  {source}: {n} × {reason}", markup=False, highlight=False)


def _render_drift(console: Console, drift: dict[str, Any]) -> None:
    items = drift["items"]
    console.print(f"drift (fields a person changed; the connector holds back): {len(items)}"
                  + (f" in run {drift['run_id']}" if drift["run_id"] else ""), markup=False, highlight=False)
    for d in items[:10]:
        console.print(f"  {d['system']} {d['object']} {d['record_id']} {d['field']}: person set "
                      f"{d['person_value']!r}, connector last wrote {d['connector_value']!r}",
                      markup=False, highlight=False)


def _render_budget(console: Console, budget: dict[str, Any]) -> None:
    use = ", ".join(f"{name} {u['calls']}" + (f" ({u['retries']} retried)" if u["retries"] else "")
                    for name, u in budget["systems"].items())
    console.print(f"API calls today (since {str(budget['since'])[:16]} UTC): {use or 'none'}",
                  markup=False, highlight=False)


def _render_identity(console: Console, identity: dict[str, Any]) -> None:
    rate = identity["match_rate"]
    console.print(f"identity match rate: {'-' if rate is None else f'{rate * 100:.1f}%'}", markup=False,
                  highlight=False)
    for source, r in identity["sources"].items():
        pct = "-" if r["match_rate"] is None else f"{r['match_rate'] * 100:.1f}%"
        console.print(f"  {source}: {pct} of {r['total']} ({r['ambiguous']} ambiguous, {r['unmatched']} unmatched"
                      + (f", {r['pending']} not resolved yet" if r["pending"] else "") + ")",
                      markup=False, highlight=False)


def render_quarantine(console: Console, items: list[dict[str, Any]], limit: int) -> None:
    items = terminal_safe(items, markup=False)
    table = Table(title=f"quarantined records: {len(items)}", title_justify="left")
    for col in ("source", "entity", "id", "reason", "seen", "last seen"):
        table.add_column(col)
    for i in items[:limit]:
        table.add_row(escape(i["source"]), escape(i["entity"]), escape(str(i["entity_id"] or "-")),
                      escape(i["reason"][:120]), str(i["seen"]), str(i["last_seen"])[:19])
    console.print(table)
    if len(items) > limit:
        console.print(f"{len(items) - limit} more: --limit, or --json for all", markup=False)


def render_retry(console: Console, result: dict[str, Any], dry_run: bool) -> None:
    result = terminal_safe(result, markup=False)
    sources = ", ".join(result["sources"]) or "none"
    if dry_run or result["run_id"] is None:
        console.print(f"{result['retried']} quarantined record(s); would re-read in full: {sources}", markup=False)
    else:
        console.print(f"re-read {sources} in full (run {result['run_id']}: {result['status']}): "
                      f"{result['fixed']} record(s) now accepted, {len(result['still_quarantined'])} still "
                      "quarantined", markup=False, highlight=False)
    for i in result["still_quarantined"][:10]:
        console.print(f"  {i['source']} {i['entity']} {i['entity_id']}: {i['reason']}", markup=False,
                      highlight=False)
    for name, msg in result["source_errors"].items():
        console.print(f"  {name} failed, its records stay quarantined: {msg}", markup=False, highlight=False)
    if result["skipped_sources"]:
        console.print(f"  not enabled in the config (skipped): {', '.join(result['skipped_sources'])}",
                      markup=False)


def _pct(value: Any) -> str:
    return "–" if value is None else f"{value * 100:.0f} %"


def _plain(value: Any, suffix: str = "") -> str:
    return "–" if value is None else f"{value:g}{suffix}"


def render_backtest(console: Console, data: dict[str, Any]) -> None:
    """``connector backtest``: the outcomes found, one table per outcome kind, and the lift table."""
    hist, params, outcomes = data["history"], data["parameters"], data["outcomes"]
    console.print(f"score history {hist['first_scored']} → {hist['last_scored']} ({hist['span_days']} days), "
                  f"{hist['accounts']:,} accounts ({hist['left_out_already_gone']:,} already gone at their first "
                  f"run left out); horizon {params['horizon_days']:g} days", markup=False)
    console.print("outcomes: " + ", ".join(f"{k} {v:,}" for k, v in outcomes.items()), markup=False)
    for kind in ("adverse", "churn", "downgrade", "expansion"):
        table = Table(title=f"{kind}: did the signal come first?", title_justify="left")
        for col in ("signal", "warned", "hits", "precision", "recall", "lift", "lead (median days)"):
            table.add_column(col, justify="left" if col == "signal" else "right", overflow="fold")
        for sig in data["signals"]:
            m = sig["by_outcome"][kind]
            table.add_row(escape(for_terminal(sig["signal"])), f"{m['warned']:,}", f"{m['hits']:,}",
                          _pct(m["precision"]), _pct(m["recall"]), _plain(m["lift"], "×"),
                          _plain(m["lead_days_median"]))
        console.print(table)
    lift = data["lift_table"]
    table = Table(title=f"lift table: adverse outcomes by {lift['by']} (overall {_pct(lift['base_rate'])})",
                  title_justify="left")
    for col in ("group", "vector", "accounts", "outcomes", "rate", "lift"):
        table.add_column(col, justify="right")
    for row in lift["rows"]:
        table.add_row(row["group"], f"{row['vector_from']:g}–{row['vector_to']:g}", f"{row['accounts']:,}",
                      f"{row['outcomes']:,}", _pct(row["rate"]), _plain(row["lift"], "×"))
    console.print(table)
