"""The ferry binary with a generic registry: `ferry tag` moves an environment tag in Debian's
`docker-registry` (Distribution 2.8), configured through `[registries.NAME]` in ferry.toml.

The registry is started here on 127.0.0.1 with an htpasswd user and a temporary root; the
two versions of the image (1.0.0 and 1.1.0, which differ in their config blob) are pushed
by `skopeo` from an OCI layout this file writes by hand, and every result is read back with
`skopeo inspect --raw`, so what ferry did is judged by another tool. `ferry tag` also
connects to the environment, which points at the suite's ferry local (no ECS call is
needed to move a tag).

Needs docker-registry, skopeo and htpasswd (run.sh installs them);
FERRY_CONFORMANCE_REGISTRY=0 skips this file as it skips ferry-registry's own tests.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import socket
import subprocess
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import REGION

USER = "ferry-e2e"
PASSWORD = "e2e-s3cret"
REPOSITORY = "web"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
VERSIONS = ("1.0.0", "1.1.0")

if os.environ.get("FERRY_CONFORMANCE_REGISTRY", "1") == "0":
    pytest.skip("FERRY_CONFORMANCE_REGISTRY=0: the registry tests are off", allow_module_level=True)


# --- an OCI image layout, written by hand ----------------------------------------------------


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def write_blob(layout: Path, media_type: str, data: bytes) -> dict:
    digest = sha256(data)
    blobs = layout / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)
    (blobs / digest.removeprefix("sha256:")).write_bytes(data)
    return {"mediaType": media_type, "digest": digest, "size": len(data)}


def one_file_tar(name: str, content: bytes) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        info = tarfile.TarInfo(name)
        info.size, info.mtime, info.mode = len(content), 1_700_000_000, 0o644
        tar.addfile(info, io.BytesIO(content))
    return out.getvalue()


def write_layout(layout: Path) -> dict[str, str]:
    """One layer shared by both versions; each version has its own config (its VERSION
    variable), so each has its own manifest digest. Returns version → manifest digest."""
    tar = one_file_tar("app.txt", b"hello from ferry's registry test\n")
    layer = write_blob(layout, OCI_LAYER, gzip.compress(tar, mtime=0))
    entries, digests = [], {}
    for version in VERSIONS:
        config = {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Cmd": ["/app"], "Env": [f"VERSION={version}"]},
            "rootfs": {"type": "layers", "diff_ids": [sha256(tar)]},
        }
        config = write_blob(layout, OCI_CONFIG, json.dumps(config).encode())
        manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config, "layers": [layer]}
        descriptor = write_blob(layout, OCI_MANIFEST, json.dumps(manifest).encode())
        digests[version] = descriptor["digest"]
        entries.append({**descriptor, "annotations": {"org.opencontainers.image.ref.name": version}})
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": entries}))
    (layout / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    return digests


# --- the registry ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def need(tool: str) -> str:
    path = shutil.which(tool)
    if not path:
        pytest.fail(f"{tool} is not installed: run the suite with `bash tests/conformance/run.sh`, which installs it")
    return path


def run(command: list[str], *, timeout: float = 120, **kwargs) -> subprocess.CompletedProcess:
    proc = subprocess.run(command, capture_output=True, timeout=timeout, **kwargs)
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(command)} exited {proc.returncode}:\n{proc.stderr.decode(errors='replace')}")
    return proc


@dataclass
class Distribution:
    host: str
    root: Path

    def skopeo(self, *args: str) -> bytes:
        return run([need("skopeo"), "--insecure-policy", *args]).stdout

    def raw(self, tag: str) -> bytes:
        """The manifest bytes skopeo reads for web:TAG."""
        return self.skopeo("inspect", "--raw", "--tls-verify=false", "--creds", f"{USER}:{PASSWORD}",
                           f"docker://{self.host}/{REPOSITORY}:{tag}")

    def digest(self, tag: str) -> str | None:
        """sha256 of what skopeo reads for web:TAG, None when the tag does not exist."""
        proc = subprocess.run(
            [need("skopeo"), "--insecure-policy", "inspect", "--raw", "--tls-verify=false",
             "--creds", f"{USER}:{PASSWORD}", f"docker://{self.host}/{REPOSITORY}:{tag}"],
            capture_output=True, timeout=120,
        )
        if proc.returncode != 0:
            message = proc.stderr.decode(errors="replace")
            assert "manifest unknown" in message or "not found" in message.lower(), message
            return None
        return sha256(proc.stdout)

    def blob_files(self) -> list[str]:
        blobs = self.root / "storage" / "docker" / "registry" / "v2" / "blobs"
        return sorted(str(p.relative_to(blobs)) for p in blobs.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    root = tmp_path_factory.mktemp("registry")
    htpasswd = run([need("htpasswd"), "-Bbn", USER, PASSWORD]).stdout
    (root / "htpasswd").write_bytes(htpasswd)
    port = free_port()
    (root / "config.yml").write_text(
        "version: 0.1\n"
        "log:\n  level: info\n  accesslog:\n    disabled: false\n"
        f"storage:\n  filesystem:\n    rootdirectory: {root / 'storage'}\n"
        "  maintenance:\n    uploadpurging:\n      enabled: false\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
        f"auth:\n  htpasswd:\n    realm: ferry-e2e\n    path: {root / 'htpasswd'}\n"
    )
    log = open(root / "registry.log", "wb")
    child = subprocess.Popen([need("docker-registry"), "serve", str(root / "config.yml")],
                             stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if child.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"docker-registry did not listen on {port}:\n"
                                         + (root / "registry.log").read_text(errors="replace"))
                time.sleep(0.05)
        distribution = Distribution(f"127.0.0.1:{port}", root)
        digests = write_layout(root / "layout")
        for version in VERSIONS:
            distribution.skopeo("copy", "--quiet", "--dest-tls-verify=false", "--dest-creds", f"{USER}:{PASSWORD}",
                                f"oci:{root / 'layout'}:{version}", f"docker://{distribution.host}/{REPOSITORY}:{version}")
        # skopeo stored the manifests exactly as the layout has them.
        for version in VERSIONS:
            assert distribution.digest(version) == digests[version], version
        assert digests["1.0.0"] != digests["1.1.0"]
        yield distribution
    finally:
        child.terminate()
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(timeout=10)
        log.close()


# --- the project -------------------------------------------------------------------------------


@dataclass
class Project:
    dir: Path
    ferry_bin: str

    def ferry(self, *args: str, password: str = PASSWORD) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FERRY_")}
        env.update(REG_PASSWORD=password, NO_COLOR="1", FERRY_USER="conformance")
        return subprocess.run(
            [self.ferry_bin, *args, "--config", str(self.dir / "ferry.toml"), "--ledger", str(self.dir / "ledger.sqlite")],
            capture_output=True, text=True, env=env, cwd=self.dir, timeout=120,
        )


@pytest.fixture(scope="module")
def project(registry, ferry_url, ferry_bin, tmp_path_factory) -> Project:
    directory = tmp_path_factory.mktemp("project")
    (directory / "ferry.toml").write_text(f"""\
[registries.local]
url = "http://{registry.host}"
username = "{USER}"
password_env = "REG_PASSWORD"

[environments.dev]
region = "{REGION}"
cluster = "registry-e2e"
endpoint_url = "{ferry_url}"
credentials = "ferry-local"
bake = "0s"
image_tag = "{{{{ environment }}}}"

[services.web]
repository = "{REPOSITORY}"
registry = "local"
container = "app"
from = "live"
""")
    return Project(directory, ferry_bin)


def result_of(proc: subprocess.CompletedProcess) -> dict:
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    assert lines, f"no output; stderr:\n{proc.stderr}"
    result = json.loads(lines[-1])
    assert result["type"] == "result", lines[-1]
    return result


def output(proc: subprocess.CompletedProcess) -> str:
    return proc.stdout + proc.stderr


# --- the scenarios -------------------------------------------------------------------------------


def test_ferry_tag_moves_the_environment_tag_to_the_versions_digest(registry, project):
    version_digest = sha256(registry.raw("1.1.0"))
    blobs_before = registry.blob_files()
    previous = registry.digest("dev")

    tagged = project.ferry("tag", "web", "1.1.0", "dev", "--output", "json")
    assert tagged.returncode == 0, output(tagged)
    result = result_of(tagged)
    assert result["command"] == "tag"
    assert result["repository"] == REPOSITORY and result["tag"] == "dev"
    assert result["digest"] == version_digest
    assert result["previous_digest"] == previous
    # skopeo reads the same manifest bytes under dev as under 1.1.0.
    assert registry.raw("dev") == registry.raw("1.1.0")
    assert registry.digest("dev") == version_digest
    assert registry.blob_files() == blobs_before, "a retag writes no blob"

    # Back to 1.0.0: the previous digest is 1.1.0's; in text, the short digests.
    older = sha256(registry.raw("1.0.0"))
    back = project.ferry("tag", "web", "1.0.0", "dev", "--output", "json")
    assert back.returncode == 0, output(back)
    assert result_of(back)["digest"] == older
    assert result_of(back)["previous_digest"] == version_digest
    assert registry.digest("dev") == older

    again = project.ferry("tag", "web", "1.1.0", "dev")
    assert again.returncode == 0, output(again)
    assert "web:dev" in again.stdout and "1.1.0" in again.stdout, output(again)
    assert registry.digest("dev") == version_digest


def test_a_missing_version_is_refused_naming_it_and_moves_nothing(registry, project):
    before = registry.digest("dev")
    missing = project.ferry("tag", "web", "9.9.9", "dev", "--output", "json")
    assert missing.returncode == 4, output(missing)
    assert "web:9.9.9" in output(missing), output(missing)
    assert registry.digest("dev") == before
    assert registry.digest("9.9.9") is None


def test_a_wrong_password_fails_naming_registry_and_user_and_moves_nothing(registry, project):
    # Put dev somewhere known first, then try to move it with the wrong password.
    assert project.ferry("tag", "web", "1.0.0", "dev").returncode == 0
    before = registry.digest("dev")
    assert before == sha256(registry.raw("1.0.0"))

    refused = project.ferry("tag", "web", "1.1.0", "dev", password="not-the-password")
    assert refused.returncode != 0, output(refused)
    assert refused.returncode != 4, f"a wrong password is not a missing image:\n{output(refused)}"
    message = output(refused)
    assert registry.host in message, message
    assert USER in message, message
    assert registry.digest("dev") == before, "the tag did not move"
