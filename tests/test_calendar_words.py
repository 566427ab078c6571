"""The calendar's and the holidays' errors in the CLI's language (issue 23): WORK_DAYS, WORK_HOURS, HOLIDAYS (its
dates and its .ics file, line by line) and the playbooks' SLAs are said from prompts/calendar.toml, in Chinese under
LANGUAGE=zh-CN and in the same English as before otherwise (tests/test_calendar.py pins every English line)."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

import prompts
from bot.calendar import BusinessCalendar, Sla
from bot.cli import main
from bot.retention.playbooks import PlaybookError, load_playbooks
from bot.settings import SettingsError, load_settings
from prompts import ENGLISH, speaking
from tests import test_calendar

WEEKLY_ICS = (
    "BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTSTART;VALUE=DATE:20241225\nRRULE:FREQ=WEEKLY\nEND:VEVENT\nEND:VCALENDAR\n"
)
TRUNCATED_ICS = "BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTSTART;VALUE=DATE:20241225\n"


def _prose(line: str) -> set[str]:
    """English words left in a line once the values in quotes, setting and property names (upper case), day names
    (Mon-Fri) and paths are taken out: what a Chinese line must not hold."""
    line = re.sub(r"'[^']*'|\"[^\"]*\"", "", line)
    return set(re.findall(r"(?<![\w/.=-])[a-z]{2,}(?![\w/.=-])", line))


def _settings_error(environ: dict[str, str]) -> str:
    with pytest.raises(SettingsError) as info:
        load_settings(env_file=None, environ=environ)
    return str(info.value)


@pytest.mark.parametrize(
    ("name", "value", "chinese", "english"),
    [
        ("WORK_DAYS", "Mon-Fry",
         "WORK_DAYS='Mon-Fry'：'Fry' 不是星期名：请使用英文星期名或星期范围，如 Mon-Fri、Sun-Thu 或 Mon,Tue,Thu",
         "WORK_DAYS='Mon-Fry': 'Fry' is not a day name: use day names or ranges such as Mon-Fri, Sun-Thu or "
         "Mon,Tue,Thu"),
        ("WORK_DAYS", "Mon-Wed-Fri",
         "WORK_DAYS='Mon-Wed-Fri'：'Mon-Wed-Fri' 既不是星期名，也不是两个星期名之间的范围：请使用英文星期名或星期范围，"
         "如 Mon-Fri、Sun-Thu 或 Mon,Tue,Thu",
         "WORK_DAYS='Mon-Wed-Fri': 'Mon-Wed-Fri' is not a day or a range of two days: use day names or ranges such "
         "as Mon-Fri, Sun-Thu or Mon,Tue,Thu"),
        ("WORK_HOURS", "9-5", "WORK_HOURS='9-5' 不是 HH:MM-HH:MM 格式：请写成如 09:00-17:00",
         "WORK_HOURS='9-5' is not HH:MM-HH:MM: use e.g. 09:00-17:00"),
        ("WORK_HOURS", "22:00-06:00",
         "WORK_HOURS='22:00-06:00' 跨过了午夜：不支持跨夜的营业时间；请使用同一天内的时间，如 09:00-17:00"
         "（全天营业写 00:00-24:00）",
         "WORK_HOURS='22:00-06:00' runs past midnight: overnight hours are not supported; use hours within one day, "
         "e.g. 09:00-17:00 (00:00-24:00 for round the clock)"),
        ("WORK_HOURS", "09:00-09:00",
         "WORK_HOURS='09:00-09:00' 的开始与结束时间相同：请写成如 09:00-17:00，全天营业请写 00:00-24:00",
         "WORK_HOURS='09:00-09:00' opens and closes at the same time: use e.g. 09:00-17:00, or 00:00-24:00 round "
         "the clock"),
        ("HOLIDAYS", "2024-12-25,2024-13-01",
         "HOLIDAYS='2024-12-25,2024-13-01'：'2024-13-01' 不是日期：请按 YYYY-MM-DD,YYYY-MM-DD 列出日期，"
         "或给出 .ics 文件的路径",
         "HOLIDAYS='2024-12-25,2024-13-01': '2024-13-01' is not a date: list dates as YYYY-MM-DD,YYYY-MM-DD or give "
         "the path of an .ics file"),
        ("HOLIDAYS", "/nowhere/missing.ics",
         "HOLIDAYS='/nowhere/missing.ics' 不存在：请按 YYYY-MM-DD,YYYY-MM-DD 列出日期，或给出 .ics 文件的路径",
         "HOLIDAYS='/nowhere/missing.ics' does not exist: list dates as YYYY-MM-DD,YYYY-MM-DD or give the path of an "
         ".ics file"),
    ],
)  # fmt: skip
def test_a_bad_calendar_setting_is_said_in_the_settings_language(
    name: str, value: str, chinese: str, english: str
) -> None:
    assert _settings_error({name: value, "LANGUAGE": "zh-CN"}) == chinese
    assert _settings_error({name: value}) == english
    assert _settings_error({name: value, "LANGUAGE": "en"}) == english
    assert not _prose(chinese) and _prose(english)  # (the check finds English prose where there is some)


def test_a_bad_ics_file_is_said_line_by_line_in_the_settings_language(tmp_path: Path) -> None:
    (tmp_path / "weekly.ics").write_text(WEEKLY_ICS, encoding="utf-8")
    (tmp_path / "cut.ics").write_text(TRUNCATED_ICS, encoding="utf-8")
    weekly, cut = str(tmp_path / "weekly.ics"), str(tmp_path / "cut.ics")

    assert _settings_error({"HOLIDAYS": weekly, "LANGUAGE": "zh-CN"}) == (
        f"HOLIDAYS='{weekly}' 第 4 行：RRULE 'FREQ=WEEKLY' 不是按年重复：只支持 FREQ=YEARLY（可带 INTERVAL、COUNT "
        "或 UNTIL、BYMONTH 和 BYDAY=4TH）；请把这些日期逐个列出"
    )
    assert _settings_error({"HOLIDAYS": cut, "LANGUAGE": "zh-CN"}) == (
        f"HOLIDAYS='{cut}' 第 2 行：BEGIN:VEVENT 没有结束：文件不完整"
    )
    assert _settings_error({"HOLIDAYS": weekly}) == (
        f"HOLIDAYS='{weekly}' line 4: RRULE 'FREQ=WEEKLY' does not repeat yearly: only FREQ=YEARLY (with INTERVAL, "
        "COUNT or UNTIL, BYMONTH and BYDAY=4TH) is understood; list those dates one by one"
    )
    assert _settings_error({"HOLIDAYS": cut}) == (
        f"HOLIDAYS='{cut}' line 2: BEGIN:VEVENT is never ended: the file is cut off"
    )


def _cases(test: Any) -> list[Any]:
    """The cases a parametrized test of tests/test_calendar.py pins in English."""
    return list(test.pytestmark[0].args[1])


@pytest.mark.parametrize(
    ("ics", "english"), _cases(test_calendar.test_an_ics_file_it_does_not_understand_is_refused_with_its_line)
)
def test_every_ics_refusal_has_its_chinese_words(ics: str, english: str, tmp_path: Path) -> None:
    (tmp_path / "h.ics").write_text(ics, encoding="utf-8")

    with speaking("zh-CN"), pytest.raises(ValueError) as info:
        BusinessCalendar.from_env({"HOLIDAYS": "h.ics"}, base=tmp_path)

    chinese = str(info.value)
    assert chinese.startswith("HOLIDAYS='h.ics' ") and chinese != f"HOLIDAYS='h.ics' {english}"
    line = re.match(r"line (\d+): ", english)
    assert chinese.startswith(f"HOLIDAYS='h.ics' 第 {line.group(1)} 行：") if line else "：" in chinese
    assert not _prose(chinese), chinese


@pytest.mark.parametrize(
    ("name", "value", "english"),
    _cases(test_calendar.test_bad_settings_are_refused_with_one_line_naming_the_setting),
)
def test_every_calendar_setting_refusal_has_its_chinese_words(
    name: str, value: str, english: str, tmp_path: Path
) -> None:
    with speaking("zh-CN"), pytest.raises(ValueError) as info:
        BusinessCalendar.from_env({name: value}, base=tmp_path)

    chinese = str(info.value)
    assert chinese.startswith(f"{name}='{value}'") and chinese != english
    assert not _prose(chinese), chinese


def test_the_cli_says_a_bad_calendar_setting_in_its_language(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "h.ics").write_text(TRUNCATED_ICS, encoding="utf-8")
    monkeypatch.setenv("HOLIDAYS", "h.ics")
    monkeypatch.setenv("LANGUAGE", "zh-CN")
    try:
        assert main(["rules", "show-default"]) == 2
        assert capsys.readouterr().err == "healthbot：HOLIDAYS='h.ics' 第 2 行：BEGIN:VEVENT 没有结束：文件不完整\n"
        monkeypatch.delenv("LANGUAGE")
        monkeypatch.setenv("LANG", "zh_CN.UTF-8")  # no LANGUAGE: the system locale's
        monkeypatch.delenv("HOLIDAYS")
        monkeypatch.setenv("WORK_DAYS", "Mo-Fy")
        assert main(["rules", "show-default"]) == 2
        assert capsys.readouterr().err == (
            "healthbot：WORK_DAYS='Mo-Fy'：'Fy' 不是星期名：请使用英文星期名或星期范围，"
            "如 Mon-Fri、Sun-Thu 或 Mon,Tue,Thu\n"
        )
        monkeypatch.setenv("LANG", "C.UTF-8")
        assert main(["rules", "show-default"]) == 2
        assert capsys.readouterr().err == (
            "healthbot: WORK_DAYS='Mo-Fy': 'Fy' is not a day name: use day names or ranges such as Mon-Fri, Sun-Thu "
            "or Mon,Tue,Thu\n"
        )
    finally:
        prompts.set_default(ENGLISH)


def test_a_playbooks_sla_is_said_in_the_language_spoken() -> None:
    data = {"low_risk": {"owner": "CSM", "respond_within": "2 business days", "respond_hours": 72}}
    with speaking("zh-CN"), pytest.raises(PlaybookError) as chinese:
        load_playbooks(data)
    with pytest.raises(PlaybookError) as english:
        load_playbooks(data)
    with speaking("zh-CN"), pytest.raises(ValueError) as missing:
        Sla.from_playbook({"respond_within": "soon"}, name="low_risk")

    assert str(chinese.value) == (
        "prompts/playbooks.toml [low_risk]：respond_within '2 business days' 与 respond_hours = 72 不一致"
        "（一个工作日按 24 小时计）：请设置 respond_hours = 48"
    )
    assert str(english.value) == (
        "prompts/playbooks.toml [low_risk]: respond_within '2 business days' and respond_hours = 72 disagree (a "
        "business day counts as 24 hours): set respond_hours = 48"
    )
    assert str(missing.value) == (
        'low_risk：没有 SLA：请设置 respond_within = "3 business days" 或 "24 hours"，或 respond_hours = 24'
    )


def test_a_calendar_that_never_opens_says_so_in_the_language_spoken(tmp_path: Path) -> None:
    (tmp_path / "shut.ics").write_text(
        "BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTSTART;VALUE=DATE:20240101\nDTEND;VALUE=DATE:20300101\nEND:VEVENT\n"
        "END:VCALENDAR\n",
        encoding="utf-8",
    )
    never = BusinessCalendar.parse(holidays="shut.ics", base=tmp_path)
    at = datetime.fromisoformat("2024-06-04T10:00+00:00")

    with speaking("zh-CN"), pytest.raises(ValueError) as chinese:
        never.next_open(at)
    with speaking("zh-CN"), pytest.raises(ValueError) as mistake:
        never.add_hours(at, -1)

    assert str(chinese.value) == (
        "从 2024-06-04 起的 1098 天内没有任何营业时间：请检查 WORK_DAYS、WORK_HOURS 和 HOLIDAYS"
    )
    assert str(mistake.value) == "hours=-1 is not a number of hours, 0 or more"  # the code's own mistake: English
