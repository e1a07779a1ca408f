"""Answering registry challenges: the WWW-Authenticate parser and the basic header."""

from __future__ import annotations

import base64

import pytest

from kaapana_executor.images.auth import Challenge, basic_header, parse_challenges
from kaapana_executor.images.credentials import Credentials


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (
            'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
            'scope="repository:library/ubuntu:pull"',
            [
                Challenge(
                    "bearer",
                    {
                        "realm": "https://auth.docker.io/token",
                        "service": "registry.docker.io",
                        "scope": "repository:library/ubuntu:pull",
                    },
                )
            ],
        ),
        ('Basic realm="kaapana-local"', [Challenge("basic", {"realm": "kaapana-local"})]),
        (
            'Basic realm="a, b", Bearer realm=http://t/token, error="insufficient_scope"',
            [
                Challenge("basic", {"realm": "a, b"}),
                Challenge("bearer", {"realm": "http://t/token", "error": "insufficient_scope"}),
            ],
        ),
        ('Bearer realm="with \\"quote\\""', [Challenge("bearer", {"realm": 'with "quote"'})]),
        ("", []),
    ],
)
def test_challenges_parse_per_rfc_7235(header: str, expected: list[Challenge]) -> None:
    assert parse_challenges(header) == expected


def test_basic_header_encodes_user_and_password() -> None:
    assert basic_header(Credentials("u", "p:w")) == "Basic " + base64.b64encode(b"u:p:w").decode()
