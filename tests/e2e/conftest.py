"""Session fixture: one `fedstack sim --sites 2` for the whole suite.

The simulator's stderr is copied to target/e2e-sim.stderr at the end.

Environment:
  FEDSTACK_BIN                 path of the fedstack binary
                               (default: <repo>/target/debug/fedstack)
  FEDSTACK_SIM_BUILD_DELAY_MS  passed as --build-delay-ms (default 500)
  OPENSTACK_CLI                the `openstack` executable (default: the one
                               next to this Python, else $PATH)
"""

from __future__ import annotations

import os
import pathlib
import shutil
import uuid

import pytest

from simharness import Api, Control, Osc, SimProcess, load_clouds

REPO = pathlib.Path(__file__).resolve().parents[2]
SITES = ["CloudOne", "CloudTwo"]


class Sim:
    """What the tests see: the running simulator and ways to talk to it."""

    def __init__(self, process: SimProcess, workdir: pathlib.Path):
        self.process = process
        self.workdir = workdir
        self.clouds_yaml = process.clouds_yaml
        self.control_url = process.control_url
        self.control = Control(self.control_url)
        self.clouds = load_clouds(self.clouds_yaml)
        self.osc = Osc(self.clouds_yaml, workdir)
        self.sites = list(SITES)
        self._apis: dict[str, Api] = {}

    def api(self, cloud: str, fresh: bool = False) -> Api:
        """Authenticated REST session for a clouds.yaml entry (cached)."""
        if fresh or cloud not in self._apis:
            if cloud not in self.clouds:
                raise KeyError(
                    f"clouds.yaml has no cloud {cloud!r} (has {sorted(self.clouds)})"
                )
            api = Api(cloud, self.clouds[cloud])
            if fresh:
                return api
            self._apis[cloud] = api
        return self._apis[cloud]


def _binary() -> pathlib.Path:
    return pathlib.Path(
        os.environ.get("FEDSTACK_BIN", REPO / "target" / "debug" / "fedstack")
    )


@pytest.fixture(scope="session")
def sim(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("fedstack-sim")
    delay = int(os.environ.get("FEDSTACK_SIM_BUILD_DELAY_MS", "500"))
    process = SimProcess(_binary(), workdir, sites=2, build_delay_ms=delay)
    process.start()
    try:
        yield Sim(process, workdir)
    finally:
        process.stop()
        # keep the simulator's log where CI can pick it up
        if (REPO / "target").is_dir():
            shutil.copyfile(process.stderr_path, REPO / "target" / "e2e-sim.stderr")
        panics = process.panics()
        if panics:
            pytest.fail(
                "fedstack sim panicked during the session "
                f"(stderr: {process.stderr_path}):\n" + "\n---\n".join(panics),
                pytrace=False,
            )
        if process.killed:
            pytest.fail(
                "fedstack sim did not exit within 10s of SIGTERM (killed)",
                pytrace=False,
            )


@pytest.fixture(autouse=True)
def _no_sim_panic(request):
    """Fail the test during which the simulator panicked or died."""
    if "sim" not in request.fixturenames:
        yield
        return
    sim = request.getfixturevalue("sim")
    start = sim.process.stderr_size()
    yield
    panics = sim.process.panics(start)
    if panics:
        pytest.fail(
            "fedstack sim panicked during this test:\n" + "\n---\n".join(panics),
            pytrace=False,
        )
    if not sim.process.alive():
        pytest.fail(
            f"fedstack sim exited (status {sim.process.proc.returncode}) during "
            f"this test; stderr tail:\n{sim.process.stderr_tail()}",
            pytrace=False,
        )


# -- convenience fixtures -----------------------------------------------------
@pytest.fixture
def osc(sim):
    return sim.osc


@pytest.fixture
def control(sim):
    return sim.control


@pytest.fixture
def admin(sim) -> Api:
    """CloudOne, user admin, project admin, role admin."""
    return sim.api("CloudOne")


@pytest.fixture
def demo(sim) -> Api:
    """CloudOne, user demo, project demo, role member."""
    return sim.api("CloudOne-demo")


@pytest.fixture
def admin2(sim) -> Api:
    return sim.api("CloudTwo")


@pytest.fixture
def demo2(sim) -> Api:
    return sim.api("CloudTwo-demo")


@pytest.fixture
def name(request):
    """A unique resource-name factory: name('vm') -> 'e2e-vm-1a2b3c4d'."""

    def make(kind: str = "res") -> str:
        return f"e2e-{kind}-{uuid.uuid4().hex[:8]}"

    return make
