"""The RFC 9111 cache (`cache:` on a route) in front of the proxy handler, against a real origin server:
Cache-Control cases, Expires/Age, Vary, 304 revalidation, stale-while-revalidate / stale-if-error,
Cache-Status (RFC 9211), PURGE, request coalescing, the disk store across a restart and two anomaly
instances sharing one Redis."""
from __future__ import annotations

import asyncio
import subprocess
import time
from email.utils import formatdate
from typing import Any, Iterator

import httpx
import pytest

from cache_origin import Origin, port_accepts
from conftest import AnomalyServer, free_port, require_tool

TOKEN = "purge-token-123"


@pytest.fixture
def origin() -> Iterator[Origin]:
    o = Origin()
    yield o
    o.close()


def cached_site(origin: Origin, cache: dict[str, Any] | None = None, caches: dict[str, Any] | None = None) -> dict[str, Any]:
    # One worker process: a memory zone is per process (workers > 1 each keep their own).
    config: dict[str, Any] = {"workers": 1, "sites": [{"routes": [
        {"path": "/*", "proxy": {"to": [origin.url]}, "cache": {"purge_token": TOKEN, **(cache or {})}},
    ]}]}
    if caches is not None:
        config["caches"] = caches
    return config


def client(srv: AnomalyServer) -> httpx.Client:
    return httpx.Client(base_url=srv.plain_url, timeout=10.0)


def status(r: httpx.Response) -> str:
    """Our member of Cache-Status (the last one)."""
    return r.headers.get("cache-status", "").split(", ")[-1]


# --------------------------------------------------------------------------------- basics

def test_miss_then_hit_with_age_and_cache_status(anomaly_server, origin) -> None:
    origin.route("/a", headers={"cache-control": "max-age=60"})
    srv = anomaly_server(cached_site(origin))
    with client(srv) as c:
        first = c.get("/a")
        assert first.status_code == 200 and first.text == "/a #1"
        assert status(first).startswith("anomaly; fwd=uri-miss; fwd-status=200")
        second = c.get("/a")
        assert second.text == "/a #1"
        assert status(second).startswith("anomaly; hit; ttl=")
        assert second.headers["age"].isdigit()
        assert second.headers["cache-control"] == "max-age=60"
        head = c.head("/a")
        assert head.status_code == 200 and "hit" in status(head)
    assert origin.count("/a") == 1


@pytest.mark.parametrize("case,headers,request_headers,stored", [
    ("max-age", {"cache-control": "max-age=60"}, {}, True),
    ("s-maxage", {"cache-control": "s-maxage=60, max-age=0"}, {}, True),
    # Computed when the module is collected, which can be many minutes before the test runs: a day's margin.
    ("expires", {"expires": formatdate(time.time() + 86400, usegmt=True)}, {}, True),
    ("expires-in-past", {"expires": formatdate(time.time() - 86400, usegmt=True)}, {}, False),
    ("no-store", {"cache-control": "no-store, max-age=60"}, {}, False),
    ("private", {"cache-control": "private, max-age=60"}, {}, False),
    ("set-cookie", {"cache-control": "max-age=60", "set-cookie": "session=1"}, {}, False),
    ("authorization", {"cache-control": "max-age=60"}, {"authorization": "Bearer x"}, False),
    ("authorization+public", {"cache-control": "public, max-age=60"}, {"authorization": "Bearer x"}, True),
    ("authorization+s-maxage", {"cache-control": "s-maxage=60"}, {"authorization": "Bearer x"}, True),
    ("request-no-store", {"cache-control": "max-age=60"}, {"cache-control": "no-store"}, False),
])
def test_what_is_stored(anomaly_server, origin, case, headers, request_headers, stored) -> None:
    path = f"/store-{case}"
    origin.route(path, headers=headers)
    srv = anomaly_server(cached_site(origin))
    with client(srv) as c:
        first = c.get(path, headers=request_headers)
        # A streamed body is stored when it ends, which can be just after the client has it all;
        # requests with Authorization do not wait on another's fetch, so give the write a moment.
        time.sleep(0.1)
        second = c.get(path, headers=request_headers)
    assert first.status_code == second.status_code == 200
    assert origin.count(path) == (1 if stored else 2), case
    assert ("hit" in status(second)) == stored
    if case == "set-cookie":
        assert "detail=set-cookie" in status(first)


def test_no_cache_revalidates_every_use(anomaly_server, origin) -> None:
    origin.route("/nc", headers={"cache-control": "no-cache"}, etag='"v1"')
    srv = anomaly_server(cached_site(origin))
    with client(srv) as c:
        bodies = [c.get("/nc") for _ in range(3)]
    assert [b.text for b in bodies] == ["/nc #1"] * 3
    sent = origin.requests("/nc")
    assert len(sent) == 3 and "if-none-match" not in sent[0]
    assert all(h.get("if-none-match") == '"v1"' for h in sent[1:])
    assert status(bodies[2]).startswith("anomaly; fwd=stale; fwd-status=304")


@pytest.mark.parametrize("directive", ["must-revalidate", "proxy-revalidate"])
def test_must_and_proxy_revalidate_never_serve_stale_on_error(anomaly_server, origin, directive) -> None:
    path = f"/{directive}"
    r = origin.route(path, headers={"cache-control": f"max-age=1, {directive}, stale-if-error=60"})
    srv = anomaly_server(cached_site(origin))
    with client(srv) as c:
        assert c.get(path).status_code == 200
        time.sleep(1.2)
        r.fail = 503
        assert c.get(path).status_code == 503


def test_expired_entry_is_revalidated_with_etag_and_updated_from_the_304(anomaly_server, origin) -> None:
    r = origin.route("/rv", headers={"cache-control": "max-age=1", "x-version": "1"}, etag='"e1"')
    srv = anomaly_server(cached_site(origin))
    with client(srv) as c:
        c.get("/rv")
        time.sleep(1.2)
        r.headers = {"cache-control": "max-age=60", "x-version": "2"}
        again = c.get("/rv")
        assert again.text == "/rv #1", "the stored body is reused after a 304"
        assert again.headers["x-version"] == "2", "stored headers are updated from the 304"
        assert status(again).startswith("anomaly; fwd=stale; fwd-status=304")
        assert "stored" in status(again)
        assert "hit" in status(c.get("/rv"))
    assert origin.requests("/rv")[1].get("if-none-match") == '"e1"'


def test_last_modified_revalidation(anomaly_server, origin) -> None:
    lm = formatdate(time.time() - 3600, usegmt=True)
    origin.route("/lm", headers={"cache-control": "max-age=1"}, last_modified=lm)
    srv = anomaly_server(cached_site(origin))
    with client(srv) as c:
        c.get("/lm")
        time.sleep(1.2)
        assert c.get("/lm").text == "/lm #1"
    assert origin.requests("/lm")[1].get("if-modified-since") == lm


def test_client_conditional_requests_get_304_from_the_cache(anomaly_server, origin) -> None:
    origin.route("/cond", headers={"cache-control": "max-age=60"}, etag='"c1"')
    srv = anomaly_server(cached_site(origin))
    with client(srv) as c:
        c.get("/cond")
        r = c.get("/cond", headers={"if-none-match": '"c1"'})
        assert r.status_code == 304 and r.headers["etag"] == '"c1"' and "hit" in status(r)
        assert c.get("/cond", headers={"if-none-match": '"other"'}).status_code == 200
    assert origin.count("/cond") == 1


def test_vary_keeps_a_variant_per_header_value(anomaly_server, origin) -> None:
    origin.route("/vary", headers={"cache-control": "max-age=60", "vary": "Accept-Language"}, vary_body="accept-language")
    srv = anomaly_server(cached_site(origin))
    with client(srv) as c:
        en = c.get("/vary", headers={"accept-language": "en"})
        fr = c.get("/vary", headers={"accept-language": "fr"})
        assert "fwd=vary-miss" in status(fr)
        en2 = c.get("/vary", headers={"accept-language": "en"})
        fr2 = c.get("/vary", headers={"accept-language": "fr"})
    assert en.text.endswith("accept-language=en") and en2.text == en.text
    assert fr.text.endswith("accept-language=fr") and fr2.text == fr.text
    assert "hit" in status(en2) and "hit" in status(fr2)
    assert origin.count("/vary") == 2


def test_request_cache_control(anomaly_server, origin) -> None:
    origin.route("/rq", headers={"cache-control": "max-age=60"}, etag='"r"')
    srv = anomaly_server(cached_site(origin))
    with client(srv) as c:
        assert c.get("/rq", headers={"cache-control": "only-if-cached"}).status_code == 504
        c.get("/rq")
        forced = c.get("/rq", headers={"cache-control": "no-cache"})
        assert "fwd=request" in status(forced)
    assert origin.count("/rq") == 2


# ----------------------------------------------------------------------------- stale use

def test_stale_while_revalidate(anomaly_server, origin) -> None:
    r = origin.route("/swr", headers={"cache-control": "max-age=1, stale-while-revalidate=30"})
    srv = anomaly_server(cached_site(origin))
    with client(srv) as c:
        c.get("/swr")
        time.sleep(1.2)
        r.delay = 0.5
        # The revalidated copy stays fresh well past the check below: with max-age=1 its age (from
        # the origin's whole-second Date) could pass 1 s within the 0.7 s wait and make it flaky.
        r.headers = {"cache-control": "max-age=10, stale-while-revalidate=30"}
        t0 = time.monotonic()
        stale = c.get("/swr")
        assert time.monotonic() - t0 < 0.4, "served at once, not after the slow origin"
        assert stale.text == "/swr #1"
        assert "hit" in status(stale) and "detail=stale-while-revalidate" in status(stale)
        deadline = time.monotonic() + 5
        while origin.count("/swr") < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.7)
        fresh = c.get("/swr")
    assert fresh.text == "/swr #2"
    assert origin.count("/swr") == 2


def test_stale_if_error(anomaly_server, origin) -> None:
    r = origin.route("/sie", headers={"cache-control": "max-age=1, stale-if-error=60"})
    srv = anomaly_server(cached_site(origin))
    with client(srv) as c:
        c.get("/sie")
        time.sleep(1.2)
        r.fail = 500
        stale = c.get("/sie")
    assert stale.status_code == 200 and stale.text == "/sie #1"
    assert status(stale).startswith("anomaly; fwd=stale; fwd-status=500")
    assert "detail=stale-if-error" in status(stale)


def test_stale_if_error_when_the_origin_is_down(anomaly_server, origin) -> None:
    r = origin.route("/down", headers={"cache-control": "max-age=1, stale-if-error=60"})
    srv = anomaly_server(cached_site(origin))
    with client(srv) as c:
        c.get("/down")
        r.drop = True
        time.sleep(1.2)
        stale = c.get("/down")
    assert stale.status_code == 200 and stale.text == "/down #1"
    assert "detail=stale-if-error" in status(stale)


# ---------------------------------------------------------------------------- purge, unsafe

def test_purge_needs_the_token(anomaly_server, origin) -> None:
    origin.route("/p", headers={"cache-control": "max-age=60"})
    srv = anomaly_server(cached_site(origin))
    with client(srv) as c:
        c.get("/p")
        assert c.request("PURGE", "/p").status_code == 401
        assert c.request("PURGE", "/p", headers={"x-purge-token": "wrong-token-000"}).status_code == 403
        assert "hit" in status(c.get("/p"))
        assert c.request("PURGE", "/p", headers={"x-purge-token": TOKEN}).status_code == 200
        assert c.request("PURGE", "/p", headers={"authorization": f"Bearer {TOKEN}"}).status_code == 404
        assert c.get("/p").text == "/p #2"
    assert origin.count("/p") == 2
    line = srv.wait_for_log(lambda l: l["msg"] == "cache: purge" and l["removed"] is True)
    assert line["key"].endswith("/p")


def test_a_successful_post_invalidates_the_uri(anomaly_server, origin) -> None:
    origin.route("/inv", headers={"cache-control": "max-age=60"})
    srv = anomaly_server(cached_site(origin))
    with client(srv) as c:
        c.get("/inv")
        post = c.post("/inv", content=b"x")
        assert status(post) == "anomaly; fwd=method"
        time.sleep(0.1)
        assert c.get("/inv").text == "/inv #3"


# ------------------------------------------------------------------------------ coalescing

def test_100_concurrent_requests_for_one_uncached_url_cause_exactly_one_upstream_request(anomaly_server, origin) -> None:
    origin.route("/hot", headers={"cache-control": "max-age=60"}, delay=0.5, body=b"x" * 20000)
    srv = anomaly_server(cached_site(origin))

    async def burst() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
        async with httpx.AsyncClient(base_url=srv.plain_url, timeout=20.0, limits=limits) as c:
            return await asyncio.gather(*(c.get("/hot") for _ in range(100)))

    answers = asyncio.run(burst())
    assert [r.status_code for r in answers] == [200] * 100
    assert all(r.content == b"x" * 20000 for r in answers)
    assert origin.count("/hot") == 1
    collapsed = sum(1 for r in answers if "collapsed" in status(r))
    assert collapsed >= 90, f"{collapsed} of 100 waited for the one fetch"


# ---------------------------------------------------------------------------------- stores

def test_disk_cache_survives_a_restart(anomaly_server, origin, tmp_path) -> None:
    origin.route("/disk", headers={"cache-control": "max-age=600"})
    config = cached_site(origin, {"zone": "files"}, {"files": {"store": "disk", "path": str(tmp_path / "cache"), "max_size": "10MB"}})
    srv = anomaly_server(config)
    with client(srv) as c:
        assert c.get("/disk").text == "/disk #1"
        time.sleep(0.2)  # the write lands after the response
    srv.stop()
    srv.start()
    with client(srv) as c:
        again = c.get("/disk")
    assert again.text == "/disk #1" and "hit" in status(again)
    assert origin.count("/disk") == 1


@pytest.fixture
def redis_server(tmp_path) -> Iterator[str]:
    binary = require_tool("redis-server")
    port = free_port()
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not port_accepts(port):
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            pytest.fail("redis-server did not start")
        time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(5)


def test_two_instances_share_one_redis(anomaly_server, origin, redis_server) -> None:
    origin.route("/shared", headers={"cache-control": "max-age=600"})
    config = cached_site(origin, {"zone": "shared"}, {"shared": {"store": "redis", "url": redis_server}})
    one = anomaly_server(config)
    two = anomaly_server(config)
    with client(one) as c1, client(two) as c2:
        miss = c1.get("/shared")
        assert "fwd=uri-miss" in status(miss)
        time.sleep(0.2)
        hit = c2.get("/shared")
    assert hit.text == "/shared #1"
    assert "hit" in status(hit), "a MISS on one instance is a HIT on the other"
    assert origin.count("/shared") == 1


def test_redis_down_degrades_to_misses_with_a_log_line(anomaly_server, origin) -> None:
    origin.route("/nr", headers={"cache-control": "max-age=600"})
    dead = f"redis://127.0.0.1:{free_port()}"
    srv = anomaly_server(cached_site(origin, {"zone": "r"}, {"r": {"store": "redis", "url": dead}}))
    with client(srv) as c:
        answers = [c.get("/nr") for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert origin.count("/nr") == 3
    srv.wait_for_log(lambda l: "redis unreachable" in l["msg"])


def test_config_errors_name_the_field(anomaly_server, origin) -> None:
    from conftest import run_anomaly
    import tempfile, json, os
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        json.dump({"listen": {"tls": False, "plain": free_port()},
                   "sites": [{"routes": [{"path": "/*", "proxy": {"to": [origin.url]}, "cache": {"zone": "nope"}}]}]}, f)
    try:
        out = run_anomaly("check", f.name)
    finally:
        os.unlink(f.name)
    assert out.returncode != 0
    assert 'cache.zone: no cache zone "nope"' in out.stdout + out.stderr


def test_purge_reaches_every_worker_process(anomaly_server, origin) -> None:
    """With workers: 2 each worker has its own memory zone; a PURGE is relayed to the other one."""
    origin.route("/w", headers={"cache-control": "max-age=600"})
    config = cached_site(origin)
    config["workers"] = 2
    srv = anomaly_server(config)

    def fresh_connections(n: int) -> list[str]:
        bodies = []
        for _ in range(n):
            with httpx.Client(base_url=srv.plain_url, timeout=10.0) as c:  # a new connection each time
                bodies.append(c.get("/w").text)
        return bodies

    fresh_connections(40)
    if origin.count("/w") < 2:
        pytest.skip("the kernel gave every connection to one worker; nothing to relay")
    with client(srv) as c:
        assert c.request("PURGE", "/w", headers={"x-purge-token": TOKEN}).status_code == 200
    time.sleep(0.3)
    after = fresh_connections(40)
    assert not any(b.endswith("#1") or b.endswith("#2") for b in after), "a worker kept serving the purged entry"


def test_hits_over_http2_share_the_entry_stored_over_http1(anomaly_server, origin) -> None:
    from conftest import ssl_context
    origin.route("/h2", headers={"cache-control": "max-age=60"}, etag='"h"')
    srv = anomaly_server(cached_site(origin))
    # The default key has the scheme in it: both go to the TLS port, HTTP/1.1 then HTTP/2.
    with httpx.Client(base_url=srv.tls_url, verify=ssl_context(srv.ca_path), timeout=10.0) as c1:
        first = c1.get("/h2")
        assert first.http_version == "HTTP/1.1" and "fwd=uri-miss" in status(first)
    with httpx.Client(base_url=srv.tls_url, verify=ssl_context(srv.ca_path), http2=True, timeout=10.0) as c2:
        hit = c2.get("/h2")
        assert hit.http_version == "HTTP/2"
        assert hit.text == "/h2 #1" and "hit" in status(hit)
        assert c2.get("/h2", headers={"if-none-match": '"h"'}).status_code == 304
    assert origin.count("/h2") == 1


def test_a_reload_keeps_the_entries_of_an_unchanged_zone(anomaly_server, origin) -> None:
    origin.route("/rl", headers={"cache-control": "max-age=600"})
    config = cached_site(origin, {"zone": "main"}, {"main": {"store": "memory", "max_size": "8MB"}})
    srv = anomaly_server(config)
    with client(srv) as c:
        c.get("/rl")
        changed = cached_site(origin, {"zone": "main", "stale_if_error": "1m"}, {"main": {"store": "memory", "max_size": "8MB"}})
        changed["sites"][0]["routes"].insert(0, {"path": "/other", "respond": {"body": "x"}})
        line = srv.reload(changed)
        assert line is not None and "reloaded" in str(line.get("msg")), line
        assert "hit" in status(c.get("/rl")), "route options changed, the zone did not: its entries stay"
        resized = cached_site(origin, {"zone": "main"}, {"main": {"store": "memory", "max_size": "16MB"}})
        srv.reload(resized)
        assert "fwd=uri-miss" in status(c.get("/rl")), "a zone whose options changed starts empty"
    assert origin.count("/rl") == 2
