from conftest import CUSTODIAN, ok


def test_init_then_staff_list_round_trip(run, oak):
    result = ok(run("staff list --json"))
    import json

    emails = [s["email"] for s in json.loads(result.stdout)]
    assert emails == sorted([CUSTODIAN, "head@oak.sch.uk", "t.one@oak.sch.uk", "t.two@oak.sch.uk"])
