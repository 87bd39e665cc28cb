# Plain data <-> tagged JSON, shared by the three phases of an assert-style grade
# (rewards/code_harness.hpp). Only exact builtin types are data: None, bool, int, float, complex,
# str, bytes, bytearray, list, tuple, dict, set, frozenset, range; a builtin iterator (a generator,
# map, zip...) is drained into its items and decodes to a list iterator, and dict views decode to
# views of a fresh dict. A subclass or any other object is not data: `hook` decides (a reference,
# an opaque marker) or the value is refused. Decoding builds nothing but those types, so a value
# that came from the solution has no methods of its own.
import sys
import types


def read_parts():
    # stdin as the C++ side frames it (code_harness.cpp): parts, each "<byte count>\n<bytes>".
    raw, parts, at = sys.stdin.buffer.read(), [], 0
    while at < len(raw):
        newline = raw.index(b'\n', at)
        size = int(raw[at:newline])
        parts.append(raw[newline + 1:newline + 1 + size].decode('utf-8', 'surrogateescape'))
        at = newline + 1 + size
    return parts


try:  # the C half of the json module: `import json` pulls in `re` and costs more than a grade's run
    import _json

    class _Context:
        strict, object_hook, object_pairs_hook = True, None, None
        parse_float, parse_int, parse_constant, memo = float, int, None, {}

    _scan = _json.make_scanner(_Context())

    def _refuse(o):
        raise TypeError('not JSON: %s' % type(o).__name__)

    _encoder = _json.make_encoder({}, _refuse, _json.encode_basestring_ascii, None, ':', ',', False, False, False)

    def dumps(x):
        return ''.join(_encoder(x, 0))

    def loads(text):
        text = text.strip()
        try:
            value, end = _scan(text, 0)
        except StopIteration:
            raise ValueError('not JSON')
        if end != len(text):
            raise ValueError('extra data after the JSON value')
        return value
except ImportError:
    from json import dumps, loads

ITERATORS = (types.GeneratorType, map, filter, zip, enumerate, reversed, type(iter([])), type(iter(())),
             type(iter('')), type(iter(range(0))), type(iter(set())), type(iter({})), type(iter({}.values())),
             type(iter({}.items())), type(iter(b'')))
VIEWS = {type({}.keys()): 'K', type({}.values()): 'V', type({}.items()): 'T'}

MAX_DEPTH = 64
MAX_NODES = 1000000


class Unencodable(Exception):
    pass


def encode(value, hook=None):
    budget = [MAX_NODES]

    def enc(v, depth):
        budget[0] -= 1
        if depth > MAX_DEPTH or budget[0] < 0:
            raise Unencodable('a value nested deeper than %d or larger than %d items' % (MAX_DEPTH, MAX_NODES))
        t = type(v)
        if v is None:
            return ['N']
        if t is bool:
            return ['b', v]
        if t is int:
            return ['i', hex(v)]  # hex: int->decimal str is capped at 4300 digits, hex is not
        if t is float:
            return ['f', v.hex()]
        if t is complex:
            return ['c', v.real.hex(), v.imag.hex()]
        if t is str:
            return ['s', v]
        if t is bytes:
            return ['y', v.hex()]
        if t is bytearray:
            return ['Y', v.hex()]
        if t is list or t is tuple or t is set or t is frozenset:
            tag = {list: 'l', tuple: 't', set: 'S', frozenset: 'F'}[t]
            return [tag, [enc(x, depth + 1) for x in v]]
        if t is dict:
            return ['d', [[enc(k, depth + 1), enc(x, depth + 1)] for k, x in v.items()]]
        if t is range:
            return ['g', hex(v.start), hex(v.stop), hex(v.step)]
        if t in ITERATORS:
            items = []
            for x in v:  # a generator runs here: in the solution's box that is the solution's code
                if len(items) >= budget[0]:
                    raise Unencodable('an iterator longer than %d items' % MAX_NODES)
                items.append(enc(x, depth + 1))
            return ['I', items]
        if t in VIEWS:
            return [VIEWS[t], [enc(x, depth + 1) for x in v]]
        if hook is not None:
            marked = hook(v)
            if marked is not None:
                return marked
        raise Unencodable('a value of type %s is not plain data' % t.__name__)

    return enc(value, 0)


class Undecodable(Exception):
    pass


def decode(data, hook=None):
    budget = [MAX_NODES]

    def dec(x, depth):
        budget[0] -= 1
        if depth > MAX_DEPTH or budget[0] < 0:
            raise Undecodable('nested too deep or too large')
        if type(x) is not list or not x or type(x[0]) is not str:
            raise Undecodable('not a tagged value')
        tag, n = x[0], len(x)
        try:
            if tag == 'N' and n == 1:
                return None
            if tag == 'b' and n == 2 and type(x[1]) is bool:
                return x[1]
            if tag == 'i' and n == 2 and type(x[1]) is str:
                return int(x[1], 16)
            if tag == 'f' and n == 2 and type(x[1]) is str:
                return float.fromhex(x[1])
            if tag == 'c' and n == 3 and type(x[1]) is str and type(x[2]) is str:
                return complex(float.fromhex(x[1]), float.fromhex(x[2]))
            if tag == 's' and n == 2 and type(x[1]) is str:
                return x[1]
            if tag in ('y', 'Y') and n == 2 and type(x[1]) is str:
                return (bytes if tag == 'y' else bytearray).fromhex(x[1])
            if tag in ('l', 't', 'S', 'F') and n == 2 and type(x[1]) is list:
                items = [dec(e, depth + 1) for e in x[1]]
                return {'l': list, 't': tuple, 'S': set, 'F': frozenset}[tag](items)
            if tag == 'd' and n == 2 and type(x[1]) is list:
                out = {}
                for pair in x[1]:
                    if type(pair) is not list or len(pair) != 2:
                        raise Undecodable('a dict item is not a pair')
                    out[dec(pair[0], depth + 1)] = dec(pair[1], depth + 1)
                return out
            if tag in ('I', 'K', 'V', 'T') and n == 2 and type(x[1]) is list:
                items = [dec(e, depth + 1) for e in x[1]]
                if tag == 'I':
                    return iter(items)
                if tag == 'K':
                    return dict.fromkeys(items).keys()
                if tag == 'V':
                    return dict(enumerate(items)).values()
                if not all(type(e) is tuple and len(e) == 2 for e in items):
                    raise Undecodable('a dict item view holds something other than pairs')
                return dict(items).items()
            if tag == 'g' and n == 4 and all(type(e) is str for e in x[1:]):
                return range(int(x[1], 16), int(x[2], 16), int(x[3], 16))
        except (ValueError, TypeError, OverflowError) as e:  # bad digits, unhashable key, step 0
            raise Undecodable('%s: %s' % (tag, e))
        if hook is not None:
            return hook(x)
        raise Undecodable('unknown tag %r' % (tag,))

    return dec(data, 0)


def canonical(x):
    # Sets and dicts compare as unordered: their items are sorted by their own canonical text.
    if type(x) is list and x and x[0] in ('S', 'F', 'd', 'K', 'T') and len(x) == 2 and type(x[1]) is list:
        items = [canonical(e) for e in x[1]]
        return [x[0], sorted(items, key=dumps)]
    if type(x) is list:
        return [canonical(e) for e in x]
    return x


def key_text(x):
    return dumps(canonical(x))
