"""A worker is SIGKILLed inside `with lock:` — with multiprocessing.Lock and with interlock.

    python kill_demo.py multiprocessing   # the other workers hang: the lock died with its holder
    python kill_demo.py interlock         # they finish, and the next owner is told

Three workers add 1 to a shared counter ten times each, under the lock; Process-1 kills itself
(SIGKILL, as the OOM killer or a container stop would) in the middle of its third update.
The parent waits --timeout seconds for the others, then reports, and kills what is left.
Exit status: 0 when every surviving worker finished, 1 when they hung.
"""

import argparse
import multiprocessing
import os
import signal
import sys
import time

import interlock

LOOPS = 10
PROCESSES = 3


def worker(lock, counter, name, die_at):
    for i in range(LOOPS):
        with lock:
            if isinstance(lock, interlock.Lock) and lock.previous_owner_died:
                print(f"[{name}] the previous owner died inside the section: its update is lost; checked, clearing the poison", flush=True)
                lock.clear_poison()
            value = counter.value
            time.sleep(0.005)
            if i == die_at:
                print(f"[{name}] killed inside the section (SIGKILL)", flush=True)
                os.kill(os.getpid(), signal.SIGKILL)
            counter.value = value + 1
        time.sleep(0.001)
    print(f"[{name}] Finished", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("lock", choices=["multiprocessing", "interlock"])
    parser.add_argument("--timeout", type=float, default=5.0)
    args = parser.parse_args()

    lock = multiprocessing.Lock() if args.lock == "multiprocessing" else interlock.Lock()
    counter = multiprocessing.RawValue("q", 0)
    ps = [
        multiprocessing.Process(target=worker, args=(lock, counter, f"Process-{n}", 2 if n == 1 else None))
        for n in range(1, PROCESSES + 1)
    ]
    for p in ps:
        p.start()
    deadline = time.monotonic() + args.timeout
    for p in ps:
        p.join(max(0.0, deadline - time.monotonic()))
    hung = [f"Process-{n}" for n, p in enumerate(ps, 1) if p.is_alive()]
    if hung:
        print(f"[Main] {', '.join(hung)} still waiting after {args.timeout:g}s: the lock died with Process-1's section", flush=True)
        for p in ps:
            p.kill()
            p.join()
    expected = (PROCESSES - 1) * LOOPS + 2  # Process-1 finished two updates before it died
    print(f"Final Result: {counter.value}")
    print(f"Expected Value: {expected}")
    print(">> Hung: a killed holder wedged multiprocessing.Lock." if hung else ">> Success: the others finished after the holder was killed.")
    return 1 if hung else 0


if __name__ == "__main__":
    sys.exit(main())
