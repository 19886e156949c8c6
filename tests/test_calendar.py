"""The suite passes on any calendar day: the tests whose outcome depends on today's date
(marked `today`: the demo built for today and its tour run as printed) run again under faked
days that break date arithmetic most often — a month end, 29 February, 31 December — with
libfaketime (Debian's `faketime`, which .ci/run installs), which fakes the clock for dangan,
git and every process they start.

The whole suite was also run under these days (docs/decisions.md); what depends on the day
is marked, so this stays a few builds of the demo, not three runs of everything.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FAKETIME = shutil.which("faketime")

# 10:00 in UTC is 18:00 in Asia/Shanghai: the demo's day and UTC's are the same one; the
# last case is 23:30 in Shanghai, when they are not (15:30 UTC, 31 December)
DAYS = ["2027-01-31 10:00:00", "2028-02-29 10:00:00", "2026-12-31 15:30:00"]


@pytest.mark.skipif(FAKETIME is None, reason="faketime not installed (.ci/run installs it: apt-get install faketime)")
@pytest.mark.parametrize("moment", DAYS)
def test_the_day_dependent_tests_pass_on(moment: str, tmp_path: Path) -> None:
    assert FAKETIME
    # faketime's own clock check: the faked day is what a child process sees
    seen = subprocess.run([FAKETIME, "-f", f"@{moment}", "date", "-u", "+%F %T"], capture_output=True, text=True, check=True)
    assert seen.stdout.startswith(moment[:16]), seen.stdout
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "COV_"))}
    proc = subprocess.run(
        [FAKETIME, "-f", f"@{moment}", sys.executable, "-m", "pytest", "-m", "today", "-q", "-p", "no:cacheprovider",
         "-p", "no:xdist", "--basetemp", str(tmp_path / "t"), "tests"],
        cwd=REPO, capture_output=True, text=True, env={**env, "TZ": "UTC"}, check=False,
    )
    tail = proc.stdout[-3000:] + proc.stderr[-2000:]
    assert proc.returncode == 0, tail
    assert " passed" in proc.stdout and " failed" not in proc.stdout and " error" not in proc.stdout, tail
