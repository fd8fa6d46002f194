"""Completion lists for sponsors: the shared rows and writers, and the portal downloads."""
