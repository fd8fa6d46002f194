"""Imports every model so that metadata (and Alembic) sees every table."""

from lms.accounts.models import Role, TokenPurpose, User, UserRole, UserToken
from lms.audit.models import AuditEvent
from lms.catalog.models import Course, CourseInstructor, CourseVersion, Lesson, LessonKind, Module
from lms.media.models import Caption, MediaAsset, MediaKind, MediaStatus, MediaUpload, Rendition
from lms.programs.models import Enrolment, EnrolmentStatus, Programme, ProgrammeCourse, Sponsor

__all__ = [
    "AuditEvent",
    "Caption",
    "Course",
    "CourseInstructor",
    "CourseVersion",
    "Lesson",
    "LessonKind",
    "MediaAsset",
    "MediaKind",
    "MediaStatus",
    "MediaUpload",
    "Module",
    "Rendition",
    "Enrolment",
    "EnrolmentStatus",
    "Programme",
    "ProgrammeCourse",
    "Role",
    "Sponsor",
    "TokenPurpose",
    "User",
    "UserRole",
    "UserToken",
]
