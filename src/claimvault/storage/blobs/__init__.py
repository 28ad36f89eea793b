"""Encrypted blob store: attachments, statements and X12 files, behind one interface (local dir or S3).

Storage side only (backends, metadata, orphan sweep); content goes in and out through the PHI gate with
``claimvault.security.crypto.blobs.BlobStore``.
"""
