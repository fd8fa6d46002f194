"""Imports every model so that metadata (and Alembic) sees every table."""

from lms.accounts.models import Role, TokenPurpose, User, UserRole, UserToken
from lms.audit.models import AuditEvent
from lms.catalog.models import Course, CourseInstructor, CourseVersion, Lesson, LessonKind, Module
from lms.credentials.models import CompletionRecord
from lms.learning.models import LessonProgress, PlaybackSession, ProgressStatus
from lms.learning.records import CourseCompletion, ModuleCompletion
from lms.media.models import Caption, MediaAsset, MediaKind, MediaStatus, MediaUpload, Rendition
from lms.programs.models import Enrolment, EnrolmentStatus, Programme, ProgrammeCourse, Sponsor

__all__ = [
    "AuditEvent",
    "Caption",
    "CompletionRecord",
    "Course",
    "CourseCompletion",
    "CourseInstructor",
    "CourseVersion",
    "Lesson",
    "LessonProgress",
    "LessonKind",
    "MediaAsset",
    "MediaKind",
    "MediaStatus",
    "MediaUpload",
    "Module",
    "ModuleCompletion",
    "PlaybackSession",
    "Rendition",
    "Enrolment",
    "EnrolmentStatus",
    "Programme",
    "ProgressStatus",
    "ProgrammeCourse",
    "Role",
    "Sponsor",
    "TokenPurpose",
    "User",
    "UserRole",
    "UserToken",
]
