"""The error every campaign setting check raises: which part is wrong, and why.

The API turns one into a problem document with `field` under `errors`; each area has its own
subclass so callers can tell a bad cron expression from a bad send policy.
"""


class InvalidSetting(ValueError):
    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.detail = message
