from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask


@pytest.fixture
def app(app_factory: Callable[..., Flask]) -> Flask:
    """Media jobs run at once (Huey's immediate mode), as a worker would run them."""
    return app_factory(JOBS_IMMEDIATE=True)
