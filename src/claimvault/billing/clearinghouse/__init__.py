"""Clearinghouse transports: send 837P batches, fetch 999/277CA/835 files once (SFTP or a local drop directory)."""
