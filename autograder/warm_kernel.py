"""Execute one notebook with nbclient in an IPython kernel forked from a process that imported
the assignment's preload (Keras, and TensorFlow) once: the program of the grader's warm
sandboxes (sandbox.WarmSandbox). The grader puts the preload's imports before this source
(run.warm_sandbox), from the assignment's declaration.

Runs inside the sandbox, where the autograder package is not visible: it imports nothing of it.
`main` does what `jupyter execute --allow-errors --output EXECUTED NOTEBOOK` does (run.EXECUTE),
with one difference: the kernel is not a new Python that imports TensorFlow again, but a fork of
this run's process, started as ipykernel_launcher would be (same arguments, environment and
folder, its own session). Each run's process is itself a fresh fork of the zygote, so no kernel
ever sees another run's state.
"""

import json
import os
import signal
import sys

# As in run.EXECUTE: jsonschema's optional RFC 3987 checker costs 0.8 s of CPU and is never used.
sys.modules["rfc3987_syntax"] = None

import nbformat  # noqa: E402
from ipykernel.kernelapp import IPKernelApp  # noqa: E402
from jupyter_client import AsyncKernelManager  # noqa: E402
from nbclient import NotebookClient  # noqa: E402


LAUNCHER = ["-m", "ipykernel_launcher"]


def main(notebook: str, output: str) -> int:
    waiting = _WaitingKernel()  # forked before nbclient starts its event loop, which a fork would inherit
    try:
        nb = nbformat.read(notebook, as_version=4)
        client = NotebookClient(nb, allow_errors=True, kernel_manager_class=ForkedKernelManager,
                                resources={"metadata": {"path": os.getcwd()}})
        ForkedKernelManager.waiting = waiting
        client.execute()
        nbformat.write(nb, output)
        return 0
    finally:
        waiting.cancel()


class ForkedKernelManager(AsyncKernelManager):
    """A kernel manager whose ipykernel is the waiting fork, not a new process; any other kernel is launched as usual."""

    waiting = None  # the _WaitingKernel of this run

    async def _async_launch_kernel(self, kernel_cmd, **kw):
        waiting, ForkedKernelManager.waiting = ForkedKernelManager.waiting, None
        if waiting is None or kernel_cmd[1:3] != LAUNCHER:
            return await super()._async_launch_kernel(kernel_cmd, **kw)
        # As jupyter_client.launch_kernel does: the kernel's parent is this process.
        env = {**(kw.get("env") or os.environ), "JPY_PARENT_PID": str(os.getpid())}
        waiting.start(kernel_cmd[3:], env, str(kw.get("cwd") or os.getcwd()))
        provisioner = self.provisioner
        provisioner.process, provisioner.pid, provisioner.pgid = _Forked(waiting.pid), waiting.pid, waiting.pid
        provisioner.cwd = kw.get("cwd")
        self._reconcile_connection_info(provisioner.connection_info)


class _WaitingKernel:
    """A fork of this process that waits for the kernel's arguments, then becomes the kernel."""

    def __init__(self):
        read, self._write = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:
            # Its own session and process group, as jupyter_client's start_new_session gives. As an
            # ordinary user's sandbox, setsid does nothing (zygote.py): signals to the kernel's group
            # then fail and jupyter_client signals the kernel's pid instead, as it does on any failure.
            os.setsid()
            os.close(self._write)
            with os.fdopen(read, "rb") as pipe:
                launch = pipe.read()
            if launch:
                _become_kernel(**json.loads(launch))
            os._exit(0)
        os.close(read)

    def start(self, argv, env, cwd):
        with os.fdopen(self._write, "wb") as pipe:
            pipe.write(json.dumps({"argv": argv, "env": env, "cwd": cwd}).encode())
        self._write = None

    def cancel(self):
        if self._write is not None:  # never started: it reads EOF and exits
            os.close(self._write)
            self._write = None
            os.waitpid(self.pid, 0)


def _become_kernel(argv, env, cwd):
    """What ipykernel_launcher does, in this process."""
    code = 1
    try:
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(env)
        if sys.path and sys.path[0] == "":
            del sys.path[0]
        sys.argv = [sys.executable, *argv]
        # Read from the environment when ipykernel was imported (in the zygote): read it again, so the
        # kernel knows its parent (and ends with it) and prints no banner, as a launched one does.
        app = IPKernelApp.instance(parent_handle=int(env.get("JPY_PARENT_PID") or 0))
        app.initialize(argv)
        app.start()
        code = 0
    finally:
        os._exit(code)


class _Forked:
    """The part of subprocess.Popen that jupyter_client's LocalProvisioner uses, for a forked child."""

    stdin = stdout = stderr = None

    def __init__(self, pid):
        self.pid, self.returncode = pid, None

    def poll(self):
        if self.returncode is None:
            done, status = os.waitpid(self.pid, os.WNOHANG)
            if done:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout=None):
        if self.returncode is None:
            self.returncode = os.waitstatus_to_exitcode(os.waitpid(self.pid, 0)[1])
        return self.returncode

    def send_signal(self, signum):
        if self.poll() is None:
            os.kill(self.pid, signum)

    def terminate(self):
        self.send_signal(signal.SIGTERM)

    def kill(self):
        self.send_signal(signal.SIGKILL)
