"""Helpers of the ELBv2 tests: what a client does with a load balancer once the API has
described it (resolve its DNSName, send HTTP to a listener's port), a task app that says
which task answered, bounded request loops, and raw Query requests.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import socket
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field

from conftest import ACCOUNT, REGION

# The Query protocol's credential scope names the service: ferry local routes by it.
QUERY_AUTH = (
    f"AWS4-HMAC-SHA256 Credential={ACCOUNT}/20260101/{REGION}/elasticloadbalancing/aws4_request, "
    "SignedHeaders=host, Signature=0"
)

# Subnets and VPC named in CreateLoadBalancer / CreateTargetGroup requests to ferry local.
SUBNETS = ["subnet-0a1b2c3d4e5f60001", "subnet-0a1b2c3d4e5f60002"]
VPC = "vpc-0a1b2c3d4e5f60000"

# Health checks fast enough for a test: a 5 s interval (the model's minimum), scaled down by
# `ferry local up --health-check-scale` (run.sh uses 0.05: every 0.25 s), healthy after 2.
FAST_HEALTH = {
    "HealthCheckPath": "/health",
    "HealthCheckIntervalSeconds": 5,
    "HealthCheckTimeoutSeconds": 2,
    "HealthyThresholdCount": 2,
    "UnhealthyThresholdCount": 2,
}

# A task app in Python that answers every GET with who it is: its VERSION, its task ARN (as
# ferry local sets FERRY_LOCAL_TASK_ARN), the path and Host it was asked for; a path ending
# in /slow waits ?s= seconds first (at most 10), so that a test can hold a request open on a
# target. HTTP/1.1 with keep-alive, as a real service behind an ALB.
ECHO_APP = r"""
import json, os, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body leave at once (no 40 ms delayed-ACK stall)

    def log_message(self, *args):
        pass

    def do_GET(self):
        url = urlsplit(self.path)
        if url.path.endswith("/slow"):
            time.sleep(min(float(parse_qs(url.query).get("s", ["1"])[0]), 10.0))
        body = json.dumps({
            "version": os.environ.get("VERSION", ""),
            "task": os.environ.get("FERRY_LOCAL_TASK_ARN", ""),
            "path": url.path,
            "host": self.headers.get("Host", ""),
        }).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
"""


def echo_container(version: str, *, name: str = "web") -> dict:
    """A container definition that runs ECHO_APP on its PORT_8080, as version `version`."""
    return {
        "name": name,
        "image": f"example.com/echo:{version}",
        "essential": True,
        "memory": 64,
        "entryPoint": [sys.executable, "-c", ECHO_APP],
        "portMappings": [{"containerPort": 8080, "protocol": "tcp"}],
        "environment": [{"name": "VERSION", "value": version}],
    }


def address(dns_name: str) -> str:
    """The address a load balancer's DNSName resolves to on this machine (a loopback one)."""
    ip = socket.gethostbyname(dns_name)
    assert ipaddress.ip_address(ip).is_loopback, f"{dns_name} resolves to {ip}, not a loopback address"
    return ip


def free_port(host: str) -> int:
    """A port nothing listens on at `host` right now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@dataclass
class Answer:
    status: int
    headers: dict
    body: bytes

    def json(self):
        return json.loads(self.body)


def get(host: str, port: int, path: str = "/", *, headers: dict | None = None, timeout: float = 10) -> Answer:
    """One GET on a new connection, redirects not followed."""
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        connection.close()


@dataclass
class LoadResult:
    sent: int = 0
    answers: list = field(default_factory=list)  # (monotonic time, status, parsed body or None)
    failures: list = field(default_factory=list)  # (monotonic time, what went wrong)


class RequestLoop:
    """`workers` threads sending GET `path` to host:port over keep-alive connections until
    stopped, for at most `seconds` and `max_requests` requests each (bounded either way).

    A failure is anything but a 200 answer: a refused or reset connection, a timeout, another
    status. A connection the server closed (``Connection: close``) is reopened for the next
    request, as any HTTP/1.1 client does.
    """

    def __init__(self, host: str, port: int, path: str, *, workers: int, seconds: float,
                 max_requests: int = 20_000, timeout: float = 15):
        self.host, self.port, self.path = host, port, path
        self.workers, self.seconds, self.max_requests, self.timeout = workers, seconds, max_requests, timeout
        self.result = LoadResult()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def _work(self):
        deadline = time.monotonic() + self.seconds
        connection = None
        for _ in range(self.max_requests):
            if self._stop.is_set() or time.monotonic() >= deadline:
                break
            if connection is None:
                connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            at = time.monotonic()
            try:
                connection.request("GET", self.path)
                response = connection.getresponse()
                body = response.read()
                status = response.status
                if response.will_close:
                    connection.close()
                    connection = None
            except (OSError, http.client.HTTPException) as e:
                with self._lock:
                    self.result.sent += 1
                    self.result.failures.append((at, f"{type(e).__name__}: {e}"))
                if connection is not None:
                    connection.close()
                connection = None
                continue
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = None
            with self._lock:
                self.result.sent += 1
                self.result.answers.append((at, status, parsed))
                if status != 200:
                    self.result.failures.append((at, f"status {status}: {body[:200]!r}"))
        if connection is not None:
            connection.close()

    def start(self) -> "RequestLoop":
        for _ in range(self.workers):
            thread = threading.Thread(target=self._work, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> LoadResult:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=self.timeout + 5)
        return self.result


def query(url: str, action: str, params: dict | None = None, *, authorization: str | None = QUERY_AUTH,
          version: str = "2015-12-01", timeout: float = 10):
    """POSTs a Query-protocol request by hand; returns (status, body text)."""
    form = {"Action": action, "Version": version, **(params or {})}
    data = urllib.parse.urlencode(form).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
    if authorization is not None:
        headers["Authorization"] = authorization
    request = urllib.request.Request(url + "/", data=data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")
