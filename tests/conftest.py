"""Suite-wide isolation from committed artefacts that would otherwise decide what a test sees."""
from __future__ import annotations

import pytest

from lina_core.evaluation.methods import PREDICTOR_ENV


@pytest.fixture(autouse=True)
def no_saved_predictor(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """LINA's θ comes from the committed predictor (assets/lina-predictor) in use; in tests it is the default θ
    unless a test saves and points to a predictor of its own, so no result depends on the last training run."""
    monkeypatch.setenv(PREDICTOR_ENV, str(tmp_path_factory.getbasetemp() / "no-predictor"))
