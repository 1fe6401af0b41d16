"""Check that a lock pins everything pip would install from it: `python tools/lock_closed.py LOCK REPORT`.

REPORT is what `pip install --dry-run --report REPORT -r LOCK` wrote. `make check-lock` runs it for
each supported Python, because pip resolving the lock is not enough: a dependency missing from the
lock (one Python's freeze leaves out what another's installs: `pip freeze` hides setuptools and wheel
before Python 3.12) is installed at whatever version is newest that day, and a fresh machine then
runs software that no test ran.
"""

import json
import re
import sys


def name_of(requirement: str) -> str:
    """The normalized project name (PEP 503), so `tensorflow_cpu` and `tensorflow-cpu` are one."""
    return re.sub(r"[-_.]+", "-", requirement).lower()


def pins(lock_text: str) -> dict:
    """{name: version} of the lock's `name==version` lines."""
    found = {}
    for line in lock_text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            found[name_of(name.strip())] = version.strip()
    return found


def unpinned(lock_text: str, report: dict) -> list:
    """What pip would install that the lock does not pin at that version, as "name version" strings."""
    locked = pins(lock_text)
    return sorted(f"{item['metadata']['name']} {item['metadata']['version']}"
                  for item in report["install"]
                  if locked.get(name_of(item["metadata"]["name"])) != item["metadata"]["version"])


def main(argv: list) -> int:
    lock, report = argv
    with open(lock) as lock_file, open(report) as report_file:
        missing = unpinned(lock_file.read(), json.load(report_file))
    if missing:
        print(f"{lock} does not pin what pip would install from it: {', '.join(missing)} (add them; see `make lock`)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
