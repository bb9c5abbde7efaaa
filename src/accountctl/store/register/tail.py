"""The file's tail (docs/file-format.md §5e): a command that only records events appends one signed,
encrypted record to the end of the file instead of rewriting it; every open checks each record.
"""

from __future__ import annotations

import json

from accountctl import chain, crypto
from accountctl.crypto import CryptoFailure
from accountctl.errors import DamagedError
from accountctl.store import db as dbmod, fileformat as ff

# Records a file's tail may hold before the next event-only save rewrites the file instead: each is
# checked at every open (a decryption and a signature, ~0.1 ms).
MAX_TAIL_RECORDS = 1000
# An event as a tail record carries it (schemas/tail-record.schema.json); the last one also has its signature.
TAIL_COLUMNS = ("seq", "at", "actor", "action", "target", "account", "details", "prev_hash", "hash", "at_real")


class Tail:
    """The part of a `Register` that reads and appends the file's tail."""

    # -- the tail -----------------------------------------------------------------------------
    def apply_tail(self, data: bytes | memoryview) -> None:
        """Add the events of the tail's whole records (read from where the last one ended) to the database.

        Each record must decrypt under this header and at its place, continue the chain from the
        events before it, and end in an event its actor signed with a key they held then, as a save's
        last event is: an insider with the register key cannot add events in another's name.
        """
        records, used = ff.split_tail(data)
        for sealed in records:
            index = self._tail_count
            where = f"record {index + 1} at the end of the file"
            try:
                plain = crypto.open_sealed(self.keys.register_key, bytes(sealed), ff.tail_aad(self.raw, index))
                rows = json.loads(plain)["events"]
                if not isinstance(rows, list) or not rows:
                    raise ValueError("no events")
                chain.append_signed(self.db, rows, self.membership, self.file_id, crypto.verify_signature)
            except CryptoFailure:
                raise DamagedError(f"register damaged or altered: {where} does not authenticate") from None
            except (ValueError, KeyError, TypeError) as exc:
                raise DamagedError(
                    f"register damaged or altered: {where} does not continue the history ({exc})"
                ) from None
            self._tail_count += 1
        self._tail_end += used
        self._seq_at_open = dbmod.events_head_seq(self.db)
        self._changes_at_open = self.db.total_changes

    def refresh_tail(self) -> bool:
        """Add records appended since this register was read (the agent's cached copy); False when it cannot."""
        read_from = getattr(self.store, "read_from", None)
        if read_from is None or self._tail_end is None or self.dirty:
            return False
        self.apply_tail(read_from(self._tail_end))
        return True

    def _new_events_to_append(self) -> list[tuple] | None:
        """This save's events, when it may append them to the tail rather than rewrite the file.

        Only a command that said it records nothing but events (`events_only`), and only when the
        database agrees: each event is two changes (its row and the chain's head), nothing else was
        changed, and the header and archive stay as they are.
        """
        if (
            not self.events_only
            or not getattr(self.store, "appendable", lambda: False)()
            or self._tail_end is None
            or self.header.version != ff.VERSION
            or self.header_changed
            or self._history_rewritten
            or self._tail_count >= MAX_TAIL_RECORDS
        ):
            return None
        rows = self.db.execute(
            f"SELECT {', '.join(TAIL_COLUMNS)} FROM main.events WHERE seq > ? ORDER BY seq", (self._seq_at_open,)
        ).fetchall()
        if not rows or self.db.total_changes - self._changes_at_open != 2 * len(rows):
            return None
        return rows

    def _append(self, rows: list[tuple]) -> None:
        """Append this save's events as one tail record, signed like a save's last event; then note it everywhere."""
        self._sign_new_events()
        signature = self.db.execute("SELECT signature FROM main.events WHERE seq = ?", (rows[-1][0],)).fetchone()[0]
        items = [dict(zip(TAIL_COLUMNS, r)) for r in rows]
        for item in items:
            item["details"] = json.loads(item["details"])
        items[-1]["signature"] = bytes(signature).hex()
        sealed = crypto.seal(
            self.keys.register_key,
            json.dumps({"events": items}, sort_keys=True).encode("utf-8"),
            ff.tail_aad(self.raw, self._tail_count),
        )
        self._tail_end = self.store.append(self._tail_end, ff.tail_record(sealed))
        self._tail_count += 1
        self._seq_at_open = dbmod.events_head_seq(self.db)
        self._witness_due = True
        self._changes_at_open = self.db.total_changes
