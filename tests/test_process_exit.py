"""``segmamba.runtime.exit_process``: a command's process ends without the interpreter's module teardown, but
with everything a normal exit does that its results depend on (exit status, atexit handlers, flushed output,
finalizers of temporary files, waiting for running threads)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run_python(code: str, tmp_path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=120,
    )


def test_exit_status_buffered_output_and_atexit_handlers(tmp_path):
    done = run_python(
        """
        import atexit, logging, sys
        from segmamba.runtime import exit_process
        logging.basicConfig(filename="job.log", level=logging.INFO)
        logging.info("logged line")
        atexit.register(lambda: print("atexit handler ran"))
        sys.stdout.write("no newline, still buffered")
        sys.stderr.write("to stderr")
        exit_process(3)
        """,
        tmp_path,
    )
    assert done.returncode == 3
    assert "no newline, still buffered" in done.stdout
    assert "atexit handler ran" in done.stdout
    assert done.stderr == "to stderr"
    assert "logged line" in (tmp_path / "job.log").read_text()


def test_finalizers_of_temporary_files_run(tmp_path):
    done = run_python(
        """
        import tempfile
        from segmamba.runtime import exit_process
        kept = tempfile.TemporaryDirectory(dir=".")
        print(kept.name)
        exit_process(0)
        """,
        tmp_path,
    )
    assert done.returncode == 0
    assert not Path(tmp_path, done.stdout.strip()).exists()


def test_module_teardown_is_skipped(tmp_path):
    # An object that reports its destruction: a normal exit destroys it while tearing the module down.
    code = """
        import sys
        class Reporter:
            def __del__(self):
                sys.stdout.write("torn down")
        reporter = Reporter()
        {end}
        """
    normal = run_python(code.format(end="sys.exit(0)"), tmp_path)
    fast = run_python(code.format(end="from segmamba.runtime import exit_process; exit_process(0)"), tmp_path)
    assert normal.stdout == "torn down"
    assert fast.returncode == 0 and fast.stdout == ""


def test_a_running_thread_is_waited_for(tmp_path):
    done = run_python(
        """
        import threading, time
        from pathlib import Path
        from segmamba.runtime import exit_process
        def finish_later():
            time.sleep(0.5)
            Path("written-by-thread").write_text("done")
        threading.Thread(target=finish_later).start()
        exit_process(4)
        """,
        tmp_path,
    )
    assert done.returncode == 4
    assert (tmp_path / "written-by-thread").read_text() == "done"


def test_the_command_line_ends_with_the_commands_exit_status(tmp_path):
    # `python -m segmamba` runs what the `segmamba` console script runs (segmamba.cli.run).
    def segmamba(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "segmamba", *args],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            timeout=120,
        )

    missing = segmamba("split", "--dataset-file", str(tmp_path / "missing.json"), "--out", str(tmp_path / "s.json"))
    version = segmamba("--version")
    assert missing.returncode == 2
    assert missing.stderr.startswith("segmamba split: error: dataset file ") and "missing.json" in missing.stderr
    assert version.returncode == 0 and version.stdout.startswith("segmamba-bench ")
