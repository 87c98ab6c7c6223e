"""Python packages in an environment's docker image, installed with no package index inside the build.

An environment whose scorer or participant needs more than the base image's python3 lists the
packages in its manifest:

    [image]
    python_packages = ["torch==2.13.0", "numpy==2.4.6"]

On the host, rearena asks the base image which python it has (version, machine, glibc), then
`pip download`s wheels for exactly that python, with the host's pip configuration (its index,
find-links and constraints), into a cache: $XDG_CACHE_HOME/rearena/wheels/<key>/. The wheels go
into the build context as `rearena-packages/` with a small installer that unpacks them into the
image's site-packages (the base image has no pip, and the build needs no network for this).
The packages are part of the image's recipe, so changing them rebuilds the image.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

from scoring.container_exec import ContainerError

CONTEXT_DIR = "rearena-packages"
_PROBE = ("import json, platform, sys, sysconfig; print(json.dumps({'version': '%d.%d' % sys.version_info[:2], "
          "'machine': platform.machine(), 'glibc': platform.libc_ver()[1], "
          "'site': sysconfig.get_paths()['purelib'], 'scripts': sysconfig.get_paths()['scripts']}))")

# Run inside the build: unpacks every wheel of the folder it lies in into site-packages.
INSTALLER = '''\
"""Unpack the wheels beside this file into site-packages (the image has no pip; the build no index)."""
import json, os, shutil, sys, zipfile
from pathlib import Path

here = Path(__file__).resolve().parent
paths = json.loads((here / "paths.json").read_text())
site, scripts = Path(paths["site"]), Path(paths["scripts"])
site.mkdir(parents=True, exist_ok=True)
for wheel in sorted(here.glob("*.whl")):
    with zipfile.ZipFile(wheel) as archive:
        for info in archive.infolist():
            parts = Path(info.filename).parts
            if info.is_dir() or ".." in parts or info.filename.startswith("/"):
                continue
            target = site.joinpath(*parts)
            if parts[0].endswith(".data") and len(parts) > 2:
                kind = parts[1]
                if kind in ("purelib", "platlib"):
                    target = site.joinpath(*parts[2:])
                elif kind == "scripts":
                    target = scripts.joinpath(*parts[2:])
                else:
                    continue  # headers, data: not needed to import the package
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(info) as source, open(target, "wb") as out:
                shutil.copyfileobj(source, out)
            executable = (info.external_attr >> 16) & 0o111 or target.parent == scripts
            os.chmod(target, 0o755 if executable else 0o644)
    print(f"installed {wheel.name}")
'''

DOCKERFILE_STEP = f"""
# [image] python_packages of environment.toml: wheels downloaded on the host for this image's python
USER root
COPY {CONTEXT_DIR}/ /tmp/{CONTEXT_DIR}/
RUN python3 /tmp/{CONTEXT_DIR}/install.py && rm -rf /tmp/{CONTEXT_DIR}
"""


def cache_root() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "rearena" / "wheels"


def image_python(base: str) -> dict:
    """What python the image has: {'version', 'machine', 'glibc', 'site', 'scripts'}."""
    from scoring.containers import client

    try:
        out = client().containers.run(base, ["python3", "-c", _PROBE], remove=True, network_mode="none")
        info = json.loads(out.decode().strip().splitlines()[-1])
    except Exception as exc:
        raise ContainerError(f"cannot tell which python the image {base} has: {exc}") from None
    if not info.get("glibc"):
        raise ContainerError(f"the image {base} has no glibc python; python_packages need a glibc (manylinux) image")
    return info


def platform_tags(machine: str, glibc: str) -> list[str]:
    """Every manylinux tag a python on this glibc accepts (pip download does not expand them itself)."""
    major, minor = (int(part) for part in glibc.split(".")[:2])
    if major != 2:
        return [f"linux_{machine}"]
    tags = [f"manylinux_2_{m}_{machine}" for m in range(minor, 4, -1)]
    legacy = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}  # the last two: x86 only
    tags += [f"{name}_{machine}" for m, name in legacy.items()
             if m <= minor and (m == 17 or machine in ("x86_64", "i686"))]
    return tags


def download(packages: tuple[str, ...], python: dict, *, log=None) -> Path:
    """The folder of wheels for `packages` on `python` (downloaded once, then taken from the cache)."""
    key = hashlib.sha256(json.dumps([sorted(packages), python["version"], python["machine"], python["glibc"]])
                         .encode()).hexdigest()[:16]
    folder = cache_root() / key
    if (folder / "complete").is_file():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    version = python["version"]
    abi = "cp" + version.replace(".", "")
    argv = [sys.executable, "-m", "pip", "download", "--only-binary=:all:", "--dest", str(folder),
            "--python-version", version, "--implementation", "cp", "--abi", abi, "--progress-bar", "off"]
    for tag in platform_tags(python["machine"], python["glibc"]):
        argv += ["--platform", tag]
    if log:
        log(f"downloading wheels for python {version} ({python['machine']}): {' '.join(packages)}")
    done = subprocess.run(argv + ["--", *packages], capture_output=True, text=True)
    if done.returncode != 0:
        tail = (done.stdout + done.stderr).strip()[-2000:]
        raise ContainerError(f"downloading the image's python packages ({', '.join(packages)}) failed:\n{tail}")
    (folder / "complete").write_text("\n".join(sorted(p.name for p in folder.glob("*.whl"))) + "\n")
    return folder


def add_to_context(tar, wheels: Path, python: dict) -> None:
    """Put the wheels, the installer and where to install into an open build-context tar."""
    from scoring.container_exec import add_bytes

    for wheel in sorted(wheels.glob("*.whl")):
        tar.add(str(wheel), arcname=f"{CONTEXT_DIR}/{wheel.name}")
    add_bytes(tar, f"{CONTEXT_DIR}/install.py", INSTALLER.encode())
    paths = {"site": python["site"], "scripts": python["scripts"]}
    add_bytes(tar, f"{CONTEXT_DIR}/paths.json", json.dumps(paths).encode())
