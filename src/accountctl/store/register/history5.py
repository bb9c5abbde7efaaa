"""Format 5's history for a register opened by one person: skeletons, with the bodies they read.

A mixin of `five.Register5`: every key holder has every event's skeleton (the chain); each body is in
the records segment or history batch of its school, and only that school's readers have it.
"""

from __future__ import annotations

import itertools
import json

from accountctl import chain, crypto
from accountctl.store import db as dbmod, segments as sg


class History5:
    # -- the history: skeletons, with the bodies this person reads -----------------------------------
    def event_hash(self, seq: int) -> str | None:
        """The hash of event `seq` in the chain (every key holder has every skeleton)."""
        recent = self.skeletons
        for skeleton in reversed(recent if recent and recent[0]["seq"] <= seq else self.all_skeletons()):
            if skeleton.get("seq") == seq:
                return skeleton.get("hash")
        return None

    @property
    def skeletons(self) -> list[dict]:
        """The newest skeletons: the journal's and the tail's (the older ones are in batches: `all_skeletons`)."""
        tail = self.opened.tail.skeletons if self.opened.tail else []
        return self.opened.journal + tail

    def all_skeletons(self) -> list[dict]:
        """Every event's skeleton, oldest first (reads the trust's history batches once)."""
        return self.opened.older() + self.skeletons

    def load_history(
        self,
        blob=None,
        account: str | None = None,
        last: int | None = None,
        actions: tuple[str, ...] | None = None,
        members: bool = False,
    ) -> None:
        """Attach `all_events`: every event whose body this person may read, as format 4's rows.

        With `account` and/or `last`, only that account's events and/or the last `last` of them (what
        `log` shows); with `actions`, only events of those actions (the report's transfers), and with
        `members` the events of the membership records too (`verify`'s). At the
        large trust `log --limit 50` takes 0.6 s instead of 2.4 s, as most bodies are neither parsed
        nor copied. A later call without them loads every event.
        """
        partial = account is not None or last is not None or actions is not None or members
        if self.history_loaded and not (self._history_partial and not partial):
            return
        reading = self.db.execute("PRAGMA query_only").fetchone()[0]
        self.db.execute("PRAGMA query_only = OFF")  # the history is this open's own copy, not the register
        try:
            if self.history_loaded:
                self.db.execute(f"DETACH {dbmod.HISTORY}")
            self._attach_history(account, last, actions, members)
            self._history_partial = partial
        finally:
            if reading:
                self.db.execute("PRAGMA query_only = ON")

    _history_partial = False

    def _attach_history(self, account=None, last=None, actions=None, members=False) -> None:
        dbmod.attach_history(self.db, None)
        if account is None and last is None and actions is None and not members:
            self._attach_every_event()
            return
        rows = ((*_skeleton_row(s), *_body_row(b)) for s, b in self._events(account, last, actions, members))
        self.db.executemany(f"INSERT INTO {dbmod.HISTORY}.events ({_SKELETON}, {_BODY}) VALUES ({_MARKS})", rows)

    def _attach_every_event(self) -> None:
        """Every event whose body this person reads, joined to its skeleton in SQLite: the records a segment
        at a time, then the skeletons a batch at a time. At the large trust 72,000 of each are never held
        as Python objects (their dicts took 61 MB)."""
        events = f"{dbmod.HISTORY}.events"

        def records():
            for part in self.opened.each_text():  # a later segment's record of an event wins, as in `texts`
                for seq, text in part.items():
                    yield seq, *_body_row(json.loads(text))
                del part

        # The skeleton's columns are filled in below: NOT NULL ones with '' until then.
        insert = f"INTO {events} (seq, {_BODY}, actor, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, '', '', '')"
        self.db.executemany(f"INSERT OR REPLACE {insert}", records())
        self.db.executemany(
            f"INSERT OR IGNORE {insert}", [(seq, *_body_row(b)) for seq, b in self._tail_bodies().items()]
        )
        self.db.execute(f"CREATE TEMP TABLE skeletons ({_SKELETON.replace('seq', 'seq INTEGER PRIMARY KEY', 1)})")
        try:
            self.db.executemany(
                "INSERT INTO temp.skeletons VALUES (?, ?, ?, ?, ?, ?)",
                map(_skeleton_row, itertools.chain(self.opened.older.each(), self.skeletons)),
            )
            self.db.execute(
                f"UPDATE {events} SET actor = s.actor, prev_hash = s.prev_hash, hash = s.hash, at_real = s.at_real, "
                "signature = s.signature FROM temp.skeletons AS s WHERE s.seq = events.seq"
            )
            self.db.execute(f"DELETE FROM {events} WHERE seq NOT IN (SELECT seq FROM temp.skeletons)")
        finally:
            self.db.execute("DROP TABLE temp.skeletons")

    def _events(self, account=None, last=None, actions=None, members=False) -> list[tuple[dict, dict]]:
        """(skeleton, body) of the events whose bodies this person reads, oldest first; only `account`'s,
        only those of `actions` (and with `members`, of the membership records), only the last `last`
        of them, if given."""
        extra = self._tail_bodies()
        if last is not None and account is None and actions is None and not members:
            recent = self._recent_events(last, extra)
            if recent is not None:
                return recent
        account = account.strip().lower() if account is not None else None
        if account is None and actions is None and not members:
            bodies = self.opened.texts()
            found = []
            for skeleton in self.all_skeletons():
                text = bodies.get(skeleton.get("seq"))
                body = json.loads(text) if text is not None else extra.get(skeleton.get("seq"))
                if body is not None:
                    found.append((skeleton, body))
            return found[-last:] if last is not None else found

        def wanted(body: dict) -> bool:
            return (account is None or body.get("account") == account) and (
                actions is None or body.get("action") in actions
            )

        # Only a text that may name the account (or an action) is parsed: 72,000 records at the large trust.
        needles = [json.dumps(account)] if account is not None else [json.dumps(a) for a in actions or ()]
        recorded = {r["seq"] for r in self.membership.records} if members else set()
        chosen, read = {}, set()
        for part in self.opened.each_text():  # a segment at a time: 72,000 records are never held at once
            for seq, text in part.items():
                read.add(seq)
                chosen.pop(seq, None)  # a later segment's record of an event wins, as in `texts`
                if seq in recorded:
                    chosen[seq] = json.loads(text)
                elif needles and any(may_name(text, needle) for needle in needles):
                    body = json.loads(text)
                    if wanted(body):
                        chosen[seq] = body
            del part
        chosen.update(
            {seq: b for seq, b in extra.items() if seq not in read and (seq in recorded or (needles and wanted(b)))}
        )
        if members:  # `verify` says how many events it checked (`count_events`)
            self._readable = read | set(extra)
        recent = self.skeletons
        start = recent[0]["seq"] if recent else None
        earlier = {seq for seq in chosen if start is None or seq < start}
        # `verify` reads every skeleton after the open: read (and kept) now, in the open's one snapshot of
        # the rows (PostgreSQL); the others read only the few they show.
        older = [s for s in self.all_skeletons() if s["seq"] in earlier] if members else self.opened.older.only(earlier)
        found = [(s, chosen[s["seq"]]) for s in older + recent if s.get("seq") in chosen]
        return found[-last:] if last is not None else found

    def _tail_bodies(self) -> dict[int, dict]:
        """The records of the reveals after the last save that this person opened, by event."""
        tail = self.opened.tail.bodies if self.opened.tail else {}
        return {b["seq"]: b for found in tail.values() for b in found}

    def _recent_events(self, last: int, extra: dict) -> list[tuple[dict, dict]] | None:
        """The last `last` events this person reads, from the journal alone; None if it holds fewer, or if
        a body it needs has moved into a school's history batch (then every event is read)."""
        bodies = self.opened.texts(batches=False)
        readable = {sg.TRUST.hex()} | {self.membership.school_scopes[s] for s in self.opened.schools}
        found = []
        for skeleton in reversed(self.skeletons):
            seq = skeleton.get("seq")
            text = bodies.get(seq)
            body = json.loads(text) if text is not None else extra.get(seq)
            if body is None:
                if set(skeleton.get("scopes") or ()) & readable:
                    return None  # this person's, in a batch
                continue
            found.append((skeleton, body))
            if len(found) == last:
                return found[::-1]
        return None

    _readable: set | None = None  # a filtered history's: the events whose records it read

    def count_events(self) -> int:
        if not self._history_partial:
            return super().count_events()
        # the events of this person's history, not only those loaded (`verify` reads all skeletons anyway),
        # and those this command recorded
        new = self.db.execute("SELECT count(*) FROM main.events").fetchone()[0]
        return len({s["seq"] for s in self.all_skeletons()} & (self._readable or set())) + new

    # `verify`'s open checks everything from the start, as a machine that never saw the register would:
    # (True, None), or (False, what it found wrong) when it fell back to what this machine checked.
    from_start: tuple[bool, str | None] = (False, None)

    def history_check(self) -> tuple[list[str], dict[int, bytes]]:
        """For `verify`: every segment against the index, what the open from the start found, and which key
        signed each event (F7: everyone checks every signature; the content of what they read)."""
        checked_all, found = self.from_start
        if not checked_all and found is None:
            raise AssertionError("history_check needs a register opened from the start (open_register check=False)")
        problems = self.image.digest_problems() + ([found] if found is not None else [])
        return self._members_problems(problems), self._signed_by()

    def _members_problems(self, problems: list[str]) -> list[str]:
        actors = {s["seq"]: s["actor"] for s in self.all_skeletons()}
        return problems + [
            f"the {r['kind']} record by {r['by']} has no matching event {r['seq']}"
            for r in self.membership.records
            if actors.get(r["seq"]) != r["by"]
        ]

    def _signed_by(self) -> dict[int, bytes]:
        """The key whose signature covers each event: its save's last event's (a save signs only its own)."""
        signed: dict[int, bytes] = {}
        run: list[int] = []
        for skeleton in self.all_skeletons():
            run.append(skeleton["seq"])
            if "signature" not in skeleton:
                continue
            label = chain.event_message if skeleton.get("format4") else chain.skeleton_message
            message = label(self.file_id, skeleton["hash"])
            signature = bytes.fromhex(skeleton["signature"])
            key = next(
                (
                    k
                    for k in self.membership.keys_of(skeleton["actor"], skeleton["seq"])
                    if crypto.verify_signature(k, signature, message)
                ),
                None,
            )
            if key is not None:
                signed.update(dict.fromkeys(run, key))
            run = []
        return signed


# A history row (`db.EVENTS_SCHEMA`) as its skeleton's columns and its record's.
_SKELETON = "seq, actor, prev_hash, hash, at_real, signature"
_BODY = "at, action, target, account, details"
_MARKS = ", ".join("?" * 11)


def _skeleton_row(s: dict) -> tuple:
    signature = bytes.fromhex(s["signature"]) if s.get("signature") else None
    return s["seq"], s["actor"], s.get("prev_hash", ""), s.get("hash", ""), s.get("at_real"), signature


def _body_row(b: dict) -> tuple:
    return b["at"], b["action"], b.get("target"), b.get("account"), json.dumps(b.get("details"), sort_keys=True)


def may_name(text: str, quoted: str) -> bool:
    """Whether an event record's JSON text may name the id `quoted` (a JSON string) as a value.

    An id is a slug, which JSON writes as it is, so a text without it does not name it, unless a
    writer escaped a character (\\u0061 for a): such a text is parsed to find out.
    """
    return quoted in text or "\\u" in text
