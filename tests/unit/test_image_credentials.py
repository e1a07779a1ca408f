"""Credentials from docker config documents and files, matched the way the kubelet does."""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path

import pytest

from kaapana_executor.images.credentials import (
    Credentials,
    CredentialsError,
    DockerConfig,
    DockerConfigFile,
    default_docker_config_path,
)


def _auth(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()


CONFIG = DockerConfig.parse(
    {
        "auths": {
            "https://index.docker.io/v1/": {"auth": _auth("hub", "h")},
            "reg.example.com": {"username": "plain", "password": "p"},
            "reg.example.com/team": {"auth": _auth("team", "t")},
            "reg.example.com/team/project": {"auth": _auth("project", "pp")},
            "*.corp.example": {"auth": _auth("glob", "g")},
            "http://127.0.0.1:35001/v2/": {"auth": _auth("local", "l:with:colons")},
            "empty.example.com": {},
        }
    },
    "config.json",
)


@pytest.mark.parametrize(
    ("registry", "repository", "user"),
    [
        ("docker.io", "library/ubuntu", "hub"),
        ("reg.example.com", "other/x", "plain"),
        ("reg.example.com", "team/x", "team"),
        ("reg.example.com", "team/project/x", "project"),
        ("reg.example.com", "teammate/x", "plain"),
        ("a.corp.example", "x", "glob"),
        ("127.0.0.1:35001", "x", "local"),
        ("empty.example.com", "x", None),
        ("unknown.example.com", "x", None),
    ],
)
def test_most_specific_matching_entry_wins(
    registry: str, repository: str, user: str | None
) -> None:
    found = CONFIG.credentials_for(registry, repository)

    assert (found.username if found else None) == user


def test_passwords_keep_colons_and_stay_out_of_repr() -> None:
    found = CONFIG.credentials_for("127.0.0.1:35001", "x")

    assert found == Credentials("local", "l:with:colons")
    assert "l:with:colons" not in repr(found)


def test_legacy_dockercfg_is_the_bare_mapping() -> None:
    legacy = DockerConfig.parse({"reg.io": {"auth": _auth("u", "p")}}, ".dockercfg")

    assert legacy.credentials_for("reg.io", "x") == Credentials("u", "p")


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "not a JSON object"),
        ({"auths": []}, "'auths' is not an object"),
        ({"auths": {"reg.io": "x"}}, "auths['reg.io']: not an object"),
        ({"auths": {"reg.io": {"auth": "%%%"}}}, "auths['reg.io'].auth: not base64"),
        ({"auths": {"reg.io": {"auth": _auth("nocolon", "")[:-4]}}}, "not base64 of"),
    ],
)
def test_malformed_configs_name_the_entry(document: object, message: str) -> None:
    with pytest.raises(CredentialsError, match="secret ns/x") as raised:
        DockerConfig.parse(document, "secret ns/x")

    assert message in str(raised.value)


def test_docker_config_file_reads_auths_and_a_missing_file_is_anonymous(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"auths": {"reg.io": {"auth": _auth("u", "p")}}}))

    assert DockerConfigFile(path).credentials_for("reg.io", "x") == Credentials("u", "p")
    assert DockerConfigFile(tmp_path / "missing.json").credentials_for("reg.io", "x") is None
    assert default_docker_config_path({"DOCKER_CONFIG": str(tmp_path)}) == path


def test_credential_helpers_are_run_like_the_docker_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    helper = tmp_path / "docker-credential-kaapana"
    helper.write_text(
        "#!/bin/sh\n"
        "read server\n"
        'if [ "$server" = "helped.io" ]; then\n'
        '  echo \'{"ServerURL": "helped.io", "Username": "from-helper", "Secret": "s"}\'\n'
        "else\n"
        "  echo 'credentials not found in native keychain'; exit 1\n"
        "fi\n"
    )
    helper.chmod(helper.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    path = tmp_path / "config.json"
    path.write_text(
        json.dumps(
            {
                "credHelpers": {"helped.io": "kaapana"},
                "credsStore": "kaapana",
                "auths": {"stored.io": {"auth": _auth("u", "p")}},
            }
        )
    )
    config = DockerConfigFile(path)

    assert config.credentials_for("helped.io", "x") == Credentials("from-helper", "s")
    assert config.credentials_for("stored.io", "x") == Credentials("u", "p")
    assert config.credentials_for("nothing.io", "x") is None
