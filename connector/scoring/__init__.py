"""The success model engine: Success Vector, Success Milestones, quadrant, plays and expansion forecast.

Pure functions of signals + history + the previous run's state (see :func:`score`); the model itself is
a declarative TOML file (:func:`load_model`, default ``mappings/success_model.toml``).
"""

from connector.scoring.engine import score
from connector.scoring.explain import explain_account, render_explain
from connector.scoring.inputs import ScoringInputs
from connector.scoring.model import SuccessModel, default_model_path, load_model, model_from_dict
from connector.scoring.result import ScoringResult

__all__ = [
    "ScoringInputs",
    "ScoringResult",
    "SuccessModel",
    "default_model_path",
    "explain_account",
    "load_model",
    "model_from_dict",
    "render_explain",
    "score",
]
