#!/usr/bin/env python3
"""Write the seed inputs of every fuzz target into fuzz/seeds/<target>/ (realistic, small: the repo's own
configs, `runc spec`, docker-style API bodies, small tar/image archives). `make fuzz-corpus` runs this and then
`cargo fuzz cmin` on each target, which keeps in fuzz/corpus/<target>/ the inputs that add coverage. Run as
root from the repository's top (it calls `runc spec` and `zstd` when they are installed)."""

import glob
import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import tomllib

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seeds")


def put(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def sha(data):
    return hashlib.sha256(data).hexdigest()


def tar_of(entries, fmt=tarfile.PAX_FORMAT):
    """entries: (name, kind, payload, extra) with kind file/dir/symlink/link/fifo/char."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as t:
        for name, kind, payload, extra in entries:
            info = tarfile.TarInfo(name)
            info.mtime = 1700000000
            info.mode = extra.get("mode", 0o755 if kind == "dir" else 0o644)
            info.uid = extra.get("uid", 0)
            info.gid = extra.get("gid", 0)
            if "pax" in extra:
                info.pax_headers = extra["pax"]
            data = None
            if kind == "file":
                info.type = tarfile.REGTYPE
                data = payload.encode() if isinstance(payload, str) else payload
                info.size = len(data)
            elif kind == "dir":
                info.type = tarfile.DIRTYPE
            elif kind == "symlink":
                info.type = tarfile.SYMTYPE
                info.linkname = payload
            elif kind == "link":
                info.type = tarfile.LNKTYPE
                info.linkname = payload
            elif kind == "fifo":
                info.type = tarfile.FIFOTYPE
            elif kind == "char":
                info.type = tarfile.CHRTYPE
                info.devmajor, info.devminor = 1, 3
            t.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


ROOTFS = [
    ("./", "dir", None, {}),
    ("./bin/", "dir", None, {}),
    ("./bin/busybox", "file", "#!/bin/sh\necho hi\n", {"mode": 0o755}),
    ("./bin/sh", "symlink", "busybox", {}),
    ("./bin/ls", "link", "./bin/busybox", {}),
    ("./etc/", "dir", None, {"mode": 0o755}),
    ("./etc/passwd", "file", "root:x:0:0:root:/root:/bin/sh\n", {}),
    ("./tmp/", "dir", None, {"mode": 0o1777}),
    ("./usr/bin/ping", "file", "x", {"mode": 0o4755, "pax": {"SCHILY.xattr.user.note": "seed"}}),
    ("./dev/null", "char", None, {}),
    ("./run/fifo", "fifo", None, {}),
]

LAYER = [
    ("etc/", "dir", None, {}),
    ("etc/.wh.passwd", "file", "", {}),
    ("var/", "dir", None, {}),
    ("var/.wh..wh..opq", "file", "", {}),
    ("var/new", "file", "layer two\n", {"uid": 1000, "gid": 1000}),
    ("abs", "symlink", "/etc/../../outside", {}),
]


def friendly():
    files = sorted(glob.glob("bundle/*.toml") + glob.glob("cgroups_example/*/*.toml")
                   + glob.glob("docs/lessons/*/*.toml"))
    for i, path in enumerate(files):
        with open(path, "rb") as f:
            text = f.read()
        put("friendly_toml", f"{i:02}-{os.path.basename(path)}", text)
        try:
            put("friendly_json", f"{i:02}.json", json.dumps(tomllib.loads(text.decode()), indent=1))
        except Exception:
            pass


def oci():
    if not shutil.which("runc"):
        return
    for args, name in ((["spec"], "runc-spec.json"), (["spec", "--rootless"], "runc-spec-rootless.json")):
        with tempfile.TemporaryDirectory() as d:
            subprocess.run(["runc", *args, "--bundle", d], check=True)
            with open(os.path.join(d, "config.json"), "rb") as f:
                spec = json.load(f)
            put("oci_config", name, json.dumps(spec, indent=1))
    spec["linux"]["resources"] = {"memory": {"limit": 67108864}, "pids": {"limit": 64},
                                  "cpu": {"quota": 50000, "period": 100000}}
    spec["mounts"].append({"destination": "/data", "type": "bind", "source": "/srv", "options": ["rbind", "ro"]})
    spec["hooks"] = {"prestart": [{"path": "/bin/true", "args": ["true"], "timeout": 5}]}
    spec["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW",
                                "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}
    put("oci_config", "resources-hooks-seccomp.json", json.dumps(spec, indent=1))
    put("oci_config", "resources-fragment.json", json.dumps({"memory": {"limit": 1048576}, "cpu": {"shares": 512}}))


def containyfile():
    put("containyfile", "app", """# a small image
FROM busybox
COPY hello.txt /srv/
COPY conf /etc/app/
RUN echo ran-the-run-step && \\
    echo "built by RUN" > /srv/built && rm /etc/base-file
ENV GREETING="hi there" OTHER=2
WORKDIR /srv
USER 1000:1000
LABEL purpose=test "with space"="yes"
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["/bin/sh", "-c", "cat hello.txt; echo $GREETING"]
""")
    put("containyfile", "scratch", "FROM scratch\nCOPY rootfs/ /\nCMD /bin/sh\n")


def tars():
    put("tar_extract", "rootfs", b"\x00" + tar_of(ROOTFS))
    put("tar_extract", "layer", b"\x01" + tar_of(LAYER))
    put("tar_extract", "gnu-long", b"\x00" + tar_of([("a/" + "n" * 120, "file", "long", {})], tarfile.GNU_FORMAT))


def docker_save(layer, repo_tag="busybox:latest"):
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "config": {"Env": ["PATH=/bin"], "Cmd": ["/bin/sh"], "WorkingDir": "/"},
                         "rootfs": {"type": "layers", "diff_ids": ["sha256:" + sha(layer)]}}).encode()
    manifest = json.dumps([{"Config": sha(config) + ".json", "RepoTags": [repo_tag],
                            "Layers": [sha(layer) + "/layer.tar"]}]).encode()
    return tar_of([("manifest.json", "file", manifest, {}), (sha(config) + ".json", "file", config, {}),
                   (sha(layer) + "/layer.tar", "file", layer, {})])


def oci_layout(layer_blob, diff_id, nested=False):
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/sh"]},
                         "rootfs": {"type": "layers", "diff_ids": ["sha256:" + diff_id]}}).encode()
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      "digest": "sha256:" + sha(config), "size": len(config)},
                           "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                                       "digest": "sha256:" + sha(layer_blob), "size": len(layer_blob)}]}).encode()
    blobs = [config, manifest, layer_blob]
    top = {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:" + sha(manifest),
           "size": len(manifest), "annotations": {"org.opencontainers.image.ref.name": "example.com/app:1"}}
    if nested:
        inner = json.dumps({"schemaVersion": 2, "manifests": [
            dict(top, platform={"os": "linux", "architecture": "arm64"}),
            dict(top, platform={"os": "linux", "architecture": "amd64"})]}).encode()
        blobs.append(inner)
        top = {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": "sha256:" + sha(inner),
               "size": len(inner)}
    index = json.dumps({"schemaVersion": 2, "manifests": [top]}).encode()
    entries = [("oci-layout", "file", '{"imageLayoutVersion":"1.0.0"}', {}), ("index.json", "file", index, {})]
    entries += [("blobs/sha256/" + sha(b), "file", b, {}) for b in blobs]
    return tar_of(entries)


def imports():
    rootfs = tar_of(ROOTFS)
    put("image_import", "rootfs.tar", rootfs)
    put("image_import", "rootfs.tar.gz", gzip.compress(rootfs, mtime=0))
    if shutil.which("zstd"):
        put("image_import", "rootfs.tar.zst", subprocess.run(["zstd", "-q", "-c"], input=rootfs,
                                                              capture_output=True, check=True).stdout)
    layer = tar_of(LAYER)
    put("image_import", "docker-save.tar", docker_save(layer))
    gz = gzip.compress(layer, mtime=0)
    put("image_import", "oci-layout.tar", oci_layout(gz, sha(layer)))
    put("image_import", "oci-layout-nested.tar", oci_layout(gz, sha(layer), nested=True))


def layouts():
    """Seeds in image_layout's own format (fuzz/src/lib.rs: documents split by \\n--\\n, @i/#i = digest of i)."""
    layer = tar_of(LAYER)
    sep = b"\n--\n"
    cfg = b'{"architecture":"amd64","os":"linux","config":{"Cmd":["/bin/sh"]},"rootfs":{"diff_ids":["@%d"]}}'
    docker = [b'[{"Config":"blobs/sha256/#1","RepoTags":["app:1"],"Layers":["blobs/sha256/#2"]}]', cfg % 2, layer]
    put("image_layout", "docker-save", sep.join(docker))
    oci = [b'{"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"@1",'
           b'"annotations":{"org.opencontainers.image.ref.name":"x/app:1"}}]}',
           b'{"schemaVersion":2,"config":{"digest":"@2"},"layers":[{"digest":"@3"}]}', cfg % 3, layer]
    put("image_layout", "oci", sep.join(oci))
    nested = [b'{"manifests":[{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"@1"}]}',
              b'{"manifests":[{"digest":"@2","platform":{"os":"linux","architecture":"amd64"}}]}',
              b'{"config":{"digest":"@3"},"layers":[{"digest":"@4"}]}', cfg % 4, layer]
    put("image_layout", "oci-nested", sep.join(nested))


def registry():
    d = "sha256:" + "a" * 64
    put("registry_manifest", "oci-index.json", json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": d, "size": 500,
             "platform": {"architecture": "amd64", "os": "linux"}},
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": d, "size": 500,
             "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"}},
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": d, "size": 500,
             "platform": {"architecture": "unknown", "os": "unknown"},
             "annotations": {"vnd.docker.reference.type": "attestation-manifest", "vnd.docker.reference.digest": d}}]}))
    put("registry_manifest", "docker-manifest.json", json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 1469, "digest": d},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 2, "digest": d}]}))
    put("registry_manifest", "config.json", json.dumps({
        "architecture": "amd64", "os": "linux", "created": "2024-01-01T00:00:00Z",
        "config": {"Env": ["PATH=/bin"], "Cmd": ["sh"], "User": "1000", "ExposedPorts": {"80/tcp": {}}},
        "rootfs": {"type": "layers", "diff_ids": [d]}}))
    put("registry_manifest", "challenge",
        'Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:a/b:pull"')
    put("registry_manifest", "reference", "registry.example.com:5000/team/app:1.2@" + d)


def api():
    put("api_create", "docker-run.json", json.dumps({
        "Image": "busybox", "Cmd": ["sh", "-c", "echo hi"], "Env": ["A=1"], "WorkingDir": "/tmp", "User": "1000",
        "Hostname": "box", "Tty": True, "OpenStdin": True, "Labels": {"containy.limits.wall": "10s"},
        "HostConfig": {"Binds": ["vol1:/data", "/srv:/srv:ro"], "Memory": 67108864, "NanoCpus": 500000000,
                       "PidsLimit": 64, "CapDrop": ["NET_RAW"], "CapAdd": ["SYS_PTRACE"],
                       "SecurityOpt": ["no-new-privileges"], "NetworkMode": "default",
                       "PortBindings": {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}]},
                       "Tmpfs": {"/run": "size=64m,mode=1777"}, "Ulimits": [{"Name": "nofile", "Soft": 1024,
                                                                             "Hard": 2048}],
                       "Mounts": [{"Type": "tmpfs", "Target": "/t"}, {"Type": "volume", "Source": "v2",
                                                                      "Target": "/v", "ReadOnly": True}],
                       "ReadonlyRootfs": True, "AutoRemove": True, "CpuShares": 512}}))
    put("api_create", "exec.json", json.dumps({"AttachStdout": True, "AttachStderr": True, "Tty": False,
                                               "Cmd": ["ls", "-l"], "Env": ["X=1"], "User": "0",
                                               "WorkingDir": "/"}))
    for i, target in enumerate([
            "/v1.41/containers/json?all=1&filters=%7B%22status%22%3A%5B%22exited%22%5D%2C%22label%22%3A%7B%22a%3Db%22%3Atrue%7D%7D",
            "/v1.44/containers/abc/kill?signal=SIGTERM", "/containers/abc/stop?t=5",
            "/v1.24/events?since=1700000000.5&until=1700000100&filters=%7B%22type%22%3A%5B%22container%22%5D%7D",
            "/v1.12/info", "/images/create?fromImage=busybox&tag=latest&platform=linux%2Famd64",
            "/containers/create?name=web+1"]):
        put("api_query", f"{i:02}", target)


def sync():
    for name, data in [("go", b"G"), ("hooks", b"H"), ("state", b'S{"ociVersion":"1.0.2","id":"c","status":"creating"}'),
                       ("ready", b"R"), ("pty", b"P"), ("pid", b"I" + (4242).to_bytes(4, "little")),
                       ("error", b"Emount proc on /proc: EPERM"), ("exec", b"X\x7fexec \"x\": not found")]:
        put("sync_message", name, data)


def main():
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    for step in (friendly, oci, containyfile, tars, imports, layouts, registry, api, sync):
        step()
    print(f"seeds written to {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
