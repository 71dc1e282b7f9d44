"""One run of the account plans, in the order the evidence demands (see :mod:`connector.scoring.plan`).

1. Read-back first: a step the CSM completed closes the slot and starts its wait; a task a person deleted
   or closed retires its plays for their cooldown.
2. Completed steps: the lead reason still holds → the next step (a new task due ``escalate_after_days``
   later, not counted against the cap); the last step done → the plays rest (cooldown).
3. Open slots: no reason left → close (``cleared``); reasons changed → update in place; due date passed
   untouched → next step in place.
4. New tasks for accounts without one, under each owner's cap with its proactive share; the rest is the
   backlog.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from connector.scoring.days import day_number, day_to_date
from connector.scoring.inputs import ScoringInputs
from connector.scoring.model import SuccessModel
from connector.scoring.plan import (
    _BIG,
    CLEARED,
    CLOSE,
    COMPLETED,
    CREATE,
    DISMISSED,
    MERGED,
    OPEN_TOUCHED,
    SUPERSEDED,
    UPDATE,
    PlanResult,
    PlanState,
    _evidence,
    _previous,
    bits,
    slot_name,
    task_key,
    unbits,
)

OWNER, NAMED = 0, 2  # route codes (see connector.scoring.plays)


def run_plan(inputs: ScoringInputs, model: SuccessModel, seg: np.ndarray, now: float, human: np.ndarray,
             frozen: np.ndarray, first: np.ndarray, step: np.ndarray, last: np.ndarray, cleared: np.ndarray,
             ladders: np.ndarray, route: np.ndarray, named: tuple[str, ...], ranks: np.ndarray) -> PlanResult:
    """Advance every account's plan one run; updates the (P, n) play arrays in place."""
    return _PlanRun(inputs, model, seg, now, human, frozen, (first, step, last, cleared), ladders, route, named,
                    ranks).run()


class _PlanRun:
    def __init__(self, inputs: ScoringInputs, model: SuccessModel, seg: np.ndarray, now: float,
                 human: np.ndarray, frozen: np.ndarray, plays: tuple[np.ndarray, ...], ladders: np.ndarray,
                 route: np.ndarray, named: tuple[str, ...], ranks: np.ndarray):

        self.inputs, self.model, self.seg, self.now = inputs, model, seg, now
        self.human, self.frozen, self.ranks = human, frozen, ranks
        self.first, self.step, self.last, self.cleared = plays
        self.names = list(model.plays)
        self.P, self.n = human.shape
        self.S = model.orchestration.max_open_tasks_per_account
        self.rows = np.arange(self.n)
        self.ladders, self.route, self.named = ladders, route, named
        self.lengths = np.array([[len(x) for x in row] for row in ladders], np.int64)[:, seg] if self.P else (
            np.zeros((0, self.n), np.int64))
        touch = [model.touch_models[s.touch] for s in model.segments.values()]
        self.wait = np.array([t.escalate_after_days for t in touch], np.float64)[seg]
        self.overdue_after = np.array([np.nan if t.escalate_overdue_after_days is None
                                       else t.escalate_overdue_after_days for t in touch], np.float64)[seg]
        self.due_in = np.array([p.due_in_days for p in model.plays.values()], np.float64)
        self.proactive = bits(np.array([[p.is_proactive()] for p in model.plays.values()], bool))[0] if self.P \
            else np.uint64(0)
        self.key_of = lambda account, k, seq: task_key(account, slot_name(k), seq)
        self.notes: dict[tuple[int, int], list[str]] = {}
        self.day = float(np.floor(now))  # due dates are dates: a step falls due on a day, not at an hour
        #: After the run: new tasks given today per owner group, and the held-back ones per account.
        self.opened_today: dict[str, int] = {}
        self.deferred_rows: dict[str, list[list[Any]]] = {}
        self.today = str(day_to_date(now))

    # -- helpers --------------------------------------------------------------------------------------

    def at(self, table: np.ndarray, plays: np.ndarray) -> np.ndarray:
        """``table[plays[i], i]`` for a (P, n) table and a per-account play index (−1 → play 0)."""
        return table[np.maximum(plays, 0), self.rows] if self.P else np.zeros(self.n, table.dtype)

    def note(self, mask: np.ndarray, slot: int, text: Any) -> None:
        for row in np.flatnonzero(mask):
            self.notes.setdefault((slot, int(row)), []).append(f"{self.today}: {text(int(row))}")

    def label(self, play: int) -> str:
        return self.names[play].replace("_", " ")

    def channel(self, play: int, row: int, step: int) -> str:
        ladder = self.ladders[play, int(self.seg[row])]
        return str(ladder[min(step, len(ladder) - 1)])

    # -- the run --------------------------------------------------------------------------------------

    def run(self) -> PlanResult:
        before, present, dropped = _previous(self.inputs, self.names, self.S)
        st = before.copy()
        extra = self._legacy(present) + [(row, self.key_of(str(self.inputs.account_ids[row]), k, int(s["seq"])),
                                          str(s.get("lead") or ""), SUPERSEDED) for row, k, s in dropped]
        code, at, found = _evidence(self.inputs, st, self.key_of)
        action = np.zeros((self.S, self.n), np.int8)
        reason = np.zeros((self.S, self.n), np.int8)
        retire = np.zeros((self.P, self.n), bool)
        paused = np.zeros((self.S, self.n), bool)
        next_step = np.zeros((self.S, self.n), bool)
        for k in range(self.S):
            retire |= self._read_back(st, k, code[k], at[k])
            retire |= self._waiting(st, k, next_step, paused)
        self.cleared[retire], self.first[retire], self.step[retire], self.last[retire] = self.now, np.nan, -1, np.nan
        slot_plays = self._assign(self.human & ~retire)
        fresh: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]] = []
        for k in range(self.S):
            lead, members, has = self._ranked(slot_plays[k])
            self._open_slots(st, k, lead, members, has, code[k], found, action, reason)
            escalate = next_step[k] & has
            same = lead == st.lead[k]
            self._create(st, k, escalate, lead, members, np.where(same, st.step[k] + 1, 0), action,
                         after=self.wait)  # the next step is due once the customer had time to answer
            self.note(escalate & same, k, lambda r, k=k: f"the reason still holds after step {st.step[k, r]} → "
                      f"step {st.step[k, r] + 1} ({self.channel(int(st.lead[k, r]), r, int(st.step[k, r]))}), "
                      f"due in {self.wait[r]:g} days")
            self.note(escalate & ~same, k, lambda r, k=k: f"{self.label(int(st.lead[k, r]))} now leads; step 1 "
                      f"({self.channel(int(st.lead[k, r]), r, 0)})")
            lead, members, has = self._ranked(slot_plays[k] & ~self.frozen)  # no new task inside a freeze
            fresh.append((k, ~st.open[k] & ~paused[k] & has & (action[k] == 0), lead, members))
        self._fresh(st, fresh, action, present)
        self._mirror(st)
        return PlanResult(before, st, action, reason, self.notes, extra, found, self.opened_today, self.deferred_rows)

    def _legacy(self, present: np.ndarray) -> list[tuple[int, str, str, int]]:
        """Per-play tasks from before account plans (their step ≥ 0, no plan yet): closed as merged."""

        out = []
        old = (self.step >= 0) & ~present[None, :]
        for p, row in zip(*np.nonzero(old), strict=True):
            key = task_key(str(self.inputs.account_ids[row]), self.names[p], int(self.step[p, row]))
            out.append((int(row), key, self.names[p], MERGED))
        self.step[old] = -1
        self.legacy_rows = old.any(axis=0)
        return out

    def _read_back(self, st: PlanState, k: int, code: np.ndarray, at: np.ndarray) -> np.ndarray:
        """Apply what people did to the slot's open task; returns the plays a dismissal retires."""
        was = st.open[k]
        completed = was & (code == COMPLETED)
        dismissed = was & (code == DISMISSED)
        st.open[k, completed | dismissed] = False
        st.done[k, completed] = np.where(np.isnan(at), self.now, at)[completed]
        self.note(completed, k, lambda r: f"step {st.step[k, r] + 1} completed in the CRM")
        self.note(dismissed, k, lambda r: "closed or deleted in the CRM by a person: its reasons rest for their "
                  "cooldown")
        retire = unbits(st.members[k], self.P) & dismissed[None, :]
        self._reset(st, k, dismissed)
        return retire

    def _waiting(self, st: PlanState, k: int, next_step: np.ndarray, paused: np.ndarray) -> np.ndarray:
        """Completed steps: the reason still holds → the next step (ladder done → the plays rest); the
        reason cleared → the plan ends there."""
        waiting = ~st.open[k] & ~np.isnan(st.done[k])
        lead = st.lead[k]
        holds = waiting & (lead >= 0) & self.at(self.human, lead)
        exhausted = holds & (st.step[k] + 1 >= self.at(self.lengths, lead))
        next_step[k] = holds & ~exhausted & ~self.at(self.frozen, lead)
        # A freeze holds the next step back (the slot waits for it); an exhausted ladder retires only its own
        # plays, so another reason that holds may open the slot's next task in this same run: deciding it one
        # run later would make an unchanged re-run create a task.
        paused[k] |= holds & ~exhausted & ~next_step[k]
        self.note(exhausted, k, lambda r: "the last step was completed and the reason still holds: it rests for "
                  "the play's cooldown")
        retire = unbits(st.members[k], self.P) & exhausted[None, :]
        ended = waiting & ~holds
        self.note(ended, k, lambda r: "the reason no longer holds after the completed step")
        self._reset(st, k, ended | exhausted)
        return retire

    @staticmethod
    def _reset(st: PlanState, k: int, mask: np.ndarray) -> None:
        st.lead[k, mask], st.step[k, mask], st.members[k, mask] = -1, -1, 0
        st.done[k, mask] = np.nan

    def _assign(self, cand: np.ndarray) -> list[np.ndarray]:
        """Plays per slot: slot k < S−1 takes the k-th most important ready play; the last takes the rest."""
        if self.S == 1:
            return [cand]
        order = np.argsort(np.where(cand, self.ranks[:, None], _BIG), axis=0, kind="stable")
        out, taken = [], np.zeros_like(cand)
        for k in range(self.S - 1):
            mask = np.zeros_like(cand)
            mask[order[k], self.rows] = cand[order[k], self.rows]
            out.append(mask)
            taken |= mask
        out.append(cand & ~taken)
        return out

    def _ranked(self, plays: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        has = np.asarray(plays.any(axis=0), bool)
        lead = np.where(has, np.where(plays, self.ranks[:, None], _BIG).argmin(axis=0), -1) if self.P else (
            np.full(self.n, -1))
        return lead, bits(plays), has

    def _open_slots(self, st: PlanState, k: int, lead: np.ndarray, members: np.ndarray, has: np.ndarray,
                    code: np.ndarray, found: dict[tuple[int, int], Any], action: np.ndarray,
                    reason: np.ndarray) -> None:
        is_open = st.open[k].copy()
        close = is_open & ~has
        action[k, close], reason[k, close] = CLOSE, CLEARED
        st.open[k, close] = False
        self.note(close, k, lambda r: "closed by the connector: none of its reasons holds any more")
        keep = is_open & has
        new_lead = keep & (lead != st.lead[k])
        changed = keep & (members != st.members[k])
        crm_due = np.full(self.n, np.nan)
        for (slot, row), item in found.items():
            if slot == k and item.due is not None:
                crm_due[row] = day_number(item.due)
        due = np.where(np.isnan(crm_due), st.due[k], crm_due)
        overdue = (keep & ~new_lead & (code != OPEN_TOUCHED) & ~self.at(self.frozen, st.lead[k])
                   & (self.day >= np.floor(due) + self.overdue_after)
                   & (st.step[k] + 1 < self.at(self.lengths, st.lead[k])))
        for p in range(self.P):
            bit = np.uint64(1 << p)
            joined = changed & ((members & bit) != 0) & ((st.members[k] & bit) == 0) & (lead != p)
            self.note(joined, k, lambda r, p=p: f"{self.label(p)} joined this plan")
            left = changed & ((members & bit) == 0) & ((st.members[k] & bit) != 0)
            self.note(left, k, lambda r, p=p: f"{self.label(p)} no longer applies")
        self.note(new_lead, k, lambda r: f"{self.label(int(lead[r]))} now leads; step 1 "
                  f"({self.channel(int(lead[r]), r, 0)})")
        self.note(overdue, k, lambda r: f"step {st.step[k, r] + 1} was due {day_to_date(float(due[r]))} and nobody "
                  f"touched it → step {st.step[k, r] + 2} "
                  f"({self.channel(int(st.lead[k, r]), r, int(st.step[k, r]) + 1)})")
        action[k, new_lead | changed | overdue] = UPDATE
        restart = new_lead | overdue
        st.step[k] = np.where(new_lead, 0, np.where(overdue, st.step[k] + 1, st.step[k]))
        st.lead[k, keep], st.members[k, keep] = lead[keep], members[keep]
        st.since[k, restart] = self.now
        st.due[k, restart] = self.day + self.due_in[np.maximum(lead, 0)][restart] if self.P else np.nan

    def _create(self, st: PlanState, k: int, mask: np.ndarray, lead: np.ndarray, members: np.ndarray,
                steps: np.ndarray, action: np.ndarray, after: np.ndarray | None = None) -> None:
        st.seq[k, mask] += 1
        st.open[k, mask] = True
        st.lead[k, mask], st.members[k, mask], st.step[k, mask] = lead[mask], members[mask], steps[mask]
        st.since[k, mask], st.opened[k, mask], st.done[k, mask] = self.now, self.now, np.nan
        due_in = self.due_in[np.maximum(lead, 0)] if self.P else np.zeros(self.n)
        st.due[k, mask] = self.day + (due_in if after is None else np.maximum(due_in, after))[mask]
        action[k, mask] = CREATE

    def _fresh(self, st: PlanState, fresh: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]],
               action: np.ndarray, present: np.ndarray) -> None:
        """New tasks, most important first per owner, within the cap and its proactive share; the rest are
        held back (:attr:`deferred_rows`), and the tasks given today counted (:attr:`opened_today`)."""
        if not fresh:
            return
        slot = np.concatenate([np.full(int(m.sum()), k) for k, m, _, _ in fresh])
        row = np.concatenate([np.flatnonzero(m) for _, m, _, _ in fresh])
        lead = np.concatenate([ld[m] for _, m, ld, _ in fresh])
        members = np.concatenate([mb[m] for _, m, _, mb in fresh])
        group = self._group(row, lead)
        cfg = self.model.orchestration
        cap = cfg.max_new_tasks_per_owner_per_day
        reactive_cap = cap - round(cap * cfg.proactive_share)
        used = self._used_today(st)
        proactive = (members & self.proactive) != 0
        arr = np.nan_to_num(self.inputs.arr[row], nan=0.0)
        order = np.lexsort((-arr, self.ranks[lead] if self.P else lead, proactive, group))
        keep = np.zeros(row.shape[0], bool)
        free = (group < 0) | self.legacy_rows[row]
        taken: Counter[int] = Counter()
        for i in order:  # candidates are few (accounts without a task whose reasons just became ready)
            g = int(group[i])
            if free[i]:
                keep[i] = True
                continue
            room = cap - used[g] - taken[g]
            if not proactive[i]:
                room = min(room, reactive_cap - used[g] - taken[g])
            if room > 0:
                keep[i] = True
                taken[g] += 1
        facts = self.inputs.day_facts  # owners with no account in this run keep the count they had
        self.opened_today = {**(facts.opened if facts is not None else {}),
                             **{self._group_key(g): n for g, n in (used + taken).items() if n > 0 and g >= 0}}
        for k in range(self.S):
            mine = keep & (slot == k)
            mask = np.zeros(self.n, bool)
            mask[row[mine]] = True
            full_lead, full_members = np.full(self.n, -1), np.zeros(self.n, np.uint64)
            full_lead[row[mine]], full_members[row[mine]] = lead[mine], members[mine]
            self._create(st, k, mask, full_lead, full_members, np.zeros(self.n, np.int64), action)
            self.note(mask, k, lambda r, fl=full_lead: f"opened: {self.label(int(fl[r]))}, step 1 "
                      f"({self.channel(int(fl[r]), r, 0)})")
        self.deferred_rows = self._deferred(row[~keep], lead[~keep], group[~keep])

    def _group(self, row: np.ndarray, lead: np.ndarray) -> np.ndarray:
        """Who a new task goes to, as an integer: owner code, K + named route, −1 = no owner (uncapped)."""
        owners = self.inputs.owner.codes[row].astype(np.int64)
        routes = self.route[np.maximum(lead, 0), row] if self.P else np.zeros_like(row)
        size = len(self.inputs.owner.categories)
        return np.where(routes == OWNER, owners, size + routes - NAMED)

    def _owner_label(self, group: int) -> str:
        categories = self.inputs.owner.categories
        if group < 0:
            return "(no owner)"
        return str(categories[group]) if group < len(categories) else self.named[group - len(categories)]

    def _used_today(self, st: PlanState) -> Counter[int]:
        """New tasks each owner was given today: the day's count when an earlier cycle made it (the cap
        counts tasks given, see :mod:`connector.scoring.day_facts`), else the open tasks opened today."""
        used: Counter[int] = Counter()
        facts = self.inputs.day_facts
        if facts is not None:
            size = len(self.inputs.owner.categories)
            for g in range(size + len(self.named)):
                used[g] = facts.opened.get(self._group_key(g), 0)
            return used
        for k in range(self.S):
            rows = np.flatnonzero(st.open[k] & (st.opened[k] >= np.floor(self.now)))
            if rows.shape[0]:
                used.update(int(g) for g in self._group(rows, st.lead[k, rows]))
        return used

    def _group_key(self, group: int) -> str:
        """A group as the day's facts name it: stable across runs, unlike the codes of one run's owners."""
        categories = self.inputs.owner.categories
        if group < len(categories):
            return f"owner:{categories[group]}"
        return f"route:{self.named[group - len(categories)]}"

    def _deferred(self, row: np.ndarray, lead: np.ndarray, group: np.ndarray) -> dict[str, list[list[Any]]]:
        """Per account, ``[play, owner, days waiting]`` of each new task held back (the day's backlog).
        Days waiting are whole days, like every clock of the model: the figure does not move between two
        cycles of the same day."""
        waited = (np.nan_to_num(np.floor(self.now) - np.floor(self.first[lead, row]), nan=0.0) if self.P
                  else np.zeros(row.shape[0]))
        out: dict[str, list[list[Any]]] = {}
        for r, p, g, w in sorted(zip(row.tolist(), lead.tolist(), group.tolist(), waited.tolist(), strict=True)):
            out.setdefault(str(self.inputs.account_ids[r]), []).append([self.names[p], self._owner_label(g), int(w)])
        return out

    def _mirror(self, st: PlanState) -> None:
        """Plays sitting in an open task carry its step (so a play that clears later starts its cooldown)."""
        for k in range(self.S):
            inside = unbits(st.members[k], self.P) & st.open[k][None, :]
            self.step[inside] = np.broadcast_to(st.step[k], inside.shape)[inside]
            self.last[inside] = np.broadcast_to(st.since[k], inside.shape)[inside]
