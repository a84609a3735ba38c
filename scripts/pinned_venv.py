"""The one way the check scripts get their PyPI packages: a venv of their own under target/,
with pinned versions, created and filled on first use; the calling script then runs again
inside it (so `python3 scripts/check_….py` works on a machine with only a system Python)."""

import os
import pathlib
import subprocess
import sys
import venv


def reexec_in_venv(venv_dir: pathlib.Path, packages: list, script: str) -> None:
    """Returns at once inside `venv_dir`; otherwise makes sure it holds exactly `packages`
    ("name==version", the name also the module's) and replaces this process with `script` run
    there, with the same arguments."""
    py = venv_dir / "bin" / "python"
    if pathlib.Path(sys.prefix).resolve() == venv_dir.resolve():
        return
    if not py.exists():
        print(f"[check] creating {venv_dir}", flush=True)
        venv.create(venv_dir, with_pip=True)
    pins = [p.split("==") for p in packages]
    names = ", ".join(name for name, _ in pins)
    have = "(" + ", ".join(f"{name}.__version__" for name, _ in pins) + ",)"
    want = tuple(version for _, version in pins)
    probe = subprocess.run([str(py), "-c", f"import sys, {names}; sys.exit(0 if {have} == {want!r} else 1)"], capture_output=True)
    if probe.returncode != 0:
        print(f"[check] pip install {' '.join(packages)}", flush=True)
        subprocess.run([str(py), "-m", "pip", "install", "--quiet", *packages], check=True)
    os.execv(str(py), [str(py), script, *sys.argv[1:]])
