#!/usr/bin/env python3
"""Retag benchmark: `ferry tag SERVICE VERSION ENV` vs `skopeo copy docker://…:V docker://…:ENV`
on the same local registry, for a small and a large image.

The script starts Debian's `docker-registry` (Distribution 2.8) on a free port of 127.0.0.1
with an htpasswd user, a temporary root and its access log on. For each size it writes an
OCI image layout by hand: one gzip layer (level 1) of random, incompressible content of that
size, and two versions (1.0.0 and 1.1.0) that share the layer and differ in their config
blob. skopeo pushes both versions once (the second push finds the layer there).

Then, per size, N timed runs of each tool. Every run moves the `dev` tag to the other
version (1.1.0, 1.0.0, 1.1.0, ...) so each run really writes the tag:
- ferry: `ferry tag imgN VERSION dev` through a ferry.toml `[registries.local]`
  (url, username, password_env): the wall time of the whole process.
- skopeo: `skopeo copy docker://HOST/imgN:VERSION docker://HOST/imgN:dev` with the same
  credentials: the wall time of the whole process.
- ferry with FERRY_LOG=ferry_registry=debug,aws_runtime::fs_util=debug, N more runs:
  ferry's run split by its own timestamps into start (exec, arguments, ferry.toml),
  clients (AWS SDK and registry clients), the registry calls alone (first `registry
  request` to `retagged`) and exit.
For every command the registry's access log lines it caused are kept: how many requests
of which kind, and how many bytes of blobs were read or written (what each tool really
did). After each run the tag is checked (outside the timed region) to hold the digest of
the version, so a tool that re-wrote the manifest would be caught.

Floors: `ferry --version` and `skopeo --version` (process start only), N runs each, and
one HEAD of a manifest on a keep-alive connection (what the registry spends per request).
With --auth htpasswd,none (the default) everything after the push is measured twice: with
the htpasswd user (bcrypt, checked on every request), then with the registry restarted on
the same storage without auth.

Needs docker-registry, skopeo and htpasswd (apache2-utils). Standard library only.
With --endpoint (a ferry local), the environment points there and the script checks that
`ferry tag` made no AWS call (`GET /_ferry/calls`); without it, at an unused port.
"""

import argparse
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
import zlib

import ferrybench as fb

USER = "bench"
PASSWORD = "bench-s3cret"
VERSIONS = ("1.0.0", "1.1.0")
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
MB = 1_000_000
CHUNK = 1 << 20
ACCESS = re.compile(r'"(?P<method>[A-Z]+) (?P<path>\S+) HTTP/[\d.]+" (?P<status>\d{3}) (?P<bytes>\d+|-) "[^"]*" "(?P<agent>[^"]*)"')
LOG_TIME = re.compile(r"^(\S+Z)\s")
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ferry", required=True, help="path of the ferry binary (release build)")
    p.add_argument("--endpoint", help="a ferry local URL for the environment (checked for zero AWS calls)")
    p.add_argument("--sizes", default="10,500", help="layer sizes in MB (10^6 bytes), comma-separated")
    p.add_argument("--runs", default="10,5", help="timed runs per size, comma-separated, same order as --sizes")
    p.add_argument("--auth", default="htpasswd,none",
                   help="registry configurations, in order: htpasswd (bcrypt, the main result) and/or none")
    p.add_argument("--timeout", type=float, default=120.0, help="time limit of one command, seconds")
    p.add_argument("--workdir", help="keep the registry, layouts and logs here (default: a temp dir, removed)")
    p.add_argument("--out", help="write the results as JSON here")
    return p.parse_args()


def log(msg):
    print(f"[retag] {msg}", file=sys.stderr, flush=True)


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def need(tool):
    path = shutil.which(tool)
    if not path:
        sys.exit(f"{tool} is not installed (apt-get install docker-registry skopeo apache2-utils)")
    return path


def run(command, timeout, env=None, check=True):
    proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {proc.returncode}:\n{proc.stderr}{proc.stdout}")
    return proc


# -- the image layout -------------------------------------------------------------------------


def write_blob(layout, media_type, data):
    digest = sha256(data)
    path = os.path.join(layout, "blobs", "sha256", digest.removeprefix("sha256:"))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    return {"mediaType": media_type, "digest": digest, "size": len(data)}


def write_random_layer(layout, size):
    """A gzip (level 1) tar holding one file of `size` random bytes, streamed to disk.
    Returns (descriptor, diff_id)."""
    blobs = os.path.join(layout, "blobs", "sha256")
    os.makedirs(blobs, exist_ok=True)
    tmp = os.path.join(blobs, "layer.tmp")
    info = tarfile.TarInfo("data.bin")
    info.size, info.mtime, info.mode = size, 1_700_000_000, 0o644
    header = info.tobuf(format=tarfile.USTAR_FORMAT)
    padding = b"\0" * ((-size) % 512) + b"\0" * 1024
    raw_hash, gz_hash = hashlib.sha256(), hashlib.sha256()
    compressor = zlib.compressobj(1, zlib.DEFLATED, 31)  # wbits 31: the gzip format
    written = 0
    with open(tmp, "wb") as f:

        def feed(data):
            nonlocal written
            raw_hash.update(data)
            out = compressor.compress(data)
            gz_hash.update(out)
            f.write(out)
            written += len(out)

        feed(header)
        left = size
        while left > 0:
            n = min(CHUNK, left)
            feed(os.urandom(n))
            left -= n
        feed(padding)
        tail = compressor.flush()
        gz_hash.update(tail)
        f.write(tail)
        written += len(tail)
    digest = "sha256:" + gz_hash.hexdigest()
    os.replace(tmp, os.path.join(blobs, gz_hash.hexdigest()))
    return {"mediaType": OCI_LAYER, "digest": digest, "size": written}, "sha256:" + raw_hash.hexdigest()


def write_layout(layout, size):
    """Two versions sharing one random layer; returns (version → manifest digest, layer)."""
    layer, diff_id = write_random_layer(layout, size)
    entries, digests = [], {}
    for version in VERSIONS:
        config = {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Cmd": ["/app"], "Env": [f"VERSION={version}"]},
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        }
        config = write_blob(layout, OCI_CONFIG, json.dumps(config).encode())
        manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config, "layers": [layer]}
        descriptor = write_blob(layout, OCI_MANIFEST, json.dumps(manifest).encode())
        digests[version] = descriptor["digest"]
        entries.append({**descriptor, "annotations": {"org.opencontainers.image.ref.name": version}})
    with open(os.path.join(layout, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": entries}, f)
    with open(os.path.join(layout, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion":"1.0.0"}')
    return digests, layer


# -- the registry -----------------------------------------------------------------------------


class Registry:
    """docker-registry over one storage root; `auth` is "htpasswd" (bcrypt, htpasswd -B) or
    "none". Restarting with another auth keeps the images."""

    def __init__(self, root, timeout, auth):
        self.root = root
        self.timeout = timeout
        self.auth = auth
        with open(os.path.join(root, "htpasswd"), "w") as f:
            f.write(run([need("htpasswd"), "-Bbn", USER, PASSWORD], timeout).stdout)
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        config = os.path.join(root, "config.yml")
        with open(config, "w") as f:
            f.write(
                "version: 0.1\n"
                "log:\n  level: error\n  accesslog:\n    disabled: false\n"
                f"storage:\n  filesystem:\n    rootdirectory: {os.path.join(root, 'storage')}\n"
                "  maintenance:\n    uploadpurging:\n      enabled: false\n"
                f"http:\n  addr: {self.host}\n"
                + (f"auth:\n  htpasswd:\n    realm: ferry-bench\n    path: {os.path.join(root, 'htpasswd')}\n"
                   if auth == "htpasswd" else "")
            )
        self.log_path = os.path.join(root, f"registry-{auth}.log")
        self.log_file = open(self.log_path, "ab")
        self.child = subprocess.Popen([need("docker-registry"), "serve", config], stdin=subprocess.DEVNULL,
                                      stdout=self.log_file, stderr=subprocess.STDOUT)
        fb.wait_until("docker-registry to listen", self._listening, 20, every=0.05)

    def _listening(self):
        if self.child.poll() is not None:
            raise RuntimeError(f"docker-registry exited:\n{open(self.log_path).read()}")
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            return True
        except OSError:
            return False

    def stop(self):
        self.child.terminate()
        try:
            self.child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.child.kill()
            self.child.wait(timeout=10)
        self.log_file.close()

    def log_offset(self):
        self.log_file.flush()
        return os.path.getsize(self.log_path)

    def requests_since(self, offset):
        """The access-log requests written after `offset` (bytes into the log)."""
        time.sleep(0.05)  # the access log line is written just after the response
        with open(self.log_path, "rb") as f:
            f.seek(offset)
            text = f.read().decode(errors="replace")
        out = []
        for line in text.splitlines():
            m = ACCESS.search(line)
            if m:
                out.append((m["method"], m["path"], int(m["status"]), 0 if m["bytes"] == "-" else int(m["bytes"]), m["agent"]))
        return out

    def digest(self, repository, tag):
        """The digest the registry serves for repository:tag (HEAD, Docker-Content-Digest)."""
        request = urllib.request.Request(f"http://{self.host}/v2/{repository}/manifests/{tag}", method="HEAD")
        request.add_header("Accept", OCI_MANIFEST)
        import base64

        request.add_header("Authorization", "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode())
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.headers["Docker-Content-Digest"]

    def blob_bytes_on_disk(self):
        total = 0
        for dirpath, _, files in os.walk(os.path.join(self.root, "storage", "docker", "registry", "v2", "blobs")):
            total += sum(os.path.getsize(os.path.join(dirpath, name)) for name in files)
        return total


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def summarize_requests(requests):
    """Counts by `METHOD kind status` and the bytes of blob bodies moved."""
    kinds = {}
    blob_bytes_read = 0
    uploads = 0
    for method, path, status, size, _ in requests:
        if "/blobs/uploads" in path:
            kind = "blob-upload"
            uploads += 1
        elif "/blobs/" in path:
            kind = "blob"
            if method == "GET" and status == 200:
                blob_bytes_read += size
        elif "/manifests/" in path:
            kind = "manifest"
        else:
            kind = "base"
        key = f"{method} {kind} {status}"
        kinds[key] = kinds.get(key, 0) + 1
    return {"requests": len(requests), "by_kind": dict(sorted(kinds.items())), "blob_bytes_read": blob_bytes_read,
            "blob_uploads": uploads}


# -- the tools --------------------------------------------------------------------------------


def write_project(directory, registry, endpoint, repositories):
    services = "".join(
        f'\n[services.{repo}]\nrepository = "{repo}"\nregistry = "local"\ncontainer = "app"\nfrom = "live"\n'
        for repo in repositories
    )
    with open(os.path.join(directory, "ferry.toml"), "w") as f:
        f.write(
            f'[registries.local]\nurl = "http://{registry.host}"\n'
            + (f'username = "{USER}"\npassword_env = "REG_PASSWORD"\n' if registry.auth == "htpasswd" else "")
            + "\n"
            f'[environments.dev]\nregion = "us-east-1"\ncluster = "bench"\nendpoint_url = "{endpoint}"\n'
            f'credentials = "ferry-local"\nimage_tag = "{{{{ environment }}}}"\n{services}'
        )
    return os.path.join(directory, "ferry.toml")


def ferry_env(extra=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("FERRY_")}
    env.update(REG_PASSWORD=PASSWORD, NO_COLOR="1", FERRY_USER="bench")
    env.update(extra or {})
    return env


def timed(command, timeout, env=None):
    t0 = time.perf_counter_ns()
    proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
    elapsed = time.perf_counter_ns() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {proc.returncode}:\n{proc.stderr}{proc.stdout}")
    return elapsed, proc


def ferry_phases(stderr, spawned, exited):
    """ferry's run split by its own log (FERRY_LOG=ferry_registry=debug,aws_runtime::fs_util=debug):
    - start: spawn → the first line of connecting to the environment (the AWS SDK's config
      loader logs first): exec, argument parsing, ferry.toml;
    - clients: → the first `registry request`: building the AWS SDK clients and the
      registry client;
    - registry: → `retagged` (or `already points`): the registry calls alone;
    - exit: → the process has exited: printing the result, tearing down.
    `spawned` and `exited` are time.time() around the process; the log's timestamps are
    the same wall clock. Returns (phases in ns, registry requests logged)."""
    connect = first_request = end = None
    requests = 0
    for line in ANSI.sub("", stderr).splitlines():
        m = LOG_TIME.match(line)
        if not m:
            continue
        stamp = iso_ns(m[1])
        if connect is None and "aws_runtime" in line:
            connect = stamp
        if "registry request" in line:
            requests += 1
            if first_request is None:
                first_request = stamp
        if "retagged" in line or "already points" in line:
            end = stamp
    if connect is None:
        # Since c2be2fe `ferry tag` of a [registries] service builds no AWS client: the
        # "clients" phase is then only the registry client, up to its first request.
        connect = first_request
    if None in (connect, first_request, end):
        raise RuntimeError(f"no timings in ferry's log:\n{stderr}")
    spawned_ns, exited_ns = int(spawned * 1e9), int(exited * 1e9)
    phases = {"start": connect - spawned_ns, "clients": first_request - connect, "registry": end - first_request,
              "exit": exited_ns - end}
    return phases, requests


def iso_ns(stamp):
    """2026-11-23T17:39:08.055920Z → nanoseconds since the epoch."""
    import calendar

    day, _, clock = stamp.rstrip("Z").partition("T")
    whole, _, frac = clock.partition(".")
    seconds = calendar.timegm(time.strptime(f"{day}T{whole}", "%Y-%m-%dT%H:%M:%S"))
    return seconds * 1_000_000_000 + int((frac + "000000000")[:9])


def ms(samples):
    return fb.summarize_ms(samples)


def skopeo_copy(skopeo, registry, source, dest, quiet=False):
    creds = f"{USER}:{PASSWORD}"
    command = [skopeo, "--insecure-policy", "copy"] + (["--quiet"] if quiet else [])
    command += ["--src-tls-verify=false", "--dest-tls-verify=false"]
    if registry.auth == "htpasswd":
        command += ["--src-creds", creds, "--dest-creds", creds]
    return command + [f"docker://{registry.host}/{source}", f"docker://{registry.host}/{dest}"]


def prepare(args, registry, skopeo, sizes, repositories):
    """Writes each size's layout, pushes both versions with skopeo, removes the layout."""
    prepared = {}
    for size, repository in zip(sizes, repositories):
        layout = os.path.join(registry.root, f"layout-{size}")
        log(f"{size} MB: writing the layout")
        t0 = time.monotonic()
        digests, layer = write_layout(layout, size * MB)
        made = time.monotonic() - t0
        log(f"{size} MB: layer {layer['size']} bytes compressed, written in {made:.1f} s; pushing with skopeo")
        pushes = []
        for version in VERSIONS:
            offset = registry.log_offset()
            elapsed, _ = timed([skopeo, "--insecure-policy", "copy", "--quiet", "--dest-tls-verify=false",
                                "--dest-creds", f"{USER}:{PASSWORD}",
                                f"oci:{layout}:{version}", f"docker://{registry.host}/{repository}:{version}"],
                               max(args.timeout, 600))
            pushes.append({"version": version, "seconds": round(elapsed / 1e9, 2),
                           "registry": summarize_requests(registry.requests_since(offset))})
            assert registry.digest(repository, version) == digests[version], f"skopeo changed the manifest of {version}"
        shutil.rmtree(layout)  # the registry has it now
        prepared[size] = {"digests": digests, "layer": layer, "layout_seconds": round(made, 1), "pushes": pushes}
    return prepared


def measure(args, registry, skopeo, size, count, repository, prep, config):
    """`count` timed runs of ferry, skopeo and ferry with its debug log, interleaved."""
    digests = prep["digests"]
    ferry_base = [args.ferry, "--config", config, "--ledger", os.path.join(registry.root, "ledger.sqlite")]
    # Warm-up (untimed): each tool moves the tag both ways once; it ends on 1.0.0.
    for version in ("1.1.0", "1.0.0"):
        run([*ferry_base, "tag", repository, version, "dev"], args.timeout, env=ferry_env())
        run(skopeo_copy(skopeo, registry, f"{repository}:{version}", f"{repository}:dev", quiet=True), args.timeout)
    if args.endpoint:
        urllib.request.urlopen(urllib.request.Request(f"{args.endpoint}/_ferry/calls", method="DELETE"), timeout=10)

    tools = {"ferry": {"ns": [], "registry": []}, "skopeo": {"ns": [], "registry": []},
             "ferry (debug log)": {"ns": [], "requests_logged": [], "registry": []}}
    skopeo_output = None
    for i in range(count):
        version = VERSIONS[(i + 1) % 2]  # 1.1.0, 1.0.0, 1.1.0, ...
        other = VERSIONS[i % 2]
        for name in ("ferry", "skopeo", "ferry (debug log)"):
            if name == "skopeo":
                command, env = skopeo_copy(skopeo, registry, f"{repository}:{version}", f"{repository}:dev"), None
            else:
                command = [*ferry_base, "tag", repository, version, "dev"]
                env = ferry_env({"FERRY_LOG": "ferry_registry=debug,aws_runtime::fs_util=debug"} if "debug" in name else None)
            # Put the tag back on the other version (untimed) so that this run moves it.
            run([*ferry_base, "tag", repository, other, "dev"], args.timeout, env=ferry_env())
            assert registry.digest(repository, "dev") == digests[other]
            offset = registry.log_offset()
            spawned = time.time()
            elapsed, proc = timed(command, args.timeout, env=env)
            exited = time.time()
            requests = registry.requests_since(offset)
            got = registry.digest(repository, "dev")
            assert got == digests[version], f"{name}: dev is {got}, expected {version}'s {digests[version]}"
            tools[name]["ns"].append(elapsed)
            tools[name]["registry"].append(summarize_requests(requests))
            if name == "skopeo" and skopeo_output is None:
                skopeo_output = proc.stdout + proc.stderr
            if "debug" in name:
                phases, logged = ferry_phases(proc.stderr, spawned, exited)
                for phase, value in phases.items():
                    tools[name].setdefault(f"phase {phase}", []).append(value)
                tools[name]["requests_logged"].append(logged)
    aws_calls = None
    if args.endpoint:
        with urllib.request.urlopen(f"{args.endpoint}/_ferry/calls", timeout=10) as response:
            aws_calls = json.loads(response.read())["total"]
    entry = {
        "auth": registry.auth,
        "size_mb": size,
        "layer_bytes": prep["layer"]["size"],
        "runs": count,
        "skopeo_output_first_run": skopeo_output,
        "aws_calls_by_ferry_tag": aws_calls,
        "ferry_ms": ms(tools["ferry"]["ns"]),
        "skopeo_ms": ms(tools["skopeo"]["ns"]),
        "ferry_debug_ms": ms(tools["ferry (debug log)"]["ns"]),
        "ferry_registry_calls_ms": ms(tools["ferry (debug log)"]["phase registry"]),
        "ferry_phases_ms": {p: ms(tools["ferry (debug log)"][f"phase {p}"]) for p in ("start", "clients", "registry", "exit")},
        "ferry_requests_logged": tools["ferry (debug log)"]["requests_logged"][0],
        "ferry_registry": tools["ferry"]["registry"][0],
        "skopeo_registry": tools["skopeo"]["registry"][0],
        "skopeo_blob_bytes_read_max": max(r["blob_bytes_read"] for r in tools["skopeo"]["registry"]),
        "skopeo_blob_uploads_max": max(r["blob_uploads"] for r in tools["skopeo"]["registry"]),
        "ferry_blob_bytes_read_max": max(r["blob_bytes_read"] for r in tools["ferry"]["registry"]),
        "raw_ns": {k: v["ns"] for k, v in tools.items()},
        "ferry_debug_requests_logged": tools["ferry (debug log)"]["requests_logged"],
    }
    entry["ratio_p50"] = round(entry["ferry_ms"]["p50"] / entry["skopeo_ms"]["p50"], 3)
    log(f"{registry.auth}, {size} MB: ferry p50 {entry['ferry_ms']['p50']} ms, skopeo p50 {entry['skopeo_ms']['p50']} ms, "
        f"ferry's registry calls p50 {entry['ferry_registry_calls_ms']['p50']} ms")
    return entry


def auth_cost(registry, count=50):
    """p50 of one authenticated HEAD of a manifest that does not exist (404 after the
    password check), on one keep-alive connection: what the registry spends per request."""
    import base64
    import http.client

    headers = {"Authorization": "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()} \
        if registry.auth == "htpasswd" else {}
    conn = http.client.HTTPConnection("127.0.0.1", registry.port, timeout=10)
    samples = []
    try:
        for _ in range(count + 5):
            t0 = time.perf_counter_ns()
            conn.request("HEAD", "/v2/none/manifests/none", headers=headers)
            response = conn.getresponse()
            response.read()
            samples.append(time.perf_counter_ns() - t0)
    finally:
        conn.close()
    return ms(samples[5:])


def main():
    args = parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    runs = [int(r) for r in args.runs.split(",")]
    auths = args.auth.split(",")
    if len(runs) != len(sizes):
        sys.exit("--runs needs one count per size")
    skopeo = need("skopeo")
    workdir = args.workdir or tempfile.mkdtemp(prefix="ferry-bench-retag.")
    os.makedirs(workdir, exist_ok=True)
    repositories = [f"img{size}" for size in sizes]
    endpoint = args.endpoint or "http://127.0.0.1:9"
    results = {"sizes": [], "request_cost": {}}
    registry = Registry(workdir, args.timeout, "htpasswd")
    try:
        results["versions"] = {
            "docker-registry": run(["dpkg-query", "-W", "-f=${Version}", "docker-registry"], 10, check=False).stdout.strip(),
            "skopeo": run([skopeo, "--version"], 10).stdout.strip(),
            "ferry": run([args.ferry, "--version"], 10).stdout.strip(),
        }
        log(f"registry at {registry.host}; {results['versions']}")
        results["floors"] = {
            name: ms([timed(command, args.timeout)[0] for _ in range(max(runs))])
            for name, command in (("ferry --version", [args.ferry, "--version"]), ("skopeo --version", [skopeo, "--version"]))
        }
        prepared = prepare(args, registry, skopeo, sizes, repositories)
        results["prepared"] = {size: {k: v for k, v in p.items() if k != "digests"} for size, p in prepared.items()}
        results["blob_bytes_stored"] = registry.blob_bytes_on_disk()
        for auth in auths:
            if auth != registry.auth:
                registry.stop()
                registry = Registry(workdir, args.timeout, auth)
            config = write_project(workdir, registry, endpoint, repositories)
            results["request_cost"][auth] = auth_cost(registry)
            for size, count, repository in zip(sizes, runs, repositories):
                results["sizes"].append(measure(args, registry, skopeo, size, count, repository, prepared[size], config))
    finally:
        registry.stop()
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)

    fb.write_json(args.out, results)
    print_markdown(results)


def print_markdown(results):
    print("| registry auth | image (one random layer) | runs | ferry tag p50 (min–max) | of which ferry's registry calls, p50 "
          "| skopeo copy p50 (min–max) | ferry / skopeo (p50) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for e in results["sizes"]:
        f, s, r = e["ferry_ms"], e["skopeo_ms"], e["ferry_registry_calls_ms"]
        print(f"| {e['auth']} | {e['size_mb']} MB ({e['layer_bytes'] / 1e6:.1f} MB gzip) | {e['runs']} "
              f"| {f['p50']:.1f} ms ({f['min']:.1f}–{f['max']:.1f}) | {r['p50']:.1f} ms "
              f"| {s['p50']:.1f} ms ({s['min']:.1f}–{s['max']:.1f}) | {e['ratio_p50']:.2f} |")
    print()
    print("ferry tag split by its own debug log (p50 of each phase over the debug-log runs):")
    print()
    print("| registry auth | image | whole command | start (exec, args, ferry.toml) | clients (AWS SDK + registry client) "
          "| registry calls | exit (print, teardown) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for e in results["sizes"]:
        p = e["ferry_phases_ms"]
        print(f"| {e['auth']} | {e['size_mb']} MB | {e['ferry_debug_ms']['p50']:.1f} ms | {p['start']['p50']:.1f} ms "
              f"| {p['clients']['p50']:.1f} ms | {p['registry']['p50']:.1f} ms | {p['exit']['p50']:.1f} ms |")
    print()
    print("| floor | p50 |")
    print("| --- | --- |")
    for name, value in results["floors"].items():
        print(f"| process start: `{name}` | {value['p50']:.1f} ms |")
    for auth, value in results["request_cost"].items():
        print(f"| one registry request (HEAD manifest, keep-alive), auth {auth} | {value['p50']:.2f} ms |")
    print()
    print("What each tool asked the registry for (first timed run, from the registry's access log):")
    print()
    for e in results["sizes"]:
        print(f"- {e['auth']}, {e['size_mb']} MB: ferry {e['ferry_registry']['by_kind']}; skopeo {e['skopeo_registry']['by_kind']}; "
              f"blob bytes read (max over runs): ferry {e['ferry_blob_bytes_read_max']}, skopeo {e['skopeo_blob_bytes_read_max']}; "
              f"blob uploads by skopeo: {e['skopeo_blob_uploads_max']}; AWS calls by ferry tag: {e['aws_calls_by_ferry_tag']}")


if __name__ == "__main__":
    main()
