"""Who receives the weekly completion digest.

A subscription belongs to one sponsor staff user (``user_id`` is unique) and names the
sponsor whose completions it lists. ``last_sent_at`` is when the last digest was claimed:
the next digest lists the records issued since then, and claiming it is a conditional
``UPDATE`` of this column, so two workers never send the same digest twice (see
:mod:`lms.digests.services`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lms.db import Base, utcnow


class CompletionDigestSubscription(Base):
    __tablename__ = "completion_digest_subscriptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    sponsor_id: Mapped[int] = mapped_column(
        ForeignKey("sponsors.id", ondelete="CASCADE"), index=True
    )
    last_sent_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    user: Mapped[User] = relationship()  # noqa: F821
    sponsor: Mapped[Sponsor] = relationship()  # noqa: F821


from lms.accounts.models import User  # noqa: E402,F401
from lms.programs.models import Sponsor  # noqa: E402,F401
