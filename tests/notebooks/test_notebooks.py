"""Every tutorial notebook executes top to bottom (stored without outputs)."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, tmp_path, monkeypatch, run_cache_dir):
    # the kernel inherits the environment: the notebooks cache into this test run's cache,
    # never the user's, and notebook 04 reads the FPGA build test_flow.py made (or the other
    # way round)
    monkeypatch.setenv("VTA_CACHE_DIR", str(run_cache_dir))
    nb = nbformat.read(path, as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), \
        f"{path.name} is stored with outputs; clear them"
    # a cell's limit: notebook 04's build cell (or its wait on the lock of test_flow.py's
    # build of the same bitstream) takes ~5 min on a quiet 2-core machine, 10+ on a busy one
    NotebookClient(nb, timeout=1800, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    written = sorted(p.name for p in tmp_path.iterdir())
    assert not written, f"{path.name} wrote {written} into its working directory (the " \
                        "notebooks/ folder when a user runs it): write to a temporary directory"


def test_there_are_notebooks():
    assert NOTEBOOKS
