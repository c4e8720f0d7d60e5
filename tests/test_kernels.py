"""Warm kernels (toolkit.kernels): notebooks run one after another in one kernel see nothing of
each other; a kernel works in the notebook's folder; papermill's output format is kept; nothing
but the notebook's own output appears in it."""

from __future__ import annotations

import nbformat
import pytest

from toolkit import report as rp
from toolkit.kernels import WarmKernel


def _nb(path, *sources, params=""):
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(params)
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell] + [nbformat.v4.new_code_cell(s) for s in sources]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


@pytest.fixture(scope="module")
def kernel():
    k = WarmKernel().start()
    yield k
    k.close()


def test_notebooks_in_one_kernel_see_nothing_of_each_other(kernel, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = _nb(tmp_path / "a" / "first.ipynb",
                "secret = 42\nimport pandas as pd\npd.set_option('display.max_rows', 3)\n"
                "import matplotlib.pyplot as plt\nplt.rcParams['figure.dpi'] = 17\nplt.figure()")
    second = _nb(tmp_path / "b" / "second.ipynb",
                 "assert 'secret' not in globals() and 'pd' not in globals()",
                 "import os, pandas as pd, matplotlib.pyplot as plt\n"
                 "assert pd.get_option('display.max_rows') == 60\n"
                 "assert plt.rcParams['figure.dpi'] != 17 and plt.get_fignums() == []\n"
                 f"assert os.getcwd() == {str(tmp_path / 'b')!r}, os.getcwd()\n"
                 "print(x)",
                 # a first cell that takes a while: a message printed by another thread of the
                 # kernel (IPython's history writer) lands in the cell running at the time
                 params="import time\ntime.sleep(0.5)\nx = 1")
    r1 = rp.execute(first, tmp_path / "out1.ipynb", {}, kernel)
    r2 = rp.execute(second, tmp_path / "out2.ipynb", {"x": "given"}, kernel)
    assert (r1.status, r2.status) == ("ok", "ok"), (r1.error, r2.error)
    out = nbformat.read(tmp_path / "out2.ipynb", as_version=4)
    # papermill's format: parameters injected, metadata kept, execution counts from 1
    assert out.metadata.papermill.parameters == {"x": "given"}
    assert "injected-parameters" in out.cells[1].metadata.tags
    assert [c.execution_count for c in out.cells if c.cell_type == "code"] == [1, 2, 3, 4]
    assert out.cells[-1].outputs[0]["text"] == "given\n"
    # nothing else printed: no kernel chatter in a page (IPython's history database complained
    # "ERROR! Session/line number was not unique" when the execution count restarted)
    assert [c.outputs for c in out.cells[:-1] if c.cell_type == "code"] == [[], [], []]


def test_after_a_failure_the_next_notebook_gets_a_fresh_kernel(kernel, tmp_path):
    bad = _nb(tmp_path / "bad.ipynb", "import sys\nsys.modules['marker'] = 1\n1 / 0")
    good = _nb(tmp_path / "good.ipynb", "import sys\nassert 'marker' not in sys.modules")
    r1 = rp.execute(bad, tmp_path / "bad_out.ipynb", {}, kernel)
    assert r1.status == "failed" and "ZeroDivisionError" in r1.error and r1.line == "1 / 0"
    assert kernel.dirty
    r2 = rp.execute(good, tmp_path / "good_out.ipynb", {}, kernel)
    assert r2.status == "ok", r2.error
