"""Imports every model so that metadata (and Alembic) sees every table."""

from lms.accounts.models import Role, TokenPurpose, User, UserRole, UserToken
from lms.api.models import ApiToken
from lms.audit.models import AuditEvent
from lms.catalog.models import Course, CourseInstructor, CourseVersion, Lesson, LessonKind, Module
from lms.certificates.models import Certificate, CertificateStatus
from lms.credentials.models import CompletionRecord
from lms.digests.models import CompletionDigestSubscription
from lms.learning.models import LessonProgress, PlaybackSession, ProgressStatus
from lms.learning.records import CourseCompletion, ModuleCompletion
from lms.media.models import Caption, MediaAsset, MediaKind, MediaStatus, MediaUpload, Rendition
from lms.programs.models import Enrolment, EnrolmentStatus, Programme, ProgrammeCourse, Sponsor
from lms.quizzes.models import (
    AttemptStatus,
    FinishReason,
    Question,
    QuestionCategory,
    QuizAnswer,
    QuizAttempt,
)
from lms.tours.models import TourStopVisit, TourStopWatch

__all__ = [
    "AttemptStatus",
    "FinishReason",
    "Question",
    "QuestionCategory",
    "QuizAnswer",
    "QuizAttempt",
    "ApiToken",
    "AuditEvent",
    "Caption",
    "Certificate",
    "CertificateStatus",
    "CompletionRecord",
    "CompletionDigestSubscription",
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
    "TourStopVisit",
    "TourStopWatch",
    "User",
    "UserRole",
    "UserToken",
]
