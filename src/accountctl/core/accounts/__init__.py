"""Official accounts: request, business case, people, lifecycle, found accounts and the legacy import.

One module per concern; callers use the names re-exported here (`accounts.request`, `accounts.activate`).
- `case`: values an account is made of and the checks every change shares (eligibility, case gaps);
- `requests`: request, update, list, show;
- `people`: admins and contributors, transfer;
- `lifecycle`: notify the head, activate, suspend or close, gone; found accounts;
- `importing`: the legacy import.
"""

from accountctl.core.lookup import get_account  # noqa: F401 (the accounts API, apart for the hot paths)
from accountctl.core.accounts.case import (  # noqa: F401
    CASE_FIELDS,
    LIVE_STATUSES,
    GONE_FROM,
    CASE_PARTS,
    url,
    handle,
    _handle_key,
    school_email,
    eligible_staff,
    known_staff,
    recorded_date,
    people_of,
    _refuse_duplicate,
    _insert_people,
    _end_membership,
    _require_status,
    _touch_case,
    store_case_hash,
    eligible_admins,
    case_gaps,
    approval_gaps,
    _ineligible_people,
    credentials_held,
)
from accountctl.core.accounts.requests import (  # noqa: F401
    Request,
    request,
    list_accounts,
    update,
    show,
)
from accountctl.core.accounts.people import (  # noqa: F401
    _a,
    add_person,
    remove_person,
    transfer,
)
from accountctl.core.accounts.lifecycle import (  # noqa: F401
    set_status,
    gone,
    FOUND_SOURCE_LIMIT,
    found,
    claim,
    takedown,
    _require_found,
    notify_head,
    activation_gaps,
    _training_gaps,
    activate,
)
from accountctl.core.accounts.importing import (  # noqa: F401
    IMPORT_COLUMNS,
    _split,
    parse_import,
    import_accounts,
    import_warnings,
)
