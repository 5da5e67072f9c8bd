"""Template errors are types, so the API can turn each into a problem document entry."""

from __future__ import annotations


class TemplateError(Exception):
    """Something is wrong with a template; ``line`` is 1-based in the field's source.

    ``code`` is a stable machine-readable kind (``"syntax"``, ``"render_limit"``, ...).
    """

    code = "template"

    def __init__(
        self,
        message: str,
        line: int | None = None,
        channel: str | None = None,
        field: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.channel = channel
        self.field = field
        if code is not None:
            self.code = code

    def located(self, channel: str | None, field: str | None) -> "TemplateError":
        """Fill in where the error happened when the raiser did not know it."""
        if self.channel is None:
            self.channel = channel
        if self.field is None:
            self.field = field
        return self

    def __str__(self) -> str:
        where = ".".join(part for part in (self.channel, self.field) if part)
        if self.line is not None:
            where = f"{where} line {self.line}" if where else f"line {self.line}"
        return f"{where}: {self.message}" if where else self.message


class TemplateSyntaxIssue(TemplateError):
    """The source does not compile: bad syntax, an unknown filter, an unsupported tag."""

    code = "syntax"


class TemplateRenderError(TemplateError):
    """Rendering failed: a runtime error, a sandbox violation, an invalid rendered URL."""

    code = "render_failed"


class RenderLimitExceeded(TemplateRenderError):
    """Rendering took longer or produced more output than the limits allow."""

    code = "render_limit"


class TemplateValidationError(TemplateError):
    """A save or publish was refused; ``issues`` lists every problem found."""

    code = "invalid_template"

    def __init__(self, issues: list) -> None:
        first = issues[0] if issues else None
        super().__init__(
            f"template has {len(issues)} error(s)" + (f"; first: {first.message}" if first else ""),
            line=getattr(first, "line", None),
            channel=getattr(first, "channel", None),
            field=getattr(first, "field", None),
        )
        self.issues = issues
