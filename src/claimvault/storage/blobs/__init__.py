"""Encrypted blob store: attachments, statements and X12 files, behind one interface (local dir or S3)."""
