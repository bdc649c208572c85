"""The process-level cache of loaded models: one :class:`luq.session.Session` per model.

Models live here, not in ``gr.State`` (which must be deep-copyable). Each model is loaded
once, even when several requests ask for it at the same time: the first loads, the others
wait for it. Everything else (plans, runs under the lock, curves) is the session's.
"""

from __future__ import annotations

import atexit
import threading
from collections import OrderedDict

import gradio as gr

from luq.deploy import GGUFStore
from luq.models.loading import ModelLoadError, load_model
from luq.session import Session

MAX_MODELS = 2


class ModelCache:
    """A bounded LRU of sessions, one per model name, each loaded once.

    Args:
        max_models: sessions kept; the least recently used is dropped beyond it.
        loader: ``loader(name) -> Session`` (tests count calls through it).
        on_evict: ``on_evict(session)`` once a session leaves the cache.
    """

    def __init__(self, max_models: int = MAX_MODELS, loader=None, on_evict=None) -> None:
        self.max_models = max_models
        self.loader = loader or (lambda name: Session(load_model(name)))
        self.on_evict = on_evict  # called with each session dropped from the cache
        self.loads = 0  # models loaded so far
        self._items: OrderedDict[str, Session] = OrderedDict()
        self._loading: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> Session:
        """The session of ``name``, loading the model on first use.

        Raises:
            luq.models.loading.ModelLoadError: the model cannot be loaded (e.g. offline).
        """
        with self._lock:
            if name in self._items:
                self._items.move_to_end(name)
                return self._items[name]
            gate = self._loading.setdefault(name, threading.Lock())
        with gate:  # one loader per name; the others wait here, then find it cached
            with self._lock:
                if name in self._items:
                    self._items.move_to_end(name)
                    return self._items[name]
            session = self.loader(name)  # outside the cache lock: loading can take long
            with self._lock:
                self.loads += 1
                self._items[name] = session
                self._loading.pop(name, None)
                evicted = []
                while len(self._items) > self.max_models:
                    evicted.append(self._items.popitem(last=False)[1])
            for old in evicted:
                if self.on_evict:
                    self.on_evict(old)
        return session

    def names(self) -> list[str]:
        return list(self._items)


_STORES: dict[int, GGUFStore] = {}  # by id(session): GGUF exports and llama.cpp engines
_STORES_LOCK = threading.Lock()


def _drop_store(session: Session) -> None:
    with _STORES_LOCK:
        store = _STORES.pop(id(session), None)
    if store is not None:
        store.close()


MODELS = ModelCache(on_evict=_drop_store)


def session_or_error(model: str) -> Session:
    """The session of ``model``, or a ``gr.Error`` saying why it cannot be loaded."""
    try:
        return MODELS.get(model)
    except (ModelLoadError, ValueError, OSError) as err:
        raise gr.Error(f"Could not load {model}: {err}") from None


def gguf_store(session: Session) -> GGUFStore:
    """The session's GGUF exports and llama.cpp engines: one store per cached session,
    closed (engines dropped, files removed) when the session leaves the cache or the
    process exits."""
    with _STORES_LOCK:
        store = _STORES.get(id(session))
        if store is not None and store.session is session:
            return store
        stale, store = store, GGUFStore(session, engines=2)
        _STORES[id(session)] = store
    if stale is not None:
        stale.close()
    return store


@atexit.register
def _close_stores() -> None:
    for store in list(_STORES.values()):
        store.close()
