"""MONGO_TLS_CA_FILE against a real mongod that requires TLS: the app connects when the file
holds the CA that signed the server's certificate, and refuses a server it cannot verify.

The certificates are made here with the openssl command line, as cert-manager's CA issuer
makes the members' (a CA, then a server certificate it signs, with the host in its SANs).
"""

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from scripts.local_mongo import MongodUnavailable, find_mongod, free_port
from tests.support.manage import run_manage

HOST = "127.0.0.1"


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_ca(folder: Path, name: str) -> None:
    openssl(
        "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", f"{name}.key", cwd=folder
    )
    openssl(
        "req", "-x509", "-new", "-key", f"{name}.key", "-days", "2", "-subj", f"/CN={name}",
        "-addext", "basicConstraints=critical,CA:TRUE", "-out", f"{name}.crt", cwd=folder,
    )  # fmt: skip


def make_server_certificate(folder: Path) -> Path:
    openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "server.key", cwd=folder)
    openssl(
        "req", "-new", "-key", "server.key", "-subj", "/CN=mongod", "-out", "server.csr", cwd=folder
    )
    (folder / "san.ext").write_text(
        f"subjectAltName=IP:{HOST},DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n"
    )
    openssl(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "2", "-extfile", "san.ext", "-out", "server.crt", cwd=folder,
    )  # fmt: skip
    pem = folder / "server.pem"  # mongod wants the certificate and its key in one file
    pem.write_text((folder / "server.crt").read_text() + (folder / "server.key").read_text())
    return pem


@pytest.fixture(scope="module")
def tls_mongod(tmp_path_factory):
    """(port, folder with ca.crt and other-ca.crt) of a mongod that accepts TLS only."""
    if shutil.which("openssl") is None:
        pytest.fail("openssl is not installed")
    try:
        mongod = find_mongod()
    except MongodUnavailable as error:
        pytest.skip(str(error))
    folder = tmp_path_factory.mktemp("tls")
    make_ca(folder, "ca")
    make_ca(folder, "other-ca")
    pem = make_server_certificate(folder)
    port = free_port()
    (folder / "db").mkdir()
    process = subprocess.Popen(
        [
            str(mongod), "--port", str(port), "--bind_ip", HOST, "--dbpath", str(folder / "db"),
            "--wiredTigerCacheSizeGB", "0.25", "--tlsMode", "requireTLS",
            "--tlsCertificateKeyFile", str(pem), "--logpath", str(folder / "mongod.log"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        log = folder / "mongod.log"
        while not log.exists() or "Waiting for connections" not in log.read_text(errors="ignore"):
            assert process.poll() is None, log.read_text() if log.exists() else "mongod exited"
            assert time.monotonic() < deadline, "mongod did not start"
            time.sleep(0.2)
        yield port, folder
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


PING = (
    "from django.db import connection; connection.ensure_connection(); "
    "print('ping', connection.connection.admin.command('ping')['ok'])"
)


def ping(tmp_path, port, **env):
    return run_manage(
        "shell",
        "-c",
        PING,
        data_dir=tmp_path,
        DJANGO_DEBUG="true",
        MONGODB_URI=f"mongodb://{HOST}:{port}/?directConnection=true&serverSelectionTimeoutMS=3000",
        **env,
    )


@pytest.mark.slow
def test_the_app_verifies_mongod_against_the_ca_file(tls_mongod, tmp_path):
    port, folder = tls_mongod
    result = ping(tmp_path, port, MONGO_TLS_CA_FILE=str(folder / "ca.crt"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "ping 1.0"


@pytest.mark.slow
def test_a_server_signed_by_another_ca_is_refused(tls_mongod, tmp_path):
    port, folder = tls_mongod
    result = ping(tmp_path, port, MONGO_TLS_CA_FILE=str(folder / "other-ca.crt"))
    assert result.returncode != 0
    assert "certificate verify failed" in result.stderr


@pytest.mark.slow
def test_without_the_ca_file_there_is_no_tls_and_mongod_refuses(tls_mongod, tmp_path):
    port, _ = tls_mongod
    result = ping(tmp_path, port)
    assert result.returncode != 0
    assert "ping 1.0" not in result.stdout


def test_the_variable_names_a_file_the_app_reads_not_a_value(tmp_path):
    # Still a clear error (not a TLS failure deep in the driver) when the file is missing.
    result = ping(tmp_path, 1, MONGO_TLS_CA_FILE=str(tmp_path / "absent.crt"))
    assert result.returncode != 0
    assert f"MONGO_TLS_CA_FILE names {tmp_path / 'absent.crt'}, which is not a file" in (
        result.stderr
    )
    assert os.environ.get("MONGO_TLS_CA_FILE") is None  # nothing leaks into the test run
