"""The program reads and checks its input once: each project file is opened once per run.

Counted with a CPython audit hook on `open` (PEP 578), so nothing in the program is
replaced: the real `__main__.py` runs under the mock engine and every open of the sweep
file and the CA file is seen, by whichever module makes it. Before the program handed
its checked settings to the component, the stack loader validated everything and the
component validated it all again: two reads of each file per run.
"""

from __future__ import annotations

import sys
from pathlib import Path

from private_ca import make_ca
from pulumi_harness import ROOT, cli_config, run_program

API_KEY = "local-" + "k" * 40
_opened: list[str] = []
_watching: set[str] = set()


def _audit(event: str, args: tuple[object, ...]) -> None:
    if event == "open" and _watching and isinstance(args[0], str | Path):
        path = str(Path(args[0]).resolve()) if not str(args[0]).startswith("/proc") else str(args[0])
        if path in _watching:
            _opened.append(path)


sys.addaudithook(_audit)  # hooks cannot be removed: it records only while `_watching` is set


def opens_per_run(files: list[Path], config: dict[str, str]) -> dict[str, int]:
    _opened.clear()
    _watching.update(str(f.resolve()) for f in files)
    try:
        run_program("dev", config, secret_keys=("wandbApiKey",))
    finally:
        _watching.clear()
    return {f.name: _opened.count(str(f.resolve())) for f in files}


def test_the_sweep_file_is_read_once_per_program_run() -> None:
    sweep_file = ROOT / "sweep.yaml"
    assert opens_per_run([sweep_file], cli_config("dev", wandbApiKey=API_KEY)) == {"sweep.yaml": 1}


def test_the_ca_file_is_read_once_per_program_run(project_tmp_path: Path) -> None:
    ca_file = project_tmp_path / "ca.pem"
    ca_file.write_text(make_ca("Validate Once CA").pem)
    config = cli_config("dev", wandbApiKey=API_KEY, caCertificate=str(ca_file.relative_to(ROOT)))
    assert opens_per_run([ROOT / "sweep.yaml", ca_file], config) == {"sweep.yaml": 1, "ca.pem": 1}
