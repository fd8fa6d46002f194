"""Quizzes: question types and their grading (``questions``), banks, quizzes and attempts."""
