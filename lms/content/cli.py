"""``lms content import|export``: course packages in ``content/``."""

from flask.cli import AppGroup

content_group = AppGroup("content", help="Course packages: import and export.")
