from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from lms.audit.models import AuditEvent


def record(
    session: Session,
    action: str,
    *,
    actor_id: int | None = None,
    subject: str = "",
    ip: str = "",
    **details: Any,
) -> AuditEvent:
    event = AuditEvent(action=action, actor_id=actor_id, subject=subject, ip=ip, details=details)
    session.add(event)
    session.flush()
    return event
