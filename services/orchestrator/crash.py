"""Named points right before and right after each side effect, where a test can make the process
exit at once (as a crash would) to prove that a restart resumes exactly there."""

import os
from pathlib import Path


class CrashPoints:
    def __init__(self, points: str = "", log: Path | None = None) -> None:
        self.points = {p.strip() for p in points.split(",") if p.strip()}
        self.log = log

    def __call__(self, moment: str, effect: str) -> None:
        point = f"{moment}:{effect}"
        if point not in self.points:
            return
        taken = set(self.log.read_text().split()) if self.log and self.log.exists() else set()
        if point in taken:
            return
        if self.log:
            with open(self.log, "a") as log:
                log.write(point + "\n")
                log.flush()
                os.fsync(log.fileno())
        os._exit(86)


NEVER = CrashPoints()
