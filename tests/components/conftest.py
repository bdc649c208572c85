"""A launched app for the tests: the real server on 127.0.0.1, driven by clients."""

import os
import socket

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def app_url(tmp_path_factory):
    os.environ.setdefault("LUQ_CACHE_DIR", str(tmp_path_factory.mktemp("luq-cache")))
    from app import CONCURRENCY, MAX_FILE_SIZE, demo

    port = _free_port()
    demo.queue(default_concurrency_limit=CONCURRENCY).launch(
        server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
        show_error=False, max_file_size=MAX_FILE_SIZE)
    yield f"http://127.0.0.1:{port}/"
    demo.close()


@pytest.fixture(scope="session")
def client(app_url):
    from gradio_client import Client

    return Client(app_url, verbose=False)
