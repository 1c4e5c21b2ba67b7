import multiprocessing
import time
import os
from interlock import Lock

# Filename for saving data
FILE_NAME = "counter_tmp.txt"

def init_data():
    """Initializes the file (writes 0)"""
    with open(FILE_NAME, "w") as f:
        f.write("0")
    print("[Main] Initialized file with: 0")

def read_data():
    """Reads the numerical value from the file"""
    with open(FILE_NAME, "r") as f:
        text = f.read()
        return int(text) if text else 0

def write_data(n):
    """Writes the numerical value to the file"""
    with open(FILE_NAME, "w") as f:
        f.write(str(n))

def increment_process(lock, process_name, loops):
    """
    Process that reads from and writes to a file to increment a value.
    Uses a Lock to protect the sequence from reading to writing.
    """
    for _ in range(loops):
        # --- Start Critical Section ---
        with lock:
            # 1. Read
            current_val = read_data()

            # 2. Calculate (simulate processing time)
            new_val = current_val + 1
            time.sleep(0.01)

            # 3. Write
            write_data(new_val)

            # Optional: Log the update (also protected by the lock to prevent mixed output)
            # print(f"[{process_name}] updated to {new_val}")
        # --- End Critical Section ---

        # Wait slightly outside the lock to give other processes a turn
        time.sleep(0.001)

    print(f"[{process_name}] Finished")

def main():
    # 1. Create a Lock object
    lock = Lock()

    # 2. Initialize data
    init_data()

    loops = 10
    process_count = 2

    print("--- Starting Parallel Processing ---")

    # 3. Create processes and pass the lock
    p1 = multiprocessing.Process(target=increment_process, args=(lock, "Process-1", loops))
    p2 = multiprocessing.Process(target=increment_process, args=(lock, "Process-2", loops))

    p1.start()
    p2.start()

    p1.join()
    p2.join()

    print("--- All processes finished ---")

    # Verify results
    final_val = read_data()
    expected_val = loops * process_count

    print(f"Final Result: {final_val}")
    print(f"Expected Value: {expected_val}")

    if final_val == expected_val:
        print(">> Success: Counted correctly due to exclusive control.")
    else:
        print(">> Failure: A race condition occurred.")

    # Cleanup
    if os.path.exists(FILE_NAME):
        os.remove(FILE_NAME)

if __name__ == "__main__":
    main()
