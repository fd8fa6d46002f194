"""PDF certificates of completion records.

- :mod:`lms.certificates.fonts`: the fonts (from Python packages), cut down and embedded;
- :mod:`lms.certificates.pdf`: the page itself, pure (a document in, PDF bytes out);
- :mod:`lms.certificates.models`: one :class:`Certificate` per record, with its state;
- :mod:`lms.certificates.services`: what goes on the page, requesting a build, downloads;
- :mod:`lms.certificates.jobs`: the background job that builds and stores the PDF;
- :mod:`lms.certificates.views`: the trainee's download (a redirect to a signed URL).
"""
