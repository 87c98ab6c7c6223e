"""Docker's errors: ContainerError, and the SDK's errors told in words (a daemon that did not answer named as such).

scoring.container_exec re-exports these names (most code imports them from there); they live apart so
that modules below it (scoring.tar_extract) can raise ContainerError without importing the exec machinery.
"""

from __future__ import annotations


class ContainerError(Exception):
    """Docker is missing, unreachable or failed; the message says what to do."""


_UNREACHABLE = ("Connection aborted", "Connection refused", "No such file or directory", "Connection reset",
                "Max retries exceeded", "Read timed out")


def daemon_unreachable(exc: BaseException) -> bool:
    """Whether an error of docker's SDK says that the daemon did not answer (stopped, gone, its socket missing)."""
    try:
        from requests.exceptions import ConnectionError as RequestsConnectionError
        from requests.exceptions import Timeout
    except ImportError:  # no docker SDK at all: nothing of it raised this
        return False
    seen = exc
    for _ in range(5):  # the SDK wraps what requests raised, which wraps urllib3's and the socket's
        if isinstance(seen, (RequestsConnectionError, Timeout)):
            return True
        seen = seen.__cause__ or seen.__context__
        if seen is None:
            break
    return type(exc).__module__.startswith("docker") and any(word in str(exc) for word in _UNREACHABLE)


def describe_error(exc: BaseException) -> str:
    """A docker error in words: "the docker daemon is not reachable (...)" when it did not answer, else the
    SDK's explanation (or the message of a ContainerError)."""
    if isinstance(exc, ContainerError):
        return str(exc)
    if daemon_unreachable(exc):
        detail = str(exc).replace("\n", " ")[:300]
        return f"the docker daemon is not reachable ({type(exc).__name__}: {detail}); start it and try again"
    if type(exc).__module__.startswith("docker"):
        return f"docker: {getattr(exc, 'explanation', None) or exc}"
    return f"{type(exc).__name__}: {exc}"


def docker_errors() -> tuple[type[BaseException], ...]:
    """What to catch around docker: ContainerError and the errors of docker's SDK (and of requests below it)."""
    kinds: list[type[BaseException]] = [ContainerError]
    try:
        import docker.errors
        import requests.exceptions

        kinds += [docker.errors.DockerException, requests.exceptions.RequestException]
    except ImportError:
        pass
    return tuple(kinds)
