"""API tokens: how a sponsor's own systems call the API under ``/api/v1/``.

A token belongs to a sponsor, not to the staff member who created it: it keeps working
when that person leaves, and any of the sponsor's staff can revoke it. Only the SHA-256
of the secret is stored (the secret is 256 random bits, so a plain hash is enough: there
is nothing to brute-force), with a short non-secret prefix so that staff can tell their
tokens apart in the portal and in logs.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lms.db import Base, utcnow


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    sponsor_id: Mapped[int] = mapped_column(
        ForeignKey("sponsors.id", ondelete="CASCADE"), index=True
    )
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The first characters of the secret, shown in the portal: "ksk_Ab3dE9xY…".
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    revoked_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    sponsor: Mapped[Sponsor] = relationship()  # noqa: F821
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])  # noqa: F821


from lms.accounts.models import User  # noqa: E402,F401
from lms.programs.models import Sponsor  # noqa: E402,F401
