"""processing-container.json read from images through the registry API: no pod, no Docker.

``ImageMetadata(cache_dir, credentials).get(image)`` resolves the reference (a tag with one
HEAD request), picks the platform from an index, and takes the document from the image config
label ``org.kaapana.processing-container`` or else from the newest layer holding
``/processing-container.json`` (whiteouts respected). Outcomes are cached by manifest digest
in memory and in ``cache_dir``. Errors are ``ImageMetadataError`` subclasses naming the
image, the digest and the reason.
"""

from kaapana_executor.images.credentials import (
    Anonymous,
    ChainedCredentials,
    CredentialProvider,
    Credentials,
    CredentialsError,
    DockerConfig,
    DockerConfigFile,
    KubernetesPullSecrets,
)
from kaapana_executor.images.errors import (
    CorruptBlob,
    ImageMetadataError,
    ImageNotFound,
    InvalidProcessingContainer,
    InvalidReference,
    LimitExceeded,
    NoProcessingContainer,
    RegistryProtocolError,
    RegistryUnavailable,
    Unauthorized,
    UnsupportedImage,
)
from kaapana_executor.images.limits import Limits
from kaapana_executor.images.locate import DOCUMENT_PATH, LABEL
from kaapana_executor.images.metadata import FetchedDocument, ImageMetadata, validate
from kaapana_executor.images.reference import ImageReference, parse_reference

__all__ = [
    "DOCUMENT_PATH",
    "LABEL",
    "Anonymous",
    "ChainedCredentials",
    "CorruptBlob",
    "CredentialProvider",
    "Credentials",
    "CredentialsError",
    "DockerConfig",
    "DockerConfigFile",
    "FetchedDocument",
    "ImageMetadata",
    "ImageMetadataError",
    "ImageNotFound",
    "ImageReference",
    "InvalidProcessingContainer",
    "InvalidReference",
    "KubernetesPullSecrets",
    "LimitExceeded",
    "Limits",
    "NoProcessingContainer",
    "RegistryProtocolError",
    "RegistryUnavailable",
    "Unauthorized",
    "UnsupportedImage",
    "parse_reference",
    "validate",
]
