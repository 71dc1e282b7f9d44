"""The support priority band (P1 … P4) and the reason an agent reads next to it.

Support is not Success, but support needs the vector: an at-risk lower-value customer must come before a
high-value customer on a positive vector.  The band is therefore a function of *success*, never of size:

* **P1 — act now**: Negative direction together with an urgent risk flag (``[priority] urgent_flags``:
  payment failed, competitor installed, our widget removed, champion changed), or Negative with the
  vector under ``at_risk_below``.
* **P2 — at risk**: any one of those alone — an urgent flag, a Negative direction, or a vector under
  ``at_risk_below``.
* **P3 — watch**: a vector under ``watch_below``, any other risk flag (support backlog, invoice overdue,
  card expiring …), or the next *customer* milestone at risk or overdue.
* **P4 — on track**: none of the above.

A Positive account can never reach P1, so it can never sit above a Negative account with an urgent flag.
ARR never moves an account across bands; it orders accounts *within* a band (:func:`queue_order`), i.e.
it breaks ties.  The reason names what put the account in its band, most serious first, e.g.
"P1: payment failed, competitor installed; vector falling 6/30d".
"""

from __future__ import annotations

import math

import numpy as np

from connector.scoring.drivers import past_hysteresis
from connector.scoring.model import SuccessModel

#: How a risk flag reads in the reason (flags not listed read as their name with spaces).
FLAG_TEXT = {
    "payment_failed": "payment failed", "competitor_detected": "competitor installed",
    "widget_removed": "our widget removed", "champion_changed": "champion changed",
    "support_backlog": "support backlog", "invoice_overdue": "invoice overdue", "card_expiring": "card expiring",
    "email_opt_out": "opted out of e-mail", "churned_without_reason": "churned, no reason on record",
}
#: Flags that say something about the data, not the customer: never a reason for priority.
NOT_A_RISK = frozenset({"low_confidence", "vector_negative", "milestone_overdue"})
MAX_REASON_CHARS = 255


def priority_levels(model: SuccessModel, magnitude: np.ndarray, direction: np.ndarray, next_at_risk: np.ndarray,
                    next_overdue: np.ndarray, flag_names: list[str], flags: np.ndarray) -> np.ndarray:
    """Urgency 3 (act now) … 0 (on track) per account; see the module docstring.  Band = P(4 − level)."""
    cfg = model.priority
    urgent_cols = [j for j, f in enumerate(flag_names) if f in cfg.urgent_flags]
    other_cols = [j for j, f in enumerate(flag_names) if f not in cfg.urgent_flags and f not in NOT_A_RISK]
    with np.errstate(invalid="ignore"):
        low = magnitude < cfg.at_risk_below
        watch = (magnitude < cfg.watch_below) | next_at_risk | next_overdue | flags[:, other_cols].any(axis=1)
    urgent = flags[:, urgent_cols].any(axis=1)
    negative = direction < 0
    level = np.where(negative & (urgent | low), 3, np.where(urgent | negative | low, 2, np.where(watch, 1, 0)))
    return level.astype(np.int8)


def queue_order(band: np.ndarray, arr: np.ndarray, magnitude: np.ndarray) -> np.ndarray:
    """Row order of a support queue: band first, then higher ARR (the tie-break), then lower vector."""
    return np.lexsort((np.nan_to_num(magnitude, nan=101.0), -np.nan_to_num(arr, nan=0.0), band))


def negative_phrase(velocity: float, exit_band: float) -> str:
    """What a Negative direction adds to the reason: its speed while it falls, else that it is levelling off."""
    if math.isnan(velocity):
        return "vector Negative"
    if past_hysteresis(-1, velocity, exit_band):
        speed = f"{-velocity:.0f}"  # under a point only where the model sets a hysteresis line that low
        return f"vector falling {'<1' if speed == '0' else speed}/30d"
    return "vector Negative but levelling off"


def priority_reason(band: int, flags: list[str], urgent_flags: list[str], direction: int, velocity: float,
                    magnitude: float, model: SuccessModel, next_milestone: str | None, next_status: str | None,
                    exit_band: float) -> str:
    """"P1: payment failed, competitor installed; vector falling 6/30d" — what put the account in its band.

    ``exit_band`` is the hysteresis line (``exit_ratio`` × the account's noise band): a Negative direction
    whose velocity is no longer past it is *held*, not falling, and reads "vector Negative but levelling off" —
    the drivers field beside it says "Falling, levelling off", and "vector falling 0/30d" (or a "falling"
    quoting a velocity that has turned up) would contradict it."""
    cfg = model.priority
    risks = [f for f in flags if f not in NOT_A_RISK]
    named = [FLAG_TEXT.get(f, f.replace("_", " ")) for f in sorted(risks, key=lambda f: f not in urgent_flags)]
    vector = []
    if direction < 0:
        vector.append(negative_phrase(velocity, exit_band))
    if not math.isnan(magnitude) and magnitude < cfg.watch_below:
        vector.append(f"vector {magnitude:.0f} ({'at risk' if magnitude < cfg.at_risk_below else 'watch'})")
    if next_milestone and next_status in ("Overdue", "At risk"):
        vector.append(f"{next_milestone} {next_status.lower()}")
    parts = [", ".join(named), ", ".join(vector)]
    text = "; ".join(p for p in parts if p)
    if not text:
        mood = {1: "rising", 0: "steady", -1: "falling"}[int(np.sign(direction))]
        text = "on track" + ("" if math.isnan(magnitude) else f", vector {magnitude:.0f} {mood}")
    text = f"P{band}: {text}"
    return text if len(text) <= MAX_REASON_CHARS else text[: MAX_REASON_CHARS - 1] + "…"
