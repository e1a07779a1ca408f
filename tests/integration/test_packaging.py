"""The wheel as a user meets it: built from the working tree, installed into a fresh
virtualenv together with apache-airflow from PyPI, and asked by Airflow's own CLI for its
options. Needs PyPI (or pip's cache) for apache-airflow and setuptools; about a minute.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from kaapana_executor.config import SECTION, provider_config_options

REPO = Path(__file__).resolve().parents[2]
PACKAGED = {
    "kaapana_executor/py.typed",
    "kaapana_executor/schemas/v1/task.schema.json",
    "kaapana_executor/schemas/v1/processing-container.schema.json",
    "kaapana_executor/plugin/templates/status.html",
    "kaapana_executor/plugin/templates/base.html",
    "kaapana_executor/plugin/templates/missing.html",
}


def run(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, env=env, timeout=900, check=False
    )
    assert done.returncode == 0, f"{' '.join(map(str, args))}:\n{done.stdout}\n{done.stderr}"
    return done


def source_tree(destination: Path) -> Path:
    """The files a clone would have (tracked and new, not ignored), symlinks kept: the build
    must not write build/ or *.egg-info into the working tree."""
    listed = run("git", "-C", REPO, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    for name in filter(None, listed.stdout.split("\0")):
        source, target = REPO / name, destination / name
        if not source.is_symlink() and not source.exists():
            continue  # deleted in the working tree
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            target.symlink_to(os.readlink(source))
        else:
            shutil.copy2(source, target)
    return destination


def test_the_wheel_installs_with_airflow_and_airflow_lists_its_options(tmp_path: Path) -> None:
    src = source_tree(tmp_path / "src")
    run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", tmp_path / "dist", src)
    (wheel,) = (tmp_path / "dist").glob("kaapana_executor-*.whl")
    missing = PACKAGED - set(zipfile.ZipFile(wheel).namelist())
    assert not missing, f"not in the wheel: {sorted(missing)}"

    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv)
    airflow_version = importlib.metadata.version("apache-airflow")
    run(
        venv / "bin/python",
        "-m",
        "pip",
        "install",
        "--quiet",
        wheel,
        f"apache-airflow=={airflow_version}",
    )

    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env |= {"AIRFLOW_HOME": str(tmp_path / "airflow"), "PYTHONPATH": ""}
    args = ("config", "list", "--section", SECTION, "--include-descriptions", "--show-values")
    listed = run(venv / "bin/airflow", *args, env=env)

    lines = [line.rstrip() for line in listed.stdout.splitlines()]
    assert f"[{SECTION}]" in lines
    for name, option in provider_config_options().items():
        assert f"{name} = {option['default']}".rstrip() in lines, name
        assert f"# {option['description']}" in lines, name
    assert "Please define the 'cli' section" not in listed.stdout + listed.stderr

    plugins = run(venv / "bin/airflow", "plugins", "--output", "plain", env=env)
    assert "kaapana_executor" in plugins.stdout
    page = run(
        venv / "bin/python",
        "-c",
        "from kaapana_executor.plugin.view import render_missing; print(render_missing('none'))",
        env=env,
    )
    assert 'id="missing"' in page.stdout  # the templates came with the wheel
    run(venv / "bin/kaapana-task", "--help", env=env)
