"""The zygote of a warm sandbox: import a program once, then fork one child per run.

This file runs inside the sandbox (`python -c <this source> FD`), where the autograder package
is not visible, so it imports nothing of it. The grader's side is `sandbox.WarmSandbox`.

Why: every honest notebook imports TensorFlow, 2.5 s of CPU; graded by nbgrader, each student
pays it again. Here the zygote pays it once per sandbox slot, and each run is a fork of a
process that has imported it but never ran any submission's code.

Trust: the zygote is root of the sandbox with CAP_SETUID, CAP_SETGID and CAP_SETPCAP only
(bwrap dropped every other capability) and never runs submission code. Each child, before it
calls the program, sets the run's rlimits, drops every capability from its bounding set, sets
no_new_privs and drops for good to the run's uid (as setpriv does for a one-shot run). The
child cannot signal, trace or read the zygote (another uid) and shares none of its memory
(copy on write). What one run leaves in the sandbox's namespaces is removed before the next:
its processes (killed by uid, by the grader), its files (the grader empties the disk), its SysV
and POSIX IPC objects (the `clean` request below), its keys (the grader clears the keyrings).

Protocol on the control socket (SOCK_SEQPACKET, one JSON object per message):
  grader -> zygote  {"program": source, "name": module name}   once; answered {"ready": true}
  grader -> zygote  {"run": {"uid", "rlimits", "cwd", "env", "args"}} with the run's stdout and
                    stderr as SCM_RIGHTS fds; answered {"exit": code} (negative: killed by a signal)
  grader -> zygote  {"clean": {"uid"}}; answered {"cleaned": [what was removed]} (null: it failed)
The program is a module source whose top-level imports are the preload and whose `main(*args)`
a child calls; its return value is the child's exit code.
"""

import ctypes
import json
import os
import resource
import socket
import sys
import traceback
import types

PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS = 24, 38
IPC_RMID = 0
MESSAGE_BYTES = 1 << 20
libc = ctypes.CDLL(None, use_errno=True)


def serve(control: socket.socket):
    program = None
    while True:
        data, fds, _, _ = socket.recv_fds(control, MESSAGE_BYTES, 2)
        if not data:
            return  # the grader closed the sandbox
        request = json.loads(data)
        if "program" in request:
            program = types.ModuleType(request["name"])
            sys.modules[request["name"]] = program
            exec(compile(request["program"], f"<{request['name']}>", "exec"), program.__dict__)
            reply = {"ready": True}
        elif "run" in request:
            reply = {"exit": _fork(lambda: program.main(*request["run"]["args"]), request["run"], fds)}
        elif "clean" in request:
            reply = {"cleaned": _clean_ipc(request["clean"]["uid"])}
        else:
            reply = {"error": f"a request must hold program, run or clean; got {sorted(request)}"}
        for fd in fds:
            os.close(fd)
        control.send(json.dumps(reply).encode())


def _fork(work, run, fds) -> int:
    """Run `work` in a child that is the run's uid, with its limits; its exit code."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            out, err = fds if len(fds) == 2 else (os.open(os.devnull, os.O_WRONLY),) * 2
            os.dup2(out, 1)
            os.dup2(err, 2)
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            os.closerange(3, resource.getrlimit(resource.RLIMIT_NOFILE)[0])  # the control socket above all
            _become(run["uid"], run["rlimits"])
            os.chdir(run["cwd"])
            os.environ.clear()
            os.environ.update(run["env"])
            code = work() or 0
        except SystemExit as exit:
            code = exit.code if isinstance(exit.code, int) else 1
        except BaseException:
            traceback.print_exc()
        finally:
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()
                except Exception:
                    pass
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def _become(uid: int, rlimits: dict):
    """Drop for good to `uid`, with `rlimits` ({"RLIMIT_AS": bytes, ...}) and no way back."""
    for name, value in rlimits.items():
        resource.setrlimit(getattr(resource, name), (value, value))
    for capability in range(64):
        libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0)  # EINVAL past the last one: harmless
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    if os.getresuid() != (uid, uid, uid) or os.getresgid() != (uid, uid, uid) or os.getgroups():
        raise OSError(f"the child must be uid {uid} only; it is {os.getresuid()} {os.getresgid()} {os.getgroups()}")


def _clean_ipc(uid: int) -> list[str] | None:
    """Remove the SysV IPC objects and POSIX message queues of this IPC namespace, as `uid` (their owner).

    What was removed, or None if the cleaner failed (the grader then discards the sandbox).
    """
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        removed = []
        try:
            os.close(read)
            _become(uid, {})
            for kind, remove in (("shm", lambda i: libc.shmctl(i, IPC_RMID, None)),
                                 ("sem", lambda i: libc.semctl(i, 0, IPC_RMID, 0)),
                                 ("msg", lambda i: libc.msgctl(i, IPC_RMID, None))):
                with open(f"/proc/sysvipc/{kind}") as table:
                    for line in list(table)[1:]:
                        ident = int(line.split()[1])
                        if remove(ident) == 0:
                            removed.append(f"sysv {kind} {ident}")
            if os.path.isdir("/dev/mqueue"):
                for name in os.listdir("/dev/mqueue"):
                    os.unlink(f"/dev/mqueue/{name}")
                    removed.append(f"posix mq {name}")
            os.write(write, json.dumps(removed).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        answer = pipe.read()
    os.waitpid(pid, 0)
    return json.loads(answer) if answer else None


if __name__ == "__main__":
    serve(socket.socket(fileno=int(sys.argv[1])))
    # Every child was waited for; the interpreter's own shutdown, with TensorFlow loaded, took
    # 1.2 s of each batch's end (measured) and has nothing left to do.
    os._exit(0)
