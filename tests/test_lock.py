"""requirements.lock pins everything, for every Python the project supports (`make check-lock` asks PyPI; these ask nobody)."""

import importlib.util
import re
from pathlib import Path

from packaging.specifiers import SpecifierSet

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("lock_closed", ROOT / "tools" / "lock_closed.py")
lock_closed = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(lock_closed)


def report(*installs):
    """A `pip install --dry-run --report` of these (name, version) pairs."""
    return {"install": [{"metadata": {"name": name, "version": version}} for name, version in installs]}


def test_a_dependency_the_lock_leaves_out_is_reported():
    """Is setuptools, installed by pip because TensorFlow needs it but absent from the lock, named with its version?"""
    lock = "# header\ntensorflow_cpu==2.21.0\n"
    assert lock_closed.unpinned(lock, report(("tensorflow-cpu", "2.21.0"), ("setuptools", "84.2.1"))) == ["setuptools 84.2.1"]


def test_a_version_other_than_the_pinned_one_is_reported():
    """Does a package resolved at another version than the lock's (a pin pip did not honour) count as unpinned?"""
    assert lock_closed.unpinned("wheel==0.48.0\n", report(("wheel", "0.49.0"))) == ["wheel 0.49.0"]


def test_names_are_compared_as_pip_compares_them():
    """Are `Jinja2`, `jinja2`, `ml_dtypes` and `ml-dtypes` the same projects to the check?"""
    lock = "Jinja2==3.1.6\nml_dtypes==0.6.0\n"
    assert lock_closed.unpinned(lock, report(("jinja2", "3.1.6"), ("ml-dtypes", "0.6.0"))) == []


def test_main_says_what_to_add(tmp_path, capsys):
    """Does the command exit 1 and name the missing package, and exit 0 when all is pinned?"""
    (tmp_path / "requirements.lock").write_text("six==1.17.0\n")
    (tmp_path / "report.json").write_text('{"install": [{"metadata": {"name": "six", "version": "1.17.0"}}, '
                                          '{"metadata": {"name": "wheel", "version": "0.48.0"}}]}')
    assert lock_closed.main([str(tmp_path / "requirements.lock"), str(tmp_path / "report.json")]) == 1
    assert "wheel 0.48.0" in capsys.readouterr().out
    (tmp_path / "requirements.lock").write_text("six==1.17.0\nwheel==0.48.0\n")
    assert lock_closed.main([str(tmp_path / "requirements.lock"), str(tmp_path / "report.json")]) == 0


def test_the_committed_lock_pins_each_project_once_with_setuptools_and_wheel():
    """Is every line of requirements.lock `name==version`, no project twice, and are the two packages
    `pip freeze` hides before Python 3.12 (TensorFlow needs setuptools, astunparse needs wheel) pinned?"""
    lines = [line for line in (ROOT / "requirements.lock").read_text().splitlines() if line and not line.startswith("#")]
    assert all(re.fullmatch(r"[A-Za-z0-9_.\-]+==[A-Za-z0-9_.+!\-]+", line) for line in lines), lines
    names = [lock_closed.name_of(line.split("==")[0]) for line in lines]
    assert len(names) == len(set(names))
    assert {"setuptools", "wheel"} <= set(names) and "pip" not in names


def test_the_supported_pythons_are_the_ones_the_project_admits():
    """Does `make check-lock` resolve for exactly the minor versions pyproject.toml's requires-python admits?"""
    makefile = (ROOT / "Makefile").read_text()
    supported = re.search(r"^SUPPORTED_PYTHONS := (.+)$", makefile, re.M).group(1).split()
    requires = SpecifierSet(re.search(r'^requires-python = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M).group(1))
    assert all(version in requires for version in supported), supported
    admitted = [f"3.{minor}" for minor in range(8, 20) if f"3.{minor}.99" in requires]
    assert sorted({".".join(v.split(".")[:2]) for v in supported}) == admitted
