"""Course packages: a course as a folder of plain files, imported and exported whole.

- :mod:`lms.content.package` reads and checks a package (``course.yaml``, Markdown,
  media, captions) into a :class:`~lms.content.package.CoursePackage`, and writes one.
- :mod:`lms.content.importer` turns a package into a course in one transaction.
- :mod:`lms.content.exporter` writes a course back out as a package.
- :mod:`lms.content.sample` (re)builds the media of the sample course in ``content/``.

The format is documented in ``content/README.md``.
"""
