"""The low-confidence flag agrees with the confidence the CRM shows, so minute-by-minute decay cannot flip it."""

from __future__ import annotations

import numpy as np

from connector.scoring import default_model_path, load_model
from connector.scoring.conditions import Columns
from connector.scoring.quadrant import BUILTIN_FLAGS, risk_flags


def test_flag_is_judged_on_the_whole_percent_written() -> None:
    model = load_model(default_model_path())
    threshold = model.vector.low_confidence / 100
    confidence = np.array([threshold - 1e-6, threshold - 0.004, threshold - 0.006, threshold + 1e-6])
    n = confidence.shape[0]
    names, flags = risk_flags(model, Columns(n, {}), np.zeros(n), np.zeros(n, bool), confidence)
    low = flags[:, names.index("low_confidence")]
    # 49.9999 % and 49.6 % are shown as 50 %: not low; 49.4 % is shown as 49 %: low.
    assert low.tolist() == [False, False, True, False]
    assert names[: len(BUILTIN_FLAGS)] == list(BUILTIN_FLAGS)
