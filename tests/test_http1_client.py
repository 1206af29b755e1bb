"""channels.http1_client: posting to full URLs through pools by origin, TLS, and refusing bad input."""
from __future__ import annotations

import datetime
import ipaddress
import ssl
from pathlib import Path

import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from channels.http1 import Http1Pool
from channels.http1_client import Http1Client, header_lines
from tests.test_http1 import RawServer


def _self_signed(directory: Path, names: list[str]) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    now = datetime.datetime.now(datetime.UTC)
    alt = [x509.IPAddress(ipaddress.ip_address(n)) if n[0].isdigit() else x509.DNSName(n) for n in names]
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(alt), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.mark.parametrize("names, host, ok", [
    (["localhost"], "localhost", True),
    (["127.0.0.1"], "127.0.0.1", True),
    (["other.example"], "localhost", False),  # the certificate is not for this host
])
async def test_tls_against_aiohttp_with_a_self_signed_certificate(tmp_path: Path, names: list[str], host: str,
                                                                  ok: bool) -> None:
    cert, key = _self_signed(tmp_path, names)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    sni: list[str | None] = []
    server_context.sni_callback = lambda sslobj, name, context: sni.append(name)  # type: ignore[assignment,misc]

    async def handler(request: web.Request) -> web.Response:
        return web.Response(text=f"got {await request.text()} on {request.host}")

    app = web.Application()
    app.router.add_post("/hook", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_context)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    trusting = ssl.create_default_context(cafile=str(cert))
    client = Http1Client(ssl_context=trusting)
    untrusting = Http1Client()  # the system's CAs: a self-signed certificate must fail
    try:
        if ok:
            response = await client.post_form(f"https://{host}:{port}/hook?d=1", b"a=1")
            assert response.text() == f"got a=1 on {host}:{port}"
            assert sni == ([host] if host == "localhost" else [None])  # no SNI for an IP address (RFC 6066)
        else:
            with pytest.raises(ssl.SSLCertVerificationError, match="match"):
                await client.post_form(f"https://{host}:{port}/hook", b"a=1")
        with pytest.raises(ssl.SSLCertVerificationError):
            await untrusting.post_form(f"https://{host}:{port}/hook", b"a=1")
    finally:
        await client.aclose()
        await untrusting.aclose()
        await runner.cleanup()


async def test_post_form_to_a_full_url() -> None:
    server = RawServer()
    async with server as port:
        client = Http1Client()
        try:
            response = await client.post_form(f"http://127.0.0.1:{port}/hooks/status?d=42&x=a%20b", b"MessageSid=SM1",
                                              {"X-Twilio-Signature": "abc="})
            await client.post_form(f"http://127.0.0.1:{port}/other", b"", {"Content-Type": "text/plain"})
        finally:
            await client.aclose()
    assert response.status == 200
    assert server.requests == [
        b"POST /hooks/status?d=42&x=a%%20b HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nX-Twilio-Signature: abc=\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 14\r\n\r\nMessageSid=SM1" % port,
        b"POST /other HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: text/plain\r\nContent-Length: 0\r\n\r\n" % port,
    ]
    assert server.connections == 1


async def test_bad_input_is_refused_before_anything_is_sent() -> None:
    client = Http1Client()
    try:
        for url in ("ftp://x.example/", "http:///path", "http://user:pw@x.example/", "/relative"):
            with pytest.raises(ValueError, match="url must be"):
                await client.post_form(url, b"")
        with pytest.raises(ValueError, match="cannot go in an HTTP header"):
            header_lines({"X-A": "one\r\nX-Injected: two"})
        with pytest.raises(ValueError, match="set by the client"):
            header_lines({"Content-Length": "5"})
        pool = client.pool("http", "127.0.0.1", 9)
        with pytest.raises(ValueError, match="HEAD"):
            await pool.request("HEAD", b"/")
        with pytest.raises(ValueError, match="lines"):
            await pool.request("POST", b"/", b"X-A: 1")
        for target in (b"", b"/a b", b"/a\r\nX-Injected: 1", b"http://x/"):
            with pytest.raises(ValueError, match="target"):
                await pool.request("POST", target)
    finally:
        await client.aclose()
    for scheme, host, port in (("gopher", "x", 70), ("http", "", 80), ("http", "x", 0), ("http", "a b", 80)):
        with pytest.raises(ValueError):
            Http1Pool(scheme, host, port)


@settings(max_examples=300, deadline=None)
@given(path=st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=20),
       query=st.text(alphabet=st.characters(codec="ascii"), max_size=30))
def test_a_callback_url_goes_where_yarl_says(path: str, query: str) -> None:
    """The cached route of a URL (base parsed once, a plain query appended) is yarl's, byte for byte."""
    from yarl import URL

    url = "http://127.0.0.1:8080/" + path.replace("?", "").replace("#", "") + "?" + query
    try:
        parsed = URL(url)
    except ValueError:
        return
    client = Http1Client()
    pool, target = client._route(url)
    expected = (parsed.raw_path or "/") + (f"?{parsed.raw_query_string}" if parsed.raw_query_string else "")
    assert target == expected.encode("ascii")
    assert pool is client.pool("http", "127.0.0.1", 8080)
