"""The deployment in deploy/, for real: systemd accepts the units, honcho
runs the Procfile on PostgreSQL and Redis until the site shows posts, and
the commands work inside the sandbox the units ask for.

systemd cannot start units here (it is not this machine's init), so the
sandbox's system-call rules (SystemCallFilter=, MemoryDenyWriteExecute=,
RestrictAddressFamilies=) are rebuilt from the unit file with libseccomp,
as systemd builds them, and the commands run under them.
"""

from __future__ import annotations

import contextlib
import ctypes.util
import errno
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections import defaultdict
from pathlib import Path

import pytest

from aggregator.db import make_engine, session_factory
from tests.conftest import REPO, _empty_postgres, _missing_services, _service_missing
from tests.helpers import count_entries, feeds_yaml, free_port

DEPLOY = REPO / "deploy"
UNITS = ("aggregator-web.service", "aggregator-scheduler.service", "aggregator-worker@.service")
UNIT_NAMES = (*UNITS, "aggregator-worker@1.service")  # as systemd-analyze names them
INSTALLED_BIN = "/opt/aggregator/bin/"  # where the units expect the virtualenv
CHECKOUT_BIN = Path(sys.executable).parent  # this checkout's .venv/bin, with `aggregator` and `honcho`
FEEDS = {"maren": "therapist-rss20.xml", "samuel": "counsellor-atom10.xml"}
ENTRIES = 9  # in those two fixture feeds
POST_TITLES = ("Giving Thanks: Peace, Food, Gratitude", "The 3 a.m. Committee: Living With Anxious Thoughts")
MAX_EXPOSURE = 2.0  # `systemd-analyze security`: 0 is a sealed box, 10 no sandbox at all


def systemd_analyze() -> str:
    path = shutil.which("systemd-analyze")
    if path is None:
        _service_missing("systemd-analyze", "not installed (Debian: apt-get install systemd)")
    return path



def postgres(postgres_url: str) -> str:
    if not postgres_url:
        _service_missing("PostgreSQL", _missing_services.get("PostgreSQL", "cannot connect"))
    _empty_postgres(postgres_url)
    return postgres_url


def site_environment(**settings: str) -> dict[str, str]:
    """The environment of a shell with this checkout's virtualenv on PATH."""
    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "REDIS_URL", "AGGREGATOR_CONFIG")}
    env.update(PATH=f"{CHECKOUT_BIN}{os.pathsep}{env.get('PATH', '')}", PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1")
    env.update(settings)
    return env


def write_site(directory: Path, feed_server) -> None:
    authors = {slug: [feed_server.url(name)] for slug, name in FEEDS.items()}
    (directory / "feeds.yaml").write_text(feeds_yaml(authors), encoding="utf-8")


class Output:
    """A process's output, read in a thread as it comes (a full pipe would stall the process)."""

    def __init__(self, process: subprocess.Popen):
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, args=(process.stdout,), daemon=True)
        self._reader.start()

    def _read(self, stream) -> None:
        with stream:
            for line in stream:
                self.lines.append(line)

    def __str__(self) -> str:
        return "".join(self.lines)

    def finish(self) -> str:
        """The whole output, once the process has ended."""
        self._reader.join(timeout=10)
        return str(self)


def wait_for_site(port: int, process: subprocess.Popen, output: Output, entries: int, timeout: float = 90) -> dict:
    """Wait until /healthz answers 200 with `entries` stored; return its JSON."""
    deadline = time.monotonic() + timeout
    health: dict = {}
    while time.monotonic() < deadline:
        assert process.poll() is None, f"the site stopped:\n{output}"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
                health = json.loads(response.read())
            if health.get("entries") == entries:
                return health
        except OSError:
            pass  # not listening yet, or not healthy yet (503)
        time.sleep(0.3)
    raise AssertionError(f"no {entries} entries within {timeout:g} s (last /healthz: {health}):\n{output}")


def fetch(port: int, path: str) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
        return response.read().decode()


# -- systemd ----------------------------------------------------------------------


def units_for_this_checkout(directory: Path) -> list[Path]:
    """Copies of the units whose ExecStart runs this checkout's commands, so that
    `systemd-analyze verify` checks real executables; the template as instance 1."""
    assert (CHECKOUT_BIN / "aggregator").exists(), f"no aggregator command in {CHECKOUT_BIN}"
    paths = []
    for name in UNITS:
        text = (DEPLOY / name).read_text(encoding="utf-8")
        assert f"ExecStart={INSTALLED_BIN}aggregator " in text, f"{name} runs something else than {INSTALLED_BIN}aggregator"
        (directory / name).write_text(text.replace(INSTALLED_BIN, f"{CHECKOUT_BIN}/"), encoding="utf-8")
        paths.append(directory / name.replace("@.", "@1."))
    return paths


def test_units_pass_systemd_analyze_verify(tmp_path):
    units = units_for_this_checkout(tmp_path)
    result = subprocess.run(
        [systemd_analyze(), "verify", *map(str, units)], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    # verify also loads the units ours name (network-online.target...) and may
    # complain about the machine's own. Each line starts with the unit it is
    # about (its name, or its file's path): only lines naming another unit
    # than ours may stay.
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert [line for line in lines if unit_named(line) in (None, *UNIT_NAMES)] == []
    assert result.returncode == 0 or lines, f"systemd-analyze verify exited {result.returncode} and said nothing"


UNIT_LINE = re.compile(r"^(?P<unit>\S+?\.(?:service|socket|target|mount|automount|swap|timer|path|slice|scope|device))(?::\d+)?: ")


def unit_named(line: str) -> str | None:
    """The unit a line of systemd-analyze is about, by name; None when it names none."""
    found = UNIT_LINE.match(line)
    return Path(found["unit"]).name if found else None


def test_units_are_sandboxed(tmp_path):
    for unit in units_for_this_checkout(tmp_path):
        result = subprocess.run(
            [systemd_analyze(), "security", "--offline=true", "--no-pager", str(unit)],
            cwd=tmp_path, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        found = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
        assert found, result.stdout + result.stderr
        assert float(found.group(1)) <= MAX_EXPOSURE, result.stdout


def test_units_share_their_settings_but_for_command_and_stop():
    # The three units are copied one by one; they must not drift apart.
    def service_lines(name: str) -> list[str]:
        text = (DEPLOY / name).read_text(encoding="utf-8")
        section = text[text.index("[Service]") : text.index("[Install]")]
        return [line for line in section.splitlines() if line and not line.startswith("#")]

    web, *others = (set(service_lines(name)) for name in UNITS)
    for name, lines in zip(UNITS[1:], others, strict=True):
        differences = {line.partition("=")[0] for line in web ^ lines}
        assert differences <= {"ExecStart", "TimeoutStopSec"}, (name, web ^ lines)
    assert {"Restart=on-failure", "User=aggregator", "EnvironmentFile=/etc/aggregator/aggregator.env"} <= web


# -- honcho -----------------------------------------------------------------------


def sessions_alive(session_ids: set[int]) -> dict[int, str]:
    """Live processes (not zombies) in these sessions: pid -> command name."""
    alive = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue  # gone meanwhile
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        state, _parent, _group, session = stat[stat.rindex(")") + 2 :].split()[:4]
        if int(session) in session_ids and state != "Z":
            alive[int(entry)] = name
    return alive


def stop_honcho(honcho: subprocess.Popen, output: Output) -> tuple[dict[str, int], dict[int, str]]:
    """Stop honcho as Ctrl+C in its terminal would; return the processes it
    started (name -> pid) and those still alive after a bounded wait (killed)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(honcho.pid, signal.SIGTERM)  # honcho passes SIGTERM on, and SIGKILL 5 s later
    try:
        honcho.wait(timeout=30)
    except subprocess.TimeoutExpired:
        pass  # killed below with the rest
    started = {name: int(pid) for name, pid in re.findall(r"(\w+)\.1 started \(pid=(\d+)\)", output.finish())}
    # honcho starts each line in a session of its own; a work horse of RQ
    # leaves its worker's process group but not its session.
    sessions = {honcho.pid, *started.values()}
    deadline = time.monotonic() + 30  # a work horse may be finishing a poll
    while sessions_alive(sessions) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = sessions_alive(sessions)
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    return started, left


@pytest.mark.postgres
@pytest.mark.redis
def test_procfile_runs_the_site_on_postgresql_and_redis(tmp_path, feed_server, postgres_url, redis_url):
    write_site(tmp_path, feed_server)
    port = free_port()
    # As the Procfile's comments tell an operator: settings in ./.env, which
    # honcho reads, the site on honcho's PORT.
    (tmp_path / ".env").write_text(
        f"DATABASE_URL={postgres(postgres_url)}\nREDIS_URL={redis_url}\nPORT={port}\n", encoding="utf-8"
    )
    honcho = subprocess.Popen(
        [str(CHECKOUT_BIN / "honcho"), "start", "-f", str(DEPLOY / "Procfile")],
        cwd=tmp_path, env=site_environment(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,  # its own process group, as in a terminal
    )  # fmt: skip
    output = Output(honcho)
    try:
        health = wait_for_site(port, honcho, output, ENTRIES)
        assert health["authors"] == len(FEEDS)
        page = fetch(port, "/")
        for title in POST_TITLES:
            assert title in page
        for name in FEEDS.values():
            assert len(feed_server.hits(name)) == 1, f"{name} was fetched more than once"
    finally:
        started, left = stop_honcho(honcho, output)
    assert set(started) == {"web", "scheduler", "worker1", "worker2"}, str(output)
    assert left == {}, f"processes outlived honcho: {left}"
    assert "polling through RQ" in str(output)


# -- the units' sandbox -------------------------------------------------------------

# Run as `python -c SANDBOX SPEC COMMAND...`: install the filters of SPEC, then
# exec COMMAND. The rules are systemd's (src/shared/seccomp-util.c): a
# filter allowing only the listed system calls (others fail with the unit's
# error number), MemoryDenyWriteExecute's refusal of writable executable
# memory, and RestrictAddressFamilies' refusal of other socket families.
# Filters stack, and the strictest answer wins; the allow list goes last,
# since installing a filter is a call it does not allow.
SANDBOX = r"""
import ctypes, json, os, sys

spec = json.loads(sys.argv[1])
libseccomp = ctypes.CDLL("libseccomp.so.2")
libseccomp.seccomp_init.restype = ctypes.c_void_p
libseccomp.seccomp_init.argtypes = [ctypes.c_uint32]
libseccomp.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
libseccomp.seccomp_load.argtypes = [ctypes.c_void_p]
ALLOW = 0x7FFF0000
def refuse(error): return 0x00050000 | error
CMP_EQ, CMP_GT, CMP_MASKED_EQ = 4, 6, 7

class Comparison(ctypes.Structure):
    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int), ("a", ctypes.c_uint64), ("b", ctypes.c_uint64)]
libseccomp.seccomp_rule_add_array.argtypes = [
    ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint, ctypes.POINTER(Comparison)]

def number(name):
    return libseccomp.seccomp_syscall_resolve_name(name.encode())

def rule(filter, action, name, *comparison):
    count = 1 if comparison else 0
    argument = ctypes.byref(Comparison(*comparison)) if comparison else None
    if number(name) >= 0 and libseccomp.seccomp_rule_add_array(filter, action, number(name), count, argument) != 0:
        sys.exit(f"sandbox: cannot add a rule for {name}")

def load(filter):
    if libseccomp.seccomp_load(filter) != 0:
        sys.exit("sandbox: cannot load a filter")

if spec["deny_write_execute"]:
    filter = libseccomp.seccomp_init(ALLOW)
    rule(filter, refuse(spec["eperm"]), "mmap", 2, CMP_MASKED_EQ, 6, 6)  # PROT_WRITE | PROT_EXEC
    rule(filter, refuse(spec["eperm"]), "mprotect", 2, CMP_MASKED_EQ, 4, 4)  # PROT_EXEC
    rule(filter, refuse(spec["eperm"]), "pkey_mprotect", 2, CMP_MASKED_EQ, 4, 4)
    rule(filter, refuse(spec["eperm"]), "shmat", 2, CMP_MASKED_EQ, 0o100000, 0o100000)  # SHM_EXEC
    load(filter)
if spec["families"]:
    filter = libseccomp.seccomp_init(ALLOW)
    highest = max(spec["families"])
    for family in range(highest):
        if family not in spec["families"]:
            rule(filter, refuse(spec["eafnosupport"]), "socket", 0, CMP_EQ, family, 0)
    rule(filter, refuse(spec["eafnosupport"]), "socket", 0, CMP_GT, highest, 0)
    load(filter)
filter = libseccomp.seccomp_init(refuse(spec["error"]))
for name in spec["syscalls"]:
    rule(filter, ALLOW, name)
load(filter)
os.execvp(sys.argv[2], sys.argv[2:])
"""


def unit_settings(name: str) -> dict[str, list[str]]:
    settings = defaultdict(list)
    for line in (DEPLOY / name).read_text(encoding="utf-8").splitlines():
        if line and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            settings[key].append(value)
    return settings


def syscall_groups() -> dict[str, list[str]]:
    """systemd's named groups of system calls (@system-service...), as this systemd has them."""
    listing = subprocess.run([systemd_analyze(), "syscall-filter", "--no-pager"], capture_output=True, text=True, timeout=60)
    groups: dict[str, list[str]] = {}
    group = None
    for line in listing.stdout.splitlines():
        if line.startswith("@"):
            group = groups.setdefault(line.strip(), [])
        elif not line.startswith(" "):
            group = None  # a blank line, or the closing list of ungrouped calls
        elif group is not None and not line.strip().startswith("#"):
            group.append(line.strip())
    return groups


def sandbox_spec(unit: str) -> dict:
    """The system-call rules that systemd would set up for `unit`."""
    settings = unit_settings(unit)
    groups = syscall_groups()

    def expand(names: list[str]) -> set[str]:
        calls = set()
        for name in names:
            calls |= expand(groups[name]) if name.startswith("@") else {name}
        return calls

    allowed: set[str] = set()
    for value in settings["SystemCallFilter"]:
        if value.startswith("~"):
            allowed -= expand(value[1:].split())
        else:
            allowed |= expand(value.split())
    assert allowed, f"{unit} has no system call allow list"
    families = settings["RestrictAddressFamilies"][-1].split() if settings["RestrictAddressFamilies"] else []
    return {
        "syscalls": sorted(allowed),
        "error": getattr(errno, settings["SystemCallErrorNumber"][-1]),
        "deny_write_execute": settings["MemoryDenyWriteExecute"] == ["yes"],
        "families": sorted(int(getattr(socket, family)) for family in families),
        "eperm": errno.EPERM,
        "eafnosupport": errno.EAFNOSUPPORT,
    }


def sandboxed(unit: str, *command: str) -> list[str]:
    if ctypes.util.find_library("seccomp") is None:
        _service_missing("libseccomp", "libseccomp.so.2 not found (Debian: apt-get install libseccomp2)")
    return [sys.executable, "-c", SANDBOX, json.dumps(sandbox_spec(unit)), *command]


def test_the_sandbox_refuses_what_the_units_forbid():
    # A control run: the rebuilt filters do bite.
    attempts = {
        "writable executable memory": "import mmap; mmap.mmap(-1, 4096, prot=7)",
        "a netlink socket": "import socket; socket.socket(socket.AF_NETLINK, socket.SOCK_RAW)",
        "a privileged call": "import os; os.setuid(os.getuid())",
    }
    for what, code in attempts.items():
        result = subprocess.run(
            sandboxed("aggregator-web.service", sys.executable, "-c", code), capture_output=True, text=True, timeout=60
        )
        assert result.returncode != 0 and "Error" in result.stderr, f"the sandbox allowed {what}"
    allowed = subprocess.run(
        sandboxed("aggregator-web.service", sys.executable, "-c", "print('ok')"), capture_output=True, text=True, timeout=60
    )
    assert allowed.stdout == "ok\n", allowed.stderr


@pytest.mark.postgres
@pytest.mark.redis
def test_scheduler_and_worker_poll_inside_the_units_sandbox(tmp_path, feed_server, postgres_url, redis_url):
    write_site(tmp_path, feed_server)
    env = site_environment(DATABASE_URL=postgres(postgres_url), REDIS_URL=redis_url)
    rounds = (("aggregator-scheduler.service", "schedule", "--once"), ("aggregator-worker@.service", "worker", "--burst"))
    for unit, *command in rounds:
        result = subprocess.run(
            sandboxed(unit, "aggregator", *command), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0, result.stdout + result.stderr
    engine = make_engine(postgres_url)
    try:
        assert count_entries(session_factory(engine)) == ENTRIES
    finally:
        engine.dispose()


def test_one_machine_site_polls_and_serves_inside_the_units_sandbox(tmp_path, feed_server):
    write_site(tmp_path, feed_server)
    port = free_port()
    env = site_environment(DATABASE_URL=f"sqlite:///{tmp_path / 'aggregator.sqlite3'}")
    site = subprocess.Popen(
        sandboxed("aggregator-web.service", "aggregator", "serve", "--host", "127.0.0.1", "--port", str(port)),
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    output = Output(site)
    try:
        wait_for_site(port, site, output, ENTRIES)
        assert POST_TITLES[0] in fetch(port, "/")
        assert POST_TITLES[0] in fetch(port, "/search?q=gratitude")
        assert POST_TITLES[1] in fetch(port, "/feed.atom")
    finally:
        site.terminate()  # serve finishes the requests under way, as on Ctrl+C
        try:
            site.wait(timeout=30)
        except subprocess.TimeoutExpired:
            site.kill()
            site.wait()
            raise
    assert "(polling in-process)" in output.finish()
