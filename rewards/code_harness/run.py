# The untrusted side of an assert-style grade (rewards/code_harness.hpp): the solution's run.
# stdin: framed parts <program> <plan json> (judge.py's AHA-PLAN: root names and steps, never the
# tests nor an expected value). Runs the program, reads each root name, performs each step (a call
# or an attribute read on the solution, arguments plain data) and prints `AHA-DATA <json>`: every
# value encoded as plain data (codec.py) or as an opaque marker, every exception by its builtin
# type name. Nothing here is trusted: whatever this prints is only a claim about the solution's
# values, judged by judge.py in another box; tampering can only make the claim wrong or unreadable.
import builtins
import os
import sys


def opaque(v):
    return ['o', type(v).__name__]


def encode_or_opaque(v):
    try:
        return encode(v, opaque)
    except Unencodable:  # too deep or too large: judged as a value of no plain type
        return opaque(v)


def failure(error):
    name = 'Exception'
    for c in type(error).__mro__:
        if getattr(builtins, c.__name__, None) is c:
            name = c.__name__
            break
    try:
        message = str(error)[:200]
    except BaseException:
        message = ''
    return ['x', name, message]


def main():
    program, plan = read_parts()
    plan = loads(plan)
    out = os.dup(1)
    os.dup2(2, 1)  # the program's prints go to stderr
    sys.stdin = open(os.devnull)
    scope = {'__name__': '__main__', '__builtins__': builtins}
    exec(compile(program, 'solution.py', 'exec'), scope)  # a crash here is the run's own error

    roots = {}
    for name in plan['roots']:
        roots[name] = encode_or_opaque(scope[name]) if name in scope else ['x', 'NameError', name]
    live, results = [], []

    def target_of(t):
        if t[0] == 'root':
            return scope[t[1]]
        if live[t[1]] is failed:
            raise RuntimeError('an earlier step failed')
        return live[t[1]]

    def unmark(x):
        if x[0] == 'R':
            return target_of(['step', x[1]])
        if x[0] == 'Q':
            return scope[x[1]]
        raise Undecodable(x[0])

    for step in plan['steps']:
        try:
            target = target_of(step[1])
            if step[0] == 'attr':
                value = getattr(target, step[2])
            else:
                value = target(*decode(step[2], unmark), **decode(step[3], unmark))
            encoded = encode_or_opaque(value)
        except BaseException as e:  # SystemExit and KeyboardInterrupt too: they end no grade here
            value, encoded = failed, failure(e)
        live.append(value)
        results.append(encoded)

    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:
            pass
    data = ('\nAHA-DATA %s\n' % dumps({'roots': roots, 'results': results})).encode()
    while data:
        data = data[os.write(out, data):]
    os._exit(0)


failed = object()
main()
