"""``report diff|render``: the command behind ``scripts/report`` (console entry point ``report``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..redact import write_redacted
from .compare import diff, format_diff, run_label
from .html import to_html
from .markdown import to_markdown
from .model import Exit
from .store import ReportError, load_report, to_json


class OneLineParser(argparse.ArgumentParser):
    """argparse whose usage errors are one ``ERROR:`` line (exit 3) instead of the usage text and exit 2."""

    def error(self, message: str) -> Any:  # argparse's hook; never returns
        print(f"ERROR: {self.prog}: {message} (see `{self.prog} --help`)", file=sys.stderr)
        raise SystemExit(int(Exit.USAGE))


def main(argv: Sequence[str] | None = None) -> int:
    """``report diff OLD.json NEW.json`` and ``report render REPORT.json``."""
    parser = OneLineParser(prog="report", description="conformance report tools")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    p_diff = sub.add_parser("diff", help="claims whose verdict changed between two runs; "
                            "exit 1 if one regressed")
    p_diff.add_argument("old", type=Path)
    p_diff.add_argument("new", type=Path)
    p_diff.add_argument("--format", choices=("text", "markdown", "json", "html"), default="text")
    p_diff.add_argument("-o", "--output", type=Path, help="write here instead of stdout")
    p_render = sub.add_parser("render", help="re-render a report.json (or recorded results) "
                              "as Markdown, HTML or JSON")
    p_render.add_argument("report", type=Path)
    p_render.add_argument("--format", choices=("markdown", "html", "json"), default="markdown")
    p_render.add_argument("-o", "--output", type=Path, help="write here instead of stdout")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # OneLineParser: 3 on bad usage (one line printed), 0 on --help
        return Exit.USAGE if exc.code else 0
    try:
        if args.command == "diff":
            old, new = load_report(args.old), load_report(args.new)
            changes = diff(old, new)
            labels = (run_label(old, args.old), run_label(new, args.new))
            text = format_diff(old, new, changes, args.format, labels)
            code = Exit.CLAIM_FAILED if any(c.kind == "regressed" for c in changes) else Exit.CONFORMS
        else:
            report = load_report(args.report)
            text = {"markdown": to_markdown, "html": to_html, "json": to_json}[args.format](report)
            code = Exit.CONFORMS
        if args.output:
            try:
                write_redacted(args.output, text)
            except OSError as exc:
                raise ReportError(f"-o {args.output}: cannot write it ({exc.strerror}); pick a writable "
                                  f"file path") from None
        else:
            sys.stdout.write(text)
        return code
    except ReportError as exc:
        print(f"ERROR: report: {exc}", file=sys.stderr)
        return Exit.USAGE


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
