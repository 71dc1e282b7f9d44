"""One account plan: the ready plays routed to people become at most N open tasks per account.

Why: a CSM acts on an account, not on a play.  Three tasks on one account (a failed payment, an upsell and
a renewal) ask her to triage what the connector should have ranked, and an escalation ladder that moves on
a timer, whatever she did, teaches her to ignore it.  So, per account (``max_open_tasks_per_account``
slots, default 1):

* **merge** — the ready plays share the slot's task; the most important (priority, then the model's order)
  leads the subject and its ladder; the body ranks the others.  The key is ``account:plan:seq``: a change
  of reasons or an escalation updates the same CRM record in place;
* **escalate on evidence only** — a step moves on when the CSM completed it (read back from the CRM) and
  the lead reason still holds (a new task, ``seq + 1``, due ``escalate_after_days`` later so the customer
  can answer first: her completed task is her record and is never reopened; if the reason clears in the
  meantime it is closed as ``cleared``), or when its due date passed ``escalate_overdue_after_days`` ago
  with nobody touching the task (updated in place).  Every step is written to the task's history;
* **respect what she did** — a task deleted or closed by a person retires its plays for their cooldown;
  the last step completed with the reason still there rests the plays the same way;
* **close with a reason** — the connector closes only when no reason holds (``cleared``), or when an old
  per-play task is folded into the plan (``merged``) or a slot is dropped (``superseded``); never as
  ``Completed`` (the sinks use a status activity reports can exclude);
* **capacity** — only new tasks count against ``max_new_tasks_per_owner_per_day``; a
  ``proactive_share`` of it is kept for proactive plays (onboarding, milestones, renewals, expansion).
  What does not fit is the backlog: deferred per play and owner with the oldest wait, retried next run.

Decisions are column-wise over (slots × accounts); only the accounts whose plan changes get text.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from connector.scoring.day_facts import backlog_summary
from connector.scoring.days import day_number, day_to_iso
from connector.scoring.inputs import ScoringInputs
from connector.scoring.previous import parse_day

MAX_KEY = 255


def task_key(account_id: str, plan: str, seq: int) -> str:
    """Stable external id; hashes the account part if an unusually long id would break the 255 limit."""
    key = f"{account_id}:{plan}:{seq}"
    if len(key) <= MAX_KEY:
        return key
    return f"{hashlib.sha1(account_id.encode()).hexdigest()}:{plan}:{seq}"[:MAX_KEY]


CREATE, UPDATE, CLOSE = 1, 2, 3
CLOSE_REASONS = {1: "cleared", 2: "superseded", 3: "merged"}
CLEARED, SUPERSEDED, MERGED = 1, 2, 3
OPEN_TOUCHED, COMPLETED, DISMISSED = 1, 2, 3
_EVIDENCE = {"open": OPEN_TOUCHED, "completed": COMPLETED, "dismissed": DISMISSED}
HISTORY_LINES = 8
_BIG = np.iinfo(np.int64).max


def slot_name(slot: int) -> str:
    return "plan" if slot == 0 else f"plan{slot + 1}"


@dataclass
class PlanState:
    """Per (slot, account): the key's ``seq`` (−1 = never had a task), whether its task is open, the leading
    play and step, when the step began and falls due, when the CSM completed it (waiting for evidence),
    the day its CRM record was created, the merged plays (bit p = play p) and the history lines."""

    seq: np.ndarray
    open: np.ndarray
    lead: np.ndarray
    step: np.ndarray
    since: np.ndarray
    due: np.ndarray
    done: np.ndarray
    opened: np.ndarray
    members: np.ndarray
    history: np.ndarray

    @classmethod
    def empty(cls, slots: int, n: int) -> PlanState:
        shape = (slots, n)
        nan = np.full(shape, np.nan)
        return cls(np.full(shape, -1, np.int64), np.zeros(shape, bool), np.full(shape, -1, np.int64),
                   np.full(shape, -1, np.int64), nan, nan.copy(), nan.copy(), nan.copy(),
                   np.zeros(shape, np.uint64), np.full(shape, None, object))

    def copy(self) -> PlanState:
        return PlanState(*(np.copy(getattr(self, f)) for f in self.__dataclass_fields__))


@dataclass(frozen=True)
class PlanResult:
    """The new plan state, what changed per (slot, account) this run, the history lines added, and the
    backlog the cap left."""

    before: PlanState
    state: PlanState
    action: np.ndarray                 # (S, n) int8: CREATE / UPDATE / CLOSE, 0 = nothing to write
    reason: np.ndarray                 # (S, n) int8: close reason code
    notes: dict[tuple[int, int], list[str]]
    extra_closes: list[tuple[int, str, str, int]]  # (row, key, play, reason): per-play or dropped-slot tasks
    evidence: dict[tuple[int, int], Any] = field(default_factory=dict)  # the read-back matched to a slot
    opened_today: dict[str, int] = field(default_factory=dict)  # owner group → new tasks given today
    deferred_rows: dict[str, list[list[Any]]] = field(default_factory=dict)  # account → held-back tasks

    @property
    def deferred(self) -> int:
        """New tasks the cap held back this run."""
        return backlog_summary(self.deferred_rows)[0]

    @property
    def backlog(self) -> list[dict[str, Any]]:
        """The held-back tasks per play and owner, with the oldest wait."""
        return backlog_summary(self.deferred_rows)[1]

    def history(self, slot: int, row: int) -> list[str]:
        lines = list(self.state.history[slot, row] or ()) + self.notes.get((slot, row), [])
        return lines[-HISTORY_LINES:]

    def json_at(self, row: int, names: tuple[str, ...]) -> dict[str, Any] | None:
        """The account's plan for its JSON state (None when it never had one)."""
        st = self.state
        if (st.seq[:, row] < 0).all():
            return None
        slots = []
        for k in range(st.seq.shape[0]):
            bits = int(st.members[k, row])
            slots.append({
                "seq": int(st.seq[k, row]), "open": bool(st.open[k, row]),
                "lead": names[int(st.lead[k, row])] if st.lead[k, row] >= 0 else None,
                "step": int(st.step[k, row]), "since": day_to_iso(st.since[k, row]),
                "due": day_to_iso(st.due[k, row]), "done": day_to_iso(st.done[k, row]),
                "opened": day_to_iso(st.opened[k, row]),
                "members": [names[p] for p in range(len(names)) if bits >> p & 1],
                "history": self.history(k, row),
            })
        return {"slots": slots}


def bits(mask: np.ndarray) -> np.ndarray:
    """(P, n) bool → (n,) uint64 with bit p set where ``mask[p]``."""
    shifts = np.left_shift(np.uint64(1), np.arange(mask.shape[0], dtype=np.uint64))
    return (mask.astype(np.uint64) * shifts[:, None]).sum(axis=0, dtype=np.uint64)


def unbits(value: np.ndarray, plays: int) -> np.ndarray:
    """(n,) uint64 → (P, n) bool."""
    shifts = np.arange(plays, dtype=np.uint64)[:, None]
    return ((value[None, :] >> shifts) & np.uint64(1)).astype(bool)


def _previous(inputs: ScoringInputs, names: list[str], slots: int
              ) -> tuple[PlanState, np.ndarray, list[tuple[int, int, dict[str, Any]]]]:
    """The previous plans as columns, which accounts had one, and slots beyond ``slots`` still open."""
    n = inputs.n
    state = PlanState.empty(slots, n)
    present = np.zeros(n, bool)
    dropped: list[tuple[int, int, dict[str, Any]]] = []
    plans = inputs.previous.plans
    where = {name: p for p, name in enumerate(names)}
    rows = np.flatnonzero(np.array([p is not None for p in plans], bool)) if plans.shape[0] == n else ()
    for row in rows:
        present[row] = True
        for k, slot in enumerate(json.loads(plans[row]).get("slots") or []):  # text: see PreviousState.plans
            if not isinstance(slot, dict):
                continue
            if k >= slots:
                if slot.get("open"):
                    dropped.append((int(row), k, slot))
                continue
            state.seq[k, row] = int(slot.get("seq", -1))
            state.open[k, row] = bool(slot.get("open"))
            state.lead[k, row] = where.get(str(slot.get("lead")), -1)
            state.step[k, row] = int(slot.get("step", -1))
            for column in ("since", "due", "done", "opened"):
                getattr(state, column)[k, row] = parse_day(slot.get(column))
            state.members[k, row] = sum(1 << where[m] for m in slot.get("members") or () if m in where)
            state.history[k, row] = tuple(str(h) for h in slot.get("history") or ())
    _seed_from_ledger(inputs, state, present)
    return state, present, dropped


def _seed_from_ledger(inputs: ScoringInputs, state: PlanState, present: np.ndarray) -> None:
    """Accounts with no plan in their state but plan tasks in the CRM (the state store was lost and the
    read-back adopted its tasks again): each slot continues after the highest ``seq`` found, open when
    that task still is.  Without this the plan would restart at ``seq`` 0 and write over ``:plan:0`` —
    possibly a task a CSM completed weeks ago."""
    if not inputs.evidence:
        return
    names = {slot_name(k): k for k in range(state.seq.shape[0])}
    for account_id, items in inputs.evidence.items():
        try:
            row = inputs.row(account_id)
        except KeyError:
            continue
        if present[row]:
            continue
        for item in items:
            head, _, seq_text = item.key.rpartition(":")
            plan = head.rpartition(":")[2]
            k = names.get(plan)
            if k is None or not seq_text.isdigit() or item.key != task_key(account_id, plan, int(seq_text)):
                continue
            seq = int(seq_text)
            if seq > state.seq[k, row]:
                state.seq[k, row], state.open[k, row] = seq, item.state == "open"


def _evidence(inputs: ScoringInputs, state: PlanState, key_of: Any) -> tuple[np.ndarray, np.ndarray,
                                                                               dict[tuple[int, int], Any]]:
    """Read-back matched to the open slot whose current key it names: state code and when, per slot."""
    slots, n = state.seq.shape
    code = np.zeros((slots, n), np.int8)
    at = np.full((slots, n), np.nan)
    found: dict[tuple[int, int], Any] = {}
    if not inputs.evidence:
        return code, at, found
    for account_id, items in inputs.evidence.items():
        try:
            row = inputs.row(account_id)
        except KeyError:
            continue
        for item in items:
            for k in range(slots):
                if state.seq[k, row] >= 0 and item.key == key_of(account_id, k, int(state.seq[k, row])):
                    code[k, row] = _EVIDENCE[item.state] if (item.state != "open" or item.touched) else 0
                    at[k, row] = day_number(item.at) if item.at is not None else np.nan
                    found[(k, row)] = item
    return code, at, found
