#!/usr/bin/env python3
"""Offboarding check for an HR / IT leavers checklist.

Asks accountctl what a member of staff still holds in the social-media register and prints the
outstanding steps, each with the accountctl command that closes it, in the order to do them:
accountctl lists a key slot first, because a leaving IT custodian can read every credential until
it is revoked (a password changed before the revoke must be changed again).

    python3 offboarding-check.py t.one@oak.sch.uk [--register /srv/accountctl/trust.accountctl] [--as it@oak.sch.uk]

Exit codes (for the checklist system):
    0  done: nothing outstanding (or the person is neither a leaver nor a mover)
    1  steps still outstanding: run this again once IT has done them
    2  accountctl could not answer (unknown or malformed email, no passphrase, wrong passphrase,
       damaged or busy register, accountctl not installed); accountctl's error line is passed
       through on stderr

It never prompts: stdin is closed, so unlock with `accountctl login` (OS keyring) on a desktop, or
ACCOUNTCTL_PASSPHRASE (and ACCOUNTCTL_USER when the register has more than one key slot) in a job.
Only the Python standard library is used.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

LABELS = {
    "owner": "owns",
    "admin": "admin of",
    "contributor": "contributor to",
    "credential": "credential of",
    "linked_email": "linked to their own mailbox:",
    "key_slot": "register key slot",
}
FIELDS = {"password": "password", "totp": "2FA seed", "recovery": "recovery codes"}


def run_offboard(args: argparse.Namespace) -> subprocess.CompletedProcess:
    cmd = [args.accountctl]
    if args.register:
        cmd += ["--register", args.register]
    if args.as_:
        cmd += ["--as", args.as_]
    cmd += ["offboard", args.email, "--format", "json"]
    return subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=args.timeout)


def describe(item: dict) -> str:
    what = LABELS.get(item["kind"], item["kind"])
    if item["kind"] == "credential":
        what = f"{FIELDS.get(item['field'], item['field'])} of {item['account']} (set {item['set_at']})"
    elif item["kind"] == "key_slot":
        what = f"{item['role']} key slot to the register"
    else:
        what = f"{what} {item['account']}"
    return f"{what}: {item['step']}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="What a leaver or mover still holds in the accountctl register.")
    parser.add_argument("email", help="The member of staff's school email.")
    parser.add_argument("--register", help="Register file (default: ACCOUNTCTL_REGISTER or accountctl's default).")
    parser.add_argument(
        "--as", dest="as_", metavar="EMAIL", help="Whose key slot to unlock (default: ACCOUNTCTL_USER)."
    )
    parser.add_argument(
        "--accountctl",
        default=os.environ.get("ACCOUNTCTL_BIN", "accountctl"),
        help="The accountctl program (default: ACCOUNTCTL_BIN, else accountctl on PATH).",
    )
    parser.add_argument("--timeout", type=float, default=120.0, help="Seconds to wait for accountctl (default 120).")
    args = parser.parse_args(argv)

    try:
        proc = run_offboard(args)
    except FileNotFoundError:
        print(f"Error: {args.accountctl} not found; install accountctl or pass --accountctl PATH", file=sys.stderr)
        return 2
    except subprocess.TimeoutExpired:
        print(f"Error: accountctl did not answer within {args.timeout:g} s", file=sys.stderr)
        return 2
    if proc.returncode not in (0, 1):
        # accountctl's own one-line "Error: ..." (and its exit code, for the log).
        sys.stderr.write(proc.stderr if proc.stderr.endswith("\n") or not proc.stderr else proc.stderr + "\n")
        print(f"offboarding-check: accountctl exited {proc.returncode}", file=sys.stderr)
        return 2
    try:
        result = json.loads(proc.stdout)
        items = result["items"]
    except (ValueError, KeyError, TypeError):
        sys.stderr.write(proc.stderr)
        print("Error: accountctl printed something that is not an offboard report", file=sys.stderr)
        return 2

    who = f"{result['name']} <{result['email']}>" if result.get("name") else result["email"]
    if result["leaver"]:
        state = f"{'left' if result['status'] == 'left' else 'leaving'} on {result['left_on']}"
    elif result["mover"]:
        state = f"moved from {result['moved_from']} to {result['school']}"
    else:
        state = result["status"]
    print(f"Offboarding check for {who} ({state})")

    if not (result["leaver"] or result["mover"]):
        print(f"Not a leaver or mover: {result['holdings']} holding(s), nothing to do.")
        for item in items:
            print(f"  - {describe(item)}")
        return 0

    todo = [i for i in items if i["outstanding"]]
    if not todo:
        print("Done: nothing outstanding in the social-media register.")
        return 0
    print(f"{len(todo)} step(s) outstanding (of {result['holdings']} holding(s)). In this order:")
    for n, item in enumerate(todo, 1):
        print(f"  [ ] {n}. {describe(item)}")
        print(f"         {item['command']}")
    if any(i["kind"] == "key_slot" and i["role"] == "vault" for i in todo):
        print(
            "Revoke the key slot first: until then they can read every credential, so anything changed "
            "before it must be changed again."
        )
    print("Passwords, 2FA and recovery codes: change them on the platform first, then store the new ones.")
    return 1


if __name__ == "__main__":
    sys.exit(main())
