"""Fixtures for the federation top: one `fedstack up --sites 3` for the module, and a
separate `fedstack sim` process registered as a fourth site with `fedstack site create`."""

from __future__ import annotations

import os
import pathlib
import re
import signal
import subprocess
import threading

import pytest

from simharness import Api, Control, Osc, load_clouds

REPO = pathlib.Path(__file__).resolve().parents[3]
BIN = pathlib.Path(os.environ.get("FEDSTACK_BIN", REPO / "target" / "debug" / "fedstack"))
SITES = ["CloudOne", "CloudTwo", "CloudThree"]


class Process:
    """A fedstack process that prints a ready line; stopped with SIGTERM."""

    def __init__(self, args: list[str], workdir: pathlib.Path, ready: str, timeout: float = 60):
        self.workdir = workdir
        self.stderr_path = workdir / "stderr.log"
        self.lines: list[str] = []
        self._ready = threading.Event()
        self.proc = subprocess.Popen(
            [str(BIN), *args],
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=open(self.stderr_path, "wb"),
            text=True,
        )
        threading.Thread(target=self._read, args=(ready,), daemon=True).start()
        if not self._ready.wait(timeout):
            self.stop()
            raise RuntimeError(f"{args[0]} not ready in {timeout}s: {self.lines} {self.stderr()[-2000:]}")

    def _read(self, ready: str) -> None:
        for line in self.proc.stdout:
            self.lines.append(line)
            if line.startswith(ready):
                self.ready_line = line
                self._ready.set()

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


class Federation:
    """The running top with its sites, and ways to talk to them."""

    def __init__(self, workdir: pathlib.Path, process: Process):
        self.workdir = workdir
        self.process = process
        self.clouds_yaml = workdir / "clouds.yaml"
        self.control = Control(re.search(r"control: (\S+)", process.ready_line).group(1))
        self.clouds = load_clouds(self.clouds_yaml)
        self.osc = Osc(self.clouds_yaml, workdir)
        self.admin = Api("fedstack", self.clouds["fedstack"])
        self.demo = Api("fedstack-demo", self.clouds["fedstack-demo"])

    def fedstack(self, *args: str) -> subprocess.CompletedProcess:
        """Runs the fedstack CLI authenticated with clouds.yaml."""
        env = dict(os.environ, OS_CLIENT_CONFIG_FILE=str(self.clouds_yaml))
        return subprocess.run([str(BIN), *args], capture_output=True, text=True, env=env, cwd=self.workdir, timeout=120)


@pytest.fixture(scope="session")
def fed(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("fedstack-up")
    p = Process(["up", "--sites", "3", "--build-delay-ms", "300", "--data-dir", str(workdir / "data"), "--clouds-yaml", str(workdir / "clouds.yaml")], workdir, "fedstack up ready:")
    try:
        fed = Federation(workdir, p)
        # Every top test shares project demo; give it room beyond the services' default quotas
        # (10 instances, 10 volumes, ...), which the top enforces over all sites together.
        demo = fed.demo.project_id
        r = fed.admin.put("compute", f"/os-quota-sets/{demo}", {"quota_set": {"instances": 500, "cores": 1000, "ram": 1024000}})
        assert r.status_code == 200, r.text
        r = fed.admin.put("volume", f"/os-quota-sets/{demo}", {"quota_set": {"volumes": 500, "snapshots": 500, "gigabytes": 10000}})
        assert r.status_code == 200, r.text
        r = fed.admin.put("network", f"/v2.0/quotas/{demo}", {"quota": {"network": 500, "subnet": 500, "port": 5000, "router": 100, "floatingip": 500, "security_group": 500, "security_group_rule": 5000}})
        assert r.status_code == 200, r.text
        yield fed
    finally:
        p.stop()
        panics = [l for l in p.stderr().splitlines() if "panicked" in l]
        assert not panics, f"fedstack up panicked: {panics}"


@pytest.fixture(scope="session")
def external_site(fed, tmp_path_factory):
    """A separate `fedstack sim` process with one site, CloudExt, registered at the top through
    the `fedstack site create` CLI."""
    workdir = tmp_path_factory.mktemp("fedstack-ext")
    (workdir / "sites.yaml").write_text("sites:\n  - name: CloudExt\n")
    p = Process(["sim", "--config", str(workdir / "sites.yaml"), "--clouds-yaml", str(workdir / "clouds.yaml"), "--build-delay-ms", "300"], workdir, "fedstack sim ready:")
    auth_url = load_clouds(workdir / "clouds.yaml")["CloudExt"]["auth"]["auth_url"]
    r = fed.fedstack("site", "create", "CloudExt", "--auth-url", auth_url, "--username", "admin", "--password", "secret", "--project-name", "admin", "--os-cloud", "fedstack", "-f", "json")
    assert r.returncode == 0, r.stderr
    control = Control(re.search(r"control: (\S+)", p.ready_line).group(1))
    try:
        yield control
    finally:
        fed.fedstack("site", "delete", "CloudExt", "--force", "--os-cloud", "fedstack")
        p.stop()

