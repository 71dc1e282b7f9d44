"""A sandbox cluster with the connector set up on it: what the admin-command tests start from."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from connector.config import Config, load_config
from connector.runtime import run_setup
from connector.sandbox.cluster import Cluster, start_cluster


@contextmanager
def admin_rig(workdir: Path, *, accounts: int, seed: int, start: datetime | None = None
              ) -> Iterator[tuple[Cluster, Config, Path]]:
    """``(cluster, config, config path)`` after ``setup``; the cluster stops on exit.  ``start`` pins the
    sandbox clock (UTC) where a test depends on the time of day."""
    # The export endpoints allow 10 calls a minute; these modules sync several times in a few seconds.
    cluster = start_cluster(workdir / "sandbox", accounts=accounts, seed=seed,
                            limits={"zendesk": {"export_requests_per_minute": None}},
                            **({"start": start.astimezone(UTC)} if start is not None else {}))
    try:
        path = cluster.write_config(workdir / "connector.toml")
        config = load_config(path)
        assert run_setup(config, dry_run=False)["errors"] == {}
        yield cluster, config, path
    finally:
        cluster.stop()
