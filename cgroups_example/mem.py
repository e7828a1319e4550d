"""The memory lesson (the seed's mem.py): allocate 100 MB at a time under a 512 MB limit.

Each chunk is filled, so the pages are really used. After five chunks (500 MB plus Python itself) the
sixth crosses memory.max: the kernel's OOM killer kills this process with SIGKILL, and containy reports
"killed by the OOM killer" and exits 137.
"""
chunks = []
for i in range(1, 11):
    chunks.append(b"x" * (100 * 1024 * 1024))
    print(f"allocated {i * 100} MB", flush=True)
print("never reached: the limit did not hold")
