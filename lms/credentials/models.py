"""Completion records: what a trainee is issued, once, when a programme is completed.

**Exactly once, and reissue.** A record belongs to a trainee and a programme and has a
``generation``: the record issued on completion is generation 1, and a reissue writes
a new row with the next generation and marks the old one revoked and replaced
(``replaced_by_id``). ``UNIQUE (user_id, programme_id, generation)`` is then a plain
unique constraint on SQLite and PostgreSQL (no partial index), and:

- issuing on completion is ``INSERT ... ON CONFLICT DO NOTHING`` of generation 1, so two
  units of work racing to issue (two web workers, a retried job) leave one row;
- two admins reissuing the same record at once both try the same next generation and
  the second fails on the constraint (its request rolls back, nothing half-done).

Old rows are never deleted: a reissued code keeps answering "revoked (replaced)" at
``/verify``, so a certificate printed from it cannot pass as current.

**Study hours** are the sum of the ``estimated_minutes`` of every lesson in the
published versions of the courses the trainee completed for the programme (the version
recorded on the course completion), divided by 60. Estimated, not measured watch time:
it is what the programme asks of a trainee and is the same for every graduate of it.

**Scores** (``courses[].score``) are percentages from the course's quizzes, the quiz
lessons of the version the trainee completed: each quiz counts with its counted result
(best or last graded attempt, per its settings), and the course score is the plain mean
of those percentages (every quiz weighs the same, whatever its points), rounded to one
decimal. ``courses[].quizzes`` keeps the per-quiz percentages. A course with no graded
quiz has ``score: null``, never a made-up number. See :mod:`lms.credentials.scores`.

**Revocation status.** A record's bit in the published Bitstring Status List follows from
its id (:func:`lms.credentials.issuing.status_position`): ids are never reused, as records
are never deleted, so no extra column or allocator is needed.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lms.db import Base, utcnow


class CompletionRecord(Base):
    __tablename__ = "completion_records"
    __table_args__ = (
        UniqueConstraint("user_id", "programme_id", "generation"),
        Index("ix_completion_records_programme_id_issued_at", "programme_id", "issued_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(
        String(36), unique=True, default=lambda: str(uuid.uuid4())
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("programmes.id", ondelete="CASCADE"))
    sponsor_id: Mapped[int] = mapped_column(ForeignKey("sponsors.id"), index=True)
    generation: Mapped[int] = mapped_column(default=1)
    # The canonical form printed by lms.credentials.codes.new_verification_code().
    verification_code: Mapped[str] = mapped_column(String(19), unique=True)
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[datetime]
    study_hours: Mapped[float] = mapped_column(default=0.0)
    # [{"course_id", "code", "title", "completed_at" (ISO 8601), "score" (percent or
    # null), "quizzes": [{"lesson_id", "title", "percent"}]}] as at issue.
    courses: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    revoked_at: Mapped[datetime | None]
    revoked_reason: Mapped[str] = mapped_column(String(500), default="")
    revoked_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    replaced_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("completion_records.id", ondelete="SET NULL")
    )
    # The signed OpenBadgeCredential (compact JWS, public data), kept so the trainee
    # always downloads the bytes issued; None until signed (see lms.credentials.issuing).
    credential_jwt: Mapped[str | None] = mapped_column(Text)

    user: Mapped[User] = relationship(foreign_keys=[user_id])  # noqa: F821
    programme: Mapped[Programme] = relationship()  # noqa: F821
    sponsor: Mapped[Sponsor] = relationship()  # noqa: F821
    revoked_by: Mapped[User | None] = relationship(foreign_keys=[revoked_by_id])  # noqa: F821
    replaced_by: Mapped[CompletionRecord | None] = relationship(
        remote_side=[id], foreign_keys=[replaced_by_id]
    )

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    @property
    def state(self) -> str:
        """``valid``, ``revoked`` or ``replaced`` (a reissued record is also revoked)."""
        if self.replaced_by_id is not None:
            return "replaced"
        return "revoked" if self.revoked_at is not None else "valid"


from lms.accounts.models import User  # noqa: E402,F401
from lms.programs.models import Programme, Sponsor  # noqa: E402,F401
