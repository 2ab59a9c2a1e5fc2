"""Bad image specs and manifests fail with the file, the key, what was expected (and the fix)."""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from horus_pipeline.images import ImageSpecError, all_images, load_image
from horus_pipeline.project import ManifestError, load_project, runtime_module

GOOD = """\
[target]
arch = "aarch64"
python = "3.11"
[os]
suite = "bookworm"
[app]
dir = "apps/fake"
[[services]]
name = "main"
script = "main.py"
"""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    app = tmp_path / "apps" / "fake"
    app.mkdir(parents=True)
    (app / "main.py").write_text("")
    (app / "horus.toml").write_text('[package]\nname = "fake"\nversion = "0.1.0"\n')
    (tmp_path / "images").mkdir()
    return tmp_path


def write(repo: Path, text: str) -> Path:
    path = repo / "images" / "bad.toml"
    path.write_text(text)
    return path


def test_the_shipped_images_load() -> None:
    images = {spec.name: spec for spec in all_images()}
    assert set(images) >= {"demo-amd64", "demo-arm64"}
    assert images["demo-amd64"].target.arch.name == "x86_64"
    assert images["demo-arm64"].target.arch.name == "aarch64"
    for spec in images.values():
        assert spec.os.suite == "bookworm" and spec.target.python == "3.11" and spec.target.glibc == (2, 36)
        assert spec.cpu_only and spec.prefix == f"/opt/{spec.app_name}" and spec.health.port == 8080
    for demo in (images["demo-amd64"], images["demo-arm64"]):
        assert demo.journald.system_max_use == "500M" and demo.journald.max_retention == "7d"  # the seed's


def test_defaults(repo: Path) -> None:
    spec = load_image(write(repo, GOOD))
    assert spec.os.mirror == "http://deb.debian.org/debian"
    assert spec.indexes == ("https://download.pytorch.org/whl/cpu",)
    assert spec.prefix == "/opt/fake" and spec.user == "horus" and spec.group == "horus"
    assert spec.services[0].type == "simple" and spec.services[0].restart_sec == 2.0
    assert (spec.health.host, spec.health.port, spec.health.path) == ("127.0.0.1", 8080, "/health")


@pytest.mark.parametrize(
    ("change", "key", "expected"),
    [
        (('arch = "aarch64"', 'arch = "riscv64"'), "target.arch", "supported arches are x86_64"),
        (('python = "3.11"', 'python = "3.12"'), "target.python", "'3.11', the Python of Debian bookworm"),
        (('suite = "bookworm"', 'suite = "buster"'), "os.suite", "a Debian release in"),
        (
            ('dir = "apps/fake"', 'dir = "apps/nope"'),
            "app.dir",
            "a HORUS project directory holding horus.toml",
        ),
        (('script = "main.py"', 'script = "missing.py"'), "services[0].script", "a file inside"),
        (('script = "main.py"', 'script = "main.py"\nprogram = "main.py"'), "services[0]", "either script"),
        (('script = "main.py"', 'program = "main.py"'), "services[0].program", "a C source file"),
        (('script = "main.py"', 'program = "motor.c"'), "services[0].program", "a file inside"),
        (
            ('name = "main"', 'name = "main"\nrestart_sec = "soon"'),
            "services[0].restart_sec",
            "a number of seconds",
        ),
        (('name = "main"', 'name = "main"\nwatchdog_sec = 5'), "services[0].watchdog_sec", "type = 'notify'"),
        (
            ('name = "main"', 'name = "main"\nafter = ["camera"]'),
            "services[0].after",
            "names of other services",
        ),
        (("[os]", '[python]\nextras = ["torch=2.1"]\n[os]'), "python.extras", "PEP 508 requirements"),
        (
            ("[os]", '[python]\nextras = ["Ruamel.Yaml==0.18", "ruamel-yaml==0.17"]\n[os]'),
            "python.extras",
            "each package at most once",
        ),
        (("[os]", "[health]\nport = 70000\n[os]"), "health.port", "a TCP port"),
        (('name = "main"', 'name = "main"\nmemory_max = "lots"'), "services[0].memory_max", "a size such as"),
        (('name = "main"', 'name = "main"\ntasks_max = 0'), "services[0].tasks_max", "a whole number from 16"),
        (('name = "main"', 'name = "main"\nip_allow = ["any"]'), "services[0].ip_allow", "IP networks"),
        (('dir = "apps/fake"', 'dir = "apps/fake"\nuser = "root"'), "app.user", "an unprivileged system user"),
        (
            ('name = "main"', 'name = "main"\nenvironment = { LD_PRELOAD = "/tmp/evil.so" }'),
            "services[0].environment.LD_PRELOAD",
            "a variable name",
        ),
        (
            ('name = "main"', 'name = "main"\nenvironment = { HORUS_HEALTH_PORT = "1" }'),
            "services[0].environment.HORUS_HEALTH_PORT",
            "the role leave alone",
        ),
        (
            ('name = "main"', 'name = "main"\nenvironment = { MODE = "a\\"\\nExecStartPre=+/bin/sh -c id" }'),
            "services[0].environment.MODE",
            "without quotes, backslashes",
        ),
        (("[os]", '[health]\nhost = "127.0.0.1\\"\\nExecStartPre=+/bin/sh"\n[os]'), "health.host", "an IP address"),
        (("[os]", '[journald]\nmax_retention = "a week"\n[os]'), "journald.max_retention", "a time span"),
        (("[os]", '[params]\n"max-speed" = 1\n[os]'), "params.max-speed", "a parameter name"),
        (("[os]", "[params]\nlimits = { a = 1 }\n[os]"), "params.limits", "a number, boolean, string"),
        (
            ('suite = "bookworm"', 'suite = "bookworm"\nsuit = "x"'),
            "os.suit",
            "remove the key or correct its spelling",
        ),
    ],
)
def test_bad_spec_names_file_key_and_expectation(repo: Path, change: tuple[str, str], key: str, expected: str) -> None:
    path = write(repo, GOOD.replace(*change, 1))
    with pytest.raises(ImageSpecError) as err:
        load_image(path)
    message = str(err.value)
    assert message.startswith(f"{path}: key {key!r}: expected "), message
    assert expected in message


def test_missing_table_and_bad_toml(repo: Path) -> None:
    with pytest.raises(ImageSpecError, match=r"bad.toml: key 'target': expected a table. Fix: add a \[target\]"):
        load_image(write(repo, GOOD.replace('[target]\narch = "aarch64"\npython = "3.11"\n', "")))
    with pytest.raises(ImageSpecError, match=r"bad.toml: not valid TOML"):
        load_image(write(repo, GOOD + "[[services]\n"))


def test_unknown_image_lists_the_known_ones() -> None:
    with pytest.raises(
        ImageSpecError, match=r"unknown image 'nope': there is no images/nope.toml \(images: .*demo-amd64"
    ):
        load_image("nope")


def test_bad_manifest_names_file_line_and_key(tmp_path: Path) -> None:
    manifest = tmp_path / "horus.toml"
    manifest.write_text(
        '[package]\nname = "demo"\nversion = "0.1.0"\n\n[dependencies]\n'
        'numpy = { version = "1.26.4", source = "pypi" }\nscipy = { version = "^1.12", source = "pypi" }\n'
    )
    with pytest.raises(ManifestError) as err:
        load_project(tmp_path)
    assert str(err.value).startswith(f"{manifest}:7: key 'dependencies.scipy': expected a version")

    manifest.write_text('[package]\nname = "demo"\nversion = "0.1.0"\n[dependencies]\nnumpy = "1.26.4"\n')
    with pytest.raises(ManifestError, match=r"horus.toml:5: key 'dependencies.numpy'.*Fix: write numpy = "):
        load_project(tmp_path)


def test_manifest_renders_pip_compile_input(tmp_path: Path) -> None:
    (tmp_path / "horus.toml").write_text(
        '[package]\nname = "demo"\nversion = "0.1.0"\n[dependencies]\n'
        'scipy = { version = ">=1.12, <2", source = "pypi" }\n'
        'numpy = { version = "1.26.4", source = "pypi" }\n'
        'horus-core = { version = "0.1.0", source = "path" }\n'
    )
    project = load_project(tmp_path)
    # Bare versions mean ==; only pypi sources are Python packages to lock.
    assert project.pypi_requirements() == ["numpy==1.26.4", "scipy>=1.12,<2"]


@pytest.mark.parametrize("name", ["NumPy", "ruamel.yaml", "typing_extensions", "Foo__Bar-.baz", "a"])
def test_the_runtime_names_packages_as_the_pipeline_does(name: str) -> None:
    # `horus build` (runtime, no `packaging` on a robot) and the lock step must agree on names.
    assert runtime_module().normalize(name) == canonicalize_name(name)
