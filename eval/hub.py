"""Load a Hub model id without the Hub's half-minute of retries: from the local cache when it is
there, after one quick reachability check when it is not."""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path
from typing import Callable, TypeVar
from urllib.parse import urlparse
from urllib.request import getproxies, proxy_bypass

from eval.core.errors import UserError

T = TypeVar("T")
REACH_TIMEOUT_S = 3.0
_TRUE = {"1", "ON", "YES", "TRUE"}


def from_hub_or_cache(load: Callable[..., T], source: str) -> T:
    """``load(**options)`` for a model that is a local folder or a Hub id.

    A local folder is loaded as it is. A Hub id in the local Hugging Face cache is read from there
    with ``local_files_only=True`` (no network call); the Hub is asked only when the cache lacks a
    file (a download cut short). One that is not cached is fetched after :func:`check_hub_reachable`.

    Args:
        load: calls ``from_pretrained(source, **options)``; it takes ``local_files_only``.
        source: a local folder or a Hub id (``org/name``).

    Raises:
        UserError: the id is not cached and ``HF_HUB_OFFLINE`` is set or the Hub cannot be reached.
    """
    if Path(source).expanduser().exists():
        return load()
    if is_cached(source):
        try:
            return load(local_files_only=True)
        except OSError:  # a file the cache lacks (what transformers raises): fetch it when we may
            if is_offline():
                raise
    check_hub_reachable(source)
    return load()


def is_cached(repo_id: str) -> bool:
    """Whether the local Hugging Face cache holds the ``config.json`` of ``repo_id`` (no network call)."""
    from huggingface_hub import try_to_load_from_cache

    try:
        return isinstance(try_to_load_from_cache(repo_id, "config.json"), str)
    except Exception:  # not a valid repo id: from_pretrained names the problem
        return False


def is_offline() -> bool:
    """Whether the user asked the Hugging Face libraries never to use the network (``HF_HUB_OFFLINE=1``)."""
    return any(os.environ.get(name, "").upper() in _TRUE for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def check_hub_reachable(repo_id: str) -> None:
    """One TCP connection to the Hub (or the HTTPS proxy in front of it), 3 s at most.

    Raises:
        UserError: ``HF_HUB_OFFLINE`` is set, or the connection fails.
    """
    if is_offline():
        raise UserError(f"{repo_id} is not in the local Hugging Face cache and HF_HUB_OFFLINE is set; pass a local "
                        f"model folder, or unset HF_HUB_OFFLINE so it can be fetched")
    hub, (host, port) = _hub_host(), _first_hop()
    if not _connects(host, port, REACH_TIMEOUT_S):
        via = f" through the proxy {host}" if host != hub else ""
        raise UserError(f"cannot reach the Hugging Face Hub ({hub}){via} to fetch {repo_id}; pass a local model "
                        f"folder, or run once with network access so it is cached")


def _connects(host: str, port: int, timeout: float) -> bool:
    """Whether a TCP connection to ``host:port`` opens within ``timeout`` seconds, name lookup
    included (``create_connection``'s timeout leaves out the lookup, which an offline resolver can
    stretch to many seconds), so the attempt runs in a thread that is given up on."""
    opened: list[bool] = []

    def attempt() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            opened.append(True)
        except OSError:
            opened.append(False)

    thread = threading.Thread(target=attempt, name="hub-reachability", daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(opened and opened[0])


def _hub_host() -> str:
    from huggingface_hub import constants

    return urlparse(constants.ENDPOINT).hostname or "huggingface.co"


def _first_hop() -> tuple[str, int]:
    """Where a request to the Hub first connects: its HTTPS proxy when one is set (a direct
    connection may be blocked there while the proxy works), else the Hub endpoint itself."""
    from huggingface_hub import constants

    endpoint = urlparse(constants.ENDPOINT)
    proxy = getproxies().get(endpoint.scheme or "https")
    if proxy and not proxy_bypass(_hub_host()):
        address = urlparse(proxy if "://" in proxy else f"http://{proxy}")
        if address.hostname:
            return address.hostname, address.port or (443 if address.scheme == "https" else 80)
    return _hub_host(), endpoint.port or (80 if endpoint.scheme == "http" else 443)
