"""The demo's safeguarding and data protection (issue 25): a DSL and a DPO, a platform with its DPIA
and others without, an allegation routed to the LADO, a breach the DPO decided within 72 hours and
reported to the ICO, one decided not reportable (still in the breach log), and an erased incident.
"""

from __future__ import annotations

from datetime import timedelta

from accountctl import clock
from accountctl.core import access, breaches, dataprotection, directory, incidents

DSL = "claire.dunn@oakfield.sch.uk"
DPO = "fatima.noor@oakfieldtrust.org.uk"
PEOPLE = [
    (DSL, "Claire Dunn", "oakfield", ["staff", "dsl"]),
    (DPO, "Fatima Noor", "central", ["dpo"]),
    ("george.price@oakfield.sch.uk", "George Price", "oakfield", ["governor", "chair"]),
]


def add(path, store, unlock: dict, custodian: str, passphrase: str, ids: dict, today) -> dict:
    """Add the safeguarding story to the demo register at `path`; returns the ids the demo names."""
    open_register = store.open_register
    page = ids["oakfield", "facebook", "OakfieldPrimary"]
    with clock.as_of(today - timedelta(days=60)):
        with open_register(path, actor=custodian, write=True, **unlock) as reg:
            for email, name, school, roles in PEOPLE:
                directory.add_staff(reg.db, custodian, email, name, school, roles, None, None)
            access.grant(reg, DPO, "register", passphrase)
            dataprotection.set_leads(
                reg.db, custodian, True, "oakfield", "raj.mehta@oakfield.sch.uk", "george.price@oakfield.sch.uk"
            )
            # Facebook is assessed for the whole trust; the other platforms in use are not yet.
            dataprotection.record_dpia(
                reg.db,
                custodian,
                True,
                "facebook",
                "DPIA-2026-01 Facebook pages",
                (today - timedelta(days=60)).isoformat(),
            )
            # An older concern, long dealt with: its text is erased once its retention is over (below).
            old = incidents.open_incident(
                reg.db, custodian, page, "safeguarding", "A pupil's full name and class in a comment by a parent"
            )
            for step, note in (
                ("dsl-informed", "Told Claire Dunn in person; link and time noted"),
                ("head-informed", "Told Helen Ward"),
                ("content-removed", "Hidden once the DSL agreed"),
            ):
                incidents.step(reg.db, custodian, True, old["id"], step, note)
            incidents.close(reg.db, custodian, True, old["id"], "Comment removed; family spoken to by the DSL")
    with clock.as_of(today - timedelta(days=9)):
        with open_register(path, actor=custodian, write=True, **unlock) as reg:
            # A concern about a member of staff's messages to a pupil: to the DSL, and to the LADO within a day.
            allegation = incidents.open_incident(
                reg.db,
                custodian,
                page,
                "allegation",
                "Private messages from a staff profile to a Year 6 pupil, reported by a parent",
                about="james.smith@oakfield.sch.uk",
            )
            incidents.step(reg.db, custodian, True, allegation["id"], "dsl-informed", "Told Claire Dunn at 09:40")
            incidents.step(
                reg.db,
                custodian,
                True,
                allegation["id"],
                "lado-informed",
                "Helen Ward referred it to the LADO at 14:10",
            )
            incidents.step(reg.db, custodian, True, allegation["id"], "head-informed", "Helen Ward leads")
            # A class list posted by mistake, discovered the evening before the incident was opened.
            discovered = (clock.now() - timedelta(hours=15)).strftime("%Y-%m-%dT%H:%M")
            reported = incidents.open_incident(
                reg.db,
                custodian,
                page,
                "breach",
                "A photo of a class list with pupils' names posted publicly for two hours",
                discovered_at=discovered,
            )
            minor = incidents.open_incident(
                reg.db, custodian, page, "breach", "A parent's email address visible in a reply for ten minutes"
            )
            for inc in (reported, minor):
                incidents.step(reg.db, custodian, True, inc["id"], "dpo-informed", "Told Fatima Noor")
    with clock.as_of(today - timedelta(days=8)):
        with open_register(path, actor=DPO, write=True, **unlock) as reg:
            breaches.decide(
                reg.db,
                DPO,
                reg.keys.signing_private,
                reported["id"],
                True,
                "Names of 28 pupils were public: a risk to them",
            )
            breaches.decide(
                reg.db,
                DPO,
                reg.keys.signing_private,
                minor["id"],
                False,
                "One adult's work address, seen by few, removed within minutes: unlikely to harm",
            )
            incidents.step(reg.db, DPO, False, reported["id"], "ico-reported", "Reported online", "IC-294718-K3P8")
    with clock.as_of(today - timedelta(days=1)):
        with open_register(path, actor=DPO, write=True, **unlock) as reg:
            incidents.erase(reg.db, DPO, True, old["id"], "Concern closed and retention over (demo)")
    return {"allegation": allegation["id"], "breach": reported["id"], "erased": old["id"], "dpo": DPO}
