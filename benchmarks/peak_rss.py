"""Peak resident memory of this process, for the benchmarks that measure it (Linux /proc, with
ru_maxrss as the fallback elsewhere).

ru_maxrss cannot be reset and, after fork + exec, may still hold the parent's RSS; the kernel's
high-water mark VmHWM after a reset (`reset_peak`) holds exactly the peak of what follows.
"""

from __future__ import annotations

import resource
from pathlib import Path


def status_kb(key: str) -> float | None:
    """A field of /proc/self/status in kB (VmRSS: now, VmHWM: peak), or None where there is none."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return float(line.split()[1])
    except OSError:
        pass
    return None


def reset_peak() -> bool:
    """Reset VmHWM to the current RSS, where Linux allows it; whether it did."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_kb(reset_ok: bool) -> tuple[float, str]:
    """The peak RSS in kB since `reset_peak` (or the process-wide peak, an upper bound), and how."""
    hwm = status_kb("VmHWM") if reset_ok else None
    if hwm is not None:
        return hwm, "VmHWM after clear_refs reset"
    return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss), "ru_maxrss"


class PeakRSS:
    """Peak RSS growth (MB) over a `with` block."""

    def __enter__(self) -> PeakRSS:
        self.reset = reset_peak()
        self.baseline_kb = status_kb("VmRSS") or 0.0
        return self

    def __exit__(self, *exc) -> None:
        peak, self.method = peak_kb(self.reset)
        self.growth_mb = max(0.0, peak - self.baseline_kb) / 1024
        self.baseline_mb = self.baseline_kb / 1024
