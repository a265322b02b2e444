"""Shared pieces of the benchmarks that send HTTP load through a ferry local load balancer
(bench/zero-downtime.sh, bench/ecs_native.py):

- oha, the load generator: its command line at a fixed rate and the figures of its JSON
  output (sent, failed = non-2xx answers + connection errors, latency percentiles);
- ferry local's load balancer access log (`ferry local logs --access --output json`): its
  requests as rows stamped in epoch seconds, split into windows;
- which version answered a request: the image tag of the task behind the target's host port.

Standard library only.
"""

from __future__ import annotations

import datetime
import json


def oha_command(oha: str, url: str, seconds: float, rate: int, connections: int = 50) -> list[str]:
    """oha at a fixed `rate` requests/s for `seconds`, JSON on stdout. `-w` lets the requests in
    flight at the end finish (no "aborted due to deadline" errors of oha's own making);
    `--latency-correction` counts the time a request waited for its slot (coordinated omission)."""
    return [oha, "-z", f"{seconds}s", "-q", str(rate), "-c", str(connections), "-w", "--latency-correction",
            "--no-tui", "--output-format", "json", url]


def oha_figures(path: str) -> dict:
    """oha's JSON output -> sent, failed (non-2xx + connection errors), latency in ms."""
    with open(path) as f:
        d = json.load(f)
    s = d.get("summary", {})
    codes = {str(k): v for k, v in (d.get("statusCodeDistribution") or {}).items()}
    errors = d.get("errorDistribution") or {}
    answered = sum(codes.values())
    err_n = sum(errors.values())
    non2xx = sum(v for k, v in codes.items() if not k.startswith("2"))
    lp = d.get("latencyPercentiles") or {}

    def ms(v):
        return None if v is None else round(v * 1000, 3)

    return {
        "sent": answered + err_n, "answered": answered, "failed": non2xx + err_n,
        "non_2xx": non2xx, "connection_errors": err_n,
        "status_codes": codes, "errors": errors,
        "p50_ms": ms(lp.get("p50")), "p90_ms": ms(lp.get("p90")), "p99_ms": ms(lp.get("p99")),
        "p99_9_ms": ms(lp.get("p99.9")), "max_ms": ms(s.get("slowest")),
        "requests_per_s": round(s.get("requestsPerSec") or 0, 1),
        "success_rate": s.get("successRate"),
    }


def percentile(values, p):
    """The value at rank round(p% of n-1) of the sorted values (None when there are none)."""
    if not values:
        return None
    values = sorted(values)
    return round(values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))], 3)


def epoch(value) -> float:
    """An access-log time (RFC 3339 text, or epoch seconds or milliseconds) in epoch seconds."""
    if isinstance(value, (int, float)):
        return value / 1000 if value > 1e11 else float(value)
    return datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


def access_rows(path: str, port: int | None = None, listener: str | None = None):
    """The access log's requests through one listener (its port or ARN), each with `_t` (epoch
    seconds). Returns (rows, the first record seen, for the report)."""
    rows, sample = [], None
    with open(path) as f:
        for line in f:
            try:
                r = json.loads(line)
            except ValueError:
                continue
            if r.get("type") not in (None, "log", "access"):
                continue
            rec = r.get("entry", r)
            sample = sample or rec
            if rec.get("port") != port and rec.get("listener") != listener:
                continue
            rec["_t"] = epoch(rec.get("time") or rec.get("timestamp") or rec.get("at"))
            rows.append(rec)
    return rows, sample


def window(rows) -> dict:
    """Requests, failures (any status but 2xx), status codes and the proxy's p50/p99 of rows."""
    lat = [float(r.get("latency_ms", r.get("latency", 0)) or 0) for r in rows]
    bad = [r for r in rows if not str(r.get("status", "")).startswith("2")]
    statuses = {}
    for r in rows:
        statuses[str(r.get("status"))] = statuses.get(str(r.get("status")), 0) + 1
    return {"requests": len(rows), "failed": len(bad), "status_codes": statuses,
            "p50_ms": percentile(lat, 50), "p99_ms": percentile(lat, 99)}


def port_versions(tasks) -> dict[int, str]:
    """Host port -> the image tag of the task that listened on it (DescribeTasks' tasks, the
    stopped ones included): ferry local's tasks listen on 127.0.0.1 and their targets are
    127.0.0.1:PORT."""
    out = {}
    for t in tasks:
        version = None
        for c in t.get("containers", []):
            image = c.get("image", "")
            version = image.rsplit(":", 1)[-1] if ":" in image else version
        for c in t.get("containers", []):
            for b in c.get("networkBindings", []) or []:
                if b.get("hostPort"):
                    out[int(b["hostPort"])] = version
    return out


def version_of(row, versions: dict[int, str]) -> str | None:
    """The version that answered an access-log row (None: no target, or an unknown port)."""
    port = str(row.get("target", "")).rsplit(":", 1)[-1]
    return versions.get(int(port)) if port.isdigit() else None
