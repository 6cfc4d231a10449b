"""The ``s2l`` application: sub-apps, global flags, and the mapping of failures to exit codes.

Exit codes: 0 ok, 1 job failed, 2 bad input or usage, 130 interrupted. Errors are one line on stderr;
a traceback is shown only with ``--debug`` (anywhere on the command line) or ``S2L_DEBUG=1``.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from s2l_cli import batch_cmd, dub_cmd, evaluate_cmd, media_cmd, profile_cmd, sample_cmd
from s2l_cli.report import discard_progress, emit, keep_progress
from s2l_model import __version__
from s2l_model.errors import S2LError

app = typer.Typer(
    name="s2l",
    help="Person-specific lip sync (Speech2Lip): learn a speaker from a short video, "
    "make them say new speech.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
app.add_typer(sample_cmd.app, name="sample")
app.add_typer(media_cmd.app, name="media")
app.add_typer(profile_cmd.app, name="profile")
app.command("dub")(dub_cmd.dub_cmd)
app.command("batch")(batch_cmd.batch_cmd)
app.command("evaluate")(evaluate_cmd.evaluate_cmd)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"s2l {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks (also S2L_DEBUG=1).")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """s2l: learn a speaker, then make them say anything, with sharp, synced lips at the source resolution."""
    ctx.obj = {"debug": debug}  # main() moves every --debug here; commands that do more with it read this


EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def _fail(message: str, code: int, json_mode: bool) -> int:
    discard_progress()  # no finished bar stays above the error line
    if json_mode:
        emit("error", message=message, exit_code=code)
    print(f"s2l: error: {message}", file=sys.stderr)
    return code


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return the exit code (never lets a traceback out unless debugging)."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = os.environ.get("S2L_DEBUG", "") not in ("", "0") or "--debug" in args
    args = ["--debug", *[a for a in args if a != "--debug"]] if "--debug" in args else args
    json_mode = "--json" in args
    os.environ.setdefault("GLOG_minloglevel", "2")  # keep mediapipe's C++ logging off the terminal
    try:
        # Non-standalone: Typer returns the command's result or an exit code, and raises usage errors,
        # so that every failure passes through the one mapping below. Ctrl-C comes back as 130.
        result = app(args=args, prog_name="s2l", standalone_mode=False)
    except typer.Exit as exc:
        return exc.exit_code
    except typer.TyperException as exc:  # usage errors (bad option, missing argument, ...)
        if json_mode:
            emit("error", message=exc.format_message(), exit_code=EXIT_USAGE)
        show = getattr(exc, "show", None)
        if show is not None:
            show()
        else:
            print(f"s2l: error: {exc.format_message()}", file=sys.stderr)
        return EXIT_USAGE
    except (KeyboardInterrupt, typer.Abort):
        if debug:
            raise
        return _fail("interrupted", EXIT_INTERRUPTED, json_mode)
    except S2LError as exc:
        if debug:
            raise
        return _fail(str(exc), exc.exit_code, json_mode)
    except Exception as exc:
        if debug:
            raise
        message = f"internal error: {type(exc).__name__}: {exc} (run with --debug for the traceback)"
        return _fail(message.replace("\n", " "), EXIT_FAILED, json_mode)
    finally:
        keep_progress()  # a command that printed no result still ends its display (after _fail's discard)
    if result == EXIT_INTERRUPTED:
        return _fail("interrupted", EXIT_INTERRUPTED, json_mode)
    return int(result) if isinstance(result, int) else EXIT_OK
