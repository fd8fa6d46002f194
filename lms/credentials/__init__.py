"""Verifiable completion credentials.

The pure core of the credential feature, with no database models or web views:

- :mod:`lms.credentials.codes`: short verification codes that people read aloud and type
  (Crockford base32, 80 bits of randomness).
- :mod:`lms.credentials.keys`: the issuer's Ed25519 signing keys, stored in the instance
  folder (or given as a file), rotated without breaking older credentials, and published
  as a key set (Multikey and JWK).
- :mod:`lms.credentials.badges`: Open Badges 3.0 ``OpenBadgeCredential`` documents (W3C
  Verifiable Credentials Data Model 2.0), secured as VC-JOSE compact JWS (``vc+jwt``,
  EdDSA), and revocation through a W3C Bitstring Status List.
- :mod:`lms.credentials.cli`: ``lms credentials verify FILE``, an offline check against a
  published key set and, optionally, a status list.
"""
