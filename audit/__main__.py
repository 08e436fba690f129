"""``python -m audit``: the audit CLI without a console script."""

from audit.cli import app

app(prog_name="audit")
