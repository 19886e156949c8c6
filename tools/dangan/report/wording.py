"""Words the text output of a command and the HTML report share, in the interface language:
a gap (services.gaps) worded again from its fields, as `dangan gaps` prints it and the
report's table shows it (docs/decisions.md "Interface languages": the JSON keeps the
service's English `what`)."""
from __future__ import annotations

from typing import Any

from dangan.i18n import _


def gap_text(gap: dict[str, Any]) -> str:
    """What a gap is, in the interface language: a late filing and an original not received
    from their fields; the other kinds as services.gaps words them (`what`, also in --json)."""
    try:
        if gap["kind"] == "late" and "within" in gap:
            return _("{code} filed {filed}, {days} d after its deadline {deadline} ({within} after {field} "
                     "{date})").format(code=gap["code"], filed=gap["filed"], days=gap["days_late"],
                                       deadline=gap["deadline"], within=gap["within"],
                                       field=gap["business_field"], date=gap["business_date"])
        if gap["kind"] == "original":
            return _("{code}: paper original not received (filed {filed}, due by {due})").format(
                code=gap["code"], filed=gap["filed"], due=gap["due"])
        if gap["kind"] == "missing":
            return _missing(gap)
    except KeyError:
        pass  # a gap without those fields: its own words
    return str(gap["what"])


def _missing(gap: dict[str, Any]) -> str:
    """A missing record (model/expected.py), from its fields."""
    category = gap["missing_category"]
    if gap.get("periods"):  # a run of periods without their record
        where = gap["location"] or _("the company")
        if gap["periods"] == 1:
            return _("no {category} record for the period of {since} ({every}) at {where}").format(
                category=category, since=gap["since"], every=gap["every"], where=where)
        return _("no {category} record in {count} periods of {every} at {where}, {since} to {until}").format(
            category=category, count=gap["periods"], every=gap["every"], where=where, since=gap["since"],
            until=gap["until"])
    if "field" in gap:  # a date the record must keep valid (an inspection)
        if gap.get("value") is None:
            return _("{code} has no {field}").format(code=gap["code"], field=gap["field"])
        return _("{code}: {field} {value} has passed").format(code=gap["code"], field=gap["field"],
                                                              value=gap["value"])
    states = "/".join(gap.get("needs_status") or [])
    return _("no {states}{category} record for {code}").format(
        states=f"{states} " if states else "", category=category, code=gap["code"])
