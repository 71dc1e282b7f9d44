"""The scoring suite runs with ``--import-mode=importlib``, which does not put test folders on
``sys.path``; this folder is added here so the tests can import ``scoring_helpers`` by name."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
