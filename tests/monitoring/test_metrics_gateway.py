"""The robot's metrics gateway (horus_pipeline/robot/metrics_gateway.py) in front of a real runtime's
endpoint on this host: TLS a client verifies against the fleet's CA, nothing without credentials, a
password or a token let through, and an answer that says so when the node process is down."""

from __future__ import annotations

import base64
import json
import socket
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_testing import free_port

from horus_pipeline.robot import contract
from horus_pipeline.robot.metrics_gateway import auth_file

GATEWAY = Path(contract.__file__).with_name(contract.GATEWAY_SCRIPT)
PASSWORD = "correct horse battery"
TOKEN = "t0ken-of-the-prometheus-server"


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA and a certificate for 127.0.0.1 it signed: what the role makes when given none."""
    d = tmp_path_factory.mktemp("pki")
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes")
    openssl("req", "-x509", *ec, "-subj", "/CN=test CA", "-addext", "basicConstraints=critical,CA:TRUE",
            "-keyout", "ca.key", "-out", "ca.crt", cwd=d)  # fmt: skip
    openssl("req", "-new", *ec, "-subj", "/CN=robot", "-keyout", "tls.key", "-out", "robot.csr", cwd=d)
    (d / "ext").write_text("subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    openssl("x509", "-req", "-in", "robot.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-set_serial", "7",
            "-days", "2", "-extfile", "ext", "-out", "tls.crt", cwd=d)  # fmt: skip
    (d / "auth.json").write_text(auth_file("demo", {"prometheus": PASSWORD}, [TOKEN]))
    return d


def start(pki: Path, upstream: int) -> tuple[subprocess.Popen[str], int]:
    port = free_port()
    argv = [sys.executable, "-I", str(GATEWAY), "--listen", f"127.0.0.1:{port}", "--upstream", f"127.0.0.1:{upstream}",
            "--credentials", str(pki)]  # fmt: skip
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert "serving" in line, f"the gateway did not start: {line}{proc.communicate(timeout=5)[1]}"
    return proc, port


@pytest.fixture(scope="module")
def gateway(pki: Path, runtime_port: int) -> Iterator[int]:
    proc, port = start(pki, runtime_port)
    try:
        yield port
    finally:
        proc.kill()
        proc.communicate()


def get(port: int, path: str, pki: Path, auth: str | None = None) -> tuple[int, dict[str, str], str]:
    context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    req = urllib.request.Request(f"https://127.0.0.1:{port}{path}", headers={"Authorization": auth} if auth else {})
    try:
        with urllib.request.urlopen(req, timeout=10, context=context) as resp:
            return resp.status, dict(resp.headers), resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read().decode()


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize(
    "auth",
    [None, basic("prometheus", "wrong password"), basic("nobody", PASSWORD), "Bearer not-the-token-at-all", "Digest x"],
)
def test_no_metrics_without_the_right_credentials(gateway: int, pki: Path, auth: str | None) -> None:
    status, headers, body = get(gateway, "/metrics", pki, auth)
    assert status == 401 and headers["WWW-Authenticate"].startswith("Basic"), body
    assert "horus_node" not in body


def test_a_password_reads_the_runtime_s_metrics_through_verified_tls(gateway: int, pki: Path) -> None:
    status, headers, body = get(gateway, "/metrics", pki, basic("prometheus", PASSWORD))
    assert status == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4"), body
    assert 'horus_node_ticks_total{scheduler="control",node="motor"}' in body
    assert "\nhorus_health_endpoint_up 1\n" in body


def test_a_bearer_token_reads_health(gateway: int, pki: Path) -> None:
    status, _, body = get(gateway, "/health", pki, f"Bearer {TOKEN}")
    assert status in (200, 503) and "motor" in json.loads(body)["nodes"]


def test_only_metrics_and_health(gateway: int, pki: Path) -> None:
    assert get(gateway, "/etc/passwd", pki, f"Bearer {TOKEN}")[0] == 404


def test_plain_http_gets_nothing(gateway: int) -> None:
    with socket.create_connection(("127.0.0.1", gateway), timeout=10) as s:
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            answer = s.recv(4096)
        except ConnectionResetError:
            answer = b""
    assert b"horus_node" not in answer and not answer.startswith(b"HTTP/1.1 200")


def test_a_client_that_does_not_know_the_ca_refuses_the_robot(gateway: int) -> None:
    with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
        urllib.request.urlopen(f"https://127.0.0.1:{gateway}/metrics", timeout=10)


def test_the_node_process_down_is_an_answer_not_a_silence(pki: Path) -> None:
    proc, port = start(pki, free_port())  # nothing listens upstream
    try:
        status, _, body = get(port, "/metrics", pki, basic("prometheus", PASSWORD))
        assert status == 200 and body.endswith("\nhorus_health_endpoint_up 0\n"), body
        status, _, body = get(port, "/health", pki, basic("prometheus", PASSWORD))
        assert status == 502 and "does not answer" in body
    finally:
        proc.kill()
        proc.communicate()


def test_a_gateway_without_its_key_says_what_to_do(tmp_path: Path) -> None:
    argv = [sys.executable, "-I", str(GATEWAY), "--listen", "127.0.0.1:9469", "--upstream", "127.0.0.1:8080",
            "--credentials", str(tmp_path)]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert done.returncode == 1 and "tls.key" in done.stderr and "deploy again" in done.stderr
