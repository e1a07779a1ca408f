"""The public entry: ``ImageMetadata.get(image)`` returns an image's validated
processing-container.json, read through the registry API without pulling the image.

One lookup:

1. A tag is resolved to a manifest digest with one HEAD request (a digest reference needs no
   request at all when cached).
2. The cache answers by digest (for an index: by index digest and platform).
3. Otherwise the manifest is fetched (an index picks the configured platform), then the
   document is located (config label, else layers newest first; see ``locate``) and the
   outcome is cached, including "this image has none".
4. The text is parsed and validated like every contract document; errors name the image,
   the digest and, for schema violations, the field path.

Concurrent lookups of the same digest read the registry once: the second waits for the first.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

from kaapana_executor.config import ExecutorSettings
from kaapana_executor.contract import documents
from kaapana_executor.contract.schema import Kind
from kaapana_executor.errors import ContractError
from kaapana_executor.images.auth import Authorizer
from kaapana_executor.images.cache import Entry, MetadataCache
from kaapana_executor.images.client import RegistryClient, scheme_for
from kaapana_executor.images.credentials import (
    Anonymous,
    CredentialProvider,
    KubernetesPullSecrets,
    PullAccess,
)
from kaapana_executor.images.errors import (
    InvalidProcessingContainer,
    NoProcessingContainer,
    UnsupportedImage,
)
from kaapana_executor.images.limits import Clock, Deadline, Limits
from kaapana_executor.images.locate import locate, source_name
from kaapana_executor.images.manifest import (
    ImageIndex,
    ImageManifest,
    Platform,
    parse_manifest,
    select_platform,
)
from kaapana_executor.images.reference import parse_reference
from kaapana_executor.images.transport import Meter, Transport
from kaapana_executor.k8s.gateway import KubeGateway
from kaapana_executor.models import ProcessingContainer

DEFAULT_PLATFORM = "linux/amd64"


@dataclass(frozen=True)
class FetchedDocument:
    """The document's text as found, before validation, and where it was found."""

    image: str
    digest: str  # the image manifest (for an index: the chosen platform's manifest)
    text: str
    origin: str

    @property
    def source(self) -> str:
        return source_name(self.image, self.digest, self.origin)


def validate(fetched: FetchedDocument) -> ProcessingContainer:
    """Parse and validate ``fetched`` as a processing-container, or InvalidProcessingContainer."""
    try:
        document = documents.parse_json(fetched.text, fetched.source)
        model = documents.build(Kind.PROCESSING_CONTAINER, document, fetched.source)
    except ContractError as exc:
        raise InvalidProcessingContainer(fetched.image, fetched.digest, exc) from None
    assert isinstance(model, ProcessingContainer)
    return model


class _KeyedLocks:
    """One lock per key while someone holds it (single flight per digest)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._locks: dict[str, tuple[threading.Lock, int]] = {}

    @contextmanager
    def hold(self, key: str) -> Iterator[None]:
        with self._lock:
            lock, users = self._locks.get(key, (threading.Lock(), 0))
            self._locks[key] = (lock, users + 1)
        try:
            with lock:
                yield
        finally:
            with self._lock:
                lock, users = self._locks[key]
                if users == 1:
                    del self._locks[key]
                else:
                    self._locks[key] = (lock, users - 1)


class ImageMetadata:
    """Reads processing-container.json from images; thread-safe, one instance per process.

    ``cache_dir=None`` caches in memory only. ``plain_http`` lists registries (host:port)
    spoken to over http besides loopback ones. ``session``, ``meter`` and ``clock`` are for
    callers that share a connection pool or count requests (tests, the benchmark).
    """

    def __init__(
        self,
        cache_dir: Path | None,
        credentials: CredentialProvider | None = None,
        platform: str = DEFAULT_PLATFORM,
        limits: Limits | None = None,
        *,
        plain_http: Iterable[str] = (),
        session: requests.Session | None = None,
        meter: Meter | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        self.platform = Platform.parse(platform)
        self.limits = limits or Limits()
        self.meter = meter or Meter()
        self.cache = MetadataCache(cache_dir)
        self._owns_session = session is None
        self._session = session or requests.Session()
        self._transport = Transport(self._session, self.limits, self.meter)
        self._authorizer = Authorizer(self._transport, credentials or Anonymous(), clock)
        self._plain_http = frozenset(plain_http)
        self._clock = clock
        self._locks = _KeyedLocks()
        self._access: Callable[[PullAccess], CredentialProvider] | None = None
        self._by_access: OrderedDict[PullAccess, Authorizer] = OrderedDict()
        self._access_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: ExecutorSettings, gateway: KubeGateway) -> ImageMetadata:
        """The executor's instance: its cache directory and insecure registries, credentials
        from the pull secrets its pods get (``image_pull_secrets``, else those of the pods'
        ServiceAccount). Secrets are only read when a registry asks for credentials."""
        account = settings.service_account or "default"
        secrets = KubernetesPullSecrets(
            gateway, settings.namespace, settings.image_pull_secrets, service_account=account
        )
        found = cls(Path(settings.cache_dir), secrets, plain_http=settings.insecure_registries)
        found._access = lambda access: KubernetesPullSecrets(
            gateway, access.namespace, access.secrets, service_account=account
        )
        return found

    def close(self) -> None:
        if self._owns_session:
            self._session.close()

    def get(self, image: str, access: PullAccess | None = None) -> ProcessingContainer:
        """The validated processing-container of ``image``; raises ImageMetadataError.

        ``access``: read it with that pod's pull credentials (when this instance was built
        ``from_settings``); None: with the instance's own.
        """
        return validate(self.fetch(image, access))

    def _authorizer_for(self, access: PullAccess | None) -> Authorizer:
        """One authorizer (and token cache) per set of credentials: a token obtained with one
        namespace's secrets is never used for another's. The most recent 64 are kept."""
        if access is None or self._access is None:
            return self._authorizer
        with self._access_lock:
            found = self._by_access.get(access)
            if found is None:
                found = Authorizer(self._transport, self._access(access), self._clock)
                self._by_access[access] = found
                while len(self._by_access) > 64:
                    self._by_access.popitem(last=False)
            self._by_access.move_to_end(access)
            return found

    def fetch(self, image: str, access: PullAccess | None = None) -> FetchedDocument:
        """The document's text and origin, unvalidated (for callers that template it)."""
        reference = parse_reference(image)
        deadline = Deadline(self.limits.max_seconds, self._clock)
        registry = RegistryClient(
            reference,
            image,
            self._transport,
            self._authorizer_for(access),
            self.limits,
            scheme_for(reference.api_host, self._plain_http),
        )
        top = reference.digest or registry.resolve(deadline)
        entry = self._cached(top)
        if entry is None:
            with self._locks.hold(top):  # a second lookup of ``top`` waits, then hits the cache
                entry = self._cached(top) or self._read(registry.for_digest(top), deadline)
        if entry.document is None:
            raise NoProcessingContainer(image, entry.origin, entry.digest)
        return FetchedDocument(image, entry.digest, entry.document, entry.origin)

    def _cached(self, top: str) -> Entry | None:
        return self.cache.entry(self.cache.alias(top, str(self.platform)) or top)

    def _read(self, registry: RegistryClient, deadline: Deadline) -> Entry:
        """Fetch the manifest ``registry.digest`` names and locate the document; cache it."""
        top = registry.digest
        assert top is not None
        manifest = parse_manifest(*registry.manifest(top, deadline), registry.image, top)
        if isinstance(manifest, ImageIndex):
            chosen = select_platform(manifest, self.platform, registry.image, top)
            self.cache.put_alias(top, str(self.platform), chosen.digest)
            cached = self.cache.entry(chosen.digest)
            if cached is not None:
                return cached
            registry = registry.for_digest(chosen.digest)
            manifest = parse_manifest(
                *registry.manifest(chosen.digest, deadline), registry.image, chosen.digest
            )
            if not isinstance(manifest, ImageManifest):
                raise UnsupportedImage(
                    registry.image, f"the index entry for {self.platform} is an index too", top
                )
        entry = locate(registry, manifest, deadline, self.limits)
        self.cache.put(entry)
        return entry
