"""Terminal rendering of command results (rich).  Pure presentation: data in, tables out."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from connector.sync import SyncResult


def render_sync(console: Console, result: SyncResult) -> None:
    title = f"sync run {result.run_id}: {result.status}" + (" (dry run: nothing written)" if result.dry_run else "")
    table = Table(title=title, title_justify="left")
    written = "would write" if result.dry_run else "written"
    for col in ("system", "pulled", written, "tasks +/~/x", "calls", "retries", "waited", "failed"):
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
            str(calls.get("calls", 0)),
            str(calls.get("retries", 0)),
            _seconds(calls.get("rate_limit_wait_seconds", 0.0)),
            str(
                len(sink.get("failures", [])) + (1 if name in result.sink_errors or name in result.source_errors else 0)
            ),
        )
    console.print(table)
    console.print(f"accounts scored: {result.scored}")
    for name, msg in {**result.source_errors, **result.sink_errors}.items():
        console.print(f"[red]{name}[/]: {msg}", markup=True, highlight=False)
    if result.plan_file:
        console.print(f"planned changes saved to {result.plan_file}")


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


def render_check(console: Console, report: dict[str, Any]) -> None:
    table = Table(title="connector check", title_justify="left")
    for col in ("system", "reachable", "field problems"):
        table.add_column(col)
    for name, info in report["systems"].items():
        problems = info.get("field_problems") or []
        detail = "; ".join(f"{p['field']}: {p['problem']}" for p in problems[:5]) or (
            "-" if info["reachable"] else info.get("error", "")
        )
        table.add_row(name, "yes" if info["reachable"] else "[red]no[/]", detail)
    console.print(table)
    rates = report["identity"]["rates"]
    if rates:
        ident = Table(title="identity match rate (from the last sync)", title_justify="left")
        for col in ("source", "records", "matched", "ambiguous", "unmatched", "rate"):
            ident.add_column(col, justify="right" if col != "source" else "left")
        for source, r in rates.items():
            ident.add_row(
                source,
                str(r["total"]),
                str(r["matched"]),
                str(r["ambiguous"]),
                str(r["unmatched"]),
                f"{(r['match_rate'] or 0) * 100:.1f}%",
            )
        console.print(ident)
        for source, examples in report["identity"]["top_unmatched"].items():
            for m in examples[:5]:
                console.print(
                    f"  {source} {m['entity']} {m['entity_id']}: {m['status']}"
                    f" (keys tried: {m['key'] or 'none'}; candidates: {', '.join(m['candidates']) or '-'})",
                    markup=False,
                    highlight=False,
                )
    console.print("OK" if report["ok"] else "[red]problems found[/]")


def render_setup(console: Console, result: dict[str, Any], dry_run: bool) -> None:
    verb = "would create" if dry_run else "created"
    for system, items in result["created"].items():
        console.print(f"{system}: {verb} {len(items)}")
        for item in items:
            console.print(f"  {item['object']}.{item.get('field') or item['record_id']}", markup=False)
    for system, msg in result["errors"].items():
        console.print(f"[red]{system}[/]: {msg}", highlight=False)


def render_status(console: Console, data: dict[str, Any]) -> None:
    table = Table(title=f"recent runs ({data['accounts']} accounts in the store)", title_justify="left")
    for col in ("id", "kind", "status", "started", "ended", "scored", "calls"):
        table.add_column(col)
    for r in data["runs"]:
        table.add_row(
            str(r["id"]),
            r["kind"],
            r["status"],
            str(r["started_at"])[:19],
            str(r["ended_at"] or "")[:19],
            str(r["scored"] or "-"),
            str(r["calls"]),
        )
    console.print(table)
    for name, cur in data["cursors"].items():
        console.print(f"cursor {name}: {cur['value'][:60]} (at {str(cur['updated_at'])[:19]})", markup=False)
    console.print(f"quarantined records kept: {data['quarantined_recent']}")
