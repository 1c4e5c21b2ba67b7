"""interlock.Value, multiprocessing.Value's shape over the core's crash-safe Value: typecodes,
holds across calls with the commit at the end, every start method, a holder SIGKILLed inside
`with v:` (the value as before the block, the next holder told), pickling, bad input."""

import ctypes
import os
import pickle
import signal
import threading

import pytest

import workers
from interlock import InvalidName, KindMismatch, NotOwner, Value, WouldDeadlock

TIMEOUT = 30

CASES = [
    # typecode, a value it holds, what reading it back gives
    ("b", -128, -128),
    ("B", 255, 255),
    ("h", -32768, -32768),
    ("H", 65535, 65535),
    ("i", -(2**31), -(2**31)),
    ("I", 2**32 - 1, 2**32 - 1),
    ("l", -(2**63), -(2**63)),
    ("L", 2**64 - 1, 2**64 - 1),
    ("q", -(2**63), -(2**63)),
    ("Q", 2**64 - 1, 2**64 - 1),
    ("f", 1.5, 1.5),
    ("d", 3, 3.0),
    ("?", 7, True),
]


@pytest.mark.parametrize("code,value,read", CASES)
def test_every_typecode_holds_its_range(code, value, read):
    v = Value(code)
    assert v.value == (False if code == "?" else 0) and v.typecode == code
    v.value = value
    assert v.value == read and type(v.value) is type(read)
    assert Value(code, value).value == read


@pytest.mark.parametrize(
    "ctype,code", [(ctypes.c_int, "i"), (ctypes.c_double, "d"), (ctypes.c_bool, "?"), (ctypes.c_uint16, "H")]
)
def test_a_ctypes_type_is_its_letter(ctype, code):
    assert Value(ctype, 1).typecode == code


def test_bad_values_and_typecodes_raise_before_anything_changes():
    v = Value("b", 1)
    with pytest.raises(OverflowError):
        v.value = 128
    with pytest.raises(TypeError):
        v.value = 1.5
    assert v.value == 1 and not v.locked()
    with pytest.raises(OverflowError):
        Value("B", -1)
    for bad in ["x", "c", "ii", ""]:
        with pytest.raises(ValueError, match="unsupported Value typecode"):
            Value(bad)
    with pytest.raises(ValueError):
        Value(ctypes.c_char)
    with pytest.raises(TypeError):
        Value(3)
    with pytest.raises(TypeError, match="lock of its own"):
        Value("i", 0, lock=threading.Lock())
    assert Value("i", 5, lock=False).value == 5


def test_a_hold_reads_its_own_writes_and_commits_them_when_it_ends():
    v = Value("q", 10)
    seen = []
    with v as got:
        assert got is True and v.locked()
        v.value += 5
        assert v.value == 15
        # Another thread waits for the hold to end, then sees the committed value.
        t = threading.Thread(target=lambda: seen.append(v.value))
        t.start()
        t.join(0.2)
        assert t.is_alive() and seen == []
        v.value += 1
    t.join(TIMEOUT)
    assert seen == [16] and v.value == 16
    with v.get_lock():
        v.value *= 2
    assert v.value == 32
    assert v.acquire(timeout=1)
    v.value = 1
    v.release()
    assert v.value == 1


def test_a_block_that_raises_commits_nothing():
    v = Value("i", 1)
    with pytest.raises(RuntimeError):
        with v:
            v.value = 99
            raise RuntimeError("inside")
    assert v.value == 1 and not v.locked()


def test_misuse_is_typed():
    v = Value("i")
    with pytest.raises(NotOwner):
        v.release()
    with v:
        with pytest.raises(WouldDeadlock):
            v.acquire()
    assert not v.locked()
    with pytest.raises(InvalidName):
        Value.open("no/slashes", "i")


def test_named_values_meet_and_another_size_is_refused(name):
    a = Value.open(name, "q", 7)
    b = Value.open(name, "Q", 9)  # exists: keeps its own value; same size
    assert (a.value, b.value, a.name) == (7, 7, name)
    b.value = 8
    assert a.value == 8
    with pytest.raises(KindMismatch):
        Value.open(name, "i")


def test_pickling_by_name_and_path(name, tmp_path):
    for v in (Value.open(name, "d", 2.5), Value.open_path(tmp_path / "v", "h", -3)):
        w = pickle.loads(pickle.dumps(v))
        assert (w.value, w.typecode, w.name) == (v.value, v.typecode, v.name)
    with pytest.raises(RuntimeError):
        pickle.dumps(Value("i"))  # anonymous: only while spawning a child, as multiprocessing's


def test_the_counter_is_exact_under_every_start_method(ctx):
    v = Value("i", 0)
    ps = [ctx.Process(target=workers.value_count, args=(v, 50), daemon=True) for _ in range(4)]
    for p in ps:
        p.start()
    for p in ps:
        p.join(TIMEOUT)
        assert p.exitcode == 0
    assert v.value == 200


def test_a_holder_killed_inside_leaves_the_value_whole_and_the_next_holder_is_told(ctx):
    v = Value("q", 41)
    ready, go, q = ctx.Event(), ctx.Event(), ctx.Queue()
    dying = ctx.Process(target=workers.value_die_inside, args=(v, ready, go), daemon=True)
    dying.start()
    assert ready.wait(TIMEOUT)
    assert v.status().holder.pid == dying.pid
    waiter = ctx.Process(target=workers.value_report, args=(v, q), daemon=True)
    waiter.start()
    while v.status().waiters < 1:
        assert waiter.is_alive()
    go.set()
    dying.join(TIMEOUT)
    assert dying.exitcode == -signal.SIGKILL
    assert q.get(timeout=TIMEOUT) == (41, True, True, "q"), "its write (-1) was never committed"
    waiter.join(TIMEOUT)
    assert waiter.exitcode == 0
    assert v.is_poisoned and v.status().owner_deaths == 1
    v.clear_poison()
    with v:
        assert not v.previous_owner_died and v.value == 41
