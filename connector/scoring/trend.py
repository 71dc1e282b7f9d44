"""Velocity, its per-input drivers and the noise band: one weighted regression, kept as running sums.

Why running sums: direction and drivers must describe *the same change*.  The velocity is the slope of a
weighted least-squares line through the account's daily scores, and a score is the sum of its inputs'
contributions, so the slope is the sum of each input's own slope over the same points with the same
weights — the drivers add up to the velocity by construction, not by rescaling.  Keeping every input's
contribution series would cost (accounts × days × inputs); with exponentially decaying weights the
regression needs only six shared sums and two sums per input, carried in the account's state.

Weights decay with age (time constant = half the model's ``velocity_window_days``), so the last weeks
dominate and a change months ago fades out.  Times are whole days: a re-run on the same day folds
nothing new and gives exactly the same velocity (an idempotent re-sync writes nothing).

The noise band is how fast a score must move before the move counts: ``noise_z`` standard errors of the
slope, given how noisy a single score is in the account's segment (read from the spread of day-over-day
changes across the segment, or set per segment in the model), and never less than ``min_band``.  The
direction changes only after the velocity has stayed out of the band for ``hold_days``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from connector.scoring.model import SuccessModel
from connector.scoring.rounding import round_like_python

#: Rows of :attr:`Trend.shared`: Σw, Σwt, Σwt², Σw², Σw²t, Σw²t² (t in days, ≤ 0, relative to the run day).
SHARED = 6
#: Per-point noise assumed before there are enough day-over-day changes to measure it (points).
DEFAULT_POINT_NOISE = 2.0
#: Day-over-day changes a segment needs before its own noise is used (else all segments pooled).
MIN_NOISE_SAMPLES = 20
MAD_TO_SD = 1.4826


@dataclass(frozen=True)
class Trend:
    """Regression sums over the points *before* the run day: ``shared`` (6, n) and per input (I, n)."""

    since: np.ndarray   # (n,) day of the first point folded in, NaN = no points yet
    shared: np.ndarray  # (6, n)
    wy: np.ndarray      # (I, n) Σ w·contribution
    wty: np.ndarray     # (I, n) Σ w·t·contribution

    @classmethod
    def empty(cls, n: int, inputs: int) -> Trend:
        return cls(np.full(n, np.nan), np.zeros((SHARED, n)), np.zeros((inputs, n)), np.zeros((inputs, n)))


def carry(prev: Trend, prev_day: np.ndarray, prev_point: np.ndarray, prev_scored: np.ndarray, today: float,
          tau: float) -> Trend:
    """Last run's sums moved to ``today``: its own point folded in when it was an earlier day.

    ``prev_point`` is last run's contributions (I, n); ``prev_scored`` says it had a score at all.  ``prev``'s
    arrays are updated in place and returned (the caller builds them for this call: at a million accounts
    each (inputs × accounts) copy is ~180 MB).
    """
    day = np.floor(prev_day)
    known = ~np.isnan(day)
    fold = known & (day < today) & prev_scored
    shared, wy, wty = prev.shared, prev.wy, prev.wty
    shared[0] += fold
    shared[3] += fold
    np.add(wy, prev_point, out=wy, where=np.broadcast_to(fold, wy.shape))
    since = np.where(fold & np.isnan(prev.since), day, prev.since)
    gap = np.where(known, today - day, 0.0)
    _shift(shared, wy, wty, gap, np.exp(-gap / tau))
    return Trend(since, shared, wy, wty)


def _shift(shared: np.ndarray, wy: np.ndarray, wty: np.ndarray, gap: np.ndarray, decay: np.ndarray) -> None:
    """Re-express sums for t' = t − gap (the reference moves forward) and decay their weights, in place."""
    w, wt, wtt, w2, w2t, w2tt = shared
    shared[2] = wtt - 2 * gap * wt + gap * gap * w
    shared[1] = wt - gap * w
    shared[5] = w2tt - 2 * gap * w2t + gap * gap * w2
    shared[4] = w2t - gap * w2
    wty -= gap * wy
    shared[:3] *= decay
    shared[3:] *= decay * decay
    wy *= decay
    wty *= decay


def quantised(base: Trend) -> Trend:
    """The sums rounded exactly as :func:`saved` stores them (in place).

    Why: a same-day re-run reads the *stored* (rounded) sums back, so the run that stored them must
    compute from the rounded sums too; otherwise a velocity on a rounding boundary (2.75) reads 2.7
    in one run and 2.8 in its unchanged re-run, and an idempotent re-sync writes a field.
    """
    np.round(base.shared, 6, out=base.shared)  # in place: see carry
    np.round(base.wy, 5, out=base.wy)
    np.round(base.wty, 4, out=base.wty)
    return base


def slopes(base: Trend, point: np.ndarray, scored: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-input slopes (I, n) and the slope's unit standard error (n,), both per 30 days.

    Today's point enters at t = 0 with weight 1.  The standard error is for a point noise of 1, so the
    band is ``noise × unit_se``.  NaN where fewer than two points or no score today.

    ``point`` (I, n, float64) is the caller's own array and becomes the slopes: computed one input at a
    time in it, so no further (I × n) array is made — at a million accounts each one is ~180 MB, and the
    whole-array expression made five.  The arithmetic is the same, element for element.
    """
    add = scored.astype(np.float64)
    w, wt, wtt, w2, w2t, w2tt = base.shared
    w, w2 = w + add, w2 + add
    with np.errstate(invalid="ignore", divide="ignore"):
        denom = w * wtt - wt * wt
        ok = (denom > 1e-9) & (w > 1.0 + 1e-9) & scored
        safe = np.where(ok, denom, 1.0)
        for j in range(point.shape[0]):
            wy = base.wy[j] + np.where(scored, point[j], 0.0)
            point[j] = np.where(ok, (w * base.wty[j] - wt * wy) / safe, np.nan) * 30.0
        mean = wt / w
        spread = wtt - wt * wt / w
        var = (w2tt - 2 * mean * w2t + mean * mean * w2) / (spread * spread)
        unit_se = np.where(ok, np.sqrt(np.maximum(var, 0.0)), np.nan)
    return point, unit_se * 30.0


def saved_rows(base: Trend, start: int, stop: int, names: list[str]) -> list[dict[str, object]]:
    """The JSON the state keeps for the next run, for rows ``start:stop`` (sums *without* this run's point;
    see :func:`carry`).  Rounded a block at a time (see :mod:`~connector.scoring.rounding`): per number,
    numpy scalars and ``round`` were most of what saving a state cost."""
    since = base.since[start:stop].tolist()
    shared = round_like_python(base.shared[:, start:stop], 6).T.tolist()
    wy_raw, wty_raw = base.wy[:, start:stop], base.wty[:, start:stop]
    kept = ((wy_raw != 0) | (wty_raw != 0)).T.tolist()  # ``if wy or wty``: NaN counts, as it is truthy
    wy, wty = round_like_python(wy_raw, 5).T.tolist(), round_like_python(wty_raw, 4).T.tolist()
    return [{
        "since": None if math.isnan(first) else int(first),
        "s": sums,
        "y": {k: [a, b] for k, a, b, keep in zip(names, ys, tys, keeps, strict=True) if keep},
    } for first, sums, ys, tys, keeps in zip(since, shared, wy, wty, kept, strict=True)]


def segment_noise(change: np.ndarray, seg: np.ndarray, segments: int) -> np.ndarray:
    """Noise of one score (points) per segment: measured in the segment, else pooled, else the default.

    Measured as the robust spread (1.4826 × MAD) of day-over-day score changes in the segment, divided by
    √2 (a change is the difference of two noisy points).  Real trends widen it slightly, which errs on
    the side of calling less movement.  A day measure (see :mod:`connector.scoring.day_facts`).
    """
    out = np.full(segments, DEFAULT_POINT_NOISE)
    have = ~np.isnan(change)
    pooled = _robust_sd(change[have]) if have.sum() >= MIN_NOISE_SAMPLES else np.nan
    for s in range(segments):
        mine = change[(seg == s) & have]
        noise = _robust_sd(mine) if mine.size >= MIN_NOISE_SAMPLES else pooled
        if not np.isnan(noise):
            out[s] = max(noise, 0.1)
    return out


def noise_band(model: SuccessModel, seg: np.ndarray, noise: np.ndarray, unit_se: np.ndarray) -> np.ndarray:
    """Points/30 days the velocity must exceed: the segment's or model's fixed band, else ``noise_z``
    standard errors of this account's slope (few, close points → wide band), at least ``min_band``."""
    cfg = model.vector
    fixed = np.array([s.noise_band or cfg.noise_band or np.nan for s in model.segments.values()])[seg]
    derived = np.fmax(cfg.noise_z * noise * unit_se, cfg.min_band)
    return np.where(np.isnan(fixed), derived, fixed)


def _robust_sd(changes: np.ndarray) -> float:
    med = float(np.median(changes))
    return MAD_TO_SD * float(np.median(np.abs(changes - med))) / np.sqrt(2.0)


def direction_with_hold(velocity: np.ndarray, band: np.ndarray, previous: np.ndarray, candidate: np.ndarray,
                        candidate_since: np.ndarray, today: float, hold_days: float, exit_ratio: float,
                        first: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(direction, candidate, candidate_since): direction moves only after ``hold_days`` outside the band.

    Outside the band, the sign of the velocity is the *candidate*; a Positive/Negative account stays so
    while the velocity keeps its sign above ``exit_ratio × band`` (hysteresis).  Without a velocity (too
    little history) nothing changes.  On an account's ``first`` run there is no direction to protect: a
    velocity read from weeks of score history (an upgrade, a restored store) counts at once.
    """
    with np.errstate(invalid="ignore"):
        raw = np.where(velocity > band, 1, np.where(velocity < -band, -1, 0))
        keep = (previous != 0) & (np.sign(velocity) == previous) & (np.abs(velocity) >= exit_ratio * band)
    raw = np.where(keep, previous, raw)
    raw = np.where(np.isnan(velocity), previous, raw).astype(np.int8)
    same = raw == previous
    since = np.where(candidate == raw, candidate_since, today)
    since = np.where(np.isnan(since), today, since)
    turn = ~same & (today - since >= hold_days)
    if first is not None:
        turn |= ~same & first
    direction = np.where(turn, raw, previous).astype(np.int8)
    waiting = ~same & ~turn
    return direction, np.where(waiting, raw, 0).astype(np.int8), np.where(waiting, since, np.nan)
