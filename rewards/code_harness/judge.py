# The trusted side of an assert-style grade (rewards/code_harness.hpp), run in a box that holds no
# solution code. stdin: framed parts (a decimal length, a newline, the bytes), the first is the mode.
#   split <tests>: runs the tests with every name they take from the program bound to a recording
#     stand-in, learns which calls and attribute reads they make on the solution and with which
#     arguments, and prints `AHA-PLAN <json>` (for the solution's run: root names and steps, no
#     expected value) and `AHA-RECORD <json>` (for the judge). It never sees a program, so its
#     result holds for every program graded against these tests (code_harness.cpp caches it).
#   judge <tests> <program> <record> <data>: runs the tests for real, each step answered from the
#     solution's reported data (plain values only, codec.py), and prints `AHA-VERDICT <json>`. The
#     program is only parsed, never run, to learn the stdlib imports the tests may rely on.
# The tests' own prints go to stderr. Tested through rewards/code_reward.test.cpp. Imports are
# kept few and late: each costs milliseconds on every grade.
import _ast
import builtins
import importlib
import os
import sys

MAX_STEPS = 20000
SEED = 20240229  # both runs of the tests draw the same random numbers


# --- which names the tests take from the program ------------------------------------------------

def free_names(tests):
    # Names read in some scope of the tests that resolve to module globals never bound there.
    import symtable
    table = symtable.symtable(tests, 'tests', 'exec')
    bound, read = set(), set()

    def walk(t):
        for s in t.get_symbols():
            if t.get_type() == 'module':
                if s.is_assigned() or s.is_imported() or s.is_namespace():
                    bound.add(s.get_name())
                if s.is_referenced():
                    read.add(s.get_name())
            elif s.is_global():
                if s.is_declared_global() and s.is_assigned():
                    bound.add(s.get_name())
                if s.is_referenced():
                    read.add(s.get_name())
        for child in t.get_children():
            walk(child)

    walk(table)
    return sorted(read - bound)


def stdlib(module):
    # unittest (mock.ANY, MagicMock) is left out: its objects are built to compare equal to anything.
    top = module.split('.')[0]
    return top in sys.stdlib_module_names and top != 'unittest'


def program_imports(program):
    # name -> ('import', module, attribute) for names the program binds at module level only by
    # importing from the standard library (one way); other bindings make the name the program's.
    try:
        tree = compile(program, 'solution.py', 'exec', _ast.PyCF_ONLY_AST)  # no `import ast`: see above
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return {}
    kinds = {}

    def bind(name, kind):
        kinds.setdefault(name, set()).add(kind)

    def visit(node):
        if isinstance(node, (_ast.FunctionDef, _ast.AsyncFunctionDef, _ast.ClassDef)):
            return bind(node.name, 'value')
        if isinstance(node, (_ast.Lambda, _ast.ListComp, _ast.SetComp, _ast.DictComp, _ast.GeneratorExp)):
            return
        if isinstance(node, _ast.Import):
            for a in node.names:
                if a.asname:
                    bind(a.asname, ('import', a.name, None) if stdlib(a.name) else 'value')
                else:
                    top = a.name.split('.')[0]
                    bind(top, ('import', top, None) if stdlib(a.name) else 'value')
            return
        if isinstance(node, _ast.ImportFrom):
            for a in node.names:
                ok = node.level == 0 and node.module and stdlib(node.module)
                if a.name != '*':
                    bind(a.asname or a.name, ('import', node.module, a.name) if ok else 'value')
            return
        if isinstance(node, _ast.Name) and isinstance(node.ctx, (_ast.Store, _ast.Del)):
            bind(node.id, 'value')
        if isinstance(node, _ast.ExceptHandler) and node.name:
            bind(node.name, 'value')
        for field in node._fields:
            value = getattr(node, field, None)
            for child in value if isinstance(value, list) else [value]:
                if isinstance(child, _ast.AST):
                    visit(child)

    try:
        visit(tree)
    except RecursionError:
        return {}
    return {n: next(iter(k)) for n, k in kinds.items() if len(k) == 1 and next(iter(k)) != 'value'}


def classify(free):
    # Every free name of the tests is trusted (a builtin, or a stdlib module, imported here for
    # real) or a root: the program's, reached only through the solution's run. A builtin or a
    # stdlib module name stays trusted even where the program redefines it, so a program cannot
    # replace the functions the tests judge with (isinstance, math.isclose). The judge also
    # imports for real the names the program binds only by a stdlib import (program_imports).
    imports, roots = {}, []
    for name in free:
        if hasattr(builtins, name):
            continue
        if name in sys.stdlib_module_names:
            imports[name] = [name, None]
        else:
            roots.append(name)
    return imports, roots


def bind_imports(scope, imports):
    for name, (module, attribute) in imports.items():
        try:
            value = importlib.import_module(module)
            if attribute is None and '.' in module:
                value = sys.modules[module.split('.')[0]]
            scope[name] = value if attribute is None else getattr(value, attribute)
        except Exception:
            pass  # the tests then fail with NameError, as they would have with the program


def run_tests(tests, code, scope):
    if 'random' in tests:  # the split and the judge must draw the same numbers
        import random
        random.seed(SEED)
    exec(code, scope)


# --- split: the tests against recording stand-ins -----------------------------------------------

def assertions_probed(tests):
    import ast

    class Assertions(ast.NodeTransformer):
        # In the split run an assert only evaluates its test, then its message, for the calls they
        # make (never raises, never skips): `a or b`, `x if c else y` evaluate every operand. The
        # message counts because the judge evaluates it when the assert fails.
        def visit_Assert(self, node):
            return [probe(Eager().visit(part), node) for part in (node.test, node.msg) if part is not None]

    def probe(expression, node):
        handler = ast.ExceptHandler(type=ast.Name('BaseException', ast.Load()), name=None, body=[ast.Pass()])
        return ast.copy_location(ast.Try(body=[ast.Expr(expression)], handlers=[handler], orelse=[], finalbody=[]),
                                 node)

    class Eager(ast.NodeTransformer):
        def visit_BoolOp(self, node):
            self.generic_visit(node)
            return ast.copy_location(ast.Tuple(node.values, ast.Load()), node)

        def visit_IfExp(self, node):
            self.generic_visit(node)
            return ast.copy_location(ast.Tuple([node.test, node.body, node.orelse], ast.Load()), node)

    return compile(ast.fix_missing_locations(Assertions().visit(ast.parse(tests))), 'tests', 'exec')


class TooManySteps(BaseException):
    pass


def split(tests):
    free = free_names(tests)
    imports, roots = classify(free)
    steps = []

    def mark(v):
        if type(v) is Stand:
            target = object.__getattribute__(v, 'target')
            if target is not None:
                return ['R', target[1]] if target[0] == 'step' else ['Q', target[1]]
        return None

    def record(step):
        if len(steps) >= MAX_STEPS:
            raise TooManySteps()
        steps.append(step)
        return Stand(['step', len(steps) - 1])

    class Stand:
        # A solution value whose real value is unknown here: calls and attribute reads are recorded;
        # any other use yields another unknown value, so the tests go on to their later calls.
        __slots__ = ('target',)

        def __init__(self, target):
            object.__setattr__(self, 'target', target)

        def __call__(self, *args, **kwargs):
            target = object.__getattribute__(self, 'target')
            try:
                if target is None:
                    raise Unencodable('an unknown value')
                call = ['call', target, encode(args, mark), encode(kwargs, mark)]
            except Unencodable:
                return Stand(None)  # a computed solution value or a test object: not foreseeable
            return record(call)

        def __getattr__(self, name):
            target = object.__getattribute__(self, 'target')
            if target is None or (name.startswith('__') and name.endswith('__')):
                raise AttributeError(name)
            return record(['attr', target, name])

        def __deepcopy__(self, memo):  # a copy of a solution value is that value (copy.deepcopy)
            return self

        def __copy__(self):
            return self

    def unknown(*_):
        return Stand(None)

    conversions = {'__bool__': True, '__len__': 0, '__int__': 0, '__index__': 0, '__float__': 0.0,
                   '__complex__': 0j, '__str__': '', '__repr__': '<solution value>', '__bytes__': b'',
                   '__hash__': 0, '__contains__': True, '__format__': ''}
    for name, value in conversions.items():
        setattr(Stand, name, lambda *_, value=value: value)
    Stand.__iter__ = lambda *_: iter(())
    for op in ('eq ne lt le gt ge add radd sub rsub mul rmul truediv rtruediv floordiv rfloordiv mod rmod '
               'pow rpow divmod rdivmod matmul rmatmul and rand or ror xor rxor lshift rlshift rshift '
               'rrshift neg pos abs invert round floor ceil trunc getitem reversed').split():
        setattr(Stand, '__%s__' % op, unknown)
    for op in ('setattr', 'delattr', 'setitem', 'delitem'):
        setattr(Stand, '__%s__' % op, lambda *_: None)

    code = assertions_probed(tests)
    scope = {'__name__': '__main__', '__builtins__': builtins}
    bind_imports(scope, imports)
    for name in roots:
        scope[name] = Stand(['root', name])
    try:
        run_tests(tests, code, scope)
    except BaseException:
        pass  # what was recorded so far stands; the judge fails closed on any call it lacks
    plan = {'roots': roots, 'steps': steps}
    return plan, {'free': free, 'imports': imports, 'roots': roots, 'steps': steps}


# --- judge: the tests for real, the solution's answers replayed ---------------------------------

class Unforeseen(BaseException):
    pass


class Aborted(BaseException):
    pass


class Unjudgeable(BaseException):
    pass


def judge(tests, program, record, data):
    steps, roots = record['steps'], record['roots']
    try:
        data = loads(data)
        results, root_values = data['results'], data['roots']
        if type(results) is not list or len(results) != len(steps) or type(root_values) is not dict:
            raise ValueError('the report does not match the plan')
        if sorted(root_values) != sorted(roots):
            raise ValueError('the report names other roots')
    except (ValueError, KeyError, TypeError, RecursionError, MemoryError) as e:
        return {'kind': 'bad_data', 'why': 'the solution run reported unreadable results (%s)' % e}

    def plain(x):
        return type(x) is list and x and x[0] not in ('o', 'x', 'R', 'Q')

    def resolve(x):
        # A recorded argument, with references to plain results replaced by those results.
        if type(x) is list and len(x) == 2 and x[0] == 'R' and type(x[1]) is int and 0 <= x[1] < len(results):
            return results[x[1]] if plain(results[x[1]]) else x
        if type(x) is list and len(x) == 2 and x[0] == 'Q' and x[1] in root_values:
            return root_values[x[1]] if plain(root_values[x[1]]) else x
        if type(x) is list:
            return [resolve(e) for e in x]
        return x

    pending = {}
    for j, step in enumerate(steps):
        pending.setdefault(key_text(resolve(step)), []).append(j)

    def answer(step):
        waiting = pending.get(key_text(step))
        if not waiting:
            raise Unforeseen('%s on %s' % (step[0], step[1]))
        j = waiting.pop(0)
        return value_of(results[j], ['step', j])

    def mark(v):
        if type(v) is Opaque:
            target = object.__getattribute__(v, 'target')
            if target is not None:
                return ['R', target[1]] if target[0] == 'step' else ['Q', target[1]]
        return None

    class Opaque:
        # A solution value that is not plain data: it can be called and its attributes read
        # (answered from the report), nothing else; in particular it never compares.
        __slots__ = ('target', 'type_name')

        def __init__(self, target, type_name):
            object.__setattr__(self, 'target', target)
            object.__setattr__(self, 'type_name', type_name)

        def __call__(self, *args, **kwargs):
            target = object.__getattribute__(self, 'target')
            if target is None:
                self._refuse()
            try:
                call = ['call', target, encode(args, mark), encode(kwargs, mark)]
            except Unencodable as e:
                raise Unforeseen('a call with arguments that are not plain data (%s)' % e)
            return answer(call)

        def __getattr__(self, name):
            target = object.__getattribute__(self, 'target')
            if target is None or (name.startswith('__') and name.endswith('__')):
                raise AttributeError(name)
            return answer(['attr', target, name])

        def __repr__(self):
            return '<%s from the solution>' % object.__getattribute__(self, 'type_name')

        def __deepcopy__(self, memo):
            return self

        def __copy__(self):
            return self

        def _refuse(self, *_):
            raise Unjudgeable('the solution returned a %s, and only plain data (None, bool, int, float, '
                              'complex, str, bytes, list, tuple, dict, set, range) is compared'
                              % object.__getattribute__(self, 'type_name'))

    for op in ('eq ne lt le gt ge bool len iter contains hash int index float complex str bytes format '
               'add radd sub rsub mul rmul truediv rtruediv floordiv rfloordiv mod rmod pow rpow neg pos '
               'abs invert round floor ceil trunc getitem setitem delitem reversed setattr delattr').split():
        setattr(Opaque, '__%s__' % op, Opaque._refuse)

    def nested_opaque(x):
        if x[0] == 'o' and len(x) == 2 and type(x[1]) is str:
            return Opaque(None, x[1][:80])
        raise Undecodable('tag %r inside a value' % (x[0],))

    def value_of(x, target):
        if type(x) is list and len(x) == 2 and x[0] == 'o' and type(x[1]) is str:
            return Opaque(target, x[1][:80])
        if type(x) is list and len(x) == 3 and x[0] == 'x' and type(x[1]) is str and type(x[2]) is str:
            raise_recorded(x[1], x[2])
        try:
            return decode(x, nested_opaque)
        except Undecodable as e:
            raise Unreadable(str(e))

    scope = {'__name__': '__main__', '__builtins__': builtins}
    bind_imports(scope, record['imports'])
    found = program_imports(program) if 'import' in program else {}
    try:
        for name in roots:
            rv = root_values[name]
            if name in found:
                continue
            if not (type(rv) is list and rv and rv[0] == 'x'):  # an undefined name stays unbound
                scope[name] = value_of(rv, ['root', name])
    except Unreadable as e:
        return {'kind': 'bad_data', 'why': 'the solution run reported an unreadable value (%s)' % e}
    bind_imports(scope, {n: list(found[n][1:]) for n in record['free'] if n in found})
    try:
        run_tests(tests, compile(tests, 'tests', 'exec'), scope)
    except AssertionError as e:
        return {'kind': 'assert', 'why': describe(e, 'an assertion failed', tests)}
    except Unjudgeable as e:
        return {'kind': 'unjudgeable', 'why': str(e)}
    except Unreadable as e:
        return {'kind': 'bad_data', 'why': 'the solution run reported an unreadable value (%s)' % e}
    except Unforeseen as e:
        return {'kind': 'unforeseen', 'why': 'the tests made a call the split did not foresee (%s)' % e}
    except Aborted as e:
        return {'kind': 'raised', 'why': 'the solution raised %s' % e}
    except BaseException as e:
        origin = 'the solution' if getattr(e, '_aha_from_solution', False) else 'the tests'
        return {'kind': 'raised', 'why': describe(e, origin + ' raised ' + type(e).__name__, tests)}
    return {'kind': 'ok', 'why': ''}


class Unreadable(BaseException):  # like the others: never swallowed by the tests' `except Exception`
    pass


def raise_recorded(name, message):
    cls = getattr(builtins, name, None)
    if not (isinstance(cls, type) and issubclass(cls, BaseException)):
        cls = Exception
    if not issubclass(cls, Exception):  # SystemExit, KeyboardInterrupt, GeneratorExit
        raise Aborted(name)
    for c in cls.__mro__:
        try:
            error = c(message)
            break
        except Exception:
            continue
    error._aha_from_solution = True
    raise error


def describe(error, what, tests):
    import traceback
    frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename == 'tests']
    where = ''
    if frames:
        lines = tests.split('\n')
        n = frames[-1].lineno
        where = ' at tests line %d: %s' % (n, lines[n - 1].strip()[:200] if 0 < n <= len(lines) else '')
    try:
        message = str(error)[:200]
    except BaseException:
        message = '?'
    return what + where + (' (%s)' % message if message else '')


def main():
    parts = read_parts()
    out = os.dup(1)
    os.dup2(2, 1)  # the tests' prints go to stderr; only this file writes the result lines
    if parts[0] == 'split':
        plan, record = split(parts[1])
        lines = 'AHA-PLAN %s\nAHA-RECORD %s\n' % (dumps(plan), dumps(record))
    else:
        verdict = judge(parts[1], parts[2], loads(parts[3]), parts[4])
        verdict['why'] = verdict['why'].encode('utf-8', 'replace').decode('utf-8')  # C++ reads it as JSON
        lines = 'AHA-VERDICT %s\n' % dumps(verdict)
    sys.stdout.flush()
    data = ('\n' + lines).encode()
    while data:
        data = data[os.write(out, data):]
    os._exit(0)


main()
