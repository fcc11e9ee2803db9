"""The `doctor` command: can this machine run each tier? The machine's checks (:mod:`esoconf.doctor`), then the
Vault server row and each registered platform's own row (:mod:`esoconf.platforms`), a table with a fix for every
failing line and a verdict per tier.

Exit code: 0 when the e2e tier can run here, 1 when it cannot, 3 on a usage error (one ``ERROR:`` line).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from . import config as cfg
from . import platforms
from .doctor import (
    LOCAL_TIERS,
    USAGE,
    CheckResult,
    Context,
    Probes,
    blockers,
    check_docker_engine,
    format_table,
    format_verdicts,
    run_checks,
    tier_verdicts,
)


def check_vault_server(ctx: Context) -> CheckResult:
    """A Vault API server binary for the quick vault tier and the local platform (vault, or OpenBao's bao)."""
    try:
        path, product, source = platforms.service("find_vault_server")(ctx.config.vault_bin)
    except cfg.ConfigError as exc:
        docker = check_docker_engine(ctx, ("vault",))
        blocks = ("local", "vault") if not docker.ok else ("local",)
        return CheckResult("vault", False, str(exc).split(". Fix: ")[0],
                           "python scripts/install-tools --if-missing --set local openbao", blocks)
    return CheckResult("vault", True, f"{product} {path} ({source})")



def platform_checks() -> tuple[Callable[[Context], CheckResult], ...]:
    """The Vault server row, then each registered platform's own row (local, node)."""
    return (check_vault_server, *(e.doctor_check for e in platforms.registered().values() if e.doctor_check))



def report(ctx: Context, local_checks: Sequence[Callable[[Context], CheckResult]] | None = None
           ) -> tuple[str, int]:
    """The table and a verdict per tier; exit 1 when the kind e2e tier cannot run (the local platform and the
    vault tier get their own rows and verdict lines)."""
    results = run_checks(ctx)
    local = run_checks(ctx, platform_checks() if local_checks is None else local_checks)
    verdicts = tier_verdicts(results)
    local_verdicts = {tier: "; ".join(f"{r.name}: {r.detail}" for r in blockers(local, tier)) for tier in LOCAL_TIERS}
    text = f"{format_table([*results, *local])}\n\n{format_verdicts({**verdicts, **local_verdicts})}"
    return text, 1 if verdicts["e2e"] else 0


def _parser() -> argparse.ArgumentParser:
    from .report import OneLineParser

    parser = OneLineParser(
        prog="doctor",
        description="Can this machine run each tier of the "
        "ESO/Vault conformance suite? Exit 1 when the e2e tier cannot run here.",
    )
    for setting in cfg.SETTINGS:
        if setting.flag:
            parser.add_argument(
                setting.option,
                action="store_const",
                const=True,
                default=None,
                dest=setting.name,
                help=argparse.SUPPRESS,
            )
        else:
            parser.add_argument(
                setting.option, default=None, dest=setting.name, help=f"{setting.help} [env {setting.env}]"
            )
    return parser


def main(argv: list[str] | None = None, probes: Probes | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        config = cfg.resolve(vars(args))
    except cfg.ConfigError as exc:
        print(f"ERROR: doctor: {exc}", file=sys.stderr)
        return USAGE
    text, code = report(Context(config, probes or Probes()))
    print(text)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
