"""The vision tower's output, computed once per picture while the tower stays as it is.

A plan changes decoder blocks only, so the vision tower and projector give the same features
for a picture under every plan: the arena's three answers see one picture, and every plan's
evaluation sees the same pictures in the same batches. On a CPU the tower is most of an
answer's time (SmolVLM-256M's 93 M-parameter SigLIP at one 512-pixel tile: about 1 s of a
1.2 s answer), so :func:`cache_image_features` wraps the model's ``get_image_features`` with
a bounded cache keyed by the exact pixel tensors and other arguments, and by the version
counters of the tower's weights, so a tower setting applied in place (``luq.tower``) misses.
It keeps the projected features only (``pooler_output``, what the forward pass reads).
With gradients enabled (training) the tower always runs.
"""

from __future__ import annotations

import functools
import hashlib
import threading
import types
from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import nn

LIMIT_BYTES = 256 << 20


class FeatureCache:
    """Least-recently-used outputs of ``get_image_features``, bounded in bytes.

    Attributes:
        limit: bytes of cached tensors at most (an output larger than it is not kept).
        hits, misses: calls answered from the cache, and calls that ran the tower.
    """

    def __init__(self, limit: int = LIMIT_BYTES) -> None:
        self.limit = limit
        self.entries: OrderedDict[bytes, tuple[object, int]] = OrderedDict()
        self.nbytes = 0
        self.hits = self.misses = 0
        self._lock = threading.Lock()

    def __deepcopy__(self, memo) -> FeatureCache:
        return FeatureCache(self.limit)  # a copied model starts with an empty cache

    def get(self, key: bytes):
        with self._lock:
            entry = self.entries.get(key)
            if entry is None:
                self.misses += 1
                return None
            self.entries.move_to_end(key)
            self.hits += 1
            return entry[0]

    def put(self, key: bytes, value) -> None:
        size = _nbytes(value)
        with self._lock:
            if size > self.limit or key in self.entries:
                return
            self.entries[key] = (value, size)
            self.nbytes += size
            while self.nbytes > self.limit:
                _, (_, old) = self.entries.popitem(last=False)
                self.nbytes -= old

    def clear(self) -> None:
        with self._lock:
            self.entries.clear()
            self.nbytes = 0


def _tensors(value):
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, dict):  # ModelOutput is a dict
        for v in value.values():
            yield from _tensors(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _tensors(v)


def _nbytes(value) -> int:
    return sum(t.numel() * t.element_size() for t in _tensors(value))


def _key(args: tuple, kwargs: dict, weights: Sequence[torch.Tensor]) -> bytes:
    digest = hashlib.blake2b(digest_size=20)
    digest.update(repr(tuple(w._version for w in weights)).encode())
    for name, value in [(str(i), a) for i, a in enumerate(args)] + sorted(kwargs.items()):
        digest.update(name.encode())
        if isinstance(value, torch.Tensor):
            t = value.detach().contiguous()
            digest.update(f"{t.dtype}{tuple(t.shape)}{t.device}".encode())
            digest.update(t.cpu().view(-1).view(torch.uint8).numpy().data)
        else:
            digest.update(repr(value).encode())
    return digest.digest()


def cache_image_features(model: nn.Module, tower_weights: Sequence[torch.Tensor],
                         limit: int = LIMIT_BYTES) -> FeatureCache | None:
    """Wraps ``model``'s ``get_image_features`` (its inner model's, where generation and the
    forward pass call it) with a :class:`FeatureCache`; returns it (None when the model has
    no such method). Installing twice returns the first cache."""
    owner = getattr(model, "model", None)
    if not callable(getattr(owner, "get_image_features", None)):
        owner = model
    if not callable(getattr(owner, "get_image_features", None)):
        return None
    existing = getattr(owner, "_luq_feature_cache", None)
    if existing is not None:
        return existing
    owner._luq_feature_cache = FeatureCache(limit)
    owner._luq_feature_weights = list(tower_weights)
    original = type(owner).get_image_features

    @functools.wraps(original)  # its signature too: generation reads the argument names
    def get_image_features(self, *args, **kwargs):
        return _cached(self, original, args, kwargs)

    # a bound method: a deep copy of the model binds it to the copy, with the copy's weights
    owner.get_image_features = types.MethodType(get_image_features, owner)
    return owner._luq_feature_cache


def _cached(self, original, args: tuple, kwargs: dict):
    if torch.is_grad_enabled():
        return original(self, *args, **kwargs)
    cache: FeatureCache = self._luq_feature_cache
    key = _key(args, kwargs, self._luq_feature_weights)
    found = cache.get(key)
    if found is None:
        found = _projected(original(self, *args, **kwargs))
        cache.put(key, found)
    return _projected(found)


def _projected(value):
    """A new output holding only the projected features (``pooler_output``), in a list of its
    own: what the forward pass reads (LLaVA, Idefics3/SmolVLM, Qwen2.5-VL). Kept, the tower's
    hidden states (all of CLIP's layers for LLaVA, 29 MB a picture) would crowd the cache
    out; handed out, a fresh object keeps generation's in-place reassignment of
    ``pooler_output`` (beams, several sequences) away from the cache."""
    pooled = getattr(value, "pooler_output", None)
    if not isinstance(value, dict) or pooled is None:
        return value
    return type(value)(pooler_output=type(pooled)(pooled) if isinstance(pooled, (list, tuple))
                       else pooled)
