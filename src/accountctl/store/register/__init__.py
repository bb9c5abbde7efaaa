"""An unlocked register: open it (unlock a slot, decrypt, check everything), change it, save it (atomic,
locked, signed), and change its key slots. The store's one door for everything above the bytes.

- `opening`: read, unlock, check, open for reading or writing; create; copy between stores;
- `state`: the open `Register` and its signed save;
- `keys`: key slots and the keys they hold, KEKs, the recovery key; the `Slots` part of a register;
- `tail`: the file's tail (records appended by a command that only records events);
- `seen`: what this machine remembers of each register, and what it refuses because of it.

Callers import from here; the modules are the rooms behind it.
"""

from accountctl.store.register import opening
from accountctl.store.register.keys import (  # noqa: F401 (the public face; tests reach a few private names)
    ACCESS_CODES,
    ENCRYPTED_COLUMNS,
    RECOVERY_KEY_BYTES,
    Keys,
    PassphraseSource,
    _field_aad,
    _make_person_slot,
    _seal_keys_into,
    _unwrap,
    choose_slot,
    format_recovery_key,
    kdf_params,
    keyring_name,
    no_core_dumps,
    parse_recovery_key,
    recovery_kek,
    unlock_kek,
    vault_slots_mac,
)
from accountctl.store.register.opening import (  # noqa: F401
    _decrypt_body,
    _load,
    copy_register,
    create,
    exists,
    file_status,
    open_register,
    open_with_recovery_key,
    read_header,
    reopen,
)
from accountctl.store.register.seen import header_digest, witness_agrees, witness_entry  # noqa: F401
from accountctl.store.register.state import ARCHIVE_AT, Register  # noqa: F401
from accountctl.store.register.tail import MAX_TAIL_RECORDS, TAIL_COLUMNS  # noqa: F401
from accountctl.store.stores import describe  # noqa: F401 (an address as messages show it: a URL without its password)


def set_cached(reader, writer) -> None:
    """Inside the agent: have opens use its already checked registers (opening.cached_reader, cached_writer)."""
    opening.cached_reader, opening.cached_writer = reader, writer
