"""What moved the Success Vector, in one sentence — the single source for the field, tasks and ``explain``.

The sentence is built from the direction and the per-input drivers of the *same* regression
(:mod:`connector.scoring.trend`), so it cannot say "up" while the direction says Negative:

* Negative / Positive: "Falling 6.2 points/30 days: failed payments (−4.0), seat utilisation (−2.1)" —
  only inputs that moved the same way as the direction and by at least ``min_driver_points`` are named
  (and the largest material input moving against it, as "offset by …").
* A direction held through the hold period while the velocity has eased under the hysteresis line:
  "Falling, levelling off (+0.4 points/30 days, inside the ±6.0 noise band)" — not contradicted, and said.
* Flat: "Steady at 72 (+1.1 points/30 days, inside the ±5.8 noise band); held back by seat utilisation (−9)".
  A velocity outside the band that has not yet held long enough says so, and how many more days it must
  hold before the direction changes (a count-down, so Monday's sentence and Thursday's differ).

Risk inputs (whose score falls as the signal rises: failed payments, competitor installed …) are never
named as a strength: when they improve they read "failed payments easing (+3.0)", or "no failed
payments now (+3.0)" once the risk is gone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

MAX_DRIVERS_CHARS = 255
MAX_NAMED = 3
UNATTRIBUTED = "earlier history (not broken down)"


@dataclass(frozen=True)
class Driver:
    """One named mover: what the sentence shows, with the sign and size it shows."""

    input: str
    text: str
    points: float


@dataclass(frozen=True)
class Movement:
    """Everything the sentence is built from for one account (plain floats: cheap per row)."""

    direction: int
    magnitude: float
    velocity: float
    band: float
    labels: list[str]
    keys: list[str]
    drivers: list[float]
    unattributed: float
    risk: list[bool]
    at_best: list[bool]
    lost: list[float]
    threshold: float
    hold_days: float
    exit_band: float
    #: Days the velocity must still stay outside the band before the direction changes (NaN: no candidate).
    hold_left: float = math.nan


def past_hysteresis(direction: Any, velocity: Any, exit_band: Any) -> Any:
    """Whether the velocity still moves with ``direction`` past the hysteresis line (``exit_ratio`` × band):
    a direction the hold keeps after its velocity eased is not, and a NaN velocity never is.  The one rule
    of the drivers sentence, the task texts and the priority reason; elementwise on numpy arrays."""
    return velocity * direction >= exit_band


def moving(m: Movement) -> bool:
    """Positive/Negative and still moving that way beyond the hysteresis line (not just held)."""
    return m.direction != 0 and bool(past_hysteresis(m.direction, m.velocity, m.exit_band))


def named_drivers(m: Movement, sign: int = 0) -> list[Driver]:
    """Material inputs moving with the direction (``sign`` = −1: against it), biggest first; none unless
    :func:`moving`."""
    if not moving(m):
        return []
    want = m.direction * (sign or 1)
    moves = [(m.keys[j], m.labels[j], d, j) for j, d in enumerate(m.drivers) if d * want > 0 and abs(d) >= m.threshold]
    if m.unattributed * want > 0 and abs(m.unattributed) >= m.threshold:
        moves.append(("unattributed", UNATTRIBUTED, m.unattributed, -1))
    moves.sort(key=lambda t: -abs(t[2]))
    return [Driver(key, _label(m, label, d, j), round(d, 1)) for key, label, d, j in moves[:MAX_NAMED]]


def _label(m: Movement, label: str, delta: float, j: int) -> str:
    if j < 0 or not m.risk[j] or delta < 0:
        return label
    return f"no {label} now" if m.at_best[j] else f"{label} easing"


def drivers_sentence(m: Movement) -> str:
    """The sentence; see the module docstring for its three shapes."""
    if math.isnan(m.magnitude):
        return "No fresh inputs yet: connect usage, support or billing data to compute the Success Vector."
    if math.isnan(m.velocity):
        text = f"Steady at {m.magnitude:.0f} (not enough history for a direction yet)"
    elif moving(m):
        word = "Rising" if m.direction > 0 else "Falling"
        detail = ", ".join(f"{d.text} ({_signed(d.points)})" for d in named_drivers(m))
        text = f"{word} {abs(m.velocity):.1f} points/30 days" + (f": {detail}" if detail else "")
        against = named_drivers(m, -1)[:1]
        if against:
            text += f", offset by {against[0].text} ({_signed(against[0].points)})"
    elif m.direction != 0:
        word = "Rising" if m.direction > 0 else "Falling"
        text = f"{word}, levelling off ({_signed(m.velocity)} points/30 days, {_band(m)})"
    else:
        return steady_sentence(m.magnitude, m.velocity, m.band, m.hold_days, m.hold_left, m.labels, m.lost)
    return _finished(text, m.labels, m.lost if m.direction <= 0 else [])


def steady_sentence(magnitude: float, velocity: float, band: float, hold_days: float, hold_left: float,
                    labels: list[str], lost: list[float]) -> str:
    """The sentence of a Flat direction with a velocity (most accounts on most days), from the numbers
    alone: what :func:`drivers_sentence` says of such a :class:`Movement`, without making one (a block of
    outputs makes these without the movement's per-input lists)."""
    return _finished(f"Steady at {magnitude:.0f} ({_signed(velocity)} points/30 days, "
                     f"{_band_of(velocity, band, hold_days, hold_left)})", labels, lost)


def _finished(text: str, labels: list[str], lost: list[float]) -> str:
    """``text`` with what holds the score back most (a point or more), its full stop, within the cap."""
    held = max(range(len(lost)), key=lost.__getitem__) if lost else -1
    if held >= 0 and lost[held] >= 1:
        text += f"; held back by {labels[held]} ({_signed(-lost[held], 0)})"
    text += "."
    return text if len(text) <= MAX_DRIVERS_CHARS else text[: MAX_DRIVERS_CHARS - 1] + "…"


def movement_phrase(m: Movement) -> str:
    """How the vector moves, for a task's text (``{movement}``), in the sentence's own three shapes: a task
    opened on a Negative direction that the hold keeps while the slide has eased must not say "sliding
    +0.4/30 days, past its noise band" — it says it is levelling off, as the drivers field does."""
    if math.isnan(m.velocity):
        return "not enough history for a direction yet"
    if moving(m):
        word = "rising" if m.direction > 0 else "falling"
        # compared as shown: "6.0 points/30 days, past its ±6.0 noise band" would read as a contradiction
        past = f", past its ±{m.band:.1f} noise band" if round(abs(m.velocity), 1) > round(m.band, 1) else ""
        return f"{word} {abs(m.velocity):.1f} points/30 days{past}"
    if m.direction != 0:
        return f"levelling off ({_signed(m.velocity)} points/30 days, {_band(m)})"
    return f"steady ({_signed(m.velocity)} points/30 days, {_band(m)})"


def _band(m: Movement) -> str:
    return _band_of(m.velocity, m.band, m.hold_days, m.hold_left)


def _band_of(velocity: float, band: float, hold_days: float, hold_left: float) -> str:
    if abs(velocity) <= band:
        return f"inside the ±{band:.1f} noise band"
    left = hold_days if math.isnan(hold_left) else max(hold_left, 1.0)
    if left >= hold_days:  # its first day outside: the whole hold ahead
        return f"outside the ±{band:.1f} noise band: direction changes if it holds {hold_days:g} days"
    return (f"outside the ±{band:.1f} noise band: direction changes if it holds {left:g} more "
            f"day{'' if left == 1 else 's'}")


def _signed(value: float, digits: int = 1) -> str:
    """+1.2 / −3.0 with a real minus sign (what a CRM field shows a person)."""
    text = f"{abs(value):.{digits}f}"
    if float(text) == 0:
        return text
    return f"+{text}" if value > 0 else f"−{text}"
