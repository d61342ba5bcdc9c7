"""A regular install: the wheel built from this checkout holds every module and runs the CLI.

The README's editable install finds modules in the checkout whether or not setup.cfg names
them, so only a wheel installed into a fresh venv, run from outside the checkout, shows what a
user who runs `pip install .` gets.
"""
import configparser
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from conftest import ROOT

# The checkout's package folders and the names they install under (setup.cfg's package_dir).
SOURCE_ROOTS = {"chipsim": ROOT / "chipsim", "chipsim.rules": ROOT / "rules",
                "chipsim.mapping": ROOT / "mapping"}


def _modules(kind: str) -> list[str]:
    """Every package ('packages') or module ('modules') under the source roots, by import name."""
    names = []
    for prefix, folder in SOURCE_ROOTS.items():
        for path in sorted(folder.rglob("*.py")):
            if "__pycache__" in path.parts:
                continue
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if prefix == "chipsim" and parts[0] in ("rules", "mapping"):
                continue  # never in the checkout's chipsim/, but do not count them twice
            if kind == "packages" and parts[-1] == "__init__":
                names.append(".".join([prefix, *parts[:-1]]))
            elif kind == "modules" and parts[-1] not in ("__init__", "__main__"):
                names.append(".".join([prefix, *parts]))
    return names


def test_setup_cfg_lists_every_package_in_the_checkout():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    listed = cfg["options"]["packages"].split()
    missing = sorted(set(_modules("packages")) - set(listed))
    assert not missing, f"setup.cfg [options] packages does not list {missing}"


@pytest.fixture(scope="module")
def wheel_venv(tmp_path_factory):
    """A fresh venv with the wheel built from the checkout installed (no editable install).

    The dependencies are borrowed from the test venv through a .pth line (installing numba,
    scipy and the rest again would add minutes and test nothing of ours); chipsim itself
    comes only from the wheel, which the test checks.
    """
    work = tmp_path_factory.mktemp("wheel")
    # built from a copy: setuptools leaves build/ in the source tree and packs what a stale
    # build/lib holds, which would hide a module missing from the package list
    source = work / "source"
    source.mkdir()
    for name in ("setup.cfg", "pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for folder in ("chipsim", "rules", "mapping"):
        shutil.copytree(ROOT / folder, source / folder,
                        ignore=shutil.ignore_patterns("__pycache__"))
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                            "--no-build-isolation", "-w", str(work / "dist"), str(source)],
                           capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stdout + built.stderr
    wheel = next((work / "dist").glob("chipsim-*.whl"))
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=600)
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True).stdout.strip()
    # Only the dependencies' folder, not its .pth files: the test venv's editable chipsim
    # hooks in through a .pth, which a plain path line does not run.
    Path(purelib, "chipsim_test_dependencies.pth").write_text(
        sysconfig.get_paths()["purelib"] + "\n")
    installed = subprocess.run(
        [str(python), "-m", "pip", "install", "--no-deps", "--no-index", str(wheel)],
        capture_output=True, text=True, timeout=600)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    return python, Path(purelib), work


def _run(python, args, cwd):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([str(python), *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=900)


def test_every_module_imports_from_the_installed_wheel(wheel_venv):
    python, purelib, work = wheel_venv
    modules = _modules("modules")
    code = ("import importlib, chipsim, sys\n"
            f"for name in {modules!r}:\n"
            "    module = importlib.import_module(name)\n"
            f"    assert module.__file__.startswith({str(purelib)!r}), (name, module.__file__)\n"
            "print(len(sys.modules))\n")
    proc = _run(python, ["-c", code], cwd=work)
    assert proc.returncode == 0, proc.stderr
    # The wheel's own requirements are met (other packages' complaints are not ours).
    check = _run(python, ["-m", "pip", "check"], cwd=work).stdout.splitlines()
    assert not [line for line in check if line.startswith("chipsim ")], check


def test_installed_wheel_runs_the_digits_example(wheel_venv):
    python, _, work = wheel_venv
    out = work / "run"
    proc = _run(python, ["-m", "chipsim", "run", str(ROOT / "examples" / "digits_ottt.yaml"),
                         "--out", str(out), "--set", "learning.epochs=1",
                         "--set", "output.plots=false"], cwd=work)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "test accuracy" in proc.stdout
    assert (out / "report.json").is_file()


def test_the_installed_chipsim_command_runs_from_any_folder(wheel_venv, tmp_path):
    """The console script works where ``python -m chipsim`` cannot: in the folder that holds
    a checkout named chipsim/ (it shadows the package); there python -m says so clearly."""
    python, _, work = wheel_venv
    parent = tmp_path / "parent"
    (parent / "chipsim").mkdir(parents=True)  # a checkout's folder, as `git clone` names it
    command = python.parent / "chipsim"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([str(command), "run", str(ROOT / "examples" / "digits_ottt.yaml"),
                           "--out", str(tmp_path / "run"), "--set", "learning.epochs=1",
                           "--set", "output.plots=false"], cwd=parent, env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "run" / "report.json").is_file()
    bad = subprocess.run([str(command), "run", "missing.yaml"], cwd=parent, env=env,
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "usage: chipsim" not in bad.stderr
    assert "'missing.yaml' not found" in bad.stderr
    # an installed wheel wins over the empty namespace; an editable install's finder does not
    # (it comes after the working directory): __main__ then sees a chipsim without a version
    shadowed = _run(python, ["-m", "chipsim", "--version"], cwd=parent)
    assert shadowed.returncode == 0 and shadowed.stdout.startswith("chipsim ")
    code = ("import runpy, sys, types\n"
            "sys.modules['chipsim'] = types.ModuleType('chipsim')\n"
            f"sys.modules['chipsim'].__path__ = [{str(parent / 'chipsim')!r}]\n"
            f"runpy.run_path({str(ROOT / 'chipsim' / '__main__.py')!r})\n")
    namespace = _run(python, ["-c", code], cwd=parent)
    assert namespace.returncode == 2 and "Traceback" not in namespace.stderr
    assert "hides the chipsim package" in namespace.stderr and "`chipsim`" in namespace.stderr
