"""One progress line for long commands (sync_hubspot --wait, demo).

On a terminal the line is overwritten in place. Into a file or a pipe a
carriage return does not go back and the lines would run together, so there
each is a line of its own: only when it says something new, and at most once
every ``every`` seconds.
"""

import time


class ProgressLine:
    def __init__(self, stdout, every: float = 0.0) -> None:
        self.stdout = stdout
        self.every = every
        self.overwrite = stdout.isatty()
        self.shown = ""
        self.shown_at = 0.0

    def show(self, line: str) -> None:
        if self.overwrite:
            # Padded to the length of the line before, which may be longer.
            self.stdout.write(f"\r{line:<{len(self.shown)}}", ending="")
            self.stdout.flush()
            self.shown = line
            return
        now = time.monotonic()
        if line != self.shown and now - self.shown_at >= self.every:
            self.stdout.write(line)
            self.shown, self.shown_at = line, now

    def end(self) -> None:
        """End the overwritten line, and start afresh for the next work."""
        if self.overwrite and self.shown:
            self.stdout.write("")
        self.shown, self.shown_at = "", 0.0
