"""Every benchmark fixture, built once per session in a temporary folder."""

import datasets
import pytest

from tests.tasks import fixtures


@pytest.fixture(scope="session", autouse=True)
def datasets_cache(tmp_path_factory):
    """Arrow caches of local folders go to a temporary folder, not the user's cache."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(datasets.config, "HF_DATASETS_CACHE",
                      tmp_path_factory.mktemp("hf-datasets-cache"))
        yield


@pytest.fixture(scope="session")
def data(tmp_path_factory):
    """Task name -> the folder of its offline fixture."""
    root = tmp_path_factory.mktemp("benchmarks")
    return {"mme": fixtures.build_mme_fixture(root),
            "textvqa_val": fixtures.build_textvqa_fixture(root),
            "vqav2_val": fixtures.build_vqav2_fixture(root),
            "pope": fixtures.build_pope_fixture(root),
            "gqa": fixtures.build_gqa_fixture(root),
            "scienceqa_img": fixtures.build_scienceqa_fixture(root),
            "chartqa": fixtures.build_chartqa_fixture(root),
            "docvqa_val": fixtures.build_docvqa_fixture(root),
            "mmbench_en_dev": fixtures.build_mmbench_fixture(root)}
