"""Hub look-ups fail fast without network, instead of five retries (23 s)."""

import time

import luq.hub as hub


def test_offline_is_honoured_without_a_probe(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hub.socket, "create_connection", lambda *a, **k: 1 / 0)
    assert hub.hub_online() is False


def test_an_unreachable_hub_switches_to_offline_mode_at_once(monkeypatch):
    import datasets.config
    import huggingface_hub.constants

    for key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", "https://127.0.0.1:9")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", False)
    monkeypatch.setitem(hub._state, "checked", -1e9)
    start = time.monotonic()
    assert hub.hub_online() is False
    assert time.monotonic() - start < hub.PROBE_TIMEOUT_S + 1
    assert huggingface_hub.constants.HF_HUB_OFFLINE and datasets.config.HF_HUB_OFFLINE
    monkeypatch.setitem(hub._state, "checked", -1e9)
