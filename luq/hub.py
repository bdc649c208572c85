"""Hub look-ups that fail fast when the Hugging Face hub cannot be reached.

``huggingface_hub`` retries a failed request five times with back-off (1+2+4+8+8 s): an
unknown hub id on a machine without network took 23 s to fail. Before a hub look-up, one
TCP connection to the hub's host (a 2-second time-out, remembered for a minute) tells
whether the network is there; when it is not, ``huggingface_hub`` and ``datasets`` are put
in offline mode (the local cache still answers) until a later probe reaches the hub again.
``HF_HUB_OFFLINE=1`` skips the probe: offline, always.
"""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from urllib.parse import urlparse

HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}/[\w.-]{1,96}$")
"""What a hub repository id looks like: ``organisation/name``."""
PROBE_TIMEOUT_S = 2.0
REPROBE_S = 60.0
_TRUE = {"1", "true", "yes", "on"}
_state = {"checked": -1e9, "online": True}
_lock = threading.Lock()


def offline_requested() -> bool:
    """Whether the environment asks for offline mode (``HF_HUB_OFFLINE`` and friends)."""
    return any(os.environ.get(k, "").strip().lower() in _TRUE
               for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"))


def _set_offline(offline: bool) -> None:
    import datasets.config
    import huggingface_hub.constants

    huggingface_hub.constants.HF_HUB_OFFLINE = offline
    datasets.config.HF_HUB_OFFLINE = offline


def hub_online() -> bool:
    """Whether hub look-ups may use the network now (see the module's docstring)."""
    if offline_requested():
        return False
    with _lock:
        now = time.monotonic()
        if now - _state["checked"] >= REPROBE_S:
            from huggingface_hub import constants

            host = urlparse(constants.ENDPOINT).hostname or "huggingface.co"
            try:
                socket.create_connection((host, 443), timeout=PROBE_TIMEOUT_S).close()
                online = True
            except OSError:
                online = False
            _state.update(checked=now, online=online)
            _set_offline(not online)
        return bool(_state["online"])
