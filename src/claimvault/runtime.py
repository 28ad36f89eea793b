"""The runtime: settings plus the long-lived parts built from them (database, key service, password hashing).

The web app and the CLI both build one, so they share exactly the same wiring.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from claimvault.config import Settings
from claimvault.monitoring.notifiers import Notifier, NotifierSettings, NullNotifier, build_notifier
from claimvault.security.crypto.keys import KeyService
from claimvault.security.crypto.provider import KeyProvider, LocalKeyring
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
    notifier: Notifier = field(default_factory=NullNotifier)

    def close(self) -> None:
        self.db.dispose()


def build_key_provider(settings: Settings, *, create: bool = False) -> KeyProvider:
    path = settings.resolved_keyring_path
    return LocalKeyring.open_or_create(path) if create else LocalKeyring(path)


def build_runtime(
    settings: Settings, *, db: Database | None = None, key_provider: KeyProvider | None = None
) -> Runtime:
    if db is None:
        db = Database(create_db_engine(settings.resolved_database_url, pool_size=settings.db_pool_size))
    provider = key_provider or build_key_provider(settings)
    return Runtime(
        settings=settings,
        db=db,
        keys=KeyService(provider),
        passwords=PasswordHashing(
            time_cost=settings.argon2_time_cost,
            memory_cost_kib=settings.argon2_memory_cost_kib,
            parallelism=settings.argon2_parallelism,
        ),
        limiter=build_limiter(backend=settings.throttle_backend, redis_url=settings.redis_url),
        hash_guard=HashGuard(settings.max_concurrent_password_checks),
        notifier=build_notifier(NotifierSettings()),
    )
