"""What the `locator` and `python -m evaluation` command lines share: click, one error path, one exit
convention.

Exit status: 0 done; 1 a finding the command reports (verdicts that differ from the blog, a legacy answer
that is a 400); 2 an error, reported in one line as `<command>: error: <message>` (a bad data file, a bad
setting, a refused download) or a usage error, in click's words.
"""

from __future__ import annotations

import importlib
from typing import IO, Any

import click


class CommandError(click.ClickException):
    """A failure to report in one line, exit status 2."""

    exit_code = 2

    def __init__(self, message: str) -> None:
        super().__init__(message)
        context = click.get_current_context(silent=True)  # while the command runs; gone when shown
        self.command = (context.find_root().info_name if context is not None else None) or "locator"

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"{self.command}: error: {self.format_message()}", err=True)


# What the extras bring, by the module a missing one leaves unimportable.
EXTRAS = {
    "pandas": "evaluation",
    "matplotlib": "evaluation",
    "_maxminddb_geolite2": "evaluation",
    "nbclient": "notebook",
}


def missing_extra(error: ModuleNotFoundError) -> str | None:
    """The one line for a command whose extra is not installed, or None if the module is no extra's."""
    module = (error.name or "").split(".")[0]
    extra = EXTRAS.get(module)
    if extra is None:
        return None
    return f"this needs the extra [{extra}] ({module} is not installed): pip install 'osdf-cache-locator[{extra}]'"


class Commands(click.Group):
    """A group whose commands' expected failures (`errors`, each with a message fit for one line) become
    CommandError; anything else is a bug and keeps its traceback. `lazy` names groups imported only when
    used ("name": "module:attribute"), so that `locator serve` does not load the evaluation's pandas."""

    def __init__(
        self, *args: Any, errors: tuple[type[Exception], ...] = (), lazy: dict[str, str] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.errors = errors
        self.lazy = lazy or {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *self.lazy])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy:
            module, _, attribute = self.lazy[cmd_name].partition(":")
            try:
                command: click.Command = getattr(importlib.import_module(module), attribute)
            except ModuleNotFoundError as exc:
                why = missing_extra(exc)
                if why is None:
                    raise
                return unavailable(cmd_name, why)
            return command
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except self.errors as exc:
            raise CommandError(str(exc)) from None
        except ModuleNotFoundError as exc:  # a command that imports its extra's modules when it runs
            why = missing_extra(exc)
            if why is None:
                raise
            raise CommandError(why) from None


def unavailable(name: str, why: str) -> click.Command:
    """A command whose extra is missing: listed (with why), and one line and exit 2 when run."""

    def fail(**_: Any) -> None:
        raise CommandError(why)

    return click.Command(
        name,
        callback=fail,
        help=f"(unavailable: {why})",
        context_settings={"ignore_unknown_options": True},
        params=[click.Argument(["args"], nargs=-1, type=click.UNPROCESSED)],
    )
