"""The Success Vector: magnitude, confidence, velocity, direction and drivers, column-wise.

Magnitude is a weighted mean of normalised inputs (each 0–1 through its curve or map).  Inputs that are
missing or older than their ``max_age_days`` drop out and the remaining weights renormalise, so missing
data lowers *confidence*, never drags the score toward zero.  Capped inputs (NPS by default) can never
take more than their share of the weight that is actually present — otherwise an account with only an
NPS answer would be scored by NPS alone.  Confidence is the share of the nominal weight that is present,
each input counted less as it ages toward its ``max_age_days`` (coverage × freshness).

Velocity, drivers and direction come from :mod:`connector.scoring.trend`: one weighted regression whose
per-input slopes add up to the velocity, and a direction that moves only when the velocity leaves the
account's noise band and stays out for the hold period.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from connector.scoring import trend as tr
from connector.scoring.conditions import Categorical
from connector.scoring.inputs import ScoringInputs, day_number
from connector.scoring.model import InputSpec, SuccessModel, VectorConfig

#: Derived ratio signals the engine computes when a source only sent the raw counts.
DERIVED = {"seat_utilisation": ("active_users", "licensed_seats"),
           "feature_breadth": ("features_adopted", "key_features_total")}
#: A stale input still counts this much at its ``max_age_days`` (confidence fades, it does not fall off a cliff).
FRESHNESS_AT_MAX_AGE = 0.5


@dataclass(frozen=True)
class VectorResult:
    magnitude: np.ndarray      # (n,) 0–100, NaN when no input is present
    confidence: np.ndarray     # (n,) 0–1 share of nominal weight present, discounted by age
    velocity: np.ndarray       # (n,) points / 30 days, NaN without enough history
    direction: np.ndarray      # (n,) int8 −1 / 0 / +1
    normalised: np.ndarray     # (n, I) 0–1, NaN where missing or stale
    share: np.ndarray          # (n, I) effective weight share (sums to 1 where any input is present)
    contributions: np.ndarray  # (n, I) points each input adds to the magnitude
    drivers: np.ndarray        # (n, I) points / 30 days each input adds to the velocity (0 without a trend)
    unattributed: np.ndarray   # (n,) velocity not broken down by input (history older than the trend state)
    band: np.ndarray           # (n,) noise band, points / 30 days
    candidate: np.ndarray      # (n,) int8 direction waiting out the hold period, 0 = none
    candidate_since: np.ndarray  # (n,) day first seen, NaN = none
    trend: tr.Trend            # regression sums before today's point, saved for the next run
    segment_noise: np.ndarray  # (segments,) point noise the bands were made with (a day fact)


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
    confidence = (share * _freshness(model, keys, ages, n)).sum(axis=0) / nominal
    _apply_caps(model, keys, share)
    total = share.sum(axis=0)
    np.divide(share, total, out=share, where=total > 0)
    contributions = np.where(present, norm, zero)
    contributions *= share
    contributions *= np.float32(100.0)
    magnitude = contributions.sum(axis=0, dtype=np.float64)
    magnitude[total == 0] = np.nan
    np.clip(magnitude, 0.0, 100.0, out=magnitude)
    return _moving(inputs, model, seg, keys, magnitude, confidence, norm, share, contributions)


def _moving(inputs: ScoringInputs, model: SuccessModel, seg: np.ndarray, keys: list[str], magnitude: np.ndarray,
            confidence: np.ndarray, norm: np.ndarray, share: np.ndarray, contributions: np.ndarray) -> VectorResult:
    """Velocity, drivers, band and direction.  Accounts whose state has no trend sums yet (first runs
    after an upgrade) fall back to the plain slope of their score history, reported as unattributed."""
    cfg, prev = model.vector, inputs.previous
    today = float(np.floor(day_number(inputs.now)))
    at = _aligned(prev.contribution_names, keys)
    # Every (inputs × accounts) array below is made once and then worked on in place: ~180 MB each at 1M.
    point = np.nan_to_num(at(prev.contributions.T), nan=0.0, copy=False)
    carried = tr.Trend(prev.trend.since, prev.trend.shared.T.copy(), at(prev.trend.wy.T), at(prev.trend.wty.T))
    base = tr.quantised(tr.carry(carried, prev.trend.day, point, prev.trend.scored, today,
                                     cfg.velocity_window_days / 2.0))
    del point
    scored = ~np.isnan(magnitude)
    drivers, unit_se = tr.slopes(base, contributions.astype(np.float64), scored)
    trended = (today - base.since >= cfg.min_history_span_days) & ~np.isnan(unit_se)
    history_v, history_se = _history_velocity(inputs, ~trended, magnitude, cfg)
    velocity = np.where(trended, drivers.sum(axis=0), history_v)
    drivers[:, ~trended] = 0.0  # what np.where(trended, slopes, 0.0) gave, without a copy
    facts = inputs.day_facts
    if facts is None:
        segment_noise = tr.segment_noise(magnitude - prev.magnitude, seg, len(model.segments))
    else:  # measured by the day's first cycle: other accounts' changes do not move this account's band
        segment_noise = np.array([facts.noise.get(key, tr.DEFAULT_POINT_NOISE) for key in model.segments])
    band = tr.noise_band(model, seg, segment_noise[seg], np.where(trended, unit_se, history_se))
    direction, candidate, since = tr.direction_with_hold(
        velocity, band, prev.direction, prev.trend.candidate, prev.trend.candidate_since, today, cfg.hold_days,
        cfg.exit_ratio, first=np.isnan(prev.trend.day))
    unattributed = np.where(np.isnan(velocity), 0.0, velocity - drivers.sum(axis=0))
    return VectorResult(magnitude, confidence, velocity, direction, norm.T, share.T, contributions.T, drivers.T,
                        unattributed, band, candidate, since, base, segment_noise)


def _aligned(names: tuple[str, ...], keys: list[str]) -> Callable[[np.ndarray], np.ndarray]:
    """Rows of a (names × n) array reordered to the model's input keys (zeros for names it lacks)."""
    where = {name: j for j, name in enumerate(names)}

    def pick(columns: np.ndarray) -> np.ndarray:
        out = np.zeros((len(keys), columns.shape[1]))
        for j, key in enumerate(keys):
            if key in where:
                out[j] = columns[where[key]]
        return out

    return pick


def _freshness(model: SuccessModel, keys: list[str], ages: dict[str, np.ndarray], n: int) -> np.ndarray:
    """(inputs × accounts) 1 for a fresh input, fading linearly to 0.5 at its ``max_age_days``."""
    out = np.ones((len(keys), n), np.float32)
    for j, key in enumerate(keys):
        spec = model.inputs[key]
        age = ages.get(spec.signal)
        if spec.max_age_days is None or age is None:
            continue
        fade = np.clip(np.nan_to_num(age, nan=0.0) / spec.max_age_days, 0.0, 1.0)
        out[j] = 1.0 - (1.0 - FRESHNESS_AT_MAX_AGE) * fade
    return out


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


def _history_velocity(inputs: ScoringInputs, wanted: np.ndarray, magnitude: np.ndarray, cfg: VectorConfig
                      ) -> tuple[np.ndarray, np.ndarray]:
    """:func:`velocity_per_30d` of the score history of the ``wanted`` rows, NaN elsewhere (no one reads
    them): :meth:`ScoringInputs.history_of` reads only those rows when the inputs read history on demand."""
    velocity, unit_se = np.full(magnitude.shape[0], np.nan), np.full(magnitude.shape[0], np.nan)
    rows = np.flatnonzero(wanted)
    if rows.shape[0]:
        age, value = inputs.history_of(rows)
        velocity[rows], unit_se[rows] = velocity_per_30d(age, value, magnitude[rows], cfg)
    return velocity, unit_se


def velocity_per_30d(
    history_age: np.ndarray, history_value: np.ndarray, magnitude: np.ndarray, cfg: VectorConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares slope of (history within the window + today's score), in points per 30 days, and its
    standard error for a point noise of 1 (per 30 days).  NaN without a week of history.

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
        spread = (dt * dt).sum(axis=0)
        slope = (dt * y).sum(axis=0) / spread
        unit_se = 30.0 / np.sqrt(spread.astype(np.float64))
        span = np.where(ok, t, np.inf).min(axis=0)
    enough = (count >= 2) & (-span >= cfg.min_history_span_days)
    return np.where(enough, slope.astype(np.float64) * 30.0, np.nan), np.where(enough, unit_se, np.nan)
