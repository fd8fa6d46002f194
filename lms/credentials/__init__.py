"""Completion records and verifiable completion credentials.

- :mod:`lms.credentials.models` / :mod:`lms.credentials.services`: completion records,
  issued once on programme completion, revoked and reissued by admins; the trainee's own
  records and course records.
- :mod:`lms.credentials.codes`: short verification codes that people read aloud and type
  (Crockford base32, 80 bits of randomness).
- :mod:`lms.credentials.keys`: the issuer's Ed25519 signing keys, stored in the instance
  folder (or given as a file), rotated without breaking older credentials, and published
  as a key set (Multikey and JWK).
- :mod:`lms.credentials.badges`: Open Badges 3.0 ``OpenBadgeCredential`` documents (W3C
  Verifiable Credentials Data Model 2.0), secured as VC-JOSE compact JWS (``vc+jwt``,
  EdDSA), and revocation through a W3C Bitstring Status List.
- :mod:`lms.credentials.issuing`: the credential of each record (signed at issue, stored
  on the record), the issuer profile, key set and status lists the views publish.
- :mod:`lms.credentials.views`: ``/verify``, the admin record pages, the published
  documents under ``/credentials/``, and the trainee's ``/records``.
- :mod:`lms.credentials.cli`: ``lms credentials verify FILE`` (against a published key set
  and status list, as files or URLs) and ``lms credentials rotate-key``.
"""
