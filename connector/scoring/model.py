"""The success model file: segments, inputs, weights, milestones, plays — typed, validated at load.

Why a declarative file: what "success" means differs per company and per segment, and it changes as the CS
team learns.  Editing weights or a milestone must not need a release, and a mistake in the file must be
refused at load with the file, the key and the fix (:class:`connector.config.ConfigError`), never
discovered a month later as odd scores.  Structure is checked by pydantic; meaning (unknown signals, text
compared with numbers, a play template with no reason) is checked by :mod:`connector.scoring.validate`.
"""

from __future__ import annotations

import difflib
import tomllib
from datetime import date
from itertools import pairwise
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, ValidationError, model_validator

from connector.config import ConfigError
from connector.records import DIRECTIONS as DIRECTIONS  # defined with the outputs; scoring imports it here
from connector.records import TaskChannel, TaskPriority
from connector.scoring.conditions import Condition, parse_condition

CondField = Annotated[Condition, PlainValidator(parse_condition)]

#: The body every play's tasks get unless the play says otherwise: the four things a task must carry.
DEFAULT_BODY = (
    "Why: {reason}\n"
    "Where they are: {stage} — Success Vector {vector:.0f}, {quadrant}. Trend: {drivers}\n"
    "Next milestone: {next_milestone}{next_milestone_when}.\n"
    "Bring: {bring}"
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


class InputSpec(_Strict):
    """One weighted input: a signal, how its value maps to 0–1 (curve or map), its weight and freshness."""

    signal: str
    label: str = ""
    weight: float = Field(gt=0, description="Relative weight; segments may override it")
    max_age_days: float | None = Field(default=None, gt=0, description="Older values drop out (stale)")
    curve: list[tuple[float, float]] | None = Field(
        default=None, description="Piecewise-linear [[value, score 0–1], …], x increasing, score monotone"
    )
    map: dict[str, float] | None = Field(default=None, description="Text value → score 0–1")
    default: float | None = Field(default=None, ge=0, le=1, description="Score of a text value not in map")
    max_share: float | None = Field(default=None, gt=0, le=1, description="Cap on the input's share of weight")
    why: str = Field(default="", description="Why this input has this weight (shown in docs and explain)")

    @model_validator(mode="after")
    def _shape(self) -> InputSpec:
        if (self.curve is None) == (self.map is None):
            raise ValueError("give exactly one of curve = [[x, score], …] (numbers) or map = {value = score} (text)")
        if self.curve is not None:
            xs = [p[0] for p in self.curve]
            ys = [p[1] for p in self.curve]
            if len(xs) < 2 or any(b <= a for a, b in pairwise(xs)):
                raise ValueError("curve needs at least two points with strictly increasing values")
            if any(not 0 <= y <= 1 for y in ys):
                raise ValueError("curve scores must be between 0 and 1")
            rising = all(b >= a for a, b in pairwise(ys))
            falling = all(b <= a for a, b in pairwise(ys))
            if not (rising or falling):
                raise ValueError("curve scores must only rise or only fall (a monotone curve), so more of a good "
                                 "thing never lowers the vector")
        if self.map is not None and any(not 0 <= v <= 1 for v in self.map.values()):
            raise ValueError("map scores must be between 0 and 1")
        return self

    def effective_max_share(self) -> float | None:
        """NPS is one input among many and usually over-weighted: capped at 10 % unless the file says else."""
        if self.max_share is None and self.signal == "nps":
            return 0.10
        return self.max_share


class Offer(_Strict):
    name: str
    arr: float = Field(gt=0, description="ARR the offer adds when taken")


class Milestone(_Strict):
    key: str
    name: str
    due_days: int = Field(ge=0, description="Due this many days after contract start")
    when: CondField
    first_value: bool = Field(default=False, description="Reaching it ends Time to First Value")
    offer: Offer | None = None
    kind: Literal["outcome", "opportunity"] = Field(
        default="outcome", description="outcome: the customer's progress, can be late; opportunity: the "
        "vendor's goal (expansion, advocacy), 'Not yet' until reached, never overdue")
    dated_by: list[str] = Field(default_factory=list, description="Date signals (day numbers) that date it "
                                "when a first run finds it already reached; else its date is unknown")


class Segment(_Strict):
    label: str
    match: list[str] = Field(default_factory=list, description="CRM segment values (case-insensitive)")
    touch: str = Field(description="Key of a [touch_models] table")
    weights: dict[str, float] = Field(default_factory=dict, description="Per-input weight overrides (> 0)")
    cost_per_year: float = Field(default=0.0, ge=0, description="Fixed cost to serve (CSM allocation)")
    noise_band: float | None = Field(default=None, gt=0, description="Fixed direction band, points/30 days")
    milestones: list[Milestone] = Field(min_length=1)

    @model_validator(mode="after")
    def _path(self) -> Segment:
        keys = [m.key for m in self.milestones]
        if len(set(keys)) != len(keys):
            raise ValueError("milestone keys must be unique within a segment")
        dues = [m.due_days for m in self.milestones]
        if any(b < a for a, b in pairwise(dues)):
            raise ValueError("milestones are a path: due_days must not decrease from one to the next")
        if sum(m.first_value for m in self.milestones) != 1:
            raise ValueError("mark exactly one milestone with first_value = true (it ends Time to First Value)")
        if any(m.first_value and m.kind == "opportunity" for m in self.milestones):
            raise ValueError("first value is the customer's outcome: the first_value milestone must have "
                             "kind = \"outcome\"")
        if any(w <= 0 for w in self.weights.values()):
            raise ValueError("weights must be positive; remove the override to use the input's default")
        return self


class TouchModel(_Strict):
    """How a segment is reached: the escalation ladder, the evidence that moves it on, and who acts.

    A step escalates only on evidence: the CSM completed it (read back from the CRM) while the reason still
    holds (the next step is due ``escalate_after_days`` later, time for the customer to answer), or its due
    date passed ``escalate_overdue_after_days`` ago with nobody touching the task (``None``: an untouched
    overdue task waits for its CSM, it never escalates).
    """

    ladder: list[TaskChannel] = Field(min_length=1)
    escalate_after_days: int = Field(default=5, ge=1, description="The next step after a completed one is due "
                                     "this many days later")
    escalate_overdue_after_days: int | None = Field(
        default=None, ge=0, description="Days past the due date an untouched task escalates (none = never)")
    route: str = Field(default="owner", description="owner | digital | user:<CRM user id or e-mail>")
    minutes_per_task: float = Field(default=30.0, ge=0, description="CSM time one task of this touch model "
                                    "costs, all its ladder steps included (cost to serve)")


class VectorConfig(_Strict):
    """How the vector's direction is read from its velocity (see :mod:`connector.scoring.trend`)."""

    velocity_window_days: int = Field(default=60, ge=7, description="Weights halve every window/2·ln2 days")
    min_history_span_days: float = Field(default=7.0, ge=1)
    noise_band: float | None = Field(default=None, gt=0, description="Fixed band (points/30 days) for every "
                                     "segment; empty = derived from the spread of day-over-day changes")
    noise_z: float = Field(default=2.0, gt=0, description="Band = this many standard errors of the slope")
    min_band: float = Field(default=2.0, ge=0, description="The band is never narrower (points/30 days)")
    hold_days: float = Field(default=7.0, ge=0, description="Velocity must stay out of the band this long")
    exit_ratio: float = Field(default=0.5, ge=0, lt=1, description="Positive/Negative holds above ratio × band")
    min_driver_points: float = Field(default=0.5, ge=0, description="Drivers smaller than this are not named")
    low_confidence: int = Field(default=50, ge=0, le=100)


class QuadrantConfig(_Strict):
    happy_min_vector: float = Field(default=55.0, ge=0, le=100)
    negative_direction_is_unhappy: bool = True
    cost_per_ticket: float = Field(default=25.0, ge=0)
    cost_per_csm_hour: float = Field(default=90.0, ge=0)
    min_margin: float = Field(default=0.2, ge=-1, le=1, description="Profit / ARR needed to count as profitable")


class PriorityConfig(_Strict):
    high_arr: float = Field(default=25_000.0, ge=0, description="ARR from which an account weighs more")
    at_risk_below: float = Field(default=40.0, ge=0, le=100)
    watch_below: float = Field(default=60.0, ge=0, le=100)
    urgent_flags: list[str] = Field(default_factory=list, description="Risk flags that make an account urgent")


class ForecastConfig(_Strict):
    horizons_days: list[int] = Field(default_factory=lambda: [30, 60, 90], min_length=1)
    take_rate: dict[str, float] = Field(
        default_factory=lambda: {"Positive": 0.9, "Flat": 0.4, "Negative": 0.1}
    )


class Conflict(_Strict):
    """While ``when`` holds, ``plays`` wait (no task, no digital action); their triggers are kept, not cleared."""

    name: str
    plays: list[str] = Field(min_length=1)
    when: CondField
    why: str = ""


class Orchestration(_Strict):
    """How plays become the tasks a CSM lives with: one account plan, a capped, fair daily intake."""

    max_new_tasks_per_owner_per_day: int = Field(default=20, ge=1)
    proactive_share: float = Field(default=0.4, ge=0, le=1, description="Share of the cap kept for proactive plays")
    max_open_tasks_per_account: int = Field(default=1, ge=1, le=5, description="Open connector tasks per account")
    expansion_window_days: int = Field(default=30, ge=1, description="How long a reached offer stays 'ready'")
    conflicts: list[Conflict] = Field(default_factory=list)


class Play(_Strict):
    """When to act and what the task says.  Templates must carry reason, stage, next milestone and what to bring."""

    kind: Literal["event", "time"]
    when: CondField
    subject: str
    reason: str
    bring: str
    body: str = DEFAULT_BODY
    priority: TaskPriority = "Normal"
    due_in_days: int = Field(default=3, ge=0)
    delay_days: int = Field(default=0, ge=0, description="Trigger must hold this long before a task (cooling-off)")
    cooldown_days: int = Field(default=30, ge=0, description="After it clears, wait this long before re-opening")
    once: bool = Field(default=False, description="Never re-open for the same account after it cleared")
    segments: list[str] = Field(default_factory=list, description="Limit to these segments (empty = all)")
    ladder: list[TaskChannel] | None = Field(default=None, description="Override the touch model's ladder")
    include_churned: bool = False
    route: dict[str, str] = Field(default_factory=dict, description="Segment key or \"*\" → owner | digital | "
                                  "user:<id or e-mail>; overrides the touch model's route")
    proactive: bool | None = Field(default=None, description="Counts against the proactive share of the cap "
                                   "(default: time-based plays)")

    def is_proactive(self) -> bool:
        return self.kind == "time" if self.proactive is None else self.proactive


class Suppression(_Strict):
    """No new tasks or escalations inside the window (vacation, seasonal freeze); closing still happens."""

    name: str
    start: str = Field(description="YYYY-MM-DD, or MM-DD with yearly = true")
    end: str
    yearly: bool = False
    segments: list[str] = Field(default_factory=list)
    accounts: list[str] = Field(default_factory=list)
    plays: list[str] = Field(default_factory=list, description="Only these plays (empty = all)")

    @model_validator(mode="after")
    def _dates(self) -> Suppression:
        for value in (self.start, self.end):
            try:
                (date.fromisoformat(f"2000-{value}") if self.yearly else date.fromisoformat(value))
            except ValueError:
                form = "MM-DD (e.g. \"12-20\")" if self.yearly else "YYYY-MM-DD"
                raise ValueError(f"{value!r} is not a date; write {form}") from None
        if not self.yearly and self.end < self.start:
            raise ValueError("end is before start")
        return self

    def active(self, today: date) -> bool:
        if not self.yearly:
            return date.fromisoformat(self.start) <= today <= date.fromisoformat(self.end)
        md = today.strftime("%m-%d")
        if self.start <= self.end:
            return self.start <= md <= self.end
        return md >= self.start or md <= self.end


class SuccessModel(_Strict):
    version: int = 1
    fallback_segment: str
    extra_signals: dict[str, Literal["numeric", "text"]] = Field(default_factory=dict)
    vector: VectorConfig = VectorConfig()
    inputs: dict[str, InputSpec] = Field(min_length=1)
    touch_models: dict[str, TouchModel]
    segments: dict[str, Segment] = Field(min_length=1)
    quadrant: QuadrantConfig = QuadrantConfig()
    priority: PriorityConfig = PriorityConfig()
    forecast: ForecastConfig = ForecastConfig()
    orchestration: Orchestration = Orchestration()
    risk_flags: dict[str, CondField] = Field(default_factory=dict)
    plays: dict[str, Play] = Field(default_factory=dict, max_length=64)
    suppressions: list[Suppression] = Field(default_factory=list)

    def segment_keys(self) -> list[str]:
        return list(self.segments)

    def input_keys(self) -> list[str]:
        return list(self.inputs)

    def weight(self, segment: str, input_key: str) -> float:
        return self.segments[segment].weights.get(input_key, self.inputs[input_key].weight)

    def route(self, play: str, segment: str) -> str:
        """Who acts on ``play`` for ``segment``: the play's route for it (or ``*``), else the touch model's."""
        routes = self.plays[play].route
        return routes.get(segment) or routes.get("*") or self.touch_models[self.segments[segment].touch].route


def default_model_path() -> Path:
    """The documented default shipped with the repository (``mappings/success_model.toml``)."""
    return Path(__file__).resolve().parents[2] / "mappings" / "success_model.toml"


def load_model(path: Path | str) -> SuccessModel:
    """Read and validate a success model file; :class:`ConfigError` lists every problem with its fix."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(path, [("", "success model file not found; copy mappings/success_model.toml")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(path, [("", f"cannot read the file ({exc}); check it exists and is UTF-8")]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, [("", f"invalid TOML: {exc}; fix the syntax on that line")]) from None
    return model_from_dict(data, path)


def model_from_dict(data: dict[str, Any], path: Path | str = "<success model>") -> SuccessModel:
    """Validate an already-parsed model (tests, generated models); same errors as :func:`load_model`."""
    from connector.scoring.validate import semantic_problems

    try:
        model = SuccessModel.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(path, [_explain(err) for err in exc.errors()]) from None
    problems = semantic_problems(model)
    if problems:
        raise ConfigError(path, problems)
    return model


def _explain(err: Any) -> tuple[str, str]:
    loc = [str(p) for p in err["loc"]]
    key = ".".join(loc)
    if err["type"] == "extra_forbidden":
        allowed = _fields_at(loc[:-1])
        close = difflib.get_close_matches(loc[-1], allowed, n=1, cutoff=0.6)
        hint = f"did you mean `{close[0]}`?" if close else f"allowed keys: {', '.join(sorted(allowed))}"
        return key, f"unknown key; {hint}"
    if err["type"] == "missing":
        return key, "required key is missing; add it (see mappings/success_model.toml for an example)"
    msg = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
    got = err.get("input")
    shown = "" if isinstance(got, dict | list) else f" (got {got!r:.60})"
    return key, f"{msg}{shown}"


def _fields_at(loc: list[str]) -> list[str]:
    """Field names of the table at ``loc`` (dict keys and list indexes skipped), for did-you-mean hints."""
    current: Any = SuccessModel
    for part in loc:
        current = _model_in(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(part)
            if field is None:
                return []
            current = field.annotation
        elif get_origin(current) in (dict, list):
            current = get_args(current)[-1]
        else:
            return []
    current = _model_in(current)
    return list(current.model_fields) if isinstance(current, type) and issubclass(current, BaseModel) else []


def _model_in(annotation: Any) -> Any:
    """``Offer | None`` → ``Offer``; anything else unchanged."""
    if get_origin(annotation) in (Union, UnionType):
        for arg in get_args(annotation):
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                return arg
    return annotation
