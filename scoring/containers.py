"""Docker plumbing shared by the docker sandbox and the official scorer: client, images, limits.

Images: an environment's image is `rearena/env-<name>:latest`, built from the
environment's `Dockerfile` (or a default one) on top of a base image
(`rearena/base:bookworm`, see docker/build_base_image.sh; `REARENA_BASE_IMAGE` or
`--base-image` chooses another). The build context holds only that Dockerfile and the
environment's `image/` folder, never its scorer, so nothing hidden can end up in an image.
Every image has the non-root user `participant` (uid 1000).

Containers: read-only root file system; writable places are size-limited tmpfs mounts
(the disk limit), whose pages count as memory, so the memory limit is the manifest's
memory plus those sizes; a pids limit; CPUs as a CFS quota; no network unless the
environment asks; all capabilities dropped except a few for root's housekeeping;
no-new-privileges; tini as PID 1 reaps orphans; GPUs by device request.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import threading

from scoring.container_exec import ContainerError, describe_error

DEFAULT_BASE_IMAGE = "rearena/base:bookworm"
PARTICIPANT = "participant"
PARTICIPANT_UID = 1000
# In a scoring container the scorer's helpers that run untrusted input (restricted_mlm's graph runner) run as
# this uid, no user of the image: the candidate (PARTICIPANT_UID) can neither signal nor trace them.
HELPER_UID = 1001
HOME = "/home/participant"
WORKDIR = f"{HOME}/workdir"
GB = 1 << 30
MB = 1 << 20
DEFAULT_DOCKERFILE = """\
ARG BASE_IMAGE=rearena/base:bookworm
FROM ${BASE_IMAGE}
RUN useradd --create-home --uid 1000 --user-group --shell /bin/bash participant
"""
# Root inside a container keeps only what copying files and running the scorer's candidate as
# another user need; the participant (uid 1000) has no capabilities at all.
ROOT_CAPS = ["CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "KILL", "SETUID", "SETGID"]

_local = threading.local()


def base_image(override: str | None = None) -> str:
    """The base image: the argument, else $REARENA_BASE_IMAGE, else rearena/base:bookworm."""
    return override or os.environ.get("REARENA_BASE_IMAGE") or DEFAULT_BASE_IMAGE


def image_name(env) -> str:
    """The docker image of an environment."""
    return f"rearena/env-{env.name}:latest"


def client():
    """A docker client for this thread (DOCKER_HOST or the default socket); ContainerError if unreachable."""
    cached = getattr(_local, "client", None)
    if cached is not None:
        return cached
    try:
        import docker
    except ImportError:
        raise ContainerError("the docker sandbox needs the `docker` Python package (pip install docker)") from None
    try:
        made = docker.from_env(version="auto", timeout=60)
        made.ping()
    except Exception as exc:
        where = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
        raise ContainerError(f"the docker daemon is not reachable ({where}: {exc}); start dockerd "
                             "(or set DOCKER_HOST) and try again") from None
    _local.client = made
    return made


def available(timeout: float = 3.0) -> bool:
    """Whether a docker daemon answers within `timeout` seconds (at once false when there is no socket)."""
    if not os.environ.get("DOCKER_HOST") and not os.path.exists("/var/run/docker.sock"):
        return False
    if getattr(_local, "client", None) is not None:
        return True
    try:
        import docker

        docker.from_env(version="auto", timeout=timeout).ping()
        return True
    except Exception:
        return False


def scope_of(data_dir) -> str:
    """The label value tying containers to one data folder (its database and workdirs), by its real path: the
    same folder reached through a symlink is the same scope."""
    return _scope(os.path.realpath(os.path.expanduser(str(data_dir))))


def scopes_of(data_dir) -> list[str]:
    """scope_of, then the scope that containers made before it resolved links carry (by the absolute path,
    links kept), where that differs: those containers are still the data folder's."""
    scopes = [scope_of(data_dir), _scope(os.path.abspath(os.path.expanduser(str(data_dir))))]
    return scopes[:1] if scopes[0] == scopes[1] else scopes


def _scope(path: str) -> str:
    return hashlib.sha256(path.encode()).hexdigest()[:16]


def owner() -> str:
    """host:pid of this process, the label of containers that die with it."""
    return f"{socket.gethostname()}:{os.getpid()}"


# -- images --------------------------------------------------------------------------------


def dockerfile_of(env) -> str:
    """The environment's Dockerfile text, or the default one (with the python_packages step, if any)."""
    path = env.path / "Dockerfile"
    text = path.read_text() if path.is_file() else DEFAULT_DOCKERFILE
    if getattr(env, "image_packages", ()):
        from scoring.image_packages import DOCKERFILE_STEP

        text = text.rstrip("\n") + "\n" + DOCKERFILE_STEP
    return text


def _recipe(env, base: str) -> str:
    digest = hashlib.sha256(dockerfile_of(env).encode() + b"\0" + base.encode())
    digest.update(json.dumps(sorted(getattr(env, "image_packages", ()))).encode())
    extra = env.path / "image"
    if extra.is_dir():
        for path in sorted(extra.rglob("*")):
            if path.is_file():
                digest.update(str(path.relative_to(extra)).encode() + path.read_bytes())
    return digest.hexdigest()[:16]


def _context(env, base: str, log=None):
    """The build context: the Dockerfile, the image/ folder and the wheels of [image] python_packages."""
    import tarfile
    import tempfile

    from scoring import image_packages
    from scoring.container_exec import add_bytes, tar_folder

    wheels = python = None
    if getattr(env, "image_packages", ()):
        python = image_packages.image_python(base)
        wheels = image_packages.download(env.image_packages, python, log=log)
    data = tempfile.TemporaryFile()  # wheels can be hundreds of MB: on disk, not in memory
    extra = env.path / "image"
    if extra.is_dir():
        data.write(tar_folder(extra))
        data.seek(0)
    with tarfile.open(fileobj=data, mode="a" if extra.is_dir() else "w") as tar:
        add_bytes(tar, "Dockerfile", dockerfile_of(env).encode())
        if wheels is not None:
            image_packages.add_to_context(tar, wheels, python)
    data.seek(0)
    return data


def build_image(env, base: str | None = None, *, log=None, stop=None) -> str:
    """Build the environment's image on `base` (network: host, for package installs); returns its name.

    `stop` (a callable, asked in this thread) ends the build when it says so (ContainerError): the request
    is cut, and dockerd cancels the build (its step's container removed). The python_packages download
    before it is not stopped."""
    import docker.errors

    api = client()
    base = base_image(base)
    try:
        api.images.get(base)
    except docker.errors.ImageNotFound:
        raise ContainerError(f"base image {base} not found: build it with docker/build_base_image.sh "
                             "(or pass --base-image)") from None
    name = image_name(env)
    try:
        previous = api.images.get(name).id
    except docker.errors.ImageNotFound:
        previous = None
    with _context(env, base, log) as context:
        built = _build(name, stop, log, fileobj=context, custom_context=True, tag=name, rm=True, forcerm=True,
                       buildargs={"BASE_IMAGE": base}, network_mode="host", pull=False,
                       labels={"rearena.env": env.name, "rearena.recipe": _recipe(env, base), "rearena.base": base})
    try:
        uid = api.containers.run(name, ["id", "-u", PARTICIPANT], remove=True, network_mode="none")
    except docker.errors.ContainerError:
        uid = b""
    if uid.strip() != str(PARTICIPANT_UID).encode():
        api.images.remove(name, force=True)  # never leave an image that ensure_image would take as good
        raise ContainerError(f"{name} has no user {PARTICIPANT} with uid {PARTICIPANT_UID}: its Dockerfile must "
                             f"create it (see environments/FORMAT.md)")
    built = api.images.get(built).id
    if previous and previous != built:
        try:
            api.images.remove(previous)  # the image this one replaces (kept while a container uses it)
        except docker.errors.APIError:
            pass
    return name


def ensure_image(env, base: str | None = None, stop=None) -> str:
    """The environment's image, built first (stoppable: build_image) when it is missing or its Dockerfile
    changed."""
    import docker.errors

    name = image_name(env)
    try:
        image = client().images.get(name)
        if image.labels.get("rearena.recipe") == _recipe(env, image.labels.get("rearena.base") or base_image(base)):
            return name
    except docker.errors.ImageNotFound:
        pass
    return build_image(env, base, stop=stop)


class _StoppableReader:
    """The build context as requests uploads it, cut (OSError) once the build is stopped."""

    mode = "rb"  # what the HTTP client asks of a file body

    def __init__(self, fileobj, stopped: threading.Event):
        self._fileobj, self._stopped = fileobj, stopped

    def read(self, size: int = -1) -> bytes:
        """The next block, unless the build is stopped."""
        if self._stopped.is_set():
            raise OSError("the image build was stopped")
        return self._fileobj.read(size)

    def fileno(self) -> int:
        """The file's descriptor (requests takes the upload's length from it)."""
        return self._fileobj.fileno()

    def tell(self) -> int:
        """Where the upload stands."""
        return self._fileobj.tell()


def _build(name: str, stop, log, **kwargs) -> str:
    """Run a build through the API; its id. The stream is read in a thread (its own client) while this one
    asks `stop`, so that a step with no output can be stopped too: the upload is cut, or the response's
    socket shut down (dockerd cancels a build whose client has gone)."""
    import queue

    stopped, responses, events = threading.Event(), [], queue.Queue()
    kwargs["fileobj"] = _StoppableReader(kwargs["fileobj"], stopped)

    def read() -> None:
        made = None
        try:
            made = client()  # this thread's own: the hook below sees only the build's request
            made.api.hooks["response"].append(lambda response, *args, **kw: responses.append(response))
            for item in made.api.build(decode=True, **kwargs):
                events.put(("item", item))
            events.put(("end", None))
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
            events.put(("error", exc))
        finally:
            if made is not None:
                made.close()

    reader = threading.Thread(target=read, name=f"build {name}", daemon=True)
    reader.start()
    built, tail = "", []
    try:
        while True:
            if stop is not None and stop():
                raise ContainerError(f"building {name} was stopped before it finished")
            try:
                what, item = events.get(timeout=0.2)
            except queue.Empty:
                continue
            if what == "error":
                raise ContainerError(f"building {name} failed: {describe_error(item)}")
            if what == "end":
                break
            text = str(item.get("stream", ""))
            tail = (tail + [text or str(item.get("error", ""))])[-200:]
            if "error" in item:
                raise ContainerError(f"building {name} failed: {item['error']}\n{''.join(tail)[-3000:]}")
            found = re.search(r"(^Successfully built |sha256:)([0-9a-f]+)$", text.strip())
            built = found.group(2) if found else built
            if log and text.strip():
                log(text.rstrip("\n"))
    except BaseException:
        stopped.set()  # a stop, a failure, Ctrl-C: the build goes no further
        for response in responses:
            _shut(response)
        reader.join(timeout=10)
        raise
    if not built:
        raise ContainerError(f"building {name} failed: docker did not say which image it built\n"
                             f"{''.join(tail)[-3000:]}")
    return built


def _shut(response) -> None:
    """Shut down the socket of a streamed HTTP response (another thread's read of it ends)."""
    sock = getattr(getattr(response.raw, "connection", None), "sock", None)
    try:
        if sock is not None:
            sock.shutdown(socket.SHUT_RDWR)
        else:
            response.close()
    except OSError:
        pass


# -- containers ----------------------------------------------------------------------------


def tmpfs_option(size_bytes: int, uid: int = 0, mode: str = "0755") -> str:
    """A docker tmpfs mount option string."""
    return f"size={int(size_bytes)},uid={uid},gid={uid},mode={mode},exec"


def gpu_requests():
    """Device requests for GPUs: $REARENA_DOCKER_GPUS ("all" by default, or device ids "0,1")."""
    from docker.types import DeviceRequest

    wanted = os.environ.get("REARENA_DOCKER_GPUS", "all").strip()
    if wanted == "all":
        return [DeviceRequest(count=-1, capabilities=[["gpu"]])]
    return [DeviceRequest(device_ids=[d.strip() for d in wanted.split(",") if d.strip()], capabilities=[["gpu"]])]


def network_mode(hardware) -> str:
    """The container's network: none, unless the environment asks for one ($REARENA_DOCKER_NETWORK, "bridge"
    by default: a network's name; container:NAME is refused). ContainerError when it asks and docker has no
    such network (a daemon started with --bridge=none, as docker/start_dockerd.sh does by default, has no
    "bridge"): docker would start the container without any network, and the environment would fail in ways
    that do not say why."""
    if not hardware.network:
        return "none"
    wanted = os.environ.get("REARENA_DOCKER_NETWORK", "bridge").strip() or "bridge"
    if ":" in wanted:  # container:NAME (another's network stack: no hostname of its own, docker records its id)
        raise ContainerError(f"REARENA_DOCKER_NETWORK={wanted!r} is not supported: set it to the name of a docker "
                             f"network (docker network ls: bridge, host, or one made with docker network create)")
    try:
        found = any(net.name == wanted for net in client().networks.list(names=[wanted]))
    except ContainerError:
        raise
    except Exception as exc:  # noqa: BLE001 - the SDK's errors, the daemon gone
        raise ContainerError(f"cannot list docker's networks: {describe_error(exc)}") from None
    if not found:
        raise ContainerError(
            f"the environment asks for network access (hardware.network = true), but docker has no network "
            f"{wanted!r}: the daemon was started without it (docker/start_dockerd.sh starts dockerd with "
            f"--bridge=none unless REARENA_DOCKERD_BRIDGE=1). Start dockerd with a bridge network, or set "
            f"REARENA_DOCKER_NETWORK to a network that exists (docker network ls)")
    return wanted


def start_container(image: str, hardware, *, labels: dict[str, str], tmpfs: dict[str, tuple[int, int, str]],
                    memory_bytes: int, name: str | None = None):
    """Start a container that sleeps under tini, with the limits above; tmpfs: path -> (size, uid, mode)."""
    memory = int(memory_bytes + sum(size for size, _, _ in tmpfs.values()))
    kwargs = dict(
        command=["sleep", "infinity"], detach=True, init=True, user="root", hostname="sandbox", labels=labels,
        network_mode=network_mode(hardware),
        read_only=True, tmpfs={path: tmpfs_option(*spec) for path, spec in tmpfs.items()},
        mem_limit=memory, memswap_limit=memory, pids_limit=int(hardware.pids), nano_cpus=int(hardware.cpus * 1e9),
        cap_drop=["ALL"], cap_add=ROOT_CAPS, security_opt=["no-new-privileges"],
        environment={"LANG": "C.UTF-8", "HOME": HOME},
    )
    if hardware.gpu:
        kwargs["device_requests"] = gpu_requests()
    if name:
        kwargs["name"] = name
    try:
        return client().containers.run(image, **kwargs)
    except Exception as exc:
        raise ContainerError(f"cannot start a container from {image}: {describe_error(exc)}") from None


def remove_container(container) -> None:
    """Kill and remove a container (no error when it is already gone)."""
    try:
        container.remove(force=True, v=True)
    except Exception:
        pass
