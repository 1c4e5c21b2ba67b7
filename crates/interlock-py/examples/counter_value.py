import multiprocessing
import time
from interlock import Value  # was: from multiprocessing import Value

def increment_process(counter, process_name, loops):
    """
    Process that increments a shared counter.
    Uses the counter's lock to protect the sequence from reading to writing.
    """
    for _ in range(loops):
        # --- Start Critical Section ---
        with counter.get_lock():
            # 1. Read
            current_val = counter.value

            # 2. Calculate (simulate processing time)
            new_val = current_val + 1
            time.sleep(0.01)

            # 3. Write
            counter.value = new_val
        # --- End Critical Section ---

        # Wait slightly outside the lock to give other processes a turn
        time.sleep(0.001)

    print(f"[{process_name}] Finished")

def main():
    # 1. Create a shared counter (an int starting at 0, with its own lock)
    counter = Value("i", 0)

    loops = 10
    process_count = 2

    print("--- Starting Parallel Processing ---")

    # 2. Create processes and pass the counter
    p1 = multiprocessing.Process(target=increment_process, args=(counter, "Process-1", loops))
    p2 = multiprocessing.Process(target=increment_process, args=(counter, "Process-2", loops))

    p1.start()
    p2.start()

    p1.join()
    p2.join()

    print("--- All processes finished ---")

    # Verify results
    final_val = counter.value
    expected_val = loops * process_count

    print(f"Final Result: {final_val}")
    print(f"Expected Value: {expected_val}")

    if final_val == expected_val:
        print(">> Success: Counted correctly due to exclusive control.")
    else:
        print(">> Failure: A race condition occurred.")

if __name__ == "__main__":
    main()
