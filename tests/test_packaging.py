"""A plain (not editable) install gives a working `aggregator` with its
templates, static files and migrations inside the wheel."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(out), str(REPO)],
        check=True,
        capture_output=True,
        text=True,
    )
    [built] = out.glob("*.whl")
    return built


def test_wheel_carries_templates_static_files_and_migrations(wheel: Path):
    names = set(zipfile.ZipFile(wheel).namelist())
    for expected in (
        "aggregator/templates/base.html",
        "aggregator/templates/entry.html",
        "aggregator/static/style.css",
        "aggregator/migrations/env.py",
        "aggregator/migrations/versions/0001_initial.py",
        "workers/jobs.py",
        "aggregator/cli.py",
    ):
        assert expected in names
    assert not any(name.startswith("tests/") for name in names)


def test_installed_wheel_runs_outside_the_checkout(wheel: Path, tmp_path: Path):
    target = tmp_path / "site-packages"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
    )
    work = tmp_path / "elsewhere"
    (work / "demo").mkdir(parents=True)
    (work / "demo" / "feed.xml").write_text(
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Demo</title>'
        "<item><title>Hello</title><guid>1</guid><description>A first post.</description></item></channel></rss>"
    )
    (work / "feeds.yaml").write_text("authors:\n  - slug: demo\n    name: Demo\n    feeds:\n      - path: demo/feed.xml\n")
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "AGGREGATOR_CONFIG")}
    # The wheel's own code first; its dependencies from this environment.
    env["PYTHONPATH"] = str(target)
    script = target / "bin" / "aggregator"
    check = subprocess.run([sys.executable, str(script), "check"], cwd=work, env=env, capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    assert check.stdout.strip() == "feeds.yaml: OK: 1 author, 1 feed (1 from files), 0 tag aliases"
    poll = subprocess.run([sys.executable, str(script), "poll"], cwd=work, env=env, capture_output=True, text=True)
    assert "1 new entry" in poll.stdout, poll.stderr
    render = subprocess.run(
        [
            sys.executable,
            "-c",
            "import aggregator, sys; from aggregator.web import create_app; "
            "assert aggregator.__file__.startswith(sys.argv[1]), aggregator.__file__; "
            "client = create_app().test_client(); page = client.get('/'); css = client.get('/static/style.css'); "
            "print(page.status_code, css.status_code, 'Hello' in page.get_data(as_text=True))",
            str(target),
        ],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
    )
    assert render.stdout.split() == ["200", "200", "True"], render.stderr
    assert (work / "instance" / "aggregator.sqlite3").exists()
