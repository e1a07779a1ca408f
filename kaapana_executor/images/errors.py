"""Why reading an image's processing-container.json failed, as one readable line.

Every error names the image as the user wrote it, the manifest digest when one is known, and
the reason, so the executor can put the line into a task log and the CLI can print it as is.
The subclasses are the cases a caller may treat differently: "not found" and "unauthorized"
are the user's to fix, "unavailable" may pass on a later try, a corrupt blob is the registry's.
"""

from __future__ import annotations

from kaapana_executor.errors import ContractError, KaapanaError


class ImageMetadataError(KaapanaError):
    """Base class: ``image (digest): kind: reason``; ``kind`` names the subclass's case."""

    kind = "image metadata error"

    def __init__(self, image: str, reason: str, digest: str | None = None) -> None:
        self.image = image
        self.reason = reason
        self.digest = digest
        super().__init__(self.render())

    def render(self) -> str:
        where = f"{self.image} ({self.digest})" if self.digest else self.image
        return f"{where}: {self.kind}: {self.reason}"


class InvalidReference(ImageMetadataError):
    """The image reference itself cannot be parsed."""

    kind = "invalid image reference"


class ImageNotFound(ImageMetadataError):
    """The registry does not know the repository, tag, digest or a blob."""

    kind = "not found"


class Unauthorized(ImageMetadataError):
    """The registry (or its token server) refused the credentials, or there were none."""

    kind = "unauthorized"


class RegistryUnavailable(ImageMetadataError):
    """Connection failures, timeouts, 429 or 5xx that outlasted the retries."""

    kind = "registry unavailable"


class RegistryProtocolError(ImageMetadataError):
    """The registry answered something the distribution API does not allow."""

    kind = "registry protocol error"


class UnsupportedImage(ImageMetadataError):
    """A manifest, platform or layer format this reader does not handle."""

    kind = "unsupported image"


class CorruptBlob(ImageMetadataError):
    """A manifest or blob whose bytes do not match its digest or size, or a broken layer."""

    kind = "corrupt content"


class LimitExceeded(ImageMetadataError):
    """A size or time limit was reached before the document was found."""

    kind = "limit exceeded"


class NoProcessingContainer(ImageMetadataError):
    """The image has neither the label nor the file (or an upper layer deleted the file)."""

    kind = "no processing-container.json"


class InvalidProcessingContainer(ImageMetadataError):
    """The document was found but is not valid: bad JSON, schema or semantic violations.

    Carries the ``ContractError``, whose lines name ``image@digest:/processing-container.json``,
    the field path and the reason, exactly as ``kaapana-task validate`` prints them.
    """

    kind = "invalid processing-container.json"

    def __init__(self, image: str, digest: str | None, contract: ContractError) -> None:
        self.contract = contract
        super().__init__(image, contract.render(), digest)

    def lines(self) -> list[str]:
        return self.contract.lines()

    def render(self) -> str:
        return "\n".join(self.contract.lines())
