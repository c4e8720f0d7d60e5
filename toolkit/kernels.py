"""Warm kernels: notebooks executed one after another in a kernel that has already started and
imported the toolkit, instead of a new kernel per notebook.

A notebook's own work on a shop's audit takes a second or two; starting a Python kernel and
importing pandas, matplotlib and the toolkit into it takes about three (measured in
``docs/benchmarks.md``). :class:`WarmKernel` starts one kernel of *this* environment's Python
(whatever kernel specs the user has installed), imports the notebook API once, and runs each
notebook through papermill's own execution engine, so an executed notebook is exactly what
``papermill`` writes (parameters cell injected, ``metadata.papermill``, error markers).

Between two notebooks the kernel's user namespace is reset (``%reset -f``), figures are closed,
matplotlib's and pandas' display settings are restored, warnings filters and ``sys.path`` are
put back, the execution counter starts at 1 again and the kernel's working directory is set to
the notebook's folder (inside the kernel process: nothing here changes the working directory of
the calling process). A notebook that failed is followed by a fresh kernel, never a reset one.

The kernel's own log (start-up warnings, its shutdown) goes to a file, not to the terminal;
:meth:`WarmKernel.log_tail` shows it when a kernel dies.

Each :class:`WarmKernel` belongs to the thread that created it: its client's sockets live on
that thread's event loop.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

#: run in a new kernel once: the imports every notebook makes, and a snapshot of the settings
#: the reset restores (the reset before the first notebook clears the names imported here)
WARM_UP = """\
import matplotlib.pyplot, pandas, toolkit.analysis, toolkit.show, toolkit.kernels
toolkit.kernels.snapshot_kernel_state()
"""

#: run before every notebook: a clean namespace, settings restored, the notebook's folder
RESET = """\
get_ipython().run_line_magic("reset", "-f")
__import__("toolkit.kernels").kernels.restore_kernel_state({cwd!r})
get_ipython().execution_count = 1
"""

_SNAPSHOT: dict = {}


def snapshot_kernel_state() -> None:
    """(Inside a kernel.) Remember the settings a notebook may change."""
    import warnings

    import matplotlib as mpl
    _SNAPSHOT.update(rc=dict(mpl.rcParams), filters=list(warnings.filters),
                     path=list(sys.path))


def restore_kernel_state(cwd: str) -> None:
    """(Inside a kernel.) Close every figure, put the settings back, move to ``cwd``."""
    import warnings

    import matplotlib as mpl
    import matplotlib.pyplot as plt
    import pandas as pd

    plt.close("all")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mpl.rcParams.update(_SNAPSHOT["rc"])
    pd.reset_option("^display\\.")
    warnings.filters[:] = _SNAPSHOT["filters"]
    sys.path[:] = _SNAPSHOT["path"]
    os.chdir(cwd)       # the kernel's own process, never the caller's


def kernel_spec_manager():
    """Kernel specs with ``python3`` bound to this environment's Python (a user's own
    ``python3`` spec, e.g. in ``~/.local/share/jupyter``, could start another Python)."""
    from jupyter_client.kernelspec import KernelSpec, KernelSpecManager

    class _ThisPython(KernelSpecManager):
        def get_kernel_spec(self, kernel_name):
            if kernel_name == "python3":
                return KernelSpec(argv=[sys.executable, "-m", "ipykernel_launcher", "-f",
                                        "{connection_file}"],
                                  display_name="Python 3 (privaudit)", language="python",
                                  metadata={"debugger": False})
            return super().get_kernel_spec(kernel_name)

    return _ThisPython()


class KernelDied(RuntimeError):
    """The kernel stopped while a notebook ran or could not start."""


class WarmKernel:
    """One kernel that runs notebooks one after another (see the module's doc)."""

    def __init__(self, kernel_name: str = "python3", start_timeout: float = 60):
        self.kernel_name = kernel_name
        self.start_timeout = start_timeout
        self.km = self.kc = None
        self.runs = 0               # notebooks run since the kernel started
        self.dirty = False          # a notebook failed in it: start afresh
        self._home = tempfile.TemporaryDirectory(prefix="privaudit-kernel-")
        self._log_path = Path(self._home.name) / "kernel.log"
        self._log = None

    # -------------------------------------------------------------- life cycle

    def start(self) -> "WarmKernel":
        from jupyter_client.manager import AsyncKernelManager
        from jupyter_core.utils import run_sync

        home = Path(self._home.name)
        profile = home / "ipython" / "profile_default"
        profile.mkdir(parents=True, exist_ok=True)
        # a clean IPython profile: no user start-up scripts; the kernel's log level; no input
        # history (the reset between notebooks restarts the execution count, and IPython's
        # history database would print "ERROR! Session/line number was not unique" into the
        # next notebook's first output)
        (profile / "ipython_kernel_config.py").write_text(
            "c.IPKernelApp.log_level = 'ERROR'\nc.HistoryManager.enabled = False\n")
        env = {**os.environ, "IPYTHONDIR": str(home / "ipython")}
        if env.get("PRIVAUDIT_DB_KEY_FILE"):      # the kernel runs elsewhere (cwd below)
            env["PRIVAUDIT_DB_KEY_FILE"] = str(Path(env["PRIVAUDIT_DB_KEY_FILE"]).resolve())
        self._log = open(self._log_path, "ab")
        self.km = AsyncKernelManager(kernel_name=self.kernel_name,
                                     kernel_spec_manager=kernel_spec_manager())
        run_sync(self.km.start_kernel)(env=env, cwd=str(home), stdout=self._log,
                                       stderr=self._log, stdin=None)
        self.kc = self.km.client()
        self.kc.start_channels()
        try:
            run_sync(self.kc.wait_for_ready)(timeout=self.start_timeout)
        except RuntimeError as e:
            raise KernelDied(f"the kernel did not start: {e}{self.log_tail()}") from None
        self.runs, self.dirty = 0, False
        self.execute(WARM_UP)
        return self

    def execute(self, code: str) -> None:
        """Run ``code`` in the kernel outside any notebook (no history, no output kept)."""
        from jupyter_core.utils import run_sync

        reply = run_sync(self.kc.execute_interactive)(code, silent=False, store_history=False,
                                                       output_hook=lambda _msg: None,
                                                       timeout=self.start_timeout)
        content = reply.get("content", {})
        if content.get("status") != "ok":
            raise KernelDied(f"kernel set-up failed: {content.get('ename')}: "
                             f"{content.get('evalue')}{self.log_tail()}")

    def alive(self) -> bool:
        from jupyter_core.utils import run_sync
        return self.km is not None and bool(run_sync(self.km.is_alive)())

    def prepare(self, workdir: Path) -> None:
        """Make the kernel ready for the next notebook (a fresh one after a failure)."""
        if self.km is None or self.dirty or not self.alive():
            self.stop()
            self.start()
        self.execute(RESET.format(cwd=str(workdir)))

    def stop(self) -> None:
        from jupyter_core.utils import run_sync

        if self.kc is not None:
            self.kc.stop_channels()
            self.kc = None
        if self.km is not None:
            try:
                run_sync(self.km.shutdown_kernel)(now=False)
            except Exception:  # noqa: BLE001 - it is going away either way
                pass
            self.km = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def close(self) -> None:
        self.stop()
        self._home.cleanup()

    def log_tail(self, lines: int = 5) -> str:
        """The last lines of the kernel's own log, for an error message ('' when empty)."""
        try:
            text = self._log_path.read_text(encoding="utf-8", errors="replace").strip()
        except OSError:
            return ""
        tail = [ln for ln in text.splitlines() if ln.strip()][-lines:]
        return (" (kernel log: " + " | ".join(tail) + ")") if tail else ""

    # -------------------------------------------------------------- a notebook

    def run(self, nb, output_path: Path, timeout: float | None = None):
        """Execute the (parameterised) notebook node ``nb`` in this kernel with papermill's
        engine; the executed notebook is saved to ``output_path`` as it runs. Returns it; a
        failing cell raises papermill's ``PapermillExecutionError`` after the notebook (with
        papermill's error markers) is written."""
        from papermill.execute import raise_for_execution_errors, remove_error_markers
        from papermill.iorw import write_ipynb

        nb = remove_error_markers(nb)
        self.runs += 1
        try:
            nb = _Engine.execute_notebook(nb, self.kernel_name, output_path=str(output_path),
                                          progress_bar=False, log_output=False,
                                          execution_timeout=timeout, warm=self)
        except Exception:
            self.dirty = True
            raise
        try:
            raise_for_execution_errors(nb, str(output_path))
        except Exception:
            self.dirty = True
            raise
        write_ipynb(nb, str(output_path))
        return nb


def _engine():
    from papermill.clientwrap import PapermillNotebookClient
    from papermill.engines import NBClientEngine

    class Engine(NBClientEngine):
        """papermill's nbclient engine, on a kernel that is already running."""

        @classmethod
        def execute_managed_notebook(cls, nb_man, kernel_name, log_output=False,
                                     stdout_file=None, stderr_file=None, start_timeout=60,
                                     execution_timeout=None, warm=None, **kwargs):
            import logging
            client = PapermillNotebookClient(
                nb_man, km=warm.km, timeout=execution_timeout, startup_timeout=start_timeout,
                kernel_name=kernel_name, log=logging.getLogger("papermill"),
                log_output=log_output, stdout_file=stdout_file, stderr_file=stderr_file)
            client.kc = warm.kc          # the kernel's client; it is not stopped afterwards
            return client.execute()

    return Engine


class _LazyEngine:
    """papermill is imported on first use (it costs seconds to import)."""

    _cls = None

    def __getattr__(self, name):
        if _LazyEngine._cls is None:
            _LazyEngine._cls = _engine()
        return getattr(_LazyEngine._cls, name)


_Engine = _LazyEngine()
