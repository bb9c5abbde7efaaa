"""`account import`: legacy accounts from CSV or JSON, recorded as they are; malformed files refused whole."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from accountctl import model
from accountctl.core import accounts, directory
from accountctl.errors import InputError
from accountctl.store import db as dbmod
from conftest import CUSTODIAN, HEAD, ok, refused

T1 = "t.one@oak.sch.uk"
T2 = "t.two@oak.sch.uk"
HEADER = "id,school,platform,handle,url,category,email,owner,admins,contributors,status"
SCHEMA_PATH = Path(__file__).resolve().parents[1] / "schemas" / "account-import.schema.json"

LEGACY_CSV = (
    HEADER + "\n"
    # a personal linked email and a single admin (the owner): recorded, not refused
    f"oak-fb,oak,facebook,OakPrimary,https://www.facebook.com/OakPrimary,faculty,oakpta@gmail.com,{T1},,,active\n"
    # no id (made from school-platform-handle), the twitter alias, ';'-separated people, a spaced cell
    f",oak,twitter,@oaknews,https://twitter.com/oaknews,faculty,office@oak.sch.uk,{T1}, {T2} ; {HEAD} ;,"
    f"{CUSTODIAN},suspended\n"
    "\n"  # a blank line is not a record
    # an owner who is not (or no longer) staff, no url, no email: recorded as it is
    "oak-pe,oak,instagram,oakpe,,staff,,former.teacher@oak.sch.uk,,,closed\n"
)

SAMPLE_JSON = [
    {
        "id": "oak-yt",
        "school": "oak",
        "platform": "youtube",
        "handle": "OakPrimaryTV",
        "url": "https://www.youtube.com/@OakPrimaryTV",
        "category": "faculty",
        "email": "oaktv@hotmail.co.uk",
        "owner": T2,
        "admins": [],
        "contributors": [],
        "status": "active",
    },
    {
        "id": "",
        "school": "elm",
        "platform": "twitter",
        "handle": "@ElmNews",
        "url": "https://x.com/ElmNews",
        "category": "faculty",
        "email": "office@elm.sch.uk",
        "owner": "e.teacher@elm.sch.uk",
        "admins": "e.two@elm.sch.uk;e.three@elm.sch.uk",
        "contributors": ["e.four@elm.sch.uk"],
        "status": "requested",
    },
    {
        "id": "oak-tiktok-pe",
        "school": "oak",
        "platform": "tiktok",
        "handle": "oakpe",
        "url": None,
        "category": "staff",
        "email": None,
        "owner": None,
        "admins": None,
        "contributors": None,
        "status": "approved",
    },
]


# -- helpers --------------------------------------------------------------------------------------
def show(run, account_id) -> dict:
    return json.loads(ok(run(["account", "show", account_id, "--json"])).stdout)


def ids(run) -> list[str]:
    return [a["id"] for a in json.loads(ok(run("account list --json")).stdout)]


@pytest.fixture
def ready(run, oak):
    ok(run('school add elm --name "Elm Primary" --domain elm.sch.uk'))
    return oak


def write(tmp_path, name, text) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


# -- what is accepted -----------------------------------------------------------------------------
def test_csv_import_records_legacy_accounts_as_they_are(run, ready, tmp_path):
    result = ok(run(["account", "import", write(tmp_path, "legacy.csv", LEGACY_CSV)]))
    assert result.stdout == "" and "3" in result.stderr
    assert ids(run) == ["oak-fb", "oak-pe", "oak-x-oaknews"]
    fb = show(run, "oak-fb")
    assert fb["legacy"] is True and fb["status"] == "active" and fb["approval"] is None
    assert fb["email"] == "oakpta@gmail.com" and fb["owner"] == T1 and fb["admins"] == [T1]
    assert fb["handle"] == "OakPrimary" and fb["url"] == "https://www.facebook.com/OakPrimary"
    assert fb["requested_by"] is None and fb["credentials_held"] is False
    news = show(run, "oak-x-oaknews")
    assert news["platform"] == "x" and news["status"] == "suspended" and news["legacy"] is True
    assert news["admins"] == [HEAD, T1, T2] and news["contributors"] == [CUSTODIAN]
    pe = show(run, "oak-pe")
    assert pe["status"] == "closed" and pe["owner"] == "former.teacher@oak.sch.uk" and pe["url"] is None
    assert pe["email"] is None and pe["category"] == "staff"
    for account_id in ("oak-fb", "oak-x-oaknews", "oak-pe"):
        events = json.loads(ok(run(["log", "--account", account_id, "--json"])).stdout)
        assert [e["action"] for e in events] == ["account.import"]
        assert events[0]["account"] == account_id
    assert ok(run("verify")).exit_code == 0


def test_csv_import_with_a_byte_order_mark_and_crlf(run, ready, tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes(b"\xef\xbb\xbf" + LEGACY_CSV.replace("\n", "\r\n").encode("utf-8"))
    ok(run(["account", "import", str(path)]))
    assert ids(run) == ["oak-fb", "oak-pe", "oak-x-oaknews"]


def test_json_import(run, ready, tmp_path):
    ok(run(["account", "import", write(tmp_path, "legacy.json", json.dumps(SAMPLE_JSON))]))
    assert ids(run) == ["elm-x-elmnews", "oak-tiktok-pe", "oak-yt"]
    yt = show(run, "oak-yt")
    assert yt["legacy"] is True and yt["approval"] is None and yt["status"] == "active"
    assert yt["email"] == "oaktv@hotmail.co.uk" and yt["admins"] == [T2]
    elm = show(run, "elm-x-elmnews")
    assert elm["platform"] == "x" and elm["status"] == "requested" and elm["handle"] == "@ElmNews"
    assert elm["admins"] == ["e.teacher@elm.sch.uk", "e.three@elm.sch.uk", "e.two@elm.sch.uk"]
    assert elm["contributors"] == ["e.four@elm.sch.uk"]
    pe = show(run, "oak-tiktok-pe")
    assert pe["status"] == "approved" and pe["owner"] is None and pe["admins"] == [] and pe["approval"] is None
    # an "approved" legacy account still has no approval: activation says so
    message = refused(run, ready, ["account", "activate", "oak-tiktok-pe"], 2, "not approved")
    assert "two eligible admins" in message


def test_json_is_recognised_without_a_json_name(run, ready, tmp_path):
    ok(run(["account", "import", write(tmp_path, "legacy.txt", "\n  " + json.dumps(SAMPLE_JSON[:1]))]))
    assert ids(run) == ["oak-yt"]


def test_import_is_for_custodians(run, ready, tmp_path):
    ok(run(f"person grant {HEAD} --access register"))
    refused(run, ready, ["--as", HEAD, "account", "import", write(tmp_path, "legacy.csv", LEGACY_CSV)], 3, "custodian")


def test_import_refuses_a_missing_file(run, ready, tmp_path):
    refused(run, ready, ["account", "import", str(tmp_path / "nothing.csv")], 2, "nothing.csv")


# -- malformed files: refused whole, naming the line or item --------------------------------------
def _row(**over) -> str:
    cells = {
        "id": "",
        "school": "oak",
        "platform": "facebook",
        "handle": "oakprimary",
        "url": "https://facebook.com/oakprimary",
        "category": "faculty",
        "email": "office@oak.sch.uk",
        "owner": T1,
        "admins": T2,
        "contributors": "",
        "status": "active",
    }
    cells.update(over)
    return ",".join(cells[c] for c in HEADER.split(","))


GOOD = _row(id="oak-good", handle="oakgood")
BAD_CSV = [
    # (name, text, words in the one error line)
    ("bad owner email", f"{HEADER}\n{GOOD}\n{_row(owner='t.one.oak.sch.uk')}\n", ["line 3", "owner"]),
    ("bad admin email", f"{HEADER}\n{_row(admins=f'{T2};not an email')}\n", ["line 2", "admin"]),
    ("bad contributor", f"{HEADER}\n{_row(contributors='x@@oak.sch.uk')}\n", ["line 2", "contributor"]),
    ("bad linked email", f"{HEADER}\n{_row(email='office@oak..sch.uk')}\n", ["line 2", "email"]),
    ("unknown school", f"{HEADER}\n{GOOD}\n{_row(school='ash')}\n", ["line 3", "school", "ash"]),
    ("unknown platform", f"{HEADER}\n{_row(platform='myspace')}\n", ["line 2", "platform", "myspace"]),
    ("no platform", f"{HEADER}\n{_row(platform='')}\n", ["line 2", "platform"]),
    ("unknown status", f"{HEADER}\n{_row(status='live')}\n", ["line 2", "status", "live"]),
    ("unknown category", f"{HEADER}\n{_row(category='department')}\n", ["line 2", "category"]),
    ("no category", f"{HEADER}\n{_row(category='')}\n", ["line 2", "category"]),
    ("bad url", f"{HEADER}\n{_row(url='ftp://files.oak.sch.uk/x')}\n", ["line 2", "url"]),
    ("unparseable url", f"{HEADER}\n{GOOD}\n{_row(url='https://[oak')}\n", ["line 3", "url"]),
    ("bad handle", f"{HEADER}\n{_row(handle='oak primary')}\n", ["line 2", "handle"]),
    ("no handle", f"{HEADER}\n{_row(handle='')}\n", ["line 2", "handle"]),
    ("bad id", f"{HEADER}\n{_row(id='Oak FB')}\n", ["line 2", "id"]),
    ("duplicate id in file", f"{HEADER}\n{GOOD}\n{_row(id='oak-good', handle='other')}\n", ["line 3", "oak-good"]),
    (
        "duplicate handle in file",
        f"{HEADER}\n{GOOD}\n{_row(id='oak-again', handle='@OakGood')}\n",
        ["line 3", "oakgood"],
    ),
    (
        "twitter is x",
        f"{HEADER}\n{_row(platform='x', handle='oaknews')}\n{_row(platform='twitter', handle='OakNews')}\n",
        ["line 3", "oaknews"],
    ),
    ("duplicate id in register", f"{HEADER}\n{_row(id='oak-old', handle='fresh')}\n", ["line 2", "oak-old"]),
    ("duplicate handle in register", f"{HEADER}\n{GOOD}\n{_row(handle='OAKOLD')}\n", ["line 3", "oakold"]),
    ("line numbers count blank lines", f"{HEADER}\n{GOOD}\n\n{_row(status='gone')}\n", ["line 4", "status"]),
    ("more cells than columns", f"{HEADER}\n{GOOD},extra\n", ["line 2", "more cells"]),
    ("missing column", HEADER.replace(",status", "") + "\n" + GOOD.rsplit(",", 1)[0] + "\n", ["status", "column"]),
    ("empty file", "", ["empty"]),
    ("header only", HEADER + "\n", ["no rows"]),
]

BAD_JSON = [
    ("not a list", json.dumps(SAMPLE_JSON[0]), ["list"]),
    ("empty list", "[]", ["list"]),
    ("not JSON", '[{"id": "oak-yt",]', ["json"]),
    ("item not an object", json.dumps([SAMPLE_JSON[0], "oak-fb"]), ["item 2", "object"]),
    ("unknown key", json.dumps([{**SAMPLE_JSON[0], "followers": "1200"}]), ["item 1", "followers"]),
    ("non-string handle", json.dumps([{**SAMPLE_JSON[0], "handle": 5}]), ["item 1", "handle"]),
    (
        "bad admin in a list",
        json.dumps([SAMPLE_JSON[0], {**SAMPLE_JSON[1], "admins": ["e.two@elm.sch.uk", "e.3"]}]),
        ["item 2", "admin"],
    ),
    ("bad owner", json.dumps([{**SAMPLE_JSON[0], "owner": "t.two@"}]), ["item 1", "owner"]),
    (
        "unknown status",
        json.dumps([SAMPLE_JSON[0], SAMPLE_JSON[1], {**SAMPLE_JSON[2], "status": "live"}]),
        ["item 3", "status"],
    ),
    ("unknown category", json.dumps([{**SAMPLE_JSON[0], "category": "school"}]), ["item 1", "category"]),
    ("unknown school", json.dumps([{**SAMPLE_JSON[0], "school": "ash"}]), ["item 1", "school"]),
    ("duplicate id", json.dumps([SAMPLE_JSON[0], {**SAMPLE_JSON[2], "id": "oak-yt"}]), ["item 2", "oak-yt"]),
    (
        "duplicate handle",
        json.dumps([SAMPLE_JSON[0], {**SAMPLE_JSON[2], "platform": "youtube", "handle": "oakprimarytv"}]),
        ["item 2", "oakprimarytv"],
    ),
    ("duplicate against register", json.dumps([{**SAMPLE_JSON[0], "id": "oak-old"}]), ["item 1", "oak-old"]),
    (
        "unpaired surrogate",
        '[{"id": "oak-s", "school": "oak", "platform": "x", "handle": "a\\ud800", "category": "faculty"}]',
        ["item 1"],
    ),
    ("number too long", "[" + "9" * 5000 + "]", ["json"]),
]


@pytest.fixture
def with_old_account(run, ready, tmp_path):
    """The register already holds oak-old (facebook, oakold), so duplicates against it can be tried."""
    ok(run(["account", "import", write(tmp_path, "old.csv", f"{HEADER}\n{_row(id='oak-old', handle='oakold')}\n")]))
    return ready


def _refuse_all(run, path, tmp_path, cases, suffix):
    failures = []
    for number, (name, text, words) in enumerate(cases):
        file = write(tmp_path, f"case{number}{suffix}", text)
        try:
            refused(run, path, ["account", "import", file], 2, *words)
        except AssertionError as exc:
            failures.append(f"{name}: {exc}")
    assert not failures, "\n\n".join(failures)
    assert ids(run) == ["oak-old"]


def test_malformed_csv_rows_are_refused_naming_the_line_and_importing_nothing(run, with_old_account, tmp_path):
    _refuse_all(run, with_old_account, tmp_path, BAD_CSV, ".csv")


def test_malformed_json_items_are_refused_naming_the_item_and_importing_nothing(run, with_old_account, tmp_path):
    _refuse_all(run, with_old_account, tmp_path, BAD_JSON, ".json")


def test_a_bad_last_row_imports_nothing_from_the_good_ones(run, ready, tmp_path):
    text = LEGACY_CSV + _row(id="oak-bad", handle="oakbad", status="archived") + "\n"
    refused(run, ready, ["account", "import", write(tmp_path, "legacy.csv", text)], 2, "line 6", "status")
    assert ids(run) == []
    ok(run(["account", "import", write(tmp_path, "legacy2.csv", LEGACY_CSV)]))  # fixed file goes in whole
    assert len(ids(run)) == 3


# -- parse_import never fails any other way -------------------------------------------------------
_json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30)
_json_values = st.recursive(
    _json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
_cells = st.one_of(
    st.text(max_size=25),
    st.sampled_from(
        [
            "oak",
            "OAK ",
            "elm",
            "facebook",
            "Twitter",
            "x",
            "faculty",
            "staff",
            "active",
            "closed",
            "t.one@oak.sch.uk",
            "t.one@oak.sch.uk;t.two@oak.sch.uk",
            "a@b",
            "@h",
            "https://x.com/h",
            "ftp://x",
            "http://[::1",
            "oak-x-h",
            "",
            " ",
            '"',
            '""',
            ",",
            ";",
            "\n",
            "\r",
            "\x00",
            "\ufeff",
        ]
    ),
)
_items = st.dictionaries(
    st.sampled_from(accounts.IMPORT_COLUMNS + ("extra",)),
    st.one_of(_cells, _json_values, st.lists(_cells, max_size=3)),
    max_size=12,
)


@st.composite
def _csv_texts(draw):
    header = draw(
        st.one_of(
            st.just(list(accounts.IMPORT_COLUMNS)),
            st.permutations(accounts.IMPORT_COLUMNS),
            st.lists(st.sampled_from(accounts.IMPORT_COLUMNS + ("X", " id ")), max_size=12),
        )
    )
    rows = draw(st.lists(st.lists(_cells, max_size=13), max_size=4))
    end = draw(st.sampled_from(["\n", "\r\n", "", "\r"]))
    return end.join(",".join(r) for r in [header] + rows) + end


_texts = st.one_of(
    st.text(),
    _csv_texts(),
    st.lists(_items, max_size=4).map(json.dumps),
    _json_values.map(json.dumps),
    st.binary(max_size=200).map(lambda b: b.decode("latin-1")),
)


def _fresh_db():
    conn = dbmod.new_database()
    directory.add_school(conn, CUSTODIAN, "oak", "Oak Primary", ["oak.sch.uk"])
    directory.add_school(conn, CUSTODIAN, "elm", "Elm Primary", ["elm.sch.uk"])
    return conn


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=_texts, name=st.sampled_from(["", "legacy.csv", "legacy.json", "LEGACY.JSON", "legacy.txt"]))
@example(text="[1" + "0" * 5000 + "]", name="")  # int too long for Python's str->int limit: ValueError
@example(text="[" * 100_000, name="")  # nesting too deep: RecursionError
@example(text='"' + "a" * 200_000, name="legacy.csv")  # a header cell over the csv field limit: csv.Error
@example(text='[{"school": "oak", "platform": "x", "handle": "a\\ud800", "category": "faculty"}]', name="")
@example(text=f"{HEADER}\noak-a,oak,x,a,https://[oak,faculty,,,,,active\n", name="")  # urlparse's ValueError
def test_parse_import_only_ever_raises_input_error(text, name):
    try:
        rows = accounts.parse_import(text, name)
    except InputError:
        return
    assert rows and all(row["_where"].startswith(("line ", "item ")) for row in rows)
    assert all(set(accounts.IMPORT_COLUMNS) <= set(row) for row in rows)
    # and what parses, imports or is refused as bad input: never a crash in the database layer
    conn = _fresh_db()
    try:
        imported = accounts.import_accounts(conn, CUSTODIAN, rows)
    except InputError:
        return
    assert len(imported) == len(rows)
    assert conn.execute("SELECT count(*) FROM accounts").fetchone()[0] == len(rows)


# -- the JSON Schema ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def validator():
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert (
        "CSV" in schema["description"]
        and "id,school,platform,handle,url,category,email,owner,admins,contributors,status" in schema["description"]
    )
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def test_the_sample_import_is_valid_and_an_unknown_key_is_not(validator):
    assert list(validator.iter_errors(SAMPLE_JSON)) == []
    for example_doc in validator.schema.get("examples", []):
        assert list(validator.iter_errors(example_doc)) == []
    bad = copy.deepcopy(SAMPLE_JSON)
    bad[1]["followers"] = "1200"
    errors = list(validator.iter_errors(bad))
    assert errors and any("followers" in e.message for e in errors)


@pytest.mark.parametrize(
    "change",
    [
        {"platform": "myspace"},
        {"status": "live"},
        {"category": "school"},
        {"owner": "t.two@"},
        {"admins": ["e.two@elm.sch.uk", "not-an-email"]},
        {"admins": "e.two@elm.sch.uk e.three@elm.sch.uk"},
        {"handle": "two words"},
        {"handle": 5},
        {"url": "ftp://x"},
        {"id": "Oak YT"},
        {"school": ""},
    ],
)
def test_the_schema_refuses_what_the_import_refuses(validator, change):
    doc = copy.deepcopy(SAMPLE_JSON)
    doc[1].update(change)
    assert list(validator.iter_errors(doc)), change
    with pytest.raises(InputError):  # and accountctl agrees
        accounts.import_accounts(_fresh_db(), CUSTODIAN, accounts.parse_import(json.dumps(doc), "x.json"))


def test_the_schema_requires_every_key_and_a_non_empty_list(validator):
    doc = copy.deepcopy(SAMPLE_JSON)
    del doc[0]["contributors"]
    assert list(validator.iter_errors(doc))
    assert list(validator.iter_errors([]))
    assert list(validator.iter_errors(SAMPLE_JSON[0]))


def test_the_schema_enums_match_accountctl(validator):
    account = validator.schema["$defs"]["account"]["properties"]
    assert set(account["platform"]["enum"]) == set(model.PLATFORMS) | set(model.PLATFORM_ALIASES)
    assert set(account["category"]["enum"]) == set(model.ACCOUNT_CATEGORIES)
    status_enum = next(s["enum"] for s in account["status"]["anyOf"] if "enum" in s)
    assert set(status_enum) == set(model.IMPORT_STATUSES) == set(model.ACCOUNT_STATUSES) - {"gone", "found", "reported"}
    assert set(validator.schema["$defs"]["account"]["required"]) == set(accounts.IMPORT_COLUMNS)
