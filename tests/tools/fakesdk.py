"""A tiny Cloud SDK tree with the real one's entry-point layout, for the warm engine's tests.

`make_sdk(folder)` writes bin/gcloud (the wrapper: exec $CLOUDSDK_PYTHON
lib/gcloud.py "$@"), lib/gcloud.py (the functions the real entry point
has) and lib/googlecloudsdk/gcloud_main.py, whose `main()` obeys argv:

    echo WORD...        print the words, exit 0
    fail CODE TEXT      TEXT on stderr, exit CODE (as gcloud's errors do)
    bytes               bytes that are not UTF-8 on stdout
    state set V | get   a module global: set prints the old value, get prints it
    sleep S             sleep S seconds, then print "slept"
    spawn PIDFILE       start a `sleep 300` child, write its pid, hang
    crash-warm WORD...  die of SIGSEGV inside the warm driver, else print the words
    load heavy|light    heavy: print "cold" or "warm" (was googlecloudsdk.heavy imported
                        before this command?), then import it; light: print "light"
    regex PATTERN       print "cached" or "compiled" (was PATTERN in re's cache before
                        this command?), then compile it (its warnings, if any, on stderr);
                        as gcloud's lazy_regex does, re.compile returns a stand-in for a
                        pattern starting "lazy", compiled when first used

`broken=True` gives an SDK whose gcloud_main fails to import.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

_WRAPPER = '#!/bin/sh\nexec "$CLOUDSDK_PYTHON" "$(dirname "$0")/../lib/gcloud.py" "$@"\n'

_ENTRY = '''
import os
import sys

_DIR = os.path.dirname(__file__)
if _DIR not in sys.path:
    sys.path.insert(0, _DIR)


def reorder_sys_path(sys_path):
    return sys_path


def _fix_google_module():
    pass


def _import_gcloud_main():
    import googlecloudsdk.gcloud_main
    return googlecloudsdk.gcloud_main


def main():
    sys.exit(_import_gcloud_main().main())


if __name__ == "__main__":
    main()
'''

_MAIN = '''
import os
import signal
import subprocess
import sys
import time

STATE = "initial"

import re
_real_compile = re.compile


class _Lazy:
    def __init__(self, pattern, flags=0):
        self._args = (pattern, flags)

    def __getattr__(self, name):
        return getattr(_real_compile(*self._args), name)


def _lazy_compile(pattern, flags=0):
    return _Lazy(pattern, flags) if str(pattern).startswith("lazy") else _real_compile(pattern, flags)


re.compile = _lazy_compile


class _CLI:
    pass


def CreateCLI(surfaces):
    return _CLI()


def main(gcloud_cli=None):
    global STATE
    args = sys.argv[1:]
    verb = args[0] if args else ""
    if verb == "echo":
        print(" ".join(args[1:]))
    elif verb == "fail":
        sys.stderr.write("ERROR: (gcloud.fail) " + " ".join(args[2:]) + "\\n")
        sys.exit(int(args[1]))
    elif verb == "bytes":
        sys.stdout.flush()
        sys.stdout.buffer.write(b"\\xff\\xfe ok \\xc3\\xa9\\n")
    elif verb == "state":
        print(STATE)
        if args[1] == "set":
            STATE = args[2]
    elif verb == "sleep":
        time.sleep(float(args[1]))
        print("slept")
    elif verb == "spawn":
        child = subprocess.Popen(["sleep", "300"])
        with open(args[1], "w") as out:
            out.write(str(child.pid))
        time.sleep(300)
    elif verb == "load":
        if args[1] == "heavy":
            print("warm" if "googlecloudsdk.heavy" in sys.modules else "cold")
            import googlecloudsdk.heavy  # noqa: F401
        else:
            print("light")
    elif verb == "regex":
        import re
        print("cached" if (str, args[1], 0) in getattr(re, "_cache", {}) else "compiled")
        re.compile(args[1]).pattern
    elif verb == "locked":
        # gcloud 528's crash on a config database another gcloud holds, for the first
        # args[1] runs (counted in the file args[2]: each command is its own child).
        with open(args[2], "a+") as runs:
            runs.write("x")
            runs.seek(0)
            count = len(runs.read())
        if count <= int(args[1]):
            sys.stderr.write("ERROR: gcloud crashed (OperationalError): database is locked\\n")
            sys.exit(1)
        print('{"runs": %d}' % count)
    elif verb == "crash-warm":
        if sys.modules["__main__"].__file__.endswith("warm_driver.py"):
            os.kill(os.getpid(), signal.SIGSEGV)
        print(" ".join(args[1:]))
    else:
        sys.stderr.write("ERROR: (gcloud) Invalid choice: '%s'.\\n" % verb)
        sys.exit(2)
'''


def make_sdk(folder: Path, broken: bool = False) -> Path:
    """Write the fake SDK under folder and return its bin/ (put it on PATH)."""
    (folder / "bin").mkdir(parents=True)
    (folder / "lib" / "googlecloudsdk").mkdir(parents=True)
    wrapper = folder / "bin" / "gcloud"
    wrapper.write_text(_WRAPPER)
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    (folder / "lib" / "gcloud.py").write_text(_ENTRY)
    (folder / "lib" / "googlecloudsdk" / "__init__.py").write_text("")
    (folder / "lib" / "googlecloudsdk" / "heavy.py").write_text("LOADED = True\n")
    main = "raise ImportError('No module named googlecloudsdk.calliope')\n" if broken else _MAIN
    (folder / "lib" / "googlecloudsdk" / "gcloud_main.py").write_text(main)
    return folder / "bin"


def sdk_env(bin_dir: Path, python: str) -> dict[str, str]:
    """os.environ with the fake SDK first on PATH and run by `python`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDSDK_")}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', os.defpath)}"
    env["CLOUDSDK_PYTHON"] = python
    return env
