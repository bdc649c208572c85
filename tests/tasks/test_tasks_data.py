"""Documents from every kind of source, the limit sample, and clear failures offline."""

import json

import datasets
import huggingface_hub
import pytest
from datasets import Dataset, load_from_disk
from PIL import Image

from luq.tasks import DataUnavailable, load_docs
from tests.tasks import fixtures


@pytest.fixture
def offline(monkeypatch):
    """No network whatever the environment says."""
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)


def test_save_to_disk_folders_dict_or_dataset(data, tmp_path):
    docs = load_docs("mme", str(data["mme"]))
    assert len(docs) == 8 and docs["doc_id"] == list(range(8))
    assert isinstance(docs[0]["image"], Image.Image)
    load_from_disk(str(data["mme"]))["test"].save_to_disk(str(tmp_path / "plain"))
    assert load_docs("mme", str(tmp_path / "plain"))["question"] == docs["question"]


def test_hub_snapshot_folder_with_configs_joins_gqa_images(tmp_path):
    path = fixtures.save_snapshot(tmp_path, "GQA", fixtures.gqa_datasets())
    docs = load_docs("gqa", str(path))
    assert docs["answer"] == ["yes", "left", "t-shirt", "left"]
    assert docs[2]["image"].getpixel((0, 0)) == fixtures.image(1).getpixel((0, 0))
    assert len(docs[0:2]["image"]) == 2  # batches get their images too


def test_gqa_per_config_folders(data):
    docs = load_docs("gqa", str(data["gqa"]), limit=2)
    assert len(docs) == 2 and all(isinstance(d["image"], Image.Image) for d in docs)


def test_gqa_without_its_images_says_what_is_missing(data, tmp_path):
    load_from_disk(str(data["gqa"] / "testdev_balanced_instructions")).save_to_disk(
        str(tmp_path / "questions_only"))
    with pytest.raises(DataUnavailable, match="testdev_balanced_images"):
        load_docs("gqa", str(tmp_path / "questions_only"))


def test_parquet_file_glob_and_folder(data, tmp_path):
    rows = load_from_disk(str(data["mme"]))["test"]
    (tmp_path / "pq").mkdir()
    rows.select(range(4)).to_parquet(str(tmp_path / "pq" / "test-00000-of-00002.parquet"))
    rows.select(range(4, 8)).to_parquet(str(tmp_path / "pq" / "test-00001-of-00002.parquet"))
    one = load_docs("mme", str(tmp_path / "pq" / "test-00000-of-00002.parquet"))
    assert len(one) == 4
    assert len(load_docs("mme", str(tmp_path / "pq" / "*.parquet"))) == 8
    assert load_docs("mme", str(tmp_path / "pq"))["question"] == rows["question"]


def test_image_folder_with_metadata(tmp_path):
    folder = tmp_path / "pope_images"
    folder.mkdir()
    with open(folder / "metadata.jsonl", "w") as meta:
        for row in fixtures.pope_rows():
            name = f"{row['image_source']}.png"
            row.pop("image").save(folder / name)
            meta.write(json.dumps({"file_name": name, **row}) + "\n")
    docs = load_docs("pope", str(folder))
    assert docs["answer"] == [a for _, a, _ in fixtures.POPE_ROWS]
    assert docs[0]["image"].size == (32, 32)


def test_limit_keeps_mme_pairs_order_and_is_stable(data):
    full = load_docs("mme", str(data["mme"]))
    small = load_docs("mme", str(data["mme"]), limit=3)
    assert len(small) == 4  # two whole images
    ids = small["doc_id"]
    assert ids == sorted(ids) and small["question"] == [full["question"][i] for i in ids]
    assert all(small["question_id"].count(q) == 2 for q in small["question_id"])
    assert load_docs("mme", str(data["mme"]), limit=3)["doc_id"] == ids
    assert set(ids) <= set(load_docs("mme", str(data["mme"]), limit=5)["doc_id"])
    assert len(load_docs("mme", str(data["mme"]), limit=100)) == 8
    with pytest.raises(ValueError, match="limit"):
        load_docs("mme", str(data["mme"]), limit=0)


def test_limit_on_single_documents_and_mmbench_rotations(data):
    assert len(load_docs("textvqa_val", str(data["textvqa_val"]), limit=2)) == 2
    docs = load_docs("mmbench_en_dev", str(data["mmbench_en_dev"]), limit=1)
    assert sorted({i % 1_000_000 for i in docs["index"]}) in ([5], [9])
    assert len(docs) in (4, 2)


def test_builtin_shapes_split():
    docs = load_docs("shapes", limit=5)
    assert len(docs) == 5 and set(docs.column_names) >= {"image", "question", "answer"}
    assert len(load_docs("shapes", split="calibration")) == 512


def test_missing_hub_dataset_offline_says_what_to_download(offline):
    with pytest.raises(DataUnavailable) as err:
        load_docs("mme")
    message = str(err.value)
    assert "\n" not in message
    assert "hf download --repo-type dataset lmms-lab-encoder/MME" in message
    assert "lmms-lab/MME" in message and "--data" in message and "save_to_disk" in message


def test_other_unavailable_sources(offline, tmp_path):
    with pytest.raises(DataUnavailable, match="lmms-lab/textvqa"):
        load_docs("textvqa_val", "lmms-lab/textvqa")
    with pytest.raises(DataUnavailable, match="no such file or folder"):
        load_docs("mme", str(tmp_path / "nowhere" / "mme"))
    with pytest.raises(DataUnavailable, match="no file matches"):
        load_docs("mme", str(tmp_path / "*.parquet"))


def test_wrong_schema_is_named(data, tmp_path):
    with pytest.raises(ValueError, match="does not hold textvqa_val documents: no column answers"):
        load_docs("textvqa_val", str(data["mme"]))
    Dataset.from_list([{"question": "q", "answers": ["a"]}]).save_to_disk(str(tmp_path / "t"))
    with pytest.raises(ValueError, match="no column image"):
        load_docs("textvqa_val", str(tmp_path / "t"))
