"""TLS policy (issue 9): TLS 1.2 minimum, AEAD-only suites with forward secrecy, and a testssl.sh
scan of the TLS port with no HIGH or CRITICAL finding.

The scan uses a certificate from a CA made here (with a CRL distribution point, as public CAs
issue them), trusted with --add-ca: the development CA's certificates carry no revocation
information by design, which testssl rightly rates HIGH for a public site.
"""
from __future__ import annotations

import json
import socket
import ssl
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("tls-policy")
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "365",
            "-subj", "/CN=anomaly test CA", "-keyout", "ca.key", "-out", "ca.pem",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=localhost",
            "-keyout", "site.key", "-out", "site.csr", cwd=d)
    (d / "ext.cnf").write_text(
        "subjectAltName=DNS:localhost\n"
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\n"
        "crlDistributionPoints=URI:http://127.0.0.1/anomaly-test-ca.crl\n"
    )
    openssl("x509", "-req", "-in", "site.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "365",
            "-extfile", "ext.cnf", "-out", "site.pem", cwd=d)
    return {"ca": d / "ca.pem", "cert": d / "site.pem", "key": d / "site.key"}


@pytest.fixture(scope="module")
def server(anomaly_server_module, certs) -> Any:
    return anomaly_server_module({
        "listen": {"http3": False},
        "sites": [{"hosts": ["localhost"], "tls": {"cert": str(certs["cert"]), "key": str(certs["key"])},
                   "hsts": {"max_age": "365d", "include_subdomains": True},
                   "routes": [{"path": "/*", "respond": {"body": "ok\n"}}]},
                  # A second site on the development CA: the fixture waits for that CA's file.
                  {"hosts": ["other.test"], "routes": [{"path": "/*", "respond": {"body": "other\n"}}]}],
    })


def handshake(server, certs, *, minimum: ssl.TLSVersion, maximum: ssl.TLSVersion, ciphers: str | None = None) -> tuple[str, str] | None:
    ctx = ssl.create_default_context(cafile=str(certs["ca"]))
    ctx.minimum_version = minimum
    ctx.maximum_version = maximum
    if ciphers is not None:
        ctx.set_ciphers(ciphers)
    try:
        with socket.create_connection(("127.0.0.1", server.tls_port), timeout=5) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                return s.version() or "", (s.cipher() or ("",))[0]
    except (ssl.SSLError, ConnectionResetError):
        return None


def test_tls_versions_and_suites(server, certs) -> None:
    v13 = handshake(server, certs, minimum=ssl.TLSVersion.TLSv1_3, maximum=ssl.TLSVersion.TLSv1_3)
    assert v13 is not None and v13[0] == "TLSv1.3"
    v12 = handshake(server, certs, minimum=ssl.TLSVersion.TLSv1_2, maximum=ssl.TLSVersion.TLSv1_2)
    assert v12 is not None and v12[0] == "TLSv1.2" and v12[1].startswith("ECDHE-") and ("GCM" in v12[1] or "CHACHA20" in v12[1])
    # CBC and non-forward-secret suites are not offered.
    assert handshake(server, certs, minimum=ssl.TLSVersion.TLSv1_2, maximum=ssl.TLSVersion.TLSv1_2, ciphers="ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES128-SHA:AES128-GCM-SHA256") is None
    # TLS 1.1 and older: refused (when this OpenSSL can still speak them at all).
    try:
        old = handshake(server, certs, minimum=ssl.TLSVersion.TLSv1_1, maximum=ssl.TLSVersion.TLSv1_1, ciphers="DEFAULT:@SECLEVEL=0")
    except ValueError:
        old = None
    assert old is None


def test_testssl_finds_nothing_high_or_critical(server, certs, require_tool, suite_note, tmp_path) -> None:
    testssl = require_tool("testssl")
    out = tmp_path / "testssl.json"
    proc = subprocess.run(
        [testssl, "--fast", "--quiet", "--warnings", "off", "--color", "0", "--jsonfile", str(out),
         "--add-ca", str(certs["ca"]), "--ip", "127.0.0.1", f"localhost:{server.tls_port}"],
        capture_output=True, text=True, timeout=600,
    )
    assert out.exists(), f"testssl wrote no report (exit {proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}"
    findings = json.loads(out.read_text())
    counts = Counter(f["severity"] for f in findings)
    bad = [f"{f['severity']} {f['id']}: {f['finding']}" for f in findings if f["severity"] in ("HIGH", "CRITICAL")]
    notable = [f"{f['severity']} {f['id']}" for f in findings if f["severity"] in ("MEDIUM", "LOW")]
    suite_note(f"testssl.sh: {dict(counts)}; MEDIUM/LOW: {', '.join(notable) or 'none'}")
    assert not bad, "\n".join(bad)


def test_hsts_on_https_answers_only(server, certs) -> None:
    import httpx

    secure = httpx.get(f"https://localhost:{server.tls_port}/", verify=str(certs["ca"]))
    assert secure.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"
    plain = httpx.get(server.plain_url + "/", headers={"host": "localhost"})
    assert "strict-transport-security" not in plain.headers
