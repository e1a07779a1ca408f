"""``kaapana-task processing-container`` failures that need no registry: one line, exit 1 or 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from kaapana_executor.cli import main
from kaapana_executor.paths import image_cache_dir


def test_docker_mode_without_a_daemon_is_one_clear_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-daemon.sock")

    code = main(["processing-container", "reg.io/x:v1", "--mode", "docker"])

    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith(
        f"kaapana-task: reg.io/x:v1: no Docker daemon: cannot reach a Docker API at "
        f"unix://{tmp_path}/no-daemon.sock: "
    )
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (
            ["reg.io/UPPER"],
            1,
            "reg.io/UPPER: invalid image reference: invalid repository component",
        ),
        (["x", "--platform", "linux"], 2, "argument --platform: platform 'linux' is not"),
        (["x", "--mode", "podman"], 2, "argument --mode: invalid choice: 'podman'"),
    ],
)
def test_bad_arguments(
    argv: list[str], code: int, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        result = main(["processing-container", *argv])
    except SystemExit as exit_:
        result = int(exit_.code or 0)

    assert result == code
    assert message in capsys.readouterr().err


def test_cache_defaults_to_the_executors_directory() -> None:
    assert str(image_cache_dir({"XDG_CACHE_HOME": "/c"})) == "/c/kaapana-executor/images"
