"""``sipas codes``: one-time answer codes of a campaign's case files ("mỗi hồ sơ một phiếu", survey.codes)."""

from __future__ import annotations

from datetime import date

import click

from .commands import _campaign, app_session, cli_audit, database_option


@click.group()
def codes() -> None:
    """Mã phiếu dùng một lần (answer codes): issue them, see how many are used."""


def _day(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"ngày phải có dạng YYYY-MM-DD, không phải {value!r}", param_hint="--date"
        ) from None


@codes.command("issue")
@click.option("--campaign", "campaign_id", required=True, type=int, help="Số đợt khảo sát.")
@click.option("--date", "day", help="Chỉ hồ sơ tiếp nhận ngày này (YYYY-MM-DD); mặc định: mọi hồ sơ.")
@click.option("--list", "show", is_flag=True, help="In mã của từng hồ sơ (mã hồ sơ, đơn vị, mã phiếu).")
@database_option
def codes_issue(campaign_id: int, day: str | None, show: bool, database_url: str | None) -> None:
    """Issue the codes of the campaign's case files (of one day): only their keyed hashes are stored.

    Issuing again stores nothing twice. The key is SIPAS_ANSWER_CODE_KEY (else the instance file
    answer_code_key): the server that takes the forms must use the same one.
    """
    from .codes import case_codes, code_keys, issue_codes

    on = _day(day)
    with app_session(database_url) as (app, session):
        found = _campaign(session, campaign_id)
        keys = code_keys(app)
        result = issue_codes(session, found, keys, on)
        cli_audit(
            session,
            "answer_codes_issued",
            {"campaign_id": found.id, "date": on.isoformat() if on else None, "issued": result.issued},
        )
        when = f" tiếp nhận ngày {on:%d/%m/%Y}" if on else ""
        click.echo(
            f"{result.cases} hồ sơ{when}: cấp {result.issued} mã mới, {result.already} mã đã cấp từ trước "
            f"/ {result.cases} case files: {result.issued} new codes, {result.already} already issued"
        )
        for case_code in result.skipped:
            click.echo(
                f"bỏ qua hồ sơ {case_code}: đơn vị không thuộc đợt khảo sát / unit not in the campaign",
                err=True,
            )
        if not found.answer_codes:
            click.echo(
                "Lưu ý: đợt khảo sát chưa bật “mỗi hồ sơ một phiếu” (trang đợt khảo sát) "
                "/ note: the campaign does not require codes yet",
                err=True,
            )
        if show:
            for case in case_codes(session, found, keys, on):
                click.echo(f"{case.case_code}\t{case.unit_code}\t{case.stratum or ''}\t{case.shown}")


@codes.command("require")
@click.option("--campaign", "campaign_id", required=True, type=int, help="Số đợt khảo sát.")
@click.option("--on/--off", "on", required=True, help="Bật hoặc tắt “mỗi hồ sơ một phiếu”.")
@database_option
def codes_require(campaign_id: int, on: bool, database_url: str | None) -> None:
    """Turn "mỗi hồ sơ một phiếu" on or off: kiosk, phone and API forms then need an unused code."""
    with app_session(database_url) as (_, session):
        found = _campaign(session, campaign_id)
        if found.answer_codes != on:
            found.answer_codes = on
            cli_audit(session, "answer_codes_setting", {"campaign_id": found.id, "answer_codes": on})
        click.echo(
            f"Mỗi hồ sơ một phiếu: {'bật' if on else 'tắt'} / answer codes {'required' if on else 'off'}"
        )


@codes.command("status")
@click.option("--campaign", "campaign_id", required=True, type=int, help="Số đợt khảo sát.")
@database_option
def codes_status(campaign_id: int, database_url: str | None) -> None:
    """How many codes are issued and used (nothing else is stored of them)."""
    from .codes import code_counts

    with app_session(database_url) as (_, session):
        found = _campaign(session, campaign_id)
        counts = code_counts(session, found)
        click.echo(
            f"Mỗi hồ sơ một phiếu: {'bật' if found.answer_codes else 'tắt'}; đã cấp {counts['issued']} mã, "
            f"đã dùng {counts['used']} / issued {counts['issued']}, used {counts['used']}"
        )
