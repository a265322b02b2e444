#!/usr/bin/env python3
"""The retag done by `oci-client` (its raw manifest API) against ferry's own client, and
`skopeo copy`, on the same local docker-registry: requests sent and wall time.

bench/oci-retag is a small binary (its own Cargo workspace, so oci-client never enters
ferry's dependency tree) that moves a tag with either client:
- `oci`: oci-client 0.18 `pull_manifest_raw` (source), `fetch_manifest_digest` (the tag's
  previous digest, as ferry reports it), `push_manifest_raw` with the manifest's mediaType;
- `ferry`: ferry-registry's `RegistryClient::retag` (GET source, HEAD tag, PUT).
Both print the time of the retag itself (after the client is built). The registry, images
and skopeo runs are bench/retag.py's (an OCI layout written by hand, pushed by skopeo).

Per auth setting (htpasswd, then none) and per run, each tool moves `dev` to the other
version; the tag is put back (untimed) before each run, and checked afterwards to hold the
version's digest. The registry's access log gives each run's requests.

Needs cargo, docker-registry, skopeo and htpasswd (apache2-utils). Standard library only.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import ferrybench as fb
import retag as rt


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--binary", help="a built bench/oci-retag binary (default: build it with cargo --release)")
    p.add_argument("--size", type=int, default=10, help="layer size in MB (10^6 bytes)")
    p.add_argument("--runs", type=int, default=15, help="timed runs per tool and auth setting")
    p.add_argument("--auth", default="htpasswd,none", help="registry configurations, in order: htpasswd and/or none")
    p.add_argument("--timeout", type=float, default=120.0, help="time limit of one command, seconds")
    p.add_argument("--workdir", help="keep the registry and logs here (default: a temp dir, removed)")
    p.add_argument("--out", help="write the results as JSON here")
    return p.parse_args()


def build():
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "oci-retag")
    target = os.environ.get("OCI_RETAG_TARGET_DIR", os.path.join(tempfile.gettempdir(), "oci-retag-target"))
    rt.log(f"building {here} (target {target})")
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=here, check=True, timeout=1800,
                   env={**os.environ, "CARGO_TARGET_DIR": target})
    return os.path.join(target, "release", "oci-retag")


def tool_command(tool, binary, skopeo, registry, repository, version):
    if tool == "skopeo":
        return rt.skopeo_copy(skopeo, registry, f"{repository}:{version}", f"{repository}:dev")
    creds = [rt.USER, rt.PASSWORD] if registry.auth == "htpasswd" else []
    return [binary, tool, registry.host, repository, version, "dev", *creds]


def measure(args, binary, skopeo, registry, repository, digests):
    tools = ("oci", "ferry", "skopeo")
    move = lambda version: rt.run(tool_command("ferry", binary, skopeo, registry, repository, version), args.timeout)
    for tool in tools:  # warm-up, untimed: each tool moves the tag both ways once
        for version in ("1.1.0", "1.0.0"):
            rt.run(tool_command(tool, binary, skopeo, registry, repository, version), args.timeout)
    results = {tool: {"ns": [], "retag_ms": [], "requests": []} for tool in tools}
    for i in range(args.runs):
        version, other = rt.VERSIONS[(i + 1) % 2], rt.VERSIONS[i % 2]
        for tool in tools:
            move(other)
            assert registry.digest(repository, "dev") == digests[other]
            offset = registry.log_offset()
            elapsed, proc = rt.timed(tool_command(tool, binary, skopeo, registry, repository, version), args.timeout)
            requests = registry.requests_since(offset)
            got = registry.digest(repository, "dev")
            assert got == digests[version], f"{tool}: dev is {got}, expected {version}'s {digests[version]}"
            results[tool]["ns"].append(elapsed)
            results[tool]["requests"].append([f"{m} {p} {s}" for m, p, s, _, _ in requests])
            if tool != "skopeo":
                digest, previous, retag_ms = proc.stdout.split()
                assert digest == digests[version] and previous == digests[other], proc.stdout
                results[tool]["retag_ms"].append(float(retag_ms))
    out = {}
    for tool, r in results.items():
        counts = sorted({len(x) for x in r["requests"]})
        out[tool] = {"wall_ms": rt.ms(r["ns"]), "requests_per_run": counts, "requests_first_run": r["requests"][0]}
        if r["retag_ms"]:
            out[tool]["retag_ms"] = fb.summarize_ms([int(x * 1e6) for x in r["retag_ms"]])
    for tool in ("oci", "ferry"):
        out[tool]["ratio_to_skopeo_p50"] = round(out[tool]["wall_ms"]["p50"] / out["skopeo"]["wall_ms"]["p50"], 3)
    return out


def main():
    args = parse_args()
    skopeo = rt.need("skopeo")
    binary = args.binary or build()
    workdir = args.workdir or tempfile.mkdtemp(prefix="ferry-bench-retag-oci.")
    os.makedirs(workdir, exist_ok=True)
    repository = f"img{args.size}"
    results = {"size_mb": args.size, "runs": args.runs, "auth": {}}
    registry = rt.Registry(workdir, args.timeout, "htpasswd")
    try:
        results["versions"] = {
            "docker-registry": rt.run(["dpkg-query", "-W", "-f=${Version}", "docker-registry"], 10, check=False).stdout.strip(),
            "skopeo": rt.run([skopeo, "--version"], 10).stdout.strip(),
        }
        digests = rt.prepare(args, registry, skopeo, [args.size], [repository])[args.size]["digests"]
        for auth in args.auth.split(","):
            if auth != registry.auth:
                registry.stop()
                registry = rt.Registry(workdir, args.timeout, auth)
            results["auth"][auth] = measure(args, binary, skopeo, registry, repository, digests)
    finally:
        registry.stop()
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    fb.write_json(args.out, results)
    print("| auth | tool | requests per retag | wall p50 (min–max), ms | retag alone p50, ms | / skopeo (wall p50) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for auth, by_tool in results["auth"].items():
        for tool, r in by_tool.items():
            wall = r["wall_ms"]
            alone = r.get("retag_ms", {}).get("p50", "—")
            ratio = r.get("ratio_to_skopeo_p50", "—")
            print(f"| {auth} | {tool} | {'/'.join(map(str, r['requests_per_run']))} | {wall['p50']} ({wall['min']}–{wall['max']}) | {alone} | {ratio} |")
    print()
    for auth, by_tool in results["auth"].items():
        for tool, r in by_tool.items():
            print(f"{auth}, {tool}: " + ", ".join(r["requests_first_run"]))


if __name__ == "__main__":
    main()
