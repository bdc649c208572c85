"""The process-level model cache."""

import threading
import time

from components.workbench import ModelCache


def test_the_model_cache_loads_a_model_once_under_concurrent_first_requests():
    started = []

    def slow_loader(name):
        started.append(name)
        time.sleep(0.3)
        return object()

    cache = ModelCache(loader=slow_loader)
    got = []
    threads = [threading.Thread(target=lambda: got.append(cache.get("m"))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert started == ["m"] and cache.loads == 1 and len({id(x) for x in got}) == 1
