"""Whose attempts a quiz's results count.

Results (the summary, the score distribution, the item analysis and the list of
attempts) are about trainees: an attempt counts when its author is enrolled (in any
status: active, completed or withdrawn) in a programme that contains the course, and is
not one of the course's instructors. Instructors, admins and sponsor staff who may read
the course can take its quiz too (to try it), and those attempts would skew the numbers;
they are left out and only counted, so the page can say so.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from lms.catalog.models import CourseInstructor
from lms.programs.models import Enrolment, ProgrammeCourse


def trainee_ids(session: Session, course_id: int, user_ids: Iterable[int]) -> set[int]:
    """Those of ``user_ids`` whose attempts at the course's quizzes count as a trainee's."""
    wanted = set(user_ids)
    if not wanted:
        return set()
    enrolled = set(
        session.scalars(
            select(Enrolment.user_id)
            .join(ProgrammeCourse, ProgrammeCourse.programme_id == Enrolment.programme_id)
            .where(ProgrammeCourse.course_id == course_id, Enrolment.user_id.in_(wanted))
        )
    )
    teaching = set(
        session.scalars(
            select(CourseInstructor.user_id).where(
                CourseInstructor.course_id == course_id, CourseInstructor.user_id.in_(wanted)
            )
        )
    )
    return enrolled - teaching
