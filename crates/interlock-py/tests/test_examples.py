"""The examples run and say what they should: the seed's counter, and the SIGKILL demo beside
multiprocessing.Lock (whose other workers hang: bounded by the demo's --timeout)."""

import os
import subprocess
import sys

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "examples")


def run(*args, cwd=None):
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=120, cwd=cwd)


def test_counter_prints_final_result_20(tmp_path):
    r = run(os.path.join(EXAMPLES, "counter.py"), cwd=tmp_path)
    assert r.returncode == 0, r
    lines = r.stdout.splitlines()
    assert "Final Result: 20" in lines and "Expected Value: 20" in lines, r.stdout
    assert ">> Success: Counted correctly due to exclusive control." in lines
    assert not os.path.exists(tmp_path / "counter_tmp.txt")


def test_counter_differs_from_the_seed_only_in_the_import():
    with open(os.path.join(EXAMPLES, "counter.py")) as f:
        src = f.read()
    assert "from interlock import Lock\n" in src
    assert "lock = Lock()\n" in src and "multiprocessing.Lock" not in src


def test_kill_demo_interlock_survivors_finish_and_are_told():
    r = run(os.path.join(EXAMPLES, "kill_demo.py"), "interlock", "--timeout", "60")
    assert r.returncode == 0, r
    lines = r.stdout.splitlines()
    assert "[Process-1] killed inside the section (SIGKILL)" in lines
    assert "[Process-2] Finished" in lines and "[Process-3] Finished" in lines
    assert sum("previous owner died" in line for line in lines) == 1, r.stdout
    assert "Final Result: 22" in lines and "Expected Value: 22" in lines


def test_kill_demo_multiprocessing_survivors_hang():
    r = run(os.path.join(EXAMPLES, "kill_demo.py"), "multiprocessing", "--timeout", "3")
    assert r.returncode == 1, r
    assert "[Main] Process-2, Process-3 still waiting after 3s" in r.stdout, r.stdout
    assert ">> Hung: a killed holder wedged multiprocessing.Lock." in r.stdout


def test_value_counter_prints_final_result_20_as_with_multiprocessing_value(tmp_path):
    """The counter on a shared Value: with interlock.Value, and the same file with the import
    put back to multiprocessing.Value, print the same lines."""
    with open(os.path.join(EXAMPLES, "counter_value.py")) as f:
        src = f.read()
    ours = "from interlock import Value  # was: from multiprocessing import Value\n"
    assert ours in src and "multiprocessing.Value" not in src
    theirs = tmp_path / "counter_multiprocessing_value.py"
    theirs.write_text(src.replace(ours, "from multiprocessing import Value\n"))
    outputs = []
    for script in (os.path.join(EXAMPLES, "counter_value.py"), str(theirs)):
        r = run(script, cwd=tmp_path)
        assert r.returncode == 0, r
        lines = r.stdout.splitlines()
        assert "Final Result: 20" in lines and "Expected Value: 20" in lines, r.stdout
        assert ">> Success: Counted correctly due to exclusive control." in lines
        outputs.append(sorted(lines))
    assert outputs[0] == outputs[1]
