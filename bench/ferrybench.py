"""Shared pieces of the ferry local benchmarks.

- `RawClient`: a minimal HTTP/1.1 keep-alive client over one TCP socket, speaking AWS
  JSON 1.1 (POST /, `X-Amz-Target`, a dummy SigV4 `Authorization` header: ferry local
  reads the account and region from it and does not verify signatures). It builds each
  request as one byte string and parses only the status line, `Content-Length` (or
  chunked framing) and the body, so the client adds as little as Python allows to the
  round trip it times. JSON decoding of the answer happens outside the timed region.
- `/proc` readers for the CPU time and memory of a process.
- small statistics helpers.

Standard library only.
"""

import json
import os
import socket
import time
from urllib.parse import urlparse

ACCOUNT = "000000000000"
REGION = "us-east-1"
ECS = "AmazonEC2ContainerServiceV20141113"
# The SigV4 signing name of each service, by X-Amz-Target prefix: ferry local, like AWS,
# refuses a credential scoped to another service.
SIGNING_NAMES = {
    ECS: "ecs",
    "AmazonEC2ContainerRegistry_V20150921": "ecr",
    "AnyScaleFrontendService": "application-autoscaling",
}


def auth(target: str) -> str:
    """An Authorization header ferry local reads (it checks the scope, not the signature)."""
    service = SIGNING_NAMES.get(target.split(".", 1)[0], "ecs")
    return (
        f"AWS4-HMAC-SHA256 Credential={ACCOUNT}/20260101/{REGION}/{service}/aws4_request, "
        "SignedHeaders=host, Signature=0"
    )


AUTH = auth(ECS)
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


class HttpError(Exception):
    pass


class RawClient:
    """One keep-alive connection to ferry local (or any HTTP/1.1 server on 127.0.0.1)."""

    def __init__(self, endpoint, timeout=10.0):
        url = urlparse(endpoint)
        self.host = url.hostname
        self.port = url.port
        self.timeout = timeout
        self.sock = None
        self.buf = b""
        self.connects = 0

    def connect(self):
        self.close()
        self.sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.connects += 1

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    # -- request building (outside the timed region) ---------------------------------

    def build_aws(self, target, payload):
        body = json.dumps(payload, separators=(",", ":")).encode()
        head = (
            f"POST / HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            "Content-Type: application/x-amz-json-1.1\r\n"
            f"X-Amz-Target: {target}\r\n"
            f"Authorization: {auth(target)}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        return head + body

    def build_get(self, path):
        return f"GET {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n\r\n".encode()

    # -- one round trip ------------------------------------------------------------------

    def roundtrip(self, request):
        """Sends prebuilt request bytes, reads one response. Returns (status, body bytes)."""
        if self.sock is None:
            self.connect()
        self.sock.sendall(request)
        return self._read_response()

    def _fill(self):
        chunk = self.sock.recv(262144)
        if not chunk:
            raise HttpError("connection closed by server")
        self.buf += chunk

    def _read_response(self):
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end >= 0:
                break
            self._fill()
        head = self.buf[:end].decode("latin-1")
        self.buf = self.buf[end + 4 :]
        lines = head.split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length = None
        chunked = False
        close = False
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value.strip())
            elif name == "transfer-encoding" and "chunked" in value.lower():
                chunked = True
            elif name == "connection" and "close" in value.lower():
                close = True
        if chunked:
            body = self._read_chunked()
        else:
            length = length or 0
            while len(self.buf) < length:
                self._fill()
            body, self.buf = self.buf[:length], self.buf[length:]
        if close:
            self.close()
        return status, body

    def _read_chunked(self):
        body = b""
        while True:
            while b"\r\n" not in self.buf:
                self._fill()
            line, self.buf = self.buf.split(b"\r\n", 1)
            size = int(line.split(b";")[0], 16)
            while len(self.buf) < size + 2:
                self._fill()
            body += self.buf[:size]
            self.buf = self.buf[size + 2 :]
            if size == 0:
                return body

    # -- convenience ---------------------------------------------------------------------

    def call(self, operation, payload, prefix=ECS):
        """An AWS JSON 1.1 call; returns the decoded answer or raises with the error."""
        status, body = self.roundtrip(self.build_aws(f"{prefix}.{operation}", payload))
        value = json.loads(body) if body else {}
        if status != 200:
            raise HttpError(f"{operation}: HTTP {status}: {value}")
        return value


# -- /proc ---------------------------------------------------------------------------------


def cpu_seconds(pid):
    """utime + stime of the process (all its threads; not its children), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        text = f.read()
    fields = text[text.rindex(")") + 2 :].split()
    # fields[0] is field 3 (state); utime is field 14, stime field 15.
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def status_fields(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            name, _, value = line.partition(":")
            out[name] = value.strip()
    return out


def rss_kib(pid):
    return int(status_fields(pid)["VmRSS"].split()[0])


def children(pid):
    """PIDs whose parent is `pid`."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                text = f.read()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2 :].split()
        if int(fields[1]) == pid:
            out.append(int(entry))
    return out


def sample_process(pid, seconds, every=1.0):
    """CPU % (of one core) and RSS of `pid` over `seconds`, RSS sampled every `every` s."""
    rss = []
    wall0 = time.monotonic()
    cpu0 = cpu_seconds(pid)
    deadline = wall0 + seconds
    while True:
        rss.append(rss_kib(pid))
        now = time.monotonic()
        if now >= deadline:
            break
        time.sleep(min(every, deadline - now))
    cpu1 = cpu_seconds(pid)
    wall = time.monotonic() - wall0
    fields = status_fields(pid)
    return {
        "seconds": round(wall, 2),
        "cpu_seconds": round(cpu1 - cpu0, 3),
        "cpu_percent": round(100.0 * (cpu1 - cpu0) / wall, 3),
        "rss_mib_mean": round(sum(rss) / len(rss) / 1024, 1),
        "rss_mib_max": round(max(rss) / 1024, 1),
        "vm_hwm_mib": round(int(fields["VmHWM"].split()[0]) / 1024, 1),
        "threads": int(fields["Threads"]),
        "samples": len(rss),
    }


# -- statistics ------------------------------------------------------------------------------


def percentile(sorted_values, p):
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return float("nan")
    rank = max(1, -(-len(sorted_values) * p // 100))
    return sorted_values[int(rank) - 1]


def summarize_ms(samples_ns):
    values = sorted(v / 1e6 for v in samples_ns)
    return {
        "n": len(values),
        "min": round(values[0], 3),
        "p50": round(percentile(values, 50), 3),
        "p90": round(percentile(values, 90), 3),
        "p99": round(percentile(values, 99), 3),
        "max": round(values[-1], 3),
        "mean": round(sum(values) / len(values), 3),
    }


def wait_until(what, predicate, timeout, every=0.2):
    """Polls `predicate` until it returns a truthy value or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(every)


def write_json(path, value):
    if path:
        with open(path, "w") as f:
            json.dump(value, f, indent=2)
            f.write("\n")
