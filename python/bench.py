"""Speed of the Python API (issue 5's figures): `import codever` and logging a 3-file artifact.

Run: bash python/test.sh (builds the extension), then
     target/pyenv/bin/python python/bench.py
"""

import os
import statistics
import subprocess
import sys
import tempfile
import time

runs = []
for _ in range(15):
    out = subprocess.run(
        [sys.executable, "-c", "import time; t=time.perf_counter(); import codever; print(time.perf_counter()-t)"],
        check=True, capture_output=True, text=True,
    )
    runs.append(float(out.stdout) * 1000)
print(f"import codever: median {statistics.median(runs):.1f} ms over 15 interpreters")

import codever  # noqa: E402

with tempfile.TemporaryDirectory() as d:
    os.chdir(d)
    for name, body in [("main.py", "main\n"), ("models.py", "net\n" * 50), ("ppo.py", "ppo\n" * 50)]:
        with open(name, "w") as f:
            f.write(body)
    run = codever.init(project="bench", id="bench")
    times = []
    for i in range(200):
        a = codever.Artifact("code", type="code")
        for n in ("main.py", "models.py", "ppo.py"):
            a.add_file(n)
        t = time.perf_counter()
        run.log_artifact(a)
        times.append((time.perf_counter() - t) * 1000)
    print(f"log_artifact of 3 unchanged files: median {statistics.median(times):.2f} ms over 200")
