# The warm Python interpreter of one sandbox slot (sandbox/warm.hpp): started once by aha as
# `/usr/bin/python3 -I -B -c <this file>` with its control socket on fd 3, it imports what the
# programs and the code harness commonly need and then only forks. It never runs user code and
# never reads a request: per run it receives descriptors only and forks a helper that does the
# rest. The helper (trusted, host root) enters the fresh namespaces the run's holder built
# (sandbox/jail.cpp, plan.hold) and forks the program's process, which drops every privilege as
# a cold run does (sandbox/jail.cpp, drop_privileges and enter_seccomp) and then runs
# /tmp/main.py in the interpreter it inherited. Tested in sandbox/warm.test.cpp.
import ctypes
import gc
import json
import os
import resource
import select
import signal
import socket
import struct
import sys

# What programs and the harness (rewards/code_harness/*.py) import: already loaded in every run.
import ast, bisect, collections, functools, heapq, importlib, io, itertools, math, random  # noqa: E401
import re, string, symtable, traceback, types, typing  # noqa: E401

_libc = ctypes.CDLL(None, use_errno=True)
_PR_SET_PDEATHSIG, _PR_SET_DUMPABLE, _PR_SET_SECCOMP, _PR_SET_NO_NEW_PRIVS = 1, 4, 22, 38
_SECCOMP_MODE_FILTER = 2
# CLONE_NEWUSER | NEWNS | NEWNET | NEWIPC | NEWUTS | NEWCGROUP: the holder's. The pid namespace is
# the program's own (CLONE_NEWPID), made by the helper.
_NAMESPACES = 0x10000000 | 0x00020000 | 0x40000000 | 0x08000000 | 0x04000000 | 0x02000000
_CLONE_NEWPID = 0x20000000
_MS_NOSUID, _MS_NODEV, _MS_NOEXEC = 2, 4, 8
_SYS_CLOSE_RANGE = 436


class _Fprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def _check(rc, what):
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, what + ": " + os.strerror(err))


def _serve():
    """The zygote's loop. Returns only in a freshly forked helper, with that run's descriptors."""
    ctl = socket.socket(fileno=3)
    first = ctl.recv(1 << 20)  # b"F" + the seccomp program (sock_filter array), once
    if first[:1] != b"F":
        os._exit(2)
    program = ctypes.create_string_buffer(first[1:], len(first) - 1)  # kept alive: fprog points into it
    fprog = _Fprog(len(first[1:]) // 8, ctypes.cast(program, ctypes.c_void_p))
    try:  # a run's memory limit should never pick aha's interpreter (needs CAP_SYS_RESOURCE)
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write("-1000")
    except OSError:
        pass  # then the OOM killer may pick it: the run's helper dies with it, aha retries the run
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # helpers are reaped by the kernel
    gc.collect()
    gc.freeze()  # the collector never touches these objects again: fewer pages copied per run
    ctl.send(b"ready")
    zygote = os.getpid()
    while True:
        msg, fds, _, _ = socket.recv_fds(ctl, 16, 8)
        if not msg:
            os._exit(0)  # aha closed the channel
        if len(fds) != 7:
            for fd in fds:
                os.close(fd)
            continue
        if os.fork() == 0:
            ctl.close()
            return fds, fprog, program, zygote
        for fd in fds:
            os.close(fd)


def _report(status_fd, text):
    try:
        os.write(status_fd, b"E" + text.encode("utf-8", "replace")[:4000])
    except OSError:
        pass


def _helper(fds, zygote):
    """The run's helper (trusted, host root): enters the run's namespaces and forks the program.
    Returns only in the program's process; itself reports the program's end and exits."""
    holder, ready, stdin, stdout, stderr, status, spec_fd = fds
    try:
        _check(_libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl(PDEATHSIG)")
        if os.getppid() != zygote:
            os._exit(1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        # Back to 0 while still privileged on the host: it also sets the floor the program could
        # lower it to (a program unkillable by the OOM killer would stall instead of failing).
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write("0")  # raising it is always allowed
        spec = json.loads(os.pread(spec_fd, 1 << 20, 0))
        os.close(spec_fd)
        if os.read(ready, 1) != b"r":
            raise OSError(0, "the namespace holder failed before its root was ready")
        os.close(ready)
        _check(_libc.setns(holder, _NAMESPACES), "setns")  # also sets / and the cwd to the run's root
        # A fresh pid namespace (owned by the run's user namespace): the program is its pid 1, as
        # in a cold run (kill(0) and its own signals behave the same, and its end ends every
        # process it left).
        _check(_libc.unshare(_CLONE_NEWPID), "unshare(CLONE_NEWPID)")
        pid = os.fork()
    except BaseException as e:  # noqa: B902 - anything here is the sandbox's failure
        _report(status, "warm helper: %s" % (e,))
        os._exit(1)
    if pid == 0:
        os.close(holder)
        return spec, (stdin, stdout, stderr, status)
    for fd in (stdin, stdout, stderr):
        os.close(fd)
    try:
        # aha ends a run (a limit, a cancel) by killing the holder: then end the program's pid
        # namespace too. The program's own death ends the wait as well.
        program = os.pidfd_open(pid)
        while True:
            ready_fds, _, _ = select.select([holder, program], [], [])
            if program in ready_fds:
                break
            if holder in ready_fds:
                os.kill(pid, signal.SIGKILL)
                break
        _, wait_status, usage = os.wait4(pid, 0)
        record = struct.pack("<iqqq", wait_status, int(usage.ru_utime * 1e6), int(usage.ru_stime * 1e6),
                             usage.ru_maxrss)
        os.write(status, b"S" + record)
    except BaseException as e:  # noqa: B902
        _report(status, "warm helper: wait: %s" % (e,))
    os._exit(0)


def _isolate(spec, fds, fprog):
    """The program's process: the privilege drop of a cold run (sandbox/jail.cpp), in its order."""
    stdin, stdout, stderr, status = fds
    try:
        os.setsid()
        os.setgroups([])
        os.setresgid(0, 0, 0)
        os.setresuid(0, 0, 0)  # root of the user namespace, so that leaving it drops every capability
        # The /proc of its own pid namespace, over the holder's (which would show the holder).
        _check(_libc.mount(b"proc", b"/proc", b"proc", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC, None), "mount /proc")
        for which, value in spec["rlimits"]:
            resource.setrlimit(which, (value, value))
        os.dup2(stdin, 0)
        os.dup2(stdout, 1)
        os.dup2(stderr, 2)
        os.setresgid(spec["gid"], spec["gid"], spec["gid"])
        os.setresuid(spec["uid"], spec["uid"], spec["uid"])
        _check(_libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl(PDEATHSIG)")
        _check(_libc.prctl(_PR_SET_DUMPABLE, 1, 0, 0, 0), "prctl(DUMPABLE)")  # as after execve
        os.chdir(spec["workdir"])
        # Everything but the status pipe goes now; the status pipe right before the program.
        if status > 3:
            _check(_libc.syscall(_SYS_CLOSE_RANGE, 3, status - 1, 0), "close_range")
        _check(_libc.syscall(_SYS_CLOSE_RANGE, status + 1, 0xFFFFFFFF, 0), "close_range")
        _check(_libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(NO_NEW_PRIVS)")
        _check(_libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0), "seccomp")
    except BaseException as e:  # noqa: B902
        _report(status, "warm program setup: %s" % (e,))
        os._exit(126)
    os.close(status)


def _run_main(spec):
    """Runs /tmp/main.py as `python3 -I -B /tmp/main.py ARGS` would, in a fresh __main__, and
    exits as the interpreter would, less the teardown of every object (see _finish)."""
    import builtins
    import importlib.machinery
    _sys, _compile, _exec, _finish_ = sys, compile, exec, _finish  # the module's globals are cleared below
    path = spec["argv"][0]
    _sys.argv = list(spec["argv"])
    _sys.orig_argv = ["/usr/bin/python3", "-I", "-B"] + _sys.argv
    main = _sys.modules["__main__"]
    scope = main.__dict__
    scope.clear()
    scope.update(__name__="__main__", __doc__=None, __package__=None, __spec__=None, __file__=path,
                 __cached__=None, __builtins__=builtins,
                 __loader__=importlib.machinery.SourceFileLoader("__main__", path))
    code = 0
    try:
        with open(path, "rb") as f:
            source = f.read()
        program = _compile(source, path, "exec", dont_inherit=True)
        del source
        _exec(program, scope)
    except SystemExit as e:  # what the interpreter makes of it
        code = e.code
        if code is None:
            code = 0
        elif not isinstance(code, int):
            try:
                print(code, file=_sys.stderr)
            except BaseException:  # noqa: B902
                pass
            code = 1
    except BaseException as e:  # noqa: B902 - as the interpreter reports it, less this frame
        tb = e.__traceback__.tb_next if not isinstance(e, SyntaxError) or e.__traceback__ is None else None
        _sys.excepthook(type(e), e.with_traceback(tb), tb)
        # A cold run's interpreter is pid 1, so its re-raised SIGINT is ignored and it exits 130.
        code = 130 if isinstance(e, KeyboardInterrupt) else 1
    _finish_(code)


def _finish(code, sys=sys, os=os):  # bound now: the module's globals are cleared by then
    """The interpreter's exit in its order (join non-daemon threads, atexit, flush stdout and
    stderr: a failed flush is exit 120; then the program's other files), then _exit. Tearing down every object would write to
    nearly every page shared with the zygote and copy it (~20 ms); what it could still show is
    unflushed output of the program's own file objects, so those are flushed first."""
    import atexit
    import gc
    import io
    threading = sys.modules.get("threading")
    if threading is not None:
        try:
            threading._shutdown()
        except BaseException:  # noqa: B902
            pass
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None and not stream.closed:
                stream.flush()
        except BaseException:  # noqa: B902
            if stream is sys.stdout:
                code = 120
    for obj in gc.get_objects():  # then teardown's flushes: the program's objects (the zygote's are frozen)
        if isinstance(obj, io.IOBase) and obj not in (sys.stdout, sys.stderr):
            try:
                if not obj.closed and obj.writable():
                    obj.flush()
            except BaseException:  # noqa: B902
                pass
    os._exit(code & 0xFF if isinstance(code, int) else 1)


def _warm():
    fds, fprog, _filter_buffer, zygote = _serve()
    spec, program_fds = _helper(fds, zygote)
    _isolate(spec, program_fds, fprog)
    _run_main(spec)


_warm()
