"""Drive a `fedstack sim` process and talk to it like an OpenStack user.

* ``SimProcess`` starts ``fedstack sim --sites N --clouds-yaml PATH``, waits
  for the ``fedstack sim ready:`` line, and stops it (SIGTERM, then SIGKILL),
  keeping its stderr in a file so panics can be detected.
* ``Api`` is a small requests-based client: it authenticates with the
  clouds.yaml credentials (POST /v3/auth/tokens), finds endpoints in the
  token's catalog and sends X-Auth-Token / microversion headers.
* ``Control`` wraps the fault-injection API (``/sim/v1``).
* ``osc()`` runs the real ``openstack`` CLI against the simulator.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from typing import Any, Callable

import requests
import yaml

READY_PREFIX = "fedstack sim ready:"
NO_PROXY = "127.0.0.1,localhost"

# service name used in this suite -> catalog types accepted for it
SERVICE_TYPES = {
    "identity": ("identity",),
    "compute": ("compute",),
    "image": ("image",),
    "network": ("network",),
    "block-storage": ("block-storage", "volumev3", "volume"),
}
SERVICE_ALIASES = {"volume": "block-storage", "volumev3": "block-storage"}
# microversion header service names
MICROVERSION_SERVICE = {"compute": "compute", "block-storage": "volume"}


class SimError(RuntimeError):
    pass


# --------------------------------------------------------------------------
# process
# --------------------------------------------------------------------------
class SimProcess:
    def __init__(
        self,
        binary: str | os.PathLike,
        workdir: pathlib.Path,
        sites: int = 2,
        build_delay_ms: int | None = None,
        ready_timeout: float = 30.0,
    ):
        self.binary = str(binary)
        self.workdir = pathlib.Path(workdir)
        self.sites = sites
        self.build_delay_ms = build_delay_ms
        self.ready_timeout = ready_timeout
        self.clouds_yaml = self.workdir / "clouds.yaml"
        self.stderr_path = self.workdir / "sim.stderr"
        self.stdout_lines: list[str] = []
        self.ready_line: str | None = None
        self.control_url: str | None = None
        self.proc: subprocess.Popen | None = None
        self.killed = False  # True when SIGTERM was not enough
        self._ready = threading.Event()
        self._eof = threading.Event()
        self._stderr_file = None

    # -- lifecycle ---------------------------------------------------------
    def command(self) -> list[str]:
        cmd = [
            self.binary,
            "sim",
            "--sites",
            str(self.sites),
            "--clouds-yaml",
            str(self.clouds_yaml),
        ]
        if self.build_delay_ms is not None:
            cmd += ["--build-delay-ms", str(self.build_delay_ms)]
        return cmd

    def start(self) -> "SimProcess":
        if not os.path.exists(self.binary):
            raise SimError(
                f"fedstack binary not found at {self.binary} "
                "(build it with `cargo build -p fedstack`, or set FEDSTACK_BIN)"
            )
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._stderr_file = open(self.stderr_path, "wb")
        env = dict(os.environ)
        env.setdefault("RUST_BACKTRACE", "1")
        self.proc = subprocess.Popen(
            self.command(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr_file,
            cwd=self.workdir,
            env=env,
        )
        threading.Thread(target=self._read_stdout, daemon=True).start()
        deadline = time.monotonic() + self.ready_timeout
        while not self._ready.is_set():
            if self.proc.poll() is not None:
                self._eof.wait(2)
                raise SimError(
                    f"`{' '.join(self.command())}` exited with status "
                    f"{self.proc.returncode} before printing "
                    f"'{READY_PREFIX}'.\nstdout:\n{''.join(self.stdout_lines)}"
                    f"\nstderr (tail):\n{self.stderr_tail()}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise SimError(
                    f"no '{READY_PREFIX}' line within {self.ready_timeout}s.\n"
                    f"stdout:\n{''.join(self.stdout_lines)}\n"
                    f"stderr (tail):\n{self.stderr_tail()}"
                )
            self._ready.wait(0.1)
        self._parse_ready_line(self.ready_line)
        return self

    def _read_stdout(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for raw in self.proc.stdout:
            line = raw.decode("utf-8", "replace")
            self.stdout_lines.append(line)
            if line.startswith(READY_PREFIX) and self.ready_line is None:
                self.ready_line = line.strip()
                self._ready.set()
        self._eof.set()

    def _parse_ready_line(self, line: str) -> None:
        # fedstack sim ready: 2 sites; clouds.yaml: /x/clouds.yaml; control: http://127.0.0.1:41234/sim/v1
        m = re.search(r"control:\s*(\S+)", line)
        if not m:
            raise SimError(f"ready line has no 'control: URL': {line!r}")
        self.control_url = m.group(1).rstrip("/")
        m = re.search(r"clouds\.yaml:\s*([^;]+)", line)
        if not m:
            raise SimError(f"ready line has no 'clouds.yaml: PATH': {line!r}")
        announced = pathlib.Path(m.group(1).strip())
        if announced.resolve() != self.clouds_yaml.resolve():
            raise SimError(
                f"ready line announces clouds.yaml {announced}, but "
                f"--clouds-yaml was {self.clouds_yaml}"
            )
        m = re.search(r"(\d+)\s+sites?", line)
        if not m or int(m.group(1)) != self.sites:
            raise SimError(
                f"ready line does not announce {self.sites} sites: {line!r}"
            )
        if not self.clouds_yaml.exists():
            raise SimError(f"ready, but {self.clouds_yaml} does not exist")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout``. Returns the exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
                self.killed = True
        if self._stderr_file:
            self._stderr_file.close()
            self._stderr_file = None
        return self.proc.returncode

    # -- stderr ------------------------------------------------------------
    def stderr_text(self, start: int = 0) -> str:
        try:
            with open(self.stderr_path, "rb") as f:
                f.seek(start)
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def stderr_size(self) -> int:
        try:
            return self.stderr_path.stat().st_size
        except FileNotFoundError:
            return 0

    def stderr_tail(self, n: int = 40) -> str:
        return "\n".join(self.stderr_text().splitlines()[-n:])

    def panics(self, start: int = 0) -> list[str]:
        """Lines around each 'panicked' in stderr written after ``start``."""
        lines = self.stderr_text(start).splitlines()
        out = []
        for i, line in enumerate(lines):
            if "panicked" in line:
                out.append("\n".join(lines[i : i + 6]))
        return out


# --------------------------------------------------------------------------
# clouds.yaml
# --------------------------------------------------------------------------
def load_clouds(path: pathlib.Path) -> dict:
    with open(path) as f:
        doc = yaml.safe_load(f)
    if not isinstance(doc, dict) or "clouds" not in doc:
        raise SimError(f"{path} has no top-level 'clouds' mapping")
    return doc["clouds"]


# --------------------------------------------------------------------------
# REST client
# --------------------------------------------------------------------------
def _strip_version(url: str) -> str:
    return re.sub(r"/v\d+(\.\d+)?/?$", "", url.rstrip("/"))


class Api:
    """An authenticated session for one clouds.yaml entry."""

    def __init__(self, cloud_name: str, cloud: dict, timeout: float = 30.0):
        self.cloud_name = cloud_name
        self.cloud = cloud
        self.auth = cloud["auth"]
        self.region = cloud.get("region_name")
        self.timeout = timeout
        self.session = requests.Session()
        self.session.trust_env = False  # never go through a proxy
        self.token: str | None = None
        self.token_body: dict = {}
        self.authenticate()

    # -- auth / catalog ----------------------------------------------------
    @property
    def auth_url(self) -> str:
        url = self.auth["auth_url"].rstrip("/")
        return url if re.search(r"/v3$", url) else url + "/v3"

    def password_auth_body(self, password: str | None = None) -> dict:
        a = self.auth
        return {
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {
                        "user": {
                            "name": a["username"],
                            "domain": {"name": a.get("user_domain_name", "Default")},
                            "password": a["password"] if password is None else password,
                        }
                    },
                },
                "scope": {
                    "project": {
                        "name": a["project_name"],
                        "domain": {
                            "name": a.get("project_domain_name", "Default")
                        },
                    }
                },
            }
        }

    def authenticate(self) -> None:
        resp = self.session.post(
            self.auth_url + "/auth/tokens",
            json=self.password_auth_body(),
            headers={"Accept": "application/json"},
            timeout=self.timeout,
        )
        if resp.status_code != 201:
            raise SimError(
                f"{self.cloud_name}: POST {self.auth_url}/auth/tokens -> "
                f"{resp.status_code} {resp.text[:500]}"
            )
        self.token = resp.headers.get("X-Subject-Token")
        if not self.token:
            raise SimError(f"{self.cloud_name}: token response has no X-Subject-Token")
        self.token_body = resp.json()["token"]

    @property
    def project_id(self) -> str:
        return self.token_body["project"]["id"]

    @property
    def user_id(self) -> str:
        return self.token_body["user"]["id"]

    @property
    def catalog(self) -> list:
        return self.token_body.get("catalog", [])

    def endpoint(self, service: str, interface: str = "public") -> str:
        service = SERVICE_ALIASES.get(service, service)
        types = SERVICE_TYPES[service]
        for entry in self.catalog:
            if entry.get("type") in types:
                for ep in entry.get("endpoints", []):
                    if ep.get("interface") == interface and (
                        self.region is None
                        or ep.get("region_id", ep.get("region")) == self.region
                    ):
                        return ep["url"].rstrip("/")
        raise SimError(
            f"{self.cloud_name}: no {interface} endpoint of type {types} in the "
            f"catalog (types present: {[e.get('type') for e in self.catalog]})"
        )

    def base(self, service: str) -> str:
        """URL API paths are relative to (identity: the auth URL .../v3)."""
        service = SERVICE_ALIASES.get(service, service)
        if service == "identity":
            return self.auth_url
        return self.endpoint(service)

    def root(self, service: str) -> str:
        """The service root (the endpoint without its /vN[.M] suffix)."""
        service = SERVICE_ALIASES.get(service, service)
        if service == "identity":
            return _strip_version(self.auth_url)
        return _strip_version(self.endpoint(service))

    def host_port(self) -> str:
        m = re.match(r"https?://([^/]+)", self.auth["auth_url"])
        return m.group(1)

    # -- requests ----------------------------------------------------------
    def request(
        self,
        method: str,
        service: str,
        path: str,
        *,
        json_body: Any = None,
        data: Any = None,
        headers: dict | None = None,
        microversion: str | None = None,
        token: str | None | bool = True,
        root: bool = False,
        timeout: float | None = None,
        **kwargs,
    ) -> requests.Response:
        """Send ``method`` to ``service``'s endpoint + ``path``.

        ``root=True``: path is relative to the service root (sample style,
        e.g. ``/v2.1/flavors``). ``token``: True = this session's token,
        False/None = no token, a string = that token.
        """
        service = SERVICE_ALIASES.get(service, service)
        if path.startswith("http://") or path.startswith("https://"):
            url = path
        else:
            url = (self.root(service) if root else self.base(service)) + path
        hdrs = {"Accept": "application/json"}
        if token is True:
            hdrs["X-Auth-Token"] = self.token
        elif isinstance(token, str):
            hdrs["X-Auth-Token"] = token
        if microversion:
            hdrs["OpenStack-API-Version"] = (
                f"{MICROVERSION_SERVICE.get(service, service)} {microversion}"
            )
        if json_body is not None:
            data = json.dumps(json_body)
            hdrs["Content-Type"] = "application/json"
        if headers:
            hdrs.update(headers)
        resp = self.session.request(
            method,
            url,
            data=data,
            headers=hdrs,
            timeout=timeout or self.timeout,
            allow_redirects=False,
            **kwargs,
        )
        resp.fed_service = service
        resp.fed_microversion = microversion
        resp.fed_root_path = _root_relative(resp.request.url, self.root(service))
        return resp

    def get(self, service, path, **kw):
        return self.request("GET", service, path, **kw)

    def post(self, service, path, body=None, **kw):
        return self.request("POST", service, path, json_body=body, **kw)

    def put(self, service, path, body=None, **kw):
        return self.request("PUT", service, path, json_body=body, **kw)

    def patch(self, service, path, body=None, **kw):
        return self.request("PATCH", service, path, json_body=body, **kw)

    def delete(self, service, path, **kw):
        return self.request("DELETE", service, path, **kw)

    def head(self, service, path, **kw):
        return self.request("HEAD", service, path, **kw)


def _root_relative(url: str, root: str) -> str:
    path_and_query = re.sub(r"^https?://[^/]+", "", url)
    root_path = re.sub(r"^https?://[^/]+", "", root)
    if root_path and path_and_query.startswith(root_path):
        rel = path_and_query[len(root_path) :]
        return rel or "/"
    return path_and_query


def body_of(resp: requests.Response) -> Any:
    """JSON body, text when not JSON, None when empty."""
    if not resp.content:
        return None
    try:
        return resp.json()
    except ValueError:
        return resp.text


def expect(resp: requests.Response, *statuses: int) -> Any:
    """Assert the status is one of ``statuses``; return the parsed body."""
    if resp.status_code not in statuses:
        raise AssertionError(
            f"{resp.request.method} {resp.request.url} -> {resp.status_code} "
            f"(expected {statuses}): {resp.text[:800]}"
        )
    return body_of(resp)


# --------------------------------------------------------------------------
# fault-injection control API
# --------------------------------------------------------------------------
class Control:
    def __init__(self, url: str, timeout: float = 15.0):
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()
        self.session.trust_env = False

    def request(self, method: str, path: str, **kw) -> requests.Response:
        kw.setdefault("timeout", self.timeout)
        return self.session.request(method, self.url + path, **kw)

    def _ok(self, resp: requests.Response) -> requests.Response:
        if not 200 <= resp.status_code < 300:
            raise AssertionError(
                f"control {resp.request.method} {resp.request.url} -> "
                f"{resp.status_code}: {resp.text[:500]}"
            )
        return resp

    def sites(self) -> Any:
        return self._ok(self.request("GET", "/sites")).json()

    def down(self, site: str, mode: str = "refuse") -> None:
        self._ok(self.request("POST", f"/sites/{site}/down", json={"mode": mode}))

    def up(self, site: str) -> None:
        self._ok(self.request("POST", f"/sites/{site}/up"))

    def latency(self, site: str, ms: int) -> None:
        self._ok(self.request("PUT", f"/sites/{site}/latency", json={"ms": ms}))

    def add_failure(self, site, path_prefix, method, rate=1.0, status=500) -> None:
        rule = {
            "path_prefix": path_prefix,
            "method": method,
            "rate": rate,
            "status": status,
        }
        self._ok(self.request("POST", f"/sites/{site}/failures", json=rule))

    def clear_failures(self, site: str) -> None:
        self._ok(self.request("DELETE", f"/sites/{site}/failures"))

    def host_fail(self, site: str, host: str) -> None:
        self._ok(self.request("POST", f"/sites/{site}/hosts/{host}/fail"))

    def host_recover(self, site: str, host: str) -> None:
        self._ok(self.request("POST", f"/sites/{site}/hosts/{host}/recover"))

    def disk(self, site: str, server_id: str) -> bytes:
        return self._ok(
            self.request("GET", f"/sites/{site}/servers/{server_id}/disk")
        ).content

    def put_disk(self, site: str, server_id: str, data: bytes) -> None:
        self._ok(
            self.request(
                "PUT",
                f"/sites/{site}/servers/{server_id}/disk",
                data=data,
                headers={"Content-Type": "application/octet-stream"},
            )
        )

    def disk_sha512(self, site: str, server_id: str) -> dict:
        return self._ok(
            self.request("GET", f"/sites/{site}/servers/{server_id}/disk/sha512")
        ).json()

    def put_volume(self, site: str, volume_id: str, data: bytes) -> None:
        self._ok(
            self.request(
                "PUT",
                f"/sites/{site}/volumes/{volume_id}/data",
                data=data,
                headers={"Content-Type": "application/octet-stream"},
            )
        )

    def volume_sha512(self, site: str, volume_id: str) -> dict:
        return self._ok(
            self.request("GET", f"/sites/{site}/volumes/{volume_id}/data/sha512")
        ).json()

    def reset(self, site: str) -> list[str]:
        """Best effort: site up, no latency, no failure rules."""
        problems = []
        for fn in (
            lambda: self.up(site),
            lambda: self.latency(site, 0),
            lambda: self.clear_failures(site),
        ):
            try:
                fn()
            except Exception as exc:  # noqa: BLE001
                problems.append(str(exc))
        return problems


# --------------------------------------------------------------------------
# openstack CLI
# --------------------------------------------------------------------------
class OscError(AssertionError):
    def __init__(self, cmd, returncode, stdout, stderr):
        self.cmd = cmd
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        super().__init__(
            f"`{' '.join(cmd)}` exited {returncode}\n"
            f"stderr:\n{stderr.strip()[-3000:]}\nstdout:\n{stdout.strip()[-1500:]}"
        )


def find_openstack_cli() -> str:
    env = os.environ.get("OPENSTACK_CLI")
    if env:
        return env
    beside = pathlib.Path(sys.executable).parent / "openstack"
    if beside.exists():
        return str(beside)
    found = shutil.which("openstack")
    if not found:
        raise SimError("the `openstack` CLI is not installed (see tests/requirements.txt)")
    return found


def parse_cli_json(stdout: str) -> Any:
    """Parse `-f json` output, tolerating progress text printed before it."""
    text = stdout.strip()
    try:
        return json.loads(text)
    except ValueError:
        pass
    lines = stdout.splitlines()
    for i, line in enumerate(lines):
        if line.lstrip("\r").startswith(("{", "[")):
            try:
                return json.loads("\n".join(lines[i:]).lstrip("\r"))
            except ValueError:
                continue
    raise AssertionError(f"openstack CLI output is not JSON:\n{stdout[-2000:]}")


class Osc:
    def __init__(self, clouds_yaml: pathlib.Path, workdir: pathlib.Path):
        self.clouds_yaml = clouds_yaml
        self.workdir = workdir
        self.cli = find_openstack_cli()
        env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
        env.update(
            OS_CLIENT_CONFIG_FILE=str(clouds_yaml),
            NO_PROXY=NO_PROXY,
            no_proxy=NO_PROXY,
            PYTHONWARNINGS="ignore",
            # keep openstacksdk's caches out of the user's home
            XDG_CACHE_HOME=str(workdir / "cache"),
        )
        self.env = env

    def run(self, cloud: str, *args, json_out: bool = True, timeout: float = 240):
        cmd = [self.cli, "--os-cloud", cloud, *[str(a) for a in args]]
        if json_out:
            cmd += ["-f", "json"]
        proc = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            env=self.env,
            timeout=timeout,
            cwd=self.workdir,
        )
        return cmd, proc

    def __call__(self, cloud: str, *args, json: bool = True, timeout: float = 240):
        cmd, proc = self.run(cloud, *args, json_out=json, timeout=timeout)
        if proc.returncode != 0:
            raise OscError(cmd, proc.returncode, proc.stdout, proc.stderr)
        return parse_cli_json(proc.stdout) if json else proc.stdout

    def fails(self, cloud: str, *args, timeout: float = 240) -> OscError:
        """Run a command that must fail; return the error (stderr etc.)."""
        cmd, proc = self.run(cloud, *args, json_out=False, timeout=timeout)
        if proc.returncode == 0:
            raise AssertionError(
                f"`{' '.join(cmd)}` succeeded but should have failed:\n{proc.stdout}"
            )
        return OscError(cmd, proc.returncode, proc.stdout, proc.stderr)


# --------------------------------------------------------------------------
# misc
# --------------------------------------------------------------------------
def wait_for(
    fn: Callable[[], Any],
    timeout: float = 60.0,
    interval: float = 0.25,
    what: str = "condition",
) -> Any:
    """Call ``fn`` until it returns a truthy value; return that value."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = fn()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r:.500}")
        time.sleep(interval)


def field(d: dict, *names: str) -> Any:
    """First present key among ``names`` (OSC column names vary by version)."""
    for n in names:
        if n in d:
            return d[n]
    raise KeyError(f"none of {names} in {sorted(d)}")
