"""``sipas dossiers``: import the case files (hồ sơ) of the one-stop systems, show the frame they give.

``import`` reads a CSV/XLSX export with a mapping (docs/dossier-mapping.example.yaml), lists bad rows
and conflicts with their row numbers, and stores the good rows in one transaction only when confirmed
(``--yes`` or the prompt). ``frame`` shows N and targets per unit, the typed numbers beside those of
the case files; ``allocation`` chooses how the targets are set; ``rates`` shows case files, answer
codes issued and forms received per unit × field.
"""

from __future__ import annotations

from pathlib import Path

import click

from .commands import _campaign, app_session, cli_audit, database_option

PROBLEMS_PRINTED = 100


@click.group("dossiers")
def dossiers() -> None:
    """Hồ sơ một cửa (case files): nhập tệp xuất từ hệ thống, khung mẫu N và chỉ tiêu, tỷ lệ phản hồi."""


@dossiers.command("import")
@click.option("--campaign", "campaign_id", required=True, type=int, help="Số đợt khảo sát.")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--mapping",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Tệp ánh xạ YAML: tên cột, tên đơn vị, thủ tục → lĩnh vực, dạng ngày "
    "(mẫu: docs/dossier-mapping.example.yaml).",
)
@click.option("--yes", is_flag=True, help="Vẫn nhập các dòng tốt khi có dòng lỗi hoặc trùng mã (không hỏi).")
@database_option
def dossiers_import(
    campaign_id: int, file: Path, mapping: Path | None, yes: bool, database_url: str | None
) -> None:
    """Import case files from a one-stop system's export (CSV or XLSX); idempotent on the case code."""
    from .dossiers import DossierError, apply_import, load_mapping, plan_import, read_export

    try:
        rules = load_mapping(mapping)
        data = file.read_bytes()
        table = read_export(data, file.name, rules)
    except OSError as exc:
        raise click.ClickException(f"{file}: không đọc được tệp ({exc})") from None
    except DossierError as exc:
        raise click.ClickException(str(exc)) from None
    with app_session(database_url) as (_, session):
        found = _campaign(session, campaign_id)
        try:
            plan = plan_import(session, found, table, rules)
        except DossierError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"{file.name}: {plan.summary()}.")
        _print_issues(plan)
        if plan.needs_confirmation and plan.new and not yes:
            try:
                ok = click.confirm(
                    f"Vẫn nhập {len(plan.new)} hồ sơ mới, bỏ qua các dòng trên? (import the good rows?)",
                    default=False,
                )
            except click.Abort:
                ok = False
            if not ok:
                raise click.ClickException(
                    "chưa nhập gì (nothing imported): sửa tệp, hoặc chạy lại với --yes để bỏ qua các dòng lỗi"
                )
        added = apply_import(session, found, plan)
        if added:
            cli_audit(
                session,
                "dossiers_imported",
                {
                    "campaign_id": found.id,
                    "file": plan.filename,
                    "sha256": plan.sha256,
                    "added": added,
                    "unchanged": plan.unchanged,
                    "conflicts": len(plan.conflicts),
                    "bad_rows": plan.bad_rows,
                },
            )
    if added:
        click.echo(f"Đã nhập {added} hồ sơ mới vào đợt {campaign_id} (imported {added} case files).")
    else:
        click.echo("Không có hồ sơ mới: không thay đổi gì (nothing new, nothing changed).")


def _print_issues(plan) -> None:
    lines = [p.line() for p in plan.problems] + [c.line() for c in plan.conflicts]
    for line in lines[:PROBLEMS_PRINTED]:
        click.echo(f"  {line}", err=True)
    if len(lines) > PROBLEMS_PRINTED:
        click.echo(f"  … và {len(lines) - PROBLEMS_PRINTED} dòng nữa (and more)", err=True)


@dossiers.command("frame")
@click.option("--campaign", "campaign_id", required=True, type=int, help="Số đợt khảo sát.")
@database_option
def dossiers_frame(campaign_id: int, database_url: str | None) -> None:
    """Show N and the target per unit: typed, and from the case files (which the scoring uses)."""
    from .campaigns import progress
    from .dossiers import ALLOCATIONS, dossier_frame, dossier_targets

    with app_session(database_url) as (_, session):
        found = _campaign(session, campaign_id)
        frame = dossier_frame(session, found)
        result = progress(session, found)
        click.echo("Đơn vị\tN nhập tay\tChỉ tiêu nhập tay\tN theo hồ sơ\tChỉ tiêu theo hồ sơ")
        for u in result:
            typed_n = "—" if u.typed_population is None else u.typed_population
            typed_t = "—" if u.typed_target is None else u.typed_target
            dn = u.population if u.from_dossiers else "—"
            dt = u.target if u.from_dossiers else "—"
            click.echo(f"{u.unit_code}\t{typed_n}\t{typed_t}\t{dn}\t{dt}")
        if frame is None:
            click.echo("Chưa nhập hồ sơ nào (no case files imported): sipas dossiers import …")
            return
        targets = dossier_targets(found, frame)
        click.echo(f"Chỉ tiêu: {ALLOCATIONS[targets.allocation]}")
        if found.strata:
            click.echo("Đơn vị\tLĩnh vực\tN (hồ sơ)" + ("\tChỉ tiêu" if targets.cells else ""))
            for (unit, stratum), n in frame.items():
                extra = f"\t{targets.cells[(unit, stratum)]}" if targets.cells else ""
                click.echo(f"{unit}\t{stratum or '—'}\t{n}{extra}")


@dossiers.command("allocation")
@click.option("--campaign", "campaign_id", required=True, type=int, help="Số đợt khảo sát.")
@click.argument("rule", type=click.Choice(["unit", "proportional"]))
@database_option
def dossiers_allocation(campaign_id: int, rule: str, database_url: str | None) -> None:
    """Targets from the case files: per unit only, or also split across fields in proportion to N."""
    from .dossiers import ALLOCATIONS

    with app_session(database_url) as (_, session):
        found = _campaign(session, campaign_id)
        before = found.field_allocation or "unit"
        found.field_allocation = rule
        cli_audit(session, "field_allocation", {"campaign_id": found.id, "from": before, "to": rule})
    click.echo(f"Đợt {campaign_id}: {ALLOCATIONS[rule]}")


@dossiers.command("rates")
@click.option("--campaign", "campaign_id", required=True, type=int, help="Số đợt khảo sát.")
@database_option
def dossiers_rates(campaign_id: int, database_url: str | None) -> None:
    """Per unit × field: case files in the frame, answer codes issued, forms received."""
    from .dossiers import response_rates

    with app_session(database_url) as (_, session):
        found = _campaign(session, campaign_id)
        rows = response_rates(session, found)
        click.echo("Đơn vị\tLĩnh vực\tHồ sơ\tMã đã phát\tPhiếu nhận\tPhiếu/hồ sơ\tPhiếu/mã")
        for r in rows:
            cases = "—" if r.cases is None else r.cases
            coverage = f"{r.coverage:.1f}%" if r.coverage is not None else "—"
            rate = f"{r.response_rate:.1f}%" if r.response_rate is not None else "—"
            click.echo(
                f"{r.unit_code}\t{r.stratum or '—'}\t{cases}\t{r.codes}\t{r.received}\t{coverage}\t{rate}"
            )
