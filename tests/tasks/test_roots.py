"""Local task data only from the allowed folders; one reply for everything outside."""

import os

import pytest

from luq.tasks import DataUnavailable, load_docs
from luq.tasks.roots import DATA_DIRS_ENV, allowed_roots, is_allowed, looks_like_path
from tests.tasks.fixtures import build_mme_fixture


@pytest.fixture
def only(monkeypatch, tmp_path):
    """Allowed roots: ``tmp_path / "allowed"`` (and data/, the datasets cache)."""
    root = tmp_path / "allowed"
    root.mkdir()
    monkeypatch.setenv(DATA_DIRS_ENV, str(root))
    return root


def test_roots_are_data_the_datasets_cache_and_the_env(only):
    roots = allowed_roots()
    assert only.resolve() in roots and (os.getcwd() + "/data") in map(str, roots)


def test_paths_outside_get_the_same_message_whether_they_exist_or_not(only, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    replies = set()
    for path in ("/etc", "/etc/passwd", "/proc/self", "/no/such/path", str(outside),
                 str(only / ".." / "outside"), "~/.ssh", "/tmp/*.parquet"):
        with pytest.raises(DataUnavailable) as err:
            load_docs("mme", path, 5)
        replies.add(str(err.value))
    assert len(replies) == 1 and "allowed data folders" in replies.pop()


def test_symlinks_out_of_the_roots_are_refused(only, tmp_path):
    (only / "link").symlink_to("/etc")
    assert not is_allowed(only / "link")
    inner = only / "folder"
    inner.mkdir()
    (inner / "passwd").symlink_to("/etc/passwd")
    assert not is_allowed(inner)  # a folder whose own symlink leaves the roots
    with pytest.raises(DataUnavailable, match="allowed data folders"):
        load_docs("mme", str(only / "link"), 5)


def test_data_inside_the_roots_loads(only):
    data = build_mme_fixture(only / "mme")
    docs = load_docs("mme", str(data), 4)
    assert len(docs) >= 4


def test_hub_shaped_names_never_read_server_folders_outside(only, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "org").mkdir()
    (tmp_path / "org" / "name").mkdir()  # exists, but outside the roots: a hub id then
    with pytest.raises(DataUnavailable, match="not cached here"):
        load_docs("mme", "org/name", 5)
    assert looks_like_path("/etc") and looks_like_path("./x") and looks_like_path("a/b/c")
    assert not looks_like_path("lmms-lab/MME")
