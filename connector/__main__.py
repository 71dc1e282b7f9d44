"""``python -m connector …`` — the same command line as the ``connector`` console script."""

from connector.cli import app

app(prog_name="connector")
