"""The Success Vector: magnitude, confidence, velocity, direction and drivers, column-wise.

Magnitude is a weighted mean of normalised inputs (each 0–1 through its curve or map).  Inputs that are
missing or older than their ``max_age_days`` drop out and the remaining weights renormalise, so missing
data lowers *confidence*, never drags the score toward zero.  Capped inputs (NPS by default) can never
take more than their share of the weight that is actually present — otherwise an account with only an
NPS answer would be scored by NPS alone.

Velocity is the least-squares slope of the score history (plus today's score) over a window, in points
per 30 days.  Direction uses hysteresis: it takes ``enter_threshold`` to become Positive/Negative and it
stays there until velocity falls under ``exit_threshold``, so noise does not flip it run after run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from connector.scoring.conditions import Categorical
from connector.scoring.inputs import ScoringInputs
from connector.scoring.model import InputSpec, SuccessModel, VectorConfig

#: Derived ratio signals the engine computes when a source only sent the raw counts.
DERIVED = {"seat_utilisation": ("active_users", "licensed_seats"),
           "feature_breadth": ("features_adopted", "key_features_total")}
MAX_DRIVERS_CHARS = 255


@dataclass(frozen=True)
class VectorResult:
    magnitude: np.ndarray      # (n,) 0–100, NaN when no input is present
    confidence: np.ndarray     # (n,) 0–1 share of nominal weight present and fresh
    velocity: np.ndarray       # (n,) points / 30 days, NaN without enough history
    direction: np.ndarray      # (n,) int8 −1 / 0 / +1
    normalised: np.ndarray     # (n, I) 0–1, NaN where missing or stale
    share: np.ndarray          # (n, I) effective weight share (sums to 1 where any input is present)
    contributions: np.ndarray  # (n, I) points each input adds to the magnitude
    deltas: np.ndarray         # (n, I) change of contributions since the previous run (NaN: no previous)


def numeric_signals(inputs: ScoringInputs) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Numeric columns and ages with the derived ratios filled in where the source sent raw counts."""
    numeric, ages = dict(inputs.numeric), dict(inputs.ages)
    for name, (num, den) in DERIVED.items():
        if num not in numeric or den not in numeric:
            continue
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(numeric[den] > 0, numeric[num] / numeric[den], np.nan)
        ratio = np.clip(ratio, 0.0, 1.0)
        age = np.fmax(ages.get(num, np.zeros(inputs.n, np.float32)), ages.get(den, np.zeros(inputs.n, np.float32)))
        if name in numeric:
            have = ~np.isnan(numeric[name])
            ratio = np.where(have, numeric[name], ratio)
            age = np.where(have, ages.get(name, age), age)
        numeric[name], ages[name] = ratio, age.astype(np.float32)
    return numeric, ages


def normalise(spec: InputSpec, numeric: dict[str, np.ndarray], text: dict[str, Categorical], n: int) -> np.ndarray:
    """0–1 score of one input for every account; NaN where the signal is missing or unmapped."""
    if spec.curve is not None:
        values = numeric.get(spec.signal)
        if values is None:
            return np.full(n, np.nan, np.float32)
        xs, ys = zip(*spec.curve, strict=True)
        out = np.interp(values, xs, ys)
        out[np.isnan(values)] = np.nan
        return out.astype(np.float32)
    col = text.get(spec.signal)
    if col is None:
        return np.full(n, np.nan, np.float32)
    folded = {k.casefold(): v for k, v in (spec.map or {}).items()}
    default = np.nan if spec.default is None else spec.default
    table = np.array([folded.get(c.casefold(), default) for c in col.categories] + [np.nan], np.float32)
    return table[col.codes]  # code −1 picks the trailing NaN


def compute_vector(
    inputs: ScoringInputs, model: SuccessModel, seg: np.ndarray,
    numeric: dict[str, np.ndarray], ages: dict[str, np.ndarray],
) -> VectorResult:
    """Internally (inputs × accounts): each input's column is contiguous, sums over inputs are row adds.

    That layout (and in-place arithmetic) is what keeps a million accounts in a few seconds and under the
    memory budget; the result exposes (accounts × inputs) views for per-account reading.
    """
    n, keys = inputs.n, model.input_keys()
    table = np.array([[model.weight(s, k) for k in keys] for s in model.segment_keys()], np.float32)
    weights = table.T[:, seg]
    norm = np.empty((len(keys), n), np.float32)
    for j, key in enumerate(keys):
        spec = model.inputs[key]
        norm[j] = normalise(spec, numeric, inputs.text, n)
        age = ages.get(spec.signal)
        if spec.max_age_days is not None and age is not None:
            norm[j][age > spec.max_age_days] = np.nan
    present = ~np.isnan(norm)
    zero = np.float32(0.0)
    nominal = weights.sum(axis=0)
    share = np.where(present, weights, zero)
    del weights
    confidence = share.sum(axis=0) / nominal
    _apply_caps(model, keys, share)
    total = share.sum(axis=0)
    np.divide(share, total, out=share, where=total > 0)
    contributions = np.where(present, norm, zero)
    contributions *= share
    contributions *= np.float32(100.0)
    magnitude = contributions.sum(axis=0, dtype=np.float64)
    magnitude[total == 0] = np.nan
    np.clip(magnitude, 0.0, 100.0, out=magnitude)
    velocity = velocity_per_30d(inputs.history_age, inputs.history_value, magnitude, model.vector)
    direction = direction_with_hysteresis(velocity, inputs.previous.direction, model.vector)
    deltas = _previous_contributions(inputs, keys)
    np.subtract(contributions, deltas, out=deltas)
    return VectorResult(magnitude, confidence, velocity, direction, norm.T, share.T, contributions.T, deltas.T)


def _apply_caps(model: SuccessModel, keys: list[str], effective: np.ndarray) -> None:
    """Cap inputs like NPS at ``max_share`` of the present weight, in place ((inputs × accounts) layout)."""
    capped = [(j, cap) for j, k in enumerate(keys) if (cap := model.inputs[k].effective_max_share()) is not None]
    if not capped:
        return
    free = np.ones(len(keys), bool)
    free[[j for j, _ in capped]] = False
    others = effective[free].sum(axis=0)
    for j, cap in capped:
        if cap < 1.0:
            np.minimum(effective[j], others * np.float32(cap / (1.0 - cap)), out=effective[j])


def _previous_contributions(inputs: ScoringInputs, keys: list[str]) -> np.ndarray:
    """Last run's contributions as (inputs × accounts); 0 for an input absent then, NaN with no last run."""
    prev = inputs.previous
    has_prev = ~np.isnan(prev.magnitude)
    out = np.where(has_prev, np.float32(0.0), np.float32(np.nan))[None, :].repeat(len(keys), axis=0)
    where = {name: j for j, name in enumerate(prev.contribution_names)}
    for j, key in enumerate(keys):
        if key in where:
            col = prev.contributions[:, where[key]]
            out[j] = np.where(has_prev, np.nan_to_num(col, nan=0.0), np.nan)
    return out


def velocity_per_30d(
    history_age: np.ndarray, history_value: np.ndarray, magnitude: np.ndarray, cfg: VectorConfig
) -> np.ndarray:
    """Least-squares slope of (history within the window + today's score), in points per 30 days.

    Works on (points × accounts), so each reduction adds a handful of contiguous rows.
    """
    n = magnitude.shape[0]
    age = np.vstack([history_age.T.astype(np.float32), np.zeros((1, n), np.float32)])
    value = np.vstack([history_value.T.astype(np.float32), magnitude[None, :].astype(np.float32)])
    with np.errstate(invalid="ignore"):
        ok = ~np.isnan(value) & (age <= cfg.velocity_window_days) & (age >= 0)
    count = ok.sum(axis=0)
    zero = np.float32(0.0)
    t = np.where(ok, -age, zero)
    y = np.where(ok, value, zero)
    with np.errstate(invalid="ignore", divide="ignore"):
        t_mean = t.sum(axis=0) / count
        y_mean = y.sum(axis=0) / count
        dt = np.where(ok, t - t_mean, zero)
        y -= y_mean
        slope = (dt * y).sum(axis=0) / (dt * dt).sum(axis=0)
        span = np.where(ok, t, np.inf).min(axis=0)
    enough = (count >= 2) & (-span >= cfg.min_history_span_days)
    return np.where(enough, slope.astype(np.float64) * 30.0, np.nan)


def direction_with_hysteresis(velocity: np.ndarray, previous: np.ndarray, cfg: VectorConfig) -> np.ndarray:
    """+1/0/−1 with a dead band: enter at ``enter_threshold``, leave only below ``exit_threshold``."""
    with np.errstate(invalid="ignore"):
        out = np.where(velocity >= cfg.enter_threshold, 1, 0)
        out = np.where(velocity <= -cfg.enter_threshold, -1, out)
        out = np.where((out == 0) & (previous == 1) & (velocity >= cfg.exit_threshold), 1, out)
        out = np.where((out == 0) & (previous == -1) & (velocity <= -cfg.exit_threshold), -1, out)
    out = np.where(np.isnan(velocity), previous, out)
    return out.astype(np.int8)


def drivers_sentence(labels: list[str], contributions: list[float], deltas: list[float], lost: list[float],
                     magnitude: float, previous: float) -> str:
    """One short sentence: why it changed (biggest moves) or, if steady, what holds it up and back.

    Plain Python over ~20 numbers: called per account when writing, where numpy's per-call cost dominates.
    """
    if math.isnan(magnitude):
        return "No fresh inputs yet: connect usage, support or billing data to compute the Success Vector."
    held = max(range(len(lost)), key=lost.__getitem__)
    held_back = f"held back by {labels[held]} (−{lost[held]:.0f})" if lost[held] >= 1 else ""
    change = 0.0 if math.isnan(previous) else magnitude - previous
    if abs(change) >= 0.5:
        moves = sorted((j for j, d in enumerate(deltas) if not math.isnan(d) and d * change > 0),
                       key=lambda j: -abs(deltas[j]))[:2]
        detail = ", ".join(f"{labels[j]} {deltas[j]:+.1f}" for j in moves)
        text = f"{'Up' if change > 0 else 'Down'} {abs(change):.1f} since last run" + (f": {detail}" if detail else "")
    else:
        top = [j for j in sorted(range(len(contributions)), key=lambda j: -contributions[j])[:2]
               if contributions[j] >= 0.5]
        strongest = ", ".join(f"{labels[j]} ({contributions[j]:.0f})" for j in top)
        text = f"Steady at {magnitude:.0f}" + (f": strongest {strongest}" if strongest else "")
    text = f"{text}; {held_back}." if held_back else f"{text}."
    return text if len(text) <= MAX_DRIVERS_CHARS else text[: MAX_DRIVERS_CHARS - 1] + "…"
