"""The runtime: settings plus the long-lived parts built from them (database, key service, password hashing).

The web app and the CLI both build one, so they share exactly the same wiring.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from claimvault.billing.patient_payments.adjustments import register_executors
from claimvault.billing.payments.processor import FakeProcessor, PaymentProcessor, build_processor
from claimvault.config import Settings
from claimvault.monitoring.notifiers import Notifier, NotifierSettings, NullNotifier, build_notifier
from claimvault.security.approvals.service import configure_threshold
from claimvault.security.audit.sequencer import Sequencer
from claimvault.security.crypto.blobs import BlobStore, build_blob_store
from claimvault.security.crypto.keys import KeyService
from claimvault.security.crypto.provider import KeyProvider, build_key_provider
from claimvault.security.hash_guard import HashGuard
from claimvault.security.passwords import PasswordHashing
from claimvault.security.throttle import AttemptLimiter, build_limiter
from claimvault.storage.database import Database, create_db_engine


@dataclass
class Runtime:
    settings: Settings
    db: Database
    keys: KeyService
    passwords: PasswordHashing
    limiter: AttemptLimiter
    hash_guard: HashGuard
    blobs: BlobStore
    notifier: Notifier = field(default_factory=NullNotifier)
    payment_processor: PaymentProcessor = field(default_factory=FakeProcessor)
    sequencer: Sequencer | None = None

    def close(self) -> None:
        if self.sequencer is not None:
            self.sequencer.stop()
        self.db.dispose()


def build_runtime(
    settings: Settings, *, db: Database | None = None, key_provider: KeyProvider | None = None
) -> Runtime:
    if db is None:
        db = Database(create_db_engine(settings.resolved_database_url, pool_size=settings.db_pool_size))
    provider = key_provider or build_key_provider(settings)
    keys = KeyService(provider)
    sequencer = Sequencer(db)
    db.on_audit_commit = sequencer.notify  # inline until serve starts the background thread
    processor = build_processor(settings)
    register_executors(keys=keys, processor=processor)  # approved refunds and write-offs run with these
    configure_threshold(settings.approval_threshold)
    return Runtime(
        settings=settings,
        db=db,
        keys=keys,
        passwords=PasswordHashing(
            time_cost=settings.argon2_time_cost,
            memory_cost_kib=settings.argon2_memory_cost_kib,
            parallelism=settings.argon2_parallelism,
        ),
        limiter=build_limiter(backend=settings.throttle_backend, redis_url=settings.redis_url),
        hash_guard=HashGuard(settings.max_concurrent_password_checks),
        blobs=build_blob_store(settings, keys=keys),
        notifier=build_notifier(NotifierSettings()),
        payment_processor=processor,
        sequencer=sequencer,
    )
